// bridge_queue.cc: ResponseQueue, the response records JS writes for C++:
// complete responses with a prepared head, applied in order at C++'s next
// drain point.
#include "bridge.h"

#include "server.h"
#include "writer.h"

namespace tsgi {

// ---- ResponseQueue -------------------------------------------------------

namespace {

// The data and length of a typed array of `want`, or false.
bool TypedArrayOf(napi_env env, napi_value value, napi_typedarray_type want,
                  void** data, size_t* length) {
  bool is_typed = false;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset = 0;
  return napi_is_typedarray(env, value, &is_typed) == napi_ok && is_typed &&
         napi_get_typedarray_info(env, value, &type, length, data, &buffer,
                                  &offset) == napi_ok &&
         type == want;
}

}  // namespace

bool ResponseQueue::Init(napi_env env, napi_value words, napi_value bytes,
                         OptionError* error) {
  void* data = nullptr;
  size_t length = 0;
  if (!TypedArrayOf(env, words, napi_int32_array, &data, &length)) {
    error->Set(OptionError::Kind::kType,
               "options.responses must be an Int32Array");
    return false;
  }
  if (length < kMinQueueWords) {
    error->Set(OptionError::Kind::kRange,
               "options.responses is shorter than minQueueWords");
    return false;
  }
  words_ = static_cast<int32_t*>(data);
  words_cap_ = length;
  if (!TypedArrayOf(env, bytes, napi_uint8_array, &data, &length)) {
    error->Set(OptionError::Kind::kType,
               "options.responseBytes must be a Uint8Array");
    return false;
  }
  if (length < kMinQueueBytes || length > static_cast<size_t>(INT32_MAX)) {
    error->Set(OptionError::Kind::kRange,
               "options.responseBytes must hold from minQueueBytes to "
               "2^31 - 1 bytes");
    return false;
  }
  bytes_ = static_cast<const char*>(data);
  bytes_cap_ = length;
  if (napi_create_reference(env, words, 1, &words_ref_) != napi_ok ||
      napi_create_reference(env, bytes, 1, &bytes_ref_) != napi_ok) {
    error->Set(OptionError::Kind::kType, "cannot keep the response queue");
    return false;
  }
  words_[0] = static_cast<int32_t>(kQueueHeaderWords);
  words_[1] = 0;
  return true;
}

void ResponseQueue::Destroy(napi_env env) {
  if (words_ref_ != nullptr) napi_delete_reference(env, words_ref_);
  if (bytes_ref_ != nullptr) napi_delete_reference(env, bytes_ref_);
  words_ref_ = bytes_ref_ = nullptr;
  words_ = nullptr;
  bytes_ = nullptr;
  words_cap_ = bytes_cap_ = 0;
}

void ResponseQueue::Drain(Server* server) {
  if (words_ == nullptr) return;
  const int32_t used = words_[0];
  if (used <= static_cast<int32_t>(kQueueHeaderWords)) return;
  const size_t end = static_cast<size_t>(used) < words_cap_
                         ? static_cast<size_t>(used)
                         : words_cap_;
  // Empty before applying: nothing below runs JS, but a record must be
  // applied once whatever happens.
  words_[0] = static_cast<int32_t>(kQueueHeaderWords);
  words_[1] = 0;
  for (size_t i = kQueueHeaderWords; i + kResponseRecordWords <= end;
       i += kResponseRecordWords) {
    const int32_t* r = words_ + i;
    Connection* conn = server->Lookup(r[kRqConn]);
    const PreparedHead* head = server->Prepared(r[kRqHead]);
    if (conn == nullptr || head == nullptr) continue;
    const int32_t off = r[kRqBodyOff];
    const int32_t len = r[kRqBodyLen];
    BytesText body(nullptr, 0);
    Text* body_text = nullptr;
    if (len >= 0 && off >= 0 &&
        static_cast<size_t>(off) + static_cast<size_t>(len) <= bytes_cap_) {
      body = BytesText(bytes_ + off, static_cast<size_t>(len));
      body_text = &body;
    }
    // The result needs no answer: the response is complete (last), its
    // head was checked when it was prepared, and a connection that goes
    // away meanwhile tells JS with its Close event.
    conn->RespondPrepared(r[kRqReqFlags], *head, r[kRqContentLength],
                          body_text, true, r[kRqRflags]);
  }
}

}  // namespace tsgi
