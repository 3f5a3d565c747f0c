// strict.h: StrictScanner, a byte-level validator run over every request
// byte before llhttp sees it, and CheckHead, the semantic rules for a
// complete head (RFC 9112 sections 2-7, RFC 9110 sections 5, 7.2, 8.6, 10.1.1).
//
// Why: the server must be strict whatever llhttp it is built against.
// llhttp 8.1.0 (Debian 12) accepts bare LF line ends, obs-fold, whitespace
// before the colon, empty field names, fragments and non-ASCII bytes in the
// target, HTTP/0.9 and HTTP/2.0 version strings, chunk data not followed by
// CRLF, Content-Length in trailers and more. The scanner rejects all of
// these on its own; llhttp then parses bytes the scanner has accepted, and
// the Parser checks that both agree on where every message starts and ends.
//
// Free of Node-API, libuv and llhttp: it builds alone for fuzzing.
#ifndef TSGI_STRICT_H_
#define TSGI_STRICT_H_

#include <cstddef>
#include <cstdint>

#include "errors.h"

namespace tsgi {

// The request limits of a Server. Every value comes from JS
// (src/settings.ts has the defaults and ranges; C++ keeps none).
struct Limits {
  uint32_t max_url_size;
  uint32_t max_header_size;
  uint32_t max_header_count;
  uint64_t max_body_size;
  // The chunk extensions of one chunk-size line (RFC 9112 section 7.1.1),
  // whitespace included: 413 beyond. Not a setting of its own: JS derives
  // it (maxChunkExtensionSize) and passes it in.
  uint32_t max_chunk_ext_size;
};

// Longest method token kept (and held back from llhttp while it arrives in
// pieces); every method llhttp knows is shorter. A longer one is an unknown
// method: 501 once the request line proves well-formed.
constexpr uint32_t kMaxMethodLength = 32;
// Empty lines (CRLF) tolerated before a request line (RFC 9112 section 2.2).
constexpr uint32_t kMaxLeadingEmptyLines = 8;

// Scans the bytes of a connection in order, one message after another. It
// keeps no pointer into the input; its whole state is a few integers, so
// a message may arrive in any number of pieces.
//
// Protocol with the caller (Parser::Execute). Scan() accepts `*consumed`
// leading bytes and stops after the final LF of a head (kHeadEnd), after
// the last byte of a message (kMessageEnd), in front of the first byte that
// breaks a rule (kError; error() says which response), at the end of the
// input (kNeedMore), or where llhttp must not see what was accepted as it
// is. The last tail() of the accepted bytes are then kept from llhttp:
//   - kWithhold: for good (chunk extensions, which llhttp 8.1 parses more
//     strictly than RFC 9112 allows, and OWS ending a field value, which is
//     not part of it, RFC 9112 section 5.1); the held bytes, if any, too;
//   - kHold: for now (the input ends inside a method or inside whitespace
//     in a field value): the caller keeps them after those it already holds;
//   - kError: the bytes in front of the offending one that llhttp must not
//     get (a method that turned out malformed);
// and the first `*consumed - tail()` go to llhttp. kRelease (nothing
// consumed) asks the caller to give llhttp the held bytes now, before
// anything else, and to scan on: they were part of what follows. Cut
// anywhere, the same bytes thus give llhttp the same stream.
//   After kHeadEnd the caller must call BeginBody() with the framing its
// semantic check decided before scanning on. After kError every later
// Scan() returns kError and consumes nothing.
class StrictScanner {
 public:
  enum class Event : uint8_t {
    kNeedMore,
    kHeadEnd,
    kMessageEnd,
    kWithhold,
    kHold,
    kRelease,
    kError,
  };

  void Reset(const Limits* limits);

  // `*consumed` is the number of leading bytes of data that were accepted.
  Event Scan(const char* data, size_t length, size_t* consumed);

  // Body framing for the message whose head just ended: a chunked body, or
  // `content_length` bytes (0: no body, the message is complete at once).
  void BeginBody(bool chunked, uint64_t content_length);

  HttpError error() const { return error_; }
  // Accepted bytes at the end of the last Scan() kept from llhttp.
  size_t tail() const { return tail_; }
  // Inside a request line (also after kError: where the offending byte
  // was). Until the line is known to be well-formed, an unknown method is
  // not yet a 501 (RFC 9110 section 15.6.2).
  bool in_request_line() const {
    return state_ >= State::kMethod && state_ <= State::kRequestLineLf;
  }
  // Between the end of a head and the end of its message.
  bool in_body() const { return phase_ == Phase::kBody; }
  // Messages whose first byte was seen, and messages fully scanned.
  uint32_t messages_started() const { return started_; }
  uint32_t messages_completed() const { return completed_; }

 private:
  enum class Phase : uint8_t { kHead, kAwaitBody, kBody, kError };
  enum class State : uint8_t {
    kStart,            // before a request line (empty lines allowed)
    kStartLf,          // CR of an empty line seen
    kMethod,
    kTargetStart,
    kTargetScheme,     // absolute-form: scheme before ':'
    kTarget,
    kTargetAsterisk,   // "*" seen (OPTIONS, or PRI of the HTTP/2 preface)
    kVersion,          // inside the literal "HTTP/"
    kVersionMajor,
    kVersionDot,
    kVersionMinor,
    kRequestLineCr,
    kRequestLineLf,
    kFieldStart,       // start of a field line or of the final CRLF
    kFieldName,
    kFieldValue,
    kFieldLf,
    kSectionLf,        // CR of the empty line ending a field section
    kBodyLength,
    kChunkSize,
    // chunk-ext (RFC 9112 section 7.1.1), whitespace being BWS:
    kChunkExtBws,        // before ";" (after the size or a value)
    kChunkExtNameStart,  // after ";"
    kChunkExtName,
    kChunkExtAfterName,  // BWS after a name: "=" or ";" follows
    kChunkExtValueStart, // after "="
    kChunkExtToken,
    kChunkExtQuoted,
    kChunkExtQuotedPair,
    kChunkExtAfterQuoted,
    kChunkSizeLf,
    kChunkData,
    kChunkDataCr,
    kChunkDataLf,
  };

  Event Fail(HttpError error);
  bool ChunkExtStep(unsigned char c);
  bool CountFieldByte(size_t n);
  size_t FieldRoom() const;

  const Limits* limits_ = nullptr;
  Phase phase_ = Phase::kHead;
  State state_ = State::kStart;
  bool trailers_ = false;        // the field section is a trailer section
  bool trailer_forbidden_ = false;
  HttpError error_ = HttpError::kNone;
  uint8_t literal_pos_ = 0;      // position in "HTTP/"
  uint8_t version_major_ = 0;
  uint8_t version_minor_ = 0;
  uint8_t method_len_ = 0;       // bytes kept in method_
  bool asterisk_ok_ = false;    // OPTIONS or PRI
  bool long_method_ = false;    // longer than kMaxMethodLength: 501
  uint32_t method_total_ = 0;    // bytes of the method token
  uint32_t held_ = 0;            // accepted bytes the caller holds (kHold)
  size_t tail_ = 0;
  uint32_t empty_lines_ = 0;
  uint32_t target_len_ = 0;
  uint32_t field_bytes_ = 0;     // bytes of the current field section
  uint32_t field_count_ = 0;
  uint32_t name_len_ = 0;
  uint32_t started_ = 0;
  uint32_t completed_ = 0;
  uint32_t ext_bytes_ = 0;       // chunk-extension bytes of this line
  uint32_t chunk_digits_ = 0;
  uint64_t chunk_size_ = 0;
  uint64_t remaining_ = 0;       // body bytes left in this chunk or body
  uint64_t body_total_ = 0;      // declared chunk sizes so far
  // First bytes of a trailer field name, lower-cased, to refuse framing
  // fields in trailers (RFC 9110 section 6.5.1, RFC 9112 section 7.1.2).
  char trailer_name_[20];
  char method_[kMaxMethodLength];
};

// What CheckHead decides about a complete head.
struct HeadFacts {
  bool chunked = false;
  bool has_length = false;
  uint64_t content_length = 0;
  bool expect_continue = false;
};

// Offsets of one header field into a head's bytes (ParsedHead::bytes).
struct HeaderSpan {
  uint32_t name_off;
  uint32_t name_len;
  uint32_t value_off;  // OWS around the value is not part of it: llhttp
  uint32_t value_len;  // drops the leading, the scanner withholds the rest
};

// Semantic rules over a complete head whose bytes the scanner accepted:
// Content-Length (one field, 1*DIGIT, no overflow), Transfer-Encoding (not
// with Content-Length, not in HTTP/1.0, a token list ending in one
// "chunked"; other codings 501), Host (exactly one in HTTP/1.1, at most one
// in HTTP/1.0, uri-host [":" port]), Expect (only 100-continue, else 417).
// `spans` holds `count` fields pointing into `bytes`, values without OWS.
HttpError CheckHead(bool http10, const char* bytes, const HeaderSpan* spans,
                    uint32_t count, HeadFacts* facts);

// The request target beyond its bytes, which the scanner checked (RFC 3986
// characters, no fragment): an absolute-form target with an authority has a
// well-formed host and port and no userinfo (RFC 9110 section 4.2.4); an
// http or https one has a non-empty host (section 4.2.1).
HttpError CheckTarget(const char* target, uint32_t length);

}  // namespace tsgi

#endif  // TSGI_STRICT_H_
