// bridge.cc: the JS `Server` class: each method unpacks primitives and
// hands them to Server/Connection. Strings are encoded straight into output
// buffers; nothing here allocates per request. The event records for JS are
// bridge_events.cc's, the response queue JS fills bridge_queue.cc's, the
// reading of the constructor's options bridge_options.cc's.
#include "bridge.h"

#include <cstdio>
#include <string>
#include <utility>

#include "bridge_options.h"
#include "http_rules.h"

#include "server.h"
#include "writer.h"

namespace tsgi {

// ---- Text from JS values -------------------------------------------------

namespace {

// A JS string encoded as UTF-8 straight into the output buffer. Valid for
// one Node-API call (the napi_value belongs to the caller's handle scope).
class JsString final : public Text {
 public:
  JsString(napi_env env, napi_value value) : env_(env), value_(value) {}

  size_t MaxSize() override {
    if (utf8_ != kUnknown) return utf8_;
    if (utf16_ == kUnknown) {
      utf16_ = 0;
      napi_get_value_string_utf16(env_, value_, nullptr, 0, &utf16_);
    }
    // One UTF-16 unit is at most 3 UTF-8 bytes (a surrogate pair: 4 for 2).
    return utf16_ * 3;
  }
  size_t ExactSize() override {
    if (utf8_ == kUnknown) {
      utf8_ = 0;
      napi_get_value_string_utf8(env_, value_, nullptr, 0, &utf8_);
    }
    return utf8_;
  }
  size_t EncodeTo(char* dst, size_t room) override {
    size_t n = 0;
    napi_get_value_string_utf8(env_, value_, dst, room, &n);
    return n;
  }

 private:
  static constexpr size_t kUnknown = static_cast<size_t>(-1);
  napi_env env_;
  napi_value value_;
  size_t utf16_ = kUnknown;
  size_t utf8_ = kUnknown;
};

// A JS string whose characters are bytes (status line and header fields:
// RFC 9110 section 5.5 field values are octets; JS has validated that no
// character is above U+00FF), written one byte per character as node:http
// does. Valid for one Node-API call, as JsString.
class JsLatin1 final : public Text {
 public:
  JsLatin1(napi_env env, napi_value value) : env_(env), value_(value) {}

  size_t MaxSize() override { return ExactSize(); }
  size_t ExactSize() override {
    if (length_ == kUnknown) {
      length_ = 0;
      napi_get_value_string_latin1(env_, value_, nullptr, 0, &length_);
    }
    return length_;
  }
  size_t EncodeTo(char* dst, size_t room) override {
    // napi_get_value_string_latin1 writes a terminating NUL within `room`:
    // ask for one byte more than the string when the room allows it.
    size_t n = 0;
    const size_t want = ExactSize();
    if (room > want) {
      napi_get_value_string_latin1(env_, value_, dst, want + 1, &n);
    } else {
      napi_get_value_string_latin1(env_, value_, dst, room, &n);
    }
    return n;
  }

 private:
  static constexpr size_t kUnknown = static_cast<size_t>(-1);
  napi_env env_;
  napi_value value_;
  size_t length_ = kUnknown;
};

// Storage for whichever Text a chunk argument turns out to be.
struct ChunkArg {
  bool present = false;
  bool is_string = false;
  napi_value value = nullptr;
  const char* data = nullptr;
  size_t length = 0;
};

napi_value Undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value Int32(napi_env env, int32_t value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  return v;
}

// An argument of a method has the wrong type or value: the caller (JS
// inside this package) has a bug.
void ThrowType(napi_env env, const char* message) {
  napi_throw_type_error(env, kInvalidArgCode, message);
}

void ThrowRange(napi_env env, const char* message) {
  napi_throw_range_error(env, kInvalidArgCode, message);
}

// Unpacks `this` and up to `count` arguments (missing ones are undefined).
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

bool GetInt32(napi_env env, napi_value value, const char* what,
              int32_t* out) {
  if (napi_get_value_int32(env, value, out) != napi_ok) {
    std::string message = std::string(what) + " must be a number";
    ThrowType(env, message.c_str());
    return false;
  }
  return true;
}

bool GetInt64(napi_env env, napi_value value, const char* what,
              int64_t* out) {
  if (napi_get_value_int64(env, value, out) != napi_ok) {
    std::string message = std::string(what) + " must be a number";
    ThrowType(env, message.c_str());
    return false;
  }
  return true;
}

// string | Uint8Array (or null/undefined when `optional`).
bool GetChunk(napi_env env, napi_value value, bool optional, const char* what,
              ChunkArg* out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return false;
  if (type == napi_string) {
    out->present = true;
    out->is_string = true;
    out->value = value;
    return true;
  }
  if (optional && (type == napi_null || type == napi_undefined)) return true;
  bool is_typed = false;
  if (type == napi_object &&
      napi_is_typedarray(env, value, &is_typed) == napi_ok && is_typed) {
    napi_typedarray_type ta_type;
    size_t length;
    void* data;
    napi_value buffer;
    size_t offset;
    if (napi_get_typedarray_info(env, value, &ta_type, &length, &data,
                                 &buffer, &offset) == napi_ok &&
        ta_type == napi_uint8_array) {
      out->present = true;
      out->data = static_cast<const char*>(data);
      out->length = length;
      return true;
    }
  }
  std::string message =
      std::string(what) + (optional ? " must be a string, a Uint8Array or null"
                                    : " must be a string or a Uint8Array");
  ThrowType(env, message.c_str());
  return false;
}

napi_value Result(napi_env env, Server* server, int result,
                  const char* misuse) {
  server->AfterApiCall();
  if (result == kWrMisuse) {
    napi_throw_error(env, kMisuseCode, misuse);
    return nullptr;
  }
  if (result == kWrInvalidStatus || result == kWrInvalidHeaders) {
    napi_value code, text, error;
    napi_create_string_utf8(env, kInvalidHeadCode, NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(
        env,
        result == kWrInvalidStatus
            ? "respond: the status must be \"NNN reason\" with a code from "
              "200 to 599 and no control character (CR, LF, NUL...); "
              "nothing was sent"
            : "respond: every header line must be \"token: value\\r\\n\" "
              "with no control character (CR, LF, NUL...) in the value; "
              "nothing was sent",
        NAPI_AUTO_LENGTH, &text);
    napi_create_type_error(env, code, text, &error);
    napi_throw(env, error);
    return nullptr;
  }
  return Int32(env, result);
}

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

napi_value Respond(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  Server* server = Unpack(env, info, 8, argv);
  if (server == nullptr) return nullptr;
  int32_t conn, req_flags, rflags;
  int64_t content_length;
  if (!GetInt32(env, argv[0], "conn", &conn) ||
      !GetInt32(env, argv[1], "reqFlags", &req_flags)) {
    return nullptr;
  }
  if (!IsType(env, argv[2], napi_string)) {
    ThrowType(env, "status must be a string");
    return nullptr;
  }
  // The code decides the framing; the Writer checks the whole status as
  // it encodes it (a code that is not three digits is refused there).
  char code_text[4] = {0, 0, 0, 0};
  size_t code_len = 0;
  napi_get_value_string_latin1(env, argv[2], code_text, sizeof(code_text),
                               &code_len);
  int status = 0;
  for (size_t i = 0; i < code_len; i++) {
    if (code_text[i] < '0' || code_text[i] > '9') {
      status = 0;
      break;
    }
    status = status * 10 + (code_text[i] - '0');
  }
  if (!IsType(env, argv[3], napi_string)) {
    ThrowType(env, "headers must be a string");
    return nullptr;
  }
  if (!GetInt64(env, argv[4], "contentLength", &content_length)) return nullptr;
  ChunkArg body;
  if (!GetChunk(env, argv[5], true, "body", &body)) return nullptr;
  bool last = false;
  if (napi_get_value_bool(env, argv[6], &last) != napi_ok) {
    ThrowType(env, "last must be a boolean");
    return nullptr;
  }
  if (!GetInt32(env, argv[7], "rflags", &rflags)) return nullptr;
  if (content_length < -1) content_length = -1;

  Connection* c = server->Lookup(conn);
  if (c == nullptr) return Int32(env, kWrGone);
  JsLatin1 status_text(env, argv[2]);
  JsLatin1 headers(env, argv[3]);
  // A complete response's body is lent (written before the call returns);
  // the first chunk of a longer one is copied, so that it leaves with the
  // chunks that follow in the same turn rather than in a write of its own.
  JsString body_string(env, body.value);
  LentBytes body_lent(body.data, body.length);
  BytesText body_bytes(body.data, body.length);
  Text* body_text = nullptr;
  if (body.present) {
    body_text = body.is_string ? static_cast<Text*>(&body_string)
                : last         ? static_cast<Text*>(&body_lent)
                               : static_cast<Text*>(&body_bytes);
  }
  int r = c->Respond(req_flags, status, status_text, &headers, content_length,
                     body_text, last, rflags);
  r = c->EndLoans(r);
  return Result(env, server, r,
                "respond: no unanswered request, or a response is already "
                "in progress on this connection");
}

// Throws the TypeError of a status or header block the Writer refuses.
void ThrowInvalidHead(napi_env env, bool status) {
  napi_value code, text, error;
  napi_create_string_utf8(env, kInvalidHeadCode, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(
      env,
      status ? "respond: the status must be \"NNN reason\" with a code from "
               "200 to 599 and no control character (CR, LF, NUL...); "
               "nothing was sent"
             : "respond: every header line must be \"token: value\\r\\n\" "
               "with no control character (CR, LF, NUL...) in the value; "
               "nothing was sent",
      NAPI_AUTO_LENGTH, &text);
  napi_create_type_error(env, code, text, &error);
  napi_throw(env, error);
}

// prepareHead(slot, status, headers): stores the status line and header
// block in the Server's slot, checked as respond() checks them.
napi_value PrepareHead(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Server* server = Unpack(env, info, 3, argv);
  if (server == nullptr) return nullptr;
  int32_t slot;
  if (!GetInt32(env, argv[0], "slot", &slot)) return nullptr;
  if (slot < 0 || static_cast<uint32_t>(slot) >= kMaxPreparedHeads) {
    ThrowRange(env, "prepareHead: slot must be below maxPreparedHeads");
    return nullptr;
  }
  if (!IsType(env, argv[1], napi_string) ||
      !IsType(env, argv[2], napi_string)) {
    ThrowType(env, "prepareHead: status and headers must be strings");
    return nullptr;
  }
  std::string bytes = "HTTP/1.1 ";
  size_t status_len = 0;
  size_t headers_len = 0;
  napi_get_value_string_latin1(env, argv[1], nullptr, 0, &status_len);
  napi_get_value_string_latin1(env, argv[2], nullptr, 0, &headers_len);
  const size_t at = bytes.size();
  bytes.resize(at + status_len + 2 + headers_len + 1);
  size_t n = 0;
  napi_get_value_string_latin1(env, argv[1], &bytes[at], status_len + 1, &n);
  if (n != status_len || !IsValidStatusText(&bytes[at], n)) {
    ThrowInvalidHead(env, true);
    return nullptr;
  }
  int status = (bytes[at] - '0') * 100 + (bytes[at + 1] - '0') * 10 +
               (bytes[at + 2] - '0');
  bytes[at + n] = '\r';
  bytes[at + n + 1] = '\n';
  const size_t block = at + n + 2;
  napi_get_value_string_latin1(env, argv[2], &bytes[block], headers_len + 1,
                               &n);
  if (n != headers_len || !IsValidHeaderBlock(&bytes[block], n)) {
    ThrowInvalidHead(env, false);
    return nullptr;
  }
  bytes.resize(block + n);
  server->PrepareHead(static_cast<uint32_t>(slot), std::move(bytes), status);
  return Undefined(env);
}

// respondHead(conn, reqFlags, slot, contentLength, body, last, rflags):
// respond() with a prepared head.
napi_value RespondHead(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  Server* server = Unpack(env, info, 7, argv);
  if (server == nullptr) return nullptr;
  int32_t conn, req_flags, slot, rflags;
  int64_t content_length;
  if (!GetInt32(env, argv[0], "conn", &conn) ||
      !GetInt32(env, argv[1], "reqFlags", &req_flags) ||
      !GetInt32(env, argv[2], "slot", &slot) ||
      !GetInt64(env, argv[3], "contentLength", &content_length)) {
    return nullptr;
  }
  const PreparedHead* head = server->Prepared(slot);
  if (head == nullptr) {
    ThrowRange(env, "respondHead: no head is prepared in this slot");
    return nullptr;
  }
  ChunkArg body;
  if (!GetChunk(env, argv[4], true, "body", &body)) return nullptr;
  bool last = false;
  if (napi_get_value_bool(env, argv[5], &last) != napi_ok) {
    ThrowType(env, "last must be a boolean");
    return nullptr;
  }
  if (!GetInt32(env, argv[6], "rflags", &rflags)) return nullptr;
  if (content_length < -1) content_length = -1;
  Connection* c = server->Lookup(conn);
  if (c == nullptr) return Int32(env, kWrGone);
  // A complete response's body is lent (written before the call returns);
  // the first chunk of a longer one is copied, so that it leaves with the
  // chunks that follow in the same turn rather than in a write of its own.
  JsString body_string(env, body.value);
  LentBytes body_lent(body.data, body.length);
  BytesText body_bytes(body.data, body.length);
  Text* body_text = nullptr;
  if (body.present) {
    body_text = body.is_string ? static_cast<Text*>(&body_string)
                : last         ? static_cast<Text*>(&body_lent)
                               : static_cast<Text*>(&body_bytes);
  }
  int r = c->RespondPrepared(req_flags, *head, content_length, body_text,
                             last, rflags);
  r = c->EndLoans(r);
  return Result(env, server, r,
                "respond: no unanswered request, or a response is already "
                "in progress on this connection");
}

// One body chunk of a response: a string is encoded into the cork buffer,
// a Uint8Array is LentBytes (see WriteChunks).
int WriteChunk(napi_env env, Connection* c, const ChunkArg& chunk) {
  if (chunk.is_string) {
    JsString text(env, chunk.value);
    return c->Write(text);
  }
  LentBytes text(chunk.data, chunk.length);
  return c->Write(text);
}

// writeChunks(conn, chunks, end): the chunks a response made in one turn,
// in one call (and its end when `end`). Here and in respond and
// respondHead, a Uint8Array is LentBytes: one of kBorrowMin bytes or more is
// not copied, its memory is read only during the call (the writev of
// EndLoans, before the call returns), so libuv never holds JS memory and
// nothing must be kept alive after the call.
napi_value WriteChunks(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Server* server = Unpack(env, info, 3, argv);
  if (server == nullptr) return nullptr;
  int32_t conn;
  if (!GetInt32(env, argv[0], "conn", &conn)) return nullptr;
  bool is_array = false;
  uint32_t count = 0;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[1], &count) != napi_ok) {
    ThrowType(env, "chunks must be an array");
    return nullptr;
  }
  bool end = false;
  if (napi_get_value_bool(env, argv[2], &end) != napi_ok) {
    ThrowType(env, "end must be a boolean");
    return nullptr;
  }
  Connection* c = server->Lookup(conn);
  if (c == nullptr) return Int32(env, kWrGone);
  int r = kWrOk;
  for (uint32_t i = 0; i < count && r != kWrGone && r != kWrMisuse; i++) {
    napi_value value;
    ChunkArg chunk;
    if (napi_get_element(env, argv[1], i, &value) != napi_ok ||
        !GetChunk(env, value, false, "each chunk", &chunk)) {
      // The chunks before it are written; their output is scheduled as
      // after any call (Result does that on the other paths).
      c->EndLoans(kWrOk);
      server->AfterApiCall();
      return nullptr;
    }
    r = WriteChunk(env, c, chunk);
  }
  if (end && r != kWrGone && r != kWrMisuse) r = c->End();
  r = c->EndLoans(r);
  return Result(env, server, r, "writeChunks: no response in progress");
}

napi_value End(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Server* server = Unpack(env, info, 1, argv);
  if (server == nullptr) return nullptr;
  int32_t conn;
  if (!GetInt32(env, argv[0], "conn", &conn)) return nullptr;
  Connection* c = server->Lookup(conn);
  if (c == nullptr) return Int32(env, kWrGone);
  return Result(env, server, c->End(), "end: no response in progress");
}

napi_value SendFile(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Server* server = Unpack(env, info, 4, argv);
  if (server == nullptr) return nullptr;
  int32_t conn, fd;
  int64_t offset, length;
  if (!GetInt32(env, argv[0], "conn", &conn) ||
      !GetInt32(env, argv[1], "fd", &fd) ||
      !GetInt64(env, argv[2], "offset", &offset) ||
      !GetInt64(env, argv[3], "length", &length)) {
    return nullptr;
  }
  if (fd < 0 || offset < 0 || length < 0) {
    ThrowRange(env, "sendFile: fd, offset and length must not be negative");
    return nullptr;
  }
  Connection* c = server->Lookup(conn);
  if (c == nullptr) return Int32(env, kWrGone);
  return Result(env, server, c->SendFile(fd, offset, length),
                "sendFile: no response in progress, or a file is already "
                "being sent");
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
