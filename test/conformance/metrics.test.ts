// metrics.test.ts: `statsBind`'s /metrics (src/metrics/): after known
// traffic over real sockets, the Prometheus text says exactly what was
// done, on both servers (the native server counts in C++, the node server
// in JS, into one layout), per worker and in total.
import { request as httpRequest } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serve, type Application } from '../../src/index.js';
import { newMetricsBlock } from '../../src/metrics/layout.js';
import { startStatsServer } from '../../src/metrics/stats-server.js';
import { buildRequest, RawClient, request } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const dir = mkdtempSync(join(tmpdir(), 'tsgi-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const app: Application = (environ, startResponse) => {
  if (environ.PATH_INFO === '/boom') throw new Error('boom');
  if (environ.PATH_INFO === '/busy') {
    const end = Date.now() + 600;
    while (Date.now() < end) {
      // Blocks the event loop: what the lag gauge is for.
    }
  }
  if (environ.PATH_INFO === '/missing') {
    startResponse('404 Not Found', []);
    return ['no'];
  }
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return ['hello'];
};

type Scrape = Map<string, number>;

/** GETs `path` of a stats endpoint (TCP `host:port`, or `unix:PATH`). */
function fetchStats(where: string, path = '/metrics', method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
  const target = where.startsWith('unix:') ? { socketPath: where.slice(5) } : { host: where.slice(0, where.lastIndexOf(':')), port: Number(where.slice(where.lastIndexOf(':') + 1)) };
  return new Promise((resolve, reject) => {
    const req = httpRequest({ ...target, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Parses the text format: `name{labels} value` per series. */
function parse(text: string): Scrape {
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    out.set(m[1]! + (m[2] ?? ''), Number(m[3]));
  }
  return out;
}

async function scrape(where: string): Promise<Scrape> {
  const r = await fetchStats(where);
  expect(r.status).toBe(200);
  return parse(r.body);
}

const v = (s: Scrape, key: string): number => {
  const value = s.get(key);
  if (value === undefined) throw new Error(`no series ${key}`);
  return value;
};

forEachServer((kind) => {
  it('counts known traffic exactly: requests by method and class, durations, connections, bytes, parse errors', async () => {
    const { server, port } = await start(kind, app, { statsBind: '127.0.0.1:0' });
    expect(server.stats).toMatch(/^127\.0\.0\.1:\d+$/);
    let sentBytes = 0;
    let receivedBytes = 0;
    const one = async (data: Buffer | string, methods?: string[]) => {
      const { responses, client } = await request(port, data, { methods, keep: true });
      sentBytes += Buffer.byteLength(data);
      await client.waitFor(() => client.received > 0 && responses[0]!.complete);
      receivedBytes += client.received;
      client.destroy();
      return responses[0]!;
    };
    for (let i = 0; i < 3; i++) expect((await one(buildRequest('GET', '/'))).status).toBe(200);
    expect((await one(buildRequest('POST', '/missing', { body: 'x'.repeat(100) }))).status).toBe(404);
    expect((await one(buildRequest('HEAD', '/'), ['HEAD'])).status).toBe(200);
    expect((await one(buildRequest('GET', '/boom'))).status).toBe(500);
    expect((await one('GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n')).status).toBe(400);
    // Three pipelined requests on one connection.
    const c = await RawClient.connect(port);
    const three = Buffer.concat([buildRequest('GET', '/'), buildRequest('DELETE', '/missing'), buildRequest('GET', '/')]);
    await c.send(three, 'GET', 'DELETE', 'GET');
    await c.responses(3);
    sentBytes += three.length;
    receivedBytes += c.received;
    c.destroy();

    const s = await scrape(server.stats!);
    const w = '{worker="0",';
    expect(v(s, `tsgi_requests_total${w}method="GET",code="2xx"}`)).toBe(5);
    expect(v(s, `tsgi_requests_total${w}method="POST",code="4xx"}`)).toBe(1);
    expect(v(s, `tsgi_requests_total${w}method="HEAD",code="2xx"}`)).toBe(1);
    expect(v(s, `tsgi_requests_total${w}method="GET",code="5xx"}`)).toBe(1);
    expect(v(s, `tsgi_requests_total${w}method="DELETE",code="4xx"}`)).toBe(1);
    let total = 0;
    for (const [key, value] of s) if (key.startsWith(`tsgi_requests_total${w}`)) total += value;
    expect(total).toBe(9);
    expect(v(s, 'tsgi_requests_total{worker="all",method="GET",code="2xx"}')).toBe(5);
    // The histogram: cumulative buckets, +Inf = count = responses.
    expect(v(s, 'tsgi_request_duration_seconds_count{worker="0"}')).toBe(9);
    expect(v(s, 'tsgi_request_duration_seconds_bucket{worker="0",le="+Inf"}')).toBe(9);
    expect(v(s, 'tsgi_request_duration_seconds_sum{worker="0"}')).toBeGreaterThan(0);
    const buckets = [...s].filter(([k]) => k.startsWith('tsgi_request_duration_seconds_bucket{worker="0"')).map(([, n]) => n);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(v(s, 'tsgi_connections_accepted_total{worker="0"}')).toBe(8);
    expect(v(s, 'tsgi_parse_errors_total{worker="0",status="400"}')).toBe(1);
    expect(v(s, 'tsgi_parse_errors_total{worker="all",status="431"}')).toBe(0);
    // Every byte both ways (the scrape's own are on another server).
    expect(v(s, 'tsgi_received_bytes_total{worker="0"}')).toBe(sentBytes);
    expect(v(s, 'tsgi_sent_bytes_total{worker="0"}')).toBe(receivedBytes);
    // The connections are closed: the gauge comes back to 0.
    let open = -1;
    for (let i = 0; i < 50 && open !== 0; i++) {
      open = v(await scrape(server.stats!), 'tsgi_connections_open{worker="0"}');
      if (open !== 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(open).toBe(0);
  });

  it('serves the text format 0.0.4 at /metrics only, for GET and HEAD', async () => {
    const { server } = await start(kind, app, { statsBind: '127.0.0.1:0' });
    const ok = await fetchStats(server.stats!);
    expect(ok.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    // Every family has its HELP and TYPE, once.
    const types = ok.body.split('\n').filter((l) => l.startsWith('# TYPE '));
    expect(new Set(types).size).toBe(types.length);
    expect(types.map((l) => l.split(' ')[2])).toEqual([
      'tsgi_requests_total',
      'tsgi_request_duration_seconds',
      'tsgi_connections_accepted_total',
      'tsgi_connections_open',
      'tsgi_received_bytes_total',
      'tsgi_sent_bytes_total',
      'tsgi_parse_errors_total',
      'tsgi_event_loop_lag_seconds',
      'tsgi_event_loop_lag_max_seconds',
      'tsgi_worker_restarts_total',
      'tsgi_worker_timeouts_total',
    ]);
    expect((await fetchStats(server.stats!, '/')).status).toBe(404);
    expect((await fetchStats(server.stats!, '/metrics', 'POST')).status).toBe(405);
    const head = await fetchStats(server.stats!, '/metrics', 'HEAD');
    expect(head).toMatchObject({ status: 200, body: '' });
  });

  it('shows a blocked event loop in the lag gauges', async () => {
    const { server, port } = await start(kind, app, { statsBind: '127.0.0.1:0' });
    // Node's delay monitor records from its second turn on: wait for its
    // first report (a small, normal lag) before blocking the loop.
    let max = 0;
    for (let i = 0; i < 30 && max === 0; i++) {
      max = v(await scrape(server.stats!), 'tsgi_event_loop_lag_max_seconds{worker="0"}');
      if (max === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThan(0.5);
    await request(port, buildRequest('GET', '/busy'));
    // The loop writes its lag once a second: at most two writes away.
    for (let i = 0; i < 30 && max < 0.5; i++) {
      max = v(await scrape(server.stats!), 'tsgi_event_loop_lag_max_seconds{worker="0"}');
      if (max < 0.5) await new Promise((r) => setTimeout(r, 100));
    }
    expect(max).toBeGreaterThanOrEqual(0.5);
  });
});

describe('metrics blocks', () => {
  it('renders several workers and their total, as a supervisor serves them (startStatsServer)', async () => {
    const blocks = [newMetricsBlock(), newMetricsBlock()];
    const servers = [
      await serve(app, { port: 0, metrics: blocks[0], errors: { write() {}, flush() {} } }),
      await serve(app, { port: 0, server: 'node', metrics: blocks[1], errors: { write() {}, flush() {} } }),
    ];
    try {
      for (let i = 0; i < 2; i++) await request(servers[0]!.port, buildRequest('GET', '/'));
      for (let i = 0; i < 3; i++) await request(servers[1]!.port, buildRequest('GET', '/'));
      blocks[1]![74] = 4; // workerRestarts: the supervisor's slot
      const stats = await startStatsServer({ kind: 'tcp', host: '127.0.0.1', port: 0 }, () => blocks.map((block, i) => ({ worker: String(i), block })));
      try {
        const s = await scrape(stats.address);
        expect(v(s, 'tsgi_requests_total{worker="0",method="GET",code="2xx"}')).toBe(2);
        expect(v(s, 'tsgi_requests_total{worker="1",method="GET",code="2xx"}')).toBe(3);
        expect(v(s, 'tsgi_requests_total{worker="all",method="GET",code="2xx"}')).toBe(5);
        expect(v(s, 'tsgi_worker_restarts_total{worker="all"}')).toBe(4);
      } finally {
        await stats.close();
      }
    } finally {
      for (const s of servers) await s.close();
    }
  });

  it('serves on a unix socket, replacing a stale socket file and refusing a live one', async () => {
    const path = join(dir, 'stats.sock');
    // A socket file its server left behind: a process killed while
    // listening (a server that closes removes its file).
    const dead = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => dead.stdout!.once('data', r));
    dead.kill('SIGKILL');
    await new Promise((r) => dead.once('exit', r));
    const block = newMetricsBlock();
    const stats = await startStatsServer({ kind: 'unix', path }, () => [{ worker: '0', block }]);
    try {
      expect(stats.address).toBe(`unix:${path}`);
      expect((await fetchStats(stats.address)).status).toBe(200);
      await expect(startStatsServer({ kind: 'unix', path }, () => [])).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await stats.close();
    }
    writeFileSync(join(dir, 'plain-file'), 'x');
    await expect(startStatsServer({ kind: 'unix', path: join(dir, 'plain-file') }, () => [])).rejects.toThrow(/EADDRINUSE/);
  });

  it('refuses a bad statsBind or metrics block before listening', async () => {
    await expect(serve(app, { port: 0, statsBind: 'nowhere' })).rejects.toThrow('serve: statsBind must be HOST:PORT, [IPv6]:PORT or unix:PATH, got "nowhere"');
    await expect(serve(app, { port: 0, metrics: new Float64Array(3) })).rejects.toThrow('serve: metrics must be a Float64Array of 76 (newMetricsBlock())');
  });
});
