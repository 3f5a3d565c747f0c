// server.ts: the reference server on node:http. Same contract as the native
// server; node:http does parsing and framing, the shared gateway does the rest.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Application, Chunk, ErrorStream, Header, Limits, Server } from '../types.js';
import { makeEnviron, type EnvironBase } from '../gateway/environ.js';
import { emptyInput, Input } from '../gateway/input.js';
import { runApplication, type Sink } from '../gateway/response.js';
import { fileWrapper } from '../gateway/file-wrapper.js';
import { bodyError, BodyFailure } from '../gateway/body-error.js';
import { asksClose, badTrailers, checkHead, requestLineStatus } from './strict.js';

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
  private detached = false;
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
    if (this.detached) return;
    this.gone = true;
    this.res.destroy();
    this.wake();
  }

  /** A ready-made response takes this one's place: whatever the
   * application still sends goes nowhere. */
  detach(): void {
    this.detached = true;
    this.gone = true;
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

// ---- Strict parsing on node:http ------------------------------------------
// node:http (llhttp 9) is strict about line endings and field syntax; the
// rules below are those it leaves to the server (see the skipped cases in
// test/hardening/strict.test.ts for what it cannot meet). A refused request
// gets a ready-made response with Connection: close after every earlier
// response on its connection, and nothing after it reaches the application.

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  505: 'HTTP Version Not Supported',
};

function readyResponse(code: number): string {
  const reason = REASONS[code] ?? 'Bad Request';
  return (
    `HTTP/1.1 ${code} ${reason}\r\nDate: ${new Date().toUTCString()}\r\nContent-Type: text/plain\r\n` +
    `Content-Length: ${reason.length + 1}\r\nConnection: close\r\n\r\n${reason}\n`
  );
}

/** Per-socket bookkeeping: responses not yet finished, whether one of them
 * closes the connection, and a refusal waiting for them. */
interface SocketState {
  outstanding: number;
  closes: boolean;
  refused: boolean;
  pending: number;
  /** The newest request while its body is still arriving. */
  reading: Reading | null;
}

/** A request whose body is being received. */
interface Reading {
  req: IncomingMessage;
  res: ServerResponse;
  sink: NodeSink;
  body: Input;
  /** Its body failed: nothing more of it reaches the application. */
  failed: boolean;
  /** Its response no longer counts in `outstanding` (replaced). */
  replaced: boolean;
}

/** node:http's own bound on the chunk extensions of one chunk
 * (kMaxChunkExtensionsSize in its parser binding); not configurable. */
const NODE_CHUNK_EXTENSION_LIMIT = 16 * 1024;

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

  const sockets = new WeakMap<Socket, SocketState>();
  const stateOf = (socket: Socket): SocketState => {
    let st = sockets.get(socket);
    if (!st) {
      st = { outstanding: 0, closes: false, refused: false, pending: 0, reading: null };
      sockets.set(socket, st);
    }
    return st;
  };
  /** Sends the ready-made response once every earlier one has finished;
   * nothing when an earlier response closes the connection anyway. */
  const refuseSocket = (socket: Socket, code: number) => {
    const st = stateOf(socket);
    if (st.refused) return;
    st.refused = true;
    st.pending = code;
    if (st.outstanding === 0) flushRefusal(socket, st);
  };
  const flushRefusal = (socket: Socket, st: SocketState) => {
    const code = st.pending;
    st.pending = 0;
    if (code === 0) return;
    if (st.closes || !socket.writable) {
      socket.destroySoon();
      return;
    }
    socket.end(readyResponse(code));
  };
  /** Refuses a request node:http parsed, through its own response. */
  const refuseRequest = (req: IncomingMessage, res: ServerResponse, code: number) => {
    const st = stateOf(req.socket);
    st.refused = true;
    const reason = REASONS[code] ?? 'Bad Request';
    res.writeHead(code, reason, {
      'Content-Type': 'text/plain',
      'Content-Length': String(reason.length + 1),
      Connection: 'close',
    });
    res.end(`${reason}\n`);
  };

  /**
   * The body of the newest request cannot complete (RFC 9112 section 7.1,
   * maxBodySize, requestTimeout): its application's input fails with the
   * reason, and the ready-made response takes the place of its response,
   * after the earlier ones, unless that has begun: then the connection is
   * cut. As on the native server.
   */
  const failBody = (socket: Socket, st: SocketState, reading: Reading, code: number, failure: BodyFailure) => {
    reading.failed = true;
    reading.body.fail(bodyError(failure, options.limits, NODE_CHUNK_EXTENSION_LIMIT));
    // node:http has parsed a later request already (its 'data' and 'end'
    // come when the application reads): it is queued behind this one.
    const newest = st.reading === reading;
    st.reading = null;
    if (!newest || reading.res.headersSent || !socket.writable) {
      socket.destroy();
      return;
    }
    reading.sink.detach();
    reading.replaced = true;
    st.outstanding--;
    st.refused = true;
    st.pending = code;
    if (st.outstanding === 0) flushRefusal(socket, st);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
    const socket = req.socket;
    const st = stateOf(socket);
    // Nothing after a refused or a closing request reaches the application.
    if (st.refused || st.closes) return;
    const refusal = checkHead(req, options.limits);
    if (refusal !== 0) {
      refuseRequest(req, res, refusal);
      return;
    }
    st.outstanding++;
    if (res.shouldKeepAlive && asksClose(req)) res.shouldKeepAlive = false;
    if (!res.shouldKeepAlive) st.closes = true;
    const sink = new NodeSink(res, isClosing, limits.sendTimeout * 1000);
    let reading: Reading | null = null;
    res.once('close', () => {
      if (reading?.replaced) return;
      st.outstanding--;
      if (st.outstanding === 0 && st.pending !== 0) flushRefusal(socket, st);
      // A keep-alive connection whose response ends while closing closes then.
      else if (closing) socket.destroySoon();
    });
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
      const r: Reading = { req, res, sink, body, failed: false, replaced: false };
      reading = st.reading = r;
      // A chunked body that grows past maxBodySize (a declared one was
      // refused above).
      let received = 0;
      req.on('data', (chunk: Buffer) => {
        if (r.failed) return;
        received += chunk.length;
        if (received > options.limits.maxBodySize) {
          failBody(socket, st, r, 413, BodyFailure.TooLarge);
          return;
        }
        body.push(chunk);
      });
      req.on('end', () => {
        if (r.failed) return;
        if (badTrailers(req)) {
          failBody(socket, st, r, 400, BodyFailure.Malformed);
          return;
        }
        if (st.reading === r) st.reading = null;
        body.end();
      });
      req.on('close', () => {
        if (st.reading === r) st.reading = null;
        if (!req.complete) body.fail(bodyError(BodyFailure.Lost, options.limits, NODE_CHUNK_EXTENSION_LIMIT));
      });
      // A body the application left unread: node:http reads the rest of it
      // and throws it away (requestTimeout bounds that), and keeps the
      // connection; it may even not have parsed a body it has received.
      res.on('finish', () => body.discard());
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
    runApplication(app, environ, sink, options.errors);
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
      // checkHead refuses a missing Host with the ready-made 400 and reads
      // nothing after it; node:http's own 400 would serve what follows.
      requireHostHeader: false,
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
  server.maxHeadersCount = options.limits.maxHeaderCount + 1;
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    const st = stateOf(socket);
    if (!socket.writable || err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE') {
      // The client is gone: nothing can be said (the input of a request
      // being read fails on its 'close').
      socket.destroy();
      return;
    }
    let code = 400;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') code = 408;
    else if (err.code === 'HPE_HEADER_OVERFLOW') code = 431;
    else if (err.code === 'HPE_PAUSED_H2_UPGRADE') code = 505;
    else if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') code = 413;
    else if (err.code === 'HPE_INVALID_VERSION' || err.code === 'HPE_INVALID_METHOD') {
      // 501 or 505 only for a well-formed request line, as on the native
      // server: a lone word, or a TLS handshake, is a 400.
      const packet = err.rawPacket?.toString('latin1') ?? '';
      const at = Math.min((err as { bytesParsed?: number }).bytesParsed ?? 0, packet.length);
      const start = packet.lastIndexOf('\n', at) + 1;
      const end = packet.indexOf('\r\n', start);
      code = requestLineStatus(end < 0 ? null : packet.slice(start, end));
    }
    if (st.reading !== null && !st.reading.req.complete) {
      // The body of the newest request broke off.
      const failure =
        code === 408
          ? BodyFailure.Timeout
          : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
            ? BodyFailure.ExtensionTooLarge
            : BodyFailure.Malformed;
      failBody(socket, st, st.reading, code, failure);
      return;
    }
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (inFlight?.headersSent) {
      // Nothing can be said: a response is already on the wire.
      socket.destroy();
      return;
    }
    if (code === 408) {
      // A connection that never sent a byte is owed nothing (RFC 9112
      // §9.5); a partial head gets 408 (RFC 9110 §15.5.9).
      if (socket.bytesRead === 0) socket.destroy();
      else refuseSocket(socket, 408);
      return;
    }
    // The responses to earlier pipelined requests go first.
    refuseSocket(socket, code);
  });
  // CONNECT asks for a tunnel, which a gateway does not offer.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => refuseSocket(socket, 501));
  // RFC 9110 section 10.1.1: only 100-continue is known.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    if (stateOf(req.socket).refused) return;
    refuseRequest(req, res, 417);
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
