// known_headers.h: the request header names that cross to JS as small
// integer ids instead of strings (ARCHITECTURE.md, "The path of a request",
// step 4). The table is the single source: addon.cc exports it as
// `knownHeaders`, and JS maps each id to its environ key once, at load.
// Free of Node-API.
#ifndef TSGI_NATIVE_KNOWN_HEADERS_H_
#define TSGI_NATIVE_KNOWN_HEADERS_H_

#include <cstddef>
#include <cstdint>

#include "http_rules.h"

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

// The ids of the known names of each length, so that a lookup compares a
// name with those of its length only.
inline constexpr size_t kMaxKnownLength = 32;
struct KnownIndex {
  uint8_t start[kMaxKnownLength + 2];  // ids[start[n], start[n + 1]) have length n
  uint8_t ids[kKnownHeaderCount];
};

constexpr KnownIndex MakeKnownIndex() {
  KnownIndex index{};
  size_t at = 0;
  for (size_t n = 0; n <= kMaxKnownLength; n++) {
    index.start[n] = static_cast<uint8_t>(at);
    for (size_t i = 0; i < kKnownHeaderCount; i++) {
      if (kKnownHeaders[i].length == n) index.ids[at++] = static_cast<uint8_t>(i + 1);
    }
  }
  index.start[kMaxKnownLength + 1] = static_cast<uint8_t>(at);
  return index;
}

inline constexpr KnownIndex kKnownIndex = MakeKnownIndex();

constexpr bool AllIndexed() {
  size_t n = 0;
  for (size_t i = 0; i < kKnownHeaderCount; i++) {
    if (kKnownHeaders[i].length <= kMaxKnownLength) n++;
  }
  return n == kKnownHeaderCount;
}
static_assert(AllIndexed(), "a known header name is longer than kMaxKnownLength");
static_assert(kKnownHeaderCount < 255, "ids are bytes");

// The id of `name` (any case), or 0. `name` holds token characters only
// (the parser has checked), so OR-ing 0x20 lower-cases letters and leaves
// '-' as it is, without making any other token character equal to a
// letter or '-'. A name of 8 bytes or more is compared a word at a time,
// one of 4 to 7 bytes as two 4-byte halves, the last word overlapping the
// one before it; the loads stay inside the name and inside the known name,
// which has the same length.
inline int32_t KnownHeaderId(const char* name, size_t length) {
  if (length == 0 || length > kMaxKnownLength) return 0;
  // Both sides of a comparison are loaded the same way: any byte order.
  const auto* n = reinterpret_cast<const unsigned char*>(name);
  constexpr uint64_t kLower8 = kOnes * 0x20;
  constexpr uint32_t kLower4 = static_cast<uint32_t>(kLower8);
  const char first = static_cast<char>(name[0] | 0x20);
  for (size_t j = kKnownIndex.start[length]; j < kKnownIndex.start[length + 1];
       j++) {
    const int32_t id = kKnownIndex.ids[j];
    const char* known = kKnownHeaders[id - 1].name;
    if (known[0] != first) continue;
    const auto* kn = reinterpret_cast<const unsigned char*>(known);
    if (length >= 8) {
      size_t k = 0;
      while (k + 8 < length && (Load8(n + k) | kLower8) == Load8(kn + k)) k += 8;
      if (k + 8 >= length &&
          (Load8(n + length - 8) | kLower8) == Load8(kn + length - 8)) {
        return id;
      }
      continue;
    }
    if (length >= 4) {
      if ((Load4(n) | kLower4) == Load4(kn) &&
          (Load4(n + length - 4) | kLower4) == Load4(kn + length - 4)) {
        return id;
      }
      continue;
    }
    size_t k = 1;
    while (k < length && (name[k] | 0x20) == known[k]) k++;
    if (k == length) return id;
  }
  return 0;
}

}  // namespace tsgi

#endif  // TSGI_NATIVE_KNOWN_HEADERS_H_
