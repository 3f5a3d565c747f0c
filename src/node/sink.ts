// sink.ts: a TSGI response on a node:http ServerResponse (the Sink of the
// shared response driver), with the send timeout node:http lacks. Used by
// the reference server and by toNodeListener.
import { read } from 'node:fs';
import { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Chunk, Header } from '../types.js';
import type { ResponseHead, Sink } from '../gateway/response.js';
import { bodiless, derivedLength } from '../gateway/http-rules.js';
import { timerTickMs } from '../settings.js';
import { OUTPUT_HIGH_WATER } from '../native/binding.js';

const kSendWatch = Symbol('tsgi.sendWatch');
/** A whole body up to this size is handed to res.end() as a latin1
 * string: node:http then writes head and body as one string (one write),
 * where bytes make it queue the head apart and write both as a vector.
 * Past it, the copy into a string costs more than that saves. */
const kJoinedBody = 1024;
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;

/** The block sendFile reads and writes at a time: the sockets' high-water
 * mark, so that one block fills the socket. */
const kFileBlock = OUTPUT_HIGH_WATER;

/**
 * The send timeout, which node:http lacks: while a socket has output
 * queued, a check every quarter of `ms` (10 ms to 1 s) looks at the bytes
 * the kernel has taken (`bytesWritten - writableLength`); when they have
 * not grown for `ms`, the client stopped reading and the socket is
 * destroyed (the response's 'close' ends the body, as on the native
 * server). At most one check per socket, and only while output is queued:
 * nothing per request on the fast path.
 */
export function watchSend(socket: Socket | null, ms: number): void {
  if (ms <= 0 || socket === null || socket.destroyed || socket.writableLength === 0) return;
  const s = socket as Socket & { [kSendWatch]?: NodeJS.Timeout };
  if (s[kSendWatch] !== undefined) return;
  const taken = () => socket.bytesWritten - socket.writableLength;
  let last = taken();
  let since = Date.now();
  const timer = setInterval(
    () => {
      if (socket.destroyed || socket.writableLength === 0) {
        clearInterval(timer);
        s[kSendWatch] = undefined;
        return;
      }
      const now = taken();
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since >= ms) {
        clearInterval(timer);
        s[kSendWatch] = undefined;
        socket.destroy();
      }
    },
    timerTickMs([ms]),
  );
  timer.unref();
  s[kSendWatch] = timer;
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
}

function hasHigh(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return true;
  return false;
}

function prepareHead(status: string, headers: readonly Header[]): PreparedHead {
  const reason = status.slice(4);
  const fields: string[] = [];
  let high = hasHigh(reason);
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    fields.push(name, value);
    if (!high && hasHigh(value)) high = true;
  }
  return { reason, fields, size: fields.length, high, length: -1, lengthText: '' };
}

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
  /** Who awaits 'drain' (or 'close'); null while no one does. */
  private waiters: (() => void)[] | null = null;
  private detached = false;

  constructor(
    protected readonly res: ServerResponse,
    private readonly closing: () => boolean,
    private readonly sendMs: number,
  ) {
    // 'drain' is listened for only while someone waits (drain()): most
    // responses never wait, and a listener per response costs.
    if (res instanceof SinkResponse) res.sink = this;
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
    if (head === null) prepared = prepareHead(status, headers);
    else prepared = (head.prepared as PreparedHead | null) ?? (head.prepared = prepareHead(status, headers));
    // node:http sends the head in the encoding of the first string chunk
    // (UTF-8); header strings are latin1 on the wire (PEP 3333), which it
    // does only when the first chunk is bytes.
    if (prepared.high && typeof body === 'string') body = Buffer.from(body);
    // The whole body in hand: its size is the Content-Length (as native).
    if (contentLength < 0 && last) {
      const size = body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      contentLength = derivedLength(code, this.res.req.method === 'HEAD', size);
    }
    // The head's own fields, then the server's: the array is the head's,
    // reused (writeHead reads it and keeps nothing of it).
    const fields = prepared.fields;
    let n = prepared.size;
    if (contentLength >= 0) {
      if (contentLength !== prepared.length) {
        prepared.length = contentLength;
        prepared.lengthText = String(contentLength);
      }
      fields[n++] = 'Content-Length';
      fields[n++] = prepared.lengthText;
      this.declared = contentLength;
    }
    if (close || this.closing()) {
      fields[n++] = 'Connection';
      fields[n++] = 'close';
    }
    // (Setting an array's length is a call into the runtime: only when
    // it changes.)
    if (fields.length !== n) fields.length = n;
    res.writeHead(code, prepared.reason, fields);
    if (last) {
      if (body === null) {
        res.end();
      } else {
        if (this.declared >= 0) this.written = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
        if (typeof body !== 'string' && body.byteLength <= kJoinedBody) res.end(latin1Slice.call(body, 0, body.byteLength), 'latin1');
        else res.end(body);
      }
      this.checkShort();
      watchSend(res.socket, this.sendMs);
      return true;
    }
    if (body === null) return true;
    return this.write(body);
  }

  /** A body shorter than its Content-Length: cut, so the client knows. */
  private checkShort(): void {
    if (this.declared >= 0 && this.written < this.declared && !this.isBodiless()) {
      this.res.socket?.destroySoon();
    }
  }

  private isBodiless(): boolean {
    return bodiless(this.res.statusCode, this.res.req.method ?? 'GET');
  }

  write(chunk: Chunk): boolean {
    if (this.gone || this.res.destroyed) return true;
    if (this.declared >= 0) {
      const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
      if (this.written + size > this.declared) {
        // More than declared: send what fits, then end the connection.
        const room = this.declared - this.written;
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        this.written = this.declared;
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

  end(): void {
    if (this.gone || this.res.destroyed) return;
    this.res.end();
    this.checkShort();
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
   * awaiting 'drain' when the socket is full, as a file stream piped to
   * the response would, without the promise and iterator step of each
   * block of iterating the file. A file shorter than announced ends early
   * (end() then cuts the connection: the body is short).
   */
  sendFile(fd: number, offset: number, length: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let position = offset;
      let left = length;
      const next = (): void => {
        if (left <= 0 || this.gone || this.res.destroyed) {
          resolve();
          return;
        }
        read(fd, Buffer.allocUnsafe(Math.min(kFileBlock, left)), 0, Math.min(kFileBlock, left), position, onRead);
      };
      const onRead = (err: NodeJS.ErrnoException | null, bytesRead: number, block: Buffer): void => {
        if (err !== null) {
          reject(err);
          return;
        }
        if (bytesRead === 0) left = 0;
        position += bytesRead;
        left -= bytesRead;
        if (bytesRead === 0 || this.write(bytesRead === block.length ? block : block.subarray(0, bytesRead))) next();
        else void this.drain().then(next);
      };
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
