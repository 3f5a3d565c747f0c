// proxy_fuzzer.cc: libFuzzer harness for the PROXY header parser
// (native/proxy_protocol.h) and its hand-off to the HTTP parser, built
// without Node-API by scripts/fuzz.mjs. Besides "no crash" (ASan, UBSan) it
// checks invariants:
//   - the same bytes cut into other pieces give the same outcome, the same
//     header length and the same addresses (nothing of a piece is kept);
//   - a header is never longer than its version allows (v1: 107 bytes; v2:
//     16 + its length field), and kDone consumes no more than was fed;
//   - addresses are text inet_pton takes back, ports fit 16 bits, and a
//     header without addresses reports none;
//   - a header that is not in the mode (v1 only, v2 only) is refused;
//   - what follows the header reaches the HTTP parser as on a connection.
//
// Input: byte 0 picks the mode (v1, v2, auto) and the cutting, the rest is
// the stream of one connection.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "parser.h"
#include "proxy_protocol.h"

namespace {

using tsgi::ProxyHeaderParser;
using tsgi::ProxyMode;
using tsgi::ProxyResult;

[[noreturn]] void Violation(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) Violation(#cond); \
  } while (0)

// Counts what the HTTP parser reports for the bytes after the header.
class Counter final : public tsgi::ParserDelegate {
 public:
  int OnHead(const tsgi::ParsedHead&) override {
    heads++;
    return 0;
  }
  int OnBody(const char*, size_t length) override {
    body += length;
    return 0;
  }
  int OnMessageComplete(bool keep_alive) override {
    completes++;
    // Like Connection (RFC 9112 section 9.6): nothing is parsed after a
    // closing request.
    return keep_alive ? 0 : 1;
  }
  uint32_t heads = 0;
  uint32_t completes = 0;
  uint64_t body = 0;
};

struct Outcome {
  ProxyHeaderParser::Result result = ProxyHeaderParser::Result::kNeedMore;
  size_t header = 0;  // bytes of the header (kDone)
  ProxyResult address;
  tsgi::Parser::Result http = tsgi::Parser::Result::kOk;
  uint32_t heads = 0;
  uint64_t body = 0;
};

bool ValidText(const char* text) {
  unsigned char bin[16];
  return inet_pton(AF_INET, text, bin) == 1 || inet_pton(AF_INET6, text, bin) == 1;
}

// Feeds `data` in pieces of `step` bytes (0: at once), as reads would come.
Outcome Run(ProxyMode mode, const uint8_t* data, size_t size, size_t step) {
  static ProxyHeaderParser proxy;
  static tsgi::Parser http;
  static Counter counter;
  static const tsgi::Limits kLimits = {4096, 8192, 64, 1 << 20, 8192};
  proxy.Reset(mode);
  counter = Counter();
  http.Reset(&counter, &kLimits);
  Outcome out;
  bool in_http = false;
  size_t at = 0;
  while (at < size) {
    size_t n = step == 0 ? size - at : (size - at < step ? size - at : step);
    const char* piece = reinterpret_cast<const char*>(data + at);
    if (!in_http) {
      size_t consumed = 0;
      out.result = proxy.Feed(piece, n, &consumed);
      CHECK(consumed <= n);
      if (out.result == ProxyHeaderParser::Result::kInvalid) break;
      if (out.result == ProxyHeaderParser::Result::kNeedMore) {
        CHECK(consumed == n);
        at += n;
        continue;
      }
      out.header = at + consumed;
      out.address = proxy.result();
      in_http = true;
      at += consumed;
      n -= consumed;
      piece += consumed;
      if (n == 0) continue;
    }
    out.http = http.Execute(piece, n);
    at += n;
    if (out.http != tsgi::Parser::Result::kOk) break;
  }
  out.heads = counter.heads;
  out.body = counter.body;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t config = data[0];
  data++;
  size--;
  static const ProxyMode kModes[] = {ProxyMode::kProxyV1, ProxyMode::kProxyV2,
                                     ProxyMode::kProxyAuto,
                                     ProxyMode::kProxyAuto};
  const ProxyMode mode = kModes[config & 3];
  const Outcome a = Run(mode, data, size, 0);
  const Outcome b = Run(mode, data, size, static_cast<size_t>(config >> 2) + 1);

  // Segmentation must not change anything.
  CHECK(a.result == b.result);
  CHECK(a.header == b.header);
  CHECK(a.http == b.http);
  CHECK(a.heads == b.heads);
  CHECK(a.body == b.body);
  if (a.result == ProxyHeaderParser::Result::kDone) {
    const ProxyResult& x = a.address;
    const ProxyResult& y = b.address;
    CHECK(x.version == 1 || x.version == 2);
    CHECK(x.version == y.version);
    CHECK(x.has_address == y.has_address);
    CHECK(std::strcmp(x.source, y.source) == 0);
    CHECK(std::strcmp(x.destination, y.destination) == 0);
    CHECK(x.source_port == y.source_port);
    CHECK(x.destination_port == y.destination_port);
    CHECK(a.header <= size);
    if (mode == ProxyMode::kProxyV1) CHECK(x.version == 1);
    if (mode == ProxyMode::kProxyV2) CHECK(x.version == 2);
    if (x.version == 1) {
      CHECK(a.header <= tsgi::kProxyV1Max);
      CHECK(std::memcmp(data, "PROXY ", 6) == 0);
      CHECK(data[a.header - 2] == '\r' && data[a.header - 1] == '\n');
    } else {
      CHECK(a.header >= tsgi::kProxyV2Fixed);
      CHECK(a.header == tsgi::kProxyV2Fixed + ((size_t{data[14]} << 8) | data[15]));
    }
    if (x.has_address) {
      CHECK(ValidText(x.source) && ValidText(x.destination));
    } else {
      CHECK(x.source[0] == '\0' && x.destination[0] == '\0');
    }
  }
  return 0;
}
