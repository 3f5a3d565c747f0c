// bridge.h: the crossing between C++ and JavaScript. EventSink
// (bridge_events.cc) writes event records into the shared arrays and calls
// onEvents; ResponseQueue (bridge_queue.cc) applies the responses JS queues
// in its own arrays; DefineServerClass (bridge.cc) builds the JS `Server`
// class whose methods unpack primitives for Server and Connection (the
// response methods in bridge_respond.cc). This is the only code that makes
// JS values per request.
#ifndef TSGI_BRIDGE_H_
#define TSGI_BRIDGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "node_api.h"
#include "parser.h"
#include "proxy_protocol.h"

namespace tsgi {

// The enums below are half of the contract with src/native/binding.ts (Ev,
// Wr, Wf there): addon.cc exports them from these lists, and binding.ts
// checks at load that both sides agree (ARCHITECTURE.md, "The C++/TS
// contract"). A new value is one line here and one in binding.ts.

// Event record types: V(enumerator, name in Ev, value, words of the
// record; a Head record has kHeadWordsPerHeader more per header).
#define TSGI_EVENT_TYPES(V)    \
  V(kEvOpen, Open, 1, 7)       \
  V(kEvHead, Head, 2, 7)       \
  V(kEvBody, Body, 3, 4)       \
  V(kEvBodyEnd, BodyEnd, 4, 2) \
  V(kEvDrain, Drain, 5, 2)     \
  V(kEvClose, Close, 6, 2)     \
  V(kEvFileDone, FileDone, 7, 3) \
  V(kEvClosed, Closed, 8, 1)     \
  V(kEvBodyError, BodyError, 9, 3) \
  V(kEvProxy, Proxy, 10, 9)

enum EventType : int32_t {
#define TSGI_ENUM(name, js, value, words) name = value,
  TSGI_EVENT_TYPES(TSGI_ENUM)
#undef TSGI_ENUM
};

// Why the body of the newest request failed: the reason word of a
// BodyError record, V(enumerator, name in BodyFailure of
// src/gateway/body-error.ts, value). The application's tsgi.input then
// throws the message JS keeps for it. 0 (Lost) is what a Close means by
// itself and is never sent.
#define TSGI_BODY_FAILURES(V)                \
  V(kBfMalformed, Malformed, 1)              \
  V(kBfTooLarge, TooLarge, 2)                \
  V(kBfExtensionTooLarge, ExtensionTooLarge, 3) \
  V(kBfTimeout, Timeout, 4)                  \
  V(kBfTrailersTooLarge, TrailersTooLarge, 5)

enum BodyFailure : int32_t {
#define TSGI_ENUM(name, js, value) name = value,
  TSGI_BODY_FAILURES(TSGI_ENUM)
#undef TSGI_ENUM
};

constexpr size_t kHeadWordsPerHeader = 4;

// Words of a record of `type` (a Head record's fixed part).
constexpr size_t EventWords(EventType type) {
  switch (type) {
#define TSGI_CASE(name, js, value, words) \
  case name:                              \
    return words;
    TSGI_EVENT_TYPES(TSGI_CASE)
#undef TSGI_CASE
  }
  return 0;
}

// Return codes of the writing methods: V(enumerator, name in Wr, value).
#define TSGI_WRITE_RESULTS(V) \
  V(kWrOk, Ok, 0)             \
  V(kWrFull, Full, 1)         \
  V(kWrGone, Gone, -1)

enum WriteResult : int32_t {
#define TSGI_ENUM(name, js, value) name = value,
  TSGI_WRITE_RESULTS(TSGI_ENUM)
#undef TSGI_ENUM
  // Never returned to JS: bridge_respond.cc throws an Error instead
  // (misuse of the API, or a status or header block the Writer refuses).
  kWrMisuse = -2,
  kWrInvalidStatus = -3,
  kWrInvalidHeaders = -4,
};

// Response flags, the `rflags` argument of respond(): V(enumerator, name in
// Wf, value).
#define TSGI_RESPONSE_FLAGS(V) V(kWfClose, Close, 1 << 0)

enum ResponseFlags : int32_t {
#define TSGI_ENUM(name, js, value) name = value,
  TSGI_RESPONSE_FLAGS(TSGI_ENUM)
#undef TSGI_ENUM
};

// Minimum sizes of the shared arrays (JS sizes them from the limits).
constexpr size_t kMinEventWords = 16 * 1024;
constexpr size_t kMinBytes = 256 * 1024;
// Body chunks of at most this many bytes go into the body area
// (EventSink::SetBodyArea) when it has room; larger ones, and small ones
// that do not fit, go into the batch's bytes.
constexpr size_t kBodyAreaChunkMax = 16 * 1024;

// The response queue (ResponseQueue): JS writes one record per complete
// response with a prepared head, C++ applies them in order at its next
// drain point. Words 0 and 1 are JS's cursors (words used, including these
// two; bytes used); then records of V(field) words each. Part of the
// contract with binding.ts (RQ there).
#define TSGI_RESPONSE_RECORD(V) \
  V(Conn)                       \
  V(ReqFlags)                   \
  V(Head)                       \
  V(Rflags)                     \
  V(ContentLength)              \
  V(BodyOff)                    \
  V(BodyLen)

enum ResponseRecordField : int32_t {
#define TSGI_ENUM(name) kRq##name,
  TSGI_RESPONSE_RECORD(TSGI_ENUM)
#undef TSGI_ENUM
  kResponseRecordWords
};
constexpr size_t kQueueHeaderWords = 2;
constexpr size_t kMinQueueWords = 1024;
constexpr size_t kMinQueueBytes = 64 * 1024;
// Slots of prepared heads per Server (Server::PrepareHead).
constexpr uint32_t kMaxPreparedHeads = 64;

// What is wrong with the options of the JS Server constructor; bridge.cc
// throws it as a TypeError or RangeError with a `code`.
struct OptionError {
  enum class Kind : uint8_t { kNone, kType, kRange };
  Kind kind = Kind::kNone;
  const char* message = nullptr;
  void Set(Kind k, const char* m) {
    kind = k;
    message = m;
  }
};

// Owns the batch of event records of one Server. The arrays belong to JS
// (kept alive by references held here until Destroy); their memory is
// written only on the loop thread, and JS may read it only during the
// onEvents call, after which the batch restarts at offset 0.
class EventSink {
 public:
  EventSink() = default;
  EventSink(const EventSink&) = delete;
  EventSink& operator=(const EventSink&) = delete;

  // Takes references to the callback and arrays; `error` says what is
  // wrong when they are unusable. Returns false then.
  bool Init(napi_env env, napi_value on_events, napi_value events,
            napi_value bytes, OptionError* error);
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
            int32_t remote_port, int32_t local_port, int32_t listener);
  void Head(int32_t conn, const ParsedHead& head);
  // A Body record: its bytes go into the body area when they fit there
  // (the record's offset is then ~offset into the area), else into the
  // batch's bytes.
  void Body(int32_t conn, const char* data, size_t length);
  // The body area: an ArrayBuffer of JS's (bodyArea()) that small body
  // chunks are copied into, front to back, each byte written once, so that
  // JS hands them to the application as views without copying them again.
  // C++ holds a strong reference and writes only the bytes after the last
  // chunk it recorded; JS replaces the area with a new one between batches
  // (the old one lives on in the views of it). An area that is not an
  // ArrayBuffer is refused (false). See ARCHITECTURE.md, the ownership
  // table.
  bool SetBodyArea(napi_value array_buffer);
  // Whether a small chunk of `length` bytes finds the area without room
  // (or without an area) while the batch holds records: flushing first
  // lets JS hand over a new area (a cheap check: no detach test).
  bool AreaWantsFlush(size_t length) const {
    return length <= kBodyAreaChunkMax && !disabled_ && !in_js_ &&
           HasEvents() && (area_ == nullptr || area_cap_ - area_used_ < length);
  }
  // The PROXY header of `conn` was read: its addresses, as text.
  void Proxy(int32_t conn, const ProxyResult& result);
  // Records without bytes; safe at any time, also while JS runs.
  void Small(int32_t type, int32_t conn);
  void Small(int32_t type, int32_t conn, int32_t arg);
  void Closed();

  // Calls onEvents(words, wantsArea) inside a callback scope (microtasks
  // and process.nextTick run before it returns), repeatedly while records
  // were added during the call. wantsArea is AreaWanted() at the call. A JS
  // exception goes to process 'uncaughtException'.
  void Flush();
  // Whether JS should hand over a new body area: there is none (never
  // given, or dropped once detached) or it has no room for a whole small
  // chunk. The one place that rule is decided.
  bool AreaWanted() const {
    return area_ == nullptr || area_cap_ - area_used_ < kBodyAreaChunkMax;
  }

 private:
  void AppendSmall(const int32_t* words, size_t count);
  // Whether the area can take `length` more bytes: it is set, has room and
  // is still attached (the application may have transferred a view's
  // ArrayBuffer; then the area is dropped, never written again).
  bool AreaTakes(size_t length);
  void DropArea();

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
  napi_ref area_ref_ = nullptr;  // the body area's ArrayBuffer, strong
  uint8_t* area_ = nullptr;  // its bytes, valid while area_ref_ holds it
  size_t area_cap_ = 0;
  size_t area_used_ = 0;  // bytes [0, area_used_) belong to recorded chunks
  // Records that did not fit while JS was reading the batch (rare: the
  // array is full and JS made more events synchronously).
  std::vector<int32_t> overflow_;
  bool in_js_ = false;
  bool disabled_ = false;
};

class Server;

// The response queue of one Server: two arrays JS allocates and C++ holds
// references to for the Server's life. JS appends records while it runs;
// C++ reads them only at its drain points (the start of every method call,
// the end of every onEvents call), on the loop thread, and then empties
// the queue, so JS and C++ never use it at the same time.
class ResponseQueue {
 public:
  bool Init(napi_env env, napi_value words, napi_value bytes,
            OptionError* error);
  void Destroy(napi_env env);
  // Applies every queued record, in order, then empties the queue. A
  // record for a connection that is gone is dropped (JS learns it from the
  // Close event).
  void Drain(Server* server);

 private:
  napi_ref words_ref_ = nullptr;
  napi_ref bytes_ref_ = nullptr;
  int32_t* words_ = nullptr;
  size_t words_cap_ = 0;
  const char* bytes_ = nullptr;
  size_t bytes_cap_ = 0;
};

// Defines the `Server` class on `exports`.
napi_status DefineServerClass(napi_env env, napi_value exports);

// The `code` of the errors the Server constructor throws for its options
// (src/native/binding.ts: NativeOptionError).
constexpr char kInvalidOptionCode[] = "ERR_TSGI_INVALID_OPTION";
constexpr char kMissingOptionCode[] = "ERR_TSGI_MISSING_OPTION";
// The `code` of the TypeError respond() throws for a status or header
// block that is not a valid HTTP head.
constexpr char kInvalidHeadCode[] = "ERR_TSGI_INVALID_HEAD";
// The `code` of an argument of the wrong type or value, and of a call that
// does not fit the state of the connection (respond() with no request to
// answer, write() with no response in progress).
constexpr char kInvalidArgCode[] = "ERR_TSGI_INVALID_ARG";
constexpr char kMisuseCode[] = "ERR_TSGI_MISUSE";

}  // namespace tsgi

#endif  // TSGI_BRIDGE_H_
