// errors.h: why a request is refused (HttpError), and the ready-made
// response that answers it. The responses are not written here: JS builds
// them from the table of refusals (src/gateway/refusals.ts), which also maps
// each HttpError to its status, and hands the bytes to each Server when it
// is constructed (ARCHITECTURE.md, "Ready-made refusals"). Each closes the
// connection: after a malformed message the framing of anything that
// follows it cannot be trusted (RFC 9112 section 2.2).
#ifndef TSGI_ERRORS_H_
#define TSGI_ERRORS_H_

#include <cstddef>
#include <cstdint>

namespace tsgi {

// V(enumerator, value, name exported to JS). The names are the keys of
// NATIVE_REFUSALS in src/gateway/refusals.ts; the values index the
// `refusals` option of the JS Server constructor.
#define TSGI_HTTP_ERRORS(V)                                                  \
  V(kNone, 0, none)                                                          \
  /* malformed request line, header or chunk, ambiguous framing, missing */  \
  /* or bad Host */                                                          \
  V(kBadRequest, 1, badRequest)                                              \
  /* body longer than maxBodySize, or chunk extensions over their bound */   \
  V(kContentTooLarge, 2, contentTooLarge)                                    \
  /* request target longer than maxUrlSize */                                \
  V(kUriTooLong, 3, uriTooLong)                                              \
  /* header section or header count over the limits */                       \
  V(kHeaderFieldsTooLarge, 4, headerFieldsTooLarge)                          \
  /* unknown method, CONNECT, a transfer coding other than chunked */        \
  V(kNotImplemented, 5, notImplemented)                                      \
  /* an HTTP version other than 1.0 or 1.1 */                                \
  V(kVersionNotSupported, 6, versionNotSupported)                            \
  /* head or body not received in time (timers.h) */                         \
  V(kRequestTimeout, 7, requestTimeout)                                      \
  /* an Expect other than 100-continue */                                    \
  V(kExpectationFailed, 8, expectationFailed)                                \
  /* the chunk extensions of one chunk over their bound */                   \
  /* (Limits::max_chunk_ext_size) */                                         \
  V(kExtensionTooLarge, 9, extensionTooLarge)

enum class HttpError : uint8_t {
#define TSGI_ENUM(name, value, js) name = value,
  TSGI_HTTP_ERRORS(TSGI_ENUM)
#undef TSGI_ENUM
};

#define TSGI_COUNT(name, value, js) +1
constexpr size_t kHttpErrorCount = 0 TSGI_HTTP_ERRORS(TSGI_COUNT);
#undef TSGI_COUNT

// The values are 0, 1, 2... in order: they index tables of responses.
constexpr bool HttpErrorsAreDense() {
#define TSGI_VALUE(name, value, js) value,
  constexpr int kValues[] = {TSGI_HTTP_ERRORS(TSGI_VALUE)};
#undef TSGI_VALUE
  for (size_t i = 0; i < kHttpErrorCount; i++) {
    if (kValues[i] != static_cast<int>(i)) return false;
  }
  return true;
}
static_assert(HttpErrorsAreDense(), "HttpError values must be 0, 1, 2...");

// A ready-made response, split around the Date line the Server inserts:
// `head` is the status line with its CRLF, `tail` the other header lines,
// the empty line and the body. The bytes belong to the Server that received
// them (Server::ready_), which outlives every use.
struct ReadyResponse {
  const char* head;
  size_t head_len;
  const char* tail;
  size_t tail_len;
};

}  // namespace tsgi

#endif  // TSGI_ERRORS_H_
