// parser.cc: Parser, the StrictScanner's single pass over each read turned
// into heads, body bytes and message ends, with the semantic checks of a
// complete head (RFC 9112 sections 2-7) and the method table.
#include "parser.h"

#include <cstring>

#include "head_check.h"

// Only for the method table (HTTP_METHOD_MAP): the numbers JS names
// methods by (`methods`, exported by addon.cc from the same header).
#include "llhttp.h"

namespace tsgi {

namespace {

// llhttp's number for a method (RFC 9110 section 9: methods are case
// sensitive), or -1. Every registered HTTP method llhttp knows; CONNECT is
// refused by the scanner before it gets here.
int MethodNumber(const char* method, size_t length) {
  // The common ones first.
  if (length == 3 && std::memcmp(method, "GET", 3) == 0) return HTTP_GET;
  if (length == 4 && std::memcmp(method, "POST", 4) == 0) return HTTP_POST;
#define TSGI_METHOD(num, name, string)                     \
  if (length == sizeof(#string) - 1 &&                     \
      std::memcmp(method, #string, sizeof(#string) - 1) == 0) { \
    return num;                                            \
  }
  HTTP_METHOD_MAP(TSGI_METHOD)
#undef TSGI_METHOD
  return -1;
}

}  // namespace

void Parser::ReleaseHead() {
  head_.Clear();
  head_.ReturnBlock();
  spans_.Clear();
  spans_.ReturnBlock();
}

void Parser::Reset(ParserDelegate* delegate, const Limits* limits,
                   BufferPool* pool) {
  delegate_ = delegate;
  limits_ = limits;
  head_.set_pool(pool);
  spans_.set_pool(pool);
  ReleaseHead();
  scanner_.Reset(limits, &spans_, MethodNumber);
  keep_alive_ = false;
  stopped_ = false;
  error_ = HttpError::kNone;
}

Parser::Result Parser::Fail(HttpError error) {
  if (error_ == HttpError::kNone) error_ = error;
  ReleaseHead();
  return Result::kError;
}

// Each Scan() stops at an event; the bytes it accepted before are:
//   - part of a head not yet complete (kNeedMore inside a head): kept in
//     head_, since the read buffer is reused; a head within one read is
//     never copied here;
//   - a head's end (kHeadEnd): CheckHead, the body's framing, OnHead;
//   - body bytes (kBody, kBodyLast), which OnBody gets where they lie;
//   - the end of a chunked message (kMessageEnd);
//   - the bytes in front of one that breaks a rule (kError).
Parser::Result Parser::Execute(const char* data, size_t length) {
  if (stopped_) return Result::kStopped;
  if (error_ != HttpError::kNone) return Result::kError;
  while (length > 0) {
    size_t n = 0;
    const StrictScanner::Event event = scanner_.Scan(data, length, &n);
    switch (event) {
      case StrictScanner::Event::kNeedMore:
        if (scanner_.in_head()) {
          const size_t from = scanner_.head_start();
          if (!head_.Append(data + from, n - from)) {
            return Fail(HttpError::kHeaderFieldsTooLarge);
          }
        }
        break;
      case StrictScanner::Event::kHeadEnd: {
        const Result r = HeadEnd(data, n);
        if (r != Result::kOk) return r;
        break;
      }
      case StrictScanner::Event::kBody:
      case StrictScanner::Event::kBodyLast: {
        const size_t body = scanner_.body_length();
        if (body != 0 && delegate_->OnBody(data + n - body, body) != 0) {
          stopped_ = true;
          return Result::kStopped;
        }
        if (event == StrictScanner::Event::kBodyLast) {
          const Result r = Complete();
          if (r != Result::kOk) return r;
        }
        break;
      }
      case StrictScanner::Event::kMessageEnd: {
        // A trailer section's spans are not handed on: between messages
        // the parser holds no block (AtRest).
        ReleaseHead();
        const Result r = Complete();
        if (r != Result::kOk) return r;
        break;
      }
      case StrictScanner::Event::kError:
        return Fail(scanner_.error());
    }
    data += n;
    length -= n;
  }
  return Result::kOk;
}

Parser::Result Parser::HeadEnd(const char* data, size_t n) {
  const char* bytes;
  const uint32_t size = scanner_.head_size();
  if (head_.empty()) {
    bytes = data + scanner_.head_start();
  } else {
    if (!head_.Append(data, n)) return Fail(HttpError::kHeaderFieldsTooLarge);
    bytes = head_.data();
  }
  const HeaderSpan* spans = reinterpret_cast<const HeaderSpan*>(spans_.data());
  const uint32_t count =
      static_cast<uint32_t>(spans_.size() / sizeof(HeaderSpan));
  const bool http10 = scanner_.http10();
  HeadFacts facts;
  HttpError semantic =
      CheckTarget(bytes + scanner_.target_off(), scanner_.target_len());
  if (semantic == HttpError::kNone) {
    semantic = CheckHead(http10, bytes, spans, count, &facts);
  }
  if (semantic != HttpError::kNone) return Fail(semantic);
  if (!facts.chunked && facts.has_length &&
      facts.content_length > limits_->max_body_size) {
    return Fail(HttpError::kContentTooLarge);
  }
  // RFC 9112 section 9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only
  // with "keep-alive" (and never with "close").
  keep_alive_ = !facts.connection_close &&
                (!http10 || facts.connection_keep_alive);
  const int method = scanner_.method();
  int32_t flags = 0;
  if (http10) flags |= kRfHttp10;
  if (keep_alive_) flags |= kRfKeepAlive;
  if (facts.chunked || (facts.has_length && facts.content_length > 0)) {
    flags |= kRfHasBody;
  }
  if (facts.chunked) flags |= kRfChunked;
  if (facts.expect_continue) flags |= kRfExpectContinue;
  if (method == HTTP_HEAD) flags |= kRfHead;
  // Framing (RFC 9112 section 6.3): chunked, else Content-Length, else no
  // body (a request is never read to the end of the connection).
  scanner_.BeginBody(facts.chunked,
                     facts.has_length ? facts.content_length : 0);

  ParsedHead head;
  head.method = method;
  head.flags = flags;
  head.bytes = bytes;
  head.size = size;
  head.url_off = scanner_.target_off();
  head.url_len = scanner_.target_len();
  head.headers = spans;
  head.header_count = count;
  const int stop = delegate_->OnHead(head);
  // The delegate has copied what it keeps.
  ReleaseHead();
  if (stop != 0) {
    stopped_ = true;
    return Result::kStopped;
  }
  // A message without a body is complete with its head.
  if (!scanner_.in_message()) return Complete();
  return Result::kOk;
}

Parser::Result Parser::Complete() {
  // Cleared for each body (BeginBody): only a chunked message's trailers
  // can end keep-alive here.
  const bool keep_alive = keep_alive_ && !scanner_.trailer_connection();
  if (delegate_->OnMessageComplete(keep_alive) != 0) {
    stopped_ = true;
    return Result::kStopped;
  }
  return Result::kOk;
}

}  // namespace tsgi
