// workers.test.ts: `tsgi serve --workers`: worker threads that each serve
// the application, are replaced when they die (with the reason logged),
// are found out by the watchdog when stuck while the others serve on, and
// are replaced after --max-requests. Real processes, sockets and signals.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { nativeLoadError } from '../helpers/servers.js';
import { fetchText, fixtureDir, killAll, load, runTsgi, sleep, startTsgi, until } from '../helpers/tsgi.js';
import { infoOnly } from '../helpers/cli.js';
import { app, threadOf } from './apps.js';

const files = fixtureDir({ 'app.mjs': app('v1'), 'broken.mjs': 'export default (;\n' });
afterEach(killAll);
afterAll(() => files.remove());

describe.skipIf(nativeLoadError)('tsgi serve --workers', () => {
  for (const server of ['native', 'node']) {
    it(`serves from two worker threads (${server}); SIGTERM stops them and exits 0 with only INFO events logged`, async () => {
      const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--workers', '2', '--server', server], { cwd: files.dir });
      const threads = new Set<string>();
      await until('both workers answer', async () => {
        const r = await fetchText({ port: t.port });
        expect(r.body).toMatch(/^v1 thread=\d+ mp=true$/);
        threads.add(threadOf(r.body));
        return threads.size === 2;
      });
      const environ = JSON.parse((await fetchText({ port: t.port }, '/environ')).body);
      expect(environ).toMatchObject({ SERVER_NAME: '127.0.0.1', SERVER_PORT: String(t.port), REMOTE_ADDR: '127.0.0.1', mp: true, mt: true });
      t.child.kill('SIGTERM');
      const exit = await t.exit;
      expect(exit).toMatchObject({ code: 0, signal: null });
      // The error log (stderr): starts, the listening line, the stop.
      const exits = infoOnly(exit.stderr).filter((m) => m.includes(' exited '));
      expect(exits).toHaveLength(2);
      for (const m of exits) expect(m).toMatch(/^worker [12] exited \(thread \d+, after [\d.]+ s\): stopped$/);
    });
  }

  it('says tsgi.multiprocess is false with one worker', async () => {
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0'], { cwd: files.dir });
    expect((await fetchText({ port: t.port })).body).toMatch(/ mp=false$/);
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });

  it('replaces a worker that throws outside a request, or calls process.exit, and logs why', async () => {
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--workers', '2'], { cwd: files.dir });
    await fetchText({ port: t.port }, '/crash');
    await t.waitForLog(/worker \d exited \(thread \d+, after [\d.]+ s\): uncaught Error: boom outside a request; no request in flight \| at /);
    await fetchText({ port: t.port }, '/exit');
    await t.waitForLog(/worker \d exited \(thread \d+, after [\d.]+ s\): process\.exit\(7\)/);
    // Two deaths, two new threads: every request is answered meanwhile.
    const threads = new Set<string>();
    await until('four threads have served', async () => {
      const r = await fetchText({ port: t.port });
      expect(r.status).toBe(200);
      threads.add(threadOf(r.body));
      return Math.max(...[...threads].map(Number)) >= 4;
    });
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });

  it('stops with exit code 2 and the error when the module cannot be loaded at start-up', async () => {
    const exit = await runTsgi(['serve', 'broken.mjs', '--bind', '127.0.0.1:0', '--workers', '2'], { cwd: files.dir });
    expect(exit.code).toBe(2);
    expect(exit.stdout).toBe('');
    expect(exit.stderr).toBe('tsgi: cannot import "broken.mjs": SyntaxError: Unexpected token \';\'\n');
  });

  it('logs a worker stuck in while(true) with how long and what it was serving, replaces it, and the other serves on', async () => {
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--workers', '2', '--timeout', '1'], { cwd: files.dir });
    // New connections only: the kernel spreads them over both sockets; the
    // stuck worker's queue waits and is then served by the other.
    const traffic = load({ port: t.port }, { keepAlive: 0, fresh: 4, check: (b) => b.startsWith('v1 ') });
    await sleep(200);
    const spin = fetchText({ port: t.port }, '/spin?x=1').catch((err: Error) => err);
    await until('a worker is stuck', () => /timed out/.test(t.stderr()), 10_000);
    const okAtTimeout = traffic.stats.ok;
    await t.waitForLog(/worker \d exited \(thread \d+, after [\d.]+ s\): terminated by the watchdog after 1\.\d s stuck/);
    await sleep(500);
    const stats = await traffic.stop();
    const log = t.stderr();
    expect(log).toMatch(/\[ERROR\] worker \d timed out: its event loop has not turned for 1\.\d s \(thread \d+\); in flight: (GET \/, )*GET \/spin\?x=1(, GET \/)*; terminating it\n/);
    expect(okAtTimeout, 'requests were answered while a worker was stuck').toBeGreaterThan(20);
    // Lost: only what the stuck worker had accepted before it got stuck,
    // at most one request of each client loop.
    expect(Object.keys(stats.failures).filter((k) => k !== 'ECONNRESET')).toEqual([]);
    expect(stats.failures.ECONNRESET ?? 0).toBeLessThanOrEqual(4);
    expect(await spin).toBeInstanceOf(Error);
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });

  it('replaces a worker gracefully after --max-requests', async () => {
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--max-requests', '10', '--max-requests-jitter', '0'], { cwd: files.dir });
    // The old worker serves until its replacement is ready: a few more.
    const threads = new Set<string>();
    let sent = 0;
    await until('three threads have served', async () => {
      const r = await fetchText({ port: t.port });
      sent++;
      expect(r.status).toBe(200);
      threads.add(threadOf(r.body));
      await sleep(10);
      return threads.size >= 3;
    });
    expect(sent).toBeLessThan(200);
    t.child.kill('SIGTERM');
    const exit = await t.exit;
    expect(exit.code).toBe(0);
    expect(infoOnly(exit.stderr)).toContain('worker 1 served 10 requests (--max-requests): replacing it');
  });

  it('runs the reopen hooks of every worker on SIGUSR1 and goes on serving', async () => {
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--workers', '2'], { cwd: files.dir });
    t.child.kill('SIGUSR1');
    await until('both workers reopened', () => (t.stderr().match(/^reopened in thread \d+$/gm) ?? []).length === 2);
    expect((await fetchText({ port: t.port })).status).toBe(200);
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });
});

describe('tsgi serve flags of the supervisor', () => {
  const cases: [string[], string][] = [
    [['--workers', '0'], "tsgi: error: option '--workers' must be a whole number from 1 to 1024 or \"auto\", got \"0\""],
    [['--workers', 'many'], "tsgi: error: option '--workers' must be a whole number, with k, M or G for sizes (e.g. 16384, 16k, 16M), got \"many\""],
    [['--timeout', '-1'], "tsgi: error: option '--timeout' must be a number of seconds (e.g. 30, 0.5), got \"-1\""],
    [['--max-requests', 'x'], "tsgi: error: option '--max-requests' must be a whole number, with k, M or G for sizes (e.g. 16384, 16k, 16M), got \"x\""],
    [['--umask', '089'], "tsgi: error: option '--umask' must be an octal mode mask (e.g. 007, 0o027), got \"089\""],
  ];
  for (const [flags, message] of cases) {
    it(`refuses ${flags.join(' ')} with exit code 2`, async () => {
      const exit = await runTsgi(['serve', 'app.mjs', ...flags], { cwd: files.dir });
      expect(exit).toMatchObject({ code: 2, stdout: '', stderr: `${message}\n` });
    });
  }
});
