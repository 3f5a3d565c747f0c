// errors.h: parse errors and the ready-made responses the server sends for
// them (RFC 9112 section 2.2 and RFC 9110 section 15). Each response closes
// the connection: after a malformed message the framing of anything that
// follows it cannot be trusted.
#ifndef TSGI_ERRORS_H_
#define TSGI_ERRORS_H_

#include <cstddef>
#include <cstdint>

namespace tsgi {

enum class HttpError : uint8_t {
  kNone = 0,
  kBadRequest,           // 400: malformed request line, header or chunk,
                         // ambiguous framing, missing or bad Host
  kContentTooLarge,      // 413: body longer than maxBodySize
  kUriTooLong,           // 414: request target longer than maxUrlSize
  kHeaderFieldsTooLarge, // 431: header section or header count over limits
  kNotImplemented,       // 501: unknown method, CONNECT, a transfer
                         // coding other than chunked before chunked
  kVersionNotSupported,  // 505: HTTP version other than 1.0 or 1.1
  kRequestTimeout,       // 408: head or body not received in time (timers.h)
  kExpectationFailed,    // 417: an Expect other than 100-continue
  kExtensionTooLarge,    // 413: chunk extensions of one chunk over their
                         // bound (Limits::max_chunk_ext_size)
};

// A ready-made response: the status line, then (written by Writer) Date,
// Content-Type, Content-Length, Connection: close, and `body`.
struct ReadyResponse {
  int code;
  const char* status_line;  // "HTTP/1.1 400 Bad Request\r\n"
  size_t status_line_len;
  const char* body;  // short text/plain explanation
  size_t body_len;
};

#define TSGI_READY(code, reason)                                         \
  {                                                                      \
    code, "HTTP/1.1 " #code " " reason "\r\n",                           \
        sizeof("HTTP/1.1 " #code " " reason "\r\n") - 1, reason "\n",     \
        sizeof(reason "\n") - 1                                          \
  }

inline const ReadyResponse& ReadyResponseFor(HttpError error) {
  // Indexed by HttpError; kNone maps to 400 so a caller bug still yields a
  // well-formed response.
  static constexpr ReadyResponse kTable[] = {
      TSGI_READY(400, "Bad Request"),
      TSGI_READY(400, "Bad Request"),
      TSGI_READY(413, "Content Too Large"),
      TSGI_READY(414, "URI Too Long"),
      TSGI_READY(431, "Request Header Fields Too Large"),
      TSGI_READY(501, "Not Implemented"),
      TSGI_READY(505, "HTTP Version Not Supported"),
      TSGI_READY(408, "Request Timeout"),
      TSGI_READY(417, "Expectation Failed"),
      TSGI_READY(413, "Content Too Large"),
  };
  size_t index = static_cast<size_t>(error);
  if (index >= sizeof(kTable) / sizeof(kTable[0])) index = 0;
  return kTable[index];
}

#undef TSGI_READY

}  // namespace tsgi

#endif  // TSGI_ERRORS_H_
