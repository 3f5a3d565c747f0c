// parser.h: Parser, one llhttp request parser per connection, which collects
// the request head (RFC 9112 sections 3 and 5) into per-connection storage
// and reports heads, body bytes and message ends to a ParserDelegate.
// Free of Node-API and libuv so that it can be built alone (fuzzing).
#ifndef TSGI_PARSER_H_
#define TSGI_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "byte_buffer.h"
#include "errors.h"
#include "llhttp.h"
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

// A complete request head. Everything points into the Parser's storage and
// is valid only during ParserDelegate::OnHead.
struct ParsedHead {
  int method;      // llhttp_method_t
  int32_t flags;   // RequestFlags
  const char* bytes;
  uint32_t size;   // bytes[0, size) holds the URL, names and values
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
  // `keep_alive` is llhttp_should_keep_alive for the message.
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

  // Parses `length` bytes. Callbacks run synchronously; nothing of `data`
  // is referenced after Execute returns (partial heads are copied into the
  // parser's own storage as they arrive). After kError, error() says what
  // response the peer deserves; after kStopped or kError the parser must
  // not be fed again on this connection.
  Result Execute(const char* data, size_t length);

  HttpError error() const { return error_; }
  // True between the first byte of a message and its end (also while the
  // first bytes of a method wait in held_, before llhttp has them).
  bool in_message() const { return in_message_ || !held_.empty(); }
  // True between a Head and the end of its body.
  bool in_body() const { return in_body_; }

 private:
  static int OnMessageBeginCb(llhttp_t* p);
  static int OnUrlCb(llhttp_t* p, const char* at, size_t length);
  static int OnHeaderFieldCb(llhttp_t* p, const char* at, size_t length);
  static int OnHeaderFieldCompleteCb(llhttp_t* p);
  static int OnHeaderValueCb(llhttp_t* p, const char* at, size_t length);
  static int OnHeadersCompleteCb(llhttp_t* p);
  static int OnBodyCb(llhttp_t* p, const char* at, size_t length);
  static int OnMessageCompleteCb(llhttp_t* p);

  static const llhttp_settings_t* Settings();
  static Parser* From(llhttp_t* p) { return static_cast<Parser*>(p->data); }

  int Fail(HttpError error);
  Result Feed(const char* data, size_t length);
  bool AppendHead(const char* at, size_t length);
  // Empties the head and spans and gives their blocks back.
  void ReleaseHead();
  void DropHeld();
  HttpError MapErrno(llhttp_errno_t err) const;

  llhttp_t llhttp_;
  StrictScanner scanner_;
  ParserDelegate* delegate_ = nullptr;
  const Limits* limits_ = nullptr;

  // The current head: URL, then each name and value, back to back. The
  // capacity lives as long as the connection slot.
  ByteBuffer head_;
  // HeaderSpan records of the head being parsed, header_count_ of them.
  ByteBuffer spans_;
  // Accepted bytes the scanner holds back from llhttp until it can tell
  // (StrictScanner::Event::kHold): empty but between two reads of a head.
  ByteBuffer held_;
  HeaderSpan* spans() { return reinterpret_cast<HeaderSpan*>(spans_.data()); }
  uint32_t header_count_ = 0;
  uint32_t url_len_ = 0;
  uint32_t begun_ = 0;       // messages llhttp began and completed, to
  uint32_t completed_ = 0;   // compare with the scanner's counts
  uint64_t body_bytes_ = 0;
  bool in_field_ = false;     // the last piece was part of a header name
  bool in_message_ = false;
  bool in_head_ = false;
  bool in_body_ = false;
  bool stopped_ = false;      // a delegate callback returned non-zero
  bool method_refused_ = false;  // llhttp refused the method (see Feed)
  HttpError error_ = HttpError::kNone;
};

}  // namespace tsgi

#endif  // TSGI_PARSER_H_
