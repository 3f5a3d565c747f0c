// bridge.cc: the JS `Server` class: the constructor, listening and
// adopting, the controls of a connection (abort, sendContinue, pause,
// resume, proxyHeader) and of the server, and the registration of every
// method. Each method unpacks primitives and hands them to
// Server/Connection; nothing here allocates per request. The response
// methods are bridge_respond.cc's, the event records for JS
// bridge_events.cc's, the response queue JS fills bridge_queue.cc's, the
// reading of the constructor's options bridge_options.cc's.
#include "bridge.h"

#include <cstdio>
#include <string>
#include <utility>

#include "bridge_methods.h"
#include "bridge_options.h"

#include "server.h"

namespace tsgi {

// ---- Shared with bridge_respond.cc (bridge_methods.h) --------------------

Server* Unpack(napi_env env, napi_callback_info info, size_t count,
               napi_value* argv) {
  size_t argc = count;
  napi_value self;
  if (napi_get_cb_info(env, info, &argc, argv, &self, nullptr) != napi_ok) {
    return nullptr;
  }
  void* data = nullptr;
  if (napi_unwrap(env, self, &data) != napi_ok || data == nullptr) {
    ThrowType(env, "Illegal invocation");
    return nullptr;
  }
  Server* server = static_cast<Server*>(data);
  // Whatever JS queued before this call happens before it.
  server->DrainResponses();
  return server;
}

void ThrowNotNumber(napi_env env, const char* what) {
  std::string message = std::string(what) + " must be a number";
  ThrowType(env, message.c_str());
}

namespace {

// What a failed listen was asked to bind.
struct ListenAddress {
  const char* host;
  size_t host_len;
  int32_t port;
};

// Throws the Error of libuv's error `r` in `syscall` ("listen", "adopt"):
// the message "<syscall> <code> <detail>" and `code` libuv's name for `r`,
// as Node's socket errors have them. With `address` (a listen), also
// errno, syscall, address and port, as net.Server's listen errors.
void ThrowUvError(napi_env env, int r, const char* syscall,
                  const char* detail, const ListenAddress* address) {
  char message[384];
  std::snprintf(message, sizeof(message), "%s %s %s", syscall, uv_err_name(r),
                detail);
  napi_value code, msg, error, value;
  napi_create_string_utf8(env, uv_err_name(r), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  if (address != nullptr) {
    napi_create_int32(env, r, &value);
    napi_set_named_property(env, error, "errno", value);
    napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value);
    napi_set_named_property(env, error, "syscall", value);
    napi_create_string_utf8(env, address->host, address->host_len, &value);
    napi_set_named_property(env, error, "address", value);
    napi_create_int32(env, address->port, &value);
    napi_set_named_property(env, error, "port", value);
  }
  napi_throw(env, error);
}

// ---- Methods -------------------------------------------------------------

napi_value New(napi_env env, napi_callback_info info) {
  napi_value new_target;
  if (napi_get_new_target(env, info, &new_target) != napi_ok ||
      new_target == nullptr) {
    ThrowType(env, "Class constructor Server cannot be invoked without 'new'");
    return nullptr;
  }
  size_t argc = 1;
  napi_value options;
  napi_value self;
  napi_get_cb_info(env, info, &argc, &options, &self, nullptr);
  if (argc < 1 || !IsType(env, options, napi_object)) {
    ThrowType(env, "new Server(options): options must be an object");
    return nullptr;
  }
  ServerOptions given;
  if (!ReadServerOptions(env, options, &given)) return nullptr;

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    napi_throw_error(env, kMisuseCode, "no event loop");
    return nullptr;
  }
  Server* server = new Server(env, loop, std::move(given.config));
  OptionError error;
  if (!server->Init(given.on_events, given.events, given.bytes,
                    given.responses, given.response_bytes, given.metrics,
                    &error)) {
    delete server;
    ThrowWithCode(env, error.kind, kInvalidOptionCode, error.message);
    return nullptr;
  }
  napi_ref wrapper = nullptr;
  if (napi_wrap(env, self, server, Server::Finalize, nullptr, &wrapper) !=
      napi_ok) {
    // Closes the auxiliary handles and frees the server once they are.
    Server::Finalize(env, server, nullptr);
    return nullptr;
  }
  server->SetWrapper(wrapper);
  if (given.inflight_words != nullptr) {
    napi_ref ref = nullptr;
    if (napi_create_reference(env, given.inflight, 1, &ref) == napi_ok) {
      server->AttachInflight(ref, given.inflight_words);
    }
  }
  return self;
}

napi_value Listen(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Server* server = Unpack(env, info, 3, argv);
  if (server == nullptr) return nullptr;
  char host[256];
  size_t host_len = 0;
  if (!IsType(env, argv[0], napi_string) ||
      napi_get_value_string_utf8(env, argv[0], host, sizeof(host),
                                 &host_len) != napi_ok) {
    ThrowType(env, "listen(host, port, backlog): host must be a string");
    return nullptr;
  }
  int32_t port = 0;
  int32_t backlog = 0;
  if (!GetInt32(env, argv[1], "port", &port) ||
      !GetInt32(env, argv[2], "backlog", &backlog)) {
    return nullptr;
  }
  if (port < 0 || port > 65535) {
    ThrowRange(env, "port must be between 0 and 65535");
    return nullptr;
  }
  if (server->closing()) {
    napi_throw_error(env, "ERR_SERVER_CLOSED", "listen: the server is closed");
    return nullptr;
  }
  uint32_t index = 0;
  int r = server->Listen(host, port, backlog, &index);
  if (r < 0) {
    char where[272];  // the host (at most 255 bytes), ':' and the port
    std::snprintf(where, sizeof(where), "%s:%d", host, port);
    const ListenAddress address = {host, host_len, port};
    ThrowUvError(env, r, "listen", where, &address);
    return nullptr;
  }
  return Int32(env, r);
}

// adopt(fd, backlog) -> listener index: listens on a duplicate of fd (a
// listening TCP or unix socket), which stays the caller's.
napi_value Adopt(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Server* server = Unpack(env, info, 2, argv);
  if (server == nullptr) return nullptr;
  int32_t fd = -1, backlog = 0;
  if (!GetInt32(env, argv[0], "fd", &fd) ||
      !GetInt32(env, argv[1], "backlog", &backlog)) {
    return nullptr;
  }
  if (fd < 0 || backlog < 1) {
    ThrowRange(env, "adopt(fd, backlog): fd must be >= 0, backlog >= 1");
    return nullptr;
  }
  if (server->closing()) {
    napi_throw_error(env, "ERR_SERVER_CLOSED", "adopt: the server is closed");
    return nullptr;
  }
  int r = server->Adopt(fd, backlog);
  if (r < 0) {
    char where[64];
    std::snprintf(where, sizeof(where), "descriptor %d%s", fd,
                  r == UV_EINVAL ? " (not a listening socket)" : "");
    ThrowUvError(env, r, "adopt", where, nullptr);
    return nullptr;
  }
  return Int32(env, r);
}

// release(index) -> whether that listener was open; closes it.
napi_value Release(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Server* server = Unpack(env, info, 1, argv);
  if (server == nullptr) return nullptr;
  int32_t index = -1;
  if (!GetInt32(env, argv[0], "index", &index)) return nullptr;
  bool done = index >= 0 && server->Release(static_cast<uint32_t>(index));
  napi_value v;
  napi_get_boolean(env, done, &v);
  return v;
}

// Methods taking only a connection id and returning undefined.
template <void (Connection::*Method)()>
napi_value ConnVoid(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Server* server = Unpack(env, info, 1, argv);
  if (server == nullptr) return nullptr;
  int32_t conn;
  if (!GetInt32(env, argv[0], "conn", &conn)) return nullptr;
  Connection* c = server->Lookup(conn);
  if (c != nullptr) (c->*Method)();
  server->AfterApiCall();
  return Undefined(env);
}

// Methods taking no argument and returning undefined.
template <void (Server::*Method)()>
napi_value ServerVoid(napi_env env, napi_callback_info info) {
  Server* server = Unpack(env, info, 0, nullptr);
  if (server == nullptr) return nullptr;
  (server->*Method)();
  server->AfterApiCall();
  return Undefined(env);
}

// proxyHeader(conn, mode): the connection's first bytes must be a PROXY
// header of `mode` (ProxyMode); JS calls it from the Open event.
napi_value ProxyHeader(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Server* server = Unpack(env, info, 2, argv);
  if (server == nullptr) return nullptr;
  int32_t conn, mode;
  if (!GetInt32(env, argv[0], "conn", &conn) ||
      !GetInt32(env, argv[1], "mode", &mode)) {
    return nullptr;
  }
  bool known = false;
#define TSGI_MODE(name, js, value) known = known || mode == value;
  TSGI_PROXY_MODES(TSGI_MODE)
#undef TSGI_MODE
  if (!known) {
    ThrowRange(env, "proxyHeader: mode must be a ProxyMode (1, 2 or 3)");
    return nullptr;
  }
  Connection* c = server->Lookup(conn);
  if (c != nullptr && !c->ExpectProxy(static_cast<ProxyMode>(mode))) {
    napi_throw_error(env, kMisuseCode,
                     "proxyHeader: the connection has already read bytes");
    return nullptr;
  }
  return Undefined(env);
}

// bodyArea(arrayBuffer): the ArrayBuffer that small body chunks are copied
// into from now on (EventSink::SetBodyArea); the server holds it until the
// next call or its close.
napi_value BodyArea(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Server* server = Unpack(env, info, 1, argv);
  if (server == nullptr) return nullptr;
  if (!server->sink().SetBodyArea(argv[0])) {
    ThrowType(env, "bodyArea: area must be an ArrayBuffer");
    return nullptr;
  }
  return Undefined(env);
}

napi_value GetConnections(napi_env env, napi_callback_info info) {
  Server* server = Unpack(env, info, 0, nullptr);
  if (server == nullptr) return nullptr;
  napi_value v;
  napi_create_uint32(env, server->connection_count(), &v);
  return v;
}

}  // namespace

napi_status DefineServerClass(napi_env env, napi_value exports) {
  const napi_property_attributes kMethod =
      static_cast<napi_property_attributes>(napi_writable | napi_configurable);
  const napi_property_descriptor properties[] = {
      {"listen", nullptr, Listen, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"adopt", nullptr, Adopt, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"release", nullptr, Release, nullptr, nullptr, nullptr, kMethod,
       nullptr},
      {"respond", nullptr, Respond, nullptr, nullptr, nullptr, kMethod,
       nullptr},
      {"bodyArea", nullptr, BodyArea, nullptr, nullptr, nullptr, kMethod,
       nullptr},
      {"prepareHead", nullptr, PrepareHead, nullptr, nullptr, nullptr,
       kMethod, nullptr},
      {"respondHead", nullptr, RespondHead, nullptr, nullptr, nullptr,
       kMethod, nullptr},
      {"writeChunks", nullptr, WriteChunks, nullptr, nullptr, nullptr,
       kMethod, nullptr},
      {"end", nullptr, End, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"abort", nullptr, ConnVoid<&Connection::Abort>, nullptr, nullptr,
       nullptr, kMethod, nullptr},
      {"sendFile", nullptr, SendFile, nullptr, nullptr, nullptr, kMethod,
       nullptr},
      {"sendContinue", nullptr, ConnVoid<&Connection::SendContinue>, nullptr,
       nullptr, nullptr, kMethod, nullptr},
      {"pause", nullptr, ConnVoid<&Connection::Pause>, nullptr, nullptr,
       nullptr, kMethod, nullptr},
      {"resume", nullptr, ConnVoid<&Connection::Resume>, nullptr, nullptr,
       nullptr, kMethod, nullptr},
      {"flush", nullptr, ServerVoid<&Server::FlushAll>, nullptr, nullptr,
       nullptr, kMethod, nullptr},
      {"close", nullptr, ServerVoid<&Server::Close>, nullptr, nullptr,
       nullptr, kMethod, nullptr},
      {"closeAll", nullptr, ServerVoid<&Server::CloseAll>, nullptr, nullptr,
       nullptr, kMethod, nullptr},
      {"proxyHeader", nullptr, ProxyHeader, nullptr, nullptr, nullptr,
       kMethod, nullptr},
      {"drain", nullptr, ServerVoid<&Server::Drain>, nullptr, nullptr,
       nullptr, kMethod, nullptr},
      {"connections", nullptr, nullptr, GetConnections, nullptr, nullptr,
       napi_configurable, nullptr},
  };
  napi_value cls;
  napi_status status =
      napi_define_class(env, "Server", NAPI_AUTO_LENGTH, New, nullptr,
                        sizeof(properties) / sizeof(properties[0]), properties,
                        &cls);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, exports, "Server", cls);
}

}  // namespace tsgi
