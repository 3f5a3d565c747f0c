// bridge_options.h: reading the options object of `new Server(options)`
// (bridge_options.cc) for the constructor in bridge.cc.
#ifndef TSGI_BRIDGE_OPTIONS_H_
#define TSGI_BRIDGE_OPTIONS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "bridge.h"
#include "node_api.h"
#include "server.h"

namespace tsgi {

// The options of one `new Server(options)`, read and checked. The values
// belong to the constructor call's handle scope; Server::Init checks the
// arrays and the callback.
struct ServerOptions {
  napi_value on_events = nullptr;
  napi_value events = nullptr;
  napi_value bytes = nullptr;
  napi_value responses = nullptr;
  napi_value response_bytes = nullptr;
  napi_value metrics = nullptr;
  // options.inflight, the watchdog's ring (inflight.h), and its words; or
  // undefined and nullptr.
  napi_value inflight = nullptr;
  int32_t* inflight_words = nullptr;
  std::unique_ptr<ServerConfig> config;
};

// Reads `options` (an object) into `out`. False, with the TypeError or
// RangeError thrown, when an option is missing or wrong.
bool ReadServerOptions(napi_env env, napi_value options, ServerOptions* out);

// Throws a TypeError or RangeError carrying `code`.
void ThrowWithCode(napi_env env, OptionError::Kind kind, const char* code,
                   const std::string& message);

// `value` is of type `want` (also used by the methods in bridge.cc and
// bridge_respond.cc).
inline bool IsType(napi_env env, napi_value value, napi_valuetype want) {
  napi_valuetype type;
  return napi_typeof(env, value, &type) == napi_ok && type == want;
}

}  // namespace tsgi

#endif  // TSGI_BRIDGE_OPTIONS_H_
