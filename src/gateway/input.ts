// input.ts: `tsgi.input`, the request body as an async iterable, fed by a
// server and read by the application, with backpressure in both directions.
import type { InputStream } from '../types.js';

/** What a server does when the application's reading changes pace. */
export interface InputHooks {
  /** The application started reading (send `100 Continue` if asked). */
  start(): void;
  /** More than the high water mark is buffered: stop reading the socket. */
  pause(): void;
  /** The buffer drained below the low water mark: read again. */
  resume(): void;
}

const kHighWater = 64 * 1024;
const kLowWater = 16 * 1024;

/** The request body stream. The server calls `push`, `end` and `fail`. */
export class Input implements InputStream {
  private readonly chunks: Uint8Array[] = [];
  private buffered = 0;
  private ended = false;
  private error: Error | null = null;
  private paused = false;
  private iterated = false;
  /** Set once the response is over: later body bytes are dropped. */
  private discarding = false;
  private wake: (() => void) | null = null;
  /** A read() waiting for the end of the body. */
  private reader: { resolve: (body: Uint8Array) => void; reject: (error: Error) => void } | null = null;

  constructor(private readonly hooks: InputHooks | null) {}

  /** Body bytes from the client. The chunk is owned by the stream. Bytes
   * after a failure are dropped: a body with a hole must not look whole. */
  push(chunk: Uint8Array): void {
    if (this.discarding || this.ended || this.error !== null || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (!this.paused && this.reader === null && this.buffered > kHighWater && this.hooks) {
      this.paused = true;
      this.hooks.pause();
    }
    this.notify();
  }

  /** The body is complete. */
  end(): void {
    this.ended = true;
    const reader = this.reader;
    if (reader !== null) {
      this.reader = null;
      // Bytes that came after the response was over were dropped: the
      // body read() would give is not whole.
      if (this.discarding) reader.reject(new Error('tsgi: the request body was discarded: its response is over'));
      else reader.resolve(this.take());
    }
    this.notify();
  }

  /** The body cannot complete (the client went away). */
  fail(error: Error): void {
    if (this.ended) return;
    this.error ??= error;
    const reader = this.reader;
    if (reader !== null) {
      this.reader = null;
      reader.reject(this.error);
    }
    this.notify();
  }

  /** The response is over: drop what is buffered and what still comes. */
  discard(): void {
    this.discarding = true;
    // A read() waiting is settled by what comes next: fail() when the
    // client went away (its error), end() otherwise.
    if (this.reader !== null) return;
    // Setting an array's length is a call into the runtime: skipped when
    // there is nothing to drop (a body read to its end).
    if (this.chunks.length > 0) this.chunks.length = 0;
    this.buffered = 0;
    if (this.paused && this.hooks) {
      this.paused = false;
      this.hooks.resume();
    }
  }

  /** True once every byte of the body has been received. */
  get complete(): boolean {
    return this.ended;
  }

  private notify(): void {
    const wake = this.wake;
    if (wake) {
      this.wake = null;
      wake();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new Error('tsgi.input can be read only once');
    this.iterated = true;
    this.hooks?.start();
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk !== undefined) {
        this.buffered -= chunk.length;
        if (this.paused && this.buffered <= kLowWater && this.hooks) {
          this.paused = false;
          this.hooks.resume();
        }
        yield chunk;
        continue;
      }
      if (this.error) throw this.error;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The whole body. Not through the iterator: the chunks are kept as
   * they come (no pause: the application asked for all of it, and the
   * body limit bounds it) and joined once, at the end, so a body costs one
   * promise, not an iterator and a promise per chunk. */
  read(): Promise<Uint8Array> {
    if (this.iterated || this.discarding) return readAll(this);
    this.iterated = true;
    this.hooks?.start();
    if (this.paused && this.hooks) {
      this.paused = false;
      this.hooks.resume();
    }
    if (this.ended) return Promise.resolve(this.take());
    if (this.error) return Promise.reject(this.error);
    return new Promise<Uint8Array>((resolve, reject) => {
      this.reader = { resolve, reject };
    });
  }

  /** Every chunk buffered, as one buffer. */
  private take(): Uint8Array {
    const chunks = this.chunks;
    // One chunk (the usual body) is popped: no length store, which is a
    // call into the runtime.
    const body = chunks.length === 1 ? chunks.pop()! : joined(chunks, this.buffered);
    if (chunks.length > 0) chunks.length = 0;
    this.buffered = 0;
    return body;
  }
}

/** `parts` (of `size` bytes in all) as one buffer: the only part itself. */
function joined(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Reads a body to its end into one buffer. */
async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    parts.push(chunk);
    size += chunk.length;
  }
  return joined(parts, size);
}

/**
 * A body read on demand from an async iterable that is not a socket: a
 * fetch Request's body stream, a CGI script's stdin. Each chunk the
 * application asks for is one read of the source, so backpressure is the
 * source's own. With `limit` >= 0, at most that many bytes are read (CGI's
 * CONTENT_LENGTH); a source that ends earlier is an error.
 */
export class PullInput implements InputStream {
  private iterated = false;

  constructor(
    private readonly source: AsyncIterable<Uint8Array>,
    private readonly limit = -1,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new Error('tsgi.input can be read only once');
    this.iterated = true;
    let left = this.limit;
    if (left === 0) return;
    for await (const chunk of this.source) {
      if (chunk.length === 0) continue;
      if (left < 0) {
        yield chunk;
        continue;
      }
      if (chunk.length >= left) {
        yield chunk.length === left ? chunk : chunk.subarray(0, left);
        return;
      }
      left -= chunk.length;
      yield chunk;
    }
    if (left > 0) throw new Error(`tsgi: the request body ended ${left} bytes before its Content-Length`);
  }

  read(): Promise<Uint8Array> {
    return readAll(this);
  }
}

/** The input of a request without a body: ends at once, shared. */
export const emptyInput: InputStream = Object.freeze({
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {},
  async read(): Promise<Uint8Array> {
    return new Uint8Array(0);
  },
});
