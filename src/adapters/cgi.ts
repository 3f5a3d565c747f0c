// cgi.ts: one request from the CGI environment (RFC 3875), as wsgiref's
// CGIHandler runs it: the meta-variables are the environ, stdin (up to
// CONTENT_LENGTH) is tsgi.input, and the response goes to stdout with a
// `Status:` header (RFC 3875 §6.3.3). The web server frames it.
import type { Writable } from 'node:stream';
import type { Application, Chunk, Environ, ErrorStream, Header } from '../types.js';
import { addHeader, createEnviron, type EnvironBase } from '../gateway/environ.js';
import { fileWrapper } from '../gateway/file-wrapper.js';
import { emptyInput, PullInput } from '../gateway/input.js';
import { runApplication, type Sink } from '../gateway/response.js';

/** Where a CGI request comes from and goes to (the process's own by
 * default). */
export interface CgiOptions {
  /** The meta-variables (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** The request body (default `process.stdin`). */
  stdin?: AsyncIterable<Uint8Array>;
  /** The response (default `process.stdout`). */
  stdout?: Writable;
  /** `tsgi.errors` (default stderr). */
  errors?: ErrorStream;
}

// The meta-variables that are copied as they are (RFC 3875 §4.1), besides
// the HTTP_* ones.
const kCopied = ['AUTH_TYPE', 'CONTENT_TYPE', 'GATEWAY_INTERFACE', 'PATH_TRANSLATED', 'REMOTE_HOST', 'REMOTE_IDENT', 'REMOTE_USER', 'SERVER_SOFTWARE', 'DOCUMENT_ROOT'] as const;

/** Builds the environ from CGI meta-variables: the same literal as the
 * servers' (createEnviron), then the variables the web server decided. */
export function cgiEnviron(env: Record<string, string | undefined>, stdin: AsyncIterable<Uint8Array>, errors: ErrorStream): Environ {
  const scriptName = env.SCRIPT_NAME ?? '';
  const pathInfo = env.PATH_INFO ?? '';
  const query = env.QUERY_STRING ?? '';
  const length = env.CONTENT_LENGTH;
  const size = length !== undefined && /^\d{1,15}$/.test(length) ? Number(length) : 0;
  const base: EnvironBase = {
    serverName: env.SERVER_NAME ?? '',
    serverPort: env.SERVER_PORT ?? '',
    errors,
    multiprocess: true,
    fileWrapper,
  };
  // RFC 3875 has no REQUEST_URI; most servers set it (lighttpd, Apache).
  const uri = env.REQUEST_URI ?? encodeURI(scriptName + pathInfo) + (query === '' ? '' : '?' + query);
  const environ = createEnviron(
    base,
    env.REQUEST_METHOD ?? 'GET',
    uri,
    env.SERVER_PROTOCOL ?? 'HTTP/1.0',
    env.REMOTE_ADDR ?? '',
    env.REMOTE_PORT ?? '',
    size > 0 ? new PullInput(stdin, size) : emptyInput,
  );
  environ.SCRIPT_NAME = scriptName;
  environ.PATH_INFO = pathInfo;
  environ.QUERY_STRING = query;
  if (size > 0) environ.CONTENT_LENGTH = String(size);
  for (const key of kCopied) if (env[key] !== undefined && env[key] !== '') environ[key] = env[key];
  for (const key in env) {
    if (key.startsWith('HTTP_') && env[key] !== undefined) addHeader(environ, key, env[key]!);
  }
  const https = (env.HTTPS ?? '').toLowerCase();
  if (https === 'on' || https === '1' || env.REQUEST_SCHEME === 'https') environ['tsgi.url_scheme'] = 'https';
  environ['tsgi.multithread'] = false;
  environ['tsgi.run_once'] = true;
  return environ;
}

/** The response as a CGI response document on a stream. */
class CgiSink implements Sink {
  gone = false;
  onGone: (() => void) | null = null;
  readonly sendFile = null;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly out: Writable,
    private readonly done: (ok: boolean) => void,
  ) {
    out.on('drain', () => this.wake());
    out.on('error', () => this.lost());
    out.on('close', () => this.lost());
  }

  private lost(): void {
    if (this.gone) return;
    this.gone = true;
    this.wake();
    const onGone = this.onGone;
    this.onGone = null;
    onGone?.();
    this.done(false);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  start(status: string, _code: number, headers: Header[], contentLength: number, body: Chunk | null, last: boolean): boolean {
    let head = `Status: ${status}\r\n`;
    for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
    if (contentLength < 0 && last) contentLength = body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    if (contentLength >= 0) head += `Content-Length: ${contentLength}\r\n`;
    // Header values are latin1 (PEP 3333), byte for byte.
    this.out.write(Buffer.from(head + '\r\n', 'latin1'));
    if (last) {
      if (body !== null) this.out.write(body);
      this.end();
      return true;
    }
    return body === null ? true : this.write(body);
  }

  write(chunk: Chunk): boolean {
    if (this.gone) return true;
    return this.out.write(chunk);
  }

  end(): void {
    if (this.gone) return;
    this.gone = true;
    this.out.end(() => this.done(true));
  }

  abort(): void {
    // After the head: all a CGI script can do is stop, so the web server
    // sees a short response.
    this.gone = true;
    this.wake();
    this.done(false);
  }

  drain(): Promise<void> {
    if (this.gone || !this.out.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/**
 * Runs one request of a TSGI application under CGI (what `tsgi cgi` does):
 * resolves true once the response is written, false when it was cut (the
 * application failed after its headers, or stdout closed). An error before
 * the headers is a 500 response, with the error on `errors`.
 *
 * @example
 * ```ts
 * // app.cgi, executable, run by the web server for each request
 * import { runCgi } from 'tsgi';
 * import app from './app.js';
 * process.exitCode = (await runCgi(app)) ? 0 : 1;
 * ```
 */
export function runCgi(app: Application, options: CgiOptions = {}): Promise<boolean> {
  const env = options.env ?? process.env;
  const stdin = options.stdin ?? (process.stdin as AsyncIterable<Uint8Array>);
  const stdout = options.stdout ?? process.stdout;
  const errors = options.errors ?? {
    write: (message: string) => void process.stderr.write(message),
    flush: () => {},
  };
  return new Promise<boolean>((resolve) => {
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      resolve(ok);
    };
    const environ = cgiEnviron(env, stdin, errors);
    runApplication(app, environ, new CgiSink(stdout, done), errors, null);
  });
}
