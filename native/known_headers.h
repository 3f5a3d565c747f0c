// known_headers.h: the request header names that cross to JS as small
// integer ids instead of strings (ARCHITECTURE.md, "The path of a request",
// step 4). The table is the single source: addon.cc exports it as
// `knownHeaders`, and JS maps each id to its environ key once, at load.
// Free of Node-API.
#ifndef TSGI_NATIVE_KNOWN_HEADERS_H_
#define TSGI_NATIVE_KNOWN_HEADERS_H_

#include <cstddef>
#include <cstdint>

namespace tsgi {

struct KnownHeader {
  const char* name;  // lower case, letters and '-' only
  size_t length;
};

#define TSGI_KNOWN(literal) KnownHeader{literal, sizeof(literal) - 1}

// id = index + 1 (0 means "not known").
inline constexpr KnownHeader kKnownHeaders[] = {
    TSGI_KNOWN("host"),
    TSGI_KNOWN("user-agent"),
    TSGI_KNOWN("accept"),
    TSGI_KNOWN("accept-language"),
    TSGI_KNOWN("accept-encoding"),
    TSGI_KNOWN("connection"),
    TSGI_KNOWN("cookie"),
    TSGI_KNOWN("referer"),
    TSGI_KNOWN("cache-control"),
    TSGI_KNOWN("content-type"),
    TSGI_KNOWN("content-length"),
    TSGI_KNOWN("upgrade-insecure-requests"),
    TSGI_KNOWN("sec-fetch-dest"),
    TSGI_KNOWN("sec-fetch-mode"),
    TSGI_KNOWN("sec-fetch-site"),
    TSGI_KNOWN("sec-fetch-user"),
    TSGI_KNOWN("origin"),
    TSGI_KNOWN("pragma"),
    TSGI_KNOWN("authorization"),
    TSGI_KNOWN("if-none-match"),
    TSGI_KNOWN("if-modified-since"),
    TSGI_KNOWN("x-forwarded-for"),
    TSGI_KNOWN("x-forwarded-proto"),
    TSGI_KNOWN("x-forwarded-host"),
    TSGI_KNOWN("x-real-ip"),
    TSGI_KNOWN("x-request-id"),
    TSGI_KNOWN("forwarded"),
    TSGI_KNOWN("via"),
    TSGI_KNOWN("dnt"),
    TSGI_KNOWN("te"),
    TSGI_KNOWN("priority"),
    TSGI_KNOWN("sec-ch-ua"),
    TSGI_KNOWN("sec-ch-ua-mobile"),
    TSGI_KNOWN("sec-ch-ua-platform"),
    TSGI_KNOWN("range"),
    TSGI_KNOWN("expect"),
    TSGI_KNOWN("transfer-encoding"),
    TSGI_KNOWN("keep-alive"),
    TSGI_KNOWN("upgrade"),
};

#undef TSGI_KNOWN

inline constexpr size_t kKnownHeaderCount =
    sizeof(kKnownHeaders) / sizeof(kKnownHeaders[0]);

// The id of `name` (any case), or 0. `name` holds token characters only
// (the parser has checked), so OR-ing 0x20 lower-cases letters and leaves
// '-' as it is, without making any other token character equal to a
// letter or '-'.
inline int32_t KnownHeaderId(const char* name, size_t length) {
  for (size_t i = 0; i < kKnownHeaderCount; i++) {
    const KnownHeader& known = kKnownHeaders[i];
    if (known.length != length) continue;
    size_t k = 0;
    while (k < length && (name[k] | 0x20) == known.name[k]) k++;
    if (k == length) return static_cast<int32_t>(i + 1);
  }
  return 0;
}

}  // namespace tsgi

#endif  // TSGI_NATIVE_KNOWN_HEADERS_H_
