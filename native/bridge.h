// bridge.h: the crossing between C++ and JavaScript. EventSink writes event
// records into the shared arrays and calls onEvents; DefineServerClass
// builds the JS `Server` class whose methods unpack primitives for Server
// and Connection. This is the only code that makes JS values per request.
#ifndef TSGI_BRIDGE_H_
#define TSGI_BRIDGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "node_api.h"
#include "parser.h"

namespace tsgi {

// Event record types (Ev in src/native/binding.ts) and their sizes.
enum EventType : int32_t {
  kEvOpen = 1,
  kEvHead = 2,
  kEvBody = 3,
  kEvBodyEnd = 4,
  kEvDrain = 5,
  kEvClose = 6,
  kEvFileDone = 7,
  kEvClosed = 8,
  kEvBodyError = 9,
};

// Why the body of the newest request failed: the reason word of a
// BodyError record (BodyFailure in src/gateway/body-error.ts). The
// application's tsgi.input then throws the message JS keeps for it.
enum BodyFailure : int32_t {
  kBfMalformed = 1,          // 400: the chunked framing broke a rule
  kBfTooLarge = 2,           // 413: the body grew past maxBodySize
  kBfExtensionTooLarge = 3,  // 413: a chunk extension over its bound
  kBfTimeout = 4,            // 408: requestTimeout ran out
};

// Return codes of the writing methods (Wr in binding.ts), plus kMisuse,
// which bridge.cc turns into a thrown Error.
enum WriteResult : int32_t {
  kWrOk = 0,
  kWrFull = 1,
  kWrGone = -1,
  kWrMisuse = -2,
};

// Response flags (Wf in binding.ts).
enum ResponseFlags : int32_t {
  kWfClose = 1 << 0,
};

// Minimum sizes of the shared arrays (binding.ts: NativeServerOptions).
constexpr size_t kMinEventWords = 16 * 1024;
constexpr size_t kMinBytes = 256 * 1024;

// Owns the batch of event records of one Server. The arrays belong to JS
// (kept alive by references held here until Destroy); their memory is
// written only on the loop thread, and JS may read it only during the
// onEvents call, after which the batch restarts at offset 0.
class EventSink {
 public:
  EventSink() = default;
  EventSink(const EventSink&) = delete;
  EventSink& operator=(const EventSink&) = delete;

  // Takes references to the callback and arrays; `error` gets a message for
  // a TypeError/RangeError when they are unusable. Returns false then.
  bool Init(napi_env env, napi_value on_events, napi_value events,
            napi_value bytes, const char** error);
  // Drops the references (on the JS thread, from the finalizer).
  void Destroy();
  // The environment is going away: never call JS again; batches are
  // discarded.
  void Disable() { disabled_ = true; }

  size_t event_capacity() const { return ev_cap_; }
  size_t byte_capacity() const { return bytes_cap_; }
  bool in_js() const { return in_js_; }
  bool HasEvents() const { return ev_len_ != 0 || !overflow_.empty(); }

  // Makes room for a record of `words` words and `bytes` bytes, calling JS
  // first when the batch is too full. Must not be used while JS runs
  // (records made then use the small-record path). After it returns, the
  // caller must re-check whatever JS may have changed (the connection may
  // be closed).
  void EnsureRoom(size_t words, size_t bytes);
  // Bytes free for body data in the current batch (0 means flush first).
  size_t BodyRoom() const;

  void Open(int32_t conn, const char* addr, size_t addr_len,
            int32_t remote_port, int32_t local_port);
  void Head(int32_t conn, const ParsedHead& head);
  void Body(int32_t conn, const char* data, size_t length);
  // Records without bytes; safe at any time, also while JS runs.
  void Small(int32_t type, int32_t conn);
  void Small(int32_t type, int32_t conn, int32_t arg);
  void Closed();

  // Calls onEvents(words) inside a callback scope (microtasks and
  // process.nextTick run before it returns), repeatedly while records were
  // added during the call. A JS exception goes to process 'uncaughtException'.
  void Flush();

 private:
  void AppendSmall(const int32_t* words, size_t count);

  napi_env env_ = nullptr;
  napi_ref on_events_ = nullptr;
  napi_ref events_ref_ = nullptr;
  napi_ref bytes_ref_ = nullptr;
  napi_ref resource_ = nullptr;
  napi_async_context async_context_ = nullptr;

  int32_t* ev_ = nullptr;  // borrowed from the Int32Array
  size_t ev_cap_ = 0;
  size_t ev_len_ = 0;
  uint8_t* bytes_ = nullptr;  // borrowed from the Uint8Array
  size_t bytes_cap_ = 0;
  size_t bytes_len_ = 0;
  // Records that did not fit while JS was reading the batch (rare: the
  // array is full and JS made more events synchronously).
  std::vector<int32_t> overflow_;
  bool in_js_ = false;
  bool disabled_ = false;
};

// Defines the `Server` class on `exports`.
napi_status DefineServerClass(napi_env env, napi_value exports);

}  // namespace tsgi

#endif  // TSGI_BRIDGE_H_
