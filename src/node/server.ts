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

/** A response on a node:http ServerResponse. */
class NodeSink implements Sink {
  gone = false;
  private declared = -1;
  private written = 0;
  private waiters: (() => void)[] = [];
  readonly sendFile = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly closing: () => boolean,
  ) {
    res.on('drain', () => this.wake());
    res.on('close', () => {
      if (!res.writableFinished) this.gone = true;
      this.wake();
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
    return this.res.write(chunk);
  }

  end(): void {
    if (this.gone || this.res.destroyed) return;
    this.res.end();
    this.checkShort();
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
    runApplication(app, environ, new NodeSink(res, isClosing), options.errors);
  };

  const server = createServer(
    {
      // The limits node:http has; see README, "Limits and security".
      maxHeaderSize: options.limits.maxHeaderSize,
      keepAliveTimeout: options.limits.keepAliveTimeout * 1000,
      headersTimeout: options.limits.headersTimeout * 1000,
      requestTimeout: options.limits.requestTimeout * 1000,
    },
    (req, res) => handle(req, res, false),
  );
  // A client that half-closes after its requests (RFC 9112 §9.6) still gets
  // its responses, as on the native server; node:http would drop them.
  (server as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
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
            server.close(() => done());
            server.closeIdleConnections();
          });
          return closed;
        },
      });
    });
  });
}
