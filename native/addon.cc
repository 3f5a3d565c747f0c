// addon.cc: module initialisation: exports the Server class, llhttp's
// method names (indexed by llhttp's method number), the known header names
// (indexed by their id in Head records), the llhttp version, the Node-API
// version the addon was compiled for, and `contract`: the enums, record
// layout, id layout, array minimums and HTTP rules that
// src/native/binding.ts checks when the addon loads (ARCHITECTURE.md, "The
// C++/TS contract"). Each is built from the C++ definition itself, so a new
// value reaches the check without another edit here.
// Node-API addons are loaded once per environment, so a worker thread gets
// its own exports and nothing here is shared between threads.
#include <napi.h>

#include <string>

#include "bridge.h"
#include "connection.h"
#include "errors.h"
#include "http_rules.h"
#include "inflight.h"
#include "known_headers.h"
#include "llhttp.h"
#include "metrics.h"
#include "parser.h"
#include "server.h"
#include "sockets.h"

namespace {

#define TSGI_STR2(x) #x
#define TSGI_STR(x) TSGI_STR2(x)

// A string of the bytes 0..255 for which `in(byte)` holds, one character
// per byte (latin1).
template <typename Predicate>
Napi::Value ByteSet(Napi::Env env, Predicate in) {
  std::string bytes;
  for (int c = 0; c < 256; c++) {
    if (in(static_cast<unsigned char>(c))) bytes.push_back(static_cast<char>(c));
  }
  napi_value value;
  napi_create_string_latin1(env, bytes.data(), bytes.size(), &value);
  return Napi::Value(env, value);
}

Napi::Object HttpRules(Napi::Env env) {
  Napi::Object rules = Napi::Object::New(env);
  rules.Set("tokenChars", ByteSet(env, tsgi::IsTokenChar));
  rules.Set("fieldChars", ByteSet(env, tsgi::IsFieldChar));
  rules.Set("targetChars", ByteSet(env, tsgi::IsTargetChar));
  Napi::Array bodiless = Napi::Array::New(env);
  uint32_t n = 0;
  for (int status = 100; status <= 599; status++) {
    if (tsgi::IsBodylessStatus(status)) bodiless.Set(n++, status);
  }
  rules.Set("bodilessStatuses", bodiless);
  rules.Set("minStatus", tsgi::kMinStatus);
  rules.Set("maxStatus", tsgi::kMaxStatus);
  return rules;
}

// The block of metrics.h: its slots, method labels and bucket bounds.
Napi::Object MetricsLayout(Napi::Env env) {
  using namespace tsgi;  // NOLINT: the slot list names its sizes unqualified
  Napi::Object layout = Napi::Object::New(env);
  Napi::Object slots = Napi::Object::New(env);
#define TSGI_SLOT(name, js, first, count)                             \
  {                                                                   \
    Napi::Array slot = Napi::Array::New(env, 2);                      \
    slot.Set(0u, static_cast<uint32_t>(first));                       \
    slot.Set(1u, static_cast<uint32_t>(count));                       \
    slots.Set(#js, slot);                                             \
  }
  TSGI_METRIC_SLOTS(TSGI_SLOT)
#undef TSGI_SLOT
  layout.Set("slots", slots);
  layout.Set("size", static_cast<uint32_t>(tsgi::kMetricSlots));
  layout.Set("version", tsgi::kMetricsLayoutVersion);
  Napi::Array methods = Napi::Array::New(env);
#define TSGI_METHOD(index, label) methods.Set(static_cast<uint32_t>(index), #label);
  TSGI_METRIC_METHODS(TSGI_METHOD)
#undef TSGI_METHOD
  methods.Set(static_cast<uint32_t>(tsgi::kMetricOther), "other");
  layout.Set("methods", methods);
  Napi::Array buckets = Napi::Array::New(env);
  uint32_t n = 0;
#define TSGI_BOUND(us) buckets.Set(n++, static_cast<double>(us) / 1e6);
  TSGI_METRIC_BUCKETS_US(TSGI_BOUND)
#undef TSGI_BOUND
  layout.Set("buckets", buckets);
  layout.Set("parseErrorSlots", static_cast<uint32_t>(tsgi::kMetricParseErrors));
  return layout;
}

Napi::Object Contract(Napi::Env env) {
  Napi::Object contract = Napi::Object::New(env);
  Napi::Object events = Napi::Object::New(env);
  Napi::Object words = Napi::Object::New(env);
#define TSGI_EVENT(name, js, value, size)       \
  events.Set(#js, static_cast<int32_t>(value)); \
  words.Set(#js, static_cast<uint32_t>(size));
  TSGI_EVENT_TYPES(TSGI_EVENT)
#undef TSGI_EVENT
  contract.Set("events", events);
  contract.Set("eventWords", words);
  contract.Set("headWordsPerHeader",
               static_cast<uint32_t>(tsgi::kHeadWordsPerHeader));
  contract.Set("requestMethodShift", tsgi::kRfMethodShift);
  {
    Napi::Object object = Napi::Object::New(env);
#define TSGI_MODE(name, js, value) object.Set(#js, static_cast<int32_t>(value));
    TSGI_PROXY_MODES(TSGI_MODE)
#undef TSGI_MODE
    contract.Set("proxyModes", object);
  }

#define TSGI_ENTRY(name, js, value) object.Set(#js, static_cast<int32_t>(value));
  {
    Napi::Object object = Napi::Object::New(env);
    TSGI_REQUEST_FLAGS(TSGI_ENTRY)
    contract.Set("requestFlags", object);
  }
  {
    Napi::Object object = Napi::Object::New(env);
    TSGI_RESPONSE_FLAGS(TSGI_ENTRY)
    contract.Set("responseFlags", object);
  }
  {
    Napi::Object object = Napi::Object::New(env);
    TSGI_WRITE_RESULTS(TSGI_ENTRY)
    contract.Set("writeResults", object);
  }
  {
    Napi::Object object = Napi::Object::New(env);
    TSGI_BODY_FAILURES(TSGI_ENTRY)
    contract.Set("bodyFailures", object);
  }
#undef TSGI_ENTRY
  {
    Napi::Object object = Napi::Object::New(env);
#define TSGI_ERROR(name, value, js) object.Set(#js, static_cast<int32_t>(value));
    TSGI_HTTP_ERRORS(TSGI_ERROR)
#undef TSGI_ERROR
    contract.Set("httpErrors", object);
  }
  contract.Set("slotBits", tsgi::kSlotBits);
  contract.Set("generationBits", tsgi::kGenerationBits);
  contract.Set("minEventWords", static_cast<uint32_t>(tsgi::kMinEventWords));
  contract.Set("minBytes", static_cast<uint32_t>(tsgi::kMinBytes));
  contract.Set("bodyAreaChunkMax",
               static_cast<uint32_t>(tsgi::kBodyAreaChunkMax));
  {
    Napi::Object queue = Napi::Object::New(env);
    Napi::Object fields = Napi::Object::New(env);
#define TSGI_FIELD(name) fields.Set(#name, static_cast<int32_t>(tsgi::kRq##name));
    TSGI_RESPONSE_RECORD(TSGI_FIELD)
#undef TSGI_FIELD
    queue.Set("fields", fields);
    queue.Set("recordWords", static_cast<uint32_t>(tsgi::kResponseRecordWords));
    queue.Set("headerWords", static_cast<uint32_t>(tsgi::kQueueHeaderWords));
    queue.Set("minWords", static_cast<uint32_t>(tsgi::kMinQueueWords));
    queue.Set("minBytes", static_cast<uint32_t>(tsgi::kMinQueueBytes));
    queue.Set("maxPreparedHeads", tsgi::kMaxPreparedHeads);
    contract.Set("responseQueue", queue);
  }
  contract.Set("outputHighWater", static_cast<uint32_t>(tsgi::kHighWater));
  contract.Set("outputLowWater", static_cast<uint32_t>(tsgi::kLowWater));
  contract.Set("lingerMs", static_cast<uint32_t>(tsgi::kLingerMs));
  contract.Set("httpRules", HttpRules(env));
  contract.Set("metrics", MetricsLayout(env));
  Napi::Object inflight = Napi::Object::New(env);
  inflight.Set("entries", static_cast<uint32_t>(tsgi::kInflightEntries));
  inflight.Set("words", static_cast<uint32_t>(tsgi::kInflightWords));
  inflight.Set("targetOffset",
               static_cast<uint32_t>(tsgi::kInflightTargetOffset));
  contract.Set("inflight", inflight);
  return contract;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (tsgi::DefineServerClass(env, exports) != napi_ok) return exports;
  if (tsgi::DefineSockets(env, exports) != napi_ok) return exports;

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
  exports.Set("contract", Contract(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(tsgi, Init)
