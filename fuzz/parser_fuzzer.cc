// parser_fuzzer.cc: libFuzzer harness for the native parsing layer (Parser,
// the StrictScanner's single pass, native/parser.h), built without Node-API
// by scripts/fuzz.mjs with llhttp as the second opinion on framing. Besides
// "no crash" (ASan, UBSan) it checks invariants:
//   - every span of a head lies inside the head's bytes; URL, names and
//     values are well-formed (no CR, LF, NUL or other CTL; names are
//     tokens; values without OWS around them; the target of RFC 3986
//     characters, no fragment, no userinfo in an authority);
//   - limits hold: target length, header count, body size;
//   - events come in order (head, body*, complete), a Content-Length body
//     has exactly its declared length, nothing is reported after an error
//     or a stop, and an error names a ready-made response;
//   - the same bytes cut into other pieces give the same events, bodies
//     and outcome (the parser keeps no pointer into a read);
//   - a chunked body (chunk-ext of RFC 9112 section 7.1.1, trailers) is
//     accepted, refused or bounded exactly as RefChunked, a second and
//     plainer reading of the grammar, says, with the same body;
//   - llhttp (strict, as Debian ships it) parsing the same bytes agrees on
//     every message the Parser completes: the same method, target, fields,
//     body bytes and persistence, so both frame the stream alike; and
//     llhttp refuses no message the Parser accepts (the Parser may refuse
//     more: it is stricter). The one allowed difference: an HTTP/1.0
//     request with both "close" and "keep-alive" closes here (RFC 9112
//     section 9.3), where llhttp would keep the connection.
//
// Input: byte 0 picks the limits (bit 0), the mode (bit 1: the rest is a
// chunked body after a fixed head, else the whole stream of a connection)
// and the cutting (bits 1-7).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "llhttp.h"
#include "parser.h"

namespace {

using tsgi::HttpError;
using tsgi::Limits;
using tsgi::ParsedHead;
using tsgi::Parser;

[[noreturn]] void Violation(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

#define CHECK(cond)                          \
  do {                                       \
    if (!(cond)) Violation(#cond);           \
  } while (0)

bool IsTchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z')) {
    return true;
  }
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool IsWs(unsigned char c) { return c == ' ' || c == '\t'; }

bool IsHexDigit(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

// RFC 3986 characters (unreserved, reserved, '%') other than '#'.
bool IsTargetByte(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z')) {
    return true;
  }
  // RFC 3986 (unreserved, reserved, '%'), plus what browsers send raw in
  // queries and the server deliberately serves (README, "Strict parsing").
  return c != 0 &&
         std::strchr("-._~:/?[]@!$&'()*+,;=%\\^`{|}", c) != nullptr;
}

bool EqualsLower(const char* s, uint32_t n, const char* lower) {
  if (std::strlen(lower) != n) return false;
  for (uint32_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// FNV-1a, for comparing event streams.
void Mix(uint64_t* h, const void* data, size_t n) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; i++) {
    *h ^= p[i];
    *h *= 1099511628211ull;
  }
}

// One message as an application would see it, to compare the Parser's
// with llhttp's.
struct Message {
  int method = -1;
  bool http10 = false;
  std::string url;
  std::vector<std::pair<std::string, std::string>> fields;
  uint64_t body = 14695981039346656037ull;
  uint64_t body_size = 0;
  bool keep_alive = false;
  // llhttp only: the trailers have a field named Connection (see
  // Compare).
  bool connection_trailer = false;
  // llhttp only: a Connection field has HTAB as the OWS before a comma
  // ("close\t,"), where llhttp 8 knows only SP and misses the token.
  bool connection_htab = false;
};

// Whether `value` has an HTAB in the OWS before a list comma.
bool HtabBeforeComma(const std::string& value) {
  for (size_t i = 0; i < value.size(); i++) {
    if (value[i] != '\t') continue;
    size_t j = i;
    while (j < value.size() && (value[j] == ' ' || value[j] == '\t')) j++;
    if (j < value.size() && value[j] == ',') return true;
  }
  return false;
}

class Recorder final : public tsgi::ParserDelegate {
 public:
  void Reset(const Limits* limits) {
    messages_.clear();
    limits_ = limits;
    events_ = 14695981039346656037ull;
    body_ = 14695981039346656037ull;
    first_body_ = 14695981039346656037ull;
    in_message_ = false;
    finished_ = false;
    heads_ = 0;
    completes_ = 0;
  }

  int OnHead(const ParsedHead& head) override {
    CHECK(!finished_);
    CHECK(!in_message_);
    CHECK(head.bytes != nullptr || head.size == 0);
    CHECK(head.url_off <= head.size && head.url_len <= head.size - head.url_off);
    CHECK(head.url_len > 0 && head.url_len <= limits_->max_url_size);
    CHECK(head.header_count <= limits_->max_header_count);
    const char* url = head.bytes + head.url_off;
    for (uint32_t i = 0; i < head.url_len; i++) {
      CHECK(IsTargetByte(static_cast<unsigned char>(url[i])));
    }
    if (url[0] != '/' && url[0] != '*') {
      // absolute-form: no userinfo in an authority.
      const char* colon =
          static_cast<const char*>(std::memchr(url, ':', head.url_len));
      CHECK(colon != nullptr);
      const uint32_t rest = head.url_len - static_cast<uint32_t>(colon + 1 - url);
      if (rest >= 2 && colon[1] == '/' && colon[2] == '/') {
        for (uint32_t i = 3; i <= rest && colon[i] != '/' && colon[i] != '?'; i++) {
          CHECK(colon[i] != '@');
        }
      }
    }
    chunked_ = (head.flags & tsgi::kRfChunked) != 0;
    has_length_ = false;
    length_ = 0;
    for (uint32_t h = 0; h < head.header_count; h++) {
      const tsgi::HeaderSpan& s = head.headers[h];
      CHECK(s.name_off <= head.size && s.name_len <= head.size - s.name_off);
      CHECK(s.value_off <= head.size &&
            s.value_len <= head.size - s.value_off);
      CHECK(s.name_len > 0);
      for (uint32_t i = 0; i < s.name_len; i++) {
        CHECK(IsTchar(head.bytes[s.name_off + i]));
      }
      for (uint32_t i = 0; i < s.value_len; i++) {
        const unsigned char c = head.bytes[s.value_off + i];
        CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
      }
      if (s.value_len > 0) {
        CHECK(!IsWs(static_cast<unsigned char>(head.bytes[s.value_off])));
        CHECK(!IsWs(static_cast<unsigned char>(
            head.bytes[s.value_off + s.value_len - 1])));
      }
      const char* name = head.bytes + s.name_off;
      if (EqualsLower(name, s.name_len, "content-length")) {
        CHECK(!has_length_);  // duplicates were refused
        has_length_ = true;
        for (uint32_t i = 0; i < s.value_len; i++) {
          const char c = head.bytes[s.value_off + i];
          CHECK(c >= '0' && c <= '9');
          length_ = length_ * 10 + static_cast<uint64_t>(c - '0');
        }
      }
    }
    CHECK(!(chunked_ && has_length_));
    if (has_length_) CHECK(length_ <= limits_->max_body_size);
    CHECK(((head.flags & tsgi::kRfHasBody) != 0) ==
          (chunked_ || (has_length_ && length_ > 0)));
    in_message_ = true;
    body_seen_ = 0;
    heads_++;
    Message m;
    m.method = head.method;
    m.http10 = (head.flags & tsgi::kRfHttp10) != 0;
    m.url.assign(head.bytes + head.url_off, head.url_len);
    for (uint32_t h = 0; h < head.header_count; h++) {
      const tsgi::HeaderSpan& sp = head.headers[h];
      m.fields.emplace_back(std::string(head.bytes + sp.name_off, sp.name_len),
                            std::string(head.bytes + sp.value_off, sp.value_len));
    }
    messages_.push_back(std::move(m));
    Mix(&events_, "H", 1);
    Mix(&events_, &head.method, sizeof(head.method));
    Mix(&events_, &head.flags, sizeof(head.flags));
    Mix(&events_, head.bytes, head.size);
    Mix(&events_, &head.header_count, sizeof(head.header_count));
    return 0;
  }

  int OnBody(const char* at, size_t length) override {
    CHECK(!finished_);
    CHECK(in_message_);
    CHECK(length > 0);
    body_seen_ += length;
    CHECK(body_seen_ <= limits_->max_body_size);
    Mix(&messages_.back().body, at, length);
    messages_.back().body_size += length;
    if (!chunked_) CHECK(body_seen_ <= length_);
    Mix(&body_, at, length);
    if (completes_ == 0) Mix(&first_body_, at, length);
    return 0;
  }

  int OnMessageComplete(bool keep_alive) override {
    CHECK(!finished_);
    CHECK(in_message_);
    if (!chunked_) CHECK(body_seen_ == length_);
    in_message_ = false;
    completes_++;
    messages_.back().keep_alive = keep_alive;
    Mix(&events_, "C", 1);
    Mix(&events_, &keep_alive, sizeof(keep_alive));
    Mix(&events_, &body_seen_, sizeof(body_seen_));
    // Like Connection: nothing is parsed after a closing request.
    return keep_alive ? 0 : 1;
  }

  void Finish() { finished_ = true; }

  uint64_t events_ = 0;
  uint64_t body_ = 0;
  std::vector<Message> messages_;
  uint64_t first_body_ = 0;  // the body of the first message
  uint32_t heads_ = 0;
  uint32_t completes_ = 0;

 private:
  const Limits* limits_ = nullptr;
  bool in_message_ = false;
  bool finished_ = false;
  bool chunked_ = false;
  bool has_length_ = false;
  uint64_t length_ = 0;
  uint64_t body_seen_ = 0;
};

struct Outcome {
  Parser::Result result;
  HttpError error;
};

// Feeds `data` in pieces whose sizes come from `cut` (0: all at once).
Outcome Run(Parser* parser, Recorder* rec, const Limits* limits,
            const uint8_t* data, size_t size, uint32_t cut) {
  rec->Reset(limits);
  parser->Reset(rec, limits);
  Parser::Result result = Parser::Result::kOk;
  size_t pos = 0;
  uint32_t state = cut * 2654435761u + 1;
  while (pos < size) {
    size_t n = size - pos;
    if (cut != 0) {
      state = state * 1103515245u + 12345u;
      n = 1 + (state >> 16) % 23;
      if (n > size - pos) n = size - pos;
    }
    result = parser->Execute(reinterpret_cast<const char*>(data) + pos, n);
    pos += n;
    if (result != Parser::Result::kOk) break;
  }
  if (result != Parser::Result::kOk) {
    // Nothing more is reported once the parser stopped or failed.
    rec->Finish();
    const Parser::Result again = parser->Execute("GET / HTTP/1.1\r\n\r\n", 18);
    CHECK(again == result);
  }
  if (result == Parser::Result::kError) {
    const HttpError e = parser->error();
    CHECK(e != HttpError::kNone);
    // It indexes the Server's table of ready-made responses.
    CHECK(static_cast<size_t>(e) < tsgi::kHttpErrorCount);
  } else {
    CHECK(parser->error() == HttpError::kNone);
  }
  CHECK(rec->completes_ <= rec->heads_ && rec->heads_ <= rec->completes_ + 1);
  return Outcome{result, parser->error()};
}

// ---- llhttp, the second opinion ---------------------------------------------

// Messages llhttp completes on the same bytes, fed at once, with its strict
// defaults (no lenient flag) and no upgrade (the server serves none).
class Oracle {
 public:
  void Run(const uint8_t* data, size_t size) {
    messages_.clear();
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = [](llhttp_t* p) {
      Self(p)->messages_.emplace_back();
      Self(p)->in_head_ = true;
      return 0;
    };
    s.on_url = [](llhttp_t* p, const char* at, size_t n) {
      Self(p)->messages_.back().url.append(at, n);
      return 0;
    };
    s.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      Oracle* self = Self(p);
      if (!self->in_head_) {  // trailers: only the name is looked at
        self->trailer_name_.append(at, n);
        return 0;
      }
      if (!self->in_field_) self->messages_.back().fields.emplace_back();
      self->in_field_ = true;
      self->messages_.back().fields.back().first.append(at, n);
      return 0;
    };
    s.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      Oracle* self = Self(p);
      if (!self->in_head_) return 0;
      self->in_field_ = false;
      self->messages_.back().fields.back().second.append(at, n);
      return 0;
    };
    s.on_header_field_complete = [](llhttp_t* p) {
      Oracle* self = Self(p);
      if (!self->in_head_) {
        const std::string& name = self->trailer_name_;
        if (EqualsLower(name.data(), static_cast<uint32_t>(name.size()),
                        "connection")) {
          self->messages_.back().connection_trailer = true;
        }
        self->trailer_name_.clear();
      }
      return 0;
    };
    s.on_header_value_complete = [](llhttp_t* p) {
      Self(p)->in_field_ = false;
      return 0;
    };
    s.on_headers_complete = [](llhttp_t* p) {
      Oracle* self = Self(p);
      self->in_head_ = false;
      self->in_field_ = false;
      Message& m = self->messages_.back();
      m.method = p->method;
      m.http10 = p->http_major == 1 && p->http_minor == 0;
      // OWS ending a value is not part of it (RFC 9110 section 5.5).
      for (auto& f : m.fields) {
        while (!f.second.empty() &&
               (f.second.back() == ' ' || f.second.back() == '\t')) {
          f.second.pop_back();
        }
        if (EqualsLower(f.first.data(), static_cast<uint32_t>(f.first.size()),
                        "connection") &&
            HtabBeforeComma(f.second)) {
          m.connection_htab = true;
        }
      }
      p->upgrade = 0;
      return 0;
    };
    s.on_body = [](llhttp_t* p, const char* at, size_t n) {
      Message& m = Self(p)->messages_.back();
      Mix(&m.body, at, n);
      m.body_size += n;
      return 0;
    };
    s.on_message_complete = [](llhttp_t* p) {
      Oracle* self = Self(p);
      self->messages_.back().keep_alive = llhttp_should_keep_alive(p) != 0;
      self->completed_++;
      return 0;
    };
    llhttp_t parser;
    llhttp_init(&parser, HTTP_REQUEST, &s);
    parser.data = this;
    completed_ = 0;
    in_head_ = in_field_ = false;
    trailer_name_.clear();
    // Line by line, so that OWS ending a field line of a head can be kept
    // from llhttp as it is from the application (RFC 9112 section 5.1):
    // llhttp 8.1 keeps it in the value and then misreads Content-Length,
    // Transfer-Encoding or Connection ending in HTAB.
    const char* start = reinterpret_cast<const char*>(data);
    const char* const end = start + size;
    llhttp_errno_t err = HPE_OK;
    for (const char* line = start; line < end && err == HPE_OK;) {
      const char* lf = static_cast<const char*>(
          std::memchr(line, '\n', static_cast<size_t>(end - line)));
      const char* next = lf == nullptr ? end : lf + 1;
      size_t n = static_cast<size_t>(next - line);
      if (in_head_ && lf != nullptr && lf - line >= 1 && lf[-1] == '\r') {
        const char* ws = lf - 1;
        while (ws > line && IsWs(static_cast<unsigned char>(ws[-1]))) ws--;
        if (ws != lf - 1 && ws > line) {
          err = llhttp_execute(&parser, line, static_cast<size_t>(ws - line));
          if (err == HPE_OK) err = llhttp_execute(&parser, lf - 1, 2);
          line = next;
          continue;
        }
      }
      err = llhttp_execute(&parser, line, n);
      line = next;
    }
    reason_ = err == HPE_OK ? "" : llhttp_get_error_reason(&parser);
    // Where llhttp stopped: inside the extensions of a chunk-size line
    // (hex digits, then whitespace or ';' before the error)?
    in_extension_ = false;
    if (err != HPE_OK && reason_.find("chunk") != std::string::npos) {
      const char* at = llhttp_get_error_pos(&parser);
      if (at != nullptr && at >= start && at <= end) {
        const char* line = at;
        while (line > start && line[-1] != '\n') line--;
        const char* q = line;
        while (q < at && IsHexDigit(static_cast<unsigned char>(*q))) q++;
        in_extension_ = q != line && q < start + size &&
                        (IsWs(static_cast<unsigned char>(*q)) || *q == ';');
      }
    }
  }

  // llhttp stopped in a chunk extension.
  bool in_extension() const { return in_extension_; }

  // Why llhttp stopped ("" when it did not).
  const std::string& reason() const { return reason_; }

  // Messages completed, in order.
  size_t completed() const { return completed_; }
  const Message& message(size_t i) const { return messages_[i]; }

 private:
  static Oracle* Self(llhttp_t* p) { return static_cast<Oracle*>(p->data); }
  std::vector<Message> messages_;
  std::string reason_;
  bool in_extension_ = false;
  size_t completed_ = 0;
  bool in_head_ = false;
  bool in_field_ = false;
  std::string trailer_name_;  // the trailer field name being read
};

// Every message the Parser completed, llhttp completed alike.
void Compare(const Recorder& rec, const Oracle& oracle) {
  for (size_t i = 0; i < rec.completes_; i++) {
    if (i >= oracle.completed()) {
      // llhttp 8.1 refuses what RFC 9112 section 7.1.1 allows in chunk
      // extensions (a quoted-pair, say): the one refusal of llhttp's this
      // parser does not share. Nothing after it can be compared.
      if (oracle.in_extension()) return;
      std::fprintf(stderr, "llhttp: %s\n", oracle.reason().c_str());
    }
    // llhttp refuses (or cannot frame) a message this parser accepted.
    CHECK(i < oracle.completed());
    const Message& a = rec.messages_[i];
    const Message& b = oracle.message(i);
    CHECK(a.method == b.method);
    CHECK(a.http10 == b.http10);
    CHECK(a.url == b.url);
    CHECK(a.fields == b.fields);
    CHECK(a.body_size == b.body_size);
    CHECK(a.body == b.body);
    // Persistence: the same, or closing where llhttp would not: HTTP/1.0
    // with both "close" and "keep-alive", any Connection field in the
    // trailers (a sender must not send one there, RFC 9110 section 6.5.1;
    // llhttp closes on its "close" only), or a Connection list with HTAB
    // before a comma ("close\t,": OWS is SP or HTAB, RFC 9110 section
    // 5.6.1; llhttp 8 takes only SP there, and misses the "close").
    CHECK(a.keep_alive == b.keep_alive ||
          (!a.keep_alive &&
           (a.http10 || b.connection_trailer || b.connection_htab)));
  }
}

// ---- RefChunked: chunked-body grammar, read plainly ----------------------

bool IsTchar8(uint8_t c) { return IsTchar(c); }
bool IsHex(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}
// field-vchar, SP, HTAB, obs-text (RFC 9110 section 5.5).
bool IsValueByte(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }
bool IsQdtext(uint8_t c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
         (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

struct RefResult {
  enum Kind { kComplete, kIncomplete, kInvalid, kLimit } kind;
  HttpError limit;  // which limit, for kLimit
  uint64_t body;    // FNV-1a of the de-chunked body, for kComplete
};

// Where one chunk-ext ends, read as RFC 9112 section 7.1.1 writes it:
//   chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
// Returns the offset of its CR (*ok), or of the first byte that cannot
// continue it (!*ok), or n (input ended first, *ok).
size_t RefExtEnd(const uint8_t* d, size_t i, size_t n, bool* ok) {
  auto ws = [&](size_t k) {
    while (k < n && IsWs(d[k])) k++;
    return k;
  };
  auto token = [&](size_t k) {
    while (k < n && IsTchar8(d[k])) k++;
    return k;
  };
  *ok = true;
  for (;;) {
    size_t j = ws(i);
    if (j == n) return n;
    if (d[j] == '\r') {
      if (j != i) *ok = false;  // BWS, then no ";"
      return j;
    }
    if (d[j] != ';') return *ok = false, j;
    j = ws(j + 1);
    if (j == n) return n;
    if (!IsTchar8(d[j])) return *ok = false, j;
    j = token(j);
    if (j == n) return n;
    size_t k = ws(j);
    if (k == n) return n;
    if (d[k] != '=') {
      i = j;  // the whitespace after the name is read again above
      continue;
    }
    k = ws(k + 1);
    if (k == n) return n;
    if (d[k] == '"') {
      for (k++;;) {
        if (k == n) return n;
        const uint8_t c = d[k];
        if (c == '"') {
          k++;
          break;
        }
        if (c == '\\') {
          if (++k == n) return n;
          if (!IsValueByte(d[k])) return *ok = false, k;
        } else if (!IsQdtext(c)) {
          return *ok = false, k;
        }
        k++;
      }
    } else if (IsTchar8(d[k])) {
      k = token(k);
    } else {
      return *ok = false, k;
    }
    i = k;
  }
}

// The first message of d[0, n) as a chunked body, with the limits.
RefResult RefChunked(const uint8_t* d, size_t n, const Limits& limits) {
  const RefResult incomplete{RefResult::kIncomplete, HttpError::kNone, 0};
  const RefResult invalid{RefResult::kInvalid, HttpError::kNone, 0};
  auto limit = [](HttpError e) {
    return RefResult{RefResult::kLimit, e, 0};
  };
  uint64_t hash = 14695981039346656037ull;
  uint64_t total = 0;
  size_t pos = 0;
  for (;;) {
    uint64_t size = 0;
    const size_t digits = pos;
    while (pos < n && IsHex(d[pos])) {
      if ((size >> 60) != 0) return invalid;
      const uint8_t c = d[pos];
      const uint64_t v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
      size = (size << 4) | v;
      pos++;
    }
    if (pos == n) return incomplete;
    if (pos == digits) return invalid;
    // Extensions, with the bound checked before each of their bytes.
    bool ok = false;
    const size_t end = RefExtEnd(d, pos, n, &ok);
    // Every byte before `end` was taken, and so was the one at `end` when
    // it broke the grammar: too many once one at offset >= bound was.
    const size_t len = end - pos;
    if (ok ? len > limits.max_chunk_ext_size
           : len >= limits.max_chunk_ext_size) {
      return limit(HttpError::kExtensionTooLarge);
    }
    if (!ok) return invalid;
    if (end == n) return incomplete;
    pos = end + 1;  // CR
    if (pos == n) return incomplete;
    if (d[pos++] != '\n') return invalid;
    if (size == 0) break;
    if (size > limits.max_body_size - total) {
      return limit(HttpError::kContentTooLarge);
    }
    total += size;
    if (n - pos < size) return incomplete;
    Mix(&hash, d + pos, static_cast<size_t>(size));
    pos += static_cast<size_t>(size);
    if (pos == n) return incomplete;
    if (d[pos++] != '\r') return invalid;
    if (pos == n) return incomplete;
    if (d[pos++] != '\n') return invalid;
  }
  // The trailer section: its own byte and field budgets, every byte
  // judged first, then counted.
  uint64_t room = limits.max_header_size;
  uint32_t fields = 0;
  auto take = [&]() {
    if (room == 0) return false;
    room--;
    pos++;
    return true;
  };
  const RefResult too_large = limit(HttpError::kHeaderFieldsTooLarge);
  for (;;) {
    if (pos == n) return incomplete;
    if (d[pos] == '\r') {
      if (!take()) return too_large;
      if (pos == n) return incomplete;
      if (d[pos] != '\n') return invalid;
      if (!take()) return too_large;
      return RefResult{RefResult::kComplete, HttpError::kNone, hash};
    }
    if (!IsTchar8(d[pos])) return invalid;
    if (fields >= limits.max_header_count) return too_large;
    fields++;
    const size_t name = pos;
    while (pos < n && IsTchar8(d[pos])) {
      if (!take()) return too_large;
    }
    if (pos == n) return incomplete;
    if (d[pos] != ':') return invalid;
    const char* nm = reinterpret_cast<const char*>(d + name);
    const uint32_t len = static_cast<uint32_t>(pos - name);
    if (EqualsLower(nm, len, "content-length") ||
        EqualsLower(nm, len, "transfer-encoding")) {
      return invalid;
    }
    if (!take()) return too_large;
    while (pos < n && IsValueByte(d[pos])) {
      if (!take()) return too_large;
    }
    if (pos == n) return incomplete;
    if (d[pos] != '\r') return invalid;
    if (!take()) return too_large;
    if (pos == n) return incomplete;
    if (d[pos] != '\n') return invalid;
    if (!take()) return too_large;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t config = data[0];
  data++;
  size--;

  // Limits the parser gets from JS in the server: roomy ones, where the
  // rules are exercised, and tiny ones, where every limit is reached. The
  // chunk-extension bound is derived from the header size there
  // (maxChunkExtensionSize), here set small on its own as well.
  static const Limits kRoomy = {4096, 8192, 64, 1 << 20, 8192};
  static const Limits kSmall = {24, 96, 4, 64, 16};
  const Limits* limits = (config & 1) != 0 ? &kSmall : &kRoomy;

  // Chunk mode: a fixed head, then the input as its chunked body.
  static constexpr char kChunkedHead[] =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  static uint8_t* buffer = static_cast<uint8_t*>(std::malloc(1 << 16));
  const bool chunk_mode = (config & 2) != 0;
  const uint8_t* stream = data;
  size_t stream_size = size;
  if (chunk_mode) {
    const size_t head = sizeof(kChunkedHead) - 1;
    if (size > (1 << 16) - head) return 0;
    std::memcpy(buffer, kChunkedHead, head);
    std::memcpy(buffer + head, data, size);
    stream = buffer;
    stream_size = head + size;
  }

  static Parser whole;
  static Parser pieces;
  static Recorder whole_rec;
  static Recorder pieces_rec;
  const Outcome a = Run(&whole, &whole_rec, limits, stream, stream_size, 0);
  const Outcome b = Run(&pieces, &pieces_rec, limits, stream, stream_size,
                        static_cast<uint32_t>(config >> 1) + 1);
  // Segmentation must not change what the application sees.
  CHECK(a.result == b.result);
  CHECK(a.error == b.error);
  CHECK(whole_rec.heads_ == pieces_rec.heads_);
  CHECK(whole_rec.completes_ == pieces_rec.completes_);
  CHECK(whole_rec.events_ == pieces_rec.events_);
  CHECK(whole_rec.body_ == pieces_rec.body_);
  static Oracle oracle;
  oracle.Run(stream, stream_size);
  Compare(whole_rec, oracle);

  if (chunk_mode) {
    // The head is valid: the outcome of its body is RefChunked's.
    CHECK(whole_rec.heads_ >= 1);
    const RefResult ref = RefChunked(data, size, *limits);
    switch (ref.kind) {
      case RefResult::kComplete:
        CHECK(whole_rec.completes_ >= 1);
        CHECK(whole_rec.first_body_ == ref.body);
        break;
      case RefResult::kIncomplete:
        CHECK(whole_rec.completes_ == 0);
        CHECK(a.result == Parser::Result::kOk);
        break;
      case RefResult::kInvalid:
        CHECK(whole_rec.completes_ == 0);
        CHECK(a.result == Parser::Result::kError);
        CHECK(a.error == HttpError::kBadRequest);
        break;
      case RefResult::kLimit:
        CHECK(whole_rec.completes_ == 0);
        CHECK(a.result == Parser::Result::kError);
        CHECK(a.error == ref.limit);
        break;
    }
  }
  return 0;
}
