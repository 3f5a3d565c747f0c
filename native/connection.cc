// connection.cc: Connection, one socket from accept to close: parsing reads
// into events, keep-alive and pipelining (RFC 9112 section 9.3), output,
// closing cleanly (section 9.6), metrics and timeouts. Applying JS's
// response steps in request order is connection_respond.cc's.
#include "connection.h"

#include <cstring>

#include "bridge.h"
#include "connection_inl.h"
#include "server.h"

namespace tsgi {

Connection::Connection(Server* server, uint32_t slot)
    : server_(server), slot_(slot) {
  std::memset(&handle_, 0, sizeof(handle_));
  deadline_.owner = this;
}

int Connection::Accept(Listener* listener, uint32_t generation) {
  generation_ = generation;
  int r = listener->pipe ? uv_pipe_init(server_->loop(), &handle_.pipe, 0)
                         : uv_tcp_init(server_->loop(), &handle_.tcp);
  if (r != 0) return r;  // no handle was made: the slot stays free
  handle_.handle.data = this;
  state_ = State::kOpen;
  pending_ = 0;
  pending_error_ = HttpError::kNone;
  continue_state_ = kContinueNone;
  announced_ = reading_ = paused_ = parse_done_ = false;
  proxy_pending_ = false;
  close_after_flush_ = errored_ = peer_ended_ = want_drain_ = dirty_ = false;
  last_message_ = false;
  body_incomplete_ = false;
  idle_since_ = uv_now(server_->loop());
  messages_done_ = 0;
  kept_alive_ = false;

  r = uv_accept(&listener->h.stream, stream());
  if (r != 0) {
    CloseNow();
    return r;
  }
  if (!listener->pipe) uv_tcp_nodelay(&handle_.tcp, 1);
  // No Exchange yet: the first bytes read take one (OnRead).

  // Addresses for the Open record (CGI REMOTE_ADDR, REMOTE_PORT and
  // SERVER_PORT on the JS side); a unix socket has none: "" and -1.
  char addr[64] = "";
  int remote_port = -1;
  int local_port = -1;
  sockaddr_storage ss;
  int len = sizeof(ss);
  if (!listener->pipe &&
      uv_tcp_getpeername(&handle_.tcp, reinterpret_cast<sockaddr*>(&ss),
                         &len) == 0) {
    if (ss.ss_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
      uv_ip6_name(in6, addr, sizeof(addr));
      remote_port = ntohs(in6->sin6_port);
    } else if (ss.ss_family == AF_INET) {
      auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
      uv_ip4_name(in4, addr, sizeof(addr));
      remote_port = ntohs(in4->sin_port);
    }
  }
  len = sizeof(ss);
  if (!listener->pipe &&
      uv_tcp_getsockname(&handle_.tcp, reinterpret_cast<sockaddr*>(&ss),
                         &len) == 0) {
    if (ss.ss_family == AF_INET6) {
      local_port = ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    } else if (ss.ss_family == AF_INET) {
      local_port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }
  }
  size_t addr_len = std::strlen(addr);
  EventSink& sink = server_->sink();
  sink.EnsureRoom(EventWords(kEvOpen), addr_len);
  sink.Open(id(), addr, addr_len, remote_port, local_port,
            static_cast<int32_t>(listener->index));
  announced_ = true;
  if (state_ == State::kOpen) {
    StartReading();
    ArmTimer();
  }
  return 0;
}

void Connection::StartReading() {
  if (reading_) return;
  if (uv_read_start(stream(), Server::AllocCb, Server::ReadCb) == 0) {
    reading_ = true;
  }
}

void Connection::StopReading() {
  if (!reading_) return;
  uv_read_stop(stream());
  reading_ = false;
}

void Connection::StopParsing() {
  parse_done_ = true;
  if (state_ == State::kOpen) StopReading();
}

void Connection::MarkDirty() {
  if (dirty_) return;
  dirty_ = true;
  server_->AddDirty(slot_);
}

// ---- The Exchange ----------------------------------------------------------

void Connection::PrepareExchange(Exchange* ex) {
  ex->parser.Reset(this, &server_->limits(), &server_->buffer_pool());
  ex->writer.Rebind(this, stream());
  ex->writer.Reset(stream(), &server_->buffer_pool(), &server_->metrics());
  ex->ready = true;
}

void Connection::MaybeGiveBack() {
  Exchange* ex = ex_;
  if (ex == nullptr || state_ != State::kOpen) return;
  // parse_done_ also covers close_after_flush_, errored_ and a pending
  // refusal (each comes with StopParsing).
  if (pending_ != 0 || parse_done_ || proxy_pending_ || dirty_ ||
      want_drain_ || body_incomplete_ || continue_state_ != kContinueNone) {
    return;
  }
  if (!ex->writer.Idle() || ex->writer.response_active() ||
      ex->send_since != 0 || !ex->parser.AtRest()) {
    return;
  }
  // pending_ == 0: the chain is empty (End and Clear emptied it).
  ex_ = nullptr;
  server_->exchanges().Put(ex);
}

void Connection::ClearInflight() {
  if (ex_ != nullptr) server_->inflight().Clear(&ex_->inflight, id());
}

int Connection::Backpressure() {
  if (ex_->writer.Queued() > kHighWater) {
    want_drain_ = true;
    return kWrFull;
  }
  return kWrOk;
}

// ---- Reading -------------------------------------------------------------

// `buf` is the Server's read buffer: every byte is parsed (or discarded)
// before this returns, and the parser copies what it keeps, so the buffer
// is free again for the next read of any connection.
void Connection::OnRead(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;  // EAGAIN
  if (state_ == State::kLingering) {
    if (nread < 0) CloseNow();  // EOF (or error): the client is done
    return;                     // data after our last response: discarded
  }
  if (state_ != State::kOpen) return;
  if (nread < 0) {
    if (nread == UV_EOF) {
      OnPeerEnd();
    } else {
      CloseNow();
    }
    return;
  }
  if (parse_done_ || errored_) return;
  if (ex_ == nullptr && !TakeExchange()) {
    CloseNow();
    return;
  }
  Exchange* ex = ex_;
  const char* data = buf->base;
  size_t length = static_cast<size_t>(nread);
  if (proxy_pending_) {
    // haproxy's spec: the header comes whole before anything else, and a
    // connection whose header is invalid is closed without a response.
    size_t consumed = 0;
    const ProxyHeaderParser::Result pr =
        ex->proxy.Feed(data, length, &consumed);
    if (pr == ProxyHeaderParser::Result::kInvalid) {
      CloseNow();
      return;
    }
    if (pr == ProxyHeaderParser::Result::kNeedMore) {
      ArmTimer();
      return;
    }
    proxy_pending_ = false;
    OnProxyHeader();
    if (state_ != State::kOpen || parse_done_ || errored_) return;
    data += consumed;
    length -= consumed;
    if (length == 0) {
      ArmTimer();
      MaybeGiveBack();  // nothing of HTTP yet: nothing to keep
      return;
    }
  }
  // The Exchange stays attached at least until the end of this read: it is
  // given back only from FlushOutput or a write callback.
  const bool was_in_message = ex->parser.in_message();
  const bool was_idle = pending_ == 0 && !ex->writer.response_active();
  const uint32_t done_before = messages_done_;
  Parser::Result r = ex->parser.Execute(data, length);
  if (state_ != State::kOpen) return;
  if (r == Parser::Result::kStopped) {
    StopParsing();
  } else if (r == Parser::Result::kError) {
    OnParseError(ex->parser.error());
  }
  if (state_ != State::kOpen) return;
  if (ex->parser.in_message() &&
      (!was_in_message || messages_done_ != done_before)) {
    // The unfinished message began in this read. Its headers timeout
    // counts from the end of the previous response when the connection
    // was waiting for it, else from now (pipelined behind busy requests).
    const uint64_t now = uv_now(server_->loop());
    ex->message_start = now;
    ex->head_clock =
        was_idle && messages_done_ == done_before ? idle_since_ : now;
  }
  ArmTimer();
}

int Connection::OnHead(const ParsedHead& head) {
  if (state_ != State::kOpen || errored_ || parse_done_) return 1;
  EventSink& sink = server_->sink();
  sink.EnsureRoom(EventWords(kEvHead) +
                      kHeadWordsPerHeader * size_t{head.header_count},
                  head.size);
  // EnsureRoom may have run JS, which may have closed this connection.
  if (state_ != State::kOpen || errored_ || parse_done_) return 1;
  sink.Head(id(), head);
  server_->inflight().Add(&ex_->inflight, id(), head.method,
                          head.bytes + head.url_off, head.url_len);
  // The oldest unanswered request is taken up now (metrics: its duration).
  if (++pending_ == 1 && server_->metrics().on()) ex_->started_us = NowUs();
  body_incomplete_ = true;
  continue_state_ =
      (head.flags & kRfExpectContinue) != 0 ? kContinueWanted : kContinueNone;
  return 0;
}

int Connection::OnBody(const char* at, size_t length) {
  EventSink& sink = server_->sink();
  while (length > 0) {
    if (state_ != State::kOpen || errored_ || parse_done_) return 1;
    size_t room = sink.BodyRoom();
    if (room == 0) {
      sink.EnsureRoom(EventWords(kEvBody), length < 4096 ? length : 4096);
      continue;
    }
    size_t n = length < room ? length : room;
    if (sink.AreaWantsFlush(n)) {
      // JS renews the body area at the end of each batch: the chunk then
      // goes there instead of being copied twice.
      sink.Flush();
      continue;
    }
    sink.Body(id(), at, n);
    at += n;
    length -= n;
  }
  return 0;
}

int Connection::OnMessageComplete(bool keep_alive) {
  messages_done_++;
  if (state_ != State::kOpen || errored_ || parse_done_) return 1;
  body_incomplete_ = false;
  EventSink& sink = server_->sink();
  sink.EnsureRoom(EventWords(kEvBodyEnd), 0);
  if (state_ != State::kOpen || errored_ || parse_done_) return 1;
  sink.Small(kEvBodyEnd, id());
  continue_state_ = kContinueNone;
  // RFC 9112 section 9.6: nothing after a request that closes the
  // connection is read. A closing server stops at message boundaries too.
  if (!keep_alive) last_message_ = true;
  if (!keep_alive || server_->closing()) return 1;
  return 0;
}

void Connection::OnParseError(HttpError error) {
  server_->CountParseError(error);
  StopParsing();
  if (close_after_flush_ || errored_) return;
  if (body_incomplete_) {
    // Tell JS why the body it is reading fails, before it sees the id go
    // dead (Gone, Close), which by itself means the client went away.
    int32_t reason = kBfMalformed;
    if (error == HttpError::kContentTooLarge) reason = kBfTooLarge;
    if (error == HttpError::kExtensionTooLarge) reason = kBfExtensionTooLarge;
    if (error == HttpError::kRequestTimeout) reason = kBfTimeout;
    if (error == HttpError::kHeaderFieldsTooLarge) reason = kBfTrailersTooLarge;
    server_->sink().Small(kEvBodyError, id(), reason);
    // JS holds this request's head and waits for a body that can no
    // longer be read. If its response has not started, the ready-made
    // response takes its place and the id goes dead for JS (Gone);
    // otherwise the connection is cut.
    if (pending_ == 1 && !ex_->writer.response_active()) {
      errored_ = true;
      pending_error_ = error;
      pending_ = 0;
      ClearInflight();
      SendPendingError();
    } else if (pending_ > 1) {
      // Strict parsing: earlier pipelined requests are still being
      // answered and keep their responses. The bad request leaves the
      // count; when its turn comes, the ready-made response is sent
      // instead and its id is dead for JS (Gone), as above.
      pending_--;
      server_->inflight().DropNewest(&ex_->inflight, id());
      body_incomplete_ = false;
      pending_error_ = error;
    } else {
      CloseNow();
    }
    return;
  }
  // The bad request was never shown to JS: answer it after every earlier
  // request has been answered (responses stay in request order).
  pending_error_ = error;
  if (pending_ == 0 && !ex_->writer.response_active()) SendPendingError();
}

void Connection::SendPendingError() {
  size_t date_len = 0;
  const char* date = server_->DateLine(&date_len);
  const ReadyResponse& ready = server_->Ready(pending_error_);
  pending_error_ = HttpError::kNone;
  if (!ex_->writer.AppendReady(ready, date, date_len)) {
    CloseNow();
    return;
  }
  CloseAfterFlush();
}

void Connection::OnPeerEnd() {
  peer_ended_ = true;
  StopParsing();
  if (body_incomplete_) {
    // The request JS is reading can never complete.
    CloseNow();
    return;
  }
  if (pending_ == 0 && !ResponseActive()) {
    if (pending_error_ != HttpError::kNone) {
      SendPendingError();
    } else if (OutputIdle()) {
      CloseNow();
    } else {
      CloseAfterFlush();
    }
  }
  // Otherwise End() closes after the last pending response.
}

// ---- Output --------------------------------------------------------------

void Connection::FlushOutput() {
  dirty_ = false;
  if (state_ != State::kOpen || ex_ == nullptr) return;
  int r = ex_->writer.Flush();
  if (r < 0) {
    CloseNow();
    return;
  }
  AfterOutput();
  MaybeGiveBack();
}

void Connection::AfterOutput() {
  if (state_ != State::kOpen) return;
  Writer& writer = ex_->writer;
  if (want_drain_ && writer.Queued() <= kLowWater) {
    want_drain_ = false;
    server_->sink().Small(kEvDrain, id());
  }
  if (close_after_flush_ && writer.Idle() && !writer.response_active()) {
    BeginLinger();
    return;
  }
  NoteOutput();
}

void Connection::OnWriterProgress() { AfterOutput(); }

// A libuv write callback: Drain and FileDone records made on the way must
// reach JS now, not whenever another callback of this Server happens to run.
void Connection::OnWriteCallback(Writer* writer, int status) {
  Server::CallbackScope scope(server_);
  // The kernel took bytes: the client is reading (send timeout restarts).
  // A write in flight holds the Exchange (Writer::Idle() is false).
  if (status == 0 && ex_->send_since != 0) {
    ex_->send_since = uv_now(server_->loop());
  }
  writer->AfterWrite(status);
  // AfterWrite has returned: nothing of the Writer is on the stack.
  MaybeGiveBack();
}

void Connection::OnWriterError(int status) {
  if (status == UV_ECANCELED) return;  // the handle is closing
  CloseNow();
}

void Connection::OnFileDone(int status) {
  server_->sink().Small(kEvFileDone, id(), status);
  if (status < 0) {
    CloseNow();
    return;
  }
  // Then whatever JS corked after sendFile().
  int r = ex_->writer.Flush();
  if (r < 0) {
    CloseNow();
    return;
  }
  AfterOutput();
}

// ---- Closing -------------------------------------------------------------

void Connection::CloseAfterFlush() {
  close_after_flush_ = true;
  pending_ = 0;  // later pipelined requests are dropped (JS gets Gone)
  ClearInflight();
  StopParsing();
  MarkDirty();
}

void Connection::CloseGracefully() {
  if (state_ != State::kOpen) return;  // lingering/closing: ends by itself
  if (pending_ == 0 && !ResponseActive()) {
    if (OutputIdle()) {
      CloseNow();
    } else {
      CloseAfterFlush();
    }
    return;
  }
  // Busy: the response in progress (or the next one) carries
  // Connection: close (Respond checks server_->closing()), and End()
  // closes after it. Stop reading unless a body is still coming in.
  if (!InMessage()) StopParsing();
}

// RFC 9112 section 9.6: close the write side first and keep reading (and
// discarding) until the client closes too, so that a reset caused by
// unread input cannot destroy the response in the client's buffers. A
// deadline kLingerMs away bounds how long this may take.
void Connection::BeginLinger() {
  if (state_ != State::kOpen) return;
  // The shutdown request is the Exchange's (always attached here: output
  // was just written).
  if (!TakeExchange()) {
    CloseNow();
    return;
  }
  state_ = State::kLingering;
  pending_ = 0;
  ClearInflight();
  parse_done_ = true;
  ex_->shutdown_req.data = this;
  if (uv_shutdown(&ex_->shutdown_req, stream(), OnShutdownCb) != 0) {
    state_ = State::kOpen;
    CloseNow();
    return;
  }
  ex_->linger_since = uv_now(server_->loop());
  ArmTimer();
  reading_ = false;
  if (uv_read_start(stream(), Server::AllocCb, Server::ReadCb) == 0) {
    reading_ = true;
  }
}

void Connection::OnShutdownCb(uv_shutdown_t* req, int status) {
  Connection* self = static_cast<Connection*>(req->data);
  if (status < 0 && self->state_ == State::kLingering) {
    Server::CallbackScope scope(self->server_);
    self->CloseNow();
  }
}

void Connection::CloseNow() {
  if (state_ == State::kFree || state_ == State::kClosing) return;
  server_->wheel().Remove(&deadline_);
  if (ex_ != nullptr) {
    // A response cut short still counts, with the status it began with.
    if (ex_->writer.response_active()) CountResponse();
    if (ex_->writer.file_active() && announced_) {
      // JS keeps its fd open until FileDone: tell it the job is over.
      server_->sink().Small(kEvFileDone, id(), UV_ECANCELED);
    }
    ex_->writer.Discard();
    ClearInflight();
  }
  state_ = State::kClosing;
  reading_ = false;
  // libuv owns handle_ (and any pending write/shutdown request in ex_,
  // whose callbacks run with UV_ECANCELED first) until OnCloseCb; ex_
  // stays attached until then (OnClosed).
  uv_close(&handle_.handle, OnCloseCb);
}

void Connection::OnCloseCb(uv_handle_t* handle) {
  Connection* self = static_cast<Connection*>(handle->data);
  self->server_->ConnectionClosed(self);
}

void Connection::OnClosed() {
  if (ex_ != nullptr) {
    // libuv is done with the handle and every request of it: the Exchange
    // goes back at rest (ExchangePool's invariant), its blocks to the
    // BufferPool.
    Exchange* ex = ex_;
    ex_ = nullptr;
    ex->parser.Reset(this, &server_->limits(), &server_->buffer_pool());
    ex->writer.Reset(stream(), &server_->buffer_pool(), &server_->metrics());
    server_->exchanges().Put(ex);
  }
  state_ = State::kFree;
  announced_ = false;
  dirty_ = false;
  pending_ = 0;
  generation_ = (generation_ + 1) & kGenerationMask;
}

// ---- Metrics ---------------------------------------------------------------

uint64_t Connection::NowUs() { return uv_hrtime() / 1000; }

void Connection::CountResponse() {
  Metrics& metrics = server_->metrics();
  if (!metrics.on()) return;
  const uint64_t now = NowUs();
  metrics.Response(MetricMethod(ex_->response_method), ex_->response_status,
                   now > ex_->started_us ? now - ex_->started_us : 0);
}

// ---- Timeouts --------------------------------------------------------------

uint64_t Connection::ReceiveDeadline() const {
  if (parse_done_ || paused_ || errored_) return kNoDeadline;
  const Timeouts& t = server_->timeouts();
  if (InMessage()) {
    uint64_t d = kNoDeadline;
    if (t.request_ms != 0) d = ex_->message_start + t.request_ms;
    if (!ex_->parser.in_body() && t.headers_ms != 0 &&
        ex_->head_clock + t.headers_ms < d) {
      d = ex_->head_clock + t.headers_ms;
    }
    return d;
  }
  // A request is with the application, or its response is on the way.
  if (pending_ != 0 || ResponseActive() || !OutputIdle()) {
    return kNoDeadline;
  }
  const uint64_t ms = kept_alive_ ? t.keep_alive_ms : t.headers_ms;
  return ms == 0 ? kNoDeadline : idle_since_ + ms;
}

uint64_t Connection::SendDeadline() const {
  const uint64_t ms = server_->timeouts().send_ms;
  if (ex_ == nullptr || ex_->send_since == 0 || ms == 0) return kNoDeadline;
  return ex_->send_since + ms;
}

void Connection::ArmTimer() {
  uint64_t d = kNoDeadline;
  if (state_ == State::kOpen) {
    d = ReceiveDeadline();
    const uint64_t send = SendDeadline();
    if (send < d) d = send;
  } else if (state_ == State::kLingering) {
    d = ex_->linger_since + kLingerMs;  // lingering holds the Exchange
  }
  server_->wheel().Set(&deadline_, d);
}

void Connection::NoteOutput() {
  Exchange* ex = ex_;
  if (ex->writer.Idle()) {
    if (ex->send_since != 0) {
      // The last queued byte left: idle time starts now, not when JS ended
      // the response (a slow reader must not eat its keep-alive time).
      ex->send_since = 0;
      idle_since_ = uv_now(server_->loop());
    }
  } else if (ex->send_since == 0) {
    ex->send_since = uv_now(server_->loop());
  }
  ArmTimer();
}

void Connection::OnDeadlineCb(DeadlineNode* node, uint64_t now) {
  static_cast<Connection*>(node->owner)->OnDeadline(now);
}

// A deadline passed (or an earlier one that has since moved: then this
// only files the current one).
void Connection::OnDeadline(uint64_t now) {
  if (state_ == State::kLingering) {
    if (now >= ex_->linger_since + kLingerMs) {
      CloseNow();
    } else {
      ArmTimer();
    }
    return;
  }
  if (state_ != State::kOpen) return;
  if (SendDeadline() <= now) {
    // The client stopped reading: nothing more can reach it. Cut; JS gets
    // Close, which ends the response (the body's close() is called).
    CloseNow();
    return;
  }
  if (ReceiveDeadline() <= now) {
    if (!InMessage()) {
      // Idle: nothing was received, so nothing is owed (RFC 9112 9.5).
      CloseNow();
      return;
    }
    // RFC 9110 section 15.5.9: 408, in request order, where a response
    // can still be sent; a request whose response has begun is cut.
    OnParseError(HttpError::kRequestTimeout);
  }
  ArmTimer();
}

}  // namespace tsgi
