// response.ts: the response driver shared by both servers: startResponse()
// and write() (the head checked by response-head.ts), iterating the body
// with backpressure, close(), and PEP 3333's error semantics. A server
// supplies a Sink; framing stays with the server.
import { performance } from 'node:perf_hooks';
import type { Application, Chunk, Environ, ErrorStream, Header, ResponseBody, WriteFunction } from '../types.js';
import type { AccessRecord } from '../log/access-format.js';
import { logError } from './errors.js';
import { FileBody } from './file-wrapper.js';
import { bodiless } from './http-rules.js';
import { checkHead, describe, type ResponseHead } from './response-head.js';
import { SERVER_ERROR } from './refusals.js';

/**
 * Where a response goes. Exactly one of `start(..., last=true)`, `end()` or
 * `abort()` ends it; the driver never calls the sink after that.
 */
export interface Sink {
  /** Sends the status line and headers with the first body bytes (or the
   * whole body when `last`). `contentLength` is -1 when unknown. `head` is
   * the checked status and headers as the driver keeps them (null for the
   * driver's own 500): a sink may prepare what it sends often. Returns
   * false when the caller should await `drain()` before writing more. */
  start(
    status: string,
    code: number,
    headers: Header[],
    contentLength: number,
    body: Chunk | null,
    last: boolean,
    close: boolean,
    head: ResponseHead | null,
  ): boolean;
  /** Sends body bytes; false means await `drain()`. */
  write(chunk: Chunk): boolean;
  /** Ends the response. */
  end(): void;
  /** Cuts the connection: the client sees an incomplete response. */
  abort(): void;
  /** Resolves when the sink can take more, or when the client is gone. */
  drain(): Promise<void>;
  /** Sends a file region with sendfile(2), when the server can. */
  readonly sendFile: ((fd: number, offset: number, length: number) => Promise<void>) | null;
  /** True once the client has gone away. */
  readonly gone: boolean;
  /** Set by the driver while it awaits the application; the sink calls it
   * (once) when the client goes away, so that a body stuck in an await
   * that never settles is still closed. */
  onGone: (() => void) | null;
}

const kServerError = SERVER_ERROR.headers as Header[];

const kNoHeaders: readonly Header[] = [];
const kTimeOrigin = performance.timeOrigin;

/** The UTF-8 size of a chunk: a short ASCII string (the common body of
 * the access log's count) is measured here, without a call into C++. */
function byteLength(chunk: Chunk): number {
  if (typeof chunk !== 'string') return chunk.byteLength;
  const n = chunk.length;
  if (n > 64) return Buffer.byteLength(chunk);
  for (let i = 0; i < n; i++) if (chunk.charCodeAt(i) > 0x7f) return Buffer.byteLength(chunk);
  return n;
}

function chunkLength(chunk: Chunk): number {
  return typeof chunk === 'string' ? chunk.length : chunk.byteLength;
}

function checkChunk(chunk: unknown): asserts chunk is Chunk {
  if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
    throw new TypeError(`tsgi: body chunks must be strings or Uint8Arrays, got ${describe(chunk)}`);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

/** The state of one response, and its startResponse/write closures; with
 * an access log, also its record (what was sent, AccessRecord), kept by
 * the driver itself: no wrapper per request, nothing measured without a
 * log. */
class Response implements AccessRecord {
  status: string | null = null;
  code = 0;
  headers: Header[] = kServerError;
  contentLength = -1;
  close = false;
  head: ResponseHead | null = null;
  /** True once the sink has been started: the status line is out. */
  sent = false;
  /** True once the sink has been ended (or aborted). */
  done = false;
  readonly startResponse: (status: string, headers: Header[], excInfo?: unknown) => WriteFunction;
  private readonly writeFn: WriteFunction;

  // The access log's record (AccessRecord), kept only when `log` is set.
  statusSent = 0;
  headersSent: readonly Header[] = kNoHeaders;
  lengthSent = -1;
  bytesSent = 0;
  durationUs = 0;
  /** performance.now() at the call of the application (a timed log). */
  private startedAt = 0;
  private noBody = false;
  private logged = false;

  constructor(
    readonly sink: Sink,
    readonly environ: Environ,
    readonly errors: ErrorStream,
    readonly log: ResponseLog | null,
  ) {
    if (log !== null && log.timed) this.startedAt = performance.now();
    this.writeFn = (chunk: Chunk) => {
      if (this.status === null) throw new Error('tsgi: write() called before startResponse()');
      checkChunk(chunk);
      if (this.done || chunkLength(chunk) === 0) return;
      this.emit(chunk);
    };
    this.startResponse = (status, headers, excInfo) => {
      if (excInfo) {
        // PEP 3333: with exc_info after the headers went out, re-raise.
        if (this.sent) throw excInfo;
      } else if (this.status !== null) {
        throw new Error('tsgi: startResponse() called a second time without excInfo');
      }
      this.setStatus(status, headers);
      return this.writeFn;
    };
  }

  private setStatus(status: unknown, headers: unknown): void {
    const head = checkHead(status, headers);
    this.status = head.status;
    this.code = head.code;
    this.headers = head.headers;
    this.contentLength = head.length;
    this.close = head.close;
    // (A head that is not kept is not one a sink may prepare either.)
    this.head = head.kept ? head : null;
  }

  /** Sends one non-empty chunk; false means await drain. */
  emit(chunk: Chunk): boolean {
    if (!this.sent) {
      if (this.status === null) throw new Error('tsgi: the application returned a body without calling startResponse()');
      // Marked sent once the sink took the head: a sink that refuses it
      // (throws) leaves the response unsent, and fail() sends a 500.
      const more = this.sink.start(this.status, this.code, this.headers, this.contentLength, chunk, false, this.close, this.head);
      this.sent = true;
      if (this.log !== null) this.started(this.code, this.headers, this.contentLength, chunk, false);
      return more;
    }
    const more = this.sink.write(chunk);
    if (this.log !== null) this.wrote(byteLength(chunk));
    return more;
  }

  /** Ends the response, with `chunk` as its last bytes. */
  finish(chunk: Chunk | null): void {
    if (this.done) return;
    if (!this.sent) {
      if (this.status === null) throw new Error('tsgi: the application returned a body without calling startResponse()');
      this.sink.start(this.status, this.code, this.headers, this.contentLength, chunk, true, this.close, this.head);
      this.sent = true;
      this.done = true;
      if (this.log !== null) this.started(this.code, this.headers, this.contentLength, chunk, true);
      return;
    }
    this.done = true;
    if (chunk !== null) {
      this.sink.write(chunk);
      if (this.log !== null) this.wrote(byteLength(chunk));
    }
    this.sink.end();
    this.over();
  }

  /** PEP 3333: before the status line, a 500; after it, cut the connection. */
  fail(err: unknown): void {
    const { environ } = this;
    logError(this.errors, `error in application (${environ.REQUEST_METHOD} ${environ.REQUEST_URI})`, err);
    if (this.done || this.sink.gone) {
      this.over();
      return;
    }
    this.done = true;
    if (!this.sent) {
      this.sent = true;
      this.sink.start(SERVER_ERROR.status, SERVER_ERROR.code, kServerError, -1, SERVER_ERROR.body, true, false, null);
      if (this.log !== null) this.started(SERVER_ERROR.code, kServerError, -1, SERVER_ERROR.body, true);
    } else {
      this.sink.abort();
      this.over();
    }
  }

  // ---- The access log's record (only with a log) ----------------------

  /** The head went out, with `body` (or none). */
  started(code: number, headers: readonly Header[], contentLength: number, body: Chunk | null, last: boolean): void {
    this.statusSent = code;
    this.headersSent = headers;
    const noBody = bodiless(code, this.environ.REQUEST_METHOD);
    this.noBody = noBody;
    if (body === null) {
      this.lengthSent = contentLength < 0 && last && !noBody ? 0 : contentLength;
    } else if (contentLength >= 0 && typeof body === 'string' && body.length === contentLength) {
      // UTF-8 has at least a byte a character: the declared length is what
      // is sent (no need to measure the string).
      this.lengthSent = contentLength;
      this.count(contentLength);
    } else {
      const n = byteLength(body);
      // The whole body in hand: its size is the Content-Length sent.
      this.lengthSent = contentLength < 0 && last && !noBody ? n : contentLength;
      this.count(n);
    }
    if (last || this.sink.gone) this.over();
  }

  /** `n` more body bytes went out. */
  wrote(n: number): void {
    this.count(n);
    if (this.sink.gone) this.over();
  }

  private count(n: number): void {
    if (this.noBody) return;
    const sent = this.bytesSent + n;
    this.bytesSent = this.lengthSent >= 0 && sent > this.lengthSent ? this.lengthSent : sent;
  }

  /** The response is over (ended, cut, or its client gone): its line is
   * written, once. */
  over(): void {
    const log = this.log;
    if (log === null || this.logged) return;
    this.logged = true;
    // Untimed, the log reads its own clock (0): once per batch of events
    // on the native server (ResponseLog.turnStart).
    let now = 0;
    if (log.timed) {
      const t = performance.now();
      this.durationUs = (t - this.startedAt) * 1000;
      now = kTimeOrigin + t;
    }
    if (this.statusSent === 0) this.bytesSent = -1;
    log.log(this, now);
  }

  /** Calls the body's close() once, logging what it throws or rejects. */
  closeBody(body: ResponseBody | null | undefined): void {
    try {
      const close = body == null ? undefined : (body as { close?: unknown }).close;
      if (typeof close !== 'function') return;
      const result: unknown = close.call(body);
      if (isThenable(result)) {
        result.then(undefined, (err: unknown) => logError(this.errors, 'error in the body\'s close()', err));
      }
    } catch (err) {
      logError(this.errors, 'error in the body\'s close()', err);
    }
  }
}

/** What logs a response (src/log/access-log.ts): the driver keeps the
 * record of each response and gives it over once the response is over. */
export interface ResponseLog {
  /** Whether its lines use the duration (a clock read at the start too). */
  readonly timed: boolean;
  /** Writes the line of a finished response; `now` is ms since the
   * epoch, or 0 for the log's own clock. */
  log(record: AccessRecord, now: number): void;
  /** A batch of events begins (the native server's onEvents): until
   * turnEnd(), the log's clock is read once, here, not once a line (the
   * lines of one batch are written within the same few hundred µs; a
   * response that ends later reads the clock itself). */
  turnStart(): void;
  turnEnd(): void;
}

/** The name the servers know the access log by. */
export type SinkWrapper = ResponseLog;

/**
 * Runs `app` for one request and drives its response into `sink`. Returns
 * synchronously when the application answered synchronously. With an
 * access log, the sink is wrapped so that the response is logged when it
 * is over; without one, nothing is measured.
 */
export function runApplication(app: Application, environ: Environ, sink: Sink, errors: ErrorStream, log: SinkWrapper | null): void {
  const r = new Response(sink, environ, errors, log);
  let result: ResponseBody | Promise<ResponseBody>;
  try {
    result = app(environ, r.startResponse);
    // A thenable's `then` is application code too: a getter or a then()
    // that throws is the application's failure.
    if (isThenable(result)) {
      // A client that leaves while the application is awaited has its
      // line then, even if the application never answers.
      if (log !== null) sink.onGone = () => r.over();
      (result as Promise<ResponseBody>).then(
        (body) => {
          if (log !== null) sink.onGone = null;
          handleBody(r, body);
        },
        (err: unknown) => {
          if (log !== null) sink.onGone = null;
          r.fail(err);
        },
      );
      return;
    }
  } catch (err) {
    r.fail(err);
    return;
  }
  handleBody(r, result);
}

function handleBody(r: Response, body: ResponseBody): void {
  if (body === null || (typeof body !== 'object' && typeof body !== 'function')) {
    r.fail(new TypeError(`tsgi: the application must return an iterable of chunks, got ${describe(body)}`));
    return;
  }
  if (r.sink.gone) {
    r.over();
    r.closeBody(body);
    return;
  }
  try {
    startBody(r, body);
  } catch (err) {
    // Looking the iterator up, or making it, ran application code that
    // threw (a getter, a proxy, an iterator factory): nothing was sent.
    r.fail(err);
    r.closeBody(body);
  }
}

/** Picks the way `body` is sent; throws only what application code threw
 * while the iterator was looked up or made. */
function startBody(r: Response, body: ResponseBody): void {
  if (Array.isArray(body)) {
    sendArray(r, body);
    return;
  }
  if (body instanceof FileBody) {
    void sendFile(r, body);
    return;
  }
  const syncIter = (body as Iterable<Chunk>)[Symbol.iterator];
  if (typeof syncIter === 'function') {
    void pump(r, body, syncIter.call(body), false);
    return;
  }
  const asyncIter = (body as AsyncIterable<Chunk>)[Symbol.asyncIterator];
  if (typeof asyncIter === 'function') {
    void pump(r, body, asyncIter.call(body), true);
    return;
  }
  r.fail(new TypeError(`tsgi: the application must return an iterable of chunks, got ${describe(body)}`));
  r.closeBody(body);
}

/** The common case: a list of chunks, sent with one call to the sink. */
function sendArray(r: Response, chunks: readonly unknown[]): void {
  try {
    let body: Chunk | null = null;
    let allStrings = true;
    let count = 0;
    for (const chunk of chunks) {
      checkChunk(chunk);
      if (chunkLength(chunk) === 0) continue;
      if (typeof chunk !== 'string') allStrings = false;
      body = chunk;
      count++;
    }
    if (count > 1) {
      const parts = chunks as Chunk[];
      body = allStrings
        ? parts.join('')
        : Buffer.concat(parts.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
    }
    r.finish(body);
  } catch (err) {
    r.fail(err);
  }
  // (Looked up here, where the body is always an array: one map, not the
  // many of closeBody's lookup.)
  if ((chunks as { close?: unknown }).close !== undefined) r.closeBody(chunks as ResponseBody);
}

/** Iterates a sync or async iterator; awaits only for async steps and for
 * backpressure, so a synchronous body is sent before this returns. A sync
 * body is read one chunk ahead, so that a single-chunk body gets a
 * Content-Length. */
async function pump(
  r: Response,
  body: ResponseBody,
  it: Iterator<unknown> | AsyncIterator<unknown>,
  isAsync: boolean,
): Promise<void> {
  let finished = false;
  let abandoned = false;
  // The client left while the body was awaited: end the iterator and
  // close the body now; the pending next() may never settle.
  r.sink.onGone = () => {
    if (finished || abandoned) return;
    abandoned = true;
    r.over();
    void callReturn(r, it);
    r.closeBody(body);
  };
  try {
    let held: Chunk | null = null;
    let step = isAsync ? await (it as AsyncIterator<unknown>).next() : (it as Iterator<unknown>).next();
    for (;;) {
      if (r.sink.gone || r.done) return;
      if (step.done) break;
      const chunk = step.value;
      checkChunk(chunk);
      if (chunkLength(chunk) !== 0) {
        if (!isAsync && !r.sent && held === null) {
          held = chunk;
        } else {
          if (held !== null) {
            const first = held;
            held = null;
            if (!r.emit(first)) {
              await r.sink.drain();
              if (r.sink.gone) return;
            }
          }
          if (!r.emit(chunk)) {
            // The sink is full. drain() first (the native sink hands its
            // batch over in it), then an async body is asked for its next
            // step while the socket drains: one that ends there ends at
            // once, its end written behind the queued bytes (node:http:
            // in the same write) instead of after a wait for 'drain' and
            // a write of its own. At most one chunk is asked for beyond
            // the high-water mark.
            const drained = r.sink.drain();
            if (isAsync) {
              step = await (it as AsyncIterator<unknown>).next();
              if (r.sink.gone || r.done || step.done) continue;
            }
            await drained;
            if (r.sink.gone) return;
            if (isAsync) continue;
          }
        }
      }
      step = isAsync ? await (it as AsyncIterator<unknown>).next() : (it as Iterator<unknown>).next();
    }
    finished = true;
    r.finish(held);
  } catch (err) {
    finished = true;
    r.fail(err);
  } finally {
    r.sink.onGone = null;
    if (r.sink.gone) r.over();
    if (!abandoned) {
      abandoned = true;
      if (!finished) await callReturn(r, it);
      r.closeBody(body);
    }
  }
}

async function callReturn(r: Response, it: Iterator<unknown> | AsyncIterator<unknown>): Promise<void> {
  if (typeof it.return !== 'function') return;
  try {
    await it.return();
  } catch (err) {
    logError(r.errors, 'error while abandoning the body iterator', err);
  }
}

/** A file body: sendfile(2) where the sink can, else read in blocks. */
async function sendFile(r: Response, file: FileBody): Promise<void> {
  try {
    await file.open();
  } catch (err) {
    r.fail(err);
    await file.close();
    return;
  }
  if (r.sink.gone) {
    r.over();
    await file.close();
    return;
  }
  if (r.sent || r.sink.sendFile === null) {
    if (r.contentLength < 0 && !r.sent) r.contentLength = file.length;
    await pump(r, file, file[Symbol.asyncIterator](), true);
    return;
  }
  try {
    if (r.status === null) throw new Error('tsgi: the application returned a body without calling startResponse()');
    r.contentLength = file.length;
    if (file.length === 0 || bodiless(r.code, r.environ.REQUEST_METHOD)) {
      r.finish(null);
    } else {
      r.sink.start(r.status, r.code, r.headers, r.contentLength, null, false, r.close, r.head);
      r.sent = true;
      if (r.log !== null) r.started(r.code, r.headers, r.contentLength, null, false);
      const sent = r.sink.sendFile(file.fd, file.offset, file.length);
      if (r.log !== null) r.wrote(file.length);
      await sent;
      if (!r.sink.gone && !r.done) {
        r.done = true;
        r.sink.end();
      }
      r.over();
    }
  } catch (err) {
    r.fail(err);
  } finally {
    await file.close();
  }
}
