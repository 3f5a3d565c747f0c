// connection.h: Connection, one accepted socket (TCP or unix): read -> parse ->
// events, keep-alive and pipelining bookkeeping (RFC 9112 section 9), the
// response steps JS asks for (connection_respond.cc), and the way the
// socket ends.
#ifndef TSGI_CONNECTION_H_
#define TSGI_CONNECTION_H_

#include <cstdint>

#include "errors.h"
#include "exchange.h"
#include "parser.h"
#include "proxy_protocol.h"
#include "timers.h"
#include "uv.h"
#include "writer.h"

namespace tsgi {

class Server;
struct Listener;

// A connection's id, as JS sees it: `slot | generation << kSlotBits`, a
// positive int32; the generation changes each time the slot is reused, so
// a stale id finds nothing (Server::Lookup). Part of the contract with
// src/native/binding.ts, exported by addon.cc and checked at load.
constexpr uint32_t kSlotBits = 20;
constexpr uint32_t kGenerationBits = 11;
constexpr uint32_t kMaxSlots = 1u << kSlotBits;
constexpr uint32_t kGenerationMask = (1u << kGenerationBits) - 1;
static_assert(kSlotBits + kGenerationBits <= 31, "ids are positive int32");

// Connection::continue_state_: whether the newest request's 100 Continue
// (RFC 9110 section 10.1.1) is owed or sent (connection.cc and
// connection_respond.cc).
constexpr uint8_t kContinueNone = 0;
constexpr uint8_t kContinueWanted = 1;  // the newest request expects 100
constexpr uint8_t kContinueSent = 2;

// Lives in a slot of its Server's slab for the Server's whole life and is
// reused by successive sockets. A socket's lifetime: Accept() ... CloseNow()
// -> uv_close -> OnClosed (Close event, slot freed). Between uv_close and its
// callback libuv still owns handle_ and, if an Exchange is attached, the
// write and shutdown requests in it, so neither may move or die: the slab
// holds pointers and deletes connections only with the Server, after every
// handle is closed, and the Exchange goes back to the pool only from
// OnClosed (or when idle, with nothing in flight).
//
// Resident per connection: the handle, the deadline node, the id, the flags
// and the idle clock. The parser, the writer, the PROXY reader and the
// shutdown request are in an Exchange (exchange.h), attached only while
// the connection is busy (ARCHITECTURE.md, "Who owns which memory until
// when").
class Connection final : public ParserDelegate, public WriterOwner {
 public:
  enum class State : uint8_t {
    kFree,       // no socket
    kOpen,       // serving requests
    kLingering,  // output done, FIN sent, discarding input until EOF
    kClosing,    // uv_close called, waiting for its callback
  };

  Connection(Server* server, uint32_t slot);
  // Only with the Server, after the handle's close callback (the Exchange,
  // if one is still attached, is borrowed by nothing then).
  ~Connection() { delete ex_; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Accepts a pending connection of `listener` into this slot (a uv_tcp_t
  // or a uv_pipe_t, as the listener's). Returns 0, or a libuv error (the
  // handle is then closing; no events are emitted).
  int Accept(Listener* listener, uint32_t generation);

  int32_t id() const {
    return static_cast<int32_t>(slot_ | (generation_ << kSlotBits));
  }
  uint32_t generation() const { return generation_; }
  uint32_t slot() const { return slot_; }
  Server* server() const { return server_; }
  State state() const { return state_; }
  bool announced() const { return announced_; }

  // Steps requested by JS (binding.ts). Each returns a WriteResult.
  int Respond(int32_t req_flags, int status, Text& status_text,
              Text* headers, int64_t content_length, Text* body, bool last,
              int32_t rflags);
  // The same with a status line and header block prepared before.
  int RespondPrepared(int32_t req_flags, const PreparedHead& head,
                      int64_t content_length, Text* body, bool last,
                      int32_t rflags);
  int Write(Text& chunk);
  // Ends the loans a call made with LentBytes (Writer::WriteBody): what
  // is corked is written now (one writev straight from the lent memory)
  // and what the socket does not take is copied. Returns `r`, the call's
  // result, as the call should report it: kWrGone when this closed the
  // connection, kWrOk for a kWrFull the writev relieved, else `r`.
  int EndLoans(int r);
  int End();
  void Abort();
  int SendFile(int fd, int64_t offset, int64_t length);
  void SendContinue();
  void Pause();
  void Resume();
  // The first bytes must be a PROXY header of `mode` (from a trusted
  // front-end, JS decides; called from the Open event, before any read).
  // False when bytes were read already.
  bool ExpectProxy(ProxyMode mode);

  // Writes the corked output (called by the Server for dirty connections).
  void FlushOutput();
  // Server::Close: close now if idle, else after the current response.
  void CloseGracefully();
  // Closes the socket now; buffered output is discarded.
  void CloseNow();

  // libuv read path (the read buffer belongs to the Server).
  void OnRead(ssize_t nread, const uv_buf_t* buf);

  // ParserDelegate
  int OnHead(const ParsedHead& head) override;
  int OnBody(const char* at, size_t length) override;
  int OnMessageComplete(bool keep_alive) override;

  // WriterOwner
  void OnWriterProgress() override;
  void OnWriterError(int status) override;
  void OnFileDone(int status) override;
  void OnWriteCallback(Writer* writer, int status) override;

  // Called from the handle's close callback.
  void OnClosed();

  // DeadlineWheel::ExpireFn for the Server's wheel: `node` is deadline_.
  static void OnDeadlineCb(DeadlineNode* node, uint64_t now);

 private:
  static void OnCloseCb(uv_handle_t* handle);
  static void OnShutdownCb(uv_shutdown_t* req, int status);

  uv_stream_t* stream() { return &handle_.stream; }
  bool Usable() const { return state_ == State::kOpen && !errored_; }
  // ---- The Exchange (exchange.h) ----
  // Attaches one from the Server's pool if none is; false when memory is
  // exhausted (the caller closes). Inline: once per busy period of every
  // connection (each request of a keep-alive client that waits for its
  // response).
  inline bool TakeExchange();
  // A new Exchange (not `ready`): its parser and writer made this Server's.
  void PrepareExchange(Exchange* ex);
  // Gives the Exchange back when the connection is idle with nothing
  // buffered: no request pending or being received (the parser AtRest),
  // no output corked or in flight, no file job, nothing to send or decide
  // later (a pending refusal, a close, a Drain, a 100 Continue). Called
  // where no Writer or Parser method is on the stack (FlushOutput, the
  // write callback, and OnRead after a PROXY header that ended the read).
  void MaybeGiveBack();
  // The Exchange's state, as an idle connection (none attached) has it.
  bool InMessage() const { return ex_ != nullptr && ex_->parser.in_message(); }
  bool ResponseActive() const {
    return ex_ != nullptr && ex_->writer.response_active();
  }
  bool OutputIdle() const { return ex_ == nullptr || ex_->writer.Idle(); }
  // The InflightLog chain (empty without an Exchange).
  void ClearInflight();
  int Backpressure();
  int BeginRespond(int32_t req_flags, int status, int64_t content_length,
                   Text* body, bool last, int32_t rflags,
                   ResponseStart* start);
  int EndRespond(RespondResult result, bool last);
  void StartReading();
  void StopReading();
  void StopParsing();
  void MarkDirty();
  void AfterOutput();
  void CloseAfterFlush();
  void BeginLinger();
  void OnParseError(HttpError error);
  // The response in progress ends (or is cut): the request counters.
  void CountResponse();
  static uint64_t NowUs();
  void OnPeerEnd();
  void SendPendingError();
  // The PROXY header is complete: its record, then HTTP.
  void OnProxyHeader();

  // ---- Timeouts (timers.h) ----
  // The deadline of what the connection is waiting for from the client
  // (RFC 9112 section 9.5), or kNoDeadline:
  // - a partial head: headersTimeout from the Exchange's head_clock, and
  //   requestTimeout from its message_start (408);
  // - a body: requestTimeout from message_start (408);
  // - nothing pending: keepAliveTimeout from idle_since_ once a response
  //   was sent, else headersTimeout from accept (closed without a word).
  // None while JS has paused reading (the wait is ours, not the client's).
  uint64_t ReceiveDeadline() const;
  // sendTimeout after output was queued or last progressed (then cut).
  uint64_t SendDeadline() const;
  // Files deadline_ in the wheel. Called whenever a deadline may have come
  // closer (a later one is found out when the old one passes).
  void ArmTimer();
  // Output was queued or written: tracks the Exchange's send_since, then
  // ArmTimer().
  void NoteOutput();
  void OnDeadline(uint64_t now);

  // One socket at a time, of its listener's kind: a union rather than two
  // handles, so a unix socket costs a TCP one's memory (sizeof the larger).
  union Handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } handle_;
  Server* const server_;
  // Owned from TakeExchange until MaybeGiveBack or OnClosed hands it back
  // to server_->exchanges(); nullptr while idle.
  Exchange* ex_ = nullptr;
  const uint32_t slot_;
  uint32_t generation_ = 0;
  State state_ = State::kFree;

  // The PROXY header is read (ex_->proxy) before anything reaches the
  // parser, and the headers timeout of an idle connection bounds the wait
  // (closed without a word, as an invalid header is).
  bool proxy_pending_ = false;

  // Requests handed to JS (Head records) whose response has not ended.
  // JS answers them in order, so the oldest is the one being answered.
  uint32_t pending_ = 0;
  HttpError pending_error_ = HttpError::kNone;
  uint8_t continue_state_ = 0;
  bool announced_ = false;       // Open was emitted (so Close will be)
  bool reading_ = false;         // uv_read_start in effect
  bool paused_ = false;          // JS called pause()
  bool parse_done_ = false;      // nothing more is parsed on this socket
  bool close_after_flush_ = false;
  bool errored_ = false;         // a ready-made response replaced JS's
  bool peer_ended_ = false;      // EOF from the client
  // The newest request ends the connection though its head kept it (a
  // Connection field in its trailers, Parser::Complete): nothing more is
  // read, and its response closes.
  bool last_message_ = false;
  bool want_drain_ = false;      // a write returned kWrFull
  // The newest request JS has (Head emitted) is still receiving its body.
  // Not the parser's in_body(): during an early flush inside OnHead the
  // parser is already in the next request, which JS has not seen yet.
  bool body_incomplete_ = false;
  bool dirty_ = false;           // listed in Server's dirty list

  // ---- Timeouts (timers.h) ----
  // Linked in the Server's wheel while the socket is open or lingering;
  // removed in CloseNow, before the slot can be reused.
  DeadlineNode deadline_;
  // Loop time (uv_now, milliseconds) of the accept, or of the last
  // response's end (the other clocks are the Exchange's).
  uint64_t idle_since_ = 0;
  uint32_t messages_done_ = 0;  // messages completed on this socket
  bool kept_alive_ = false;     // a response ended: idle is keep-alive idle
};

}  // namespace tsgi

#endif  // TSGI_CONNECTION_H_
