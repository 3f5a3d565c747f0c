// addon.cc: module initialisation: exports the Server class, llhttp's
// method names (indexed by llhttp's method number) and the llhttp version.
// Node-API addons are loaded once per environment, so a worker thread gets
// its own exports and nothing here is shared between threads.
#include <napi.h>

#include "bridge.h"
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
  exports.Set("llhttpVersion",
              Napi::String::New(env, TSGI_STR(LLHTTP_VERSION_MAJOR) "." TSGI_STR(
                                         LLHTTP_VERSION_MINOR) "." TSGI_STR(LLHTTP_VERSION_PATCH)));
  return exports;
}

}  // namespace

NODE_API_MODULE(tsgi, Init)
