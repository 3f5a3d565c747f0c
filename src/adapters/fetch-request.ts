// fetch-request.ts: the WHATWG Request a fetch handler sees, made lazily
// from a TSGI environ. method, url and headers are read straight from the
// environ; the body streams from tsgi.input; a real Request is built only
// when something else is asked of it (ARCHITECTURE.md, "Fetch adapters").
import type { Environ } from '../types.js';
import { decodePath, environKey } from '../gateway/environ.js';

const kEnviron = Symbol('tsgi.environ');
const kUrl = Symbol('tsgi.url');
const kHeaders = Symbol('tsgi.headers');
const kReal = Symbol('tsgi.request');
const kAbort = Symbol('tsgi.abort');
const kUsed = Symbol('tsgi.bodyUsed');
const kStream = Symbol('tsgi.body');
const kTrust = Symbol('tsgi.trustProxy');

const decoder = new TextDecoder();

/** The fetch method names that fetch upper-cases (Fetch §2.2.1). */
const kNormalised: Record<string, string> = {
  delete: 'DELETE',
  get: 'GET',
  head: 'HEAD',
  options: 'OPTIONS',
  post: 'POST',
  put: 'PUT',
};

function normaliseMethod(method: string): string {
  const c = method.charCodeAt(0);
  if (c >= 65 && c <= 90 && method === method.toUpperCase()) return method;
  return kNormalised[method.toLowerCase()] ?? method;
}

/** `HTTP_X_FOO` -> `x-foo`; the two CGI-style keys -> their header names. */
function headerName(key: string): string | null {
  if (key.charCodeAt(0) === 72 /* H */ && key.startsWith('HTTP_')) return key.slice(5).toLowerCase().replace(/_/g, '-');
  if (key === 'CONTENT_TYPE') return 'content-type';
  if (key === 'CONTENT_LENGTH') return 'content-length';
  return null;
}

/** The first element of a comma-separated header value, trimmed. */
function firstOf(value: unknown): string {
  if (typeof value !== 'string') return '';
  const comma = value.indexOf(',');
  return (comma < 0 ? value : value.slice(0, comma)).trim();
}

/** Percent-encodes a decoded path for a URL (and `?`, `#`, which would
 * end it). */
function encodePath(path: string): string {
  return encodeURI(path).replace(/[?#]/g, (c) => (c === '?' ? '%3F' : '%23'));
}

/**
 * The request URL, PEP 3333's reconstruction: scheme from
 * `tsgi.url_scheme`, host from Host (or SERVER_NAME:SERVER_PORT), then the
 * path as the client sent it when SCRIPT_NAME + PATH_INFO and QUERY_STRING
 * are still what REQUEST_URI says, else rebuilt from them. With
 * `trustProxy`, X-Forwarded-Proto and X-Forwarded-Host (their first
 * element) win: only behind a proxy that sets them.
 */
export function requestUrl(environ: Environ, trustProxy: boolean): string {
  let scheme: string = environ['tsgi.url_scheme'];
  let host = environ.HTTP_HOST;
  if (trustProxy) {
    const proto = firstOf(environ.HTTP_X_FORWARDED_PROTO).toLowerCase();
    if (proto === 'http' || proto === 'https') scheme = proto;
    const fwdHost = firstOf(environ.HTTP_X_FORWARDED_HOST);
    if (fwdHost !== '') host = fwdHost;
  }
  if (!host) {
    const port = environ.SERVER_PORT;
    const name = environ.SERVER_NAME.includes(':') ? `[${environ.SERVER_NAME}]` : environ.SERVER_NAME;
    host = (scheme === 'https' && port === '443') || (scheme === 'http' && port === '80') ? name : `${name}:${port}`;
  }
  let uri = environ.REQUEST_URI;
  if (uri.charCodeAt(0) !== 47 /* / */) {
    // Absolute form (RFC 9112 §3.2.2): keep the path and query only.
    const at = uri.indexOf('://');
    const slash = at < 0 ? -1 : uri.indexOf('/', at + 3);
    uri = slash < 0 ? '' : uri.slice(slash);
  }
  const script = environ.SCRIPT_NAME;
  const info = environ.PATH_INFO;
  const query = environ.QUERY_STRING;
  const q = uri.indexOf('?');
  const pathLen = q < 0 ? uri.length : q;
  const sameQuery = q < 0 ? query === '' : uri.length - q - 1 === query.length && uri.endsWith(query);
  let samePath = false;
  if (sameQuery && uri !== '') {
    if (pathLen === script.length + info.length) {
      samePath = uri.startsWith(script) && uri.startsWith(info, script.length);
    } else {
      samePath = decodePath(uri.slice(0, pathLen)) === script + info;
    }
  }
  if (samePath) return `${scheme}://${host}${uri}`;
  const path = encodePath(script + info) || '/';
  return `${scheme}://${host}${path.charCodeAt(0) === 47 ? path : '/' + path}${query === '' ? '' : '?' + query}`;
}

/**
 * The request headers, read from the environ's `HTTP_*` keys on demand (a
 * `Headers` by prototype). A change (`set`, `append`, `delete`) copies them
 * into a real `Headers` first, so the environ is never written.
 */
export class EnvironHeaders {
  private readonly environ: Environ;
  private real: Headers | null = null;

  constructor(environ: Environ) {
    this.environ = environ;
  }

  private own(): Headers {
    if (this.real === null) {
      const real = new Headers();
      for (const [name, value] of this.entries()) real.append(name, value);
      this.real = real;
    }
    return this.real;
  }

  get(name: string): string | null {
    if (this.real !== null) return this.real.get(name);
    const key = environKey(name);
    const value = key === null ? undefined : this.environ[key];
    return typeof value === 'string' ? value : null;
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }

  getSetCookie(): string[] {
    // A request carries no Set-Cookie that a server would have joined.
    if (this.real !== null) return this.real.getSetCookie();
    const value = this.get('set-cookie');
    return value === null ? [] : [value];
  }

  set(name: string, value: string): void {
    this.own().set(name, value);
  }

  append(name: string, value: string): void {
    this.own().append(name, value);
  }

  delete(name: string): void {
    this.own().delete(name);
  }

  *entries(): IterableIterator<[string, string]> {
    if (this.real !== null) {
      yield* this.real.entries();
      return;
    }
    const pairs: [string, string][] = [];
    const environ = this.environ;
    for (const key in environ) {
      const name = headerName(key);
      const value = environ[key];
      if (name !== null && typeof value === 'string') pairs.push([name, value]);
    }
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    yield* pairs;
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  forEach(callback: (value: string, name: string, headers: Headers) => void, thisArg?: unknown): void {
    for (const [name, value] of this.entries()) callback.call(thisArg, value, name, this as unknown as Headers);
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}
Object.setPrototypeOf(EnvironHeaders.prototype, Headers.prototype);

/** Options of the lazy request. */
export interface LazyRequestOptions {
  trustProxy: boolean;
}

/**
 * A `Request` (by prototype: `instanceof Request` holds) made from an
 * environ. `method`, `url`, `headers`, `signal` and the body readers
 * (`text()`, `json()`, `arrayBuffer()`, `bytes()`, `blob()`, `body`) never
 * build a real Request; anything else (`clone()`, `formData()`, `cache`,
 * undici's own internals when the request is passed to `new Request()` or
 * `fetch()`) builds one once, with the body still unread, and forwards to
 * it.
 */
export class LazyRequest {
  [kEnviron]: Environ;
  [kTrust]: boolean;
  [kUrl]: string | undefined = undefined;
  [kHeaders]: EnvironHeaders | undefined = undefined;
  [kReal]: Request | undefined = undefined;
  [kAbort]: AbortController | undefined = undefined;
  [kUsed] = false;
  [kStream]: ReadableStream<Uint8Array> | null | undefined = undefined;

  constructor(environ: Environ, trustProxy: boolean) {
    this[kEnviron] = environ;
    this[kTrust] = trustProxy;
  }

  get method(): string {
    return normaliseMethod(this[kEnviron].REQUEST_METHOD);
  }

  get url(): string {
    return (this[kUrl] ??= requestUrl(this[kEnviron], this[kTrust]));
  }

  get headers(): Headers {
    return (this[kHeaders] ??= new EnvironHeaders(this[kEnviron])) as unknown as Headers;
  }

  get signal(): AbortSignal {
    return (this[kAbort] ??= new AbortController()).signal;
  }

  /** Fires `signal` (once): the client went away. */
  abort(reason: unknown): void {
    const controller = (this[kAbort] ??= new AbortController());
    if (!controller.signal.aborted) controller.abort(reason);
  }

  /** True when the request can carry a body at all. */
  private hasBody(): boolean {
    const env = this[kEnviron];
    const method = this.method;
    if (method === 'GET' || method === 'HEAD') return false;
    return (env.CONTENT_LENGTH !== undefined && env.CONTENT_LENGTH !== '0') || env.HTTP_TRANSFER_ENCODING !== undefined;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this[kReal] !== undefined) return this[kReal]!.body;
    if (this[kStream] !== undefined) return this[kStream]!;
    if (!this.hasBody()) return (this[kStream] = null);
    const input = this[kEnviron]['tsgi.input'];
    let it: AsyncIterator<Uint8Array> | null = null;
    // highWaterMark 0: nothing is read (and no 100 Continue sent) before
    // the handler reads, and one chunk at a time after (backpressure).
    const stream = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          it ??= input[Symbol.asyncIterator]();
          this[kUsed] = true;
          const step = await it.next();
          if (step.done) controller.close();
          else controller.enqueue(step.value);
        },
        cancel: async () => {
          await it?.return?.();
        },
      },
      { highWaterMark: 0 },
    );
    return (this[kStream] = stream);
  }

  get bodyUsed(): boolean {
    if (this[kReal] !== undefined) return this[kReal]!.bodyUsed;
    return this[kUsed] || (this[kStream]?.locked ?? false);
  }

  /** The whole body, read once. */
  private async bytesOnce(): Promise<Uint8Array> {
    if (this[kReal] !== undefined) return new Uint8Array(await this[kReal]!.arrayBuffer());
    if (this.bodyUsed) throw new TypeError('Body is unusable: it has already been read');
    this[kUsed] = true;
    if (this[kStream] !== undefined) {
      if (this[kStream] === null) return new Uint8Array(0);
      return new Uint8Array(await new Response(this[kStream]).arrayBuffer());
    }
    if (!this.hasBody()) return new Uint8Array(0);
    return this[kEnviron]['tsgi.input'].read();
  }

  async text(): Promise<string> {
    return decoder.decode(await this.bytesOnce());
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.bytesOnce();
    return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? (bytes.buffer as ArrayBuffer)
      : (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  }

  async bytes(): Promise<Uint8Array> {
    return this.bytesOnce();
  }

  async blob(): Promise<Blob> {
    const bytes = await this.bytesOnce();
    return new Blob([bytes], { type: this.headers.get('content-type') ?? '' });
  }

  /** The real Request, built once; the body (if unread) moves into it. */
  materialise(): Request {
    const existing = this[kReal];
    if (existing !== undefined) return existing;
    const body = this.bodyUsed ? null : this.body;
    const init: RequestInit & { duplex?: 'half' } = {
      method: this.method,
      headers: this.headers,
      signal: this.signal,
    };
    if (body !== null) {
      init.body = body;
      init.duplex = 'half';
    }
    const real = new Request(this.url, init);
    this[kReal] = real;
    return real;
  }

  formData(): Promise<FormData> {
    return this.materialise().formData();
  }

  clone(): Request {
    return this.materialise().clone();
  }
}

// The rest of Request's interface forwards to the real one.
for (const name of ['cache', 'credentials', 'destination', 'duplex', 'integrity', 'keepalive', 'mode', 'redirect', 'referrer', 'referrerPolicy']) {
  Object.defineProperty(LazyRequest.prototype, name, {
    get(this: LazyRequest) {
      return (this.materialise() as unknown as Record<string, unknown>)[name];
    },
    configurable: true,
  });
}
// The runtime's own internal slots (undici's Symbol(state), ...) forward
// too, so that `new Request(lazy)` and `fetch(lazy)` see a real request.
try {
  const probe = new Request('http://localhost/');
  for (const sym of Object.getOwnPropertySymbols(probe)) {
    Object.defineProperty(LazyRequest.prototype, sym, {
      get(this: LazyRequest) {
        return (this.materialise() as unknown as Record<symbol, unknown>)[sym];
      },
      configurable: true,
    });
  }
} catch {
  // A runtime without such slots needs nothing here.
}
Object.setPrototypeOf(LazyRequest.prototype, Request.prototype);
