// parser.cc: Parser, llhttp callbacks that collect request heads into fixed
// header slots and enforce the size limits (RFC 9112 sections 2-7).
#include "parser.h"

#include <cstring>

namespace tsgi {

namespace {

bool EqualsIgnoreCase(const char* a, size_t a_len, const char* lower) {
  size_t n = std::strlen(lower);
  if (a_len != n) return false;
  for (size_t i = 0; i < n; i++) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

}  // namespace

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
    s.on_header_value_complete = OnHeaderValueCompleteCb;
    s.on_headers_complete = OnHeadersCompleteCb;
    s.on_body = OnBodyCb;
    s.on_message_complete = OnMessageCompleteCb;
    return s;
  }();
  return &settings;
}

void Parser::Reset(ParserDelegate* delegate, const Limits* limits) {
  delegate_ = delegate;
  limits_ = limits;
  // No lenient flags: llhttp's strict defaults reject request smuggling
  // shapes (RFC 9112 section 6.3, 11.2).
  llhttp_init(&llhttp_, HTTP_REQUEST,
              const_cast<llhttp_settings_t*>(Settings()));
  llhttp_.data = this;
  if (headers_.size() != limits->max_header_count) {
    headers_.resize(limits->max_header_count);
  }
  head_.Clear();
  head_.ShrinkIfAbove(64 * 1024);
  header_count_ = 0;
  url_len_ = 0;
  field_bytes_ = 0;
  body_bytes_ = 0;
  in_field_ = false;
  in_message_ = false;
  in_head_ = false;
  in_body_ = false;
  expect_continue_ = false;
  stopped_ = false;
  error_ = HttpError::kNone;
}

Parser::Result Parser::Execute(const char* data, size_t length) {
  if (stopped_) return Result::kStopped;
  if (error_ != HttpError::kNone) return Result::kError;
  llhttp_errno_t err = llhttp_execute(&llhttp_, data, length);
  if (err == HPE_OK) return Result::kOk;
  if (error_ != HttpError::kNone) return Result::kError;
  if (stopped_) return Result::kStopped;
  error_ = MapErrno(err);
  return Result::kError;
}

HttpError Parser::MapErrno(llhttp_errno_t err) const {
  switch (err) {
    case HPE_INVALID_METHOD:
      // llhttp knows every registered method; anything else is one this
      // server does not implement (RFC 9110 section 9.1).
      return HttpError::kNotImplemented;
    case HPE_INVALID_TRANSFER_ENCODING:
      // A transfer coding other than a final "chunked" (RFC 9112 6.1).
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
  self->head_.Clear();
  self->header_count_ = 0;
  self->url_len_ = 0;
  self->field_bytes_ = 0;
  self->body_bytes_ = 0;
  self->in_field_ = false;
  self->in_message_ = true;
  self->in_head_ = true;
  self->in_body_ = false;
  self->expect_continue_ = false;
  return 0;
}

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
  const Limits& limits = *self->limits_;
  if (length > limits.max_header_size) {
    return self->Fail(HttpError::kHeaderFieldsTooLarge);
  }
  if (!self->in_field_) {
    // First piece of a new field line (RFC 9112 section 5).
    if (self->in_head_ && self->header_count_ >= limits.max_header_count) {
      return self->Fail(HttpError::kHeaderFieldsTooLarge);
    }
    self->field_bytes_ += 4;  // ": " and CRLF
    self->in_field_ = true;
    if (self->in_head_) {
      HeaderSpan& span = self->headers_[self->header_count_++];
      span.name_off = static_cast<uint32_t>(self->head_.size());
      span.name_len = 0;
      span.value_off = span.name_off;
      span.value_len = 0;
    }
  }
  self->field_bytes_ += static_cast<uint32_t>(length);
  if (self->field_bytes_ > limits.max_header_size) {
    return self->Fail(HttpError::kHeaderFieldsTooLarge);
  }
  // Trailer fields (after the body) are counted against the limit but not
  // kept: they never reach the application.
  if (!self->in_head_) return 0;
  if (!self->AppendHead(at, length)) {
    return self->Fail(HttpError::kHeaderFieldsTooLarge);
  }
  self->headers_[self->header_count_ - 1].name_len +=
      static_cast<uint32_t>(length);
  return 0;
}

int Parser::OnHeaderFieldCompleteCb(llhttp_t* p) {
  Parser* self = From(p);
  self->in_field_ = false;
  if (self->in_head_ && self->header_count_ > 0) {
    HeaderSpan& span = self->headers_[self->header_count_ - 1];
    span.value_off = static_cast<uint32_t>(self->head_.size());
    span.value_len = 0;
  }
  return 0;
}

int Parser::OnHeaderValueCb(llhttp_t* p, const char* at, size_t length) {
  Parser* self = From(p);
  const Limits& limits = *self->limits_;
  if (length > limits.max_header_size) {
    return self->Fail(HttpError::kHeaderFieldsTooLarge);
  }
  self->field_bytes_ += static_cast<uint32_t>(length);
  if (self->field_bytes_ > limits.max_header_size) {
    return self->Fail(HttpError::kHeaderFieldsTooLarge);
  }
  if (!self->in_head_ || self->header_count_ == 0) return 0;
  if (!self->AppendHead(at, length)) {
    return self->Fail(HttpError::kHeaderFieldsTooLarge);
  }
  self->headers_[self->header_count_ - 1].value_len +=
      static_cast<uint32_t>(length);
  return 0;
}

int Parser::OnHeaderValueCompleteCb(llhttp_t* p) {
  Parser* self = From(p);
  if (!self->in_head_ || self->header_count_ == 0) return 0;
  HeaderSpan& span = self->headers_[self->header_count_ - 1];
  const char* base = self->head_.data();
  // RFC 9110 section 5.5: OWS around a field value is not part of it.
  // llhttp drops the leading OWS but keeps the trailing.
  while (span.value_len > 0) {
    const char c = base[span.value_off + span.value_len - 1];
    if (c != ' ' && c != '\t') break;
    span.value_len--;
  }
  // RFC 9110 section 10.1.1: the only defined expectation is 100-continue.
  if (EqualsIgnoreCase(base + span.name_off, span.name_len, "expect") &&
      EqualsIgnoreCase(base + span.value_off, span.value_len,
                       "100-continue")) {
    self->expect_continue_ = true;
  }
  return 0;
}

int Parser::OnHeadersCompleteCb(llhttp_t* p) {
  Parser* self = From(p);
  const Limits& limits = *self->limits_;
  self->in_head_ = false;
  self->in_field_ = false;

  // RFC 9112 section 2.3: this server speaks HTTP/1.0 and HTTP/1.1.
  if (p->http_major != 1 || p->http_minor > 1) {
    return self->Fail(HttpError::kVersionNotSupported);
  }
  // CONNECT turns the connection into a tunnel (RFC 9110 section 9.3.6);
  // a gateway to applications does not offer that.
  if (p->method == HTTP_CONNECT) {
    return self->Fail(HttpError::kNotImplemented);
  }
  const uint16_t f = p->flags;
  const bool chunked = (f & F_CHUNKED) != 0;
  // Transfer-Encoding whose final coding is not chunked: llhttp would
  // reject it right after this callback; answer before the head is
  // handed to the application.
  if ((f & F_TRANSFER_ENCODING) != 0 && !chunked) {
    return self->Fail(HttpError::kNotImplemented);
  }
  const bool has_length = (f & F_CONTENT_LENGTH) != 0;
  if (!chunked && has_length && p->content_length > limits.max_body_size) {
    return self->Fail(HttpError::kContentTooLarge);
  }
  // This server serves no protocol upgrade: "Upgrade" is then only
  // informational (RFC 9110 section 7.8), and the request is an ordinary
  // one. Clearing the flag here keeps llhttp parsing this connection.
  p->upgrade = 0;

  int32_t flags = 0;
  if (p->http_minor == 0) flags |= kRfHttp10;
  if (llhttp_should_keep_alive(p)) flags |= kRfKeepAlive;
  if (chunked || (has_length && p->content_length > 0)) flags |= kRfHasBody;
  if (chunked) flags |= kRfChunked;
  if (self->expect_continue_) flags |= kRfExpectContinue;
  if (p->method == HTTP_HEAD) flags |= kRfHead;

  self->in_body_ = true;
  ParsedHead head;
  head.method = p->method;
  head.flags = flags;
  head.bytes = self->head_.data();
  head.size = static_cast<uint32_t>(self->head_.size());
  head.url_off = 0;
  head.url_len = self->url_len_;
  head.headers = self->headers_.data();
  head.header_count = self->header_count_;
  // Trailer fields get a budget of their own.
  self->field_bytes_ = 0;
  if (self->delegate_->OnHead(head) != 0) {
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
