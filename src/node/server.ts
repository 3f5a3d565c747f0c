// server.ts: the reference server on node:http. Same contract as the native
// server; node:http does parsing and framing, the shared gateway does the rest.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Application, BoundAddress, ErrorStream } from '../types.js';
import type { ListenTarget, ServingServer } from '../supervisor/binds.js';
import { tcpAddress } from '../native/server.js';
import { OUTPUT_HIGH_WATER } from '../native/binding.js';
import { timerTickMs, type Limits } from '../settings.js';
import { environOf, walkHeaders, type EnvironBase } from '../gateway/environ.js';
import { emptyInput, Input, type InputHooks } from '../gateway/input.js';
import { refusal, refusalBytes } from '../gateway/refusals.js';
import { runApplication, type SinkWrapper } from '../gateway/response.js';
import { NodeSink, SinkResponse } from './sink.js';
import { requestClass, type ServerRequest } from './request.js';
import { batchWrites } from './write-batch.js';
import { fileWrapper } from '../gateway/file-wrapper.js';
import type { ProxyTrust } from '../gateway/forwarded.js';
import { MetricsCounter } from '../metrics/count.js';
import { performance } from 'node:perf_hooks';
import { readProxyHeader, type ProxyAddress } from './proxy-protocol.js';
import { isLingering, lingerOnClose } from './linger.js';
import { bodyError, BodyFailure } from '../gateway/body-error.js';
import { badTrailers, checkHead, headFacts, requestLineStatus } from './strict.js';

/** A node:http server whose requests are ServerRequests and whose
 * responses are SinkResponses. */
type HttpServer = Server<typeof IncomingMessage, typeof SinkResponse>;

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
  /** The access log, or null. */
  accessLog: SinkWrapper | null;
  /** The trusted front-ends (forwardedAllowIps). */
  trust: ProxyTrust;
  /** The metrics block to count into, or null. */
  metrics: Float64Array | null;
  /** The PROXY header expected from trusted front-ends, or 'off'. */
  proxyProtocol: 'off' | 'v1' | 'v2' | 'auto';
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
  /** The newest request while its body is still arriving. */
  reading: Reading | null;
  /** REMOTE_ADDR and REMOTE_PORT (the PROXY header's, if any): the same
   * for every request of the connection. */
  remoteAddr: string;
  remotePort: string;
  /** The environ base of the listener it came through. */
  base: EnvironBase;
  /** SERVER_PORT from the PROXY header, or null. */
  proxyPort: string | null;
}

/** Where a socket keeps its SocketState (stateOf in startNodeServer): a
 * socket is accepted by one http.Server, so by one reference server. */
const kSocketState = Symbol('tsgi.socketState');
type StatefulSocket = Socket & { [kSocketState]?: SocketState };

/** A request whose body is being received (BodyReading). */
interface Reading {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly sink: NodeSink;
  readonly body: Input;
  /** Its body failed: nothing more of it reaches the application. */
  failed: boolean;
  /** Its response no longer counts in `outstanding` (replaced). */
  replaced: boolean;
}

/** node:http's own bound on the chunk extensions of one chunk
 * (kMaxChunkExtensionsSize in its parser binding); not configurable. */
const NODE_CHUNK_EXTENSION_LIMIT = 16 * 1024;

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

  /** What the PROXY header of a socket said (proxy-protocol.ts). */
  const proxied = new WeakMap<Socket, ProxyAddress>();
  /** The state of a socket of this server's, made at its first request
   * (or refusal) and kept on the socket itself (kSocketState): a property
   * load per request, where a WeakMap is a hash lookup. */
  const stateOf = (socket: Socket): SocketState => (socket as StatefulSocket)[kSocketState] ?? newState(socket as StatefulSocket);
  const newState = (socket: StatefulSocket): SocketState => {
    const proxy = proxied.get(socket);
    const peer = proxy?.source ?? socket.remoteAddress ?? '';
    const trust = options.trust.trusts(peer) ? options.trust : null;
    const remotePort = proxy !== undefined ? String(proxy.sourcePort) : socket.remotePort === undefined ? '' : String(socket.remotePort);
    const base = bases.get((socket as Socket & { server?: unknown }).server) ?? bases.values().next().value!;
    const proxyPort = proxy !== undefined ? String(proxy.destinationPort) : null;
    const state: SocketState = { outstanding: 0, closes: false, refused: false, pending: 0, reading: null, trust, bytesIn: 0, bytesOut: 0, remoteAddr: peer, remotePort, base, proxyPort };
    socket[kSocketState] = state;
    socket.once('close', () => connectionClosed(state));
    return state;
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
    // (destroySoon is the lingering close: see linger.ts.)
    socket.write(readyResponse(code));
    socket.destroySoon();
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

  /**
   * The body of the newest request cannot complete (RFC 9112 section 7.1,
   * maxBodySize, requestTimeout): its application's input fails with the
   * reason, and the ready-made response takes the place of its response,
   * after the earlier ones, unless that has begun: then the connection is
   * cut. As on the native server.
   */
  const failBody = (socket: Socket, st: SocketState, reading: Reading, code: number, failure: BodyFailure) => {
    metrics?.parseError(code);
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

  /**
   * A request whose body is being received: node:http's 'data' and 'end'
   * fed into the input the application reads, and the input's hooks
   * (100 Continue, pause and resume). That the connection closes before
   * the body is complete is heard once per connection (stateOf).
   */
  class BodyReading implements Reading, InputHooks {
    readonly body: Input;
    /** Its body failed: nothing more of it reaches the application. */
    failed = false;
    /** Its response no longer counts in `outstanding` (replaced). */
    replaced = false;
    private continued: boolean;
    /** Bytes of a chunked body so far (a declared one too large was
     * refused by checkHead). */
    private received = 0;

    constructor(
      readonly req: IncomingMessage,
      readonly res: ServerResponse,
      readonly sink: ServerSink,
      private readonly socket: Socket,
      private readonly st: SocketState,
      expectContinue: boolean,
    ) {
      this.continued = !expectContinue;
      this.body = new Input(this);
      req.on('data', (chunk: Buffer) => this.data(chunk));
      req.on('end', () => this.end());
    }

    start(): void {
      if (this.continued) return;
      this.continued = true;
      if (!this.res.headersSent && !this.res.destroyed) this.res.writeContinue();
    }

    pause(): void {
      this.req.pause();
    }

    resume(): void {
      this.req.resume();
    }

    private data(chunk: Buffer): void {
      if (this.failed) return;
      this.received += chunk.length;
      if (this.received > options.limits.maxBodySize) {
        failBody(this.socket, this.st, this, 413, BodyFailure.TooLarge);
        return;
      }
      this.body.push(chunk);
    }

    private end(): void {
      if (this.failed) return;
      const req = this.req;
      if (badTrailers(req)) {
        failBody(this.socket, this.st, this, 400, BodyFailure.Malformed);
        return;
      }
      // node:http's own bound is maxHeaderSize plus room for the request
      // line (see createServer below): the trailer section's is ours.
      if (headerSectionSize(req.rawTrailers) > options.limits.maxHeaderSize || req.rawTrailers.length / 2 > options.limits.maxHeaderCount) {
        failBody(this.socket, this.st, this, 431, BodyFailure.TrailersTooLarge);
        return;
      }
      if (this.st.reading === this) this.st.reading = null;
      this.body.end();
    }
  }

  /** The connection of `st` closed: a body still arriving is lost. */
  const connectionClosed = (st: SocketState) => {
    const reading = st.reading;
    st.reading = null;
    if (reading !== null && !reading.req.complete) reading.body.fail(bodyError(BodyFailure.Lost, options.limits, NODE_CHUNK_EXTENSION_LIMIT));
  };

  /** What checkHead found in the head being handled (synchronously). */
  const facts = headFacts();
  const sendMs = options.limits.sendTimeout * 1000;

  /** A response of this server: the sink, and in its one 'close' listener
   * the connection's bookkeeping, the end of its body and its metrics. */
  class ServerSink extends NodeSink {
    /** Its request's body while it is read, else null. */
    reading: Reading | null = null;
    /** performance.now() at the request, for the metrics (else 0). */
    startedAt = 0;
    method = '';

    constructor(
      res: ServerResponse,
      private readonly socket: Socket,
      private readonly st: SocketState,
    ) {
      super(res, isClosing, sendMs);
    }

    override closed(): void {
      super.closed();
      const { socket, st, reading } = this;
      // A body the application left unread: node:http reads the rest of it
      // and throws it away (requestTimeout bounds that), and keeps the
      // connection; it may even not have parsed a body it has received.
      if (reading !== null) reading.body.discard();
      if (reading === null || !reading.replaced) {
        st.outstanding--;
        if (st.outstanding === 0 && st.pending !== 0) flushRefusal(socket, st);
        // A keep-alive connection whose response ends while closing (or
        // after the input a closing request was followed by) closes then.
        else if (closing || (st.closes && st.outstanding === 0)) socket.destroySoon();
      }
      if (metrics !== null) {
        const res = this.res;
        if (res.headersSent) metrics.response(this.method, res.statusCode, (performance.now() - this.startedAt) / 1000);
        countBytes(socket, st);
      }
    }
  }

  const handle = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
    const socket = req.socket;
    const st = stateOf(socket);
    // Nothing after a refused or a closing request reaches the application,
    // nor after a response that ended the socket (a cut body, NodeSink):
    // its write after the end would destroy the socket with the cut
    // response's bytes still queued.
    if (st.refused || st.closes || !socket.writable) return;
    const raw = req.rawHeaders;
    if (headerSectionSize(raw) > options.limits.maxHeaderSize) {
      refuseRequest(req, res, 431);
      return;
    }
    // The names are walked before checkHead, which learns from the shape
    // where the fields it checks are (node:http bounds their number by
    // maxHeadersCount).
    // (Walked already when node:http read `headers`, request.ts: kept
    // when its values stay in `raw`, since a walk of another shape reuses
    // shapeValues.)
    const walked = (req as ServerRequest).shape;
    const shape = walked !== undefined && (walked === null || walked.direct) ? walked : walkHeaders(raw);
    const refusal = checkHead(req, options.limits, facts, shape);
    if (refusal !== 0) {
      refuseRequest(req, res, refusal);
      return;
    }
    // A response behind another of this connection's: pipelined, so the
    // batch's responses go out as one writev (write-batch.ts).
    if (++st.outstanding > 1) batchWrites(socket, sendMs);
    if (res.shouldKeepAlive && facts.close) res.shouldKeepAlive = false;
    if (!res.shouldKeepAlive) st.closes = true;
    const sink = new ServerSink(res, socket, st);
    let input: Input | typeof emptyInput = emptyInput;
    if (facts.hasBody) {
      const reading = new BodyReading(req, res, sink, socket, st, expectContinue);
      sink.reading = st.reading = reading;
      input = reading.body;
    }
    const base = st.base;
    const environ = environOf(
      shape,
      base,
      req.method ?? 'GET',
      req.url ?? '/',
      // checkHead let through HTTP/1.0 and HTTP/1.1 only.
      req.httpVersionMinor === 1 ? 'HTTP/1.1' : 'HTTP/1.0',
      raw,
      st.remoteAddr,
      st.remotePort,
      input,
      st.trust,
    );
    if (st.proxyPort !== null && environ.SERVER_PORT === base.serverPort) environ.SERVER_PORT = st.proxyPort;
    if (metrics !== null) {
      sink.startedAt = performance.now();
      sink.method = environ.REQUEST_METHOD;
    }
    runApplication(app, environ, sink, options.errors, options.accessLog);
  };

  const limits = options.limits;
  const ms = (seconds: number) => Math.ceil(seconds * 1000);
  const requestMs = ms(limits.requestTimeout);
  // node:http refuses a headers timeout above the request timeout; the
  // request timeout bounds the head anyway.
  const headersMs = requestMs > 0 && limits.headersTimeout > 0 ? Math.min(ms(limits.headersTimeout), requestMs) : ms(limits.headersTimeout);
  const httpOptions = {
    // Each response's 'close' reaches its sink without a listener.
    ServerResponse: SinkResponse,
    // node:http reads `headers` on every request: made per shape.
    IncomingMessage: requestClass(limits.maxHeaderCount + 1),
    // The limits node:http has; see README, "Limits and security".
    // node:http counts the request line in its header limit: room for
    // the longest allowed target, so that maxUrlSize is the limit of the
    // target (414, checkHead) and maxHeaderSize that of the fields (431,
    // headerSectionSize), as on the native server.
    maxHeaderSize: limits.maxHeaderSize + limits.maxUrlSize + kRequestLineRoom,
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
    connectionsCheckingInterval: timerTickMs([headersMs, requestMs]),
    // The sockets' high-water mark is the native server's (binding.ts):
    // node's default (16 KiB) makes a streamed body wait for 'drain'
    // every 16 KiB, one writev and one loop turn each (strace: 5 writes
    // for 64 KiB in 16 chunks, where the native server makes 2).
    highWaterMark: OUTPUT_HIGH_WATER,
  };
  const server = createServer(httpOptions, (req, res) => handle(req, res, false));
  // A client that half-closes after its requests (RFC 9112 §9.6) still gets
  // its responses, as on the native server; node:http would drop them.
  (server as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  const mode = options.proxyProtocol;
  let openSockets = 0;
  /** The PROXY header, the lingering close and the connection counts of
   * `srv` (the server, or a twin of it). */
  const wireConnections = (srv: HttpServer) => {
    if (mode !== 'off') {
      // From a trusted front-end, the PROXY header is read before node:http
      // sees a byte: node:http's own 'connection' listener (the one it adds
      // when the server is made) gets the socket once the header is read,
      // with what followed the header put back on it.
      const nodeListeners = srv.listeners('connection') as ((socket: Socket) => void)[];
      srv.removeAllListeners('connection');
      const toNode = (socket: Socket) => {
        for (const l of nodeListeners) l.call(srv, socket);
      };
      srv.on('connection', (socket: Socket) => {
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
    // Every socket closes by lingering (linger.ts), node:http's closes too.
    srv.on('connection', lingerOnClose);
    if (metrics !== null) {
      srv.on('connection', (socket: Socket) => {
        metrics.accepted(++openSockets);
        socket.once('close', () => {
          metrics.closed(--openSockets);
          countBytes(socket, stateOf(socket));
        });
      });
    }
  };
  wireConnections(server);
  server.maxHeadersCount = options.limits.maxHeaderCount + 1;
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    // A lingering socket's input is nobody's request (linger.ts).
    if (isLingering(socket)) return;
    const st = stateOf(socket);
    if (err.code === 'HPE_CLOSED_CONNECTION') {
      // Bytes after a request that closes the connection (its Connection
      // field, also one in its trailers, which node:http's keep-alive
      // does not see): they are discarded, as on the native server, and
      // the connection closes by lingering once the responses before
      // them are done. Destroying the socket would reset a response still
      // queued.
      st.closes = true;
      if (st.outstanding === 0) socket.destroySoon();
      return;
    }
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

  /** Another http.Server with the same options and handlers as `server`
   * (one per listener: a net.Server listens on one handle). */
  const twin = (): HttpServer => {
    const other = createServer(httpOptions);
    (other as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
    other.maxHeadersCount = server.maxHeadersCount;
    for (const event of ['request', 'checkContinue', 'clientError', 'connect', 'checkExpectation']) {
      for (const listener of server.listeners(event)) other.on(event, listener as (...args: unknown[]) => void);
    }
    wireConnections(other);
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
