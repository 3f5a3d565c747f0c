// chars.h: the byte classes of the request parser, one bit each in one
// 256-entry table, and the character helpers that the scanner (strict.cc)
// and the head checks (head_check.cc) share. Free of Node-API, libuv and
// llhttp.
#ifndef TSGI_CHARS_H_
#define TSGI_CHARS_H_

#include <cstddef>
#include <cstdint>

#include "http_rules.h"

namespace tsgi {

// Byte classes, one bit each, in one 256-entry table.
constexpr uint8_t kTchar = 1 << 0;   // RFC 9110 section 5.6.2 token
constexpr uint8_t kTarget = 1 << 1;  // RFC 3986 characters but '#'
constexpr uint8_t kValue = 1 << 2;   // field-vchar / SP / HTAB / obs-text
constexpr uint8_t kQdtext = 1 << 3;  // RFC 9110 section 5.6.4
constexpr uint8_t kHex = 1 << 4;
constexpr uint8_t kScheme = 1 << 5;  // RFC 3986 section 3.1, after the first
constexpr uint8_t kHost = 1 << 6;    // reg-name and IPv4: unreserved,
                                     // pct-encoded, sub-delims

struct ByteTable {
  uint8_t bits[256];
};

constexpr bool IsAlpha(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool IsDigit(int c) { return c >= '0' && c <= '9'; }

constexpr bool IsIn(int c, const char* set) {
  for (; *set != '\0'; set++) {
    if (c == static_cast<unsigned char>(*set)) return true;
  }
  return false;
}

constexpr ByteTable MakeTable() {
  ByteTable t{};
  for (int c = 0; c < 256; c++) {
    uint8_t b = 0;
    const bool alnum = IsAlpha(c) || IsDigit(c);
    if (IsTokenChar(static_cast<unsigned char>(c))) b |= kTchar;
    if (IsTargetChar(static_cast<unsigned char>(c))) b |= kTarget;
    if (IsFieldChar(static_cast<unsigned char>(c))) b |= kValue;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
        (c >= 0x5d && c <= 0x7e) || c >= 0x80) {
      b |= kQdtext;
    }
    if (IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
      b |= kHex;
    }
    if (alnum || c == '+' || c == '-' || c == '.') b |= kScheme;
    if (alnum || IsIn(c, "-._~%!$&'()*+,;=")) b |= kHost;
    t.bits[c] = b;
  }
  return t;
}

inline constexpr ByteTable kTable = MakeTable();

inline bool Is(unsigned char c, uint8_t cls) {
  return (kTable.bits[c] & cls) != 0;
}

inline char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// `s[0, n)` equals the lower-case literal `lower`, ignoring ASCII case.
template <size_t N>
bool EqualsLower(const char* s, size_t n, const char (&lower)[N]) {
  if (n != N - 1) return false;
  for (size_t i = 0; i < n; i++) {
    if (Lower(s[i]) != lower[i]) return false;
  }
  return true;
}

}  // namespace tsgi

#endif  // TSGI_CHARS_H_
