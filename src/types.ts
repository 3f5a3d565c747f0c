// types.ts: the TSGI 1.0 specification, as types. Every server and every
// application in this package is written against this file and nothing else.
//
// TSGI is PEP 3333 (WSGI) translated to TypeScript: an application is a plain
// function of (environ, startResponse) that returns an iterable of chunks.

/** A piece of a response body. Strings are encoded as UTF-8 on the wire. */
export type Chunk = Uint8Array | string;

/**
 * What an application returns: a sync or async iterable of chunks. The object
 * may carry `close()`; if it does, the server calls it exactly once when the
 * response ends for any reason (completed, failed, or the client went away).
 * For an iterator that is abandoned early, the server also calls its
 * `return()` (which is what ends a generator's `finally` blocks).
 */
export type ResponseBody = (Iterable<Chunk> | AsyncIterable<Chunk>) & {
  close?: () => void | Promise<void>;
};

/**
 * `write(chunk)`, returned by `startResponse`: the legacy imperative write of
 * PEP 3333. Chunks written this way are sent before the returned body. New
 * applications should return the body instead.
 */
export type WriteFunction = (chunk: Chunk) => void;

/** One response header: `[name, value]`. Names are tokens (RFC 9110 §5.1);
 * values contain no CR, LF or NUL. Hop-by-hop headers (Connection,
 * Keep-Alive, Transfer-Encoding, Upgrade, TE, Trailer, Proxy-*) belong to the
 * server and must not be set by applications. */
export type Header = [name: string, value: string];

/**
 * `startResponse(status, headers, excInfo?)`.
 *
 * - `status` is `"NNN Reason"`: three digits, one space, a reason phrase
 *   (which may be empty only after the space, e.g. `"200 "`; prefer a phrase).
 * - `headers` is a list of `[name, value]` pairs, sent in that order.
 * - Called a second time without `excInfo`, it throws. With `excInfo` (any
 *   truthy value, normally the caught error) before the first body byte has
 *   been sent, it replaces the status and headers; after that it rethrows
 *   `excInfo` so the server cuts the connection.
 * - Nothing is sent until the first non-empty chunk, or the end of the body.
 */
export type StartResponse = (
  status: string,
  headers: Header[],
  excInfo?: unknown,
) => WriteFunction;

/** A file the server may send with sendfile(2): made by `tsgi.file_wrapper`.
 * Iterating it reads the file in blocks, so middleware that does not know
 * about it still works. */
export interface FileWrapper extends AsyncIterable<Uint8Array> {
  /** The open file descriptor. Owned by the wrapper; closed by `close()`. */
  readonly fd: number;
  /** Byte offset to start from. */
  readonly offset: number;
  /** Bytes to send; `-1` means up to the end of the file. */
  readonly length: number;
  /** Closes the descriptor if the wrapper opened it. Called by the server. */
  close(): void | Promise<void>;
}

/** Options of `tsgi.file_wrapper`. */
export interface FileWrapperOptions {
  /** Byte offset to start from (default 0). */
  offset?: number;
  /** Bytes to send (default: to the end of the file). */
  length?: number;
  /** Block size when the file is iterated instead of sent (default 64 KiB). */
  blockSize?: number;
}

/**
 * `tsgi.file_wrapper(pathOrFd, options?)`: wraps a file so that the server
 * may send it with sendfile(2). A path is opened (read-only) when the
 * response is sent and closed afterwards; an fd passed in is closed by the
 * wrapper's `close()` too (the application hands it over). The response
 * should carry a Content-Length, or the server computes one from `fstat`.
 */
export type FileWrapperFactory = (
  pathOrFd: string | number,
  options?: FileWrapperOptions,
) => FileWrapper;

/** `tsgi.errors`: where applications log; stderr unless configured. */
export interface ErrorStream {
  write(message: string): void;
  flush(): void;
}

/**
 * The request body, `tsgi.input`: an async iterable of byte chunks, read at
 * most once. Iterating it is what drives the upload: while the application
 * does not ask for the next chunk, the server stops reading from the socket
 * (backpressure). With `Expect: 100-continue`, the interim `100 Continue` is
 * sent when the application starts iterating. Empty (ends at once) when the
 * request has no body.
 */
export interface InputStream extends AsyncIterable<Uint8Array> {
  /** Reads the whole remaining body into one buffer. */
  read(): Promise<Uint8Array>;
}

/**
 * The environ: one plain object per request.
 *
 * Header values are decoded as latin1 (ISO-8859-1), byte for byte, as
 * PEP 3333 does; `PATH_INFO` is percent-decoded as UTF-8 (invalid sequences
 * stay as they were). Nothing in the environ is trusted: every `HTTP_*` key,
 * the path and the query come from the client.
 */
export interface Environ {
  /** Request method, upper case as sent: `"GET"`, `"POST"`… Always present. */
  REQUEST_METHOD: string;
  /** Where the application is mounted; `""` at the root. Always present. */
  SCRIPT_NAME: string;
  /** The path after SCRIPT_NAME, percent-decoded (UTF-8). Always present;
   * `"/"` for `GET /`. Security: may contain `..`, `%2F` decoded to `/`, or
   * NUL; never join it to a file path without normalising. */
  PATH_INFO: string;
  /** The query string as sent, without `?`, not decoded; `""` if none. */
  QUERY_STRING: string;
  /** The raw request target as sent (`/a%20b?x=1`). Always present. */
  REQUEST_URI: string;
  /** The Content-Type header; absent when the request has none. */
  CONTENT_TYPE?: string;
  /** The Content-Length header, as decimal digits; absent when the request
   * has none (a chunked request has none). */
  CONTENT_LENGTH?: string;
  /** Host name the request was addressed to (Host header without port, or
   * the bound address). Always present. */
  SERVER_NAME: string;
  /** The port the server listens on, as a string. Always present. */
  SERVER_PORT: string;
  /** `"HTTP/1.1"` or `"HTTP/1.0"`. Always present. */
  SERVER_PROTOCOL: string;
  /** The peer's IP address (the proxy's, behind a proxy). Always present. */
  REMOTE_ADDR: string;
  /** The peer's port, as a string. Always present. */
  REMOTE_PORT: string;

  /** `[1, 0]`. */
  'tsgi.version': readonly [1, 0];
  /** `"http"` (or `"https"` behind a TLS-terminating server). */
  'tsgi.url_scheme': 'http' | 'https';
  /** The request body. */
  'tsgi.input': InputStream;
  /** Error log stream (stderr by default). */
  'tsgi.errors': ErrorStream;
  /** True if the same process may run requests concurrently: always true
   * on Node.js (async applications interleave). */
  'tsgi.multithread': boolean;
  /** True if other processes may serve the same application. */
  'tsgi.multiprocess': boolean;
  /** True if the application is run for one request only. */
  'tsgi.run_once': boolean;
  /** Wraps a path or fd for sendfile(2). */
  'tsgi.file_wrapper': FileWrapperFactory;

  /** One `HTTP_<NAME>` per request header: name upper-cased, `-` → `_`.
   * Repeated headers are joined with `", "` (`Cookie` with `"; "`). Header
   * names containing `_` are dropped: they would collide with `-` spellings
   * (a known header-smuggling trick). `Content-Type` and `Content-Length`
   * appear only as `CONTENT_TYPE` / `CONTENT_LENGTH`. */
  [key: `HTTP_${string}`]: string | undefined;
  /** Middleware may add keys of its own, conventionally `name.key`. */
  [key: string]: unknown;
}

/**
 * A TSGI application.
 *
 * @example
 * ```ts
 * import type { Application } from 'tsgi';
 * export const app: Application = (environ, startResponse) => {
 *   startResponse('200 OK', [['Content-Type', 'text/plain']]);
 *   return [`Hello from ${environ.PATH_INFO}\n`];
 * };
 * ```
 */
export type Application = (
  environ: Environ,
  startResponse: StartResponse,
) => ResponseBody | Promise<ResponseBody>;

/** Which server runs an application. */
export type ServerKind = 'native' | 'node';

/** Options of `serve()`. */
export interface ServeOptions {
  /** Address to bind (default `"127.0.0.1"`). */
  host?: string;
  /** Port (default 8000; `0` takes a free port). */
  port?: number;
  /** `"native"` (default when the addon loads) or `"node"`. */
  server?: ServerKind;
  /** Where `tsgi.errors` and the server's own errors go (default stderr). */
  errors?: ErrorStream;
  /** `tsgi.multiprocess` (default false). */
  multiprocess?: boolean;
  /** Listen backlog (default 511). */
  backlog?: number;

  // Limits (RFC 9112 §2.3, §3; RFC 9110 §15.5.14, §15.5.15, RFC 6585 §5).
  // Each is answered with a ready-made response and the connection closed.

  /** Longest request target, in bytes (default 8 KiB): 414 beyond it. */
  maxUrlSize?: number;
  /** Largest header section, in bytes (default 16 KiB): 431 beyond it. */
  maxHeaderSize?: number;
  /** Most header fields in one request (default 100): 431 beyond it. */
  maxHeaderCount?: number;
  /** Largest request body, in bytes (default 16 MiB): 413 when declared
   * larger by Content-Length, or when a chunked body grows past it. */
  maxBodySize?: number;

  // Timeouts, in seconds (fractions allowed; 0 disables one).

  /** Time to receive a complete request head (default 60; slowloris): 408. */
  headersTimeout?: number;
  /** Time to receive a complete request, body included (default 300): 408. */
  requestTimeout?: number;
  /** How long an idle keep-alive connection stays open (default 5). */
  keepAliveTimeout?: number;
  /** How long a response may wait for a client that does not read
   * (default 60): the connection is cut. */
  sendTimeout?: number;
  /** How long `close()` waits for requests in flight before cutting their
   * connections (default 30). */
  gracefulTimeout?: number;
}

/** The defaults of the limits and timeouts of `ServeOptions`. */
export const DEFAULT_LIMITS = Object.freeze({
  maxUrlSize: 8 * 1024,
  maxHeaderSize: 16 * 1024,
  maxHeaderCount: 100,
  maxBodySize: 16 * 1024 * 1024,
  headersTimeout: 60,
  requestTimeout: 300,
  keepAliveTimeout: 5,
  sendTimeout: 60,
  gracefulTimeout: 30,
} as const);

/** The limits and timeouts a server runs with, defaults filled in. */
export type Limits = { -readonly [K in keyof typeof DEFAULT_LIMITS]: number };

/**
 * A derived limit, not an option of its own: the bytes of chunk extensions
 * (RFC 9112 §7.1.1, whitespace included) one chunk-size line may carry,
 * 413 beyond. Per chunk, so that a long upload with an extension on every
 * chunk is served; as large as a header section, the metadata a request
 * may carry in one piece. node:http has a fixed bound of its own (16 KiB,
 * the default here), which `maxHeaderSize` does not move.
 *
 * @example
 * ```ts
 * maxChunkExtensionSize({ ...DEFAULT_LIMITS }); // 16384
 * ```
 */
export function maxChunkExtensionSize(limits: Limits): number {
  return limits.maxHeaderSize;
}

/** A running server, as returned by `serve()`. */
export interface Server {
  /** `"native"` or `"node"`. */
  readonly kind: ServerKind;
  /** The bound host. */
  readonly host: string;
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  /** `http://host:port`. */
  readonly url: string;
  /**
   * Stops accepting, closes idle keep-alive connections at once, lets
   * requests in flight finish (their responses carry `Connection: close`),
   * and resolves when every connection is closed.
   */
  close(): Promise<void>;
}
