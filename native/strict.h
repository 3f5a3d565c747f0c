// strict.h: StrictScanner, the one pass over every request byte: it checks
// the byte rules of RFC 9112 (sections 2-7) and the size limits, records
// where the target, each field name and each field value are, and frames
// the body. The semantic rules for a complete head are head_check.h's.
//
// Why its own: the server must be strict whatever llhttp it is built
// against. llhttp 8.1.0 (Debian 12) accepts bare LF line ends, obs-fold,
// whitespace before the colon, empty field names, fragments and non-ASCII
// bytes in the target, HTTP/0.9 and HTTP/2.0 version strings, chunk data
// not followed by CRLF, Content-Length in trailers and more; this scanner
// refuses them. llhttp stays the second opinion on framing: the fuzz
// harness (fuzz/parser_fuzzer.cc) parses every input with both and fails
// when they frame a message differently or llhttp refuses one this
// scanner accepts (ARCHITECTURE.md, "The path of a request").
//
// Free of Node-API, libuv and llhttp: it builds alone for fuzzing.
#ifndef TSGI_STRICT_H_
#define TSGI_STRICT_H_

#include <cstddef>
#include <cstdint>

#include "byte_buffer.h"
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

// Longest method token kept; every method llhttp knows is shorter. A longer
// one is an unknown method: 501 once the request line proves well-formed.
constexpr uint32_t kMaxMethodLength = 32;
// Empty lines (CRLF) tolerated before a request line (RFC 9112 section 2.2).
constexpr uint32_t kMaxLeadingEmptyLines = 8;

// Offsets of one header field into a head's bytes (ParsedHead::bytes).
struct HeaderSpan {
  uint32_t name_off;
  uint32_t name_len;
  uint32_t value_off;  // OWS around the value is not part of it
  uint32_t value_len;  // (RFC 9110 section 5.5)
};

// The number of a method (llhttp's, so that JS names it from llhttp's
// table), or -1 for one this server does not know. Supplied by the Parser.
using MethodLookup = int (*)(const char* method, size_t length);

// Scans the bytes of a connection in order, one message after another. It
// keeps no pointer into the input; its state is a few integers and the
// spans of the head being scanned, so a message may arrive in any number
// of pieces.
//
// Positions in a head count from its first byte (the method's), whatever
// reads it came in: the caller keeps the head's bytes (head_start() says
// where they begin in the input of each Scan) and finds the target and the
// fields at the positions recorded.
//
// Protocol with the caller (Parser::Execute):
//   Scan() stops after the final LF of a head (kHeadEnd), after a run of
//   body bytes (kBody; kBodyLast when they end the message: its
//   Content-Length is complete), after the last byte of a chunked message
//   (kMessageEnd), in front of the first byte that breaks a rule (kError;
//   error() says which response), or at the end of the input (kNeedMore).
//   The body bytes of kBody/kBodyLast are the last body_length() of those
//   consumed. After kHeadEnd the caller must call BeginBody() with the
//   framing its semantic check decided before scanning on. After kError
//   every later Scan() returns kError and consumes nothing.
class StrictScanner {
 public:
  enum class Event : uint8_t {
    kNeedMore,
    kHeadEnd,
    kBody,
    kBodyLast,
    kMessageEnd,
    kError,
  };

  // `spans` receives the HeaderSpan of each field of a head (the caller
  // empties it after each head); `lookup` names methods.
  void Reset(const Limits* limits, ByteBuffer* spans, MethodLookup lookup);

  // `*consumed` is the number of leading bytes of data that were accepted.
  Event Scan(const char* data, size_t length, size_t* consumed);

  // Body framing for the message whose head just ended: a chunked body, or
  // `content_length` bytes (0: no body, the message is complete at once).
  void BeginBody(bool chunked, uint64_t content_length);

  HttpError error() const { return error_; }
  // Inside a request line (also after kError: where the offending byte
  // was). Until the line is known to be well-formed, an unknown method is
  // not yet a 501 (RFC 9110 section 15.6.2).
  bool in_request_line() const {
    return state_ >= State::kMethod && state_ <= State::kRequestLineLf;
  }
  // Between the end of a head and the end of its message.
  bool in_body() const {
    return phase_ == Phase::kBody || phase_ == Phase::kAwaitBody;
  }
  // Between the first byte of a message (its method's) and its end.
  bool in_message() const {
    return phase_ != Phase::kHead ||
           (state_ != State::kStart && state_ != State::kStartLf);
  }
  // The trailer section of the message being read (or just ended) has a
  // Connection field. A sender must not send one there (RFC 9110 section
  // 6.5.1); the connection is closed after the message rather than kept
  // on a field the head did not say (llhttp and node:http close too).
  bool trailer_connection() const { return trailer_connection_; }
  // Between messages with nothing of the next one seen, not even an empty
  // line: the state Reset() leaves (but for the message counters), so a
  // parser here may serve another connection (exchange.h).
  bool at_rest() const {
    return phase_ == Phase::kHead && state_ == State::kStart &&
           empty_lines_ == 0;
  }
  // Inside a head whose first byte came in an earlier Scan().
  bool in_head() const { return phase_ == Phase::kHead && in_message(); }
  // Where the current head's bytes begin in the input of the last Scan()
  // (0 when the head began in an earlier one).
  size_t head_start() const { return head_start_; }

  // What the last kHeadEnd found (positions in the head).
  uint32_t head_size() const { return head_size_; }
  uint32_t target_off() const { return target_off_; }
  uint32_t target_len() const { return target_len_; }
  uint32_t field_count() const { return field_count_; }
  int method() const { return method_id_; }
  bool http10() const { return version_minor_ == 0; }
  // Body bytes at the end of the last kBody/kBodyLast.
  size_t body_length() const { return body_length_; }
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
  bool AddSpan();
  bool ChunkExtStep(unsigned char c);
  bool CountFieldByte(size_t n);
  size_t FieldRoom() const;

  const Limits* limits_ = nullptr;
  ByteBuffer* spans_ = nullptr;
  MethodLookup lookup_ = nullptr;
  // Position of a byte of the current head = its offset in Scan's input
  // + bias_ (the head's bytes of earlier Scans minus where it begins).
  int64_t bias_ = 0;
  size_t head_start_ = 0;
  size_t body_length_ = 0;
  uint32_t head_size_ = 0;
  uint32_t target_off_ = 0;
  uint32_t name_off_ = 0;
  // The value being scanned: where its first and after its last non-OWS
  // byte are; value_off_ is kNoValue until a non-OWS byte is seen.
  uint32_t value_off_ = 0;
  uint32_t value_end_ = 0;
  int method_id_ = -1;
  Phase phase_ = Phase::kHead;
  State state_ = State::kStart;
  bool trailers_ = false;        // the field section is a trailer section
  bool trailer_forbidden_ = false;
  bool trailer_connection_ = false;
  HttpError error_ = HttpError::kNone;
  uint8_t literal_pos_ = 0;      // position in "HTTP/"
  uint8_t version_major_ = 0;
  uint8_t version_minor_ = 0;
  uint8_t method_len_ = 0;       // bytes kept in method_
  bool asterisk_ok_ = false;    // OPTIONS or PRI
  bool long_method_ = false;    // longer than kMaxMethodLength: 501
  uint32_t method_total_ = 0;    // bytes of the method token
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

}  // namespace tsgi

#endif  // TSGI_STRICT_H_
