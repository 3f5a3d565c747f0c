// head_check.h: CheckHead, the semantic rules for a complete head (RFC 9110
// sections 5, 7.2, 7.6.1, 8.6, 10.1.1), and CheckTarget, those for an
// absolute-form target, over what StrictScanner accepted and recorded.
// Free of Node-API, libuv and llhttp: it builds alone for fuzzing.
#ifndef TSGI_HEAD_CHECK_H_
#define TSGI_HEAD_CHECK_H_

#include <cstdint>

#include "errors.h"
#include "strict.h"

namespace tsgi {

// What CheckHead decides about a complete head.
struct HeadFacts {
  bool chunked = false;
  bool has_length = false;
  uint64_t content_length = 0;
  bool expect_continue = false;
  // Connection tokens (RFC 9110 section 7.6.1, RFC 9112 section 9.3).
  bool connection_close = false;
  bool connection_keep_alive = false;
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
// characters, no fragment): an absolute-form target is scheme "://"
// authority..., the scheme of letters; the authority a well-formed host and
// port without userinfo (RFC 9110 section 4.2.4), the host not empty for
// http and https (section 4.2.1).
HttpError CheckTarget(const char* target, uint32_t length);

}  // namespace tsgi

#endif  // TSGI_HEAD_CHECK_H_
