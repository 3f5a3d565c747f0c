// node-listener.ts: toNodeListener, a TSGI application as a node:http
// 'request' listener or Express/Connect middleware. The host server owns
// parsing, limits and timeouts; the environ mapping and the response driver
// are the reference server's (src/gateway/, src/node/sink.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Application, ErrorStream } from '../types.js';
import { decodePath, makeEnviron, type EnvironBase } from '../gateway/environ.js';
import { stderrStream } from '../gateway/errors.js';
import { fileWrapper } from '../gateway/file-wrapper.js';
import { emptyInput, Input } from '../gateway/input.js';
import { requestHasBody } from '../gateway/http-rules.js';
import { runApplication } from '../gateway/response.js';
import { NodeSink } from '../node/sink.js';

/** Options of {@link toNodeListener}. */
export interface NodeListenerOptions {
  /** Where `tsgi.errors` and application failures go (default stderr). */
  errors?: ErrorStream;
  /** `tsgi.multiprocess` (default false). */
  multiprocess?: boolean;
  /** Seconds a response may wait for a client that does not read before
   * the socket is cut (default 60; 0 disables). */
  sendTimeout?: number;
}

/** What Express and Connect add to a request they route. */
interface RoutedRequest extends IncomingMessage {
  originalUrl?: string;
  baseUrl?: string;
}

/** A node:http listener that is also Express/Connect middleware. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

const never = () => false;

/**
 * The mount point of a routed request: Express's `req.baseUrl`, else the
 * part of `originalUrl`'s path that Connect stripped from `url`.
 */
function mountPoint(req: RoutedRequest): string {
  if (typeof req.baseUrl === 'string') return req.baseUrl;
  const original = req.originalUrl;
  const url = req.url ?? '/';
  if (typeof original !== 'string' || original === url) return '';
  const pathOf = (u: string) => {
    const q = u.indexOf('?');
    return q < 0 ? u : u.slice(0, q);
  };
  const full = pathOf(original);
  const rest = pathOf(url);
  const tail = rest === '/' && !full.endsWith('/') ? '' : rest;
  return full.endsWith(tail) ? full.slice(0, full.length - tail.length) : '';
}

/**
 * Mounts a TSGI application on a `node:http`/`node:https` server, or on an
 * Express or Connect app. Mounted under a path, `SCRIPT_NAME` is the mount
 * point and `PATH_INFO` the rest (PEP 3333 mounting); `REQUEST_URI` stays
 * the URL the client sent. `tsgi.url_scheme` is `https` on a TLS socket.
 * The request body streams with backpressure; `close()` of the body runs
 * when the response ends or the client goes away.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import express from 'express';
 * import { toNodeListener } from 'tsgi';
 *
 * createServer(toNodeListener(app)).listen(8000);
 * // or, under a path of an Express app (SCRIPT_NAME = "/tsgi"):
 * express().use('/tsgi', toNodeListener(app)).listen(8001);
 * ```
 */
export function toNodeListener(app: Application, options: NodeListenerOptions = {}): NodeListener {
  if (typeof app !== 'function') {
    throw new TypeError(`toNodeListener: the application must be a function, got ${app === null ? 'null' : typeof app}`);
  }
  const errors = options.errors ?? stderrStream;
  const sendMs = Math.ceil((options.sendTimeout ?? 60) * 1000);
  const base: EnvironBase = {
    serverName: '',
    serverPort: '',
    errors,
    multiprocess: options.multiprocess ?? false,
    fileWrapper,
  };
  return (incoming, res) => {
    const req = incoming as RoutedRequest;
    const socket = req.socket;
    const hasBody = requestHasBody(req.headers);
    let input: Input | typeof emptyInput = emptyInput;
    if (hasBody) {
      const body = new Input({ start() {}, pause: () => req.pause(), resume: () => req.resume() });
      req.on('data', (chunk: Buffer) => body.push(chunk));
      req.on('end', () => body.end());
      req.on('close', () => {
        if (!req.complete) body.fail(new Error('tsgi: the client closed the connection before the body was complete'));
      });
      res.on('finish', () => body.discard());
      input = body;
    }
    base.serverName = socket.localAddress ?? '';
    base.serverPort = String(socket.localPort ?? '');
    const environ = makeEnviron(
      base,
      req.method ?? 'GET',
      req.url ?? '/',
      `HTTP/${req.httpVersion}`,
      req.rawHeaders,
      socket.remoteAddress ?? '',
      String(socket.remotePort ?? 0),
      input,
      null,
    );
    const mount = mountPoint(req);
    if (mount !== '') {
      environ.SCRIPT_NAME = decodePath(mount);
      // Express hands the mounted app "/" for the mount point itself.
      if (environ.PATH_INFO === '/' && req.originalUrl !== undefined && !/^[^?]*\/(?:\?|$)/.test(req.originalUrl)) {
        environ.PATH_INFO = '';
      }
    }
    if (req.originalUrl !== undefined) environ.REQUEST_URI = req.originalUrl;
    if ((socket as TLSSocket).encrypted) environ['tsgi.url_scheme'] = 'https';
    runApplication(app, environ, new NodeSink(res, never, sendMs), errors, null);
  };
}
