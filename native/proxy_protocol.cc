// proxy_protocol.cc: ProxyHeaderParser (haproxy's PROXY protocol, sections
// 2.1 for version 1 and 2.2 for version 2).
#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

namespace tsgi {

namespace {

constexpr char kV1Prefix[] = "PROXY ";
constexpr size_t kV1PrefixLen = sizeof(kV1Prefix) - 1;
constexpr unsigned char kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                            0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// A decimal port: "0", or 1-5 digits without a leading zero, at most 65535.
bool ParsePort(const char* s, size_t n, uint16_t* out) {
  if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<uint32_t>(s[i] - '0');
  }
  if (v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

// An address of `family` as text: valid for inet_pton (which takes no
// leading zeros in IPv4), written back as inet_ntop writes it (IPv6
// compressed, lower case).
bool ParseAddress(int family, const char* s, size_t n, char* out) {
  char text[kProxyAddressText];
  if (n == 0 || n >= sizeof(text)) return false;
  std::memcpy(text, s, n);
  text[n] = '\0';
  unsigned char bin[16];
  if (inet_pton(family, text, bin) != 1) return false;
  return inet_ntop(family, bin, out, kProxyAddressText) != nullptr;
}

uint16_t Be16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) |
                               static_cast<uint8_t>(p[1]));
}

}  // namespace

void ProxyHeaderParser::Reset(ProxyMode mode) {
  mode_ = mode;
  state_ = State::kStart;
  len_ = 0;
  remaining_ = address_len_ = skip_ = 0;
  tlv_len_ = 0;
  v2_proxy_ = false;
  v2_family_ = 0;
  result_ = ProxyResult();
}

// "PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP sport SP dport, or
// "PROXY" SP "UNKNOWN" [ SP anything ]; buf_ holds the line without CRLF.
bool ProxyHeaderParser::ParseV1Line() {
  const char* fields[6];
  size_t lengths[6];
  size_t count = 0;
  size_t start = 0;
  for (size_t i = 0; i <= len_; i++) {
    if (i < len_ && buf_[i] != ' ') continue;
    if (count == 6) return false;
    fields[count] = buf_ + start;
    lengths[count] = i - start;
    count++;
    start = i + 1;
    // UNKNOWN: whatever follows is ignored (section 2.1).
    if (count == 2 && lengths[1] == 7 && std::memcmp(fields[1], "UNKNOWN", 7) == 0) {
      result_.version = 1;
      return true;
    }
  }
  if (count != 6) return false;
  for (size_t k = 0; k < 6; k++) {
    if (lengths[k] == 0) return false;  // two spaces in a row
  }
  int family;
  if (lengths[1] == 4 && std::memcmp(fields[1], "TCP4", 4) == 0) {
    family = AF_INET;
  } else if (lengths[1] == 4 && std::memcmp(fields[1], "TCP6", 4) == 0) {
    family = AF_INET6;
  } else {
    return false;
  }
  if (!ParseAddress(family, fields[2], lengths[2], result_.source) ||
      !ParseAddress(family, fields[3], lengths[3], result_.destination) ||
      !ParsePort(fields[4], lengths[4], &result_.source_port) ||
      !ParsePort(fields[5], lengths[5], &result_.destination_port)) {
    return false;
  }
  result_.has_address = true;
  result_.version = 1;
  return true;
}

// The 16 fixed bytes: signature, version 2, command, family, length.
bool ProxyHeaderParser::ParseV2Fixed() {
  if (std::memcmp(buf_, kV2Signature, sizeof(kV2Signature)) != 0) return false;
  const uint8_t ver_cmd = static_cast<uint8_t>(buf_[12]);
  const uint8_t fam = static_cast<uint8_t>(buf_[13]);
  if ((ver_cmd >> 4) != 2) return false;
  const uint8_t command = ver_cmd & 0x0F;
  if (command > 1) return false;
  remaining_ = Be16(buf_ + 14);
  result_.version = 2;
  v2_proxy_ = command == 1;
  v2_family_ = fam >> 4;
  const uint8_t transport = fam & 0x0F;
  if (!v2_proxy_) {
    // LOCAL: the balancer speaks for itself; the block is not looked at.
    address_len_ = 0;
    state_ = remaining_ == 0 ? State::kDone : State::kV2Skip;
    return true;
  }
  if (v2_family_ > 3 || transport > 2) return false;
  if (v2_family_ == 0) {
    // UNSPEC: the addresses are unknown; the block is skipped.
    if (transport != 0) return false;
    address_len_ = 0;
    state_ = remaining_ == 0 ? State::kDone : State::kV2Skip;
    return true;
  }
  if (transport != 1) return false;  // DGRAM (or UNSPEC) under HTTP: no
  address_len_ = v2_family_ == 1 ? 12 : v2_family_ == 2 ? 36 : 216;
  if (remaining_ < address_len_) return false;
  state_ = State::kV2Address;
  return true;
}

bool ProxyHeaderParser::ParseV2Address() {
  const char* a = buf_ + kProxyV2Fixed;
  if (v2_family_ == 1 || v2_family_ == 2) {
    const int family = v2_family_ == 1 ? AF_INET : AF_INET6;
    const size_t n = v2_family_ == 1 ? 4 : 16;
    if (inet_ntop(family, a, result_.source, kProxyAddressText) == nullptr ||
        inet_ntop(family, a + n, result_.destination, kProxyAddressText) ==
            nullptr) {
      return false;
    }
    result_.source_port = Be16(a + 2 * n);
    result_.destination_port = Be16(a + 2 * n + 2);
    result_.has_address = true;
  }
  // UNIX: the paths are no client address; the connection keeps its own.
  remaining_ -= address_len_;
  state_ = remaining_ == 0 ? State::kDone : State::kV2TlvHead;
  return true;
}

ProxyHeaderParser::Result ProxyHeaderParser::Feed(const char* data,
                                                  size_t length,
                                                  size_t* consumed) {
  size_t i = 0;
  *consumed = 0;
  while (state_ != State::kDone) {
    if (state_ == State::kInvalid) return Result::kInvalid;
    if (i == length) {
      *consumed = i;
      return Result::kNeedMore;
    }
    const char c = data[i];
    switch (state_) {
      case State::kStart:
        if (c == 'P' && mode_ != ProxyMode::kProxyV2) {
          state_ = State::kV1;
        } else if (c == '\r' && mode_ != ProxyMode::kProxyV1) {
          state_ = State::kV2Fixed;
        } else {
          return Fail();
        }
        break;  // the byte is taken by the new state
      case State::kV1: {
        i++;
        if (len_ < kV1PrefixLen) {
          if (c != kV1Prefix[len_]) return Fail();
          buf_[len_++] = c;
          break;
        }
        if (buf_[len_ - 1] == '\r') {
          // CR ends the line: LF must follow it.
          if (c != '\n') return Fail();
          len_--;  // the line, without its CR
          if (!ParseV1Line()) return Fail();
          state_ = State::kDone;
          break;
        }
        if (c == '\r') {
          if (len_ + 2 > kProxyV1Max) return Fail();  // CRLF must fit
          buf_[len_++] = c;
          break;
        }
        if (c < 0x20 || c > 0x7e) return Fail();
        if (len_ + 2 >= kProxyV1Max) return Fail();  // no room for CRLF left
        buf_[len_++] = c;
        break;
      }
      case State::kV2Fixed:
        buf_[len_++] = c;
        i++;
        // The signature is checked as it arrives, so that a client that
        // is not a balancer is refused at its first wrong byte.
        if (len_ <= sizeof(kV2Signature) &&
            static_cast<unsigned char>(c) != kV2Signature[len_ - 1]) {
          return Fail();
        }
        if (len_ == kProxyV2Fixed && !ParseV2Fixed()) return Fail();
        break;
      case State::kV2Address: {
        size_t want = kProxyV2Fixed + address_len_ - len_;
        size_t n = length - i < want ? length - i : want;
        std::memcpy(buf_ + len_, data + i, n);
        len_ += n;
        i += n;
        if (len_ == kProxyV2Fixed + address_len_ && !ParseV2Address()) {
          return Fail();
        }
        break;
      }
      case State::kV2TlvHead:
        tlv_[tlv_len_++] = static_cast<uint8_t>(c);
        i++;
        if (tlv_len_ == 3) {
          tlv_len_ = 0;
          const uint32_t value = (uint32_t{tlv_[1]} << 8) | tlv_[2];
          if (remaining_ < 3 || value > remaining_ - 3) return Fail();
          remaining_ -= 3;
          skip_ = value;
          state_ = skip_ != 0 ? State::kV2TlvValue
                              : remaining_ == 0 ? State::kDone
                                                : State::kV2TlvHead;
        } else if (remaining_ < tlv_len_) {
          return Fail();
        }
        break;
      case State::kV2TlvValue: {
        size_t n = length - i < skip_ ? length - i : skip_;
        skip_ -= static_cast<uint32_t>(n);
        remaining_ -= static_cast<uint32_t>(n);
        i += n;
        if (skip_ == 0) {
          state_ = remaining_ == 0 ? State::kDone : State::kV2TlvHead;
        }
        break;
      }
      case State::kV2Skip: {
        size_t n = length - i < remaining_ ? length - i : remaining_;
        remaining_ -= static_cast<uint32_t>(n);
        i += n;
        if (remaining_ == 0) state_ = State::kDone;
        break;
      }
      case State::kDone:
      case State::kInvalid:
        break;
    }
  }
  *consumed = i;
  return Result::kDone;
}

}  // namespace tsgi
