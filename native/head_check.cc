// head_check.cc: CheckHead (the framing, Host, Expect and Connection rules
// over a complete head) and CheckTarget (the authority of an absolute-form
// target), over the bytes the scanner (strict.cc) accepted.
#include "head_check.h"

#include "chars.h"

namespace tsgi {

namespace {

// Transfer-Encoding = #transfer-coding, here a plain token list (no
// parameters: none of the codings this server knows takes one). Collects
// the codings of one field line into the running state; false when the
// value is not such a list.
struct CodingState {
  uint32_t codings = 0;
  bool last_chunked = false;
  bool chunked_before_last = false;
  bool unknown = false;
};

bool ScanCodings(const char* v, uint32_t len, CodingState* st) {
  uint32_t i = 0;
  for (;;) {
    uint32_t start = i;
    while (i < len && Is(static_cast<unsigned char>(v[i]), kTchar)) i++;
    if (i == start) return false;  // an empty element or a bad byte
    if (st->last_chunked) st->chunked_before_last = true;
    st->last_chunked = EqualsLower(v + start, i - start, "chunked");
    if (!st->last_chunked) st->unknown = true;
    st->codings++;
    while (i < len && (v[i] == ' ' || v[i] == '\t')) i++;
    if (i == len) return true;
    if (v[i] != ',') return false;
    i++;
    while (i < len && (v[i] == ' ' || v[i] == '\t')) i++;
  }
}

// Connection = #connection-option (RFC 9110 section 7.6.1): notes the
// "close" and "keep-alive" options (any case) of one field line. Other
// options, and elements that are not tokens, mean nothing here.
void ScanConnection(const char* v, uint32_t len, HeadFacts* facts) {
  uint32_t i = 0;
  while (i < len) {
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    const uint32_t start = i;
    while (i < len && v[i] != ',') i++;
    uint32_t stop = i;
    while (stop > start && (v[stop - 1] == ' ' || v[stop - 1] == '\t')) stop--;
    if (EqualsLower(v + start, stop - start, "close")) {
      facts->connection_close = true;
    } else if (EqualsLower(v + start, stop - start, "keep-alive")) {
      facts->connection_keep_alive = true;
    }
  }
}

// Host = uri-host [ ":" port ] (RFC 9110 section 7.2, RFC 3986 3.2.2). An
// empty value is allowed (a target without authority).
// Inlined: CheckHead runs it for every request.
__attribute__((always_inline)) inline bool ValidHost(const char* v,
                                                     uint32_t len) {
  uint32_t i = 0;
  if (len > 0 && v[0] == '[') {
    // IP-literal: hex digits, ':' and '.' (IPv6, IPv4 tail), or IPvFuture
    // ("v" ...), which shares the sub-delims with reg-name.
    i = 1;
    while (i < len && v[i] != ']') {
      const unsigned char c = static_cast<unsigned char>(v[i]);
      if (!(Is(c, kHost) || c == ':') || c == '%') return false;
      i++;
    }
    if (i == len || i == 1) return false;
    i++;
  } else {
    while (i < len && Is(static_cast<unsigned char>(v[i]), kHost)) i++;
  }
  if (i == len) return true;
  if (v[i] != ':') return false;
  for (i++; i < len; i++) {
    if (!IsDigit(v[i])) return false;
  }
  return true;
}

}  // namespace

HttpError CheckTarget(const char* target, uint32_t length) {
  // origin-form and asterisk-form: the scanner's byte rules are all.
  if (length == 0 || target[0] == '/' || target[0] == '*') {
    return HttpError::kNone;
  }
  // absolute-form (RFC 9112 section 3.2.2): scheme "://" authority
  // path-abempty [ "?" query ]. The scheme has letters only and the
  // authority is always there, as llhttp reads absolute URLs (the server
  // refused all else while llhttp parsed beside the scanner; RFC 3986 also
  // allows digits, '+', '-' and '.' in schemes, and URIs without an
  // authority, which no HTTP server serves).
  uint32_t i = 0;
  while (i < length && IsAlpha(target[i])) i++;
  if (i == 0 || i == length || target[i] != ':') return HttpError::kBadRequest;
  const bool http = EqualsLower(target, i, "http") ||
                    EqualsLower(target, i, "https");
  i++;
  if (length - i < 2 || target[i] != '/' || target[i + 1] != '/') {
    return HttpError::kBadRequest;
  }
  i += 2;
  const uint32_t start = i;
  while (i < length && target[i] != '/' && target[i] != '?') i++;
  // authority = host [ ":" port ] here: '@' (userinfo) is not a host byte.
  if (http && (i == start || target[start] == ':')) {
    return HttpError::kBadRequest;  // an empty host
  }
  if (!ValidHost(target + start, i - start)) return HttpError::kBadRequest;
  return HttpError::kNone;
}

HttpError CheckHead(bool http10, const char* bytes, const HeaderSpan* spans,
                    uint32_t count, HeadFacts* facts) {
  *facts = HeadFacts();
  uint32_t hosts = 0;
  uint32_t lengths = 0;
  bool has_te = false;
  CodingState codings;
  HttpError expectation = HttpError::kNone;
  for (uint32_t i = 0; i < count; i++) {
    const HeaderSpan& s = spans[i];
    const char* name = bytes + s.name_off;
    const char* value = bytes + s.value_off;
    const uint32_t value_len = s.value_len;
    // Dispatch on length first: most fields match none of these.
    switch (s.name_len) {
      case 4:  // Host
        if (!EqualsLower(name, 4, "host")) break;
        if (++hosts > 1 || !ValidHost(value, value_len)) {
          return HttpError::kBadRequest;
        }
        break;
      case 6:  // Expect
        if (!EqualsLower(name, 6, "expect")) break;
        // RFC 9110 section 10.1.1: 100-continue is the only expectation,
        // and one in an HTTP/1.0 request is ignored.
        if (EqualsLower(value, value_len, "100-continue")) {
          facts->expect_continue = !http10;
        } else {
          expectation = HttpError::kExpectationFailed;
        }
        break;
      case 10:  // Connection
        if (EqualsLower(name, 10, "connection")) {
          ScanConnection(value, value_len, facts);
        }
        break;
      case 14: {  // Content-Length
        if (!EqualsLower(name, 14, "content-length")) break;
        // One field, 1*DIGIT: a list, even of equal values, is refused
        // (RFC 9112 section 6.3, item 5).
        if (++lengths > 1 || value_len == 0) return HttpError::kBadRequest;
        uint64_t n = 0;
        for (uint32_t j = 0; j < value_len; j++) {
          const char c = value[j];
          if (!IsDigit(c)) return HttpError::kBadRequest;
          if (n > (UINT64_MAX - 9) / 10) return HttpError::kBadRequest;
          n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        facts->has_length = true;
        facts->content_length = n;
        break;
      }
      case 17:  // Transfer-Encoding
        if (!EqualsLower(name, 17, "transfer-encoding")) break;
        has_te = true;
        if (!ScanCodings(value, value_len, &codings)) {
          return HttpError::kBadRequest;
        }
        break;
      default:
        break;
    }
  }
  if (!http10 && hosts != 1) return HttpError::kBadRequest;  // section 3.2
  if (has_te) {
    // RFC 9112 section 6.1: no Transfer-Encoding in HTTP/1.0, never with
    // Content-Length (smuggling), chunked exactly once and last (6.3).
    if (http10 || lengths > 0) return HttpError::kBadRequest;
    if (!codings.last_chunked || codings.chunked_before_last) {
      return HttpError::kBadRequest;
    }
    // A coding before chunked that this server cannot decode (6.1: 501).
    if (codings.unknown) return HttpError::kNotImplemented;
    facts->chunked = true;
  }
  if (expectation != HttpError::kNone) return expectation;
  return HttpError::kNone;
}

}  // namespace tsgi
