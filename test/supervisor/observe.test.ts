// observe.test.ts: the access log, the trusted front-ends and the metrics of
// `tsgi serve --workers 2`: one access log file that every worker appends
// to and that SIGUSR1 reopens in each, --forwarded-allow-ips and
// --proxy-protocol in every worker, and /metrics summed over the workers, counters kept across a
// worker's replacement. Real processes, sockets and signals.
import http from 'node:http';
import { connect } from 'node:net';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { nativeLoadError } from '../helpers/servers.js';
import { fetchText, fixtureDir, killAll, startTsgi, until } from '../helpers/tsgi.js';
import { app } from './apps.js';

/** Answers with its thread in a response header (for the access log) and
 * the addresses it was given. */
const kApp = `import { threadId } from 'node:worker_threads';
export default (env, sr) => {
  sr('200 OK', [['Content-Type', 'application/json'], ['X-Thread', String(threadId)]]);
  return [JSON.stringify({ thread: threadId, REMOTE_ADDR: env.REMOTE_ADDR, scheme: env['tsgi.url_scheme'] })];
};
`;

const files = fixtureDir({ 'app.mjs': kApp, 'crashy.mjs': app('v1') });
afterEach(killAll);
afterAll(() => files.remove());

/** GET `path` with `headers` on a fresh connection. */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

/** Fresh connections until both workers have answered (the kernel spreads
 * them over the two SO_REUSEPORT sockets); returns how many were sent. */
async function untilBothServed(port: number, path = '/'): Promise<{ sent: number; threads: Set<number> }> {
  const threads = new Set<number>();
  let sent = 0;
  await until('both workers have answered', async () => {
    const r = await get(port, path);
    sent++;
    expect(r.status).toBe(200);
    threads.add(JSON.parse(r.body).thread);
    return threads.size === 2;
  });
  return { sent, threads };
}

const lines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '') : []);

/** The value of the series `name{labels}` in a Prometheus text, or NaN. */
function series(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe.skipIf(nativeLoadError)('tsgi serve --workers 2: logs, proxies, metrics', () => {
  it('writes one access log from both workers, whole lines, and SIGUSR1 reopens it in each', async () => {
    const log = join(files.dir, 'access.log');
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--workers', '2', '--access-log', log, '--access-log-format', '%(r)s %(s)s %({x-thread}o)s'], { cwd: files.dir });
    const before = await untilBothServed(t.port, '/before');
    await until('every response is logged', () => lines(log).length === before.sent);
    for (const line of lines(log)) expect(line).toMatch(/^GET \/before HTTP\/1\.1 200 \d+$/);
    expect(new Set(lines(log).map((l) => Number(l.split(' ').pop())))).toEqual(before.threads);

    // logrotate: rename, then SIGUSR1; the workers write to the new file.
    renameSync(log, `${log}.1`);
    t.child.kill('SIGUSR1');
    await t.waitForLog(/\[INFO\] SIGUSR1: log files reopened/);
    // A worker reopens when its hook runs: until it has, its lines go to
    // the renamed file. Requests until both threads appear in the new one.
    await until('both workers write to the new file', async () => {
      await get(t.port, '/after');
      return new Set(lines(log).map((l) => l.split(' ').pop())).size === 2;
    });
    for (const line of lines(log)) expect(line).toMatch(/^GET \/after HTTP\/1\.1 200 \d+$/);
    for (const line of lines(`${log}.1`)) expect(line).toMatch(/^GET \/(before|after) HTTP\/1\.1 200 \d+$/);
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });

  it('applies --forwarded-allow-ips in every worker', async () => {
    const forged = { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https' };
    // The default trusts 127.0.0.1: both workers take the forwarded client.
    const trusting = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--workers', '2'], { cwd: files.dir });
    const seen = new Map<number, { REMOTE_ADDR: string; scheme: string }>();
    await until('both workers have answered', async () => {
      const r = JSON.parse((await get(trusting.port, '/', forged)).body);
      seen.set(r.thread, { REMOTE_ADDR: r.REMOTE_ADDR, scheme: r.scheme });
      return seen.size === 2;
    });
    for (const v of seen.values()) expect(v).toEqual({ REMOTE_ADDR: '203.0.113.9', scheme: 'https' });
    trusting.child.kill('SIGTERM');
    await trusting.exit;

    // Trusting only 10.0.0.0/8: the same headers change nothing, in both.
    const strict = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--workers', '2', '--forwarded-allow-ips', '10.0.0.0/8'], { cwd: files.dir });
    seen.clear();
    await until('both workers have answered', async () => {
      const r = JSON.parse((await get(strict.port, '/', forged)).body);
      seen.set(r.thread, { REMOTE_ADDR: r.REMOTE_ADDR, scheme: r.scheme });
      return seen.size === 2;
    });
    for (const v of seen.values()) expect(v).toEqual({ REMOTE_ADDR: '127.0.0.1', scheme: 'http' });
    strict.child.kill('SIGTERM');
    expect((await strict.exit).code).toBe(0);
  });

  it('reads the PROXY header in every worker with --proxy-protocol', async () => {
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--workers', '2', '--proxy-protocol', 'v1'], { cwd: files.dir });
    /** One request after a PROXY v1 line naming 192.0.2.<n>. */
    const proxied = (n: number) =>
      new Promise<{ thread: number; REMOTE_ADDR: string }>((resolve, reject) => {
        const c = connect(t.port, '127.0.0.1');
        let text = '';
        c.setEncoding('latin1').on('data', (d: string) => (text += d));
        c.on('end', () => resolve(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))));
        c.on('error', reject);
        c.write(`PROXY TCP4 192.0.2.${n} 198.51.100.1 40000 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      });
    const seen = new Map<number, string>();
    let n = 0;
    await until('both workers have answered', async () => {
      const r = await proxied(++n);
      expect(r.REMOTE_ADDR).toBe(`192.0.2.${n}`);
      seen.set(r.thread, r.REMOTE_ADDR);
      return seen.size === 2;
    });
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });

  it('serves /metrics for both workers and their total, and keeps the counts of a replaced worker', async () => {
    const t = await startTsgi(['crashy.mjs', '--bind', '127.0.0.1:0', '--workers', '2', '--stats-bind', '127.0.0.1:0'], { cwd: files.dir });
    await until('the metrics line', () => /^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics$/m.test(t.stdout()));
    const statsPort = Number(/^metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics$/m.exec(t.stdout())![1]);
    const scrape = async () => {
      const r = await fetchText({ port: statsPort }, '/metrics');
      expect(r.status).toBe(200);
      return r.body;
    };
    const threads = new Set<string>();
    let sent = 0;
    await until('both workers have answered', async () => {
      const r = await fetchText({ port: t.port });
      sent++;
      threads.add(/thread=(\d+)/.exec(r.body)![1]!);
      return threads.size === 2;
    });
    const all = (text: string) => series(text, 'tsgi_requests_total', 'worker="all",method="GET",code="2xx"');
    let text = await scrape();
    expect(all(text)).toBe(sent);
    const one = series(text, 'tsgi_requests_total', 'worker="1",method="GET",code="2xx"');
    const two = series(text, 'tsgi_requests_total', 'worker="2",method="GET",code="2xx"');
    expect(one).toBeGreaterThan(0);
    expect(two).toBeGreaterThan(0);
    expect(one + two).toBe(sent);
    expect(series(text, 'tsgi_connections_accepted_total', 'worker="all"')).toBe(sent);

    // A worker dies outside a request and is replaced: its counts stay.
    await fetchText({ port: t.port }, '/crash');
    sent++;
    await t.waitForLog(/\[INFO\] worker \d ready \(thread \d+, native\)[\s\S]*exited[\s\S]*ready/);
    await until('the replacement is counted', async () => series(await scrape(), 'tsgi_worker_restarts_total', 'worker="all"') === 1);
    text = await scrape();
    expect(all(text)).toBe(sent);
    expect(series(text, 'tsgi_worker_timeouts_total', 'worker="all"')).toBe(0);
    await fetchText({ port: t.port });
    expect(all(await scrape())).toBe(sent + 1);
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });
});
