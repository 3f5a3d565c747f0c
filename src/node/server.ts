// server.ts: the reference server on node:http. Same contract as the native
// server; node:http does parsing and framing, the shared gateway does the rest.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Application, ErrorStream, Server } from '../types.js';
import { timerTickMs, type Limits } from '../settings.js';
import { makeEnviron, type EnvironBase } from '../gateway/environ.js';
import { bodiless, bodilessStatus, isToken, TOKEN } from '../gateway/http-rules.js';
import { emptyInput, Input } from '../gateway/input.js';
import { refusal, refusalBytes } from '../gateway/refusals.js';
import { runApplication, type SinkWrapper } from '../gateway/response.js';
import { NodeSink } from './sink.js';
import { fileWrapper } from '../gateway/file-wrapper.js';
import type { ProxyTrust } from '../gateway/forwarded.js';
import { MetricsCounter } from '../metrics/count.js';
import type { BaseServer } from '../native/server.js';
import { performance } from 'node:perf_hooks';
import { readProxyHeader, type ProxyAddress } from './proxy-protocol.js';

/** Options the reference server understands (a subset of ServeOptions). */
export interface NodeServerOptions {
  host: string;
  port: number;
  backlog: number;
  errors: ErrorStream;
  multiprocess: boolean;
  /** Limits and timeouts, defaults filled in. */
  limits: Limits;
  /** The access log, or null. */
  accessLog: SinkWrapper | null;
  /** The trusted front-ends (forwardedAllowIps). */
  trust: ProxyTrust;
  /** The metrics block to count into, or null. */
  metrics: Float64Array | null;
  /** The PROXY header expected from trusted front-ends, or 'off'. */
  proxyProtocol: 'off' | 'v1' | 'v2' | 'auto';
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

/** The ready-made response for `code` (src/gateway/refusals.ts). */
const readyResponse = (code: number): string => refusalBytes(code);

/** Per-socket bookkeeping: responses not yet finished, whether one of them
 * closes the connection, and a refusal waiting for them. */
interface SocketState {
  outstanding: number;
  closes: boolean;
  refused: boolean;
  pending: number;
  /** The server's ProxyTrust when the peer is a trusted front-end. */
  trust: ProxyTrust | null;
  /** Bytes of the socket already counted in the metrics. */
  bytesIn: number;
  bytesOut: number;
}

// Host = uri-host [ ":" port ] (RFC 9110 section 7.2, RFC 3986 section 3.2.2).
const HOST = /^(?:\[[0-9A-Za-z:.!$&'()*+,;=_~-]+\]|[0-9A-Za-z._~%!$&'()*+,;=-]*)(?::[0-9]*)?$/;

/** The status a request head deserves beyond what node:http checks, or 0. */
function checkHead(req: IncomingMessage, limits: Limits): number {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) return 505;
  if ((req.url ?? '').length > limits.maxUrlSize) return 414;
  const raw = req.rawHeaders;
  if (raw.length / 2 > limits.maxHeaderCount) return 431;
  let hosts = 0;
  const codings: string[] = [];
  let te = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === 'host') {
      hosts++;
      if (!HOST.test(value)) return 400;
    } else if (name === 'transfer-encoding') {
      te = true;
      for (const c of value.split(',')) codings.push(c.trim().toLowerCase());
    }
  }
  if (hosts > 1 || (req.httpVersionMinor === 1 && hosts === 0)) return 400;
  if (te) {
    if (req.httpVersionMinor === 0) return 400;
    if (codings.some((c) => !TOKEN.test(c))) return 400;
    if (codings[codings.length - 1] !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1) return 400;
    if (codings.length > 1) return 501;
  }
  const cl = req.headers['content-length'];
  if (cl !== undefined && Number(cl) > limits.maxBodySize) return 413;
  return 0;
}

// The bytes of a request line besides its target: the longest method the
// native scanner accepts (32), two spaces, "HTTP/1.1" and CRLF, rounded up.
const kRequestLineRoom = 64;

/** The size of a header section as the native server counts it (names,
 * colons, values, line ends, the final CRLF), from node:http's raw headers;
 * whitespace around a value counts as the one space node:http leaves. */
function headerSectionSize(raw: string[]): number {
  let size = 2;
  for (let i = 0; i < raw.length; i += 2) size += raw[i]!.length + raw[i + 1]!.length + 4;
  return size;
}

/** Starts the reference server. */
export function startNodeServer(app: Application, options: NodeServerOptions): Promise<BaseServer> {
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
  /** What the PROXY header of a socket said (proxy-protocol.ts). */
  const proxied = new WeakMap<Socket, ProxyAddress>();
  const stateOf = (socket: Socket): SocketState => {
    let st = sockets.get(socket);
    if (!st) {
      const peer = proxied.get(socket)?.source ?? socket.remoteAddress ?? '';
      const trust = options.trust.trusts(peer) ? options.trust : null;
      st = { outstanding: 0, closes: false, refused: false, pending: 0, trust, bytesIn: 0, bytesOut: 0 };
      sockets.set(socket, st);
    }
    return st;
  };
  /** Sends the ready-made response once every earlier one has finished;
   * nothing when an earlier response closes the connection anyway. */
  const metrics = options.metrics === null ? null : new MetricsCounter(options.metrics);
  /** The socket's bytes since they were last counted. */
  const countBytes = (socket: Socket, st: SocketState) => {
    if (metrics === null) return;
    const read = socket.bytesRead;
    const written = socket.bytesWritten - socket.writableLength;
    metrics.bytes(read - st.bytesIn, written - st.bytesOut);
    st.bytesIn = read;
    st.bytesOut = written;
  };
  const refuseSocket = (socket: Socket, code: number) => {
    const st = stateOf(socket);
    if (st.refused) return;
    metrics?.parseError(code);
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
    metrics?.parseError(code);
    // The same bytes as readyResponse(): Date first, then the table's
    // headers in order, nothing added by node:http.
    const r = refusal(code);
    res.sendDate = false;
    res.writeHead(r.code, r.status.slice(4), ['Date', new Date().toUTCString(), ...r.headers.flat()]);
    res.end(r.body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
    const socket = req.socket;
    const st = stateOf(socket);
    // Nothing after a refused request reaches the application.
    if (st.refused) return;
    const refusal = headerSectionSize(req.rawHeaders) > options.limits.maxHeaderSize ? 431 : checkHead(req, options.limits);
    if (refusal !== 0) {
      refuseRequest(req, res, refusal);
      return;
    }
    st.outstanding++;
    if (!res.shouldKeepAlive) st.closes = true;
    res.once('close', () => {
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
      // A chunked body that grows past maxBodySize (a declared one was
      // refused above): 413 if the response has not started, else a cut.
      let received = 0;
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > options.limits.maxBodySize) {
          body.fail(new Error(`tsgi: the request body is larger than maxBodySize (${options.limits.maxBodySize} bytes)`));
          st.refused = true;
          metrics?.parseError(413);
          if (res.headersSent || !socket.writable) socket.destroy();
          else socket.end(readyResponse(413));
          return;
        }
        body.push(chunk);
      });
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
    const proxy = proxied.get(socket);
    const environ = makeEnviron(
      base,
      req.method ?? 'GET',
      req.url ?? '/',
      `HTTP/${req.httpVersion}`,
      flatHeaders(req),
      proxy?.source ?? socket.remoteAddress ?? '',
      String(proxy?.sourcePort ?? socket.remotePort ?? 0),
      input,
      st.trust,
    );
    if (proxy !== undefined && environ.SERVER_PORT === base.serverPort) environ.SERVER_PORT = String(proxy.destinationPort);
    if (metrics !== null) {
      const started = performance.now();
      const method = environ.REQUEST_METHOD;
      res.once('close', () => {
        if (res.headersSent) metrics.response(method, res.statusCode, (performance.now() - started) / 1000);
        countBytes(socket, st);
      });
    }
    runApplication(app, environ, new NodeSink(res, isClosing, limits.sendTimeout * 1000), options.errors, options.accessLog);
  };

  const limits = options.limits;
  const ms = (seconds: number) => Math.ceil(seconds * 1000);
  const requestMs = ms(limits.requestTimeout);
  // node:http refuses a headers timeout above the request timeout; the
  // request timeout bounds the head anyway.
  const headersMs = requestMs > 0 && limits.headersTimeout > 0 ? Math.min(ms(limits.headersTimeout), requestMs) : ms(limits.headersTimeout);
  const server = createServer(
    {
      // The limits node:http has; see README, "Limits and security".
      // node:http counts the request line in its header limit: room for
      // the longest allowed target, so that maxUrlSize is the limit of the
      // target (414, checkHead) and maxHeaderSize that of the fields (431,
      // headerSectionSize), as on the native server.
      maxHeaderSize: limits.maxHeaderSize + limits.maxUrlSize + kRequestLineRoom,
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
      connectionsCheckingInterval: timerTickMs([headersMs, requestMs]),
    },
    (req, res) => handle(req, res, false),
  );
  // A client that half-closes after its requests (RFC 9112 §9.6) still gets
  // its responses, as on the native server; node:http would drop them.
  (server as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  const mode = options.proxyProtocol;
  if (mode !== 'off') {
    // From a trusted front-end, the PROXY header is read before node:http
    // sees a byte: node:http's own 'connection' listener (the one it adds
    // when the server is made) gets the socket once the header is read,
    // with what followed the header put back on it.
    const nodeListeners = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    const toNode = (socket: Socket) => {
      for (const l of nodeListeners) l.call(server, socket);
    };
    server.on('connection', (socket: Socket) => {
      if (!options.trust.trusts(socket.remoteAddress ?? '')) {
        toNode(socket);
        return;
      }
      readProxyHeader(socket, mode, headersMs, (address) => {
        if (address !== null) proxied.set(socket, address);
        toNode(socket);
      });
    });
  }
  if (metrics !== null) {
    let open = 0;
    server.on('connection', (socket: Socket) => {
      metrics.accepted(++open);
      socket.once('close', () => {
        metrics.closed(--open);
        countBytes(socket, stateOf(socket));
      });
    });
  }
  server.maxHeadersCount = options.limits.maxHeaderCount + 1;
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
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
      } else {
        // Not after the responses in flight, as other refusals: the one in
        // flight is this request's own, waiting for the body that stalled.
        stateOf(socket).refused = true;
        metrics?.parseError(408);
        socket.end(readyResponse(408));
      }
      return;
    }
    let code = 400;
    if (err.code === 'HPE_HEADER_OVERFLOW') code = 431;
    else if (err.code === 'HPE_PAUSED_H2_UPGRADE') code = 505;
    else if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') code = 413;
    else if (err.code === 'HPE_INVALID_VERSION' || err.code === 'HPE_INVALID_METHOD') {
      const packet = err.rawPacket?.toString('latin1') ?? '';
      const at = Math.min((err as { bytesParsed?: number }).bytesParsed ?? 0, packet.length);
      if (err.code === 'HPE_INVALID_METHOD') {
        // An unknown method is a token; a TLS handshake, say, is not.
        if (isToken(packet.charAt(at))) code = 501;
      } else {
        // A well-formed version other than 1.0 or 1.1 is 505; junk is 400.
        const start = packet.lastIndexOf('\n', at) + 1;
        const end = packet.indexOf('\r\n', start);
        const line = end < 0 ? '' : packet.slice(start, end);
        if (/^\S+ \S+ HTTP\/\d\.\d$/.test(line)) code = 505;
      }
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
