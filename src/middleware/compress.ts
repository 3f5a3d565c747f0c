// compress.ts: compress(options), response compression with node:zlib
// (gzip, deflate, brotli) negotiated on Accept-Encoding (RFC 9110 §12.5.3).
import {
  brotliCompressSync,
  constants,
  createBrotliCompress,
  createDeflate,
  createGzip,
  deflateSync,
  gzipSync,
  type BrotliCompress,
  type Deflate,
  type Gzip,
} from 'node:zlib';
import type { Chunk, Header, Middleware, ResponseBody, StartResponse, WriteFunction } from '../types.js';

/** The codings compress() can apply. */
export type Coding = 'br' | 'gzip' | 'deflate';

/** Options of {@link compress}. */
export interface CompressOptions {
  /** Bodies smaller than this many bytes are sent as they are (default
   * 1024): compressing them costs more than it saves. */
  threshold?: number;
  /** The codings offered, in the server's order of preference when the
   * client's q-values tie (default `['br', 'gzip', 'deflate']`). */
  encodings?: Coding[];
  /** zlib level for gzip and deflate, 0-9 (default 6). */
  level?: number;
  /** Brotli quality, 0-11 (default 4: close to gzip's speed, smaller). */
  brotliQuality?: number;
  /** Which Content-Types are compressed (default: text, JSON, JavaScript,
   * XML, SVG, WebAssembly and the `+json`/`+xml` types). */
  filter?: (contentType: string) => boolean;
}

const kCompressible = /^(?:text\/|application\/(?:json|javascript|ecmascript|xml|wasm|x-javascript|x-www-form-urlencoded|manifest\+json|ld\+json)|image\/svg\+xml|[^/]+\/[^;]*\+(?:json|xml)\b)/i;

function defaultFilter(contentType: string): boolean {
  return kCompressible.test(contentType);
}

/**
 * The coding to apply for an Accept-Encoding value, or null: the highest
 * q-value above 0 among `offered` (`*` stands for any coding not named),
 * ties going to the first offered. No header means no compression.
 *
 * @example
 * ```ts
 * import { negotiate } from 'tsgi/middleware';
 * negotiate('gzip;q=0.5, br', ['br', 'gzip']); // 'br'
 * negotiate('identity', ['br', 'gzip']);       // null
 * ```
 */
export function negotiate(accept: string | undefined, offered: readonly Coding[]): Coding | null {
  if (accept === undefined || accept === '') return null;
  const q = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [name, ...params] = part.split(';');
    const coding = name!.trim().toLowerCase();
    if (coding === '') continue;
    let weight = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) weight = Math.min(1, Math.max(0, Number(m[1]) || 0));
    }
    q.set(coding === 'x-gzip' ? 'gzip' : coding, weight);
  }
  let best: Coding | null = null;
  let bestQ = 0;
  for (const coding of offered) {
    const weight = q.get(coding) ?? q.get('*') ?? 0;
    if (weight > bestQ) {
      best = coding;
      bestQ = weight;
    }
  }
  return best;
}

function byteLength(chunk: Chunk): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
}

function toBuffer(chunk: Chunk): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function statusCode(status: string): number {
  return Number(status.slice(0, 3));
}

/** What the response's headers say about compressing it. */
interface Verdict {
  /** The type is compressible: the response varies on Accept-Encoding. */
  varies: boolean;
  /** It may be compressed (status, coding, Cache-Control, Range). */
  eligible: boolean;
  /** The declared Content-Length, or -1. */
  length: number;
}

function judge(status: string, headers: Header[], filter: (type: string) => boolean): Verdict {
  const code = statusCode(status);
  let type = '';
  let encoded = false;
  let noTransform = false;
  let ranged = false;
  let length = -1;
  for (const [name, value] of headers) {
    switch (name.toLowerCase()) {
      case 'content-type':
        type = value;
        break;
      case 'content-encoding':
        if (value.trim().toLowerCase() !== 'identity') encoded = true;
        break;
      case 'cache-control':
        if (/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(value)) noTransform = true;
        break;
      case 'content-range':
        ranged = true;
        break;
      case 'content-length':
        length = /^\s*\d+\s*$/.test(value) ? Number(value) : -1;
        break;
    }
  }
  const varies = type !== '' && filter(type) && !encoded && !noTransform;
  const eligible = varies && code >= 200 && code !== 204 && code !== 206 && code !== 304 && !ranged;
  return { varies, eligible, length };
}

/** Adds `Vary: Accept-Encoding` unless a Vary already covers it. */
function withVary(headers: Header[]): Header[] {
  for (const [name, value] of headers) {
    if (name.toLowerCase() === 'vary' && /(?:^|,)\s*(?:accept-encoding|\*)\s*(?:,|$)/i.test(value)) return headers;
  }
  return [...headers, ['Vary', 'Accept-Encoding']];
}

/** The headers of the compressed response: no Content-Length (or the new
 * one), the coding, Vary, and a weak ETag (the bytes changed, RFC 9110
 * §8.8.1). */
function compressedHeaders(headers: Header[], coding: Coding, length: number): Header[] {
  const out: Header[] = [];
  for (const h of headers) {
    const name = h[0].toLowerCase();
    if (name === 'content-length' || name === 'accept-ranges') continue;
    if (name === 'etag' && !h[1].startsWith('W/')) out.push([h[0], 'W/' + h[1]]);
    else out.push(h);
  }
  out.push(['Content-Encoding', coding]);
  if (length >= 0) out.push(['Content-Length', String(length)]);
  return withVary(out);
}

type Stream = Gzip | Deflate | BrotliCompress;

/** A zlib stream fed one chunk at a time: each chunk is flushed so that a
 * streamed response (server-sent events, progress) reaches the client as
 * it is produced; the caller awaits each step, which is the backpressure. */
class Compressor {
  private readonly z: Stream;
  private out: Buffer[] = [];
  private error: Error | null = null;
  private readonly brotli: boolean;

  constructor(
    coding: Coding,
    level: number,
    quality: number,
  ) {
    this.brotli = coding === 'br';
    this.z =
      coding === 'br'
        ? createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: quality } })
        : coding === 'gzip'
          ? createGzip({ level })
          : createDeflate({ level });
    this.z.on('data', (b: Buffer) => this.out.push(b));
    this.z.on('error', (err: Error) => (this.error = err));
  }

  private take(): Buffer | null {
    if (this.error) throw this.error;
    const out = this.out;
    this.out = [];
    return out.length === 0 ? null : out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** Compresses and flushes one chunk; resolves with the output so far. */
  push(chunk: Buffer): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      this.z.write(chunk);
      const done = () => {
        try {
          resolve(this.take());
        } catch (err) {
          reject(err);
        }
      };
      // Brotli flushes with BROTLI_OPERATION_FLUSH by default; zlib's
      // default is a full flush, a sync flush is enough.
      if (this.brotli) (this.z as BrotliCompress).flush(done);
      else (this.z as Gzip).flush(constants.Z_SYNC_FLUSH, done);
    });
  }

  /** Ends the stream; resolves with the last output. */
  finish(): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      this.z.once('end', () => {
        try {
          resolve(this.take());
        } catch (err) {
          reject(err);
        }
      });
      this.z.once('error', reject);
      this.z.end();
      this.z.resume();
    });
  }

  destroy(): void {
    this.z.destroy();
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Compresses response bodies with gzip, deflate or brotli, whichever the
 * client's `Accept-Encoding` gives the highest q-value (ties: the server's
 * order). Streams: each chunk is compressed and flushed as it comes, and
 * the next is not asked for before the server has taken the last
 * (backpressure). Responses of a compressible type get
 * `Vary: Accept-Encoding` whether compressed or not. Left alone: bodies
 * below `threshold` bytes, responses that already have a Content-Encoding,
 * `Cache-Control: no-transform`, `HEAD`, 204, 206 and 304, and types the
 * filter rejects. A compressed response loses its Content-Length (or gets
 * the new one when the whole body was in hand) and its ETag turns weak.
 *
 * @example
 * ```ts
 * import { compress } from 'tsgi/middleware';
 * const app = compress({ threshold: 512 })(site);
 * ```
 */
export function compress(options: CompressOptions = {}): Middleware {
  const threshold = options.threshold ?? 1024;
  if (!Number.isSafeInteger(threshold) || threshold < 0) {
    throw new RangeError(`compress: threshold must be a non-negative integer, got ${threshold}`);
  }
  const offered = options.encodings ?? (['br', 'gzip', 'deflate'] as Coding[]);
  for (const c of offered) {
    if (c !== 'br' && c !== 'gzip' && c !== 'deflate') throw new TypeError(`compress: unknown coding ${JSON.stringify(c)} (br, gzip or deflate)`);
  }
  const level = options.level ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`compress: level must be 0-9, got ${level}`);
  const quality = options.brotliQuality ?? 4;
  if (!Number.isInteger(quality) || quality < 0 || quality > 11) {
    throw new RangeError(`compress: brotliQuality must be 0-11, got ${quality}`);
  }
  const filter = options.filter ?? defaultFilter;

  const compressSync = (coding: Coding, data: Buffer): Buffer =>
    coding === 'br'
      ? brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: quality } })
      : coding === 'gzip'
        ? gzipSync(data, { level })
        : deflateSync(data, { level });

  return (app) => (environ, startResponse) => {
    const coding = environ.REQUEST_METHOD === 'HEAD' ? null : negotiate(environ.HTTP_ACCEPT_ENCODING, offered);

    // 'pass': the real startResponse was called with the application's
    // headers (plus Vary); 'hold': compressible, the decision waits for the
    // body's size; 'none': startResponse not called yet.
    let mode: 'none' | 'pass' | 'hold' = 'none';
    let held: { status: string; headers: Header[]; excInfo: unknown; length: number } | null = null;
    let realWrite: WriteFunction | null = null;
    const early: Chunk[] = [];

    const start: StartResponse = (status, headers, excInfo) => {
      if (mode === 'pass' || (mode === 'hold' && realWrite !== null)) {
        realWrite = startResponse(status, headers, excInfo);
        return realWrite;
      }
      const verdict = judge(status, headers, filter);
      if (coding === null || !verdict.eligible || (verdict.length >= 0 && verdict.length < threshold)) {
        mode = 'pass';
        realWrite = startResponse(status, verdict.varies ? withVary(headers) : headers, excInfo);
        return realWrite;
      }
      mode = 'hold';
      held = { status, headers, excInfo, length: verdict.length };
      // The legacy write(): its chunks go before the body, compressed too.
      return (chunk) => {
        if (realWrite !== null) realWrite(chunk);
        else early.push(chunk);
      };
    };

    /** Sends the held head as it was (with Vary): the body is small. */
    const passHeld = (): void => {
      const h = held!;
      mode = 'pass';
      realWrite = startResponse(h.status, withVary(h.headers), h.excInfo);
    };

    const wrap = (body: ResponseBody): ResponseBody => {
      if (coding === null || mode === 'pass') return body;
      if (mode === 'hold' && Array.isArray(body)) {
        const chunks = [...early, ...(body as Chunk[])];
        let total = 0;
        for (const c of chunks) total += byteLength(c);
        if (total < threshold) {
          passHeld();
          return chunks;
        }
        const out = compressSync(coding, Buffer.concat(chunks.map(toBuffer)));
        const h = held!;
        startResponse(h.status, compressedHeaders(h.headers, coding, out.length), h.excInfo);
        return [out];
      }
      return compressing(body);
    };

    /** The body through a Compressor, once the size is known to be worth it. */
    const compressing = (body: ResponseBody): ResponseBody => {
      let closed = false;
      return {
        async *[Symbol.asyncIterator](): AsyncGenerator<Chunk> {
          const sync = (body as Iterable<Chunk>)[Symbol.iterator];
          const it: Iterator<Chunk> | AsyncIterator<Chunk> =
            typeof sync === 'function' ? sync.call(body) : (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]();
          let finished = false;
          let z: Compressor | null = null;
          try {
            const pending: Chunk[] = [];
            let size = 0;
            let ended = false;
            // Until startResponse is known and the threshold is passed.
            for (;;) {
              if (mode === 'pass') break;
              if (mode === 'hold' && (size >= threshold || ended)) break;
              const step = await it.next();
              if (step.done) {
                ended = true;
                finished = true;
                if (mode === 'none') break;
                continue;
              }
              if (mode === 'none' && byteLength(step.value) > 0) break;
              pending.push(step.value);
              size += byteLength(step.value);
            }
            if (mode === 'pass') {
              yield* early;
              yield* pending;
            } else if (mode === 'hold' && size + early.reduce((n, c) => n + byteLength(c), 0) < threshold && ended) {
              passHeld();
              yield* early;
              yield* pending;
              return;
            } else if (mode === 'hold') {
              const h = held!;
              realWrite = startResponse(h.status, compressedHeaders(h.headers, coding!, -1), h.excInfo);
              z = new Compressor(coding!, level, quality);
              for (const c of [...early, ...pending]) {
                const out = await z.push(toBuffer(c));
                if (out !== null) yield out;
              }
            } else {
              // A chunk before startResponse: the driver's error to report.
              yield* pending;
            }
            if (!ended) {
              for (;;) {
                const step = await it.next();
                if (step.done) break;
                if (z === null) {
                  yield step.value;
                  continue;
                }
                if (byteLength(step.value) === 0) continue;
                const out = await z.push(toBuffer(step.value));
                if (out !== null) yield out;
              }
            }
            finished = true;
            if (z !== null) {
              const last = await z.finish();
              z = null;
              if (last !== null) yield last;
            }
          } finally {
            z?.destroy();
            if (!finished) await it.return?.();
          }
        },
        close() {
          if (closed) return;
          closed = true;
          return (body as { close?: () => void | Promise<void> }).close?.();
        },
      };
    };

    const result = app(environ, start);
    if (isThenable(result)) return Promise.resolve(result).then(wrap);
    return wrap(result);
  };
}
