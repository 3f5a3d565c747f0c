// server.ts: the reference server on node:http. Same contract as the native
// server; node:http does parsing and framing, the shared gateway does the rest.
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Application, BoundAddress, ErrorStream } from '../types.js';
import type { ListenTarget, ServingServer } from '../supervisor/binds.js';
import { tcpAddress } from '../native/server.js';
import { timerTickMs, type Limits } from '../settings.js';
import { makeEnviron, type EnvironBase } from '../gateway/environ.js';
import { bodiless, bodilessStatus, isToken, TOKEN } from '../gateway/http-rules.js';
import { emptyInput, Input } from '../gateway/input.js';
import { refusal, refusalBytes } from '../gateway/refusals.js';
import { runApplication } from '../gateway/response.js';
import { NodeSink } from './sink.js';
import { fileWrapper } from '../gateway/file-wrapper.js';

/** Options the reference server understands (a subset of ServeOptions). */
export interface NodeServerOptions {
  /** What to listen on: one node:http server each, sharing the handlers. */
  listeners: readonly ListenTarget[];
  /** Duplicates a descriptor (the addon's sockets.dup): node:net takes the
   * descriptor it listens on, the supervisor keeps its own. */
  dup?: (fd: number) => number;
  backlog: number;
  errors: ErrorStream;
  multiprocess: boolean;
  /** Limits and timeouts, defaults filled in. */
  limits: Limits;
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
export async function startNodeServer(app: Application, options: NodeServerOptions): Promise<ServingServer> {
  let closing = false;
  const isClosing = () => closing;
  /** The environ base of each listening http.Server (SERVER_NAME/PORT). */
  const bases = new Map<unknown, EnvironBase>();
  const baseOf = (serverName: string, serverPort: string): EnvironBase => ({
    serverName,
    serverPort,
    errors: options.errors,
    multiprocess: options.multiprocess,
    fileWrapper,
  });

  const sockets = new WeakMap<Socket, SocketState>();
  const stateOf = (socket: Socket): SocketState => {
    let st = sockets.get(socket);
    if (!st) {
      st = { outstanding: 0, closes: false, refused: false, pending: 0 };
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
    const environ = makeEnviron(
      bases.get((socket as Socket & { server?: unknown }).server) ?? bases.values().next().value!,
      req.method ?? 'GET',
      req.url ?? '/',
      `HTTP/${req.httpVersion}`,
      flatHeaders(req),
      socket.remoteAddress ?? '',
      socket.remotePort === undefined ? '' : String(socket.remotePort),
      input,
    );
    runApplication(app, environ, new NodeSink(res, isClosing, limits.sendTimeout * 1000), options.errors);
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

  /** Another http.Server with the same options and handlers as `server`
   * (one per listener: a net.Server listens on one handle). */
  const twin = (): HttpServer => {
    const other = createServer(
      { maxHeaderSize: limits.maxHeaderSize + limits.maxUrlSize + kRequestLineRoom, keepAliveTimeout: server.keepAliveTimeout, headersTimeout: server.headersTimeout, requestTimeout: server.requestTimeout, connectionsCheckingInterval: timerTickMs([headersMs, requestMs]) },
    );
    (other as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
    other.maxHeadersCount = server.maxHeadersCount;
    for (const event of ['request', 'checkContinue', 'clientError', 'connect', 'checkExpectation']) {
      for (const listener of server.listeners(event)) other.on(event, listener as (...args: unknown[]) => void);
    }
    return other;
  };
  const servers: (HttpServer | undefined)[] = [];
  const addresses: (BoundAddress | undefined)[] = [];
  const closedOf = new Map<HttpServer, Promise<void>>();
  const listenOn = (srv: HttpServer, target: ListenTarget): Promise<BoundAddress> =>
    new Promise((resolve, reject) => {
      const where = target.kind === 'tcp' ? `${target.host}:${target.port}` : target.kind === 'unix' ? `unix:${target.path}` : `fd://${target.fd}`;
      const onError = (err: NodeJS.ErrnoException) => reject(new Error(`listen ${err.code ?? err.message} ${where}`));
      srv.once('error', onError);
      const done = () => {
        srv.off('error', onError);
        if (target.kind === 'fd') {
          bases.set(srv, baseOf(target.serverName, target.serverPort));
          resolve(target.address);
        } else if (target.kind === 'unix') {
          bases.set(srv, baseOf(target.path, ''));
          resolve({ kind: 'unix', host: target.path, port: 0, url: `unix:${target.path}` });
        } else {
          const address = srv.address();
          const port = typeof address === 'object' && address !== null ? address.port : target.port;
          bases.set(srv, baseOf(target.host, String(port)));
          resolve(tcpAddress(target.host, port));
        }
      };
      if (target.kind === 'tcp') srv.listen({ host: target.host, port: target.port, backlog: options.backlog }, done);
      else if (target.kind === 'fd') srv.listen({ fd: options.dup ? options.dup(target.fd) : target.fd, backlog: options.backlog }, done);
      else {
        // process.umask is the main thread's only; node:net binds at once.
        const old = target.umask >= 0 ? process.umask(target.umask) : -1;
        try {
          srv.listen({ path: target.path, backlog: options.backlog }, done);
        } finally {
          if (old >= 0) process.umask(old);
        }
      }
    });
  const open = async (target: ListenTarget): Promise<number> => {
    const srv = servers.length === 0 ? server : twin();
    const index = servers.length;
    servers.push(srv);
    try {
      addresses[index] = await listenOn(srv, target);
    } catch (err) {
      servers[index] = undefined;
      throw err;
    }
    return index;
  };
  /** Stops listening; resolves when its last connection is gone. */
  const stop = (srv: HttpServer): Promise<void> => {
    let p = closedOf.get(srv);
    if (!p) {
      p = new Promise<void>((done) => srv.close(() => done()));
      closedOf.set(srv, p);
    }
    return p;
  };
  try {
    for (const target of options.listeners) await open(target);
  } catch (err) {
    for (const srv of servers) if (srv?.listening) srv.close();
    throw err;
  }
  const first = addresses[0]!;
  let closed: Promise<void> | null = null;
  const serving: ServingServer = {
    kind: 'node',
    host: first.host,
    port: first.port,
    url: first.url,
    get addresses() {
      return addresses.filter((a): a is BoundAddress => a !== undefined);
    },
    close() {
      closed ??= new Promise<void>((done) => {
        closing = true;
        // Requests in flight get gracefulTimeout; then every
        // connection still open is cut (their responses' 'close' ends
        // the bodies) and server.close() calls back.
        const all = servers.filter((srv): srv is HttpServer => srv !== undefined);
        const gracefulMs = ms(limits.gracefulTimeout);
        const timer = gracefulMs > 0 ? setTimeout(() => all.forEach((srv) => srv.closeAllConnections()), gracefulMs) : undefined;
        void Promise.all(all.map(stop)).then(() => {
          clearTimeout(timer);
          done();
        });
        for (const srv of all) srv.closeIdleConnections();
      });
      return closed;
    },
    drain() {
      // node:http's close() closes idle keep-alive connections itself
      // (Node 19 and later): the reference server cannot leave them open.
      return serving.close();
    },
    adopt(target: ListenTarget) {
      // The supervisor only hands descriptors, which node:net opens at once.
      const index = servers.length;
      void open(target).catch((err: unknown) => options.errors.write(`tsgi: ${String(err)}\n`));
      return index;
    },
    release(index: number) {
      const srv = servers[index];
      if (srv === undefined) return;
      addresses[index] = undefined;
      void stop(srv);
    },
    setMultiprocess(value: boolean) {
      for (const base of bases.values()) base.multiprocess = value;
    },
  };
  return serving;
}
