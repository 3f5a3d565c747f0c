// connection_respond.cc: the steps JS asks of a Connection, applied in
// request order: starting a response (RFC 9112 section 9.3), writing its
// body, settling a call's loans (EndLoans), ending it, sending a file,
// 100 Continue (RFC 9110 section 10.1.1); and expecting a PROXY header,
// pausing and resuming reads. The rest of a socket's life is
// connection.cc's.
#include "connection.h"

#include "bridge.h"
#include "connection_inl.h"
#include "http_rules.h"
#include "server.h"

namespace tsgi {

namespace {

constexpr char k100Continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace

// ---- Response steps from JS ----------------------------------------------

// What every response start checks and decides: kWrOk and `start` filled
// in, or the write result to return.
int Connection::BeginRespond(int32_t req_flags, int status,
                             int64_t content_length, Text* body, bool last,
                             int32_t rflags, ResponseStart* start) {
  if (!Usable()) return kWrGone;
  if (pending_ == 0) return close_after_flush_ ? kWrGone : kWrMisuse;
  // A pending request holds the Exchange (taken for its bytes, kept while
  // pending_ != 0).
  if (ex_->writer.response_active()) return kWrMisuse;
  // The request being answered is the newest and its body is still
  // arriving. The application may still read it to its end (an echo
  // streams its upload back): the connection is kept then, and End()
  // closes it only if the body is still incomplete when the response
  // ends. A response that is complete here says Connection: close now.
  const bool request_incomplete = pending_ == 1 && body_incomplete_ && last;
  start->status = status;
  start->http10 = (req_flags & kRfHttp10) != 0;
  start->head_request = (req_flags & kRfHead) != 0;
  start->close = (req_flags & kRfKeepAlive) == 0 || (rflags & kWfClose) != 0 ||
                 server_->closing() || request_incomplete ||
                 ((peer_ended_ || last_message_) && pending_ == 1);
  if (content_length < 0 && last) {
    content_length = DerivedLength(
        status, start->head_request,
        body != nullptr ? static_cast<int64_t>(body->ExactSize()) : 0);
  }
  start->content_length = content_length;
  if (pending_ == 1) continue_state_ = kContinueNone;
  ex_->response_status = status;
  ex_->response_method = (req_flags >> kRfMethodShift) & 0xff;
  return kWrOk;
}

int Connection::EndRespond(RespondResult result, bool last) {
  switch (result) {
    case RespondResult::kOk:
      break;
    case RespondResult::kInvalidStatus:
      return kWrInvalidStatus;  // nothing written: JS may answer again
    case RespondResult::kInvalidHeaders:
      return kWrInvalidHeaders;
    case RespondResult::kNoMemory:
      CloseNow();
      return kWrGone;
  }
  MarkDirty();
  if (last) return End();
  return Backpressure();
}

int Connection::Respond(int32_t req_flags, int status, Text& status_text,
                        Text* headers, int64_t content_length, Text* body,
                        bool last, int32_t rflags) {
  ResponseStart start;
  const int r = BeginRespond(req_flags, status, content_length, body, last,
                             rflags, &start);
  if (r != kWrOk) return r;
  size_t date_len = 0;
  const char* date = server_->DateLine(&date_len);
  return EndRespond(
      ex_->writer.Respond(status_text, headers, date, date_len, start, body),
      last);
}

int Connection::RespondPrepared(int32_t req_flags, const PreparedHead& head,
                                int64_t content_length, Text* body, bool last,
                                int32_t rflags) {
  ResponseStart start;
  const int r = BeginRespond(req_flags, head.status, content_length, body,
                             last, rflags, &start);
  if (r != kWrOk) return r;
  size_t date_len = 0;
  const char* date = server_->DateLine(&date_len);
  return EndRespond(
      ex_->writer.RespondPrepared(head, date, date_len, start, body), last);
}

int Connection::Write(Text& chunk) {
  if (!Usable()) return kWrGone;
  if (!ResponseActive()) {
    return pending_ == 0 && close_after_flush_ ? kWrGone : kWrMisuse;
  }
  Writer& writer = ex_->writer;
  if (writer.CorkFull(chunk.MaxSize()) && writer.Flush() < 0) {
    CloseNow();
    return kWrGone;
  }
  if (!writer.WriteBody(chunk)) {
    CloseNow();
    return kWrGone;
  }
  MarkDirty();
  return Backpressure();
}

int Connection::EndLoans(int r) {
  // Without an Exchange there is no Writer, so nothing was lent.
  if (ex_ == nullptr) return r;
  Writer& writer = ex_->writer;
  if (!writer.has_borrowed()) return r;
  if (state_ != State::kOpen) {
    writer.Discard();
    return kWrGone;
  }
  if (writer.Flush() < 0) {
    CloseNow();  // drops the loans
    return kWrGone;
  }
  // Flush gathers every loan (no write or file job was in flight when one
  // was made); Settle is for a state this does not foresee.
  if (!writer.Settle()) {
    CloseNow();
    return kWrGone;
  }
  AfterOutput();
  if (state_ != State::kOpen) return r;
  // The Full the call measured counted the lent bytes the writev has now
  // sent. Below the high-water mark again, the body need not wait (a
  // Drain that AfterOutput did not send yet finds nobody waiting).
  if (r == kWrFull && writer.Queued() <= kHighWater) return kWrOk;
  return r;
}

int Connection::End() {
  if (!Usable()) return kWrGone;
  if (!ResponseActive()) {
    return pending_ == 0 && close_after_flush_ ? kWrGone : kWrMisuse;
  }
  const bool request_incomplete = pending_ == 1 && body_incomplete_;
  const bool close = ex_->writer.EndResponse() || request_incomplete;
  CountResponse();
  if (pending_ > 0) {
    server_->inflight().Done(&ex_->inflight, id());
    if (--pending_ > 0 && server_->metrics().on()) {
      ex_->started_us = NowUs();  // the next pipelined request is taken up
    }
  }
  if (pending_ == 0) {
    // From now on, waiting for a request is keep-alive idle time.
    kept_alive_ = true;
    idle_since_ = uv_now(server_->loop());
  }
  if (close) {
    CloseAfterFlush();
  } else if (pending_ == 0) {
    if (pending_error_ != HttpError::kNone) {
      SendPendingError();
    } else if (peer_ended_ || last_message_ || server_->closing()) {
      CloseAfterFlush();
    }
  }
  MarkDirty();
  return Backpressure();
}

void Connection::Abort() {
  if (state_ == State::kOpen || state_ == State::kLingering) CloseNow();
}

int Connection::SendFile(int fd, int64_t offset, int64_t length) {
  if (!Usable()) return kWrGone;
  if (!ResponseActive()) {
    return pending_ == 0 && close_after_flush_ ? kWrGone : kWrMisuse;
  }
  if (ex_->writer.file_active()) return kWrMisuse;
  // Whatever is corked goes first (the Writer sends it as the prefix).
  ex_->writer.SendFile(fd, offset, static_cast<uint64_t>(length));
  if (state_ != State::kOpen) return kWrOk;  // FileDone(-errno) is queued
  NoteOutput();
  return Backpressure();
}

void Connection::SendContinue() {
  if (!Usable()) return;
  // RFC 9110 section 10.1.1: only before the final response, only for the
  // request that asked, and only while its body is still to come.
  if (continue_state_ != kContinueWanted || pending_ != 1 ||
      ResponseActive() || !body_incomplete_) {
    return;
  }
  continue_state_ = kContinueSent;
  if (!ex_->writer.AppendRaw(k100Continue, sizeof(k100Continue) - 1)) {
    CloseNow();
    return;
  }
  MarkDirty();
}

bool Connection::ExpectProxy(ProxyMode mode) {
  if (state_ != State::kOpen) return true;  // closing: nothing to read
  if (messages_done_ != 0 || InMessage() || parse_done_) {
    return false;
  }
  if (!TakeExchange()) {
    CloseNow();
    return true;
  }
  ex_->proxy.Reset(mode);
  proxy_pending_ = true;
  return true;
}

void Connection::OnProxyHeader() {
  EventSink& sink = server_->sink();
  sink.EnsureRoom(EventWords(kEvProxy), 2 * kProxyAddressText);
  // EnsureRoom may have run JS, which may have closed this connection.
  if (state_ != State::kOpen) return;
  sink.Proxy(id(), ex_->proxy.result());
}

void Connection::Pause() {
  paused_ = true;
  if (state_ == State::kOpen) {
    StopReading();
    ArmTimer();
  }
}

void Connection::Resume() {
  paused_ = false;
  if (state_ == State::kOpen && !parse_done_) StartReading();
  if (state_ == State::kOpen) ArmTimer();
}

}  // namespace tsgi
