// stats-server.ts: the `--stats-bind` endpoint: GET /metrics answers the
// Prometheus text of the blocks `sources()` returns at each scrape, on its
// own node:http server. In one process the main thread runs it next to the
// application; a supervisor runs it on its own thread with one block per
// worker (startStatsServer(bind, () => blocks)).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { lstatSync, unlinkSync } from 'node:fs';
import type { Bind } from '../supervisor/binds.js';
import { METRICS_CONTENT_TYPE, renderMetrics, type MetricsSource } from './render.js';

/** A running stats endpoint. */
export interface StatsServer {
  /** `127.0.0.1:9100`, `[::1]:9100` (the bound port), or `unix:/path`. */
  readonly address: string;
  readonly port: number | null;
  close(): Promise<void>;
}

/** True when something accepts connections on the unix socket `path`. */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Serves `/metrics` on `bind`. A unix socket left by a server that is gone
 * is replaced; one that a live server holds is refused (EADDRINUSE).
 *
 * @example
 * ```ts
 * const stats = await startStatsServer(parseBind('127.0.0.1:9100', 'statsBind'),
 *   () => [{ worker: '0', block }]);
 * ```
 */
export async function startStatsServer(bind: Exclude<Bind, { kind: 'fd' }>, sources: () => readonly MetricsSource[]): Promise<StatsServer> {
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Not Found: the metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Method Not Allowed\n');
      return;
    }
    let body: string;
    try {
      body = renderMetrics(sources());
    } catch (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`cannot render the metrics: ${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const server = createServer(handle);
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = () => {
        server.off('error', reject);
        resolve();
      };
      if (bind.kind === 'unix') server.listen(bind.path, done);
      else server.listen({ host: bind.host, port: bind.port }, done);
    });
  try {
    await listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (bind.kind !== 'unix' || code !== 'EADDRINUSE' || (await socketAlive(bind.path))) throw err;
    // A stale socket file (its server died): replace it.
    if (lstatSync(bind.path).isSocket()) unlinkSync(bind.path);
    await listen();
  }
  // Scrapes are short; an idle scraper's connection must not hold close().
  server.keepAliveTimeout = 5000;
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : null;
  const shown = bind.kind === 'tcp' ? `${bind.host.includes(':') ? `[${bind.host}]` : bind.host}:${port ?? bind.port}` : `unix:${bind.path}`;
  let closed: Promise<void> | null = null;
  return {
    address: shown,
    port,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
