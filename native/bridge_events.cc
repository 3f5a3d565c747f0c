// bridge_events.cc: EventSink, the event records C++ writes for JS: each
// record's words go into the shared Int32Array and its bytes into the
// shared Uint8Array, and a batch reaches JS with one onEvents call.
#include "bridge.h"

#include <cstring>

#include "known_headers.h"

namespace tsgi {

namespace {

// Words kept free for records made while JS reads a batch (Drain,
// FileDone): parse-time records never use them.
constexpr size_t kHeadroom = 256;

}  // namespace

// ---- EventSink -----------------------------------------------------------

bool EventSink::Init(napi_env env, napi_value on_events, napi_value events,
                     napi_value bytes, OptionError* error) {
  env_ = env;
  napi_valuetype type;
  if (napi_typeof(env, on_events, &type) != napi_ok ||
      type != napi_function) {
    error->Set(OptionError::Kind::kType, "options.onEvents must be a function");
    return false;
  }
  bool is_typed = false;
  napi_typedarray_type ta_type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  if (napi_is_typedarray(env, events, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, events, &ta_type, &length, &data, &buffer,
                               &offset) != napi_ok ||
      ta_type != napi_int32_array) {
    error->Set(OptionError::Kind::kType, "options.events must be an Int32Array");
    return false;
  }
  if (length < kMinEventWords) {
    error->Set(OptionError::Kind::kRange,
               "options.events is shorter than minEventWords");
    return false;
  }
  ev_ = static_cast<int32_t*>(data);
  ev_cap_ = length;
  if (napi_is_typedarray(env, bytes, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, bytes, &ta_type, &length, &data, &buffer,
                               &offset) != napi_ok ||
      ta_type != napi_uint8_array) {
    error->Set(OptionError::Kind::kType, "options.bytes must be a Uint8Array");
    return false;
  }
  if (length < kMinBytes) {
    error->Set(OptionError::Kind::kRange,
               "options.bytes is shorter than minBytes");
    return false;
  }
  // Offsets into the bytes cross as int32.
  if (length > static_cast<size_t>(INT32_MAX)) {
    error->Set(OptionError::Kind::kRange,
               "options.bytes is longer than 2^31 - 1");
    return false;
  }
  bytes_ = static_cast<uint8_t*>(data);
  bytes_cap_ = length;

  napi_value resource;
  napi_value name;
  if (napi_create_reference(env, on_events, 1, &on_events_) != napi_ok ||
      napi_create_reference(env, events, 1, &events_ref_) != napi_ok ||
      napi_create_reference(env, bytes, 1, &bytes_ref_) != napi_ok ||
      napi_create_object(env, &resource) != napi_ok ||
      napi_create_reference(env, resource, 1, &resource_) != napi_ok ||
      napi_create_string_utf8(env, "tsgi.Server", NAPI_AUTO_LENGTH, &name) !=
          napi_ok ||
      napi_async_init(env, resource, name, &async_context_) != napi_ok) {
    error->Set(OptionError::Kind::kType, "cannot set up the event callback");
    return false;
  }
  return true;
}

void EventSink::Destroy() {
  if (env_ == nullptr) return;
  if (async_context_ != nullptr) napi_async_destroy(env_, async_context_);
  async_context_ = nullptr;
  DropArea();
  napi_ref* refs[] = {&on_events_, &events_ref_, &bytes_ref_, &resource_};
  for (napi_ref* ref : refs) {
    if (*ref != nullptr) napi_delete_reference(env_, *ref);
    *ref = nullptr;
  }
  ev_ = nullptr;
  bytes_ = nullptr;
  ev_cap_ = bytes_cap_ = ev_len_ = bytes_len_ = 0;
  disabled_ = true;
}

void EventSink::EnsureRoom(size_t words, size_t bytes) {
  if (overflow_.empty() && ev_len_ + words + kHeadroom <= ev_cap_ &&
      bytes_len_ + bytes <= bytes_cap_) {
    return;
  }
  Flush();
}

size_t EventSink::BodyRoom() const {
  if (!overflow_.empty() || ev_len_ + EventWords(kEvBody) + kHeadroom > ev_cap_) {
    return 0;
  }
  return bytes_cap_ - bytes_len_;
}

void EventSink::Open(int32_t conn, const char* addr, size_t addr_len,
                     int32_t remote_port, int32_t local_port,
                     int32_t listener) {
  if (disabled_) return;
  constexpr size_t kWords = EventWords(kEvOpen);
  if (ev_len_ + kWords > ev_cap_ || bytes_len_ + addr_len > bytes_cap_) return;
  size_t off = bytes_len_;
  std::memcpy(bytes_ + off, addr, addr_len);
  bytes_len_ += addr_len;
  int32_t* w = ev_ + ev_len_;
  w[0] = kEvOpen;
  w[1] = conn;
  w[2] = static_cast<int32_t>(off);
  w[3] = static_cast<int32_t>(addr_len);
  w[4] = remote_port;
  w[5] = local_port;
  w[6] = listener;
  static_assert(kWords == 7, "the Open record is written above");
  ev_len_ += kWords;
}

void EventSink::Head(int32_t conn, const ParsedHead& head) {
  if (disabled_) return;
  constexpr size_t kFixed = EventWords(kEvHead);
  static_assert(kFixed == 7 && kHeadWordsPerHeader == 4,
                "the Head record is written below");
  size_t words = kFixed + kHeadWordsPerHeader * size_t{head.header_count};
  if (ev_len_ + words > ev_cap_ || bytes_len_ + head.size > bytes_cap_) {
    return;  // unreachable: limits are checked against the capacities
  }
  // From the target on: the request line's method and version cross as
  // numbers and flags.
  const uint32_t copied = head.size - head.url_off;
  const int32_t base =
      static_cast<int32_t>(bytes_len_) - static_cast<int32_t>(head.url_off);
  std::memcpy(bytes_ + bytes_len_, head.bytes + head.url_off, copied);
  bytes_len_ += copied;
  int32_t* w = ev_ + ev_len_;
  w[0] = kEvHead;
  w[1] = conn;
  w[2] = head.method;
  w[3] = head.flags | (head.method << kRfMethodShift);
  w[4] = base + static_cast<int32_t>(head.url_off);
  w[5] = static_cast<int32_t>(head.url_len);
  w[6] = static_cast<int32_t>(head.header_count);
  w += kFixed;
  for (uint32_t i = 0; i < head.header_count; i++, w += kHeadWordsPerHeader) {
    const HeaderSpan& h = head.headers[i];
    w[0] = base + static_cast<int32_t>(h.name_off);
    // A known name crosses as its id (a negative length), so that JS
    // makes no string for it.
    const int32_t known = KnownHeaderId(head.bytes + h.name_off, h.name_len);
    w[1] = known != 0 ? -known : static_cast<int32_t>(h.name_len);
    w[2] = base + static_cast<int32_t>(h.value_off);
    w[3] = static_cast<int32_t>(h.value_len);
  }
  ev_len_ += words;
}

void EventSink::Body(int32_t conn, const char* data, size_t length) {
  if (disabled_) return;
  constexpr size_t kWords = EventWords(kEvBody);
  static_assert(kWords == 4, "the Body record is written below");
  if (ev_len_ + kWords > ev_cap_) return;
  int32_t where;
  if (length <= kBodyAreaChunkMax && AreaTakes(length)) {
    std::memcpy(area_ + area_used_, data, length);
    where = ~static_cast<int32_t>(area_used_);
    // The next chunk starts 8-aligned, as a buffer of its own would.
    area_used_ = (area_used_ + length + 7) & ~static_cast<size_t>(7);
    if (area_used_ > area_cap_) area_used_ = area_cap_;
  } else {
    if (bytes_len_ + length > bytes_cap_) return;
    where = static_cast<int32_t>(bytes_len_);
    std::memcpy(bytes_ + bytes_len_, data, length);
    bytes_len_ += length;
  }
  int32_t* w = ev_ + ev_len_;
  w[0] = kEvBody;
  w[1] = conn;
  w[2] = where;
  w[3] = static_cast<int32_t>(length);
  ev_len_ += kWords;
}

bool EventSink::SetBodyArea(napi_value array_buffer) {
  bool is_ab = false;
  if (napi_is_arraybuffer(env_, array_buffer, &is_ab) != napi_ok || !is_ab) {
    return false;
  }
  void* data = nullptr;
  size_t length = 0;
  if (napi_get_arraybuffer_info(env_, array_buffer, &data, &length) !=
      napi_ok) {
    return false;
  }
  napi_ref ref = nullptr;
  if (napi_create_reference(env_, array_buffer, 1, &ref) != napi_ok) {
    return false;
  }
  DropArea();
  area_ref_ = ref;
  area_ = static_cast<uint8_t*>(data);
  // Offsets cross as ~offset in an int32.
  area_cap_ = length > static_cast<size_t>(INT32_MAX)
                  ? static_cast<size_t>(INT32_MAX)
                  : length;
  area_used_ = 0;
  return true;
}

bool EventSink::AreaTakes(size_t length) {
  if (area_ == nullptr || area_cap_ - area_used_ < length) return false;
  // A detached ArrayBuffer's bytes belong to whoever it was transferred to
  // (or are freed): check before every write, as JS ran since the last.
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return false;
  napi_value value = nullptr;
  bool detached = true;
  if (napi_get_reference_value(env_, area_ref_, &value) == napi_ok &&
      value != nullptr) {
    napi_is_detached_arraybuffer(env_, value, &detached);
  }
  napi_close_handle_scope(env_, scope);
  if (detached) DropArea();
  return !detached;
}

void EventSink::DropArea() {
  if (area_ref_ != nullptr && env_ != nullptr) {
    napi_delete_reference(env_, area_ref_);
  }
  area_ref_ = nullptr;
  area_ = nullptr;
  area_cap_ = area_used_ = 0;
}

void EventSink::Proxy(int32_t conn, const ProxyResult& result) {
  if (disabled_) return;
  constexpr size_t kWords = EventWords(kEvProxy);
  static_assert(kWords == 9, "the Proxy record is written below");
  const size_t src_len = std::strlen(result.source);
  const size_t dst_len = std::strlen(result.destination);
  if (ev_len_ + kWords > ev_cap_ || bytes_len_ + src_len + dst_len > bytes_cap_) {
    return;  // unreachable: the caller made room
  }
  const size_t off = bytes_len_;
  std::memcpy(bytes_ + off, result.source, src_len);
  std::memcpy(bytes_ + off + src_len, result.destination, dst_len);
  bytes_len_ += src_len + dst_len;
  int32_t* w = ev_ + ev_len_;
  w[0] = kEvProxy;
  w[1] = conn;
  w[2] = result.has_address ? 1 : 0;
  w[3] = static_cast<int32_t>(off);
  w[4] = static_cast<int32_t>(src_len);
  w[5] = result.source_port;
  w[6] = static_cast<int32_t>(off + src_len);
  w[7] = static_cast<int32_t>(dst_len);
  w[8] = result.destination_port;
  ev_len_ += kWords;
}

void EventSink::AppendSmall(const int32_t* words, size_t count) {
  if (disabled_) return;
  if (overflow_.empty() && ev_len_ + count <= ev_cap_) {
    std::memcpy(ev_ + ev_len_, words, count * sizeof(int32_t));
    ev_len_ += count;
    return;
  }
  overflow_.insert(overflow_.end(), words, words + count);
}

void EventSink::Small(int32_t type, int32_t conn) {
  const int32_t w[2] = {type, conn};
  AppendSmall(w, 2);
}

void EventSink::Small(int32_t type, int32_t conn, int32_t arg) {
  const int32_t w[3] = {type, conn, arg};
  AppendSmall(w, 3);
}

void EventSink::Closed() {
  const int32_t w[1] = {kEvClosed};
  AppendSmall(w, 1);
}

void EventSink::Flush() {
  if (in_js_) return;  // the running call's loop delivers what is added
  if (disabled_) {
    ev_len_ = bytes_len_ = 0;
    overflow_.clear();
    return;
  }
  if (!HasEvents()) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) {
    disabled_ = true;
    return;
  }
  napi_value fn;
  napi_value recv;
  if (napi_get_reference_value(env_, on_events_, &fn) != napi_ok ||
      napi_get_reference_value(env_, resource_, &recv) != napi_ok ||
      fn == nullptr || recv == nullptr) {
    disabled_ = true;
  }
  while (!disabled_ && HasEvents()) {
    if (!overflow_.empty()) {
      size_t n = ev_cap_ - ev_len_;
      if (n > overflow_.size()) n = overflow_.size();
      std::memcpy(ev_ + ev_len_, overflow_.data(), n * sizeof(int32_t));
      ev_len_ += n;
      overflow_.erase(overflow_.begin(), overflow_.begin() + n);
    }
    const size_t words = ev_len_;
    // The second argument asks JS for a new body area: this batch's chunks
    // are all recorded (records added while JS runs carry no bytes), so
    // area_used_ is final for it. JS keeps no count of its own.
    napi_value argv[2];
    napi_create_uint32(env_, static_cast<uint32_t>(words), &argv[0]);
    napi_get_boolean(env_, AreaWanted(), &argv[1]);
    napi_value result;
    in_js_ = true;
    napi_status status =
        napi_make_callback(env_, async_context_, recv, fn, 2, argv, &result);
    in_js_ = false;
    // Records added while JS ran (they carry no bytes) move to the front.
    size_t extra = ev_len_ - words;
    if (extra != 0) {
      std::memmove(ev_, ev_ + words, extra * sizeof(int32_t));
    }
    ev_len_ = extra;
    bytes_len_ = 0;
    if (status != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env_, &pending);
      if (pending) {
        napi_value exception;
        napi_get_and_clear_last_exception(env_, &exception);
        // Like any exception thrown from an I/O callback: 'uncaughtException'.
        napi_fatal_exception(env_, exception);
      } else {
        // JS cannot run any more (the environment is stopping).
        disabled_ = true;
      }
    }
  }
  if (disabled_) {
    ev_len_ = bytes_len_ = 0;
    overflow_.clear();
  }
  napi_close_handle_scope(env_, scope);
}

}  // namespace tsgi
