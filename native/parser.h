// parser.h: Parser, the request parser of one connection: the
// StrictScanner's one pass over each read, the head's bytes kept where a
// head spans reads, the semantic checks of a complete head, and heads, body
// bytes and message ends reported to a ParserDelegate (RFC 9112 sections
// 2-7). Free of Node-API and libuv so that it can be built alone (fuzzing).
#ifndef TSGI_PARSER_H_
#define TSGI_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "byte_buffer.h"
#include "errors.h"
#include "strict.h"

namespace tsgi {

// Request flags of a Head record: V(enumerator, name in Rf of
// src/native/binding.ts, value). Exported by addon.cc and checked by
// binding.ts at load (ARCHITECTURE.md, "The C++/TS contract").
#define TSGI_REQUEST_FLAGS(V)                    \
  V(kRfHttp10, Http10, 1 << 0)                   \
  V(kRfKeepAlive, KeepAlive, 1 << 1)             \
  V(kRfHasBody, HasBody, 1 << 2)                 \
  V(kRfChunked, Chunked, 1 << 3)                 \
  V(kRfExpectContinue, ExpectContinue, 1 << 4)   \
  V(kRfHead, Head, 1 << 5)

enum RequestFlags : int32_t {
#define TSGI_ENUM(name, js, value) name = value,
  TSGI_REQUEST_FLAGS(TSGI_ENUM)
#undef TSGI_ENUM
};

// The flags word of a Head record also carries llhttp's method number,
// from this bit up (the flags above use the bits below it), so that the
// word JS passes back to respond() says which method is answered (the
// request counters of metrics.h). Exported as `requestMethodShift`.
constexpr int kRfMethodShift = 8;

// A complete request head. Everything points into the input given to
// Parser::Execute or into the Parser's storage, and is valid only during
// ParserDelegate::OnHead.
struct ParsedHead {
  int method;      // llhttp's number for it (llhttp.h, HTTP_METHOD_MAP)
  int32_t flags;   // RequestFlags
  const char* bytes;
  uint32_t size;   // bytes[0, size) is the head as received, request line
                   // to the final CRLF
  uint32_t url_off;
  uint32_t url_len;
  const HeaderSpan* headers;
  uint32_t header_count;
};

class ParserDelegate {
 public:
  // Each returns 0 to go on. A non-zero return stops the parser at once
  // (Parser::Execute then returns kStopped); the delegate knows why.
  virtual int OnHead(const ParsedHead& head) = 0;
  // Body bytes (de-chunked), pointing into the buffer given to Execute.
  virtual int OnBody(const char* at, size_t length) = 0;
  // `keep_alive`: the connection may persist after this message (RFC
  // 9112 section 9.3: HTTP/1.1 without "close", HTTP/1.0 with
  // "keep-alive" and without "close").
  virtual int OnMessageComplete(bool keep_alive) = 0;

 protected:
  ~ParserDelegate() = default;
};

class Parser {
 public:
  enum class Result { kOk, kStopped, kError };

  Parser() = default;
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Starts a new connection. `limits` (and `pool`, if any) must outlive
  // the parser's use. The head bytes and header spans take their blocks
  // from `pool` when a head begins and give them back once the delegate has
  // taken the head (OnHead): a connection between requests holds neither.
  void Reset(ParserDelegate* delegate, const Limits* limits,
             BufferPool* pool = nullptr);

  // Between messages, not stopped, no error, no head bytes kept: Reset()
  // would change nothing that matters, so the parser may go to another
  // connection of the same Server with only Rebind() (exchange.h).
  bool AtRest() const {
    return !stopped_ && error_ == HttpError::kNone && scanner_.at_rest() &&
           head_.capacity() == 0 && spans_.capacity() == 0;
  }
  // A parser AtRest() goes on for `delegate` (the connection taking it).
  void Rebind(ParserDelegate* delegate) { delegate_ = delegate; }

  // Parses `length` bytes. Callbacks run synchronously; nothing of `data`
  // is referenced after Execute returns (a partial head is copied into the
  // parser's own storage; a head within one input is handed over where it
  // lies). After kError, error() says what response the peer deserves;
  // after kStopped or kError the parser must not be fed again on this
  // connection.
  Result Execute(const char* data, size_t length);

  HttpError error() const { return error_; }
  // True between the first byte of a message and its end.
  bool in_message() const { return scanner_.in_message(); }
  // True between a Head and the end of its body.
  bool in_body() const { return scanner_.in_body(); }

 private:
  Result Fail(HttpError error);
  // A head ended at data[n - 1].
  Result HeadEnd(const char* data, size_t n);
  Result Complete();
  // Empties the head and spans and gives their blocks back.
  void ReleaseHead();

  StrictScanner scanner_;
  ParserDelegate* delegate_ = nullptr;
  const Limits* limits_ = nullptr;

  // The bytes of a head that spans reads, as they arrive; empty for a head
  // within one read. The capacity goes back to the pool after each head.
  ByteBuffer head_;
  // The HeaderSpan records of the head being scanned (StrictScanner).
  ByteBuffer spans_;
  bool keep_alive_ = false;   // of the message being received
  bool stopped_ = false;      // a delegate callback returned non-zero
  HttpError error_ = HttpError::kNone;
};

}  // namespace tsgi

#endif  // TSGI_PARSER_H_
