// http.ts: a raw HTTP/1.1 client for the conformance suite. It sends exact
// bytes over node:net and parses the response bytes with the repository's
// one response parser (scripts/lib/http-response.mjs), so tests can
// assert on framing (Content-Length, chunked, close-delimited), header
// presence and order, interim 1xx responses and connection state.
import net from 'node:net';
// @ts-expect-error: a plain .mjs script without types (typed below)
import { ResponseParser as SharedParser } from '../../scripts/lib/http-response.mjs';

export type Framing = 'length' | 'chunked' | 'close' | 'none';

export interface HttpResponse {
  /** `HTTP/1.1` */
  version: string;
  status: number;
  reason: string;
  statusLine: string;
  /** Header lines in wire order, names as sent. */
  headers: [string, string][];
  /** The head as received (latin1), up to and including the blank line. */
  rawHead: string;
  body: Buffer;
  framing: Framing;
  /** Sizes of the chunks of a chunked body, in order (without the 0 chunk). */
  chunkSizes: number[];
  trailers: [string, string][];
  /** True when the body was completely framed (terminator seen, all
   * Content-Length bytes received, or close-delimited and the peer closed). */
  complete: boolean;
  /** The method of the request this response answers (for finals). */
  method: string;
}

/** First value of a header (case-insensitive), or undefined. */
export function header(res: HttpResponse, name: string): string | undefined {
  const n = name.toLowerCase();
  const h = res.headers.find(([k]) => k.toLowerCase() === n);
  return h?.[1];
}

/** Every value of a header (case-insensitive), in order. */
export function headerAll(res: HttpResponse, name: string): string[] {
  const n = name.toLowerCase();
  return res.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

/** Does the Connection header carry the token? */
export function connectionHas(res: HttpResponse, token: string): boolean {
  return headerAll(res, 'connection').some((v) =>
    v.split(',').some((t) => t.trim().toLowerCase() === token.toLowerCase()),
  );
}

/**
 * The incremental HTTP/1.x response parser (shared with scripts/ and
 * bench/): `new ResponseParser(methods)` lists the methods of the requests
 * sent, in order (a HEAD request's response has no body); `feed(data)`,
 * `end()` when the peer closed; `responses` (finals) and `all` (interim 1xx
 * included) hold HttpResponse objects, `error` a parse error,
 * `pendingBodyBytes` the bytes of the unfinished body.
 */
export const ResponseParser = SharedParser as unknown as new (methods?: string[]) => ResponseParser;
export interface ResponseParser {
  readonly methods: string[];
  readonly responses: HttpResponse[];
  readonly all: HttpResponse[];
  error: string | undefined;
  readonly pendingBodyBytes: number;
  feed(data: Buffer): void;
  end(): void;
}

export interface ClientOptions {
  /** Keep every received byte for raw inspection (default true). */
  keepRaw?: boolean;
}

const openClients = new Set<RawClient>();

/** Destroys every RawClient still open (after each test, so that a failed
 * test does not keep a server's close() waiting). */
export function destroyAllClients(): void {
  for (const c of openClients) c.destroy();
  openClients.clear();
}

/** A raw TCP client: exact bytes out, parsed responses in. */
export class RawClient {
  readonly parser: ResponseParser;
  readonly methods: string[] = [];
  closed = false;
  /** Set when the socket emitted 'error' (e.g. ECONNRESET). */
  socketError: Error | undefined;
  received = 0;
  private rawParts: Buffer[] = [];
  private waiters = new Set<() => void>();
  private readonly closedPromise: Promise<void>;

  private constructor(
    readonly socket: net.Socket,
    private readonly opts: ClientOptions,
  ) {
    this.parser = new ResponseParser(this.methods);
    socket.on('data', (d: Buffer) => {
      this.received += d.length;
      if (this.opts.keepRaw !== false) this.rawParts.push(d);
      this.parser.feed(d);
      this.notify();
    });
    openClients.add(this);
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        openClients.delete(this);
        this.closed = true;
        this.parser.end();
        this.notify();
        resolve();
      });
    });
    socket.on('error', (err) => {
      this.socketError = err;
    });
  }

  static connect(port: number, opts: ClientOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      const onError = (err: Error) => reject(err);
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new RawClient(socket, opts));
      });
    });
  }

  get localPort(): number {
    return this.socket.localPort!;
  }

  /** Sends bytes; `methods` lists the requests they contain (for HEAD
   * framing). Resolves when the bytes were handed to the kernel. */
  send(data: string | Buffer, ...methods: string[]): Promise<void> {
    this.methods.push(...methods);
    return new Promise((resolve, reject) => {
      this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }

  /** Every byte received so far, as latin1 text. */
  text(): string {
    return this.raw().toString('latin1');
  }

  raw(): Buffer {
    if (this.rawParts.length > 1) this.rawParts = [Buffer.concat(this.rawParts)];
    return this.rawParts[0] ?? Buffer.alloc(0);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Waits until `pred()` holds (checked on every event), or times out. */
  waitFor(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred()) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; received ${this.received} bytes, ` +
              `${this.parser.responses.length} responses, closed=${this.closed}` +
              (this.parser.error ? `, parse error: ${this.parser.error}` : '') +
              `; start: ${JSON.stringify(this.text().slice(0, 300))}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for `n` final responses to be completely parsed (or the socket
   * to close, in which case it returns what it has). */
  async responses(n: number, timeoutMs = 10_000): Promise<HttpResponse[]> {
    await this.waitFor(
      () =>
        this.closed ||
        this.parser.error !== undefined ||
        (this.parser.responses.length >= n && this.parser.responses[n - 1]!.complete),
      timeoutMs,
      `${n} response(s)`,
    );
    if (this.parser.error) throw new Error(`response parse error: ${this.parser.error}`);
    return this.parser.responses.slice();
  }

  /** Final responses handed out by next() so far. */
  consumed = 0;

  /** Waits for the next complete final response not yet returned by
   * next() (responses arrive in request order). */
  async next(timeoutMs = 10_000): Promise<HttpResponse> {
    const n = this.consumed + 1;
    const all = await this.responses(n, timeoutMs);
    const r = all[n - 1];
    if (!r || !r.complete) {
      throw new Error(
        `connection closed before response ${n} was complete; received: ${JSON.stringify(this.text().slice(0, 300))}`,
      );
    }
    this.consumed = n;
    return r;
  }

  /** Resolves true if the socket closed within the time, false otherwise. */
  async waitClose(timeoutMs = 5_000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const r = await Promise.race([this.closedPromise.then(() => true), timeout]);
    clearTimeout(timer);
    return r;
  }

  /** Half-close: sends FIN. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export type HeaderList = [string, string][];

/** Builds request bytes. Adds `Host: 127.0.0.1` unless a Host header is in
 * `headers` or `host` is false; adds Content-Length for a body unless a
 * Content-Length or Transfer-Encoding header is given. */
export function buildRequest(
  method: string,
  target: string,
  opts: {
    headers?: HeaderList;
    body?: string | Buffer;
    version?: string;
    host?: boolean;
  } = {},
): Buffer {
  const headers = opts.headers ?? [];
  const version = opts.version ?? 'HTTP/1.1';
  const has = (n: string) => headers.some(([k]) => k.toLowerCase() === n);
  let head = `${method} ${target} ${version}\r\n`;
  if (opts.host !== false && !has('host')) head += 'Host: 127.0.0.1\r\n';
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  const body =
    opts.body === undefined
      ? undefined
      : typeof opts.body === 'string'
        ? Buffer.from(opts.body, 'utf8')
        : opts.body;
  if (body !== undefined && !has('content-length') && !has('transfer-encoding')) {
    head += `Content-Length: ${body.length}\r\n`;
  }
  head += '\r\n';
  const h = Buffer.from(head, 'latin1');
  return body ? Buffer.concat([h, body]) : h;
}

/** Encodes a body as chunked transfer coding with the given chunk sizes
 * (the last size repeats). */
export function chunked(body: Buffer | string, chunkSize = 1000, trailers = ''): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += chunkSize) {
    const part = b.subarray(i, i + chunkSize);
    out.push(Buffer.from(part.length.toString(16) + '\r\n', 'latin1'), part, Buffer.from('\r\n'));
  }
  out.push(Buffer.from('0\r\n' + trailers + '\r\n', 'latin1'));
  return Buffer.concat(out);
}

/** One request on a fresh connection; returns the response and the client
 * (closed afterwards unless `keep` is set). */
export async function request(
  port: number,
  data: string | Buffer,
  opts: { methods?: string[]; count?: number; timeoutMs?: number; keep?: boolean } = {},
): Promise<{ responses: HttpResponse[]; client: RawClient }> {
  const client = await RawClient.connect(port);
  const methods = opts.methods ?? [
    (typeof data === 'string' ? data : data.subarray(0, 16).toString('latin1')).split(' ')[0]!,
  ];
  await client.send(data, ...methods);
  const count = opts.count ?? 1;
  const responses = await client.responses(count, opts.timeoutMs ?? 10_000);
  if (!opts.keep) client.destroy();
  if (responses.length < count) {
    throw new Error(
      `connection closed after ${responses.length} of ${count} response(s); received: ` +
        JSON.stringify(client.text().slice(0, 300)),
    );
  }
  return { responses, client };
}

/** GET `path` on a fresh connection and return the single response. */
export async function get(
  port: number,
  path: string,
  headers: HeaderList = [],
): Promise<HttpResponse> {
  const { responses } = await request(port, buildRequest('GET', path, { headers }));
  const r = responses[0];
  if (!r) throw new Error(`no response to GET ${path}`);
  return r;
}

const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Problems with the Date header of a response ([] when it is fine): exactly
 * one, IMF-fixdate, within two minutes of now. */
export function dateProblems(res: HttpResponse): string[] {
  const all = headerAll(res, 'date');
  if (all.length !== 1) return [`expected one Date header, got ${JSON.stringify(all)}`];
  const d = all[0]!;
  if (!IMF_FIXDATE.test(d)) return [`Date is not an IMF-fixdate: ${JSON.stringify(d)}`];
  const t = Date.parse(d);
  if (!Number.isFinite(t) || Math.abs(t - Date.now()) > 120_000) {
    return [`Date is not now: ${JSON.stringify(d)}`];
  }
  return [];
}

/** Pauses: for pacing a client or an application, never as proof that
 * something did not happen (use an event, or `barrier`). */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A round trip through the server on another connection: a GET of `path`
 * answered in full, then one more turn of the event loop. Whatever the
 * server was going to write for an earlier event (an interim response, a
 * head sent too early) is on the wire before this resolves, since the
 * server handles its events in order on one loop (and, in these tests, the
 * same loop as the client). The way to show that something was *not* sent.
 */
export async function barrier(port: number, path = '/barrier'): Promise<void> {
  const res = await get(port, path);
  if (!res.complete) throw new Error(`barrier: the response to GET ${path} was not complete`);
  await new Promise<void>((r) => setImmediate(r));
}

/** True when a connection to `port` is refused (nothing listens). */
export function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

/** Polls `pred` every 10 ms until it holds; false on timeout. */
export async function until(pred: () => boolean, timeoutMs = 5_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (pred()) return true;
    await sleep(10);
  }
  return pred();
}

/** A promise with its resolve function (for app/test handshakes). */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Races a promise against a timeout, rejecting with `what` on timeout. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}
