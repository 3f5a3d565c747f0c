// server.ts: the reference server on node:http. Same contract as the native
// server; node:http does parsing and framing, the shared gateway does the rest.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Application, Chunk, ErrorStream, Header, Limits, Server } from '../types.js';
import { makeEnviron, type EnvironBase } from '../gateway/environ.js';
import { emptyInput, Input } from '../gateway/input.js';
import { runApplication, type Sink } from '../gateway/response.js';
import { fileWrapper } from '../gateway/file-wrapper.js';

/** Options the reference server understands (a subset of ServeOptions). */
export interface NodeServerOptions {
  host: string;
  port: number;
  backlog: number;
  errors: ErrorStream;
  multiprocess: boolean;
  /** Limits and timeouts, defaults filled in. */
  limits: Limits;
}

const kHighChar = /[\x80-\xff]/;
const kSendWatch = Symbol('tsgi.sendWatch');

/**
 * The send timeout, which node:http lacks: while a socket has output
 * queued, a check every quarter of `ms` (10 ms to 1 s) looks at the bytes
 * the kernel has taken (`bytesWritten - writableLength`); when they have
 * not grown for `ms`, the client stopped reading and the socket is
 * destroyed (the response's 'close' ends the body, as on the native
 * server). At most one check per socket, and only while output is queued:
 * nothing per request on the fast path.
 */
function watchSend(socket: Socket | null, ms: number): void {
  if (ms <= 0 || socket === null || socket.destroyed || socket.writableLength === 0) return;
  const s = socket as Socket & { [kSendWatch]?: NodeJS.Timeout };
  if (s[kSendWatch] !== undefined) return;
  const taken = () => socket.bytesWritten - socket.writableLength;
  let last = taken();
  let since = Date.now();
  const timer = setInterval(
    () => {
      if (socket.destroyed || socket.writableLength === 0) {
        clearInterval(timer);
        s[kSendWatch] = undefined;
        return;
      }
      const now = taken();
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since >= ms) {
        clearInterval(timer);
        s[kSendWatch] = undefined;
        socket.destroy();
      }
    },
    Math.min(1000, Math.max(10, ms / 4)),
  );
  timer.unref();
  s[kSendWatch] = timer;
}

/** A response on a node:http ServerResponse. */
class NodeSink implements Sink {
  gone = false;
  onGone: (() => void) | null = null;
  private declared = -1;
  private written = 0;
  private waiters: (() => void)[] = [];
  readonly sendFile = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly closing: () => boolean,
    private readonly sendMs: number,
  ) {
    res.on('drain', () => this.wake());
    res.on('close', () => {
      if (!res.writableFinished) this.gone = true;
      this.wake();
      const onGone = this.onGone;
      this.onGone = null;
      if (this.gone) onGone?.();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  start(status: string, code: number, headers: Header[], contentLength: number, body: Chunk | null, last: boolean, close: boolean): boolean {
    const res = this.res;
    if (this.gone || res.destroyed) return true;
    const flat: string[] = [];
    let high = kHighChar.test(status);
    for (const [name, value] of headers) {
      flat.push(name, value);
      if (!high && kHighChar.test(value)) high = true;
    }
    // node:http sends the head in the encoding of the first string chunk
    // (UTF-8); header strings are latin1 on the wire (PEP 3333), which it
    // does only when the first chunk is bytes.
    if (high && typeof body === 'string') body = Buffer.from(body);
    // The whole body in hand: its size is the Content-Length (as native).
    if (contentLength < 0 && last && code !== 204 && code !== 304) {
      contentLength = body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    }
    if (contentLength >= 0) {
      flat.push('Content-Length', String(contentLength));
      this.declared = contentLength;
    }
    if (close || this.closing()) flat.push('Connection', 'close');
    res.writeHead(code, status.slice(4), flat);
    if (last) {
      this.count(body);
      if (body === null) res.end();
      else res.end(body);
      this.checkShort();
      watchSend(res.socket, this.sendMs);
      return true;
    }
    if (body === null) return true;
    return this.write(body);
  }

  private count(chunk: Chunk | null): void {
    if (chunk !== null) this.written += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
  }

  /** A body shorter than its Content-Length: cut, so the client knows. */
  private checkShort(): void {
    if (this.declared >= 0 && this.written < this.declared && !this.isBodiless()) {
      this.res.socket?.destroySoon();
    }
  }

  private isBodiless(): boolean {
    const code = this.res.statusCode;
    return code === 204 || code === 304 || this.res.req.method === 'HEAD';
  }

  write(chunk: Chunk): boolean {
    if (this.gone || this.res.destroyed) return true;
    if (this.declared >= 0) {
      const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
      if (this.written + size > this.declared) {
        // More than declared: send what fits, then end the connection.
        const room = this.declared - this.written;
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        this.written = this.declared;
        this.res.end(bytes.subarray(0, room));
        this.res.socket?.destroySoon();
        this.gone = true;
        return true;
      }
      this.written += size;
    }
    if (this.res.write(chunk)) return true;
    watchSend(this.res.socket, this.sendMs);
    return false;
  }

  end(): void {
    if (this.gone || this.res.destroyed) return;
    this.res.end();
    this.checkShort();
    watchSend(this.res.socket, this.sendMs);
  }

  abort(): void {
    this.gone = true;
    this.res.destroy();
    this.wake();
  }

  drain(): Promise<void> {
    if (this.gone || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

function flatHeaders(req: IncomingMessage): string[] {
  return req.rawHeaders;
}

/** Starts the reference server. */
export function startNodeServer(app: Application, options: NodeServerOptions): Promise<Server> {
  let closing = false;
  const isClosing = () => closing;
  const base: EnvironBase = {
    serverName: options.host,
    serverPort: String(options.port),
    errors: options.errors,
    multiprocess: options.multiprocess,
    fileWrapper,
  };

  const handle = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
    const socket = req.socket;
    const hasBody =
      req.headers['content-length'] !== undefined
        ? req.headers['content-length'] !== '0'
        : req.headers['transfer-encoding'] !== undefined;
    let input: Input | typeof emptyInput = emptyInput;
    if (hasBody) {
      let continued = !expectContinue;
      const body = new Input({
        start() {
          if (!continued) {
            continued = true;
            if (!res.headersSent && !res.destroyed) res.writeContinue();
          }
        },
        pause: () => req.pause(),
        resume: () => req.resume(),
      });
      req.on('data', (chunk: Buffer) => body.push(chunk));
      req.on('end', () => body.end());
      req.on('close', () => {
        if (!req.complete) body.fail(new Error('tsgi: the client closed the connection before the body was complete'));
      });
      res.on('finish', () => {
        body.discard();
        // The body was not read to its end: the connection cannot be reused.
        if (!req.complete) res.socket?.destroySoon();
      });
      input = body;
    }
    const environ = makeEnviron(
      base,
      req.method ?? 'GET',
      req.url ?? '/',
      `HTTP/${req.httpVersion}`,
      flatHeaders(req),
      socket.remoteAddress ?? '',
      String(socket.remotePort ?? 0),
      input,
    );
    // A keep-alive connection whose response ends while closing closes then.
    res.once('finish', () => {
      if (closing) socket.destroySoon();
    });
    runApplication(app, environ, new NodeSink(res, isClosing, limits.sendTimeout * 1000), options.errors);
  };

  const limits = options.limits;
  const ms = (seconds: number) => Math.ceil(seconds * 1000);
  const requestMs = ms(limits.requestTimeout);
  // node:http refuses a headers timeout above the request timeout; the
  // request timeout bounds the head anyway.
  const headersMs = requestMs > 0 && limits.headersTimeout > 0 ? Math.min(ms(limits.headersTimeout), requestMs) : ms(limits.headersTimeout);
  const shortest = Math.min(...[headersMs, requestMs].filter((t) => t > 0), 4000);
  const server = createServer(
    {
      // The limits node:http has; see README, "Limits and security".
      maxHeaderSize: limits.maxHeaderSize,
      // Timeouts as on the native server (a fresh connection that sends
      // nothing is bound by headersTimeout and closed without a word, see
      // 'clientError'), with differences node:http does not let us remove:
      // - keepAliveTimeout: node:http waits one second more than asked
      //   (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER) before it closes an idle
      //   connection.
      // - headersTimeout counts from a head's first byte, also on a
      //   keep-alive connection (the native server counts from the end of
      //   the previous response, which keepAliveTimeout bounds anyway).
      // - headers and request timeouts are checked every
      //   connectionsCheckingInterval: a quarter of the shortest, like the
      //   native server's tick (10 ms to 1 s).
      keepAliveTimeout: ms(limits.keepAliveTimeout),
      headersTimeout: headersMs,
      requestTimeout: requestMs,
      connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(shortest / 4))),
    },
    (req, res) => handle(req, res, false),
  );
  // A client that half-closes after its requests (RFC 9112 §9.6) still gets
  // its responses, as on the native server; node:http would drop them.
  (server as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (!socket.writable || err.code === 'ECONNRESET' || inFlight?.headersSent) {
      // Nothing can be said: a response is already on the wire.
      socket.destroy();
      return;
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      // A connection that never sent a byte is owed nothing (RFC 9112
      // §9.5); a partial request gets 408 (RFC 9110 §15.5.9).
      if (socket.bytesRead === 0) {
        socket.destroy();
        return;
      }
      socket.end(`HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  });

  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new Error(`listen ${err.code ?? err.message} ${options.host}:${options.port}`));
    };
    server.once('error', onError);
    server.listen({ host: options.host, port: options.port, backlog: options.backlog }, () => {
      server.off('error', onError);
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : options.port;
      base.serverPort = String(port);
      const host = options.host;
      let closed: Promise<void> | null = null;
      resolve({
        kind: 'node',
        host,
        port,
        url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
        close() {
          closed ??= new Promise<void>((done) => {
            closing = true;
            // Requests in flight get gracefulTimeout; then every
            // connection still open is cut (their responses' 'close' ends
            // the bodies) and server.close() calls back.
            const gracefulMs = ms(limits.gracefulTimeout);
            const timer = gracefulMs > 0 ? setTimeout(() => server.closeAllConnections(), gracefulMs) : undefined;
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            server.closeIdleConnections();
          });
          return closed;
        },
      });
    });
  });
}
