// inflight.h: InflightLog, the requests a Server has handed to JS and not
// yet seen answered, written where another thread can read them without
// this one's help: a ring of fixed-size records in a SharedArrayBuffer the
// supervisor allocated. When a worker's loop is stuck, the supervisor's
// watchdog reads the ring to say what it was doing (src/supervisor/
// watchdog.ts decodes it). ARCHITECTURE.md, "Listeners and workers".
#ifndef TSGI_INFLIGHT_H_
#define TSGI_INFLIGHT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace tsgi {

// The layout, part of the contract with src/supervisor/watchdog.ts
// (exported by addon.cc as contract.inflight and checked at load):
// kInflightEntries records of kInflightWords int32 words each.
//   [0] state: 0 free, 1 being answered (the oldest unanswered request of
//       its connection), 2 queued behind it (pipelined)
//   [1] seq (1, 2, ...; 0 never), [2] connection id, [3] llhttp method,
//   [4] seq of the next request of the same connection, or 0,
//   [5] the target's whole length, [6..] its first bytes (latin1).
constexpr size_t kInflightEntries = 256;
constexpr size_t kInflightWords = 16;
constexpr size_t kInflightTargetOffset = 6;
constexpr size_t kInflightTargetBytes =
    (kInflightWords - kInflightTargetOffset) * 4;

enum InflightState : int32_t {
  kInflightFree = 0,
  kInflightAnswering = 1,
  kInflightQueued = 2,
};

// Per connection: the seqs of its oldest and newest recorded requests.
struct InflightChain {
  uint32_t oldest = 0;
  uint32_t newest = 0;
};

// Owned by a Server; the words belong to a SharedArrayBuffer kept alive by
// a reference the Server holds (bridge.cc). Written only on the Server's
// loop thread with plain stores, the state word last with release order;
// the reader (another thread) reads only while this thread is not running
// JS or libuv callbacks (stuck, or dead), so it sees whole records.
// Without words (serve() outside the supervisor) every call is one branch.
class InflightLog {
 public:
  void Attach(int32_t* words) { words_ = words; }
  bool attached() const { return words_ != nullptr; }

  // A head went to JS (the connection's pending count rose by one).
  void Add(InflightChain* chain, int32_t conn, int method, const char* target,
           size_t target_len) {
    if (words_ == nullptr) return;
    uint32_t seq = next_seq_++;
    if (seq == 0) seq = next_seq_++;  // 0 means none
    int32_t* e = Entry(seq);
    // A record still in use is overwritten: more than kInflightEntries
    // requests are in flight; its chain is found broken later (Seq check).
    e[1] = static_cast<int32_t>(seq);
    e[2] = conn;
    e[3] = method;
    e[4] = 0;
    e[5] = static_cast<int32_t>(target_len);
    size_t n = target_len < kInflightTargetBytes ? target_len
                                                 : kInflightTargetBytes;
    std::memcpy(e + kInflightTargetOffset, target, n);
    const bool first = chain->oldest == 0;
    if (!first) {
      int32_t* prev = Valid(chain->newest);
      if (prev != nullptr) prev[4] = static_cast<int32_t>(seq);
    }
    chain->newest = seq;
    if (first) chain->oldest = seq;
    Store(e, first ? kInflightAnswering : kInflightQueued);
  }

  // The oldest request's response ended: the next one is being answered.
  void Done(InflightChain* chain, int32_t conn) {
    if (words_ == nullptr || chain->oldest == 0) return;
    int32_t* e = Valid(chain->oldest);
    if (e == nullptr) {
      Clear(chain, conn);  // overwritten: forget this connection's records
      return;
    }
    const uint32_t next = static_cast<uint32_t>(e[4]);
    Store(e, kInflightFree);
    int32_t* n = next != 0 ? Valid(next) : nullptr;
    if (n == nullptr) {
      if (next != 0) Clear(chain, conn);
      chain->oldest = chain->newest = 0;
      return;
    }
    chain->oldest = next;
    Store(n, kInflightAnswering);
  }

  // The newest request will not be answered by JS (a parse error took its
  // place): unlink it.
  void DropNewest(InflightChain* chain, int32_t conn) {
    if (words_ == nullptr || chain->newest == 0) return;
    if (chain->oldest == chain->newest) {
      Clear(chain, conn);
      return;
    }
    uint32_t seq = chain->oldest;
    for (size_t i = 0; i < kInflightEntries && seq != 0; i++) {
      int32_t* e = Valid(seq);
      if (e == nullptr) break;
      const uint32_t next = static_cast<uint32_t>(e[4]);
      if (next == chain->newest) {
        int32_t* last = Valid(next);
        if (last != nullptr) Store(last, kInflightFree);
        e[4] = 0;
        chain->newest = seq;
        return;
      }
      seq = next;
    }
    Clear(chain, conn);
  }

  // None of the connection's requests will be answered (it closes).
  void Clear(InflightChain* chain, int32_t conn) {
    if (words_ == nullptr) return;
    if (chain->oldest != 0) {
      // Normally a walk of the chain; a broken one (overwritten records)
      // costs one pass over the ring.
      uint32_t seq = chain->oldest;
      size_t i = 0;
      for (; i < kInflightEntries && seq != 0; i++) {
        int32_t* e = Valid(seq);
        if (e == nullptr) break;
        seq = static_cast<uint32_t>(e[4]);
        Store(e, kInflightFree);
      }
      if (seq != 0) {
        for (size_t k = 0; k < kInflightEntries; k++) {
          int32_t* e = words_ + k * kInflightWords;
          if (e[0] != kInflightFree && e[2] == conn) Store(e, kInflightFree);
        }
      }
    }
    chain->oldest = chain->newest = 0;
  }

 private:
  int32_t* Entry(uint32_t seq) const {
    return words_ + (seq % kInflightEntries) * kInflightWords;
  }
  // The record of `seq`, or nullptr when it has been overwritten.
  int32_t* Valid(uint32_t seq) const {
    int32_t* e = Entry(seq);
    return static_cast<uint32_t>(e[1]) == seq && e[0] != kInflightFree ? e
                                                                       : nullptr;
  }
  static void Store(int32_t* e, int32_t state) {
    __atomic_store_n(e, state, __ATOMIC_RELEASE);
  }

  int32_t* words_ = nullptr;
  uint32_t next_seq_ = 1;
};

}  // namespace tsgi

#endif  // TSGI_INFLIGHT_H_
