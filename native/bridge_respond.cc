// bridge_respond.cc: the response methods of the JS `Server` class
// (respond, prepareHead, respondHead, writeChunks, end, sendFile): each
// unpacks the primitives of a response step and hands them to its
// Connection. Strings are encoded straight into output buffers; nothing
// here allocates per request. The rest of the class, and the registration
// of every method, is bridge.cc's.
#include "bridge_methods.h"

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

// The last three arguments of respond() and respondHead(): body, last,
// rflags. `body.value` belongs to the call's handle scope, `body.data` to
// the Uint8Array: both only for the call.
struct BodyArgs {
  ChunkArg body;
  bool last = false;
  int32_t rflags = 0;
};

// Reads argv[0], argv[1] and argv[2] as body, last and rflags into `out`;
// false, with the TypeError thrown, when one is of the wrong type.
bool GetBodyArgs(napi_env env, const napi_value* argv, BodyArgs* out) {
  if (!GetChunk(env, argv[0], true, "body", &out->body)) return false;
  if (napi_get_value_bool(env, argv[1], &out->last) != napi_ok) {
    ThrowType(env, "last must be a boolean");
    return false;
  }
  return GetInt32(env, argv[2], "rflags", &out->rflags);
}

// The Text of the body argument of respond() or respondHead(), on the
// stack of that call; nothing in it outlives the call, and it neither
// allocates nor calls Node-API (the Writer encodes the chosen Text).
// - A string is JsString: its napi_value belongs to the call's handle
//   scope; it is encoded as UTF-8 into the cork buffer during the call.
// - A Uint8Array of a complete response (`last`) is LentBytes: its memory
//   stays JS's and is read only during the call. From kBorrowMin bytes,
//   with no write or file job in flight, it is not copied: the call's
//   EndLoans hands it to uv_try_write (one writev) and copies what the
//   socket does not take into the Writer's in-flight buffer, before the
//   call returns, so libuv never holds JS memory. Otherwise it is copied
//   into the cork buffer during the call (Writer::WriteBorrowed).
// - A Uint8Array that is the first chunk of a longer response is
//   BytesText, copied into the cork buffer during the call, so that it
//   leaves with the chunks that follow in the same turn rather than in a
//   write of its own.
class BodyText {
 public:
  BodyText(napi_env env, const BodyArgs& args)
      : string_(env, args.body.value),
        lent_(args.body.data, args.body.length),
        bytes_(args.body.data, args.body.length) {
    if (!args.body.present) return;
    text_ = args.body.is_string ? static_cast<Text*>(&string_)
            : args.last         ? static_cast<Text*>(&lent_)
                                : static_cast<Text*>(&bytes_);
  }
  BodyText(const BodyText&) = delete;
  BodyText& operator=(const BodyText&) = delete;

  // The chosen Text, or nullptr when the body is null or undefined.
  Text* get() const { return text_; }

 private:
  JsString string_;
  LentBytes lent_;
  BytesText bytes_;
  Text* text_ = nullptr;  // one of the three above, in this object
};

// What respond() and respondHead() throw for a call with no request to
// answer.
constexpr char kRespondMisuse[] =
    "respond: no unanswered request, or a response is already in progress "
    "on this connection";

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

}  // namespace

// ---- Methods -------------------------------------------------------------

napi_value Respond(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  Server* server = Unpack(env, info, 8, argv);
  if (server == nullptr) return nullptr;
  int32_t conn, req_flags;
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
  BodyArgs args;
  if (!GetBodyArgs(env, argv + 5, &args)) return nullptr;
  if (content_length < -1) content_length = -1;

  Connection* c = server->Lookup(conn);
  if (c == nullptr) return Int32(env, kWrGone);
  JsLatin1 status_text(env, argv[2]);
  JsLatin1 headers(env, argv[3]);
  BodyText body(env, args);
  int r = c->Respond(req_flags, status, status_text, &headers, content_length,
                     body.get(), args.last, args.rflags);
  return Result(env, server, c->EndLoans(r), kRespondMisuse);
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
  int32_t conn, req_flags, slot;
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
  BodyArgs args;
  if (!GetBodyArgs(env, argv + 4, &args)) return nullptr;
  if (content_length < -1) content_length = -1;
  Connection* c = server->Lookup(conn);
  if (c == nullptr) return Int32(env, kWrGone);
  BodyText body(env, args);
  int r = c->RespondPrepared(req_flags, *head, content_length, body.get(),
                             args.last, args.rflags);
  return Result(env, server, c->EndLoans(r), kRespondMisuse);
}

// writeChunks(conn, chunks, end): the chunks a response made in one turn,
// in one call (and its end when `end`). Here a Uint8Array is LentBytes,
// as the body of a complete response is (BodyText): one of kBorrowMin
// bytes or more is not copied, its memory is read only during the call
// (the writev of EndLoans, before the call returns), so libuv never holds
// JS memory and nothing must be kept alive after the call.
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

}  // namespace tsgi
