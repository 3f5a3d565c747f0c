// parser_fuzzer.cc: libFuzzer harness for the native parsing layer (Parser,
// the StrictScanner's single pass, native/parser.h), built without Node-API
// by scripts/fuzz.mjs with llhttp as the second opinion on framing. Besides
// "no crash" (ASan, UBSan) it checks invariants:
//   - every span of a head lies inside the head's bytes; URL, names and
//     values are well-formed (no CR, LF, NUL or other CTL; names are
//     tokens; the target has no SP, fragment or non-ASCII byte);
//   - limits hold: target length, header count, body size;
//   - events come in order (head, body*, complete), a Content-Length body
//     has exactly its declared length, nothing is reported after an error
//     or a stop, and an error names a ready-made response;
//   - the same bytes cut into other pieces give the same events, bodies
//     and outcome (the parser keeps no pointer into a read);
//   - llhttp (strict, as Debian ships it) parsing the same bytes agrees on
//     every message the Parser completes: the same method, target, fields,
//     body bytes and persistence, so both frame the stream alike; and
//     llhttp refuses no message the Parser accepts (the Parser may refuse
//     more: it is stricter). The one allowed difference: an HTTP/1.0
//     request with both "close" and "keep-alive" closes here (RFC 9112
//     section 9.3), where llhttp would keep the connection.
//
// Input: byte 0 picks the limits and the cutting, the rest is the stream
// of one connection.
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
};

class Recorder final : public tsgi::ParserDelegate {
 public:
  void Reset(const Limits* limits) {
    messages_.clear();
    limits_ = limits;
    events_ = 14695981039346656037ull;
    body_ = 14695981039346656037ull;
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
    for (uint32_t i = 0; i < head.url_len; i++) {
      const unsigned char c = head.bytes[head.url_off + i];
      CHECK(c > 0x20 && c < 0x7f && c != '#');
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
      const char* name = head.bytes + s.name_off;
      if (EqualsLower(name, s.name_len, "content-length")) {
        CHECK(!has_length_);  // duplicates were refused
        has_length_ = true;
        for (uint32_t i = 0; i < s.value_len; i++) {
          const char c = head.bytes[s.value_off + i];
          if (c == ' ' || c == '\t') break;
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
      if (!self->in_head_) return 0;  // trailers
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
    const llhttp_errno_t err =
        llhttp_execute(&parser, reinterpret_cast<const char*>(data), size);
    reason_ = err == HPE_OK ? "" : llhttp_get_error_reason(&parser);
    // Where llhttp stopped: inside a chunk extension (after a ';' on a
    // chunk-size line)?
    in_extension_ = false;
    if (err != HPE_OK && reason_.find("chunk") != std::string::npos) {
      const char* at = llhttp_get_error_pos(&parser);
      const char* start = reinterpret_cast<const char*>(data);
      if (at != nullptr && at >= start && at <= start + size) {
        for (const char* q = at; q > start && q[-1] != '\n'; q--) {
          if (q[-1] == ';') in_extension_ = true;
        }
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
    // Persistence: the same, or closing where llhttp would not (HTTP/1.0
    // with both "close" and "keep-alive").
    CHECK(a.keep_alive == b.keep_alive || (!a.keep_alive && a.http10));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t config = data[0];
  data++;
  size--;

  // Limits the parser gets from JS in the server: roomy ones, where the
  // rules are exercised, and tiny ones, where every limit is reached.
  static const Limits kRoomy = {4096, 8192, 64, 1 << 20};
  static const Limits kSmall = {24, 96, 4, 64};
  const Limits* limits = (config & 1) != 0 ? &kSmall : &kRoomy;

  static Parser whole;
  static Parser pieces;
  static Recorder whole_rec;
  static Recorder pieces_rec;
  const Outcome a = Run(&whole, &whole_rec, limits, data, size, 0);
  const Outcome b = Run(&pieces, &pieces_rec, limits, data, size,
                        static_cast<uint32_t>(config >> 1) + 1);
  // Segmentation must not change what the application sees.
  CHECK(a.result == b.result);
  CHECK(a.error == b.error);
  CHECK(whole_rec.heads_ == pieces_rec.heads_);
  CHECK(whole_rec.completes_ == pieces_rec.completes_);
  CHECK(whole_rec.events_ == pieces_rec.events_);
  CHECK(whole_rec.body_ == pieces_rec.body_);
  static Oracle oracle;
  oracle.Run(data, size);
  Compare(whole_rec, oracle);
  return 0;
}
