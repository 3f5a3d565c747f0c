// binding.ts: the contract between the C++ addon (native/) and TypeScript,
// and the loader that finds the compiled addon with node-gyp-build.
//
// Shape of the crossing (DESIGN.md, "hot path budget"):
// - C++ -> JS: one call of `onEvents(count)` per libuv callback that produced
//   anything (a read, a write completion, a close). The events are records
//   in the shared `events` Int32Array; their strings and body bytes are in
//   the shared `bytes` Uint8Array. Both arrays are allocated by JS, handed to
//   the constructor, and referenced by C++ for the server's lifetime. Their
//   contents are valid only during the `onEvents` call: JS copies what it
//   keeps.
// - JS -> C++: one method call per response step, with primitives only.
// - Connection ids are int32 handles `slot | (generation << 20)`; a call with
//   a stale id (the connection has closed) does nothing and returns kGone.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Event record types: the first word of each record. */
export enum Ev {
  /** [1, conn, addrOff, addrLen, remotePort, localPort] — a connection was
   * accepted. The remote address text (e.g. `127.0.0.1`, `::1`) is at
   * bytes[addrOff, addrOff+addrLen). */
  Open = 1,
  /** [2, conn, method, flags, urlOff, urlLen, nHeaders,
   *  (nameOff, nameLen, valueOff, valueLen) × nHeaders] — a complete request
   * head. `method` is llhttp's method number (see `methods`); `flags` is a
   * set of `Rf` bits. Names and values are raw bytes (latin1) in `bytes`;
   * the URL, names and values of one head are contiguous there, in that
   * order. A name among `knownHeaders` has `nameLen = -id` (its bytes are
   * still at nameOff, with the known name's length). */
  Head = 2,
  /** [3, conn, off, len] — request body bytes (de-chunked) of the newest
   * request on this connection, at bytes[off, off+len). */
  Body = 3,
  /** [4, conn] — the newest request's body is complete (also sent, right
   * after Head, for requests without a body). */
  BodyEnd = 4,
  /** [5, conn] — the output buffer of the connection went below the low
   * water mark after a write returned kFull: JS may write again. */
  Drain = 5,
  /** [6, conn] — the connection is closed (peer went away, error, or the
   * server closed it). The id is dead from now on. */
  Close = 6,
  /** [7, conn, status] — a sendFile finished: status 0, or a negative errno
   * (in which case the connection is being closed). */
  FileDone = 7,
  /** [8] — after close(): the listener and every connection are closed. */
  Closed = 8,
  /** [9, conn, reason] — the newest request's body cannot complete, for
   * `reason` (a `BodyFailure` of src/gateway/body-error.ts); the id goes
   * dead or closes next. */
  BodyError = 9,
}

/** Number of int32 words of each record type (Head: 7 + 4 × nHeaders). */
export const EV_SIZE = [0, 6, 7, 4, 2, 2, 2, 3, 1, 3] as const;

/** Request flags (the `flags` word of a Head record). JS passes the same
 * word back to `respond()`, so C++ keeps no per-request state. */
export enum Rf {
  /** HTTP/1.0 (otherwise HTTP/1.1). */
  Http10 = 1 << 0,
  /** The connection may be kept alive after this request
   * (llhttp_should_keep_alive). */
  KeepAlive = 1 << 1,
  /** The request has a body (Content-Length > 0 or chunked). */
  HasBody = 1 << 2,
  /** The body is chunked. */
  Chunked = 1 << 3,
  /** `Expect: 100-continue` was sent. */
  ExpectContinue = 1 << 4,
  /** HEAD request: the response carries no body. */
  Head = 1 << 5,
}

/** Response flags, the `rflags` argument of `respond()`. */
export enum Wf {
  /** Close the connection after this response (adds `Connection: close`). */
  Close = 1 << 0,
}

/** Return values of the writing methods. */
export enum Wr {
  /** Written or queued; go on. */
  Ok = 0,
  /** Queued, but the output buffer is above the high water mark: wait for
   * a Drain event before writing more. */
  Full = 1,
  /** The connection is gone; the response is dropped. */
  Gone = -1,
}

/** The native server object (one per `serve()`; one per worker thread). */
export interface NativeServer {
  /**
   * Binds and listens; returns the bound port. Throws an Error whose
   * message names the address and the libuv error (`EADDRINUSE`…).
   */
  listen(host: string, port: number, backlog: number): number;

  /**
   * Starts the response to the oldest unanswered request of `conn`.
   * - `reqFlags`: the request's `flags` word from its Head record.
   * - `status`: `"200 OK"` (validated by JS; C++ reads the 3-digit code).
   * - `headers`: validated header lines, each `Name: value\r\n`, or `""`.
   *   Never contains Content-Length, Transfer-Encoding, Connection or Date:
   *   C++ writes those (Date cached once a second).
   * - `contentLength`: the body size if known (>= 0), else -1. If -1 and
   *   `last` is true, the length of `body` is used. Otherwise unknown
   *   length means chunked for HTTP/1.1, close-delimited for HTTP/1.0.
   * - `body`: first body bytes, or null. Strings are written as UTF-8.
   * - `last`: true if `body` is the whole body (the response ends here).
   * - `rflags`: `Wf` bits.
   * No body bytes are written for HEAD requests and 1xx/204/304 statuses;
   * Content-Length is still written for HEAD when known.
   */
  respond(
    conn: number,
    reqFlags: number,
    status: string,
    headers: string,
    contentLength: number,
    body: string | Uint8Array | null,
    last: boolean,
    rflags: number,
  ): Wr;

  /** Appends a body chunk (framed as a chunk when chunked). Writing more
   * than the declared Content-Length is refused: the surplus is dropped and
   * the connection is closed after the response. */
  write(conn: number, chunk: string | Uint8Array): Wr;

  /** Ends the response. If fewer bytes than the declared Content-Length
   * were written, the connection is closed (the client sees a short body).
   * With keep-alive, the connection then serves its next request. */
  end(conn: number): Wr;

  /** Cuts the connection now; buffered output is discarded. */
  abort(conn: number): void;

  /** Sends `length` bytes of `fd` from `offset` with sendfile(2), after a
   * `respond(..., last=false)`. A FileDone event follows. JS owns `fd`
   * and must keep it open until FileDone. */
  sendFile(conn: number, fd: number, offset: number, length: number): Wr;

  /** Sends `HTTP/1.1 100 Continue` if the current request asked for it and
   * no response has started. */
  sendContinue(conn: number): void;

  /** Stops reading from `conn` (request body backpressure, or too many
   * pipelined requests queued in JS). */
  pause(conn: number): void;
  /** Reads from `conn` again. */
  resume(conn: number): void;

  /** Writes the output corked since the last flush (one write per
   * connection). C++ flushes by itself at the end of each libuv callback;
   * JS calls this once per microtask turn after writing outside one. */
  flush(): void;

  /** Stops accepting; closes idle connections now and the others after
   * their current response (which gets `Connection: close`). A Closed event
   * follows when everything is closed. */
  close(): void;

  /** `close()`, then cuts every connection still open at once (the
   * graceful timeout ran out): queued output is discarded, each gets its
   * Close event, then Closed follows. */
  closeAll(): void;

  /** Number of open connections. */
  readonly connections: number;
}

export interface NativeServerOptions {
  /** Receives the events; called with the number of int32 words used. */
  onEvents: (words: number) => void;
  /** Shared event records (JS allocates; at least 16 Ki words). */
  events: Int32Array;
  /** Shared bytes for strings and body data (at least 256 KiB). */
  bytes: Uint8Array;
  /** Sets SO_REUSEPORT before bind, so that several threads (each with its
   * own loop and Server) can listen on one port (DESIGN.md, point 8). */
  reusePort?: boolean;
  /** Limits, in bytes/counts; 0 means the default. */
  maxUrlSize?: number;
  maxHeaderSize?: number;
  maxHeaderCount?: number;
  maxBodySize?: number;
  /** Chunk-extension bytes per chunk-size line (`maxChunkExtensionSize`
   * of src/types.ts). */
  maxChunkExtensionSize?: number;
  /** Timeouts, in milliseconds (fractions are rounded up); undefined keeps
   * the default of DEFAULT_LIMITS, 0 disables one. C++ keeps them all in
   * one timer per Server (native/timers.h); each fires within a quarter of
   * the shortest timeout (10 ms to 1 s) after its deadline.
   * - headersTimeoutMs: a request head must be complete this long after the
   *   connection opened or the previous response ended (or, pipelined,
   *   after its first byte): 408, then close.
   * - requestTimeoutMs: a request (head and body) must be complete this
   *   long after its first byte: 408 if its response has not begun, else
   *   the connection is cut. Not counted while JS has paused reading.
   * - keepAliveTimeoutMs: an idle connection that has had a response is
   *   closed this long after it, without a response (RFC 9112 §9.5).
   * - sendTimeoutMs: queued output that makes no progress this long (the
   *   client stopped reading) cuts the connection. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  sendTimeoutMs?: number;
}

export interface NativeBinding {
  Server: new (options: NativeServerOptions) => NativeServer;
  /** llhttp's method names, indexed by llhttp's method number. */
  methods: string[];
  /** Header names that cross as ids: `knownHeaders[id]`, lower case
   * (index 0 is null). */
  knownHeaders: (string | null)[];
  /** `"8.1.0"`: the llhttp the addon was built against. */
  llhttpVersion: string;
}

let cached: NativeBinding | Error | undefined;

/** Loads the addon (prebuilds/ first, then build/Release), once per
 * thread. Returns the Error instead of throwing when it cannot load. */
export function loadBinding(): NativeBinding | Error {
  if (cached !== undefined) return cached;
  try {
    const require = createRequire(import.meta.url);
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    cached = load(root);
  } catch (err) {
    cached = err instanceof Error ? err : new Error(String(err));
  }
  return cached;
}
