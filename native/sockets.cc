// sockets.cc: the `sockets` functions of the addon: listening descriptors
// made and inspected with plain system calls (libuv 1.46 has no flag for
// SO_REUSEPORT, and Node 20's net has no reusePort). Each function throws
// an Error whose `code` is the errno name (`EADDRINUSE`) and whose message
// names the call and the address.
#include "sockets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "uv.h"

namespace tsgi {

namespace {

void Throw(napi_env env, int err, const std::string& what) {
  const char* name = uv_err_name(-err);
  std::string message = what + ": " + name + " (" + std::strerror(err) + ")";
  napi_value code, text, error, value;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message.c_str(), message.size(), &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, -err, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_throw(env, error);
}

void ThrowArg(napi_env env, const char* message) {
  napi_throw_type_error(env, "ERR_TSGI_INVALID_ARG", message);
}

bool GetString(napi_env env, napi_value v, std::string* out) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &n) != napi_ok) {
    return false;
  }
  out->resize(n + 1);
  napi_get_value_string_utf8(env, v, &(*out)[0], n + 1, &n);
  out->resize(n);
  return true;
}

bool GetInt(napi_env env, napi_value v, int32_t* out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

napi_value Int(napi_env env, int32_t value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  return v;
}

// Parses an IP literal into `ss`; false when it is not one.
bool ParseAddress(const std::string& host, int port, sockaddr_storage* ss,
                  socklen_t* len) {
  std::memset(ss, 0, sizeof(*ss));
  auto* in4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(*in4);
    return true;
  }
  // A zone (fe80::1%eth0) goes through uv_ip6_addr, which resolves it.
  if (uv_ip6_addr(host.c_str(), port, in6) == 0) {
    *len = sizeof(*in6);
    return true;
  }
  return false;
}

// listenTcp(host, port, backlog, reusePort, probe) -> fd. With `probe`, the
// address is first bound without SO_REUSEPORT by a throwaway socket, so an
// address another program listens on (even with SO_REUSEPORT) is refused
// with EADDRINUSE instead of being silently shared.
napi_value ListenTcp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  std::string host;
  int32_t port = 0, backlog = 0;
  bool reuse = false, probe = false;
  if (argc < 5 || !GetString(env, argv[0], &host) ||
      !GetInt(env, argv[1], &port) || !GetInt(env, argv[2], &backlog) ||
      napi_get_value_bool(env, argv[3], &reuse) != napi_ok ||
      napi_get_value_bool(env, argv[4], &probe) != napi_ok || port < 0 ||
      port > 65535 || backlog < 1) {
    ThrowArg(env, "listenTcp(host, port, backlog, reusePort, probe)");
    return nullptr;
  }
  sockaddr_storage ss;
  socklen_t len = 0;
  std::string where = "listen " + host + ":" + std::to_string(port);
  if (!ParseAddress(host, port, &ss, &len)) {
    Throw(env, EINVAL, where + " (not an IP address)");
    return nullptr;
  }
  const int one = 1;
  if (probe && port != 0) {
    int p = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p < 0) {
      Throw(env, errno, where);
      return nullptr;
    }
    setsockopt(p, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int r = bind(p, reinterpret_cast<sockaddr*>(&ss), len);
    int err = errno;
    close(p);
    if (r != 0) {
      Throw(env, err, where);
      return nullptr;
    }
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    Throw(env, errno, where);
    return nullptr;
  }
  // As libuv does for its own TCP listeners: a restart is not refused
  // because of connections in TIME_WAIT.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if ((reuse &&
       setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
      bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    Throw(env, err, where);
    return nullptr;
  }
  return Int(env, fd);
}

// listenUnix(path, backlog, umask) -> fd; umask -1 leaves the process's.
// The caller has removed a stale socket file (listeners.ts); one in the
// way now is EADDRINUSE. The umask is process-wide: set around bind() only,
// by the supervisor before any worker starts.
napi_value ListenUnix(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  std::string path;
  int32_t backlog = 0, mask = -1;
  if (argc < 3 || !GetString(env, argv[0], &path) ||
      !GetInt(env, argv[1], &backlog) || !GetInt(env, argv[2], &mask) ||
      backlog < 1 || mask > 0777) {
    ThrowArg(env, "listenUnix(path, backlog, umask)");
    return nullptr;
  }
  std::string where = "listen unix:" + path;
  sockaddr_un sun;
  std::memset(&sun, 0, sizeof(sun));
  if (path.empty() || path.size() >= sizeof(sun.sun_path)) {
    Throw(env, ENAMETOOLONG, where);
    return nullptr;
  }
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    Throw(env, errno, where);
    return nullptr;
  }
  mode_t old = 0;
  if (mask >= 0) old = umask(static_cast<mode_t>(mask));
  int r = bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun));
  int err = errno;
  if (mask >= 0) umask(old);
  if (r == 0 && listen(fd, backlog) != 0) {
    err = errno;
    r = -1;
    unlink(path.c_str());
  }
  if (r != 0) {
    close(fd);
    Throw(env, err, where);
    return nullptr;
  }
  return Int(env, fd);
}

// inspect(fd) -> { listening, family: 'inet'|'inet6'|'unix'|'other', type:
// 'stream'|'other', address, port, path } | throws EBADF, ENOTSOCK.
napi_value Inspect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd = -1;
  if (argc < 1 || !GetInt(env, argv[0], &fd) || fd < 0) {
    ThrowArg(env, "inspect(fd)");
    return nullptr;
  }
  std::string where = "descriptor " + std::to_string(fd);
  // SO_TYPE answers EBADF for a closed descriptor and ENOTSOCK for one
  // that is not a socket (no fstat: glibc 2.33 versions it, which would
  // raise the binary's floor).
  int type = 0, accepting = 0;
  socklen_t l = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0) {
    Throw(env, errno, where);
    return nullptr;
  }
  l = sizeof(int);
  getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &l);
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  std::memset(&ss, 0, sizeof(ss));
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_get_boolean(env, accepting != 0, &v);
  napi_set_named_property(env, out, "listening", v);
  napi_create_string_utf8(env, type == SOCK_STREAM ? "stream" : "other",
                          NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "type", v);
  const char* family = "other";
  char addr[INET6_ADDRSTRLEN + 1] = "";
  int port = -1;
  std::string path;
  if (ss.ss_family == AF_INET) {
    family = "inet";
    auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in4->sin_addr, addr, sizeof(addr));
    port = ntohs(in4->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    family = "inet6";
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
    port = ntohs(in6->sin6_port);
  } else if (ss.ss_family == AF_UNIX) {
    family = "unix";
    auto* sun = reinterpret_cast<sockaddr_un*>(&ss);
    size_t n = len > offsetof(sockaddr_un, sun_path)
                   ? len - offsetof(sockaddr_un, sun_path)
                   : 0;
    if (n > 0 && sun->sun_path[0] == '\0') {
      path = "@" + std::string(sun->sun_path + 1, n - 1);  // abstract
    } else {
      path = std::string(sun->sun_path, strnlen(sun->sun_path, n));
    }
  }
  napi_create_string_utf8(env, family, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "family", v);
  napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "address", v);
  napi_create_int32(env, port, &v);
  napi_set_named_property(env, out, "port", v);
  napi_create_string_utf8(env, path.data(), path.size(), &v);
  napi_set_named_property(env, out, "path", v);
  return out;
}

// dup(fd) -> a new descriptor of the same socket, close-on-exec.
napi_value Dup(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd = -1;
  if (argc < 1 || !GetInt(env, argv[0], &fd) || fd < 0) {
    ThrowArg(env, "dup(fd)");
    return nullptr;
  }
  int r = DupCloexec(fd);
  if (r < 0) {
    Throw(env, errno, "dup " + std::to_string(fd));
    return nullptr;
  }
  return Int(env, r);
}

// close(fd); also sets close-on-exec with closeOnExec(fd) (inherited
// descriptors, which a child must not inherit again).
napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd = -1;
  if (argc < 1 || !GetInt(env, argv[0], &fd) || fd < 0) {
    ThrowArg(env, "close(fd)");
    return nullptr;
  }
  if (close(fd) != 0 && errno != EINTR) {
    Throw(env, errno, "close " + std::to_string(fd));
    return nullptr;
  }
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value CloseOnExec(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t fd = -1;
  if (argc < 1 || !GetInt(env, argv[0], &fd) || fd < 0) {
    ThrowArg(env, "closeOnExec(fd)");
    return nullptr;
  }
  if (ioctl(fd, FIOCLEX) != 0) {
    Throw(env, errno, "descriptor " + std::to_string(fd));
    return nullptr;
  }
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

}  // namespace

int DupCloexec(int fd) {
  return static_cast<int>(syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0));
}

napi_status DefineSockets(napi_env env, napi_value exports) {
  napi_value sockets;
  napi_status status = napi_create_object(env, &sockets);
  if (status != napi_ok) return status;
  const napi_property_descriptor fns[] = {
      {"listenTcp", nullptr, ListenTcp, nullptr, nullptr, nullptr,
       napi_enumerable, nullptr},
      {"listenUnix", nullptr, ListenUnix, nullptr, nullptr, nullptr,
       napi_enumerable, nullptr},
      {"inspect", nullptr, Inspect, nullptr, nullptr, nullptr,
       napi_enumerable, nullptr},
      {"dup", nullptr, Dup, nullptr, nullptr, nullptr, napi_enumerable,
       nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_enumerable,
       nullptr},
      {"closeOnExec", nullptr, CloseOnExec, nullptr, nullptr, nullptr,
       napi_enumerable, nullptr},
  };
  status = napi_define_properties(env, sockets, sizeof(fns) / sizeof(fns[0]),
                                  fns);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, exports, "sockets", sockets);
}

}  // namespace tsgi
