// strict.cc: StrictScanner: the byte rules of RFC 9112 over request heads,
// chunk lines and trailers, with the size limits; the spans of a head; the
// body's framing. The rules over a complete head are head_check.cc's.
#include "strict.h"

#include <cstring>

#include "chars.h"
#include "http_rules.h"

namespace tsgi {

namespace {

inline int HexValue(unsigned char c) {
  if (c <= '9') return c - '0';
  return (c | 0x20) - 'a' + 10;
}

constexpr char kHttpLiteral[] = "HTTP/";

// Eight bytes at a time for targets (field names and values have their
// skippers in http_rules.h: SkipNameRun, SkipValueRun). A word is skipped
// whole when none of its bytes can end or break the run; otherwise the byte
// loop decides. Exact (no false negatives) for n <= 128.
// Some byte above n (n < 128); bytes >= 0x80 count as above.
inline uint64_t HasMore(uint64_t x, unsigned n) {
  return ((x + kOnes * (127 - n)) | x) & kHighs;
}
// Skips words of target bytes (kTarget). Below 0x24 also catches '!', and
// above 'z' also '~' and '{' '|' '}', '\\' '^' with '>' and '`': the byte loop
// takes those words.
inline const unsigned char* SkipTargetWords(const unsigned char* p,
                                            const unsigned char* end) {
  constexpr uint64_t kTwos = kOnes * 2;
  while (end - p >= 8) {
    const uint64_t x = Load8(p);
    // CTL SP ! " #, < >, \ ^, `, { | } ~ DEL and non-ASCII.
    if ((HasLess(x, 0x24) | HasByte(x | kTwos, '>') | HasByte(x | kTwos, '^') |
         HasByte(x, '`') | HasMore(x, 'z')) != 0) {
      break;
    }
    p += 8;
  }
  return p;
}

inline bool IsWs(unsigned char c) { return c == ' ' || c == '\t'; }

}  // namespace

// value_off_ before the first non-OWS byte of a value.
constexpr uint32_t kNoValue = 0xffffffffu;

void StrictScanner::Reset(const Limits* limits, ByteBuffer* spans,
                          MethodLookup lookup) {
  limits_ = limits;
  spans_ = spans;
  lookup_ = lookup;
  bias_ = 0;
  head_start_ = 0;
  body_length_ = 0;
  method_id_ = -1;
  phase_ = Phase::kHead;
  state_ = State::kStart;
  trailers_ = false;
  trailer_forbidden_ = false;
  trailer_connection_ = false;
  error_ = HttpError::kNone;
  empty_lines_ = 0;
  started_ = 0;
  completed_ = 0;
  long_method_ = false;
}

StrictScanner::Event StrictScanner::Fail(HttpError error) {
  error_ = error;
  phase_ = Phase::kError;
  return Event::kError;
}

// Inlined: one call per field line of every head.
__attribute__((always_inline)) inline bool StrictScanner::AddSpan() {
  char* at = spans_->Reserve(sizeof(HeaderSpan));
  if (at == nullptr) return false;
  const HeaderSpan span = {name_off_, name_len_, value_off_,
                           value_end_ - value_off_};
  std::memcpy(at, &span, sizeof(span));
  spans_->Commit(sizeof(span));
  return true;
}

// Invariant: field_bytes_ <= max_header_size (a byte that would break it
// is refused before it is counted).
size_t StrictScanner::FieldRoom() const {
  return limits_->max_header_size - field_bytes_;
}

// Counts `n` bytes against the field-section budget (RFC 9112 section 5,
// the 431 of RFC 6585 section 5); trailers have a budget of their own.
bool StrictScanner::CountFieldByte(size_t n) {
  if (n > FieldRoom()) return false;
  field_bytes_ += static_cast<uint32_t>(n);
  return true;
}

StrictScanner::Event StrictScanner::Scan(const char* data, size_t length,
                                         size_t* consumed) {
  const unsigned char* const begin =
      reinterpret_cast<const unsigned char*>(data);
  const unsigned char* const end = begin + length;
  const unsigned char* p = begin;
  const Limits& limits = *limits_;
  Event event = Event::kNeedMore;
  head_start_ = 0;
  // The position of `at` in the current head.
#define TSGI_POS(at) static_cast<uint32_t>((at) - begin + bias_)

  // Every `return` below sets *consumed to the bytes accepted so far: an
  // offending byte is never counted as consumed.
#define TSGI_FAIL(err)                                  \
  do {                                                  \
    *consumed = static_cast<size_t>(p - begin);         \
    return Fail(err);                                   \
  } while (0)

  if (phase_ == Phase::kError || phase_ == Phase::kAwaitBody) {
    // kAwaitBody: the caller skipped BeginBody(); refuse rather than guess.
    *consumed = 0;
    if (phase_ == Phase::kAwaitBody) return Fail(HttpError::kBadRequest);
    return Event::kError;
  }

  while (p < end) {
    const unsigned char c = *p;
    switch (state_) {
      // ---- Request line (RFC 9112 section 3) ---------------------------
      case State::kStart:
        if (c == '\r') {
          if (++empty_lines_ > kMaxLeadingEmptyLines) {
            TSGI_FAIL(HttpError::kBadRequest);
          }
          state_ = State::kStartLf;
          p++;
          break;
        }
        if (!Is(c, kTchar)) TSGI_FAIL(HttpError::kBadRequest);
        started_++;
        head_start_ = static_cast<size_t>(p - begin);
        bias_ = -static_cast<int64_t>(head_start_);
        spans_->Clear();
        method_id_ = -1;
        method_len_ = 0;
        method_total_ = 0;
        long_method_ = false;
        target_len_ = 0;
        literal_pos_ = 0;
        field_bytes_ = 0;
        field_count_ = 0;
        trailers_ = false;
        state_ = State::kMethod;
        break;  // the byte is taken by kMethod
      case State::kStartLf:
        if (c != '\n') TSGI_FAIL(HttpError::kBadRequest);  // bare CR
        state_ = State::kStart;
        p++;
        break;
      case State::kMethod: {
        const unsigned char* q = p;
        while (q < end && Is(*q, kTchar)) q++;
        const size_t run = static_cast<size_t>(q - p);
        if (method_total_ + run > kMaxMethodLength) {
          // No token longer than the longest target is taken for a method.
          const uint32_t bound = limits.max_url_size > kMaxMethodLength
                                     ? limits.max_url_size
                                     : kMaxMethodLength;
          if (run > bound - method_total_) {
            p += bound - method_total_;
            TSGI_FAIL(HttpError::kNotImplemented);
          }
          long_method_ = true;
        }
        if (!long_method_) {
          __builtin_memcpy(method_ + method_len_, p, run);
          method_len_ = static_cast<uint8_t>(method_len_ + run);
        }
        method_total_ += static_cast<uint32_t>(run);
        p = q;
        if (p == end) break;
        // A lone word is not a request line: 400, not an unknown method.
        if (*p != ' ') TSGI_FAIL(HttpError::kBadRequest);
        // Methods are case-sensitive (RFC 9110 section 9.1). CONNECT asks
        // for a tunnel, which a gateway to applications does not offer.
        if (!long_method_ && method_len_ == 7 &&
            __builtin_memcmp(method_, "CONNECT", 7) == 0) {
          TSGI_FAIL(HttpError::kNotImplemented);
        }
        // "*" is the target of OPTIONS, and of PRI in the HTTP/2 preface
        // (refused with 505 at its version).
        asterisk_ok_ =
            !long_method_ &&
            ((method_len_ == 7 && __builtin_memcmp(method_, "OPTIONS", 7) == 0) ||
             (method_len_ == 3 && __builtin_memcmp(method_, "PRI", 3) == 0));
        // An unknown method, or one longer than any known, is refused once
        // the request line has proved well-formed (kRequestLineLf): 501,
        // RFC 9110 section 15.6.2.
        method_id_ = long_method_ ? -1 : lookup_(method_, method_len_);
        state_ = State::kTargetStart;
        p++;
        break;
      }
      case State::kTargetStart:
        // RFC 9112 section 3.2: origin-form, absolute-form or (OPTIONS
        // only) asterisk-form; authority-form belongs to CONNECT.
        target_len_ = 1;
        target_off_ = TSGI_POS(p);
        if (limits.max_url_size == 0) TSGI_FAIL(HttpError::kUriTooLong);
        if (c == '/') {
          state_ = State::kTarget;
        } else if (c == '*' && asterisk_ok_) {
          state_ = State::kTargetAsterisk;
        } else if (IsAlpha(c)) {
          state_ = State::kTargetScheme;
        } else {
          TSGI_FAIL(HttpError::kBadRequest);
        }
        p++;
        break;
      case State::kTargetScheme:
        if (c == ':') {
          state_ = State::kTarget;
        } else if (!Is(c, kScheme)) {
          TSGI_FAIL(HttpError::kBadRequest);
        }
        if (++target_len_ > limits.max_url_size) {
          TSGI_FAIL(HttpError::kUriTooLong);
        }
        p++;
        break;
      case State::kTarget: {
        const unsigned char* q = SkipTargetWords(p, end);
        while (q < end && Is(*q, kTarget)) q++;
        const size_t run = static_cast<size_t>(q - p);
        if (run > limits.max_url_size - target_len_) {
          p += limits.max_url_size - target_len_;
          TSGI_FAIL(HttpError::kUriTooLong);
        }
        target_len_ += static_cast<uint32_t>(run);
        p = q;
        if (p == end) break;
        // A fragment, SP inside, CTL, non-ASCII or another byte outside
        // RFC 3986: not a request-target (RFC 9112 section 3.2).
        if (*p != ' ') TSGI_FAIL(HttpError::kBadRequest);
        state_ = State::kVersion;
        p++;
        break;
      }
      case State::kTargetAsterisk:
        if (c != ' ') TSGI_FAIL(HttpError::kBadRequest);
        state_ = State::kVersion;
        p++;
        break;
      case State::kVersion:
        // The common case in one step: "HTTP/1.1" or "HTTP/1.0" and CRLF.
        if (literal_pos_ == 0 && end - p >= 10 &&
            __builtin_memcmp(p, "HTTP/1.", 7) == 0 &&
            (p[7] == '1' || p[7] == '0') && p[8] == '\r' && p[9] == '\n') {
          version_major_ = 1;
          version_minor_ = static_cast<uint8_t>(p[7] - '0');
          p += 9;  // up to the LF, which judges the method as below
          if (method_id_ < 0) TSGI_FAIL(HttpError::kNotImplemented);
          state_ = State::kFieldStart;
          p++;
          break;
        }
        // HTTP-name is case-sensitive (RFC 9112 section 2.3).
        if (c != static_cast<unsigned char>(kHttpLiteral[literal_pos_])) {
          TSGI_FAIL(HttpError::kBadRequest);
        }
        if (++literal_pos_ == sizeof(kHttpLiteral) - 1) {
          state_ = State::kVersionMajor;
        }
        p++;
        break;
      case State::kVersionMajor:
        if (!IsDigit(c)) TSGI_FAIL(HttpError::kBadRequest);
        version_major_ = static_cast<uint8_t>(c - '0');
        state_ = State::kVersionDot;
        p++;
        break;
      case State::kVersionDot:
        if (c != '.') TSGI_FAIL(HttpError::kBadRequest);
        state_ = State::kVersionMinor;
        p++;
        break;
      case State::kVersionMinor:
        if (!IsDigit(c)) TSGI_FAIL(HttpError::kBadRequest);
        version_minor_ = static_cast<uint8_t>(c - '0');
        state_ = State::kRequestLineCr;
        p++;
        break;
      case State::kRequestLineCr:
        if (c != '\r') TSGI_FAIL(HttpError::kBadRequest);
        // Only now is the version known to be well-formed. This server
        // speaks HTTP/1.0 and HTTP/1.1 (RFC 9110 section 15.6.6); the
        // HTTP/2 preface "PRI * HTTP/2.0" ends here too.
        if (version_major_ != 1 || version_minor_ > 1) {
          TSGI_FAIL(HttpError::kVersionNotSupported);
        }
        state_ = State::kRequestLineLf;
        p++;
        break;
      case State::kRequestLineLf:
        if (c != '\n') TSGI_FAIL(HttpError::kBadRequest);  // bare CR
        if (method_id_ < 0) TSGI_FAIL(HttpError::kNotImplemented);
        state_ = State::kFieldStart;
        p++;
        break;

      // ---- Field lines (RFC 9112 section 5), head and trailers ----------
      case State::kFieldStart:
        if (c == '\r') {
          if (!CountFieldByte(1)) TSGI_FAIL(HttpError::kHeaderFieldsTooLarge);
          state_ = State::kSectionLf;
          p++;
          break;
        }
        // SP or HTAB here is obs-fold (section 5.2) or whitespace after the
        // start line (section 2.2); ':' an empty name: all rejected.
        if (!Is(c, kTchar)) TSGI_FAIL(HttpError::kBadRequest);
        if (field_count_ >= limits.max_header_count) {
          TSGI_FAIL(HttpError::kHeaderFieldsTooLarge);
        }
        field_count_++;
        name_len_ = 0;
        name_off_ = TSGI_POS(p);
        trailer_forbidden_ = false;
        state_ = State::kFieldName;
        break;
      case State::kFieldName: {
        const unsigned char* q = SkipNameRun(p, end);
        while (q < end && Is(*q, kTchar)) q++;
        const size_t run = static_cast<size_t>(q - p);
        if (trailers_) {
          for (size_t i = 0; i < run; i++) {
            if (name_len_ + i < sizeof(trailer_name_)) {
              trailer_name_[name_len_ + i] = Lower(static_cast<char>(p[i]));
            }
          }
        }
        if (run > FieldRoom()) {
          // Stop exactly at the budget, whatever the size of this read.
          p += FieldRoom();
          TSGI_FAIL(HttpError::kHeaderFieldsTooLarge);
        }
        name_len_ += static_cast<uint32_t>(run);
        CountFieldByte(run);
        p = q;
        if (p == end) break;
        // No whitespace between name and colon (section 5.1).
        if (*p != ':') TSGI_FAIL(HttpError::kBadRequest);
        if (trailers_ && name_len_ <= sizeof(trailer_name_)) {
          // Framing fields cannot be trailers (RFC 9110 section 6.5.1).
          if (EqualsLower(trailer_name_, name_len_, "content-length") ||
              EqualsLower(trailer_name_, name_len_, "transfer-encoding")) {
            TSGI_FAIL(HttpError::kBadRequest);
          }
          if (EqualsLower(trailer_name_, name_len_, "connection")) {
            trailer_connection_ = true;
          }
        }
        if (!CountFieldByte(1)) TSGI_FAIL(HttpError::kHeaderFieldsTooLarge);
        value_off_ = kNoValue;
        state_ = State::kFieldValue;
        p++;
        break;
      }
      case State::kFieldValue: {
        const unsigned char* q = SkipValueRun(p, end);
        while (q < end && Is(*q, kValue)) q++;
        const size_t run = static_cast<size_t>(q - p);
        if (run > FieldRoom()) {
          p += FieldRoom();
          TSGI_FAIL(HttpError::kHeaderFieldsTooLarge);
        }
        CountFieldByte(run);
        if (run != 0 && !trailers_) {
          // The value is what lies between OWS (RFC 9110 section 5.5).
          const unsigned char* first = p;
          if (value_off_ == kNoValue) {
            while (first < q && (*first == ' ' || *first == '\t')) first++;
            if (first < q) value_off_ = value_end_ = TSGI_POS(first);
          }
          if (value_off_ != kNoValue) {
            const unsigned char* last = q - 1;
            while (last > first && IsWs(*last)) last--;
            if (!IsWs(*last)) value_end_ = TSGI_POS(last) + 1;
          }
        }
        p = q;
        if (p == end) break;
        // CTL, NUL, DEL or a bare LF in a value (RFC 9110 section 5.5).
        if (*p != '\r') TSGI_FAIL(HttpError::kBadRequest);
        if (!CountFieldByte(1)) TSGI_FAIL(HttpError::kHeaderFieldsTooLarge);
        if (!trailers_) {
          if (value_off_ == kNoValue) value_off_ = value_end_ = TSGI_POS(p);
          if (!AddSpan()) TSGI_FAIL(HttpError::kHeaderFieldsTooLarge);
        }
        state_ = State::kFieldLf;
        p++;
        break;
      }
      case State::kFieldLf:
        if (c != '\n') TSGI_FAIL(HttpError::kBadRequest);  // bare CR
        if (!CountFieldByte(1)) TSGI_FAIL(HttpError::kHeaderFieldsTooLarge);
        state_ = State::kFieldStart;
        p++;
        break;
      case State::kSectionLf:
        if (c != '\n') TSGI_FAIL(HttpError::kBadRequest);
        if (!CountFieldByte(1)) TSGI_FAIL(HttpError::kHeaderFieldsTooLarge);
        p++;
        state_ = State::kStart;
        empty_lines_ = 0;
        if (trailers_) {
          trailers_ = false;
          phase_ = Phase::kHead;
          completed_++;
          event = Event::kMessageEnd;
        } else {
          phase_ = Phase::kAwaitBody;
          head_size_ = TSGI_POS(p);
          event = Event::kHeadEnd;
        }
        *consumed = static_cast<size_t>(p - begin);
        return event;

      // ---- Content-Length body (RFC 9112 section 6.2) -------------------
      case State::kBodyLength: {
        const size_t avail = static_cast<size_t>(end - p);
        if (remaining_ > avail) {
          remaining_ -= avail;
          body_length_ = avail;
          *consumed = length;
          return Event::kBody;
        }
        body_length_ = static_cast<size_t>(remaining_);
        p += remaining_;
        remaining_ = 0;
        phase_ = Phase::kHead;
        state_ = State::kStart;
        completed_++;
        *consumed = static_cast<size_t>(p - begin);
        return Event::kBodyLast;
      }

      // ---- Chunked body (RFC 9112 section 7.1) --------------------------
      case State::kChunkSize:
        if (Is(c, kHex)) {
          // 16 hex digits fill 64 bits; a longer size overflows.
          if ((chunk_size_ >> 60) != 0) TSGI_FAIL(HttpError::kBadRequest);
          chunk_size_ = (chunk_size_ << 4) | static_cast<uint64_t>(HexValue(c));
          chunk_digits_++;
          p++;
          break;
        }
        if (chunk_digits_ == 0) TSGI_FAIL(HttpError::kBadRequest);
        if (c == ';' || IsWs(c)) {
          // chunk-ext, from its first byte (BWS or ";") to the CR.
          state_ = State::kChunkExtBws;
          break;
        }
        if (c != '\r') {
          // "0x", a bare LF: not a chunk-size line.
          TSGI_FAIL(HttpError::kBadRequest);
        }
        state_ = State::kChunkSizeLf;
        p++;
        break;
      // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ),
      // ext-val = token / quoted-string (RFC 9112 section 7.1.1). This
      // server knows no extension, so all are ignored: checked and skipped,
      // never shown to the application. Bounded per chunk-size line.
      case State::kChunkExtBws:
      case State::kChunkExtNameStart:
      case State::kChunkExtName:
      case State::kChunkExtAfterName:
      case State::kChunkExtValueStart:
      case State::kChunkExtToken:
      case State::kChunkExtQuoted:
      case State::kChunkExtQuotedPair:
      case State::kChunkExtAfterQuoted: {
        if (c == '\r' && (state_ == State::kChunkExtName ||
                          state_ == State::kChunkExtToken ||
                          state_ == State::kChunkExtAfterQuoted)) {
          state_ = State::kChunkSizeLf;
          p++;
          break;
        }
        if (ext_bytes_ >= limits.max_chunk_ext_size) {
          TSGI_FAIL(HttpError::kExtensionTooLarge);
        }
        ext_bytes_++;
        if (!ChunkExtStep(c)) TSGI_FAIL(HttpError::kBadRequest);
        p++;
        break;
      }
      case State::kChunkSizeLf:
        if (c != '\n') TSGI_FAIL(HttpError::kBadRequest);  // bare CR
        if (chunk_size_ == 0) {
          // last-chunk: a trailer section follows, with its own budget.
          trailers_ = true;
          field_bytes_ = 0;
          field_count_ = 0;
          state_ = State::kFieldStart;
          p++;
          break;
        }
        // 413 before a byte of the chunk is read (RFC 9110 section 15.5.14).
        if (chunk_size_ > limits.max_body_size - body_total_) {
          TSGI_FAIL(HttpError::kContentTooLarge);
        }
        body_total_ += chunk_size_;
        remaining_ = chunk_size_;
        state_ = State::kChunkData;
        p++;
        break;
      case State::kChunkData: {
        const size_t avail = static_cast<size_t>(end - p);
        if (remaining_ > avail) {
          remaining_ -= avail;
          body_length_ = avail;
          *consumed = length;
          return Event::kBody;
        }
        body_length_ = static_cast<size_t>(remaining_);
        p += remaining_;
        remaining_ = 0;
        state_ = State::kChunkDataCr;
        *consumed = static_cast<size_t>(p - begin);
        return Event::kBody;
      }
      case State::kChunkDataCr:
        // Chunk data is followed by exactly CRLF: anything else means the
        // sender and this server disagree on the chunk's length.
        if (c != '\r') TSGI_FAIL(HttpError::kBadRequest);
        state_ = State::kChunkDataLf;
        p++;
        break;
      case State::kChunkDataLf:
        if (c != '\n') TSGI_FAIL(HttpError::kBadRequest);
        chunk_size_ = 0;
        chunk_digits_ = 0;
        ext_bytes_ = 0;
        state_ = State::kChunkSize;
        p++;
        break;
    }
  }
#undef TSGI_FAIL
#undef TSGI_POS
  *consumed = length;
  // A head continues in the next input: its positions go on from here.
  if (in_head()) bias_ += static_cast<int64_t>(length);
  return Event::kNeedMore;
}

// One byte of a chunk extension other than the CR ending it: moves state_
// on; false when the byte breaks the grammar.
bool StrictScanner::ChunkExtStep(unsigned char c) {
  switch (state_) {
    case State::kChunkExtBws:
      if (c == ';') {
        state_ = State::kChunkExtNameStart;
        return true;
      }
      return IsWs(c);
    case State::kChunkExtNameStart:
      if (IsWs(c)) return true;
      state_ = State::kChunkExtName;
      return Is(c, kTchar);
    case State::kChunkExtName:
    case State::kChunkExtAfterName:
      if (c == '=') {
        state_ = State::kChunkExtValueStart;
      } else if (c == ';') {
        state_ = State::kChunkExtNameStart;
      } else if (IsWs(c)) {
        state_ = State::kChunkExtAfterName;
      } else {
        return state_ == State::kChunkExtName && Is(c, kTchar);
      }
      return true;
    case State::kChunkExtValueStart:
      if (IsWs(c)) return true;
      if (c == '"') {
        state_ = State::kChunkExtQuoted;
        return true;
      }
      state_ = State::kChunkExtToken;
      return Is(c, kTchar);
    case State::kChunkExtToken:
      if (c == ';') {
        state_ = State::kChunkExtNameStart;
      } else if (IsWs(c)) {
        state_ = State::kChunkExtBws;
      } else {
        return Is(c, kTchar);
      }
      return true;
    case State::kChunkExtQuoted:
      if (c == '"') {
        state_ = State::kChunkExtAfterQuoted;
      } else if (c == '\\') {
        state_ = State::kChunkExtQuotedPair;
      } else {
        return Is(c, kQdtext);
      }
      return true;
    case State::kChunkExtQuotedPair:
      // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
      state_ = State::kChunkExtQuoted;
      return c == '\t' || (c >= 0x20 && c != 0x7f);
    case State::kChunkExtAfterQuoted:
      if (c == ';') {
        state_ = State::kChunkExtNameStart;
        return true;
      }
      state_ = State::kChunkExtBws;
      return IsWs(c);
    default:
      return false;
  }
}

void StrictScanner::BeginBody(bool chunked, uint64_t content_length) {
  trailer_connection_ = false;  // of this message's trailers only
  if (phase_ != Phase::kAwaitBody) return;
  body_total_ = 0;
  ext_bytes_ = 0;
  if (chunked) {
    phase_ = Phase::kBody;
    chunk_size_ = 0;
    chunk_digits_ = 0;
    state_ = State::kChunkSize;
  } else if (content_length > 0) {
    phase_ = Phase::kBody;
    remaining_ = content_length;
    state_ = State::kBodyLength;
  } else {
    phase_ = Phase::kHead;
    state_ = State::kStart;
    completed_++;
  }
}

}  // namespace tsgi
