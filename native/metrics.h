// metrics.h: Metrics, the counters of one Server in a block of doubles that
// JS allocates (a Float64Array, normally over a SharedArrayBuffer so that a
// supervisor thread can read it), and the block's layout. The layout is
// half of the contract with src/metrics/layout.ts: addon.cc exports the
// lists below and binding.ts checks them at load (ARCHITECTURE.md, "The
// C++/TS contract"). Free of Node-API and libuv.
//
// Concurrency: this Server's loop thread is the only writer of the slots
// it counts (the supervisor writes only the worker slots, JS of the same
// thread only the loop slots); there is no lock and nothing is allocated.
// Each slot is an aligned 8-byte double written with a relaxed atomic store
// (a plain store on x86-64 and arm64), so a reader on another thread sees
// an old or a new value, never a mix of both. Counters only grow (doubles
// count exactly to 2^53); nothing here ever resets a slot, so a block may
// be handed to a worker's replacement and go on counting.
#ifndef TSGI_METRICS_H_
#define TSGI_METRICS_H_

#include <cstddef>
#include <cstdint>

#include "errors.h"
#include "llhttp.h"

namespace tsgi {

// The method labels of the request counters: V(index, label), each also
// llhttp's HTTP_<label>. Every other method counts under `other`, the
// last label (index kMetricOther).
#define TSGI_METRIC_METHODS(V) \
  V(0, GET)                    \
  V(1, HEAD)                   \
  V(2, POST)                   \
  V(3, PUT)                    \
  V(4, DELETE)                 \
  V(5, PATCH)                  \
  V(6, OPTIONS)

constexpr size_t kMetricOther = 7;
constexpr size_t kMetricMethods = kMetricOther + 1;

// The label index of an llhttp method number.
inline size_t MetricMethod(int method) {
  switch (method) {
#define TSGI_CASE(index, label) \
  case HTTP_##label:            \
    return index;
    TSGI_METRIC_METHODS(TSGI_CASE)
#undef TSGI_CASE
    default:
      return kMetricOther;
  }
}
// Final statuses 2xx, 3xx, 4xx, 5xx (respond() sends 200-599 only).
constexpr size_t kMetricClasses = 4;

// Upper bounds of the request-duration buckets, in microseconds (a last
// bucket, +Inf, follows).
#define TSGI_METRIC_BUCKETS_US(V)                                           \
  V(100) V(250) V(500) V(1000) V(2500) V(5000) V(10000) V(25000) V(50000) \
      V(100000) V(250000) V(500000) V(1000000) V(2500000) V(5000000)      \
          V(10000000)

#define TSGI_COUNT(us) +1
constexpr size_t kMetricBuckets = 1 + (0 TSGI_METRIC_BUCKETS_US(TSGI_COUNT));
#undef TSGI_COUNT

// Slots reserved for parse errors: one per status of a refusal, in the
// order of src/metrics/layout.ts; JS tells each Server which slot counts
// each HttpError (the `parseErrorSlots` option), since which status answers
// which error is TypeScript's to say (src/gateway/refusals.ts).
constexpr size_t kMetricParseErrors = 16;

// The slots: V(enumerator, name in src/metrics/layout.ts, first slot,
// number of slots). Each begins where the one before it ends (checked
// below), and the block is kMetricSlots doubles long.
#define TSGI_METRIC_SLOTS(V)                                                 \
  /* the layout's version, written by JS when it makes the block */          \
  V(kMxLayout, layout, 0, 1)                                                 \
  /* responses by method (row) and status class (column) */                  \
  V(kMxRequests, requests, 1, kMetricMethods * kMetricClasses)               \
  /* request durations: a count per bucket (not cumulative), their sum */    \
  V(kMxDurationBuckets, durationBuckets, 33, kMetricBuckets)                 \
  V(kMxDurationSum, durationSum, 50, 1)                                      \
  V(kMxConnectionsAccepted, connectionsAccepted, 51, 1)                      \
  /* a gauge: open now */                                                    \
  V(kMxConnectionsOpen, connectionsOpen, 52, 1)                              \
  V(kMxBytesIn, bytesIn, 53, 1)                                              \
  V(kMxBytesOut, bytesOut, 54, 1)                                            \
  V(kMxParseErrors, parseErrors, 55, kMetricParseErrors)                     \
  /* written by JS on this thread (src/metrics/loop-lag.ts) */               \
  V(kMxLoopLag, loopLag, 71, 1)                                              \
  V(kMxLoopLagMax, loopLagMax, 72, 1)                                        \
  V(kMxLoopTick, loopTick, 73, 1)                                            \
  /* written by a supervisor, if any */                                      \
  V(kMxWorkerRestarts, workerRestarts, 74, 1)                                \
  V(kMxWorkerTimeouts, workerTimeouts, 75, 1)

enum MetricSlot : uint32_t {
#define TSGI_ENUM(name, js, first, count) name = first,
  TSGI_METRIC_SLOTS(TSGI_ENUM)
#undef TSGI_ENUM
};

constexpr size_t kMetricSlots = 76;
constexpr uint32_t kMetricsLayoutVersion = 1;

constexpr bool MetricSlotsAreContiguous() {
  size_t next = 0;
#define TSGI_CHECK(name, js, first, count) \
  if (first != next) return false;         \
  next = first + count;
  TSGI_METRIC_SLOTS(TSGI_CHECK)
#undef TSGI_CHECK
  return next == kMetricSlots;
}
static_assert(MetricSlotsAreContiguous(), "metric slots must be contiguous");

// The bucket of a duration, 0 .. kMetricBuckets - 1.
inline size_t MetricBucket(uint64_t us) {
  static constexpr uint64_t kBounds[] = {
#define TSGI_BOUND(b) b,
      TSGI_METRIC_BUCKETS_US(TSGI_BOUND)
#undef TSGI_BOUND
  };
  size_t i = 0;
  while (i < kMetricBuckets - 1 && us > kBounds[i]) i++;
  return i;
}

// The counters of one Server: a view of the block, or nothing (metrics
// off: every call below is then one test of `slots_`).
class Metrics {
 public:
  // `slots` has kMetricSlots doubles and outlives the use (the Server
  // holds a reference to its typed array until it detaches).
  void Attach(double* slots) { slots_ = slots; }
  void Detach() { slots_ = nullptr; }
  bool on() const { return slots_ != nullptr; }

  void Add(uint32_t slot, double amount) {
    if (slots_ == nullptr) return;
    double value;
    __atomic_load(slots_ + slot, &value, __ATOMIC_RELAXED);
    value += amount;
    __atomic_store(slots_ + slot, &value, __ATOMIC_RELAXED);
  }
  void Set(uint32_t slot, double value) {
    if (slots_ == nullptr) return;
    __atomic_store(slots_ + slot, &value, __ATOMIC_RELAXED);
  }

  // A response ended: `method` is a label index, `status` 200-599, `us`
  // how long since the request was taken up.
  void Response(size_t method, int status, uint64_t us) {
    if (slots_ == nullptr) return;
    if (method < kMetricMethods && status >= 200 && status <= 599) {
      Add(kMxRequests + static_cast<uint32_t>(method * kMetricClasses +
                                              (status / 100 - 2)),
          1);
    }
    Add(kMxDurationBuckets + static_cast<uint32_t>(MetricBucket(us)), 1);
    Add(kMxDurationSum, static_cast<double>(us) / 1e6);
  }


 private:
  double* slots_ = nullptr;
};

}  // namespace tsgi

#endif  // TSGI_METRICS_H_
