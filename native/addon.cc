// addon.cc: module initialisation: exports the Server class, llhttp's
// method names (indexed by llhttp's method number), the known header names
// (indexed by their id in Head records), the llhttp version and the
// Node-API version the addon was compiled for.
// Node-API addons are loaded once per environment, so a worker thread gets
// its own exports and nothing here is shared between threads.
#include <napi.h>

#include "bridge.h"
#include "known_headers.h"
#include "llhttp.h"

namespace {

#define TSGI_STR2(x) #x
#define TSGI_STR(x) TSGI_STR2(x)

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (tsgi::DefineServerClass(env, exports) != napi_ok) return exports;

  Napi::Array methods = Napi::Array::New(env);
#define TSGI_METHOD(num, name, string) \
  methods.Set(static_cast<uint32_t>(num), Napi::String::New(env, #string));
  HTTP_ALL_METHOD_MAP(TSGI_METHOD)
#undef TSGI_METHOD
  exports.Set("methods", methods);
  Napi::Array known = Napi::Array::New(env);
  known.Set(0u, env.Null());
  for (size_t i = 0; i < tsgi::kKnownHeaderCount; i++) {
    known.Set(static_cast<uint32_t>(i + 1),
              Napi::String::New(env, tsgi::kKnownHeaders[i].name,
                                tsgi::kKnownHeaders[i].length));
  }
  exports.Set("knownHeaders", known);
  exports.Set("llhttpVersion",
              Napi::String::New(env, TSGI_STR(LLHTTP_VERSION_MAJOR) "." TSGI_STR(
                                         LLHTTP_VERSION_MINOR) "." TSGI_STR(LLHTTP_VERSION_PATCH)));
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(tsgi, Init)
