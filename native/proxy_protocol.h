// proxy_protocol.h: ProxyHeaderParser, the PROXY header a load balancer
// (haproxy, and others that follow haproxy's "PROXY protocol" spec) sends
// before the first byte of HTTP: version 1 (text) and version 2 (binary),
// fed incrementally, validated strictly. Free of Node-API and libuv so that
// the fuzzer builds it (fuzz/proxy_fuzzer.cc).
//
// What is taken: the PROXY command's source and destination address and
// port, for TCP over IPv4 and IPv6. What is accepted and leaves the
// connection's own addresses: v1 UNKNOWN, v2 LOCAL (a health check of the
// balancer itself), v2 UNSPEC and UNIX. What is refused (kInvalid, and the
// connection is closed unanswered): anything else, including v2 over UDP,
// a v1 line longer than 107 bytes, ports with leading zeros or above 65535,
// addresses that inet_pton does not take for their family, a v2 length too
// short for its addresses, and v2 TLVs that overrun the header. TLVs are
// walked (their lengths must add up) and skipped.
#ifndef TSGI_PROXY_PROTOCOL_H_
#define TSGI_PROXY_PROTOCOL_H_

#include <cstddef>
#include <cstdint>

namespace tsgi {

// Which versions a connection may send: V(enumerator, name in
// src/native/binding.ts ProxyMode, value). Exported by addon.cc.
#define TSGI_PROXY_MODES(V) \
  V(kProxyV1, v1, 1)        \
  V(kProxyV2, v2, 2)        \
  V(kProxyAuto, auto, 3)

enum class ProxyMode : uint8_t {
#define TSGI_ENUM(name, js, value) name = value,
  TSGI_PROXY_MODES(TSGI_ENUM)
#undef TSGI_ENUM
};

// INET6_ADDRSTRLEN, without <netinet/in.h> here.
constexpr size_t kProxyAddressText = 46;
// A v1 header is at most 107 bytes, CRLF included (the spec's bound).
constexpr size_t kProxyV1Max = 107;
// The v2 fixed part: signature (12), version/command, family, length (2).
constexpr size_t kProxyV2Fixed = 16;

// What the header said. Valid after Feed returned kDone.
struct ProxyResult {
  // True when the header carries the client's TCP addresses (PROXY over
  // TCP4/TCP6); false for v1 UNKNOWN and v2 LOCAL, UNSPEC or UNIX: the
  // connection keeps its own addresses.
  bool has_address = false;
  char source[kProxyAddressText] = "";
  char destination[kProxyAddressText] = "";
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  uint8_t version = 0;  // 1 or 2
};

class ProxyHeaderParser {
 public:
  enum class Result : uint8_t { kNeedMore, kDone, kInvalid };

  void Reset(ProxyMode mode);

  // Feeds the next `length` bytes of the connection. On kDone, `consumed`
  // is how many of them were the header's: the rest are HTTP. On kNeedMore
  // every byte was taken. After kDone or kInvalid it must not be fed again.
  // Nothing of `data` is referenced after the call.
  Result Feed(const char* data, size_t length, size_t* consumed);

  const ProxyResult& result() const { return result_; }

 private:
  enum class State : uint8_t {
    kStart,       // nothing yet (auto: the first byte decides)
    kV1,          // collecting the v1 line into buf_
    kV2Fixed,     // collecting the 16 fixed bytes
    kV2Address,   // collecting the address block
    kV2TlvHead,   // collecting a TLV's type and length (3 bytes)
    kV2TlvValue,  // skipping a TLV's value
    kV2Skip,      // skipping bytes that are not TLVs (LOCAL, UNSPEC)
    kDone,
    kInvalid,
  };

  Result Fail() {
    state_ = State::kInvalid;
    return Result::kInvalid;
  }
  bool ParseV1Line();
  bool ParseV2Fixed();
  bool ParseV2Address();

  ProxyMode mode_ = ProxyMode::kProxyAuto;
  State state_ = State::kStart;
  // The v1 line, or the v2 fixed part and then its address block (216
  // bytes for AF_UNIX is the largest).
  char buf_[kProxyV2Fixed + 216];
  size_t len_ = 0;
  // v2: bytes of the header still to come after what buf_ holds.
  uint32_t remaining_ = 0;
  uint32_t address_len_ = 0;  // of the family's address block
  uint32_t skip_ = 0;         // value bytes of the current TLV
  uint8_t tlv_[3];
  uint8_t tlv_len_ = 0;
  bool v2_proxy_ = false;     // command PROXY (not LOCAL)
  uint8_t v2_family_ = 0;     // 1 INET, 2 INET6, 3 UNIX, 0 UNSPEC
  ProxyResult result_;
};

}  // namespace tsgi

#endif  // TSGI_PROXY_PROTOCOL_H_
