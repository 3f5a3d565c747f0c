// access-log.ts: AccessLog, one line per response, for both servers. The
// response driver (gateway/response.ts) wraps a request's Sink in a
// LoggedSink only when the server has an access log: with none, nothing
// here runs and nothing is measured. The line is made from what the
// response already had: the environ (the request head), the status, the
// headers, the bytes given to the sink and the time the application took.
import { performance } from 'node:perf_hooks';
import type { Chunk, Environ, Header } from '../types.js';
import type { ResponseHead, Sink } from '../gateway/response.js';
import { bodiless } from '../gateway/http-rules.js';
import { compileAccessFormat, type AccessRecord, type LineFormatter } from './access-format.js';
import { LogFile } from './log-file.js';

const kNoHeaders: readonly Header[] = [];
const kTimeOrigin = performance.timeOrigin;

function byteLength(chunk: Chunk): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
}

/**
 * The access log of a server: `target` is a file (appended to) or `-`
 * (stdout), `format` gunicorn's format string or `json`.
 *
 * @example
 * ```ts
 * const log = AccessLog.open('access.log', GUNICORN_FORMAT);
 * const server = await serve(app, { accessLog: 'access.log' }); // the same, from serve()
 * ```
 */
export class AccessLog {
  constructor(
    readonly file: LogFile,
    private readonly line: LineFormatter,
  ) {}

  static open(target: string, format: string): AccessLog {
    // Its lines are printable ASCII (access-format.ts): a byte a character.
    return new AccessLog(new LogFile(target, 'stdout', true), compileAccessFormat(format));
  }

  /** The sink of one request, logging when its response is over. */
  wrap(sink: Sink, environ: Environ): Sink {
    return new LoggedSink(sink, environ, this);
  }

  /** Writes the line of a finished response. */
  log(record: AccessRecord, now: number): void {
    const file = this.file;
    if (!file.begin()) return;
    // The wall clock from the monotonic one (one clock read a line).
    this.line(record, kTimeOrigin + now, file);
    file.end();
  }

  reopen(): void {
    this.file.reopen();
  }
  close(): Promise<void> {
    return this.file.close();
  }
}

/** A Sink that counts what its response sends and logs it at the end:
 * after the last start(), end() or abort(), or when the client goes away. */
export class LoggedSink implements Sink, AccessRecord {
  status = 0;
  headers: readonly Header[] = kNoHeaders;
  contentLength = -1;
  sent = 0;
  durationUs = 0;
  private noBody = false;
  private logged = false;
  private readonly started = performance.now();
  private userOnGone: (() => void) | null = null;
  private readonly onInnerGone = () => {
    this.done();
    const user = this.userOnGone;
    this.userOnGone = null;
    user?.();
  };
  readonly sendFile: Sink['sendFile'];

  constructor(
    private readonly inner: Sink,
    readonly environ: Environ,
    private readonly log: AccessLog,
  ) {
    // The server calls its sink's onGone when the client leaves (the
    // driver sets it only while it awaits the application); done() takes
    // the hook back, so that a keep-alive connection holds no old request.
    inner.onGone = this.onInnerGone;
    const send = inner.sendFile;
    this.sendFile =
      send === null
        ? null
        : (fd, offset, length) => {
            this.count(length);
            return send.call(inner, fd, offset, length);
          };
  }

  get gone(): boolean {
    return this.inner.gone;
  }
  get onGone(): (() => void) | null {
    return this.userOnGone;
  }
  set onGone(fn: (() => void) | null) {
    this.userOnGone = fn;
  }

  private count(n: number): void {
    if (this.noBody) return;
    this.sent += n;
    if (this.contentLength >= 0 && this.sent > this.contentLength) this.sent = this.contentLength;
  }

  private done(): void {
    if (this.logged) return;
    this.logged = true;
    if (this.inner.onGone === this.onInnerGone) this.inner.onGone = null;
    const now = performance.now();
    this.durationUs = (now - this.started) * 1000;
    if (this.status === 0) this.sent = -1;
    this.log.log(this, now);
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
    const more = this.inner.start(status, code, headers, contentLength, body, last, close, head);
    this.status = code;
    this.headers = headers;
    this.noBody = bodiless(code, this.environ.REQUEST_METHOD);
    if (body === null) {
      if (contentLength < 0 && last && !this.noBody) this.contentLength = 0;
      else this.contentLength = contentLength;
    } else if (contentLength >= 0 && typeof body === 'string' && body.length === contentLength) {
      // UTF-8 has at least a byte a character: the declared length is what
      // is sent (no need to measure the string).
      this.contentLength = contentLength;
      this.count(contentLength);
    } else {
      const n = byteLength(body);
      // The whole body in hand: its size is the Content-Length sent.
      this.contentLength = contentLength < 0 && last && !this.noBody ? n : contentLength;
      this.count(n);
    }
    if (last || this.inner.gone) this.done();
    return more;
  }

  write(chunk: Chunk): boolean {
    const more = this.inner.write(chunk);
    this.count(byteLength(chunk));
    if (this.inner.gone) this.done();
    return more;
  }

  end(): void {
    this.inner.end();
    this.done();
  }

  abort(): void {
    this.inner.abort();
    this.done();
  }

  drain(): Promise<void> {
    return this.inner.drain();
  }
}
