// timers.h: DeadlineWheel, the one timer mechanism of a Server: every
// connection's next deadline (headers, request, keep-alive, send, linger)
// sits in a hashed wheel of intrusive lists driven by one coarse uv_timer.
#ifndef TSGI_TIMERS_H_
#define TSGI_TIMERS_H_

#include <cstdint>

#include "uv.h"

namespace tsgi {

// Loop time in milliseconds (uv_now), or "never".
constexpr uint64_t kNoDeadline = UINT64_MAX;

// The timeouts of a Server, in milliseconds; 0 disables one. Every value
// comes from JS (src/settings.ts has the defaults).
struct Timeouts {
  uint64_t headers_ms;     // a request head must be complete
  uint64_t request_ms;     // the whole request (head + body)
  uint64_t keep_alive_ms;  // idle between requests
  uint64_t send_ms;        // queued output without progress
};

// One per Connection, embedded in it: linking it allocates nothing. While
// linked it is in exactly one bucket list of one DeadlineWheel (or in the
// wheel's private list of the bucket being visited), and the wheel will
// visit it at tick `due`, which is never later than the tick `deadline`
// falls in. Its owner must Remove() it before the owner dies or is reused.
struct DeadlineNode {
  DeadlineNode* prev = nullptr;
  DeadlineNode* next = nullptr;
  uint64_t deadline = kNoDeadline;
  uint64_t due = 0;  // tick number of the bucket it is linked in
  void* owner = nullptr;
  bool linked() const { return next != nullptr; }
};

// A hashed timing wheel (Varghese and Lauck) with a lazy twist that keeps
// the hot path to a store or two: moving a deadline later leaves the node
// where it is (it is re-filed when its bucket comes up), and "no deadline"
// leaves it there too (it is dropped then). Only a deadline earlier than
// the node's bucket moves it: an unlink and a link. Deadlines fire on the
// first tick at or after them, so a timeout may run up to one tick long.
//
// The wheel drives a uv_timer_t owned by the Server: started (repeating
// every tick) when the first node is linked, stopped when the last one
// leaves, so an idle server does not wake up. Single-threaded: everything
// runs on the Server's loop thread.
class DeadlineWheel {
 public:
  using ExpireFn = void (*)(DeadlineNode* node, uint64_t now);

  DeadlineWheel();
  DeadlineWheel(const DeadlineWheel&) = delete;
  DeadlineWheel& operator=(const DeadlineWheel&) = delete;

  // `timer` is initialised and owned by the caller, who keeps it open until
  // Detach(); its callback must call Advance(uv_now(loop)). `tick_ms` >= 1
  // comes from JS (timerTickMs in src/settings.ts: a quarter of the
  // shortest timeout, 10 ms to 1 s).
  void Attach(uv_timer_t* timer, uv_timer_cb callback, uint64_t tick_ms);
  // Stops and forgets the timer (before the caller closes it). Nodes stay
  // linked but nothing fires any more.
  void Detach();

  // Sets the node's deadline (kNoDeadline: none). O(1), no allocation.
  void Set(DeadlineNode* node, uint64_t deadline);
  // Unlinks the node now (its owner is closing).
  void Remove(DeadlineNode* node);

  // Visits the buckets of every tick up to `now`: a node whose deadline has
  // passed is unlinked and handed to `expire`, which may Set or Remove
  // any node (its own included); the others are re-filed or dropped.
  void Advance(uint64_t now, ExpireFn expire);

  uint64_t tick_ms() const { return tick_ms_; }
  uint32_t size() const { return count_; }

 private:
  static constexpr uint32_t kBuckets = 256;  // a power of two

  void Link(DeadlineNode* node, uint64_t now_ms);
  void Unlink(DeadlineNode* node);
  uint64_t Now() const;

  DeadlineNode buckets_[kBuckets];  // sentinels of circular lists
  uv_timer_t* timer_ = nullptr;
  uv_timer_cb callback_ = nullptr;
  uint64_t tick_ms_ = 1;
  uint64_t current_ = 0;  // the last tick number visited
  uint32_t count_ = 0;    // linked nodes
  bool running_ = false;
};

}  // namespace tsgi

#endif  // TSGI_TIMERS_H_
