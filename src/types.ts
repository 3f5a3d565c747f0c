// types.ts: the TSGI 1.0 specification, as types. Every server and every
// application in this package is written against this file and nothing else.
//
// TSGI is PEP 3333 (WSGI) translated to TypeScript: an application is a plain
// function of (environ, startResponse) that returns an iterable of chunks.

/**
 * A piece of a response body. Strings are encoded as UTF-8 on the wire.
 *
 * A Uint8Array is lent, not copied, when the application yields it (or
 * passes it to `write()`): the server may read its bytes at any time until
 * they are sent, which can be after the body has moved on to later chunks
 * or ended (node's `socket.write()` has the same rule). The application
 * must not change the bytes of a chunk it gave; a buffer that is refilled
 * is given as a copy. The native server reads a chunk no later than the
 * response's end, the tick after the turn in which it was given, or the
 * body's next wait for the client (backpressure), and writes one of 2 KiB
 * or more straight from its memory.
 *
 * @example
 * // One buffer refilled for every chunk: each chunk given is a copy.
 * const block = Buffer.alloc(16 * 1024);
 * async function* body(file: FileHandle) {
 *   for (;;) {
 *     const { bytesRead } = await file.read(block, 0, block.length);
 *     if (bytesRead === 0) return;
 *     yield Buffer.from(block.subarray(0, bytesRead));
 *   }
 * }
 */
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

/** One response header: `[name, value]`. Names are tokens (RFC 9110
 * §5.6.2); values are latin1 text without controls other than HTAB (no CR,
 * LF or NUL) and nothing above U+00FF. Framing, hop-by-hop and Date headers
 * belong to the server: `Content-Length` is read and honoured,
 * `Connection: close` closes the connection after the response, the others
 * are dropped (`validate()` refuses them). The list, with the reason for
 * each, is `OWNED_HEADERS` in src/gateway/http-rules.ts and the README's
 * "startResponse". */
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
   * the address of the bind that accepted the connection; for a unix
   * socket, its path). Always present. */
  SERVER_NAME: string;
  /** The port of the bind that accepted the connection, as a string; `""`
   * on a unix socket, which has no port. Always present. */
  SERVER_PORT: string;
  /** `"HTTP/1.1"` or `"HTTP/1.0"`. Always present. */
  SERVER_PROTOCOL: string;
  /** The peer's IP address; behind a trusted front-end (forwardedAllowIps),
   * the client's, as its forwarded headers or PROXY header name it (README,
   * "Behind a proxy"). `""` on a unix socket, whose peer has no address,
   * unless a front-end names the client. Always present. */
  REMOTE_ADDR: string;
  /** The peer's port, as a string; `""` on a unix socket, or when a
   * forwarded header named the client without one. Always present. */
  REMOTE_PORT: string;

  /** `[1, 0]`. */
  'tsgi.version': readonly [1, 0];
  /** `"http"`, or what a trusted front-end says (X-Forwarded-Proto,
   * X-Forwarded-Ssl, Forwarded's proto). */
  'tsgi.url_scheme': 'http' | 'https';
  /** The request body. */
  'tsgi.input': InputStream;
  /** Error log stream (stderr by default). */
  'tsgi.errors': ErrorStream;
  /** True if the application may be called for a request while another is
   * still running: always true on Node.js (async applications interleave on
   * their thread). With `--workers`, each worker thread imports its own copy
   * of the module, so no application object is ever run by two threads at
   * once; two threads never share its module state either. */
  'tsgi.multithread': boolean;
  /** True if other copies of the application serve at the same time, each
   * with module state of its own: more than one worker (`--workers N`: each
   * worker thread loads the module itself, as a process would), or the
   * `multiprocess` option (other processes, say several tsgi instances
   * behind nginx). With one worker it is false, though a reload (SIGHUP,
   * `--max-requests`) briefly runs the new copy beside the old one; it
   * follows SIGTTIN/SIGTTOU as the count changes. */
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

/** Options of `serve()`: `errors`, `metrics`, and the settings of
 * src/settings.ts (the block below is written from that table by `npm run
 * docs`). */
export interface ServeOptions {
  /** Where `tsgi.errors` and the server's own events go (default: the
   * `errorLog`, stderr unless set). */
  errors?: ErrorStream;
  /** A metrics block to count into (`newMetricsBlock()` of
   * src/metrics/layout.ts), which a supervisor gives each worker; with
   * `statsBind` and no block, serve() makes its own. */
  metrics?: Float64Array;
  // settings:begin (written by `npm run docs` from src/settings.ts)
  /** Where to listen: HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N; repeat it
   * for several. Default host:port (127.0.0.1:8000), or the sockets systemd
   * passes; a string or a list of strings. Flag `--bind`. */
  bind?: string | readonly string[];
  /** Address to listen on (IPv6 without brackets), when bind is not given.
   * Default "127.0.0.1"; a string. */
  host?: string;
  /** Port to listen on, when bind is not given; 0 takes a free one. Default
   * 8000; a whole number from 0 to 65535. */
  port?: number;
  /** Which server runs the application: native, or node (the reference
   * server). Default native, when the addon loads; "native" or "node". Flag
   * `--server`. */
  server?: ServerKind;
  /** Connections the kernel queues before they are accepted. Default 511; a
   * whole number from 1 to 2147483647. */
  backlog?: number;
  /** The value of tsgi.multiprocess: other processes serve the same
   * application (true anyway with more than one worker). Default false; true
   * or false. */
  multiprocess?: boolean;
  /** The file mode creation mask of unix socket files that bind creates
   * (octal). Default the process's; a file mode mask from 0 to 0o777 (octal
   * in text: 007). Flag `--umask`. */
  umask?: number;
  /** Where each response is logged: a file (appended to; reopened on
   * SIGUSR1), or - for stdout; none by default. Default none; a file path, or
   * - for stdout. Flag `--access-log`. */
  accessLog?: string;
  /** An access log line: gunicorn's atoms, or json for one JSON object per
   * line. Default "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\"
   * \"%(a)s\""; gunicorn's %(atom)s format, or json. Flag
   * `--access-log-format`. */
  accessLogFormat?: string;
  /** Where the server's events and tsgi.errors go: a file (appended to;
   * reopened on SIGUSR1), or - for stderr. Default "-"; a file path, or - for
   * stderr. Flag `--error-log`. */
  errorLog?: string;
  /** The least severe event the error log keeps. Default "info"; "debug" or
   * "info" or "warning" or "error" or "critical". Flag `--log-level`. */
  logLevel?: 'debug' | 'info' | 'warning' | 'error' | 'critical';
  /** Front-ends trusted to name the client (X-Forwarded-*, Forwarded, the
   * PROXY header); unix-socket peers always are. Default "127.0.0.1,::1"; IP
   * addresses and CIDR ranges (IPv4, IPv6), or *, with commas between them (a
   * string or a list). Flag `--forwarded-allow-ips`. */
  forwardedAllowIps?: string | readonly string[];
  /** Haproxy's PROXY header before HTTP on connections from trusted
   * front-ends: v1, v2, auto (either) or off. Default "off"; "off" or "v1" or
   * "v2" or "auto". Flag `--proxy-protocol`. */
  proxyProtocol?: 'off' | 'v1' | 'v2' | 'auto';
  /** Where /metrics (Prometheus text) is served, by the supervisor for all
   * its workers; off by default. Default none; HOST:PORT, [IPv6]:PORT or
   * unix:PATH. Flag `--stats-bind`. */
  statsBind?: string;
  /** Longest request target, in bytes: 414 beyond it. Default 8 KiB; a whole
   * number of bytes from 1 to 64 MiB. Flag `--max-url-size`. */
  maxUrlSize?: number;
  /** Largest header section (names, values, line ends), in bytes: 431 beyond
   * it. Default 16 KiB; a whole number of bytes from 1 to 64 MiB. Flag
   * `--max-header-size`. */
  maxHeaderSize?: number;
  /** Most header fields in one request: 431 beyond it. Default 100; a whole
   * number from 1 to 65536. Flag `--max-header-count`. */
  maxHeaderCount?: number;
  /** Largest request body, declared or chunked, in bytes: 413 beyond it.
   * Default 16 MiB; a whole number of bytes from 1 to 2^53 - 1. Flag
   * `--max-body-size`. */
  maxBodySize?: number;
  /** Time to receive a complete request head (slowloris): 408. Default 60 s;
   * a number of seconds from 0 to 86400. Flag `--headers-timeout`. */
  headersTimeout?: number;
  /** Time to receive a complete request, body included: 408. Default 300 s; a
   * number of seconds from 0 to 86400. Flag `--request-timeout`. */
  requestTimeout?: number;
  /** How long an idle keep-alive connection stays open: closed silently.
   * Default 5 s; a number of seconds from 0 to 86400. Flag
   * `--keep-alive-timeout`. */
  keepAliveTimeout?: number;
  /** How long a response may wait for a client that does not read: the
   * connection is cut. Default 60 s; a number of seconds from 0 to 86400.
   * Flag `--send-timeout`. */
  sendTimeout?: number;
  /** How long close() (and SIGTERM) waits for requests in flight: their
   * connections are cut. Default 30 s; a number of seconds from 0 to 86400.
   * Flag `--graceful-timeout`. */
  gracefulTimeout?: number;
  // settings:end
}

/** One address a server listens on. */
export interface BoundAddress {
  /** `"tcp"`, or `"unix"` for a unix socket. */
  readonly kind: 'tcp' | 'unix';
  /** The IP address; for a unix socket, its path. */
  readonly host: string;
  /** The port (the real one when 0 was asked); 0 for a unix socket. */
  readonly port: number;
  /** `http://127.0.0.1:8000`, `http://[::1]:8000` or `unix:/run/app.sock`. */
  readonly url: string;
}

/** Options of `supervise()` and `tsgi serve`: those of `serve()` and the
 * supervisor's (the block below is written from src/settings.ts by `npm
 * run docs`). */
export interface SupervisorOptions extends ServeOptions {
  // supervisor-settings:begin (written by `npm run docs` from src/settings.ts)
  /** Worker threads, each with the application and a server of its own; auto:
   * one per CPU this process may use. Default 1; a whole number from 1 to
   * 1024 or "auto". Flag `--workers`. */
  workers?: number | 'auto';
  /** A worker whose event loop has not turned for this long is logged with
   * its requests in flight, terminated and replaced. Default 30 s; a number
   * of seconds from 0 to 86400. Flag `--timeout`. */
  timeout?: number;
  /** A worker is replaced gracefully after this many requests; 0 never.
   * Default 0; a whole number from 0 to 2147483647. Flag `--max-requests`. */
  maxRequests?: number;
  /** Up to this many requests more, chosen at random per worker, so that
   * workers are not all replaced at once. Default 0; a whole number from 0 to
   * 2147483647. Flag `--max-requests-jitter`. */
  maxRequestsJitter?: number;
  /** Restart the workers when a file under the application's directory
   * changes (development). Default false; true or false. Flag `--reload`. */
  reload?: boolean;
  // supervisor-settings:end
}

/** A running server, as returned by `serve()`. */
export interface Server {
  /** `"native"` or `"node"`. */
  readonly kind: ServerKind;
  /** The first bind's host (for a unix socket, its path). */
  readonly host: string;
  /** The first bind's port (the real one when 0 was asked; 0 for a unix
   * socket). */
  readonly port: number;
  /** The first bind's URL: `http://host:port`, or `unix:PATH`. */
  readonly url: string;
  /** Where `/metrics` is served (`127.0.0.1:9100`, `unix:/path`), or null
   * without `statsBind`. */
  readonly stats: string | null;
  /** Reopens the access and error log files by their paths (after
   * logrotate renamed them; `tsgi serve` does it on SIGUSR1). */
  reopenLogs(): void;
  /** Every address it listens on, in the order of `bind`. */
  readonly addresses: readonly BoundAddress[];
  /**
   * Stops accepting, closes idle keep-alive connections at once, lets
   * requests in flight finish (their responses carry `Connection: close`),
   * and resolves when every connection is closed.
   */
  close(): Promise<void>;
}

/**
 * A middleware: takes an application, returns one that wraps it. It may
 * change the environ on the way in and the status, headers or body on the
 * way out.
 *
 * @example
 * ```ts
 * import type { Middleware } from 'tsgi';
 * export const poweredBy: Middleware = (app) => (environ, startResponse) =>
 *   app(environ, (status, headers, excInfo) =>
 *     startResponse(status, [...headers, ['X-Powered-By', 'tsgi']], excInfo));
 * ```
 */
export type Middleware = (app: Application) => Application;
