// sink.ts: a TSGI response on a node:http ServerResponse (the Sink of the
// shared response driver), with the send timeout node:http lacks. Used by
// the reference server and by toNodeListener.
import { read } from 'node:fs';
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Chunk, Header } from '../types.js';
import type { Sink } from '../gateway/response.js';
import type { ResponseHead } from '../gateway/response-head.js';
import { bodiless, derivedLength } from '../gateway/http-rules.js';
import { timerTickMs } from '../settings.js';
import { OUTPUT_HIGH_WATER } from '../native/binding.js';

const kSendWatch = Symbol('tsgi.sendWatch');
/** A whole body up to this size is sent as a latin1 string (endWhole):
 * node:http then writes head and body as one string (one write), where
 * bytes make it queue the head apart and write both as a vector. Past it,
 * the copy into a string costs more than that saves. */
const kJoinedBody = 1024;
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;

/** The block sendFile reads and writes at a time: the sockets' high-water
 * mark, so that one block fills the socket. */
const kFileBlock = OUTPUT_HIGH_WATER;

/** Per socket: the writevs libuv holds that the Writable no longer
 * counts (a write batch's, write-batch.ts, whose writes completed when
 * they were collected). Absent on a socket that never batched. */
export const kQueuedWrites = Symbol('tsgi.queuedWrites');
type WatchedSocket = Socket & { [kSendWatch]?: SendWatch | null; [kQueuedWrites]?: number };

/** Whether `socket` has output the kernel has not taken: in the Writable,
 * or in a batch's writev queued in libuv. A property read, no call into
 * the handle: watchSend() asks it at the end of every response. */
function hasOutput(socket: WatchedSocket): boolean {
  return socket.writableLength > 0 || (socket[kQueuedWrites] ?? 0) > 0;
}

/** The bytes of `socket`'s output the kernel has taken. With a batch's
 * writev queued, from libuv's own counts (node's stream handle: the bytes
 * handed to it, less those still queued), which see that writev. */
function bytesTaken(socket: WatchedSocket): number {
  const h = (socket as Socket & { _handle?: { bytesWritten?: unknown; writeQueueSize?: unknown } | null })._handle;
  if ((socket[kQueuedWrites] ?? 0) > 0 && h && typeof h.bytesWritten === 'number' && typeof h.writeQueueSize === 'number') {
    return h.bytesWritten - h.writeQueueSize;
  }
  return socket.bytesWritten - socket.writableLength;
}

/**
 * The send timeout, which node:http lacks: while a socket has output
 * queued, a check every quarter of `ms` (10 ms to 1 s) looks at the bytes
 * the kernel has taken (bytesTaken, which also sees a batch's writev,
 * write-batch.ts); when they have
 * not grown for `ms`, the client stopped reading and the socket is
 * destroyed (the response's 'close' ends the body, as on the native
 * server). One timer per timeout for all the sockets it watches, running
 * only while one has output queued: a response that ends with its body
 * still queued (every corked, chunked one does) costs a push, not a
 * timer. The first check reads the socket's progress, so a socket is cut
 * between `ms` and `ms` plus one check after it stopped.
 */
class SendWatch {
  private readonly sockets: WatchedSocket[] = [];
  /** Per socket: the bytes taken at the last check that saw them grow
   * (-1: not checked yet), and when. */
  private readonly taken: number[] = [];
  private readonly since: number[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly ms: number) {}

  add(socket: WatchedSocket): void {
    socket[kSendWatch] = this;
    this.sockets.push(socket);
    this.taken.push(-1);
    this.since.push(0);
    if (this.timer === null) {
      this.timer = setInterval(() => this.check(), timerTickMs([this.ms]));
      this.timer.unref();
    }
  }

  private check(): void {
    const { sockets, taken, since } = this;
    const now = Date.now();
    for (let i = 0; i < sockets.length; ) {
      const socket = sockets[i]!;
      let done = socket.destroyed || !hasOutput(socket);
      if (!done) {
        const bytes = bytesTaken(socket);
        if (bytes !== taken[i]) {
          taken[i] = bytes;
          since[i] = now;
        } else if (now - since[i]! >= this.ms) {
          socket.destroy();
          done = true;
        }
      }
      if (!done) {
        i++;
        continue;
      }
      // Removed: the last one takes its place.
      socket[kSendWatch] = null;
      const last = sockets.length - 1;
      sockets[i] = sockets[last]!;
      taken[i] = taken[last]!;
      since[i] = since[last]!;
      sockets.length = last;
      taken.length = last;
      since.length = last;
    }
    if (sockets.length === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

/** The SendWatch of each send timeout (in ms) of this thread's servers. */
const sendWatches = new Map<number, SendWatch>();

/** Watches `socket` for the send timeout `ms` while it has output queued
 * (SendWatch); nothing when it has none, or is watched already. */
export function watchSend(socket: Socket | null, ms: number): void {
  if (ms <= 0 || socket === null || socket.destroyed || !hasOutput(socket)) return;
  const s = socket as WatchedSocket;
  if (s[kSendWatch]) return;
  let watch = sendWatches.get(ms);
  if (watch === undefined) {
    watch = new SendWatch(ms);
    sendWatches.set(ms, watch);
  }
  watch.add(s);
}

/** A status and header list as writeHead takes them, made once per
 * ResponseHead (its `prepared`): the reason phrase, the names and values
 * in one flat array with room after them for the server's own fields, and
 * whether any of them has a character above U+007F. */
interface PreparedHead {
  readonly reason: string;
  readonly fields: string[];
  /** How many of `fields` are the head's own. */
  readonly size: number;
  readonly high: boolean;
  /** The last Content-Length sent with it, and its digits. */
  length: number;
  lengthText: string;
  /** The status line and the head's own fields as writeHead() would
   * write them, when storeHead() may write the head (see there), else
   * null. */
  readonly text: string | null;
}

function hasHigh(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return true;
  return false;
}

function prepareHead(status: string, code: number, headers: readonly Header[]): PreparedHead {
  const reason = status.slice(4);
  const fields: string[] = [];
  let high = hasHigh(reason);
  // The head storeHead() may write: a status with a body (node:http drops
  // the framing of 1xx, 204 and 304 itself), no field whose name
  // writeHead() acts on (of those, only Expect is the application's: the
  // others are the server's, HeaderRole in http-rules.ts).
  let text: string | null = code >= 200 && code !== 204 && code !== 304 ? `HTTP/1.1 ${code} ${reason}\r\n` : null;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    fields.push(name, value);
    if (!high && hasHigh(value)) high = true;
    if (text !== null) text = name.length === 6 && name.toLowerCase() === 'expect' ? null : text + name + ': ' + value + '\r\n';
  }
  return { reason, fields, size: fields.length, high, length: -1, lengthText: '', text };
}

/** The framing of a chunked body the sink writes itself (storeHead() with
 * no length, RFC 9112 section 7.1): the CRLF that ends a chunk's data and
 * the next chunk's size line, as one piece, per size seen (bounded); and
 * the CRLF of the last chunk's data with the last-chunk and the end of the
 * (empty) trailer section. Pieces of bytes rather than node:http's strings:
 * a socket's writev takes bytes as they are, where each string piece is
 * looked up and encoded twice (node's StreamBase::Writev). */
const chunkLines = new Map<number, Buffer>();
const kChunkLinesMax = 256;
const kLastChunk = Buffer.from('\r\n0\r\n\r\n', 'latin1');

function chunkLine(size: number): Buffer {
  let line = chunkLines.get(size);
  if (line === undefined) {
    line = Buffer.from(`\r\n${size.toString(16)}\r\n`, 'latin1');
    if (chunkLines.size < kChunkLinesMax) chunkLines.set(size, line);
  }
  return line;
}

/** ServerResponse's fields that its writeHead() reads and sets (Node's
 * lib/_http_outgoing.js and lib/_http_server.js). */
interface ResponseState {
  _header: string | null;
  _headerSent: boolean;
  _contentLength: number | null;
  _last: boolean;
  _keepAliveTimeout: number;
  _defaultKeepAlive: boolean;
  _maxRequestsPerSocket: number | null | undefined;
  _hasBody: boolean;
  useChunkedEncodingByDefault: boolean;
  _expect_continue: boolean;
  _sent100: boolean;
  maxRequestsOnConnectionReached: boolean;
  shouldKeepAlive: boolean;
  sendDate: boolean;
  statusCode: number;
  statusMessage: string;
  chunkedEncoding: boolean;
}

// The Date field of this second (RFC 9110 section 6.6.1, IMF-fixdate), as
// node:http writes it.
let dateText = '';
let dateUntil = 0;
// The persistence fields of a keep-alive response, per keep-alive timeout.
let keepAliveMs = -1;
let keepAliveText = '';

/**
 * Stores the head of a response as node:http's writeHead(code, reason,
 * fields) would (the same bytes and the same state of `res`) without its
 * per-field validation and matching, which the driver has done for this
 * head once (checkName, badFieldChar): with a Content-Length, or `chunked`
 * (Transfer-Encoding: chunked, which node:http would choose for a body of
 * unknown length on this request; the sink then frames the body itself,
 * and writes the head with the first chunk's size line, so node:http
 * neither frames nor sends the head). False when the response is one
 * writeHead() must make: a head prepareHead() did not write out, a server
 * that counts requests per connection, an unanswered Expect:
 * 100-continue, a body node:http would not send chunked (HEAD, HTTP/1.0),
 * or a Node.js whose writeHead() writes something else (kStoreHead,
 * checked at load).
 */
function storeHead(res: ServerResponse, code: number, prepared: PreparedHead, close: boolean, chunked: boolean): boolean {
  const text = prepared.text;
  const r = res as unknown as ResponseState;
  if (text === null || !kStoreHead || r._header !== null) return false;
  if ((r._expect_continue && !r._sent100) || r.maxRequestsOnConnectionReached || ~~r._maxRequestsPerSocket! > 0) return false;
  if (chunked && !(r.useChunkedEncodingByDefault && r._hasBody)) return false;
  // Kept alive, else Connection: close, after Date unless the
  // application's (in the fields) said it.
  const keep = !close && r.shouldKeepAlive;
  let head = chunked ? text : text + 'Content-Length: ' + prepared.lengthText + '\r\n';
  if (close) head += 'Connection: close\r\n';
  if (r.sendDate) {
    const now = Date.now();
    if (now >= dateUntil) {
      dateText = 'Date: ' + new Date(now).toUTCString() + '\r\n';
      dateUntil = now - (now % 1000) + 1000;
    }
    head += dateText;
  }
  if (keep) {
    if (r._keepAliveTimeout !== keepAliveMs) {
      keepAliveMs = r._keepAliveTimeout;
      keepAliveText = keepAliveMs ? `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveMs / 1000)}\r\n` : 'Connection: keep-alive\r\n';
    }
    head += r._defaultKeepAlive ? keepAliveText : 'Connection: keep-alive\r\n';
  } else {
    if (!close) head += 'Connection: close\r\n';
    r._last = true;
  }
  if (chunked) head += 'Transfer-Encoding: chunked\r\n';
  r.statusCode = code;
  r.statusMessage = prepared.reason;
  r._contentLength = chunked ? null : prepared.length;
  r._header = head + '\r\n';
  r._headerSent = chunked;
  return true;
}

/** Whether storeHead() leaves a response as writeHead() does, on this
 * Node.js: a few heads stored both ways and compared, at load. */
function checkStoreHead(): boolean {
  const request = (minor: number) => ({ method: 'GET', httpVersionMajor: 1, httpVersionMinor: minor, headers: {} }) as unknown as IncomingMessage;
  const keys = ['_header', '_headerSent', '_contentLength', '_last', 'statusCode', 'statusMessage', 'chunkedEncoding', 'shouldKeepAlive'] as const;
  // [code, status, headers, length (-1: chunked), Connection: close, keep-alive ms, HTTP/1.minor]
  const cases: [number, string, Header[], number, boolean, number, number][] = [
    [200, '200 OK', [['Content-Type', 'text/plain']], 5, false, 5000, 1],
    [404, '404 Not Found', [], 0, true, 5000, 1],
    [201, '201 Created', [['X-A', 'b'], ['Set-Cookie', 'c=d']], 12345, false, 0, 1],
    [200, '200 OK', [['Content-Type', 'text/plain']], 5, false, 5000, 0],
    [200, '200 OK', [['Content-Type', 'text/plain']], -1, false, 5000, 1],
    [500, '500 Internal Server Error', [['X-A', 'b']], -1, true, 0, 1],
  ];
  try {
    for (const [code, status, headers, length, close, keepAlive, minor] of cases) {
      const fast = new ServerResponse(request(minor));
      const slow = new ServerResponse(request(minor));
      for (const res of [fast, slow]) {
        const r = res as unknown as ResponseState;
        r._keepAliveTimeout = keepAlive;
        r.sendDate = false;
      }
      const prepared = prepareHead(status, code, headers);
      const chunked = length < 0;
      prepared.length = length;
      prepared.lengthText = String(length);
      const fields = [...prepared.fields, ...(chunked ? [] : ['Content-Length', String(length)]), ...(close ? ['Connection', 'close'] : [])];
      slow.writeHead(code, prepared.reason, fields);
      if (!storeHead(fast, code, prepared, close, chunked)) return false;
      const f = fast as unknown as ResponseState;
      const w = slow as unknown as ResponseState;
      // A chunked head differs in two fields only: node:http would frame
      // and send the head itself, where the sink does both.
      if (chunked && !(w.chunkedEncoding && !w._headerSent && !f.chunkedEncoding && f._headerSent)) return false;
      for (const key of keys) {
        if (chunked && (key === 'chunkedEncoding' || key === '_headerSent')) continue;
        if (f[key] !== w[key]) return false;
      }
    }
    return true;
  } catch {
    return false;
  }
}

// (True while checkStoreHead() runs, so that storeHead() is what it checks.)
let kStoreHead = true;
kStoreHead = checkStoreHead();
/** Whether this Node.js's writeHead() is the one storeHead() writes as:
 * the reference server stores heads only then. */
export const storesHeads: boolean = kStoreHead;

/**
 * The ServerResponse of a server that makes a NodeSink for each response
 * (createServer's `ServerResponse` option): its 'close' reaches the sink
 * without a listener. An emitter keeps its listeners in a dictionary, and
 * adding one per response cost more than the rest of the sink.
 */
export class SinkResponse extends ServerResponse {
  sink: NodeSink | null = null;

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'close') this.sink?.closed();
    return super.emit(event, ...args);
  }
}

/** A response on a node:http ServerResponse. `closed()` is its response's
 * 'close', which a server extends with its own bookkeeping (one way in a
 * response, not one per concern). */
export class NodeSink implements Sink {
  gone = false;
  onGone: (() => void) | null = null;
  private declared = -1;
  private written = 0;
  /** Its chunked body is framed here (storeHead, chunked): `headPending`
   * until the head has gone out with the first size line. */
  private framed = false;
  private headPending = false;
  /** Who awaits 'drain' (or 'close'); null while no one does. */
  private waiters: (() => void)[] | null = null;
  private detached = false;
  /** The response is a SinkResponse: the server's own, on which nothing
   * but this sink sets headers. */
  private readonly own: boolean;

  constructor(
    protected readonly res: ServerResponse,
    private readonly closing: () => boolean,
    private readonly sendMs: number,
  ) {
    // 'drain' is listened for only while someone waits (drain()): most
    // responses never wait, and a listener per response costs.
    this.own = res instanceof SinkResponse;
    if (this.own) (res as SinkResponse).sink = this;
    else res.on('close', () => this.closed());
  }

  /** The response's 'close': finished, or its connection gone. */
  closed(): void {
    if (!this.res.writableFinished) this.gone = true;
    this.wake();
    const onGone = this.onGone;
    this.onGone = null;
    if (this.gone) onGone?.();
  }

  private wake(): void {
    const waiters = this.waiters;
    if (waiters === null) return;
    this.waiters = null;
    for (const w of waiters) w();
  }

  start(
    status: string,
    code: number,
    headers: Header[],
    contentLength: number,
    body: Chunk | null,
    last: boolean,
    close: boolean,
    head: ResponseHead | null,
  ): boolean {
    const res = this.res;
    if (this.gone || res.destroyed) return true;
    let prepared: PreparedHead;
    if (head === null) prepared = prepareHead(status, code, headers);
    else prepared = (head.prepared as PreparedHead | null) ?? (head.prepared = prepareHead(status, code, headers));
    // node:http sends the head in the encoding of the first string chunk
    // (UTF-8); header strings are latin1 on the wire (PEP 3333), which it
    // does only when the first chunk is bytes.
    if (prepared.high && typeof body === 'string') body = Buffer.from(body);
    // The whole body in hand: its size is the Content-Length (as native).
    if (contentLength < 0 && last) {
      const size = body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      contentLength = derivedLength(code, this.res.req.method === 'HEAD', size);
    }
    if (contentLength >= 0) {
      if (contentLength !== prepared.length) {
        prepared.length = contentLength;
        prepared.lengthText = String(contentLength);
      }
      this.declared = contentLength;
    }
    const closes = close || this.closing();
    // A server's own response: its head stored as writeHead would, with a
    // length, or chunked when a first chunk is here (the head goes out
    // with its size line). Else (a response of toNodeListener, whose
    // application may have set headers on it; see storeHead) writeHead.
    let stored = false;
    if (this.own) {
      if (contentLength >= 0) stored = storeHead(res, code, prepared, closes, false);
      else if (!last && body !== null && (typeof body === 'string' ? body.length : body.byteLength) > 0) {
        stored = this.framed = this.headPending = storeHead(res, code, prepared, closes, true);
      }
    }
    if (!stored) {
      // The head's own fields, then the server's: the array is the head's,
      // reused (writeHead reads it and keeps nothing of it).
      const fields = prepared.fields;
      let n = prepared.size;
      if (contentLength >= 0) {
        fields[n++] = 'Content-Length';
        fields[n++] = prepared.lengthText;
      }
      if (closes) {
        fields[n++] = 'Connection';
        fields[n++] = 'close';
      }
      // (Setting an array's length is a call into the runtime: only when
      // it changes.)
      if (fields.length !== n) fields.length = n;
      res.writeHead(code, prepared.reason, fields);
    }
    if (last) {
      if (body !== null && this.declared >= 0) this.written = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      const short = this.isShort();
      if (short) this.markLast();
      if (body === null) res.end();
      else if (typeof body === 'string') this.endWhole(body, 'utf8', stored);
      else if (body.byteLength <= kJoinedBody) this.endWhole(latin1Slice.call(body, 0, body.byteLength), 'latin1', stored);
      else this.endBytes(body, stored);
      if (short) res.socket?.destroySoon();
      watchSend(res.socket, this.sendMs);
      return true;
    }
    if (body === null) return true;
    return this.write(body);
  }

  /**
   * Ends the response with `data`, the whole of its body. node:http's
   * end(data) queues the data and an empty write (whose callback finishes
   * the response) on the corked socket, and flushes both as one writev,
   * whose C++ side reads each string of the vector and its encoding back
   * from an array and encodes them apart: about a tenth of the instructions
   * of a small response. With the head stored (storeHead: its text in
   * `_header`, not sent yet), the response's turn on the socket, and
   * nothing queued on it, write() joins head and data into one string and
   * uncork() hands it to the kernel at once (one write(2), no vector).
   * end() then has nothing left to flush and finishes the response on the
   * next tick, which node:http itself does for a response whose bytes are
   * all with the kernel. Else (a pipelined response behind another, a
   * batch's corked socket, output still queued, HEAD), end(data).
   */
  private endWhole(data: string, encoding: 'utf8' | 'latin1', stored: boolean): void {
    const res = this.res;
    if (this.ownsSocket(stored)) {
      // write() corks the idle socket until the next tick; this uncork()
      // is the one that undoes it, and the later one finds it uncorked.
      res.write(data, encoding);
      res.socket!.uncork();
      res.end();
      return;
    }
    res.end(data, encoding);
  }

  /** Whether `end` may write the response's stored head and whole body
   * itself (endWhole, endBytes): the head stored (storeHead: its text in
   * `_header`, not sent yet), the response's turn on the socket, a body
   * to send (not HEAD), and nothing corked or queued on the socket. */
  private ownsSocket(stored: boolean): boolean {
    const res = this.res;
    const socket = res.socket as (Socket & { _httpMessage?: unknown }) | null;
    return (
      stored &&
      socket !== null &&
      socket._httpMessage === res &&
      (res as unknown as ResponseState)._hasBody &&
      !socket.writableCorked &&
      !hasOutput(socket)
    );
  }

  /**
   * Ends the response with `body`, the whole of it, in bytes too large to
   * join into a string (kJoinedBody). node:http's end(body) queues its
   * head as a latin1 string before the bytes, and an empty string after
   * them, so the socket's writev takes its slow path, which looks up and
   * encodes each string piece. With the socket this response's alone
   * (ownsSocket), the head goes as bytes and the writev is of bytes only
   * (the head and the body, as they are, no copy). end() then has nothing
   * left to flush (see endWhole).
   */
  private endBytes(body: Uint8Array, stored: boolean): void {
    const res = this.res;
    if (!this.ownsSocket(stored)) {
      res.end(body);
      return;
    }
    const r = res as unknown as ResponseState;
    const socket = res.socket!;
    // The head is sent here: node:http's _send() then adds nothing.
    const head = Buffer.from(r._header!, 'latin1');
    r._headerSent = true;
    socket.cork();
    socket.write(head);
    res.write(body);
    socket.uncork();
    res.end();
  }

  /** A body shorter than its Content-Length: it is cut, so the client
   * knows (markLast, then the socket's end). */
  private isShort(): boolean {
    return this.declared >= 0 && this.written < this.declared && !this.isBodiless();
  }

  /** Makes this response the socket's last, before its end() hands the
   * socket on: node:http then gives the socket to no pipelined response
   * after it (its resOnFinish reads `_last`, which writeHead() set from
   * the head), whose write after the socket's end would destroy the socket
   * with this response's bytes still queued. */
  private markLast(): void {
    (this.res as unknown as { _last: boolean })._last = true;
  }

  private isBodiless(): boolean {
    return bodiless(this.res.statusCode, this.res.req.method ?? 'GET');
  }

  write(chunk: Chunk): boolean {
    if (this.gone || this.res.destroyed) return true;
    if (this.framed) return this.writeFramed(chunk);
    if (this.declared >= 0) {
      const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
      if (this.written + size > this.declared) {
        // More than declared: send what fits, then end the connection.
        const room = this.declared - this.written;
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        this.written = this.declared;
        this.markLast();
        this.res.end(bytes.subarray(0, room));
        this.res.socket?.destroySoon();
        this.gone = true;
        return true;
      }
      this.written += size;
    }
    if (this.res.write(chunk)) return true;
    watchSend(this.res.socket, this.sendMs);
    return false;
  }

  /** A chunk of a body framed here: its size line (the first with the
   * head), then its bytes. An empty chunk is not sent: it would be the
   * last-chunk. */
  private writeFramed(chunk: Chunk): boolean {
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (size === 0) return true;
    const res = this.res;
    if (this.headPending) {
      this.headPending = false;
      const head = (res as unknown as ResponseState)._header!;
      res.write(Buffer.from(head + size.toString(16) + '\r\n', 'latin1'));
    } else {
      res.write(chunkLine(size));
    }
    if (res.write(chunk)) return true;
    watchSend(res.socket, this.sendMs);
    return false;
  }

  end(): void {
    if (this.gone || this.res.destroyed) return;
    if (this.framed) {
      this.res.end(kLastChunk);
      watchSend(this.res.socket, this.sendMs);
      return;
    }
    const short = this.isShort();
    if (short) this.markLast();
    this.res.end();
    if (short) this.res.socket?.destroySoon();
    watchSend(this.res.socket, this.sendMs);
  }

  abort(): void {
    if (this.detached) return;
    this.gone = true;
    this.res.destroy();
    this.wake();
  }

  /** A ready-made response takes this one's place: whatever the
   * application still sends goes nowhere. */
  detach(): void {
    this.detached = true;
    this.gone = true;
    this.wake();
  }

  /**
   * Sends `length` bytes of `fd` from `offset`: node:http has no
   * sendfile(2), so blocks are read with fs.read and written as they come,
   * waiting for 'drain' when the socket is full, as a file stream piped to
   * the response would, without the promise and iterator step of each
   * block of iterating the file, and with one 'drain' listener for the
   * whole file. A file shorter than announced ends early (end() then cuts
   * the connection: the body is short).
   */
  sendFile(fd: number, offset: number, length: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const res = this.res;
      let position = offset;
      let left = length;
      // One 'drain' listener for the whole file, where drain() would add
      // one and make a promise for every block (young objects that live
      // across scavenges while the socket drains, and are promoted).
      const wake = (): void => this.wake();
      const done = (err: NodeJS.ErrnoException | null): void => {
        res.off('drain', wake);
        if (err === null) resolve();
        else reject(err);
      };
      const next = (): void => {
        if (left <= 0 || this.gone || res.destroyed) {
          done(null);
          return;
        }
        read(fd, Buffer.allocUnsafe(Math.min(kFileBlock, left)), 0, Math.min(kFileBlock, left), position, onRead);
      };
      const onRead = (err: NodeJS.ErrnoException | null, bytesRead: number, block: Buffer): void => {
        if (err !== null) {
          done(err);
          return;
        }
        if (bytesRead === 0) left = 0;
        position += bytesRead;
        left -= bytesRead;
        if (bytesRead === 0 || this.write(bytesRead === block.length ? block : block.subarray(0, bytesRead))) next();
        else if (this.gone || !res.writableNeedDrain) next();
        // Woken by 'drain', or by the response's 'close' (closed()).
        else (this.waiters ??= []).push(next);
      };
      res.on('drain', wake);
      next();
    });
  }

  drain(): Promise<void> {
    if (this.gone || !this.res.writableNeedDrain) return Promise.resolve();
    // One listener for all the waiters of one 'drain'; 'close' wakes them
    // too (a listener left then is never called).
    let waiters = this.waiters;
    if (waiters === null) {
      waiters = this.waiters = [];
      this.res.once('drain', () => this.wake());
    }
    return new Promise((resolve) => waiters.push(resolve));
  }
}
