// http_rules.h: the HTTP rules the native code applies on its own: which
// bytes are token characters and field-value characters, which statuses
// have no content, and what a status line and a header block written to a
// socket must look like. src/gateway/http-rules.ts is the source of these
// rules; addon.cc exports what this file decides (tokenChars, fieldChars,
// targetChars,
// bodilessStatuses, the status range) and src/native/binding.ts compares it
// with the TypeScript rules when the addon loads (ARCHITECTURE.md, "Where
// each rule lives"). Free of Node-API, libuv and llhttp.
#ifndef TSGI_HTTP_RULES_H_
#define TSGI_HTTP_RULES_H_

#include <cstddef>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tsgi {

namespace rules_internal {

constexpr bool TokenChar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c == '!' || c == '#' || c == '$' ||
         c == '%' || c == '&' || c == '\'' || c == '*' || c == '+' ||
         c == '-' || c == '.' || c == '^' || c == '_' || c == '`' ||
         c == '|' || c == '~';
}

constexpr bool FieldChar(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

// Request-target bytes (RFC 9112 section 3.2, RFC 3986 sections 2.1-2.3):
// VCHAR but '#' (no fragment) and '"', '<', '>', which every browser
// percent-encodes. Kept although RFC 3986 leaves them out: '\\', '^', '`',
// '{', '|', '}', which browsers send raw in queries (WHATWG URL, "query
// percent-encode set"): refusing them breaks real clients.
constexpr bool TargetChar(unsigned char c) {
  return c > 0x20 && c < 0x7f && c != '#' && c != '"' && c != '<' &&
         c != '>';
}

constexpr uint8_t kToken = 1;
constexpr uint8_t kField = 2;
constexpr uint8_t kTargetClass = 4;

struct CharClasses {
  uint8_t bits[256];
};

constexpr CharClasses MakeClasses() {
  CharClasses t{};
  for (int c = 0; c < 256; c++) {
    const unsigned char b = static_cast<unsigned char>(c);
    t.bits[c] = static_cast<uint8_t>((TokenChar(b) ? kToken : 0) |
                                     (FieldChar(b) ? kField : 0) |
                                     (TargetChar(b) ? kTargetClass : 0));
  }
  return t;
}

inline constexpr CharClasses kClasses = MakeClasses();

}  // namespace rules_internal

// RFC 9110 section 5.6.2: tchar.
constexpr bool IsTokenChar(unsigned char c) {
  return (rules_internal::kClasses.bits[c] & rules_internal::kToken) != 0;
}

// RFC 9110 section 5.5 field-value bytes and RFC 9112 section 4 reason
// phrase bytes: HTAB, SP, VCHAR, obs-text.
constexpr bool IsFieldChar(unsigned char c) {
  return (rules_internal::kClasses.bits[c] & rules_internal::kField) != 0;
}

// A byte of a request target (TargetChar above).
constexpr bool IsTargetChar(unsigned char c) {
  return (rules_internal::kClasses.bits[c] & rules_internal::kTargetClass) !=
         0;
}

// Eight bytes at a time for long runs of field characters: a word is
// skipped whole when none of its bytes can end or break the run; the byte
// loop decides otherwise. Exact (no false negatives) for n <= 128.
constexpr uint64_t kOnes = ~uint64_t{0} / 255;
constexpr uint64_t kHighs = kOnes * 128;
inline uint64_t HasLess(uint64_t x, unsigned n) {
  return (x - kOnes * n) & ~x & kHighs;
}
inline uint64_t HasByte(uint64_t x, unsigned char b) {
  return HasLess(x ^ (kOnes * b), 1);
}
inline uint64_t Load8(const unsigned char* p) {
  uint64_t x;
  __builtin_memcpy(&x, p, sizeof(x));
  return x;
}
inline uint32_t Load4(const unsigned char* p) {
  uint32_t x;
  __builtin_memcpy(&x, p, sizeof(x));
  return x;
}
#if defined(__SSE2__)
// The positions of the bytes of `x` that are no field characters (CTL but
// HTAB, and DEL; RFC 9110 section 5.5), one bit each.
inline unsigned NotFieldChars16(__m128i x) {
  const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
  const __m128i bad =
      _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\t')), ctl),
                   _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
  return static_cast<unsigned>(_mm_movemask_epi8(bad));
}
// The positions of the bytes of `x` outside [0-9A-Za-z-], the token
// characters of nearly every field name, one bit each. Unsigned ranges by
// (v - lo) <= (hi - lo); letters are tested with 0x20 set (lower case),
// digits and '-' as they are (0x10-0x19 | 0x20 would pass for digits).
inline unsigned NotNameChars16(__m128i x) {
  const __m128i lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
  const __m128i l = _mm_sub_epi8(lower, _mm_set1_epi8('a'));
  const __m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
  const __m128i ok = _mm_or_si128(
      _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(25)), l),
                   _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d)),
      _mm_cmpeq_epi8(x, _mm_set1_epi8('-')));
  return static_cast<unsigned>(_mm_movemask_epi8(ok)) ^ 0xffffu;
}
// Skips blocks of 16 bytes while `Outside` finds none of their bytes
// outside the class; stops at the first one it finds, or where fewer than
// 16 bytes are left.
template <unsigned (*Outside)(__m128i)>
inline const unsigned char* SkipBlocks16(const unsigned char* p,
                                         const unsigned char* end) {
  while (end - p >= 16) {
    const unsigned out =
        Outside(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    if (out != 0) return p + __builtin_ctz(out);
    p += 16;
  }
  return p;
}
#endif

// Skips field characters in long runs: with SSE2 sixteen bytes at a time,
// stopping exactly at the first byte that is none; otherwise words of
// eight, a word with an HTAB going the slow way. Either way it never skips
// a byte that is no field character, and the caller's byte loop decides
// from where it stops.
inline const unsigned char* SkipValueRun(const unsigned char* p,
                                           const unsigned char* end) {
#if defined(__SSE2__)
  p = SkipBlocks16<NotFieldChars16>(p, end);
  if (end - p >= 16) return p;  // at a byte that is no field character
#endif
  while (end - p >= 8) {
    const uint64_t x = Load8(p);
    if ((HasLess(x, 0x20) | HasByte(x, 0x7f)) != 0) break;
    p += 8;
  }
  return p;
}

// Skips the bytes of a field name that are letters, digits or '-', sixteen
// at a time with SSE2 (and not at all without: the caller's byte loop,
// which also takes the other token characters, does the work). It never
// skips a byte that is no token character.
inline const unsigned char* SkipNameRun(const unsigned char* p,
                                        const unsigned char* end) {
#if defined(__SSE2__)
  return SkipBlocks16<NotNameChars16>(p, end);
#else
  (void)end;
  return p;
#endif
}

// The final statuses a response may have (RFC 9110 section 15; 1xx are
// interim, and only the server sends one: 100 Continue).
constexpr int kMinStatus = 200;
constexpr int kMaxStatus = 599;

// RFC 9110 section 6.4.1: 1xx, 204 and 304 responses have no content.
constexpr bool IsBodylessStatus(int status) {
  return status < 200 || status == 204 || status == 304;
}

// The Content-Length the server derives from a whole body in hand of
// `size` bytes when the application declared none, or -1 for none: none
// for a bodiless status, and none for an empty body on HEAD, since RFC 9110
// section 8.6 allows it there only as the size a GET would send (the same
// rule is derivedLength in src/gateway/http-rules.ts; the conformance suite
// checks both servers against it).
constexpr int64_t DerivedLength(int status, bool head_request, int64_t size) {
  return IsBodylessStatus(status) || (head_request && size == 0) ? -1 : size;
}

// A status as JS passes it, "NNN reason" (RFC 9112 section 4 without the
// HTTP-version): three digits of a code from kMinStatus to kMaxStatus, SP,
// and a reason phrase of field characters (possibly empty).
inline bool IsValidStatusText(const char* text, size_t length) {
  if (length < 4 || text[3] != ' ') return false;
  int code = 0;
  for (size_t i = 0; i < 3; i++) {
    if (text[i] < '0' || text[i] > '9') return false;
    code = code * 10 + (text[i] - '0');
  }
  if (code < kMinStatus || code > kMaxStatus) return false;
  for (size_t i = 4; i < length; i++) {
    if (!IsFieldChar(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

// A header block as the Writer sends it: zero or more field lines
// `token ":" *field-char CRLF` (RFC 9112 section 5). A CR, LF or NUL can
// therefore only end a line, never sit inside a name or a value.
inline bool IsValidHeaderBlock(const char* block, size_t length) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(block);
  const unsigned char* end = p + length;
  while (p != end) {
    const unsigned char* name = p;
    p = SkipNameRun(p, end);
    while (p != end && IsTokenChar(*p)) p++;
    if (p == name || p == end || *p != ':') return false;
    p = SkipValueRun(p + 1, end);
    while (p != end && IsFieldChar(*p)) p++;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return false;
    p += 2;
  }
  return true;
}

}  // namespace tsgi

#endif  // TSGI_HTTP_RULES_H_
