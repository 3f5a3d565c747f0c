// to-fetch-handler.ts: toFetchHandler, a TSGI application as a fetch
// handler, so that it runs wherever fetch handlers run (Bun.serve,
// Deno.serve, workers, @hono/node-server). The environ comes from the
// shared mapping and the response from the shared driver; this file is the
// Sink that turns the driver's calls into a Response with a streaming body.
// Imports nothing of Node's but node:fs (through the file wrapper), which
// Bun and Deno provide.
import type { Application, Chunk, ErrorStream, Header } from '../types.js';
import { addHeader, createEnviron, environKey, finishEnviron, type EnvironBase } from '../gateway/environ.js';
import { fileWrapper } from '../gateway/file-wrapper.js';
import { bodiless, bodilessStatus } from '../gateway/http-rules.js';
import { emptyInput, PullInput } from '../gateway/input.js';
import { runApplication, type Sink } from '../gateway/response.js';

/** The peer of a request, when the runtime tells it. */
export interface RemoteAddress {
  address: string;
  port: number;
}

/** Options of {@link toFetchHandler}. */
export interface ToFetchHandlerOptions {
  /** Where `tsgi.errors` and application failures go (default: the
   * console's error stream). */
  errors?: ErrorStream;
  /** `tsgi.multiprocess` (default false). */
  multiprocess?: boolean;
  /** The peer of a request (REMOTE_ADDR, REMOTE_PORT). By default it is
   * read from Deno.serve's `info.remoteAddr` or Bun.serve's
   * `server.requestIP(request)`, when the second argument is one of
   * those; else it is empty. */
  remote?: (request: Request, context: unknown) => RemoteAddress | null | undefined;
  /** Bytes a streamed response may queue ahead of the client before the
   * body iterator is paused (default 64 KiB). */
  highWaterMark?: number;
}

/** A fetch handler made by {@link toFetchHandler}. */
export type TsgiFetchHandler = (request: Request, context?: unknown) => Promise<Response>;

const encoder = new TextEncoder();

const consoleErrors: ErrorStream = {
  write(message: string): void {
    console.error(message.endsWith('\n') ? message.slice(0, -1) : message);
  },
  flush(): void {},
};

function bytesOf(chunk: Chunk): Uint8Array {
  return typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
}

/** Deno's ServeHandlerInfo or Bun's Server, duck-typed. */
function defaultRemote(request: Request, context: unknown): RemoteAddress | null {
  if (context === null || typeof context !== 'object') return null;
  const info = context as {
    remoteAddr?: { hostname?: string; port?: number };
    requestIP?: (r: Request) => { address: string; port: number } | null;
  };
  if (info.remoteAddr && typeof info.remoteAddr.hostname === 'string') {
    return { address: info.remoteAddr.hostname, port: info.remoteAddr.port ?? 0 };
  }
  if (typeof info.requestIP === 'function') {
    const ip = info.requestIP(request);
    if (ip) return { address: ip.address, port: ip.port };
  }
  return null;
}

/** The driver's calls, as a Response whose body is a ReadableStream. */
class FetchSink implements Sink {
  gone = false;
  onGone: (() => void) | null = null;
  readonly sendFile = null;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  private waiters: (() => void)[] = [];
  private resolve: ((res: Response) => void) | null;
  /** Bytes still allowed by a declared Content-Length; -1 when none. */
  private left = -1;
  private bodiless = false;

  constructor(
    resolve: (res: Response) => void,
    private readonly method: string,
    private readonly highWaterMark: number,
  ) {
    this.resolve = resolve;
  }

  /** The client went away (the stream was cancelled, or the request's
   * signal fired). */
  lost(): void {
    if (this.gone) return;
    this.gone = true;
    const resolve = this.resolve;
    this.resolve = null;
    resolve?.(new Response(null, { status: 503 }));
    this.wake();
    const onGone = this.onGone;
    this.onGone = null;
    onGone?.();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  start(status: string, code: number, headers: Header[], contentLength: number, body: Chunk | null, last: boolean): boolean {
    const resolve = this.resolve;
    this.resolve = null;
    if (resolve === null) return true;
    const h = new Headers();
    for (let i = 0; i < headers.length; i++) h.append(headers[i]![0], headers[i]![1]);
    const init = { status: code, statusText: status.slice(4), headers: h };
    this.bodiless = bodiless(code, this.method);
    if (this.bodiless) {
      // The runtime sends no body; a HEAD response still says its size.
      if (contentLength >= 0 && !bodilessStatus(code)) h.set('content-length', String(contentLength));
      resolve(new Response(null, init));
      return true;
    }
    if (last) {
      let bytes = body === null ? new Uint8Array(0) : bytesOf(body);
      if (contentLength >= 0 && bytes.byteLength > contentLength) bytes = bytes.subarray(0, contentLength);
      resolve(new Response(bytes, init));
      return true;
    }
    // A streamed body goes with the runtime's own framing (chunked);
    // a declared length still bounds what is sent.
    this.left = contentLength;
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => this.wake(),
        cancel: () => this.lost(),
      },
      { highWaterMark: this.highWaterMark, size: (chunk) => chunk.byteLength },
    );
    resolve(new Response(stream, init));
    if (body === null) return true;
    return this.write(body);
  }

  write(chunk: Chunk): boolean {
    const controller = this.controller;
    if (this.gone || controller === null || this.bodiless) return true;
    let bytes = bytesOf(chunk);
    if (this.left >= 0) {
      if (bytes.byteLength > this.left) bytes = bytes.subarray(0, this.left);
      this.left -= bytes.byteLength;
    }
    if (bytes.byteLength > 0) controller.enqueue(bytes);
    return (controller.desiredSize ?? 0) > 0;
  }

  end(): void {
    const controller = this.controller;
    this.controller = null;
    if (controller === null || this.gone) return;
    // Shorter than its Content-Length: an error, so the client knows.
    if (this.left > 0) controller.error(new Error('tsgi: the response body is shorter than its Content-Length'));
    else controller.close();
  }

  abort(): void {
    const controller = this.controller;
    this.controller = null;
    this.gone = true;
    const resolve = this.resolve;
    this.resolve = null;
    resolve?.(Response.error());
    controller?.error(new Error('tsgi: the application failed after the response started'));
    this.wake();
  }

  drain(): Promise<void> {
    if (this.gone || this.controller === null || (this.controller.desiredSize ?? 0) > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/**
 * Runs a TSGI application as a fetch handler: `(request, context?) =>
 * Promise<Response>`, for Bun.serve, Deno.serve, Cloudflare-style workers
 * or any server that takes one. The environ is built by the same mapping as
 * the tsgi servers' (the URL's path, query, host and port; `HTTP_*` from the
 * headers); `tsgi.input` reads the request's body stream on demand. The
 * response streams with backpressure (the body iterator is paused while the
 * runtime has `highWaterMark` bytes queued), a failure before the first
 * byte is a 500 and after it a cut stream, and the body's `close()` runs
 * when the response ends or the client goes away.
 *
 * @example
 * ```ts
 * import { toFetchHandler } from 'tsgi';
 * import app from './app.js';
 *
 * Bun.serve({ port: 8000, fetch: toFetchHandler(app) });   // Bun
 * Deno.serve({ port: 8000 }, toFetchHandler(app));         // Deno
 * ```
 */
export function toFetchHandler(app: Application, options: ToFetchHandlerOptions = {}): TsgiFetchHandler {
  if (typeof app !== 'function') {
    throw new TypeError(`toFetchHandler: the application must be a function, got ${app === null ? 'null' : typeof app}`);
  }
  const errors = options.errors ?? consoleErrors;
  const remote = options.remote ?? defaultRemote;
  const highWaterMark = options.highWaterMark ?? 64 * 1024;
  const multiprocess = options.multiprocess ?? false;
  return (request, context) =>
    new Promise<Response>((resolve) => {
      const url = new URL(request.url);
      const https = url.protocol === 'https:';
      const base: EnvironBase = {
        serverName: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        serverPort: url.port || (https ? '443' : '80'),
        errors,
        multiprocess,
        fileWrapper,
      };
      const peer = remote(request, context);
      const body = request.body;
      const environ = createEnviron(
        base,
        request.method,
        url.pathname + url.search,
        'HTTP/1.1',
        peer?.address ?? '',
        String(peer?.port ?? 0),
        body === null ? emptyInput : new PullInput(body as unknown as AsyncIterable<Uint8Array>),
      );
      if (https) environ['tsgi.url_scheme'] = 'https';
      for (const [name, value] of request.headers) {
        const key = environKey(name);
        if (key !== null) addHeader(environ, key, value);
      }
      if (environ.HTTP_HOST === undefined) environ.HTTP_HOST = url.host;
      finishEnviron(environ, null);
      const sink = new FetchSink(resolve, environ.REQUEST_METHOD, highWaterMark);
      const signal = request.signal;
      if (signal) {
        if (signal.aborted) sink.lost();
        else signal.addEventListener('abort', () => sink.lost(), { once: true });
      }
      runApplication(app, environ, sink, errors, null);
    });
}
