// connection.ts: one client connection of the native server and its
// requests: requests answered one at a time in order (pipelining), the Sink
// of the current response, body flow control, and what its end means for
// them. NativeHttpServer (server.ts) makes one per connection that has a
// request.
import type { Chunk, Environ, Header } from '../types.js';
import { BodyFailure } from '../gateway/body-error.js';
import type { EnvironBase } from '../gateway/environ.js';
import type { Input, InputHooks } from '../gateway/input.js';
import { runApplication, type Sink } from '../gateway/response.js';
import type { ResponseHead } from '../gateway/response-head.js';
import type { ProxyTrust } from '../gateway/forwarded.js';
import { OUTPUT_HIGH_WATER, Rf, Wf, Wr } from './binding.js';
import type { NativeHttpServer } from './server.js';

// Requests queued behind an unfinished response before reading pauses.
const kMaxQueued = 32;
const kPauseBody = 1;
const kPauseQueue = 2;

/** One request: its environ, its body stream, and its flags word. */
export class Request implements InputHooks {
  constructor(
    readonly conn: Connection,
    readonly flags: number,
  ) {}
  environ!: Environ;
  input: Input | null = null;

  start(): void {
    if (this.flags & Rf.ExpectContinue && this.conn.current === this && !this.conn.gone) {
      this.conn.server.native.sendContinue(this.conn.id);
      this.conn.server.touched();
    }
  }
  pause(): void {
    this.conn.setPause(kPauseBody, true);
  }
  resume(): void {
    this.conn.setPause(kPauseBody, false);
  }
}

/** One client connection while it has a request; also the Sink of its
 * current response. An idle connection has none (NativeHttpServer.idle):
 * the next Head makes a new one. */
export class Connection implements Sink {
  gone = false;
  /** The request being answered; responses go to the oldest request. */
  current: Request | null = null;
  /** The request whose body the parser is reading (the newest one), until
   * its response is over. An idle connection holds no request. */
  newest: Request | null = null;
  /** Requests received while another is being answered (pipelining with
   * asynchronous responses); null when there are none, so that an idle
   * connection holds no array. */
  private queue: Request[] | null = null;
  private pauseBits = 0;
  private running = false;
  private waiters: (() => void)[] | null = null;
  private fileDone: (() => void) | null = null;
  /** The body chunks written and not yet given to C++ (OutBatch); null
   * until the connection's first write(). */
  private out: OutBatch | null = null;
  onGone: (() => void) | null = null;

  constructor(
    readonly server: NativeHttpServer,
    readonly id: number,
    /** The peer's address and port, or the client's from a PROXY header. */
    readonly remoteAddr: string,
    readonly remotePort: string,
    /** Its listener's SERVER_NAME and SERVER_PORT. */
    readonly base: EnvironBase,
    /** SERVER_PORT: the base's, or the one a PROXY header gave. */
    readonly serverPort: string,
    /** The server's ProxyTrust when the peer is a trusted front-end (its
     * forwarded headers count), else null. */
    readonly trust: ProxyTrust | null,
  ) {}

  sendFile(fd: number, offset: number, length: number): Promise<void> {
    this.handOver(false);
    return new Promise<void>((resolve) => {
      if (this.gone) return resolve();
      this.fileDone = resolve;
      if (this.server.native.sendFile(this.id, fd, offset, length) === Wr.Gone) {
        this.fileDone = null;
        this.gone = true;
        resolve();
      }
    });
  }

  /** A request has arrived: answer it now if none is in progress. */
  receive(req: Request): void {
    this.newest = req;
    if (this.current === null && this.queue === null && !this.gone) {
      this.current = req;
      runApplication(this.server.app, req.environ, this, this.server.errors, this.server.accessLog);
      return;
    }
    (this.queue ??= []).push(req);
    if (this.queue.length > kMaxQueued) this.setPause(kPauseQueue, true);
  }

  setPause(bit: number, on: boolean): void {
    const before = this.pauseBits;
    this.pauseBits = on ? before | bit : before & ~bit;
    if (this.gone) return;
    if (before === 0 && this.pauseBits !== 0) this.server.native.pause(this.id);
    else if (before !== 0 && this.pauseBits === 0) this.server.native.resume(this.id);
  }

  /** Runs queued requests in order while none is in progress. */
  run(): void {
    if (this.running) return;
    this.running = true;
    const { app, errors, accessLog } = this.server;
    while (this.current === null && !this.gone && this.queue !== null) {
      const req = this.queue.shift()!;
      if (this.queue.length === 0) this.queue = null;
      this.current = req;
      runApplication(app, req.environ, this, errors, accessLog);
    }
    this.running = false;
    if (this.pauseBits & kPauseQueue && (this.queue?.length ?? 0) < kMaxQueued / 4) this.setPause(kPauseQueue, false);
  }

  private finished(): void {
    const req = this.current;
    this.current = null;
    if (req !== null) {
      req.input?.discard();
      if (this.newest === req) this.newest = null;
    }
    if (this.queue !== null) this.run();
    if (
      this.current === null &&
      this.queue === null &&
      this.newest === null &&
      this.waiters === null &&
      this.fileDone === null &&
      this.pauseBits === 0 &&
      !this.running
    ) {
      this.server.idle(this);
    }
  }

  start(
    status: string,
    _code: number,
    headers: Header[],
    contentLength: number,
    body: Chunk | null,
    last: boolean,
    close: boolean,
    head: ResponseHead | null,
  ): boolean {
    // No chunk of this connection waits here: the previous response was
    // ended (end() hands its chunks over) or cut (abort() drops them).
    const server = this.server;
    const flags = this.current!.flags;
    const rflags = close ? Wf.Close : 0;
    const slot = head === null ? -1 : server.slotOf(head);
    let r: Wr;
    if (slot < 0) {
      r = server.native.respond(this.id, flags, status, head?.lines ?? headerLines(headers), contentLength, body, last, rflags);
    } else if (last && server.enqueue(this.id, flags, slot, contentLength, body, rflags)) {
      // Applied by C++ before anything else it is asked, or when this
      // batch ends: a complete response needs no answer.
      r = Wr.Ok;
    } else {
      r = server.native.respondHead(this.id, flags, slot, contentLength, body, last, rflags);
    }
    server.touched();
    if (r === Wr.Gone) this.gone = true;
    if (last) this.finished();
    return r !== Wr.Full;
  }

  /** Keeps the chunk for the next hand-over: no call into C++ per chunk.
   * Backpressure as C++ would report it: full once the batch passes the
   * high water mark, or while the last hand-over's Full lasts. */
  write(chunk: Chunk): boolean {
    if (this.gone) return true;
    const out = (this.out ??= new OutBatch());
    if (out.chunks === null) {
      out.chunks = [chunk];
      out.size = chunk.length;
      this.server.defer(this);
    } else {
      out.chunks.push(chunk);
      out.size += chunk.length;
    }
    return !out.full && out.size <= OUTPUT_HIGH_WATER;
  }

  end(): void {
    if (this.out !== null && this.out.chunks !== null) {
      this.handOver(true);
    } else if (this.server.native.end(this.id) === Wr.Gone) {
      this.gone = true;
    }
    this.server.touched();
    this.finished();
  }

  /** Gives C++ the chunks written since the last hand-over (and the end of
   * the response when `end`), in one call; returns what it said. */
  handOver(end: boolean): Wr {
    const out = this.out;
    if (out === null || out.chunks === null) return Wr.Ok;
    const chunks = out.chunks;
    out.chunks = null;
    out.size = 0;
    if (this.gone) return Wr.Gone;
    let r: Wr;
    try {
      r = this.server.native.writeChunks(this.id, chunks, end);
    } catch (err) {
      // A chunk C++ refuses (a typed array that only passes for a
      // Uint8Array) or worker termination: the chunks before it may be
      // on the wire, so the response can only be cut. The caller reports.
      this.abort();
      throw err;
    }
    if (r === Wr.Gone) this.gone = true;
    else if (r === Wr.Full) out.full = true;
    this.server.touched();
    return r;
  }

  abort(): void {
    this.out = null;
    this.server.native.abort(this.id);
    this.gone = true;
    this.wake();
    this.finished();
  }

  drain(): Promise<void> {
    const out = this.out;
    if (out !== null && out.chunks !== null && this.handOver(false) !== Wr.Full && !out.full) return Promise.resolve();
    if (this.gone) return Promise.resolve();
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  wake(): void {
    if (this.out !== null) this.out.full = false;
    const waiters = this.waiters;
    if (waiters === null) return;
    this.waiters = null;
    for (const w of waiters) w();
  }

  fileSent(status: number): void {
    if (status < 0) this.gone = true;
    const done = this.fileDone;
    this.fileDone = null;
    done?.();
  }

  closed(): void {
    this.gone = true;
    this.out = null;
    const lost = this.server.bodyError(BodyFailure.Lost);
    this.current?.input?.fail(lost);
    if (this.queue !== null) for (const req of this.queue) req.input?.fail(lost);
    this.queue = null;
    this.wake();
    this.fileSent(-1);
    const onGone = this.onGone;
    this.onGone = null;
    onGone?.();
  }
}

/** The body chunks of a connection's response that wait for their hand-over
 * to C++ (one writeChunks() call): at end(), at sendFile(), when the
 * driver waits for drain, or on the tick after the turn in which the first
 * was written (NativeHttpServer.defer). One object, made at a connection's
 * first write(), so that a connection that never streams carries one
 * field. */
class OutBatch {
  chunks: Chunk[] | null = null;
  /** Their size (UTF-16 units for strings), for backpressure. */
  size = 0;
  /** The last hand-over answered Wr.Full and no Drain came since. */
  full = false;
}

/** Header lines, each `Name: value\r\n`. */
function headerLines(headers: Header[]): string {
  let block = '';
  for (let i = 0; i < headers.length; i++) block += headers[i]![0] + ': ' + headers[i]![1] + '\r\n';
  return block;
}
