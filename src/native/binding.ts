// binding.ts: the contract between the C++ addon (native/) and TypeScript,
// and checkContract(), which compares it with what the addon exports.
// loader.ts finds and loads the addon.
//
// Shape of the crossing (ARCHITECTURE.md, "The path of a request" and "The
// C++/TS contract"):
// - C++ -> JS: one call of `onEvents(count, wantsArea)` per libuv callback that produced
//   anything (a read, a write completion, a close). The events are records
//   in the shared `events` Int32Array; their strings and body bytes are in
//   the shared `bytes` Uint8Array. Both arrays are allocated by JS, handed to
//   the constructor, and referenced by C++ for the server's lifetime. Their
//   contents are valid only during the `onEvents` call: JS copies what it
//   keeps.
// - JS -> C++: one method call per response step, with primitives only.
// - Connection ids are int32 handles `slot | (generation << SLOT_BITS)`; a
//   call with a stale id (the connection has closed) does nothing and
//   returns Wr.Gone.
// Every enum and number here is also defined in C++ (native/bridge.h,
// parser.h, errors.h, connection.h, http_rules.h); the addon exports its
// values as `contract`, and checkContract() refuses an addon that disagrees.
import { bodilessStatus, isFieldChar, isTargetChar, MAX_STATUS, MIN_STATUS, TARGET, TOKEN } from '../gateway/http-rules.js';
import { NATIVE_REFUSALS } from '../gateway/refusals.js';
import { metricsLayoutProblems, type NativeMetricsLayout } from '../metrics/layout.js';
import { BodyFailure } from '../gateway/body-error.js';

/** Event record types: the first word of each record. */
export enum Ev {
  /** [1, conn, addrOff, addrLen, remotePort, localPort, listener] — a
   * connection was accepted by listener `listener` (0, 1, ... in the order
   * listen()/adopt() succeeded). The remote address text (e.g.
   * `127.0.0.1`, `::1`) is at bytes[addrOff, addrOff+addrLen); a unix
   * socket has no address (addrLen 0) and ports -1. */
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
   * request on this connection, at bytes[off, off+len) when off >= 0, else
   * at [~off, ~off+len) of the body area (`bodyArea()`). */
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
  /** [10, conn, hasAddress, srcOff, srcLen, srcPort, dstOff, dstLen,
   * dstPort] — the PROXY header asked for by proxyHeader() was read; with
   * hasAddress 1 it names the client (source) and the address it reached
   * (destination), as text at bytes[off, off+len); with 0 (v1 UNKNOWN, v2
   * LOCAL, UNSPEC, UNIX) the connection keeps its own addresses. */
  Proxy = 10,
}

/** Number of int32 words of each record type, by type (a Head record has
 * HEAD_WORDS_PER_HEADER more per header). */
export const EV_SIZE: Readonly<Record<Ev, number>> = Object.freeze({
  [Ev.Open]: 7,
  [Ev.Head]: 7,
  [Ev.Body]: 4,
  [Ev.BodyEnd]: 2,
  [Ev.Drain]: 2,
  [Ev.Close]: 2,
  [Ev.FileDone]: 3,
  [Ev.Closed]: 1,
  [Ev.BodyError]: 3,
  [Ev.Proxy]: 9,
});
export const HEAD_WORDS_PER_HEADER = 4;

/** Connection ids: the slot in the low SLOT_BITS bits, a generation above
 * (GENERATION_BITS of them; the id stays a positive int32). */
export const SLOT_BITS = 20;
export const GENERATION_BITS = 11;
export const SLOT_MASK = (1 << SLOT_BITS) - 1;

/** Response backpressure: `write()`/`respond()` return `Wr.Full` once more
 * than OUTPUT_HIGH_WATER bytes are queued for a connection (corked or with
 * libuv), and a Drain record follows once at most OUTPUT_LOW_WATER are.
 * The node server gives its sockets the same high-water mark. */
export const OUTPUT_HIGH_WATER = 64 * 1024;
export const OUTPUT_LOW_WATER = 16 * 1024;

/** A lingering close (RFC 9112 section 9.6: the write side closed first,
 * the input read and discarded until the client closes) lasts at most
 * this long on either server before the socket is closed outright. */
export const LINGER_MS = 2000;

/** The least the shared arrays may hold (NativeServerOptions). */
export const MIN_EVENT_WORDS = 16 * 1024;
export const MIN_BYTES = 256 * 1024;
/** Body chunks of at most this many bytes go into the body area
 * (`bodyArea()`) while it has room for them. */
export const BODY_AREA_CHUNK_MAX = 16 * 1024;

/** The response queue (NativeServerOptions.responses): JS appends one
 * record per complete response whose head is prepared (`prepareHead`),
 * C++ applies them in order before any other call and after each
 * `onEvents`. Words 0 and 1: words used (these two included) and bytes
 * used of `responseBytes`; then records of `RQ_RECORD_WORDS` words, the
 * fields at the offsets below. */
export enum RQ {
  /** Connection id. */
  Conn = 0,
  /** The request's `flags` word from its Head record. */
  ReqFlags = 1,
  /** The prepared head's slot. */
  Head = 2,
  /** `Wf` bits. */
  Rflags = 3,
  /** The body size if declared (>= 0, an int32), else -1. */
  ContentLength = 4,
  /** The body: bytes [BodyOff, BodyOff + BodyLen) of `responseBytes`, or
   * BodyLen -1 for none. */
  BodyOff = 5,
  BodyLen = 6,
}
export const RQ_RECORD_WORDS = 7;
export const RQ_HEADER_WORDS = 2;
/** The least the queue's arrays may hold. */
export const MIN_QUEUE_WORDS = 1024;
export const MIN_QUEUE_BYTES = 64 * 1024;
/** Slots of prepared heads per server. */
export const MAX_PREPARED_HEADS = 64;
/** The watchdog's in-flight ring (native/inflight.h): INFLIGHT_ENTRIES
 * records of INFLIGHT_WORDS int32 words: [state, seq, conn, method, next,
 * targetLength, target bytes from word INFLIGHT_TARGET_OFFSET...]. */
export const INFLIGHT_ENTRIES = 256;
export const INFLIGHT_WORDS = 16;
export const INFLIGHT_TARGET_OFFSET = 6;

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

/** The flags word of a Head record carries llhttp's method number from
 * this bit up (below it, the Rf bits): C++ reads it back from the word
 * `respond()` gets, for the request counters of the metrics. */
export const RF_METHOD_SHIFT = 8;

/** Which PROXY header versions a connection may send (proxyHeader()). */
export enum ProxyMode {
  v1 = 1,
  v2 = 2,
  auto = 3,
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
   * Binds and listens (one more listener); returns the bound port. Throws
   * an Error whose message names the address and the libuv error
   * (`EADDRINUSE`…).
   */
  listen(host: string, port: number, backlog: number): number;

  /**
   * Listens on a duplicate of `fd`, a listening TCP or unix socket, and
   * returns the listener's index. `fd` stays the caller's: the socket and
   * its accept queue live on after release() or close() (the supervisor's
   * reload relies on it, ARCHITECTURE.md "Listeners and workers"). Throws
   * with code `EINVAL` when `fd` is not a listening socket, `EBADF`...
   */
  adopt(fd: number, backlog: number): number;

  /** Closes listener `index` (its duplicate descriptor); returns false when
   * it was not open. Connections it accepted stay. */
  release(index: number): boolean;

  /**
   * Starts the response to the oldest unanswered request of `conn`.
   * - `reqFlags`: the request's `flags` word from its Head record.
   * - `status`: `"200 OK"`: a final code (200-599), SP, a reason phrase.
   * - `headers`: header lines, each `Name: value\r\n`, or `""`.
   *   Never contains Content-Length, Transfer-Encoding, Connection or Date:
   *   C++ writes those (Date cached once a second).
   * - `contentLength`: the body size if known (>= 0), else -1. If -1 and
   *   `last` is true, the length of `body` is used. Otherwise unknown
   *   length means chunked for HTTP/1.1, close-delimited for HTTP/1.0.
   * - `body`: first body bytes, or null. Strings are written as UTF-8.
   * - `last`: true if `body` is the whole body (the response ends here).
   * - `rflags`: `Wf` bits.
   * No body bytes are written for HEAD requests and bodiless statuses
   * (bodilessStatus in src/gateway/http-rules.ts); Content-Length is still
   * written for HEAD when known.
   * C++ checks the status and every header line as it encodes them and
   * throws a TypeError with code ERR_TSGI_INVALID_HEAD (nothing written)
   * for a byte HTTP forbids there. Misuse (no request to answer) throws
   * with code ERR_TSGI_MISUSE, a bad argument with ERR_TSGI_INVALID_ARG.
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

  /**
   * Checks and stores a status and header block (as `respond()` takes
   * them) in slot `slot` (below MAX_PREPARED_HEADS), replacing what was
   * there; `respondHead()` and the response queue then refer to it by its
   * slot. Throws as `respond()` does for an invalid head.
   */
  prepareHead(slot: number, status: string, headers: string): void;

  /**
   * Hands C++ the ArrayBuffer that small body chunks (at most
   * BODY_AREA_CHUNK_MAX bytes) are copied into from now on, front to back,
   * each byte once; their Body records give ~offset into it. C++ holds it
   * until the next call or the server's end and never writes a byte it has
   * recorded; a detached area is dropped. Throws a TypeError for anything
   * but an ArrayBuffer.
   */
  bodyArea(area: ArrayBuffer): void;

  /** `respond()` with the head prepared in `slot`. */
  respondHead(
    conn: number,
    reqFlags: number,
    slot: number,
    contentLength: number,
    body: string | Uint8Array | null,
    last: boolean,
    rflags: number,
  ): Wr;

  /** Appends each body chunk (framed as a chunk when chunked), then
   * `end()` when `end`, in one call. Writing more than the declared
   * Content-Length is refused: the surplus is dropped and the connection is
   * closed after the response. A Uint8Array of 2 KiB or more is not
   * copied: C++ writes it (writev) straight from its memory before the
   * call returns, and copies only what the socket did not take, so nothing
   * is kept alive after the call. */
  writeChunks(conn: number, chunks: readonly (string | Uint8Array)[], end: boolean): Wr;

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
   * JS calls this once the microtask queue has drained after writing;
   * inside one of the addon's callbacks it does nothing (the callback's
   * end flushes). */
  flush(): void;

  /** Stops accepting; closes idle connections now and the others after
   * their current response (which gets `Connection: close`). A Closed event
   * follows when everything is closed. */
  close(): void;

  /** Stops accepting as `close()` does, but leaves idle keep-alive
   * connections open: each closes after its next response (which gets
   * `Connection: close`) or at its keep-alive timeout. Closed follows. */
  drain(): void;

  /** `close()`, then cuts every connection still open at once (the
   * graceful timeout ran out): queued output is discarded, each gets its
   * Close event, then Closed follows. */
  closeAll(): void;

  /** The first bytes of `conn` must be a PROXY header of `mode` (haproxy's
   * PROXY protocol): called from its Open event, for a trusted front-end.
   * C++ reads it before HTTP: a Proxy event follows; an invalid header, or
   * none within the headers timeout, closes the connection unanswered. */
  proxyHeader(conn: number, mode: ProxyMode): void;

  /** Number of open connections. */
  readonly connections: number;
}

/** Options of the native Server. Every limit, timeout and the tick are
 * required: C++ keeps no defaults (src/settings.ts has them). A missing one
 * throws a TypeError with code ERR_TSGI_MISSING_OPTION, a bad one a
 * TypeError or RangeError with code ERR_TSGI_INVALID_OPTION. */
export interface NativeServerOptions {
  /** Receives the events; called with the number of int32 words used, and
   * whether C++ wants a new body area (none left, or no room for a whole
   * chunk of BODY_AREA_CHUNK_MAX): JS then hands one over with bodyArea()
   * after the batch. */
  onEvents: (words: number, wantsArea: boolean) => void;
  /** Shared event records (JS allocates; at least MIN_EVENT_WORDS, and
   * twice the words of the largest Head record). */
  events: Int32Array;
  /** Shared bytes for strings and body data (at least MIN_BYTES, and
   * twice maxUrlSize + maxHeaderSize + 4 × maxHeaderCount). */
  bytes: Uint8Array;
  /** The response queue (RQ): records, and the bytes of their bodies (at
   * least MIN_QUEUE_WORDS and MIN_QUEUE_BYTES). */
  responses: Int32Array;
  responseBytes: Uint8Array;
  /** The block C++ counts into (src/metrics/layout.ts, newMetricsBlock);
   * without one nothing is counted. C++ holds it for the Server's life. */
  metrics?: Float64Array;
  /** With `metrics`: the parse-error slot (src/metrics/layout.ts) that
   * counts each parse error, indexed as `refusals`. */
  parseErrorSlots?: number[];
  /** Sets SO_REUSEPORT before bind, so that several threads (each with its
   * own loop and Server) can listen on one port (ARCHITECTURE.md,
   * "State per environment"). */
  reusePort?: boolean;
  /** The watchdog's ring of requests in flight (INFLIGHT_ENTRIES ×
   * INFLIGHT_WORDS words on a SharedArrayBuffer; src/supervisor/
   * watchdog.ts reads it). Omitted: nothing is recorded. */
  inflight?: Int32Array;
  /** Limits, in bytes/counts. */
  maxUrlSize: number;
  maxHeaderSize: number;
  maxHeaderCount: number;
  maxBodySize: number;
  /** Chunk-extension bytes per chunk-size line (maxChunkExtensionSize of
   * src/settings.ts). */
  maxChunkExtensionSize: number;
  /** The ready-made response of each parse error, indexed by the values
   * of `contract.httpErrors`: the status line (`head`) and what follows
   * the Date line (`tail`), as latin1 (src/gateway/refusals.ts). */
  refusals: { head: string; tail: string }[];
  /** How often the deadline wheel ticks, in ms (timerTickMs of
   * src/settings.ts): each timeout fires within a tick of its deadline. */
  tickMs: number;
  /** Timeouts, in milliseconds (fractions are rounded up), 0 disables one.
   * C++ keeps them all in one timer per Server (native/timers.h).
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
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  sendTimeoutMs: number;
}

/** What the addon says about its half of the contract (addon.cc). */
export interface NativeContract {
  events: Record<string, number>;
  eventWords: Record<string, number>;
  headWordsPerHeader: number;
  requestMethodShift: number;
  proxyModes: Record<string, number>;
  requestFlags: Record<string, number>;
  responseFlags: Record<string, number>;
  writeResults: Record<string, number>;
  /** The reason words of BodyError records (BodyFailure). */
  bodyFailures: Record<string, number>;
  httpErrors: Record<string, number>;
  slotBits: number;
  generationBits: number;
  minEventWords: number;
  minBytes: number;
  bodyAreaChunkMax: number;
  responseQueue: {
    fields: Record<string, number>;
    recordWords: number;
    headerWords: number;
    minWords: number;
    minBytes: number;
    maxPreparedHeads: number;
  };
  outputHighWater: number;
  lingerMs: number;
  outputLowWater: number;
  inflight: { entries: number; words: number; targetOffset: number };
  httpRules: {
    /** Every byte C++ takes for a token character, as latin1. */
    tokenChars: string;
    /** Every byte C++ takes for a field-value character, as latin1. */
    fieldChars: string;
    /** The bytes of a request target (isTargetChar). */
    targetChars: string;
    /** Every status from 100 to 599 C++ sends without a body. */
    bodilessStatuses: number[];
    minStatus: number;
    maxStatus: number;
  };
  /** native/metrics.h's block layout. */
  metrics: NativeMetricsLayout;
}

/** Listening descriptors, made and inspected with plain system calls
 * (native/sockets.cc). Every descriptor returned is the caller's to close.
 * Errors carry `code` (the errno name) and a message naming the address. */
export interface NativeSockets {
  /** A TCP listener, SO_REUSEPORT set before bind when `reusePort`. With
   * `probe` (and a port other than 0), the address is first bound without
   * SO_REUSEPORT, so one that another program listens on is EADDRINUSE. */
  listenTcp(host: string, port: number, backlog: number, reusePort: boolean, probe: boolean): number;
  /** A unix listener at `path` under `umask` (-1: the process's). */
  listenUnix(path: string, backlog: number, umask: number): number;
  /** What `fd` is; throws EBADF (not open) or ENOTSOCK. */
  inspect(fd: number): {
    listening: boolean;
    type: 'stream' | 'other';
    family: 'inet' | 'inet6' | 'unix' | 'other';
    address: string;
    port: number;
    path: string;
  };
  dup(fd: number): number;
  close(fd: number): void;
  closeOnExec(fd: number): void;
}

export interface NativeBinding {
  Server: new (options: NativeServerOptions) => NativeServer;
  sockets: NativeSockets;
  /** llhttp's method names, indexed by llhttp's method number. */
  methods: string[];
  /** Header names that cross as ids: `knownHeaders[id]`, lower case
   * (index 0 is null). */
  knownHeaders: (string | null)[];
  /** `"8.1.0"`: the llhttp the addon was built against. */
  llhttpVersion: string;
  /** The Node-API version the addon was compiled for (NAPI_VERSION in
   * binding.gyp): the oldest Node-API a Node must provide to load it. */
  napiVersion: number;
  /** The C++ half of the contract, checked by checkContract(). */
  contract: NativeContract;
}

/** The name -> value pairs of a TypeScript numeric enum. */
function entries(e: object): Record<string, number> {
  return Object.fromEntries(Object.entries(e).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
}

/** The bytes 0..255 that `test` takes, as latin1. */
function byteSet(test: (c: number) => boolean): string {
  let out = '';
  for (let c = 0; c < 256; c++) if (test(c)) out += String.fromCharCode(c);
  return out;
}

/**
 * Checks that the addon agrees with this file on every enum, record size,
 * id layout and array minimum, and with src/gateway/http-rules.ts and
 * refusals.ts on the HTTP rules it applies itself. Throws an Error naming
 * every constant that differs (an addon built from other sources).
 */
export function checkContract(binding: Pick<NativeBinding, 'contract'>): void {
  const c = binding.contract;
  if (typeof c !== 'object' || c === null) {
    throw new Error('tsgi: the native addon exports no contract: it was built from older sources (rebuild it)');
  }
  const problems: string[] = [];
  const same = (name: string, native: unknown, ts: unknown) => {
    if (native !== ts) problems.push(`${name} is ${JSON.stringify(native)} in C++ but ${JSON.stringify(ts)} in TypeScript`);
  };
  const sameEnum = (what: string, native: Record<string, number> | undefined, ts: Record<string, number>) => {
    const n = native ?? {};
    for (const key of new Set([...Object.keys(n), ...Object.keys(ts)])) same(`${what}.${key}`, n[key], ts[key]);
  };
  const words = Object.fromEntries(Object.entries(entries(Ev)).map(([name, v]) => [name, EV_SIZE[v as Ev]]));
  sameEnum('Ev', c.events, entries(Ev));
  sameEnum('EV_SIZE', c.eventWords, words);
  same('HEAD_WORDS_PER_HEADER', c.headWordsPerHeader, HEAD_WORDS_PER_HEADER);
  same('RF_METHOD_SHIFT', c.requestMethodShift, RF_METHOD_SHIFT);
  sameEnum('ProxyMode', c.proxyModes, entries(ProxyMode));
  for (const [, v] of Object.entries(entries(Rf))) {
    if (v >= 1 << RF_METHOD_SHIFT) problems.push(`Rf value ${v} overlaps the method bits (RF_METHOD_SHIFT ${RF_METHOD_SHIFT})`);
  }
  sameEnum('Rf', c.requestFlags, entries(Rf));
  sameEnum('Wf', c.responseFlags, entries(Wf));
  sameEnum('Wr', c.writeResults, entries(Wr));
  // Lost (0) is what a Close means by itself; C++ never sends it.
  const { Lost: _lost, ...failures } = entries(BodyFailure);
  sameEnum('BodyFailure', c.bodyFailures, failures);
  const httpErrors = c.httpErrors ?? {};
  for (const name of new Set([...Object.keys(httpErrors), ...Object.keys(NATIVE_REFUSALS)])) {
    if (!(name in httpErrors)) problems.push(`NATIVE_REFUSALS.${name} is not a parse error of the addon (httpErrors)`);
    else if (!(name in NATIVE_REFUSALS)) problems.push(`the parse error httpErrors.${name} has no refusal in NATIVE_REFUSALS`);
  }
  same('SLOT_BITS', c.slotBits, SLOT_BITS);
  same('GENERATION_BITS', c.generationBits, GENERATION_BITS);
  same('MIN_EVENT_WORDS', c.minEventWords, MIN_EVENT_WORDS);
  same('MIN_BYTES', c.minBytes, MIN_BYTES);
  same('BODY_AREA_CHUNK_MAX', c.bodyAreaChunkMax, BODY_AREA_CHUNK_MAX);
  const queue = c.responseQueue ?? ({} as NativeContract['responseQueue']);
  sameEnum('RQ', queue.fields, entries(RQ));
  same('RQ_RECORD_WORDS', queue.recordWords, RQ_RECORD_WORDS);
  same('RQ_HEADER_WORDS', queue.headerWords, RQ_HEADER_WORDS);
  same('MIN_QUEUE_WORDS', queue.minWords, MIN_QUEUE_WORDS);
  same('MIN_QUEUE_BYTES', queue.minBytes, MIN_QUEUE_BYTES);
  same('MAX_PREPARED_HEADS', queue.maxPreparedHeads, MAX_PREPARED_HEADS);
  same('OUTPUT_HIGH_WATER', c.outputHighWater, OUTPUT_HIGH_WATER);
  same('OUTPUT_LOW_WATER', c.outputLowWater, OUTPUT_LOW_WATER);
  same('LINGER_MS', c.lingerMs, LINGER_MS);
  same('INFLIGHT_ENTRIES', c.inflight?.entries, INFLIGHT_ENTRIES);
  same('INFLIGHT_WORDS', c.inflight?.words, INFLIGHT_WORDS);
  same('INFLIGHT_TARGET_OFFSET', c.inflight?.targetOffset, INFLIGHT_TARGET_OFFSET);
  const rules = c.httpRules ?? ({} as NativeContract['httpRules']);
  same('http-rules TOKEN', rules.tokenChars, byteSet((b) => TOKEN.test(String.fromCharCode(b))));
  same('http-rules isFieldChar', rules.fieldChars, byteSet(isFieldChar));
  same('http-rules isTargetChar', rules.targetChars, byteSet(isTargetChar));
  same('http-rules TARGET', rules.targetChars, byteSet((b) => TARGET.test(String.fromCharCode(b))));
  const bodiless: number[] = [];
  for (let code = 100; code <= 599; code++) if (bodilessStatus(code)) bodiless.push(code);
  same('http-rules bodilessStatus', JSON.stringify(rules.bodilessStatuses), JSON.stringify(bodiless));
  same('http-rules MIN_STATUS', rules.minStatus, MIN_STATUS);
  same('http-rules MAX_STATUS', rules.maxStatus, MAX_STATUS);
  problems.push(...metricsLayoutProblems(c.metrics));
  if (problems.length > 0) {
    throw new Error(`tsgi: the native addon does not match src/native/binding.ts: ${problems.join('; ')} (rebuild the addon)`);
  }
}
