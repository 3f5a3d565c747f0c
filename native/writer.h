// writer.h: Writer, the output side of one connection: response framing
// (RFC 9112 sections 4, 6 and 7), the cork buffer, uv_try_write/uv_write,
// sendfile(2) and the numbers behind backpressure.
#ifndef TSGI_WRITER_H_
#define TSGI_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "byte_buffer.h"
#include "errors.h"
#include "metrics.h"
#include "uv.h"

namespace tsgi {

// Queued output above this makes write/respond return Wr.Full; Drain is
// emitted once it is back at or below kLowWater. Part of the contract with
// src/native/binding.ts (OUTPUT_HIGH_WATER, OUTPUT_LOW_WATER), checked at
// load.
constexpr size_t kHighWater = 64 * 1024;
constexpr size_t kLowWater = 16 * 1024;
// The most a chunk's framing adds (RFC 9112 section 7.1: hex size, CRLF,
// CRLF).
constexpr size_t kChunkFraming = 32;
// Block size for the pread+uv_write fallback of sendFile.
constexpr size_t kFileBlock = 64 * 1024;
// Body chunks of at least this many bytes may be borrowed instead of
// copied into the cork buffer (Writer::WriteBorrowed); smaller ones cost
// less to copy than an iovec entry.
constexpr size_t kBorrowMin = 2 * 1024;
// The most borrowed chunks one Flush gathers (each takes two iovec
// entries, far below IOV_MAX); more are copied.
constexpr size_t kMaxBorrowed = 64;
// The largest chunk lent (uv_buf_t lengths are 32-bit here); a larger one
// is copied.
constexpr size_t kMaxLend = size_t{1} << 30;

// Text not yet in the output buffer: borrowed bytes, or a JS string that
// bridge_respond.cc encodes straight into the buffer (bodies as UTF-8; the
// status line and header fields as latin1, one byte per character). Lives on
// the stack of one Node-API call; nothing keeps it after that call returns.
class Text {
 public:
  // An upper bound of the encoded size.
  virtual size_t MaxSize() = 0;
  // The exact encoded size (may cost one pass over a string).
  virtual size_t ExactSize() = 0;
  // Writes the text to `dst`, which has room for MaxSize() + 1 bytes;
  // returns the number of bytes written.
  virtual size_t EncodeTo(char* dst, size_t room) = 0;
  // True when the bytes are lent (LentBytes): `data` and `length` are
  // set, and the Writer may keep the pointer instead of copying.
  virtual bool Lent(const char** /*data*/, size_t* /*length*/) {
    return false;
  }

 protected:
  ~Text() = default;
};

class BytesText final : public Text {
 public:
  BytesText(const char* data, size_t length) : data_(data), length_(length) {}
  size_t MaxSize() override { return length_; }
  size_t ExactSize() override { return length_; }
  size_t EncodeTo(char* dst, size_t room) override;

 private:
  const char* data_;
  size_t length_;
};

// Bytes of a JS buffer, lent for one Node-API call: a body chunk of
// kBorrowMin bytes or more is then not copied into the cork buffer, and
// the caller must end the loans (Connection::EndLoans, which writes them
// or copies them) before that call returns. Smaller ones are copied.
class LentBytes final : public Text {
 public:
  LentBytes(const char* data, size_t length) : data_(data), length_(length) {}
  size_t MaxSize() override { return length_; }
  size_t ExactSize() override { return length_; }
  size_t EncodeTo(char* dst, size_t room) override;
  bool Lent(const char** data, size_t* length) override {
    *data = data_;
    *length = length_;
    return true;
  }

 private:
  const char* data_;
  size_t length_;
};

class Writer;

// What the Connection learns from its Writer. Calls happen on the loop
// thread, from inside Writer methods or libuv write callbacks.
class WriterOwner {
 public:
  // A queued write finished and the Writer went on with what follows.
  virtual void OnWriterProgress() = 0;
  // Writing failed (UV_ECANCELED when the handle is being closed).
  virtual void OnWriterError(int status) = 0;
  // The sendFile job ended: 0 or a negative errno.
  virtual void OnFileDone(int status) = 0;
  // libuv's write callback for `writer`: the owner calls
  // writer->AfterWrite(status) inside whatever per-callback scope it keeps
  // (so that what the calls above produce is delivered), and may note the
  // progress (status 0: the kernel took the bytes).
  virtual void OnWriteCallback(Writer* writer, int status) = 0;

 protected:
  ~WriterOwner() = default;
};

// What Writer::Respond did.
enum class RespondResult : uint8_t {
  kOk,
  kNoMemory,
  // The status is not "NNN reason" with a final code and field characters
  // (http_rules.h): nothing was written.
  kInvalidStatus,
  // The header block is not a list of `token ":" *field-char CRLF` lines:
  // nothing was written.
  kInvalidHeaders,
};

// A status line and header block that JS registered once
// (Server::PrepareHead) and refers to by its slot: checked when it was
// stored, copied into the cork buffer as it is for every response that
// sends it. Owned by the Server's table (ARCHITECTURE.md, "Who owns which
// memory until when").
struct PreparedHead {
  // "HTTP/1.1 NNN reason\r\n" and the header lines, each ending in CRLF.
  std::string bytes;
  int status = 0;  // 0: the slot is empty
};

struct ResponseStart {
  int status;              // 3-digit code
  bool http10;             // the request was HTTP/1.0
  bool head_request;       // the request was HEAD
  bool close;              // send Connection: close and close afterwards
  int64_t content_length;  // >= 0 known, -1 unknown
};

class Writer {
 public:
  explicit Writer(WriterOwner* owner) : owner_(owner) {}
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Binds to the stream of a newly accepted connection; forgets the state
  // of the previous connection of the slot but keeps buffer capacity.
  // Starts a new connection on `stream`. The cork and in-flight buffers take
  // their blocks from `pool` (the Server's) and give them back whenever
  // they are empty, so an idle connection holds none. Bytes the kernel
  // takes are counted in `metrics` (the Server's, which outlives it).
  void Reset(uv_stream_t* stream, BufferPool* pool, Metrics* metrics);
  // Goes on for another connection of the same Server (pool and metrics
  // stay): only while Idle() and no response is active, when nothing else
  // of the previous connection is left (exchange.h).
  void Rebind(WriterOwner* owner, uv_stream_t* stream) {
    owner_ = owner;
    stream_ = stream;
  }

  // Response framing. All append to the cork buffer; nothing is written to
  // the socket before Flush(). The others return false when memory runs
  // out. Respond checks the bytes of `status` and `headers` as they land in
  // the cork buffer, whatever the caller checked: a CR, LF, NUL or other
  // byte HTTP forbids in a head is refused (and the response not begun).
  RespondResult Respond(Text& status, Text* headers, const char* date_line,
                        size_t date_len, const ResponseStart& start,
                        Text* body);
  // The same with a prepared status line and header block (checked when
  // it was prepared): one copy, no encoding.
  RespondResult RespondPrepared(const PreparedHead& head,
                                const char* date_line, size_t date_len,
                                const ResponseStart& start, Text* body);
  // Appends a body chunk; bytes beyond the declared Content-Length are
  // dropped (surplus() becomes true). A LentBytes chunk of kBorrowMin
  // bytes or more is not copied: the framing goes into the cork buffer and
  // the chunk is written straight from its memory by the next Flush
  // (writev); the loan lasts until that Flush or Settle(), which the
  // caller must reach before the memory may change or go (the bridge:
  // before the Node-API call that lent it returns). It is copied instead
  // while a write or a file job is in flight (Flush would not run), or
  // once kMaxBorrowed chunks are lent.
  bool WriteBody(Text& chunk);
  // Ends every loan: whatever borrowed bytes the socket has not taken yet
  // are copied into the cork buffer, in place. Returns false when memory
  // runs out (the loans end all the same; the caller closes).
  bool Settle();
  bool has_borrowed() const { return borrowed_count_ != 0; }
  // Ends the response; returns true when the connection must be closed
  // after it (short body, surplus, close-delimited, or Connection: close).
  bool EndResponse();
  bool AppendRaw(const char* data, size_t length);
  bool AppendReady(const ReadyResponse& ready, const char* date_line,
                   size_t date_len);

  // Starts sending `length` bytes of `fd` from `offset` as body bytes of
  // the current response; OnFileDone follows (maybe from within this call).
  void SendFile(int fd, int64_t offset, uint64_t length);

  // One uv_try_write of the corked bytes; the rest goes to uv_write. Does
  // nothing while a write or a file job is in flight (their completion
  // continues). Returns 0 or a libuv error.
  int Flush();
  // Drops corked output (abort). Bytes already handed to libuv stay with
  // it until their callback.
  void Discard();
  // The rest of a write callback, run by WriterOwner::OnWriteCallback:
  // releases the in-flight bytes and goes on with what is queued.
  void AfterWrite(int status);

  // True when appending about `more` bytes would take the cork buffer past
  // one pool block (BufferPool::kMaxBlock): the caller flushes first, so
  // that a body made of many chunks is written in blocks as it grows
  // instead of being copied into an ever larger buffer.
  bool CorkFull(size_t more) const {
    return !cork_.empty() && !writing_ && !file_.active &&
           cork_.size() + more + kChunkFraming > BufferPool::kMaxBlock;
  }
  bool response_active() const { return active_; }
  bool response_closes() const { return closes_; }
  bool file_active() const { return file_.active; }
  // Bytes accepted but not yet taken by the kernel.
  size_t Queued() const {
    return cork_.size() + borrowed_len_ + (writing_ ? inflight_len_ : 0);
  }
  // Nothing corked, nothing in flight, no file job.
  bool Idle() const {
    return cork_.empty() && borrowed_count_ == 0 && !writing_ && !file_.active;
  }

 private:
  struct FileJob {
    int fd = -1;
    int64_t offset = 0;
    uint64_t remaining = 0;
    size_t prefix = 0;  // corked bytes that go out before the file
    bool chunk_end = false;
    bool active = false;
  };

  // A chunk lent by WriteBorrowed: its bytes go out right before the
  // cork byte at offset `at`.
  struct Borrowed {
    size_t at;
    const char* data;
    size_t length;
  };

  static void AfterWriteCb(uv_write_t* req, int status);
  bool WriteBorrowed(const char* data, size_t length);
  // Flush with loans: one writev of the cork pieces and the borrowed
  // chunks in order; what the socket does not take is copied into
  // inflight_ and handed to uv_write, so libuv never borrows JS memory.
  int FlushGather();
  void DropBorrowed() {
    borrowed_count_ = 0;
    borrowed_len_ = 0;
  }
  // The framing decisions of a response (the members below `active_`).
  void BeginResponse(const ResponseStart& start);
  // Date, the framing fields, the empty line and the first body bytes,
  // after the status line and the caller's header lines.
  RespondResult FinishHead(const char* date_line, size_t date_len,
                           const ResponseStart& start, Text* body);
  int StartWrite(const char* data, size_t length);
  void ContinueFile();
  void FinishFile(int status);
  // TCP_CORK on the socket while a file job runs (Linux; no-op elsewhere).
  void SetCork(bool on);
  bool AppendText(Text& text, size_t* written);
  bool AppendDecimal(uint64_t value);
  bool AppendHex(uint64_t value);

  WriterOwner* owner_;
  uv_stream_t* stream_ = nullptr;
  Metrics* metrics_ = nullptr;
  void Sent(size_t n) {
    if (metrics_ != nullptr) metrics_->Add(kMxBytesOut, static_cast<double>(n));
  }

  // cork_: owned by the Writer; responses append here.
  // inflight_: handed to libuv by uv_write (bytes [inflight_off, size) of
  //   it) and borrowed by libuv until AfterWrite; never touched meanwhile.
  ByteBuffer cork_;
  ByteBuffer inflight_;
  size_t inflight_len_ = 0;
  uv_write_t write_req_;
  bool writing_ = false;
  // borrowed_: chunks lent by the caller (WriteBorrowed), in order, until
  //   the Flush that writes them or Settle; never handed to libuv. The
  //   array (kMaxBorrowed entries) is allocated at the first loan and kept
  //   for the Writer's life.
  std::unique_ptr<Borrowed[]> borrowed_;
  size_t borrowed_count_ = 0;
  size_t borrowed_len_ = 0;
  BufferPool* pool_ = nullptr;
  FileJob file_;

  // The response in progress (the oldest unanswered request's).
  bool active_ = false;
  bool chunked_ = false;
  bool no_body_ = false;
  bool close_delimited_ = false;
  bool closes_ = false;
  bool surplus_ = false;
  int64_t declared_ = -1;
  uint64_t written_ = 0;
};

}  // namespace tsgi

#endif  // TSGI_WRITER_H_
