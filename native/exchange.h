// exchange.h: Exchange, the part of a connection that exists only while it
// is busy (a request being received or answered, bytes pending, a PROXY
// header or a lingering close), and ExchangePool, a Server's free list of
// them: an idle keep-alive connection holds none (ARCHITECTURE.md, "Who
// owns which memory until when").
#ifndef TSGI_EXCHANGE_H_
#define TSGI_EXCHANGE_H_

#include <cstddef>
#include <cstdint>
#include <new>

#include "inflight.h"
#include "parser.h"
#include "proxy_protocol.h"
#include "uv.h"
#include "writer.h"

namespace tsgi {

// What a busy connection needs and an idle one does not. A Connection takes
// one from its Server's pool (Connection::TakeExchange) when it reads bytes
// (or must read a PROXY header, or linger), and gives it back when it is
// idle again with nothing buffered (Connection::MaybeGiveBack) or once its
// handle's close callback has run (Connection::OnClosed).
//
// Ownership at libuv's precision: while a Connection holds it, libuv
// borrows `writer`'s uv_write_t (uv_write ... its callback) and
// `shutdown_req` (uv_shutdown ... its callback, which runs with
// UV_ECANCELED before the handle's close callback when the handle is
// closed first). The Connection gives it back only when neither is in
// flight: when idle (Writer::Idle(), and a lingering connection is never
// idle) or from OnClosed, after libuv is done with the handle. So nothing
// in the pool is referenced by libuv.
struct Exchange {
  Exchange() : writer(nullptr) {}
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  Parser parser;
  Writer writer;
  // Reads the PROXY header while Connection::proxy_pending_.
  ProxyHeaderParser proxy;
  uv_shutdown_t shutdown_req;
  // The connection's requests in the Server's InflightLog; empty whenever
  // no request is pending, so also when the Exchange is given back.
  InflightChain inflight;
  // Loop times (uv_now, milliseconds), Connection::ReceiveDeadline's and
  // SendDeadline's: the first byte of the message being received, where
  // its headers timeout counts from, output queued since (or its last
  // progress; 0: nothing queued, as always when given back).
  uint64_t message_start = 0;
  uint64_t head_clock = 0;
  uint64_t send_since = 0;
  // When the lingering close began (Connection::BeginLinger).
  uint64_t linger_since = 0;
  // Metrics (metrics.h), kept only while they are on: when the oldest
  // unanswered request was taken up, the status of the response in
  // progress and its request's llhttp method.
  uint64_t started_us = 0;
  int response_status = 0;
  int response_method = 0;
  // The next one in the pool's free list (nullptr while attached).
  Exchange* next_free = nullptr;
  // False until its parser and writer are Reset for their Server (a new
  // Exchange); in the pool always true.
  bool ready = false;
};

// A Server's free list of Exchanges: memory per loop and per busy
// connection, not per request. Owns what it holds; used on its Server's loop
// thread only. At most kMaxIdle are kept (the rest are freed), so a burst
// of busy connections does not pin its memory afterwards.
//
// Invariant of what it holds: `ready`, the parser between messages (as
// after Parser::Reset but for the delegate: Parser::AtRest), the writer
// idle with no response active, no buffer block (they went back to the
// BufferPool when they emptied), nothing borrowed by libuv.
class ExchangePool {
 public:
  static constexpr size_t kMaxIdle = 256;

  ExchangePool() = default;
  ~ExchangePool() {
    while (free_ != nullptr) {
      Exchange* e = free_;
      free_ = e->next_free;
      delete e;
    }
  }
  ExchangePool(const ExchangePool&) = delete;
  ExchangePool& operator=(const ExchangePool&) = delete;

  // The most recently given back one (warm in the cache), or a new one
  // (not `ready`); nullptr when memory is exhausted.
  Exchange* Take() {
    Exchange* e = free_;
    if (e == nullptr) return new (std::nothrow) Exchange();
    free_ = e->next_free;
    e->next_free = nullptr;
    count_--;
    return e;
  }
  // Takes ownership of `e`, which must satisfy the invariant above.
  void Put(Exchange* e) {
    if (count_ >= kMaxIdle) {
      Free(e);
      return;
    }
    e->next_free = free_;
    free_ = e;
    count_++;
  }

 private:
  // Out of line: Put() is on the path of every keep-alive request.
  [[gnu::noinline]] static void Free(Exchange* e) { delete e; }

  // A LIFO list through Exchange::next_free.
  Exchange* free_ = nullptr;
  size_t count_ = 0;
};

}  // namespace tsgi

#endif  // TSGI_EXCHANGE_H_
