// server.h: Server, its listeners (TCP or unix, bound here or adopted from
// a descriptor) on Node's own loop with its connection slab, shared read
// buffer, Date cache, batching of JS calls, close(), and teardown when its
// Node environment (main thread or worker) goes away.
#ifndef TSGI_SERVER_H_
#define TSGI_SERVER_H_

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "bridge.h"
#include "byte_buffer.h"
#include "connection.h"
#include "exchange.h"
#include "inflight.h"
#include "metrics.h"
#include "node_api.h"
#include "parser.h"
#include "timers.h"
#include "uv.h"

namespace tsgi {

constexpr size_t kReadBufferSize = 64 * 1024;
// The longest lingering close (Connection::BeginLinger); the node server
// uses the same (LINGER_MS in src/native/binding.ts, checked at load).
constexpr uint64_t kLingerMs = 2000;

// What a Server runs with, all of it from JS: bridge_options.cc reads it
// from the constructor's options, and src/settings.ts is where the
// defaults and ranges are (C++ keeps none of its own).
struct ServerConfig {
  Limits limits;
  Timeouts timeouts;
  uint64_t tick_ms;  // the deadline wheel's tick
  bool reuse_port;
  // The ready-made response for each HttpError, split around its Date
  // line (errors.h).
  std::string ready_head[kHttpErrorCount];
  std::string ready_tail[kHttpErrorCount];
  // The parse-error slot of the metrics that counts each HttpError
  // (options.parseErrorSlots; all 0 without metrics).
  uint8_t parse_error_slot[kHttpErrorCount] = {};
};

class Server;

// One listening handle of a Server. Heap-allocated per listen()/adopt()
// and freed in its close callback (OnListenerClosedCb), so that a failed
// bind can close asynchronously while the Server goes on; `index` is its
// place in Server::listeners_, never reused, and crosses in Open records
// (so JS knows each connection's SERVER_NAME and SERVER_PORT). An adopted
// listener owns the duplicate descriptor libuv opened; the descriptor JS
// passed to adopt() stays JS's (the supervisor's).
struct Listener {
  union Handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  Server* server;
  uint32_t index;
  bool pipe;     // a unix socket: connections are uv_pipe_t
  bool started; // listening (counted in open_listeners_ until closed)
};

// All state is per instance, and an instance belongs to the environment
// (thread) that created it: nothing here is shared between threads.
//
// Lifetime: created by the JS constructor and owned by the JS object
// (napi_wrap). While the listener or any connection is open the Server
// holds a strong reference to that object, so it cannot be collected with
// handles open. When the environment tears down, the async cleanup hook
// closes every handle and tells Node when the last close callback ran; the
// finalizer then frees the Server. A Server whose object is collected
// closes its remaining (auxiliary) handles and frees itself in the last
// close callback.
class Server {
 public:
  Server(napi_env env, uv_loop_t* loop, std::unique_ptr<ServerConfig> config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Second construction step. On failure nothing is left open and the
  // caller deletes the object; on success only Finalize may free it.
  // `metrics` is the block to count into (a Float64Array of metrics.h's
  // layout) or undefined.
  bool Init(napi_value on_events, napi_value events, napi_value bytes,
            napi_value responses, napi_value response_bytes,
            napi_value metrics, OptionError* error);
  void SetWrapper(napi_ref wrapper) { wrapper_ = wrapper; }
  // napi_wrap finalizer.
  static void Finalize(napi_env env, void* data, void* hint);

  // Binds and listens. Returns the bound port, or a libuv error (< 0).
  // The listener's index is `*index`.
  int Listen(const char* host, int port, int backlog, uint32_t* index);
  // Listens on a duplicate of `fd`, a listening socket (TCP or unix) that
  // stays the caller's. Returns the listener's index, or a libuv error.
  int Adopt(int fd, int backlog);
  // Closes listener `index` (its duplicate descriptor); the socket goes on
  // for whoever else holds it. Connections it accepted stay open.
  bool Release(uint32_t index);
  void Close();
  // Stops accepting, as Close(), but leaves idle keep-alive connections
  // open: each closes after its next response (Connection: close) or at
  // its keep-alive timeout, so a client that sends on it just then is not
  // met by a close (the reload's drain).
  void Drain();
  // Close(), then cuts every connection still open (the graceful timeout
  // ran out): buffered output is discarded, Close events follow.
  void CloseAll();
  // Writes the output of every dirty connection.
  void FlushAll();
  // After a JS method call made events or output outside any libuv
  // callback of ours: deliver them from the check phase of this loop turn.
  void AfterApiCall();

  // Applies the responses JS queued (ResponseQueue::Drain).
  void DrainResponses() {
    if (!tearing_down_ && !finalized_) queue_.Drain(this);
  }
  // Prepared heads (PreparedHead): JS fills slot `slot` with checked
  // bytes, then refers to it by number.
  void PrepareHead(uint32_t slot, std::string bytes, int status) {
    prepared_[slot].bytes = std::move(bytes);
    prepared_[slot].status = status;
  }
  const PreparedHead* Prepared(int32_t slot) const {
    if (slot < 0 || static_cast<uint32_t>(slot) >= kMaxPreparedHeads ||
        prepared_[slot].status == 0) {
      return nullptr;
    }
    return &prepared_[slot];
  }

  // The connection for `id`, or nullptr when the id is stale.
  Connection* Lookup(int32_t id);
  uint32_t connection_count() const { return connection_count_; }

  // For Connection.
  EventSink& sink() { return sink_; }
  InflightLog& inflight() { return inflight_; }
  // Attaches the in-flight ring (kInflightEntries * kInflightWords words
  // of a SharedArrayBuffer); `ref` keeps it alive until the finalizer.
  void AttachInflight(napi_ref ref, int32_t* words) {
    inflight_ref_ = ref;
    inflight_.Attach(words);
  }
  const Limits& limits() const { return config_->limits; }
  // The ready-made response for `error` (kNone answers as kBadRequest).
  const ReadyResponse& Ready(HttpError error) const {
    return error == HttpError::kNone
               ? ready_[static_cast<size_t>(HttpError::kBadRequest)]
               : ready_[static_cast<size_t>(error)];
  }
  // Output blocks of idle connections (see BufferPool).
  BufferPool& buffer_pool() { return buffer_pool_; }
  // The Exchanges of idle connections (exchange.h).
  ExchangePool& exchanges() { return exchanges_; }
  uv_loop_t* loop() const { return loop_; }
  bool closing() const { return closing_; }
  bool tearing_down() const { return tearing_down_; }
  void AddDirty(uint32_t slot) { dirty_.push_back(slot); }
  // The counters (metrics.h); off when no block was given.
  Metrics& metrics() { return metrics_; }
  void CountParseError(HttpError error) {
    if (!metrics_.on()) return;
    if (error == HttpError::kNone) error = HttpError::kBadRequest;
    metrics_.Add(kMxParseErrors + config_->parse_error_slot[static_cast<size_t>(error)], 1);
  }
  // Every connection's deadline lives here (timers.h).
  DeadlineWheel& wheel() { return wheel_; }
  const Timeouts& timeouts() const { return config_->timeouts; }
  // "Date: ...\r\n", regenerated when the second changes (RFC 9110 6.6.1).
  const char* DateLine(size_t* length);
  void ConnectionClosed(Connection* conn);

  static void AllocCb(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void ReadCb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

  // Marks a read or accept callback: when the outermost one ends, the
  // batch waits for the check phase of this loop turn (OnCheckCb), so that
  // every socket read in one poll phase crosses to JS in one call and its
  // output leaves together. Nothing of a read is referenced after its
  // callback (the Parser and the EventSink copy what they keep).
  class PollScope {
   public:
    explicit PollScope(Server* server) : server_(server) { server_->depth_++; }
    ~PollScope() {
      if (--server_->depth_ == 0) server_->EndPollCallback();
    }
    PollScope(const PollScope&) = delete;
    PollScope& operator=(const PollScope&) = delete;

   private:
    Server* server_;
  };

  // Marks a libuv callback: when the outermost one ends, the event batch
  // goes to JS (once) and then the corked output is written.
  class CallbackScope {
   public:
    explicit CallbackScope(Server* server) : server_(server) {
      server_->depth_++;
    }
    ~CallbackScope() {
      if (--server_->depth_ == 0) server_->EndCallback();
    }
    CallbackScope(const CallbackScope&) = delete;
    CallbackScope& operator=(const CallbackScope&) = delete;

   private:
    Server* server_;
  };

 private:
  static void OnConnectionCb(uv_stream_t* stream, int status);
  static void OnListenerClosedCb(uv_handle_t* handle);
  static void OnAuxClosedCb(uv_handle_t* handle);
  static void OnCheckCb(uv_check_t* check);
  static void OnTimerCb(uv_timer_t* timer);
  static void CleanupHook(napi_async_cleanup_hook_handle handle, void* arg);

  void OnConnection(Listener* listener, int status);
  int StartListener(Listener* listener, int backlog);
  void CloseListeners();
  void EndCallback();
  void EndPollCallback();
  void FlushDirty();
  void HandleClosed();
  void MaybeClosed();
  void Teardown();
  void CloseAux();
  void HoldWrapper();
  void ReleaseWrapper();

  napi_env env_;
  uv_loop_t* loop_;
  EventSink sink_;
  ResponseQueue queue_;
  PreparedHead prepared_[kMaxPreparedHeads];
  InflightLog inflight_;
  // Owned for the Server's life; limits() and Ready() point into it.
  const std::unique_ptr<ServerConfig> config_;
  ReadyResponse ready_[kHttpErrorCount];
  BufferPool buffer_pool_;
  // Declared after buffer_pool_ (the pooled Exchanges' buffers name it)
  // and before slots_.
  ExchangePool exchanges_;
  // Writes into the block JS gave (metrics_ref_ keeps its typed array, and
  // so its memory, alive); detached in Teardown and Finalize, before the
  // reference is dropped, so that no close callback writes after.
  Metrics metrics_;
  napi_ref metrics_ref_ = nullptr;

  // Every listener ever opened, by index; nullptr once closing (the
  // Listener itself lives until its close callback).
  std::vector<Listener*> listeners_;
  // Listeners from StartListener until their close callback.
  uint32_t open_listeners_ = 0;
  // Unreferenced helpers: check_ delivers events/output produced by JS
  // outside our callbacks; timer_ is the tick of wheel_, which holds every
  // connection deadline (timeouts, lingering closes). Both stay open until
  // CloseAux; wheel_ is detached from timer_ before it is closed.
  uv_check_t check_;
  uv_timer_t timer_;
  DeadlineWheel wheel_;
  bool aux_open_ = false;

  std::vector<std::unique_ptr<Connection>> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> dirty_;
  uint32_t connection_count_ = 0;
  // Filled by libuv in AllocCb and fully consumed in the matching ReadCb.
  std::unique_ptr<char[]> read_buffer_;

  char date_line_[64];
  size_t date_len_ = 0;
  time_t date_second_ = -1;

  int depth_ = 0;
  // Handles (listener, connections, auxiliaries) not yet through their
  // close callback.
  uint32_t open_handles_ = 0;
  bool closing_ = false;
  bool closed_emitted_ = false;
  bool tearing_down_ = false;
  bool finalized_ = false;
  bool wrapper_held_ = false;
  napi_ref wrapper_ = nullptr;
  napi_ref inflight_ref_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;
};

}  // namespace tsgi

#endif  // TSGI_SERVER_H_
