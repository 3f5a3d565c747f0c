// fetch-response.ts: a Response that costs nothing until it is read. On
// Node 20 every `new Response(text)` builds a ReadableStream (and makes it
// transferable), a third of a Hono hello-world's CPU time; fromFetchHandler
// only needs the status, the headers and the text. A LightResponse keeps
// those as given and builds the real Response only when something else is
// asked of it (ARCHITECTURE.md, "Fetch adapters").
import type { Header } from '../types.js';

/** The runtime's own Response, before any replacement. */
export const NativeResponse: typeof Response = globalThis.Response;

const kCache = Symbol('tsgi.responseCache');
const kReal = Symbol('tsgi.realResponse');
const kHeaders = Symbol('tsgi.responseHeaders');

type Source = string | Uint8Array | null;
type HeadersInit_ = Headers | Record<string, string> | [string, string][] | undefined;

interface Cache {
  status: number;
  statusText: string;
  body: Source;
  headers: HeadersInit_;
  used: boolean;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const kTextPlain = 'text/plain;charset=UTF-8';

function plainInit(init: ResponseInit | undefined): boolean {
  if (init === undefined || init === null) return true;
  if (typeof init !== 'object') return false;
  const { status, statusText } = init;
  if (status !== undefined && (!Number.isInteger(status) || status < 200 || status > 599)) return false;
  return statusText === undefined || (typeof statusText === 'string' && /^[\t\x20-\x7e\x80-\xff]*$/.test(statusText));
}

/**
 * `Response`, by prototype (`instanceof Response` holds), for bodies that
 * are a string, bytes or nothing; any other body, or an init the real
 * constructor would refuse, makes a real Response at once (so errors are
 * thrown where they would be). Reading `status`, `headers` or the body as
 * text/JSON/bytes needs no stream; `body`, `clone()` and the rest build the
 * real one once and forward to it.
 */
export class LightResponse {
  [kCache]: Cache | null = null;
  [kReal]: Response | null = null;
  [kHeaders]: Headers | null = null;

  constructor(body?: ConstructorParameters<typeof Response>[0], init?: ResponseInit) {
    let source: Source | undefined;
    if (body === undefined || body === null) source = null;
    else if (typeof body === 'string' || body instanceof Uint8Array) source = body;
    else if (body instanceof ArrayBuffer) source = new Uint8Array(body);
    if (source === undefined || !plainInit(init)) {
      this[kReal] = new NativeResponse(body, init);
      return;
    }
    this[kCache] = {
      status: init?.status ?? 200,
      statusText: init?.statusText ?? '',
      body: source,
      headers: init?.headers as HeadersInit_,
      used: false,
    };
  }

  /** The real Response, built once from what was given. */
  materialise(): Response {
    const real = this[kReal];
    if (real !== null) return real;
    const cache = this[kCache]!;
    const made = new NativeResponse(cache.used ? null : cache.body, {
      status: cache.status,
      statusText: cache.statusText,
      headers: this.headers,
    });
    this[kReal] = made;
    this[kCache] = null;
    return made;
  }

  get status(): number {
    return this[kCache]?.status ?? this[kReal]!.status;
  }

  get statusText(): string {
    return this[kCache]?.statusText ?? this[kReal]!.statusText;
  }

  get ok(): boolean {
    const s = this.status;
    return s >= 200 && s <= 299;
  }

  get headers(): Headers {
    if (this[kReal] !== null) return this[kReal]!.headers;
    if (this[kHeaders] === null) {
      const cache = this[kCache]!;
      const h = new Headers(cache.headers);
      if (typeof cache.body === 'string' && !h.has('content-type')) h.set('content-type', kTextPlain);
      this[kHeaders] = h;
    }
    return this[kHeaders]!;
  }

  get type(): Response['type'] {
    return this[kReal]?.type ?? 'default';
  }

  get url(): string {
    return this[kReal]?.url ?? '';
  }

  get redirected(): boolean {
    return this[kReal]?.redirected ?? false;
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.materialise().body;
  }

  get bodyUsed(): boolean {
    return this[kCache]?.used ?? this[kReal]!.bodyUsed;
  }

  /** The body, read once without a stream. */
  private take(): Source {
    const cache = this[kCache]!;
    if (cache.used) throw new TypeError('Body is unusable: it has already been read');
    cache.used = true;
    return cache.body;
  }

  async text(): Promise<string> {
    if (this[kCache] === null) return this[kReal]!.text();
    const body = this.take();
    return body === null ? '' : typeof body === 'string' ? body : decoder.decode(body);
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async bytes(): Promise<Uint8Array> {
    if (this[kCache] === null) return new Uint8Array(await this[kReal]!.arrayBuffer());
    const body = this.take();
    return body === null ? new Uint8Array(0) : typeof body === 'string' ? encoder.encode(body) : body.slice();
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    return (await this.bytes()).buffer as ArrayBuffer;
  }

  blob(): Promise<Blob> {
    return this.materialise().blob();
  }

  formData(): Promise<FormData> {
    return this.materialise().formData();
  }

  clone(): Response {
    return this.materialise().clone();
  }
}

// The runtime's own internal slots (undici's Symbol(state), ...) forward to
// the real Response, so that code reaching for them sees one.
try {
  for (const sym of Object.getOwnPropertySymbols(new NativeResponse(null))) {
    Object.defineProperty(LightResponse.prototype, sym, {
      get(this: LightResponse) {
        return (this.materialise() as unknown as Record<symbol, unknown>)[sym];
      },
      configurable: true,
    });
  }
} catch {
  // A runtime without such slots needs nothing here.
}
Object.setPrototypeOf(LightResponse.prototype, NativeResponse.prototype);
// Response.json(), Response.redirect(), Response.error(): the real ones.
Object.setPrototypeOf(LightResponse, NativeResponse);

/** A LightResponse that is still light: its status, its headers as TSGI
 * pairs (a string body without Content-Type gets fetch's default one) and
 * its body; null when it must be read as a Response. */
export function lightParts(res: unknown): { status: number; statusText: string; headers: Header[]; body: Source } | null {
  if (!(res instanceof LightResponse)) return null;
  const cache = res[kCache];
  if (cache === null || cache.used) return null;
  const headers: Header[] = [];
  let typed = false;
  const own = res[kHeaders];
  const init = cache.headers;
  if (own !== null || init instanceof Headers) {
    const h = own ?? (init as Headers);
    for (const [name, value] of h) if (name !== 'set-cookie') headers.push([name, value]);
    for (const cookie of h.getSetCookie()) headers.push(['set-cookie', cookie]);
    typed = h.has('content-type');
  } else if (Array.isArray(init)) {
    for (const pair of init) {
      headers.push([pair[0], pair[1]]);
      if (pair[0].toLowerCase() === 'content-type') typed = true;
    }
  } else if (init !== undefined && init !== null) {
    for (const name in init) {
      const value = (init as Record<string, unknown>)[name];
      if (typeof value !== 'string') return null;
      headers.push([name, value]);
      if (!typed && name.length === 12 && name.toLowerCase() === 'content-type') typed = true;
    }
  }
  if (!typed && typeof cache.body === 'string') headers.push(['content-type', kTextPlain]);
  return { status: cache.status, statusText: cache.statusText, headers, body: cache.body };
}

let installed = false;

/**
 * Makes `globalThis.Response` the LightResponse (once per thread), as
 * @hono/node-server does by default, so that the Responses a handler
 * creates are light. `instanceof Response` still holds for both kinds.
 */
export function installLightResponse(): void {
  if (installed || globalThis.Response !== NativeResponse) return;
  installed = true;
  Object.defineProperty(globalThis, 'Response', { value: LightResponse, writable: true, configurable: true });
}
