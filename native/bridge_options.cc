// bridge_options.cc: the options object of `new Server(options)`, read and
// checked into a ServerConfig: every limit, timeout and tick, the
// ready-made refusals, the metrics slots of parse errors, the watchdog's
// ring and reusePort. A missing or wrong option is a TypeError or
// RangeError with the `code` binding.ts knows (NativeOptionError).
#include "bridge_options.h"

#include <string>
#include <utility>

#include "http_rules.h"

namespace tsgi {

// Throws a TypeError or RangeError carrying `code`.
void ThrowWithCode(napi_env env, OptionError::Kind kind, const char* code,
                   const std::string& message) {
  napi_value code_value, text, error;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value);
  napi_create_string_utf8(env, message.c_str(), message.size(), &text);
  if (kind == OptionError::Kind::kRange) {
    napi_create_range_error(env, code_value, text, &error);
  } else {
    napi_create_type_error(env, code_value, text, &error);
  }
  napi_throw(env, error);
}

namespace {

// A ready-made response as options.refusals gives it: `head` a status
// line, `tail` header lines, the empty line and a body.
bool IsValidReadyResponse(const std::string& head, const std::string& tail) {
  constexpr char kVersion[] = "HTTP/1.1 ";
  constexpr size_t kVersionLen = sizeof(kVersion) - 1;
  if (head.size() < kVersionLen + 2 || head.compare(0, kVersionLen, kVersion) != 0 ||
      head.compare(head.size() - 2, 2, "\r\n") != 0 ||
      !IsValidStatusText(head.data() + kVersionLen,
                         head.size() - kVersionLen - 2)) {
    return false;
  }
  const size_t end = tail.find("\r\n\r\n");
  return end != std::string::npos && IsValidHeaderBlock(tail.data(), end + 2);
}

// Every limit, timeout and tick comes from JS, where src/settings.ts gives
// them their defaults and ranges; a missing one is a bug of the caller.
// The only bounds here are those of the C++ field (`max`).
bool ReadNumber(napi_env env, napi_value options, const char* name,
                double max, double* out) {
  napi_value value;
  if (napi_get_named_property(env, options, name, &value) != napi_ok) {
    return false;
  }
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_undefined) {
    ThrowWithCode(env, OptionError::Kind::kType, kMissingOptionCode,
                  std::string("options.") + name + " is required");
    return false;
  }
  double d = 0;
  if (type != napi_number || napi_get_value_double(env, value, &d) != napi_ok) {
    ThrowWithCode(env, OptionError::Kind::kType, kInvalidOptionCode,
                  std::string("options.") + name + " must be a number");
    return false;
  }
  if (!(d >= 0) || d > max) {
    ThrowWithCode(env, OptionError::Kind::kRange, kInvalidOptionCode,
                  std::string("options.") + name +
                      " must be a number from 0 to " +
                      std::to_string(static_cast<uint64_t>(max)));
    return false;
  }
  *out = d;
  return true;
}

// A size or count: a whole number that fits `max`.
template <typename T>
bool ReadLimit(napi_env env, napi_value options, const char* name, T* out) {
  // Up to 2^53 (JS's safe integers) for 64-bit fields.
  constexpr double kMax = sizeof(T) >= 8 ? 9007199254740991.0
                                         : static_cast<double>(T(~T{0}));
  double d = 0;
  if (!ReadNumber(env, options, name, kMax, &d)) return false;
  if (d != static_cast<double>(static_cast<uint64_t>(d))) {
    ThrowWithCode(env, OptionError::Kind::kRange, kInvalidOptionCode,
                  std::string("options.") + name + " must be a whole number");
    return false;
  }
  *out = static_cast<T>(d);
  return true;
}

// Milliseconds: 0 disables a timeout; a fraction of a millisecond counts
// as a whole one.
bool ReadMs(napi_env env, napi_value options, const char* name,
            uint64_t* out) {
  double d = 0;
  if (!ReadNumber(env, options, name, 9007199254740991.0, &d)) return false;
  uint64_t ms = static_cast<uint64_t>(d);
  if (static_cast<double>(ms) < d) ms++;
  *out = ms;
  return true;
}

// options.refusals[i] = { head, tail } for each HttpError i: the bytes of
// the ready-made response before and after its Date line.
bool ReadRefusals(napi_env env, napi_value options, ServerConfig* config) {
  napi_value list;
  bool is_array = false;
  if (napi_get_named_property(env, options, "refusals", &list) != napi_ok) {
    return false;
  }
  uint32_t length = 0;
  if (napi_is_array(env, list, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, list, &length) != napi_ok ||
      length != kHttpErrorCount) {
    ThrowWithCode(env, OptionError::Kind::kType,
                  IsType(env, list, napi_undefined) ? kMissingOptionCode
                                                    : kInvalidOptionCode,
                  "options.refusals must be an array of " +
                      std::to_string(kHttpErrorCount) +
                      " { head, tail } responses, one per parse error");
    return false;
  }
  for (uint32_t i = 0; i < length; i++) {
    napi_value entry, head, tail;
    std::string* parts[2] = {&config->ready_head[i], &config->ready_tail[i]};
    bool ok = napi_get_element(env, list, i, &entry) == napi_ok &&
              IsType(env, entry, napi_object) &&
              napi_get_named_property(env, entry, "head", &head) == napi_ok &&
              napi_get_named_property(env, entry, "tail", &tail) == napi_ok &&
              IsType(env, head, napi_string) && IsType(env, tail, napi_string);
    napi_value values[2] = {head, tail};
    for (int k = 0; ok && k < 2; k++) {
      size_t n = 0;
      napi_get_value_string_latin1(env, values[k], nullptr, 0, &n);
      parts[k]->resize(n + 1);
      napi_get_value_string_latin1(env, values[k], &(*parts[k])[0], n + 1,
                                   &n);
      parts[k]->resize(n);
    }
    if (ok) ok = IsValidReadyResponse(*parts[0], *parts[1]);
    if (!ok) {
      ThrowWithCode(env, OptionError::Kind::kType, kInvalidOptionCode,
                    "options.refusals[" + std::to_string(i) +
                        "] must be { head, tail }: a status line and the "
                        "header lines, empty line and body after Date");
      return false;
    }
  }
  return true;
}

// options.parseErrorSlots[i]: the metrics slot of HttpError i (needed
// only with options.metrics).
bool ReadParseErrorSlots(napi_env env, napi_value options,
                         ServerConfig* config) {
  napi_value metrics, list;
  if (napi_get_named_property(env, options, "metrics", &metrics) != napi_ok ||
      napi_get_named_property(env, options, "parseErrorSlots", &list) !=
          napi_ok) {
    return false;
  }
  if (IsType(env, metrics, napi_undefined)) return true;
  bool is_array = false;
  uint32_t length = 0;
  bool ok = napi_is_array(env, list, &is_array) == napi_ok && is_array &&
            napi_get_array_length(env, list, &length) == napi_ok &&
            length == kHttpErrorCount;
  for (uint32_t i = 0; ok && i < length; i++) {
    napi_value entry;
    int32_t slot = -1;
    ok = napi_get_element(env, list, i, &entry) == napi_ok &&
         napi_get_value_int32(env, entry, &slot) == napi_ok && slot >= 0 &&
         static_cast<size_t>(slot) < kMetricParseErrors;
    if (ok) config->parse_error_slot[i] = static_cast<uint8_t>(slot);
  }
  if (!ok) {
    ThrowWithCode(env, OptionError::Kind::kType,
                  IsType(env, list, napi_undefined) ? kMissingOptionCode
                                                    : kInvalidOptionCode,
                  "options.parseErrorSlots must be an array of " +
                      std::to_string(kHttpErrorCount) +
                      " slot numbers below " +
                      std::to_string(kMetricParseErrors) +
                      ", one per parse error (with options.metrics)");
  }
  return ok;
}

}  // namespace

bool ReadServerOptions(napi_env env, napi_value options,
                       ServerOptions* out) {
  napi_value on_events, events, bytes, responses, response_bytes, reuse,
      inflight, metrics;
  if (napi_get_named_property(env, options, "onEvents", &on_events) !=
          napi_ok ||
      napi_get_named_property(env, options, "metrics", &metrics) != napi_ok ||
      napi_get_named_property(env, options, "events", &events) != napi_ok ||
      napi_get_named_property(env, options, "bytes", &bytes) != napi_ok ||
      napi_get_named_property(env, options, "responses", &responses) !=
          napi_ok ||
      napi_get_named_property(env, options, "responseBytes",
                              &response_bytes) != napi_ok ||
      napi_get_named_property(env, options, "reusePort", &reuse) != napi_ok ||
      napi_get_named_property(env, options, "inflight", &inflight) !=
          napi_ok) {
    return false;
  }
  // options.inflight: the watchdog's ring (inflight.h), or undefined.
  int32_t* inflight_words = nullptr;
  if (!IsType(env, inflight, napi_undefined)) {
    bool is_typed = false;
    napi_typedarray_type ta_type;
    size_t length = 0;
    void* data = nullptr;
    napi_value buffer;
    size_t offset = 0;
    if (napi_is_typedarray(env, inflight, &is_typed) != napi_ok || !is_typed ||
        napi_get_typedarray_info(env, inflight, &ta_type, &length, &data,
                                 &buffer, &offset) != napi_ok ||
        ta_type != napi_int32_array ||
        length != kInflightEntries * kInflightWords) {
      ThrowWithCode(env, OptionError::Kind::kType, kInvalidOptionCode,
                    "options.inflight must be an Int32Array of " +
                        std::to_string(kInflightEntries * kInflightWords) +
                        " words");
      return false;
    }
    inflight_words = static_cast<int32_t*>(data);
  }
  std::unique_ptr<ServerConfig> config(new ServerConfig());
  Limits& limits = config->limits;
  Timeouts& timeouts = config->timeouts;
  if (!ReadLimit(env, options, "maxUrlSize", &limits.max_url_size) ||
      !ReadLimit(env, options, "maxHeaderSize", &limits.max_header_size) ||
      !ReadLimit(env, options, "maxHeaderCount", &limits.max_header_count) ||
      !ReadLimit(env, options, "maxBodySize", &limits.max_body_size) ||
      !ReadLimit(env, options, "maxChunkExtensionSize",
                 &limits.max_chunk_ext_size) ||
      !ReadMs(env, options, "headersTimeoutMs", &timeouts.headers_ms) ||
      !ReadMs(env, options, "requestTimeoutMs", &timeouts.request_ms) ||
      !ReadMs(env, options, "keepAliveTimeoutMs", &timeouts.keep_alive_ms) ||
      !ReadMs(env, options, "sendTimeoutMs", &timeouts.send_ms) ||
      !ReadMs(env, options, "tickMs", &config->tick_ms) ||
      !ReadRefusals(env, options, config.get()) ||
      !ReadParseErrorSlots(env, options, config.get())) {
    return false;
  }
  if (config->tick_ms == 0) {
    ThrowWithCode(env, OptionError::Kind::kRange, kInvalidOptionCode,
                  "options.tickMs must be at least 1");
    return false;
  }
  config->reuse_port = false;
  if (IsType(env, reuse, napi_boolean)) {
    napi_get_value_bool(env, reuse, &config->reuse_port);
  } else if (!IsType(env, reuse, napi_undefined)) {
    ThrowWithCode(env, OptionError::Kind::kType, kInvalidOptionCode,
                  "options.reusePort must be a boolean");
    return false;
  }
  out->on_events = on_events;
  out->events = events;
  out->bytes = bytes;
  out->responses = responses;
  out->response_bytes = response_bytes;
  out->metrics = metrics;
  out->inflight = inflight;
  out->inflight_words = inflight_words;
  out->config = std::move(config);
  return true;
}

}  // namespace tsgi
