// server.cc: Server, its listeners on Node's loop (bound here, or adopted
// from a supervisor's descriptor), accept, the connection slab,
// per-callback batching of JS calls and output, close(), and environment
// teardown (worker threads).
#include "server.h"

#include "sockets.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace tsgi {

namespace {

void FormatDate(time_t now, char* out, size_t* length) {
  static constexpr char kDays[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                       "Thu", "Fri", "Sat"};
  static constexpr char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                          "May", "Jun", "Jul", "Aug",
                                          "Sep", "Oct", "Nov", "Dec"};
  struct tm tm;
  gmtime_r(&now, &tm);
  // IMF-fixdate (RFC 9110 section 5.6.7).
  char* p = out;
  auto put = [&p](const char* s) {
    while (*s != '\0') *p++ = *s++;
  };
  auto put2 = [&p](int v) {
    *p++ = static_cast<char>('0' + (v / 10) % 10);
    *p++ = static_cast<char>('0' + v % 10);
  };
  put("Date: ");
  put(kDays[tm.tm_wday % 7]);
  put(", ");
  put2(tm.tm_mday);
  *p++ = ' ';
  put(kMonths[tm.tm_mon % 12]);
  *p++ = ' ';
  int year = tm.tm_year + 1900;
  put2(year / 100);
  put2(year % 100);
  *p++ = ' ';
  put2(tm.tm_hour);
  *p++ = ':';
  put2(tm.tm_min);
  *p++ = ':';
  put2(tm.tm_sec);
  put(" GMT\r\n");
  *length = static_cast<size_t>(p - out);
}

}  // namespace

Server::Server(napi_env env, uv_loop_t* loop,
               std::unique_ptr<ServerConfig> config)
    : env_(env),
      loop_(loop),
      config_(std::move(config)),
      read_buffer_(new char[kReadBufferSize]) {
  for (size_t i = 0; i < kHttpErrorCount; i++) {
    ready_[i] = {config_->ready_head[i].data(), config_->ready_head[i].size(),
                 config_->ready_tail[i].data(), config_->ready_tail[i].size()};
  }
  std::memset(&check_, 0, sizeof(check_));
  std::memset(&timer_, 0, sizeof(timer_));
  date_line_[0] = '\0';
}

Server::~Server() {
  if (cleanup_hook_ != nullptr) {
    napi_remove_async_cleanup_hook(cleanup_hook_);
    cleanup_hook_ = nullptr;
  }
}

bool Server::Init(napi_value on_events, napi_value events, napi_value bytes,
                  napi_value responses, napi_value response_bytes,
                  napi_value metrics, OptionError* error) {
  napi_valuetype metrics_type = napi_undefined;
  napi_typeof(env_, metrics, &metrics_type);
  double* slots = nullptr;
  if (metrics_type != napi_undefined) {
    bool is_typed = false;
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    napi_value buffer;
    size_t offset = 0;
    if (napi_is_typedarray(env_, metrics, &is_typed) != napi_ok ||
        !is_typed ||
        napi_get_typedarray_info(env_, metrics, &type, &length, &data,
                                 &buffer, &offset) != napi_ok ||
        type != napi_float64_array || length != kMetricSlots) {
      error->Set(OptionError::Kind::kType,
                 "options.metrics must be a Float64Array of the metrics "
                 "layout's size (src/metrics/layout.ts)");
      return false;
    }
    slots = static_cast<double*>(data);
    if (slots[kMxLayout] != kMetricsLayoutVersion) {
      error->Set(OptionError::Kind::kType,
                 "options.metrics was not made for this layout version "
                 "(use newMetricsBlock() of src/metrics/layout.ts)");
      return false;
    }
  }
  if (!sink_.Init(env_, on_events, events, bytes, error)) return false;
  if (!queue_.Init(env_, responses, response_bytes, error)) {
    sink_.Destroy();
    queue_.Destroy(env_);
    return false;
  }
  // A whole head (URL + header section) and its Head record must fit in
  // one batch, with room to spare: JS sizes the arrays from the limits.
  const Limits& limits = config_->limits;
  // A Head record's bytes: the target, " HTTP/1.x" CRLF (kHeadLineRoom)
  // and the field section.
  constexpr uint64_t kHeadLineRoom = 16;
  if (uint64_t{limits.max_url_size} + limits.max_header_size +
              kHeadLineRoom + 4 * uint64_t{limits.max_header_count} >
          sink_.byte_capacity() / 2 ||
      EventWords(kEvHead) +
              kHeadWordsPerHeader * uint64_t{limits.max_header_count} >
          sink_.event_capacity() / 2) {
    error->Set(OptionError::Kind::kRange,
               "the shared arrays are too small for maxUrlSize + "
               "maxHeaderSize (or for maxHeaderCount): options.bytes needs "
               "twice their sum, options.events twice the words of the "
               "largest Head record");
    sink_.Destroy();
    queue_.Destroy(env_);
    return false;
  }
  if (slots != nullptr) {
    if (napi_create_reference(env_, metrics, 1, &metrics_ref_) != napi_ok) {
      error->Set(OptionError::Kind::kType, "cannot hold options.metrics");
      sink_.Destroy();
      queue_.Destroy(env_);
      return false;
    }
    metrics_.Attach(slots);
    metrics_.Set(kMxConnectionsOpen, 0);
  }
  uv_check_init(loop_, &check_);
  check_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
  wheel_.Attach(&timer_, OnTimerCb, config_->tick_ms);
  aux_open_ = true;
  open_handles_ += 2;
  // Every handle must be closed before a worker's loop is: Node waits for
  // this hook to be removed before it tears the environment down.
  if (napi_add_async_cleanup_hook(env_, CleanupHook, this, &cleanup_hook_) !=
      napi_ok) {
    cleanup_hook_ = nullptr;
  }
  return true;
}

// ---- JS object lifetime --------------------------------------------------

void Server::HoldWrapper() {
  if (wrapper_held_ || wrapper_ == nullptr || finalized_) return;
  uint32_t count = 0;
  if (napi_reference_ref(env_, wrapper_, &count) == napi_ok) {
    wrapper_held_ = true;
  }
}

void Server::ReleaseWrapper() {
  if (!wrapper_held_ || finalized_ || tearing_down_) return;
  uint32_t count = 0;
  napi_reference_unref(env_, wrapper_, &count);
  wrapper_held_ = false;
}

void Server::Finalize(napi_env env, void* data, void* /*hint*/) {
  Server* self = static_cast<Server*>(data);
  self->finalized_ = true;
  self->sink_.Disable();
  self->sink_.Destroy();
  self->queue_.Destroy(env);
  self->metrics_.Detach();
  if (self->metrics_ref_ != nullptr) {
    napi_delete_reference(env, self->metrics_ref_);
    self->metrics_ref_ = nullptr;
  }
  if (self->wrapper_ != nullptr) {
    napi_delete_reference(env, self->wrapper_);
    self->wrapper_ = nullptr;
  }
  // The ring's memory may live on (the supervisor holds the buffer); this
  // Server writes it no more.
  self->inflight_.Attach(nullptr);
  if (self->inflight_ref_ != nullptr) {
    napi_delete_reference(env, self->inflight_ref_);
    self->inflight_ref_ = nullptr;
  }
  // Normally only the unreferenced auxiliaries are still open here (the
  // object stays reachable while a listener or a connection is open).
  self->CloseListeners();
  for (auto& conn : self->slots_) conn->CloseNow();
  self->CloseAux();
  if (self->open_handles_ == 0) delete self;
  // Otherwise the last close callback deletes it (HandleClosed).
}

void Server::CleanupHook(napi_async_cleanup_hook_handle /*handle*/,
                         void* arg) {
  static_cast<Server*>(arg)->Teardown();
}

// The environment (a worker thread, or the main thread at exit) is going
// away: no more JS, close every handle, and release the hook once the last
// close callback ran so Node can close the loop.
void Server::Teardown() {
  tearing_down_ = true;
  sink_.Disable();
  metrics_.Detach();
  // The ring keeps what was in flight when the environment ended (a
  // worker that died): the supervisor logs it.
  inflight_.Attach(nullptr);
  CloseListeners();
  for (auto& conn : slots_) conn->CloseNow();
  CloseAux();
  if (open_handles_ == 0 && cleanup_hook_ != nullptr) {
    napi_remove_async_cleanup_hook(cleanup_hook_);
    cleanup_hook_ = nullptr;
  }
}

void Server::CloseAux() {
  if (!aux_open_) return;
  aux_open_ = false;
  wheel_.Detach();
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), OnAuxClosedCb);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnAuxClosedCb);
}

void Server::OnAuxClosedCb(uv_handle_t* handle) {
  static_cast<Server*>(handle->data)->HandleClosed();
}

// Runs last in every close callback; may delete the Server.
void Server::HandleClosed() {
  if (--open_handles_ != 0) return;
  if (cleanup_hook_ != nullptr && (tearing_down_ || finalized_)) {
    napi_remove_async_cleanup_hook(cleanup_hook_);
    cleanup_hook_ = nullptr;
  }
  if (finalized_) delete this;
}

// ---- Listening -----------------------------------------------------------

int Server::Listen(const char* host, int port, int backlog,
                   uint32_t* index) {
  if (closing_ || tearing_down_) return UV_EINVAL;
  sockaddr_storage ss;
  std::memset(&ss, 0, sizeof(ss));
  int r;
  unsigned family;
  if (std::strchr(host, ':') != nullptr) {
    r = uv_ip6_addr(host, port, reinterpret_cast<sockaddr_in6*>(&ss));
    family = AF_INET6;
  } else {
    r = uv_ip4_addr(host, port, reinterpret_cast<sockaddr_in*>(&ss));
    family = AF_INET;
  }
  if (r != 0) return r;
  Listener* l = new Listener();
  l->server = this;
  l->pipe = false;
  r = uv_tcp_init_ex(loop_, &l->h.tcp, family);
  if (r != 0) {
    delete l;
    return r;
  }
  l->h.handle.data = l;
  open_handles_++;
#ifdef SO_REUSEPORT
  if (config_->reuse_port) {
    // One listener per worker thread on the same port; the kernel spreads
    // connections (libuv has no flag for this, so set it before bind).
    uv_os_fd_t fd;
    int one = 1;
    if (uv_fileno(&l->h.handle, &fd) == 0 &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      r = -errno;
    }
  }
#endif
  if (r == 0) r = uv_tcp_bind(&l->h.tcp, reinterpret_cast<sockaddr*>(&ss), 0);
  if (r == 0) r = StartListener(l, backlog);
  if (r != 0) {
    uv_close(&l->h.handle, OnListenerClosedCb);
    return r;
  }
  *index = l->index;
  int len = sizeof(ss);
  int bound = port;
  if (uv_tcp_getsockname(&l->h.tcp, reinterpret_cast<sockaddr*>(&ss), &len) ==
      0) {
    bound = ss.ss_family == AF_INET6
                ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  return bound;
}

int Server::Adopt(int fd, int backlog) {
  if (closing_ || tearing_down_) return UV_EINVAL;
  int domain = 0, accepting = 0;
  socklen_t len = sizeof(domain);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) {
    return -errno;
  }
  len = sizeof(accepting);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0) {
    return -errno;
  }
  if (!accepting) return UV_EINVAL;
  // The duplicate is libuv's from uv_*_open on (closed by uv_close); the
  // original stays with the caller, so the socket and its accept queue
  // outlive this listener (ARCHITECTURE.md, "Listeners and workers").
  int dup = DupCloexec(fd);
  if (dup < 0) return -errno;
  Listener* l = new Listener();
  l->server = this;
  l->pipe = domain == AF_UNIX;
  int r = l->pipe ? uv_pipe_init(loop_, &l->h.pipe, 0)
                  : uv_tcp_init(loop_, &l->h.tcp);
  if (r != 0) {
    close(dup);
    delete l;
    return r;
  }
  l->h.handle.data = l;
  open_handles_++;
  r = l->pipe ? uv_pipe_open(&l->h.pipe, dup) : uv_tcp_open(&l->h.tcp, dup);
  if (r != 0) close(dup);  // not libuv's yet
  if (r == 0) r = StartListener(l, backlog);
  if (r != 0) {
    uv_close(&l->h.handle, OnListenerClosedCb);
    return r;
  }
  return static_cast<int>(l->index);
}

// uv_listen, then the listener is in listeners_ and holds the JS object.
int Server::StartListener(Listener* l, int backlog) {
  int r = uv_listen(&l->h.stream, backlog, OnConnectionCb);
  if (r != 0) return r;
  l->index = static_cast<uint32_t>(listeners_.size());
  listeners_.push_back(l);
  l->started = true;
  open_listeners_++;
  HoldWrapper();
  return 0;
}

bool Server::Release(uint32_t index) {
  if (index >= listeners_.size() || listeners_[index] == nullptr) return false;
  Listener* l = listeners_[index];
  listeners_[index] = nullptr;
  uv_close(&l->h.handle, OnListenerClosedCb);
  return true;
}

void Server::CloseListeners() {
  for (auto& l : listeners_) {
    if (l == nullptr) continue;
    uv_close(&l->h.handle, OnListenerClosedCb);
    l = nullptr;
  }
}

void Server::OnListenerClosedCb(uv_handle_t* handle) {
  Listener* l = static_cast<Listener*>(handle->data);
  Server* self = l->server;
  // Counted from StartListener to here: the descriptor is closed (by
  // uv_close), the handle free.
  if (l->started) self->open_listeners_--;
  delete l;
  if (!self->finalized_ && !self->tearing_down_) {
    CallbackScope scope(self);
    self->MaybeClosed();
  }
  self->HandleClosed();
}

void Server::OnConnectionCb(uv_stream_t* stream, int status) {
  Listener* l = static_cast<Listener*>(stream->data);
  PollScope scope(l->server);
  l->server->OnConnection(l, status);
}

// Out of descriptors (EMFILE/ENFILE), libuv sheds load itself: it closes
// the loop's reserve descriptor, accepts and closes every pending
// connection, reopens the reserve, and calls us with nothing (the listener
// waits for the next connection, no CPU is spent; test/hardening/
// overload.test.ts measures it). Only when that reserve is gone (another
// thread took the descriptor) does an error status reach us, and libuv
// then retries accept() in the same callback until one succeeds or the
// listener closes: a busy loop this server does not break (README,
// Reliability). Either way there is nothing to accept here.
void Server::OnConnection(Listener* listener, int status) {
  if (status < 0 || closing_ || tearing_down_) return;
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else if (slots_.size() < kMaxSlots) {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back(new Connection(this, slot));
  } else {
    // 2^20 connections open: leave this one in the accept queue (libuv
    // stops watching the listener until a slot frees up and accepts).
    return;
  }
  Connection* conn = slots_[slot].get();
  open_handles_++;
  connection_count_++;
  metrics_.Add(kMxConnectionsAccepted, 1);
  metrics_.Set(kMxConnectionsOpen, connection_count_);
  int r = conn->Accept(listener, conn->generation());
  if (r != 0 && conn->state() == Connection::State::kFree) {
    // No handle was created: nothing will call ConnectionClosed.
    open_handles_--;
    connection_count_--;
    metrics_.Set(kMxConnectionsOpen, connection_count_);
    free_slots_.push_back(slot);
  }
}

void Server::ConnectionClosed(Connection* conn) {
  if (!finalized_ && !tearing_down_) {
    CallbackScope scope(this);
    if (conn->announced()) sink_.Small(kEvClose, conn->id());
    conn->OnClosed();
    free_slots_.push_back(conn->slot());
    connection_count_--;
    metrics_.Set(kMxConnectionsOpen, connection_count_);
    MaybeClosed();
  } else {
    conn->OnClosed();
    free_slots_.push_back(conn->slot());
    connection_count_--;
  }
  HandleClosed();
}

Connection* Server::Lookup(int32_t id) {
  if (id < 0) return nullptr;
  uint32_t slot = static_cast<uint32_t>(id) & (kMaxSlots - 1);
  uint32_t generation = (static_cast<uint32_t>(id) >> kSlotBits) &
                        kGenerationMask;
  if (slot >= slots_.size()) return nullptr;
  Connection* conn = slots_[slot].get();
  if (conn->state() == Connection::State::kFree ||
      conn->generation() != generation) {
    return nullptr;
  }
  return conn;
}

// ---- Closing -------------------------------------------------------------

void Server::Close() {
  if (closing_ || tearing_down_) return;
  closing_ = true;
  CloseListeners();
  for (auto& conn : slots_) conn->CloseGracefully();
  MaybeClosed();
}

void Server::Drain() {
  if (closing_ || tearing_down_) return;
  closing_ = true;
  CloseListeners();
  MaybeClosed();
}

void Server::CloseAll() {
  if (tearing_down_) return;
  Close();
  for (auto& conn : slots_) conn->CloseNow();
}

void Server::MaybeClosed() {
  if (open_listeners_ == 0 && connection_count_ == 0) {
    if (closing_ && !closed_emitted_) {
      closed_emitted_ = true;
      sink_.Closed();
    }
    ReleaseWrapper();
  }
}

// ---- Batching ------------------------------------------------------------
//
// Records and output made in libuv callbacks wait for the end of the
// outermost one (CallbackScope); those of reads and accepts wait for the
// check phase of the loop turn (PollScope), which runs right after every
// ready socket was read: one onEvents call and one write per connection for
// all of them.

void Server::AllocCb(uv_handle_t* handle, size_t /*suggested*/,
                     uv_buf_t* buf) {
  Connection* conn = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(conn->server()->read_buffer_.get(), kReadBufferSize);
}

void Server::ReadCb(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Connection* conn = static_cast<Connection*>(stream->data);
  PollScope scope(conn->server());
  if (nread > 0) {
    conn->server()->metrics_.Add(kMxBytesIn, static_cast<double>(nread));
  }
  conn->OnRead(nread, buf);
}

void Server::EndPollCallback() {
  if (!aux_open_ || (!sink_.HasEvents() && dirty_.empty())) {
    EndCallback();
    return;
  }
  // The check phase follows this poll phase in the same loop turn.
  uv_check_start(&check_, OnCheckCb);
}

// The end of the outermost libuv callback: hand the batch to JS once, then
// write what JS corked (one write per dirty connection). Writing may make
// events (Drain, FileDone) and JS may make output: repeat until quiet.
void Server::EndCallback() {
  depth_++;
  for (;;) {
    sink_.Flush();
    // What JS queued while it read the batch (and in its microtasks).
    DrainResponses();
    if (dirty_.empty() && !sink_.HasEvents()) break;
    FlushDirty();
  }
  depth_--;
}

void Server::FlushDirty() {
  for (size_t i = 0; i < dirty_.size(); i++) {
    slots_[dirty_[i]]->FlushOutput();
  }
  dirty_.clear();
}

// Inside one of our callbacks (JS flushing from a microtask or tick that
// runs before the callback ends) EndCallback writes everything once JS is
// done: flushing now would write each chunk of the turn on its own. The
// response queue was applied already (the bridge unpacks it before every
// call), so that a full queue is emptied either way.
void Server::FlushAll() {
  if (depth_ != 0) return;
  FlushDirty();
}

void Server::AfterApiCall() {
  if (depth_ != 0 || sink_.in_js() || !aux_open_) return;
  if (sink_.HasEvents() || !dirty_.empty()) {
    uv_check_start(&check_, OnCheckCb);
  }
}

void Server::OnCheckCb(uv_check_t* check) {
  Server* self = static_cast<Server*>(check->data);
  uv_check_stop(check);
  CallbackScope scope(self);
}

// ---- Timeouts and the Date cache -----------------------------------------

// The wheel's tick. What a passed deadline means is up to the connection
// (Connection::OnDeadline); its events and output leave at the end of this
// callback, like a read's.
void Server::OnTimerCb(uv_timer_t* timer) {
  Server* self = static_cast<Server*>(timer->data);
  CallbackScope scope(self);
  self->wheel_.Advance(uv_now(self->loop_), Connection::OnDeadlineCb);
}

const char* Server::DateLine(size_t* length) {
  time_t now = time(nullptr);
  if (now != date_second_) {
    date_second_ = now;
    FormatDate(now, date_line_, &date_len_);
  }
  *length = date_len_;
  return date_line_;
}

}  // namespace tsgi
