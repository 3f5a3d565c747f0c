// parser.cc: Parser, the StrictScanner and llhttp in lockstep over each
// read, and the llhttp callbacks that collect request heads into fixed
// header slots (RFC 9112 sections 2-7).
#include "parser.h"

#include <cstring>

namespace tsgi {

// The settings are built once (thread-safe static initialisation) and never
// written afterwards; llhttp only reads them, so one table serves every
// parser on every thread.
const llhttp_settings_t* Parser::Settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = OnMessageBeginCb;
    s.on_url = OnUrlCb;
    s.on_header_field = OnHeaderFieldCb;
    s.on_header_field_complete = OnHeaderFieldCompleteCb;
    s.on_header_value = OnHeaderValueCb;
    s.on_headers_complete = OnHeadersCompleteCb;
    s.on_body = OnBodyCb;
    s.on_message_complete = OnMessageCompleteCb;
    return s;
  }();
  return &settings;
}

void Parser::DropHeld() {
  held_.Clear();
  held_.ReturnBlock();
}

void Parser::ReleaseHead() {
  head_.Clear();
  head_.ReturnBlock();
  spans_.Clear();
  spans_.ReturnBlock();
  header_count_ = 0;
}

void Parser::Reset(ParserDelegate* delegate, const Limits* limits,
                   BufferPool* pool) {
  delegate_ = delegate;
  limits_ = limits;
  // No lenient flags: llhttp's strict defaults, with the StrictScanner in
  // front for what this llhttp release still accepts (strict.h).
  llhttp_init(&llhttp_, HTTP_REQUEST,
              const_cast<llhttp_settings_t*>(Settings()));
  llhttp_.data = this;
  scanner_.Reset(limits);
  begun_ = 0;
  completed_ = 0;
  head_.set_pool(pool);
  spans_.set_pool(pool);
  held_.set_pool(pool);
  ReleaseHead();
  DropHeld();
  header_count_ = 0;
  url_len_ = 0;
  body_bytes_ = 0;
  in_field_ = false;
  in_message_ = false;
  in_head_ = false;
  in_body_ = false;
  stopped_ = false;
  method_refused_ = false;
  error_ = HttpError::kNone;
}

// Each read is cut into segments at the scanner's events, and llhttp gets
// exactly the bytes the scanner accepted and did not keep from it (see
// StrictScanner::Scan), one segment at a time:
//   - a head reaches llhttp only after the scanner accepted all of it, so a
//     head that breaks a rule never reaches the delegate;
//   - a message's last segment ends at its last byte, so llhttp's
//     on_message_complete falls at the end of a segment, and what follows
//     (after Connection: close, say) is not even scanned;
//   - bytes the scanner holds back while it cannot yet tell (a method cut
//     by the end of a read, whitespace in a value) wait in held_, which
//     llhttp gets or which is dropped, so that llhttp sees the same stream
//     however the reads are cut;
//   - after the scanner's kError, llhttp gets the bytes before the
//     offending one (never a complete head), then the error is reported.
// llhttp's refusal of a method waits for the scanner to judge the request
// line: a well-formed one with an unknown method is a 501, anything else
// the scanner's own error (RFC 9110 section 15.6.2).
// Invariants checked here and in the callbacks (400 if broken): llhttp
// begins, heads and completes the same messages as the scanner, with the
// same framing.
Parser::Result Parser::Execute(const char* data, size_t length) {
  if (stopped_) return Result::kStopped;
  if (error_ != HttpError::kNone) return Result::kError;
  while (length > 0) {
    size_t n = 0;
    const StrictScanner::Event event = scanner_.Scan(data, length, &n);
    if (event == StrictScanner::Event::kRelease) {
      const Result r = Feed(held_.data(), held_.size());
      DropHeld();
      if (r != Result::kOk) return r;
      continue;
    }
    const size_t pass = n - scanner_.tail();
    if (event == StrictScanner::Event::kError) {
      // llhttp gets the accepted bytes in front of the offending one, as
      // it would have had they arrived in an earlier read: an error of its
      // own there comes first.
      DropHeld();
      const Result r = Feed(data, pass);
      if (r != Result::kOk) return r;
      error_ = method_refused_ && !scanner_.in_request_line()
                   ? HttpError::kNotImplemented
                   : scanner_.error();
      return Result::kError;
    }
    const Result r = Feed(data, pass);
    if (r != Result::kOk) return r;
    if (event == StrictScanner::Event::kHold) {
      if (!held_.Append(data + pass, n - pass)) {
        Fail(HttpError::kHeaderFieldsTooLarge);
        return Result::kError;
      }
    } else if (event == StrictScanner::Event::kWithhold) {
      DropHeld();
    }
    if (method_refused_) {
      // llhttp is out: the scanner alone finishes the request line.
      if (!scanner_.in_request_line()) {
        error_ = HttpError::kNotImplemented;
        return Result::kError;
      }
    } else if ((event == StrictScanner::Event::kHeadEnd && in_head_) ||
               completed_ != scanner_.messages_completed()) {
      // llhttp must have finished exactly the messages the scanner did.
      Fail(HttpError::kBadRequest);
      return Result::kError;
    }
    data += n;
    length -= n;
  }
  return Result::kOk;
}

Parser::Result Parser::Feed(const char* data, size_t length) {
  if (length == 0 || method_refused_) return Result::kOk;
  llhttp_errno_t err = llhttp_execute(&llhttp_, data, length);
  if (err == HPE_OK) return Result::kOk;
  if (error_ != HttpError::kNone) return Result::kError;
  if (stopped_) return Result::kStopped;
  if (err == HPE_INVALID_METHOD) {
    // llhttp knows every registered method; this one is unknown to it,
    // which is a 501 once the request line proves well-formed (Execute).
    method_refused_ = true;
    return Result::kOk;
  }
  error_ = MapErrno(err);
  return Result::kError;
}

HttpError Parser::MapErrno(llhttp_errno_t err) const {
  switch (err) {
    case HPE_INVALID_METHOD:
      // llhttp knows every registered method; anything else is one this
      // server does not implement (RFC 9110 section 9.1).
      return HttpError::kNotImplemented;
    case HPE_PAUSED_UPGRADE:
      return HttpError::kNotImplemented;
    case HPE_INVALID_VERSION:
    case HPE_PAUSED_H2_UPGRADE:
      return HttpError::kVersionNotSupported;
    default:
      return HttpError::kBadRequest;
  }
}

int Parser::Fail(HttpError error) {
  if (error_ == HttpError::kNone) error_ = error;
  return HPE_USER;
}

bool Parser::AppendHead(const char* at, size_t length) {
  return head_.Append(at, length);
}

int Parser::OnMessageBeginCb(llhttp_t* p) {
  Parser* self = From(p);
  // llhttp sees only bytes the scanner accepted: a message llhttp begins
  // is one the scanner began.
  if (++self->begun_ != self->scanner_.messages_started()) {
    return self->Fail(HttpError::kBadRequest);
  }
  self->head_.Clear();
  self->spans_.Clear();
  self->header_count_ = 0;
  self->url_len_ = 0;
  self->body_bytes_ = 0;
  self->in_field_ = false;
  self->in_message_ = true;
  self->in_head_ = true;
  self->in_body_ = false;
  return 0;
}

// The scanner enforces the limits before llhttp sees a byte (414, 431);
// the checks below only guard this parser's own storage, so that a
// disagreement between the two can never overflow a slot.
int Parser::OnUrlCb(llhttp_t* p, const char* at, size_t length) {
  Parser* self = From(p);
  self->url_len_ += static_cast<uint32_t>(length);
  if (length > self->limits_->max_url_size ||
      self->url_len_ > self->limits_->max_url_size) {
    return self->Fail(HttpError::kUriTooLong);
  }
  if (!self->AppendHead(at, length)) {
    return self->Fail(HttpError::kHeaderFieldsTooLarge);
  }
  return 0;
}

int Parser::OnHeaderFieldCb(llhttp_t* p, const char* at, size_t length) {
  Parser* self = From(p);
  // Trailer fields never reach the application: the scanner checked them.
  if (!self->in_head_) return 0;
  if (!self->in_field_) {
    // First piece of a new field line (RFC 9112 section 5).
    if (self->header_count_ >= self->limits_->max_header_count) {
      return self->Fail(HttpError::kHeaderFieldsTooLarge);
    }
    self->in_field_ = true;
    // Blocks from malloc (or the pool, which holds malloc'd blocks) are
    // aligned for HeaderSpan.
    if (self->spans_.Reserve(sizeof(HeaderSpan)) == nullptr) {
      return self->Fail(HttpError::kHeaderFieldsTooLarge);
    }
    self->spans_.Commit(sizeof(HeaderSpan));
    HeaderSpan& span = self->spans()[self->header_count_++];
    span.name_off = static_cast<uint32_t>(self->head_.size());
    span.name_len = 0;
    span.value_off = span.name_off;
    span.value_len = 0;
  }
  if (length > self->limits_->max_header_size ||
      !self->AppendHead(at, length)) {
    return self->Fail(HttpError::kHeaderFieldsTooLarge);
  }
  self->spans()[self->header_count_ - 1].name_len +=
      static_cast<uint32_t>(length);
  return 0;
}

int Parser::OnHeaderFieldCompleteCb(llhttp_t* p) {
  Parser* self = From(p);
  self->in_field_ = false;
  if (self->in_head_ && self->header_count_ > 0) {
    HeaderSpan& span = self->spans()[self->header_count_ - 1];
    span.value_off = static_cast<uint32_t>(self->head_.size());
    span.value_len = 0;
  }
  return 0;
}

int Parser::OnHeaderValueCb(llhttp_t* p, const char* at, size_t length) {
  Parser* self = From(p);
  if (!self->in_head_ || self->header_count_ == 0) return 0;
  if (length > self->limits_->max_header_size ||
      !self->AppendHead(at, length)) {
    return self->Fail(HttpError::kHeaderFieldsTooLarge);
  }
  self->spans()[self->header_count_ - 1].value_len +=
      static_cast<uint32_t>(length);
  return 0;
}

int Parser::OnHeadersCompleteCb(llhttp_t* p) {
  Parser* self = From(p);
  const Limits& limits = *self->limits_;
  self->in_head_ = false;
  self->in_field_ = false;

  // The scanner refused other versions and CONNECT already; llhttp agrees
  // or the message is refused.
  if (p->http_major != 1 || p->http_minor > 1) {
    return self->Fail(HttpError::kVersionNotSupported);
  }
  if (p->method == HTTP_CONNECT) {
    return self->Fail(HttpError::kNotImplemented);
  }
  // The value spans hold no OWS: llhttp drops the leading, the scanner
  // kept the trailing from it.
  const bool http10 = p->http_minor == 0;
  HeadFacts facts;
  HttpError semantic = CheckTarget(self->head_.data(), self->url_len_);
  if (semantic == HttpError::kNone) {
    semantic = CheckHead(http10, self->head_.data(), self->spans(),
                         self->header_count_, &facts);
  }
  if (semantic != HttpError::kNone) return self->Fail(semantic);
  // Both parsers must frame the body alike (RFC 9112 section 6.3): a
  // difference is exactly what request smuggling exploits.
  const uint16_t f = p->flags;
  const bool chunked = (f & F_CHUNKED) != 0;
  const bool has_length = (f & F_CONTENT_LENGTH) != 0;
  if (chunked != facts.chunked || has_length != facts.has_length ||
      (has_length && p->content_length != facts.content_length)) {
    return self->Fail(HttpError::kBadRequest);
  }
  if (!chunked && has_length && p->content_length > limits.max_body_size) {
    return self->Fail(HttpError::kContentTooLarge);
  }
  // This server serves no protocol upgrade: "Upgrade" is then only
  // informational (RFC 9110 section 7.8), and the request is an ordinary
  // one. Clearing the flag here keeps llhttp parsing this connection.
  p->upgrade = 0;
  self->scanner_.BeginBody(chunked, has_length ? facts.content_length : 0);

  int32_t flags = 0;
  if (http10) flags |= kRfHttp10;
  if (llhttp_should_keep_alive(p)) flags |= kRfKeepAlive;
  if (chunked || (has_length && p->content_length > 0)) flags |= kRfHasBody;
  if (chunked) flags |= kRfChunked;
  if (facts.expect_continue) flags |= kRfExpectContinue;
  if (p->method == HTTP_HEAD) flags |= kRfHead;

  self->in_body_ = true;
  ParsedHead head;
  head.method = p->method;
  head.flags = flags;
  head.bytes = self->head_.data();
  head.size = static_cast<uint32_t>(self->head_.size());
  head.url_off = 0;
  head.url_len = self->url_len_;
  head.headers = self->spans();
  head.header_count = self->header_count_;
  const int stop = self->delegate_->OnHead(head);
  // The delegate has copied what it keeps.
  self->ReleaseHead();
  if (stop != 0) {
    self->stopped_ = true;
    return -1;
  }
  return 0;
}

int Parser::OnBodyCb(llhttp_t* p, const char* at, size_t length) {
  Parser* self = From(p);
  self->body_bytes_ += length;
  if (self->body_bytes_ > self->limits_->max_body_size) {
    return self->Fail(HttpError::kContentTooLarge);
  }
  if (self->delegate_->OnBody(at, length) != 0) {
    self->stopped_ = true;
    return HPE_USER;
  }
  return 0;
}

int Parser::OnMessageCompleteCb(llhttp_t* p) {
  Parser* self = From(p);
  // The scanner has already seen this message's last byte (Execute feeds
  // llhttp only what the scanner accepted).
  if (++self->completed_ != self->scanner_.messages_completed()) {
    return self->Fail(HttpError::kBadRequest);
  }
  self->in_message_ = false;
  self->in_body_ = false;
  const bool keep_alive = llhttp_should_keep_alive(p) != 0;
  if (self->delegate_->OnMessageComplete(keep_alive) != 0) {
    self->stopped_ = true;
    return HPE_PAUSED;
  }
  return 0;
}

}  // namespace tsgi
