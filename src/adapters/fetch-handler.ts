// fetch-handler.ts: fromFetchHandler, any fetch-style handler (Hono,
// itty-router, srvx...) as a TSGI application. The request side is
// fetch-request.ts; this file turns the Response into startResponse and a
// body, without building a stream for a body that is already in memory.
import type { Application, Chunk, Environ, Header, ResponseBody, StartResponse } from '../types.js';
import { bodiless, reasonPhrase } from '../gateway/http-rules.js';
import { LazyRequest } from './fetch-request.js';
import { installLightResponse, lightParts, NativeResponse } from './fetch-response.js';

/** A fetch-style handler: Hono's `app.fetch`, itty-router, srvx... The
 * environ is passed as the second argument (Hono's `c.env`). */
export type FetchHandler = (request: Request, environ: Environ) => Response | PromiseLike<Response>;

/** Options of {@link fromFetchHandler}. */
export interface FromFetchHandlerOptions {
  /** Take the URL's scheme and host from `X-Forwarded-Proto` and
   * `X-Forwarded-Host` (their first element). Only behind a proxy that
   * sets them (default false: `tsgi.url_scheme` and Host). */
  trustProxy?: boolean;
  /** Replace `globalThis.Response` with tsgi's LightResponse, which builds
   * no stream for a string or byte body (default true, as
   * @hono/node-server does; `instanceof Response` still holds). */
  lightResponse?: boolean;
}

/**
 * Where a Response keeps its body before anyone reads it (undici's
 * `Symbol(state)`, `.body.source`): found once from a probe Response and
 * checked; when it is not there (another runtime, another undici), every
 * body is read through its stream.
 */
const kResponseState: symbol | null = (() => {
  try {
    const probe = new NativeResponse('probe');
    for (const sym of Object.getOwnPropertySymbols(probe)) {
      const state = (probe as unknown as Record<symbol, { body?: { source?: unknown } }>)[sym];
      if (state?.body?.source === 'probe') return sym;
    }
  } catch {
    // No such slot.
  }
  return null;
})();

/** The body of a Response when it is a string or bytes nobody has read;
 * undefined when it must be streamed; null when there is none. */
function bodyInHand(res: Response): Chunk | null | undefined {
  if (kResponseState !== null) {
    const body = (res as unknown as Record<symbol, { body: { source: unknown; stream: ReadableStream } | null }>)[kResponseState]?.body;
    if (body === null) return null;
    if (body !== undefined && !res.bodyUsed && !body.stream.locked) {
      const source = body.source;
      if (typeof source === 'string' || source instanceof Uint8Array) return source;
      if (source instanceof ArrayBuffer) return new Uint8Array(source);
    }
  }
  return res.body === null ? null : undefined;
}

// "200 OK" per code, for responses without a statusText.
const statusLines = new Map<number, string>();

function statusLine(status: number, text: string): string {
  if (text !== '') return `${status} ${text}`;
  let line = statusLines.get(status);
  if (line === undefined) {
    line = `${status} ${reasonPhrase(status)}`;
    if (statusLines.size < 1000) statusLines.set(status, line);
  }
  return line;
}

/** The Response's headers as TSGI pairs; each Set-Cookie stays one pair
 * (Headers.getSetCookie, RFC 6265 §3). */
function headerPairs(headers: Headers): Header[] {
  const pairs: Header[] = [];
  let cookies = false;
  for (const [name, value] of headers) {
    if (name === 'set-cookie') cookies = true;
    else pairs.push([name, value]);
  }
  if (cookies) for (const cookie of headers.getSetCookie()) pairs.push(['set-cookie', cookie]);
  return pairs;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return typeof value;
}

function checkResponse(res: unknown): asserts res is Response {
  if (!(res instanceof NativeResponse)) {
    throw new TypeError(`fromFetchHandler: the handler must return a Response, got ${describe(res)}`);
  }
}

const enum State {
  /** Waiting for the handler's Response. */
  Pending,
  /** A body in hand, to be yielded once. */
  InHand,
  /** Reading the Response's stream. */
  Streaming,
  /** Iteration is over. */
  Done,
}

/**
 * The TSGI body of a Response that is not there yet, or that streams: an
 * async iterator (and the body object) with `close()`. Keeps the request
 * referenced until the response ends, so that its signal still fires (the
 * runtime stops forwarding an abort to a Request once it is collected).
 */
class FetchBody implements AsyncIterator<Chunk> {
  private state: State;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private chunk: Chunk | null = null;
  private response: Response | null = null;
  private closed = false;

  constructor(
    private readonly request: LazyRequest,
    private readonly startResponse: StartResponse,
    private readonly pending: PromiseLike<Response> | null,
    response: Response | null,
  ) {
    this.state = State.Pending;
    if (response !== null) this.begin(response);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Calls startResponse and picks how the body is read. */
  private begin(res: Response): void {
    checkResponse(res);
    this.response = res;
    const light = lightParts(res);
    if (light !== null) {
      const noBody = bodiless(light.status, this.request.method);
      const chunk = noBody ? null : light.body;
      if (chunk !== null && !light.headers.some((h) => h[0].toLowerCase() === 'content-length')) {
        light.headers.push(['content-length', String(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength)]);
      }
      this.startResponse(statusLine(light.status, light.statusText), light.headers);
      this.chunk = chunk;
      this.state = State.InHand;
      return;
    }
    const headers = headerPairs(res.headers);
    const chunk = bodyInHand(res);
    const noBody = bodiless(res.status, this.request.method);
    if (chunk === undefined && !noBody) {
      this.startResponse(statusLine(res.status, res.statusText), headers);
      this.reader = res.body!.getReader();
      this.state = State.Streaming;
      return;
    }
    if (chunk !== null && chunk !== undefined && !noBody && !res.headers.has('content-length')) {
      headers.push(['content-length', String(typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength)]);
    }
    this.startResponse(statusLine(res.status, res.statusText), headers);
    if (chunk === undefined) void res.body?.cancel().catch(() => {});
    this.chunk = noBody || chunk === undefined ? null : chunk;
    this.state = State.InHand;
  }

  async next(): Promise<IteratorResult<Chunk>> {
    if (this.state === State.Pending) {
      const res = await this.pending!;
      if (this.closed) {
        void res?.body?.cancel().catch(() => {});
        return { done: true, value: undefined };
      }
      this.begin(res);
    }
    if (this.state === State.InHand) {
      const chunk = this.chunk;
      this.chunk = null;
      this.state = State.Done;
      if (chunk !== null) return { done: false, value: chunk };
    }
    if (this.state === State.Streaming) {
      const step = await this.reader!.read();
      if (!step.done) return { done: false, value: step.value };
      this.state = State.Done;
    }
    return { done: true, value: undefined };
  }

  async return(): Promise<IteratorResult<Chunk>> {
    this.close();
    return { done: true, value: undefined };
  }

  /** The server calls this once, when the response ends for any reason:
   * before the end of the body, the client went away (or the response
   * failed), so the request's signal fires and the stream is cancelled. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.state !== State.Done) this.request.abort(new DOMException('The client went away', 'AbortError'));
    this.state = State.Done;
    this.chunk = null;
    const reader = this.reader;
    this.reader = null;
    if (reader !== null) void reader.cancel().catch(() => {});
    this.response = null;
  }
}

/**
 * Serves any fetch-style handler (`(request) => Response`) as a TSGI
 * application, on either tsgi server. The Request is made lazily from the
 * environ: method, URL (scheme and host from `tsgi.url_scheme` and Host;
 * proxy headers with `trustProxy`) and headers are read on demand, and the
 * body streams from `tsgi.input` with backpressure (`100 Continue` is sent
 * only when the handler reads it). `request.signal` fires when the client
 * goes away before the response ends. The Response streams out with
 * backpressure; a string or byte body is sent as is, with a Content-Length;
 * each Set-Cookie stays a header of its own.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { fromFetchHandler, serve } from 'tsgi';
 *
 * const hono = new Hono().get('/', (c) => c.text('Hello, Hono!\n'));
 * await serve(fromFetchHandler(hono.fetch), { port: 8000 });
 * ```
 */
export function fromFetchHandler(handler: FetchHandler, options: FromFetchHandlerOptions = {}): Application {
  if (typeof handler !== 'function') {
    throw new TypeError(`fromFetchHandler: the handler must be a function, got ${describe(handler)}`);
  }
  const trustProxy = options.trustProxy ?? false;
  if (options.lightResponse ?? true) installLightResponse();
  return (environ, startResponse): ResponseBody => {
    const request = new LazyRequest(environ, trustProxy);
    const res = handler(request as unknown as Request, environ);
    if (res !== null && typeof (res as PromiseLike<Response>).then === 'function') {
      return new FetchBody(request, startResponse, res as PromiseLike<Response>, null) as unknown as ResponseBody;
    }
    // Answered at once: a body in hand goes out as a one-chunk array, which
    // the server sends with its head in one write.
    const light = lightParts(res);
    if (light !== null) {
      startResponse(statusLine(light.status, light.statusText), light.headers);
      const body = light.body;
      return body === null || bodiless(light.status, request.method) ? [] : [body];
    }
    checkResponse(res);
    const chunk = bodyInHand(res);
    if (chunk === undefined && !bodiless(res.status, request.method)) {
      return new FetchBody(request, startResponse, null, res) as unknown as ResponseBody;
    }
    const headers = headerPairs(res.headers);
    startResponse(statusLine(res.status, res.statusText), headers);
    if (chunk === undefined) void res.body?.cancel().catch(() => {});
    return chunk === null || chunk === undefined ? [] : [chunk];
  };
}
