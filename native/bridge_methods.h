// bridge_methods.h: what the methods of the JS `Server` class share across
// bridge.cc and bridge_respond.cc: unpacking `this` and the arguments, the
// return values and the errors for a caller's bug; and the response
// methods (bridge_respond.cc), declared for the registration table in
// bridge.cc.
#ifndef TSGI_BRIDGE_METHODS_H_
#define TSGI_BRIDGE_METHODS_H_

#include <cstddef>
#include <cstdint>

#include "bridge.h"
#include "node_api.h"
#include "server.h"

namespace tsgi {

inline napi_value Undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

inline napi_value Int32(napi_env env, int32_t value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  return v;
}

// An argument of a method has the wrong type or value: the caller (JS
// inside this package) has a bug.
inline void ThrowType(napi_env env, const char* message) {
  napi_throw_type_error(env, kInvalidArgCode, message);
}

inline void ThrowRange(napi_env env, const char* message) {
  napi_throw_range_error(env, kInvalidArgCode, message);
}

// Defined in bridge.cc.
// Unpacks `this` and up to `count` arguments (missing ones are undefined).
Server* Unpack(napi_env env, napi_callback_info info, size_t count,
               napi_value* argv);

// Throws the TypeError "<what> must be a number" (bridge.cc).
void ThrowNotNumber(napi_env env, const char* what);

// `status`, that of reading the argument `what` as a number, is napi_ok;
// false, with the TypeError thrown, when it is not.
inline bool NumberRead(napi_env env, napi_status status, const char* what) {
  if (status == napi_ok) return true;
  ThrowNotNumber(env, what);
  return false;
}

// `value` as an int32 or int64 in `out`; false, with a TypeError naming
// `what`, when it is not a number.
inline bool GetInt32(napi_env env, napi_value value, const char* what,
                     int32_t* out) {
  return NumberRead(env, napi_get_value_int32(env, value, out), what);
}

inline bool GetInt64(napi_env env, napi_value value, const char* what,
                     int64_t* out) {
  return NumberRead(env, napi_get_value_int64(env, value, out), what);
}

// The response methods of the JS `Server` class (bridge_respond.cc).
napi_value Respond(napi_env env, napi_callback_info info);
napi_value PrepareHead(napi_env env, napi_callback_info info);
napi_value RespondHead(napi_env env, napi_callback_info info);
napi_value WriteChunks(napi_env env, napi_callback_info info);
napi_value End(napi_env env, napi_callback_info info);
napi_value SendFile(napi_env env, napi_callback_info info);

}  // namespace tsgi

#endif  // TSGI_BRIDGE_METHODS_H_
