// reload.test.ts: zero-downtime reload (SIGHUP) under continuous load on
// loopback, with connections waiting in the accept queue at that moment
// (the SO_REUSEPORT trap: closing a listener resets its queue); a reload
// whose new module fails; SIGTTIN/SIGTTOU under load; --reload.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { infoOnly } from '../helpers/cli.js';
import { nativeLoadError } from '../helpers/servers.js';
import { fetchText, fixtureDir, killAll, load, sleep, startTsgi, until } from '../helpers/tsgi.js';
import { app, threadOf } from './apps.js';

afterEach(killAll);

describe.skipIf(nativeLoadError)('reload', () => {
  const files = fixtureDir({ 'app.mjs': app('v1') });
  afterAll(() => files.remove());

  it('SIGHUP under load: the new module serves, no request fails, no connection is reset', async () => {
    files.write('app.mjs', app('v1'));
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--workers', '2'], { cwd: files.dir });
    const traffic = load({ port: t.port }, { keepAlive: 6, fresh: 3, check: (b) => /^v[12] thread=\d+ mp=true$/.test(b) });
    await sleep(500);
    files.write('app.mjs', app('v2'));
    t.child.kill('SIGHUP');
    await until('v2 answers', async () => (await fetchText({ port: t.port })).body.startsWith('v2 '));
    await sleep(800);
    // A second reload while the load goes on.
    t.child.kill('SIGHUP');
    await sleep(800);
    const stats = await traffic.stop();
    expect(stats.failures).toEqual({});
    expect(stats.ok).toBeGreaterThan(300);
    const versions = new Set([...stats.bodies].map((b) => b.slice(0, 2)));
    expect(versions).toEqual(new Set(['v1', 'v2']));
    t.child.kill('SIGTERM');
    const exit = await t.exit;
    expect(exit.code).toBe(0);
    expect(infoOnly(exit.stderr).filter((m) => m === 'reload (SIGHUP) done')).toHaveLength(2);
  });

  it('SIGHUP while connections wait in the accept queue: every one is answered', async () => {
    files.write('app.mjs', app('v1'));
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0'], { cwd: files.dir });
    // The only worker holds its loop: new connections queue in the kernel.
    const blocked = fetchText({ port: t.port }, '/block/1500');
    await sleep(100);
    const queued = Array.from({ length: 20 }, () => fetchText({ port: t.port }));
    await sleep(100);
    t.child.kill('SIGHUP');
    const replies = await Promise.all(queued);
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect((await blocked).status).toBe(200);
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });

  it('keeps the running workers when the new module does not load, and says why', async () => {
    files.write('app.mjs', app('v1'));
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--workers', '2'], { cwd: files.dir });
    files.write('app.mjs', 'export default (;\n');
    t.child.kill('SIGHUP');
    await t.waitForLog(/\[ERROR\] reload \(SIGHUP\) failed, the running workers go on: cannot import "app\.mjs": SyntaxError: /);
    for (let i = 0; i < 10; i++) expect((await fetchText({ port: t.port })).body).toMatch(/^v1 /);
    files.write('app.mjs', app('v3'));
    t.child.kill('SIGHUP');
    await until('v3 answers', async () => (await fetchText({ port: t.port })).body.startsWith('v3 '));
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });

  it('SIGTTIN adds a worker and SIGTTOU removes one, under load, failing no request', async () => {
    files.write('app.mjs', app('v1'));
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0'], { cwd: files.dir });
    const traffic = load({ port: t.port }, { keepAlive: 4, fresh: 3, check: (b) => b.startsWith('v1 ') });
    const threadsSince = async (from: number) => {
      const seen = new Set<string>();
      for (let i = 0; i < 40; i++) seen.add(threadOf((await fetchText({ port: t.port })).body));
      return [...seen].filter((x) => Number(x) >= from);
    };
    t.child.kill('SIGTTIN');
    await until('a second worker serves', async () => (await fetchText({ port: t.port })).body.endsWith('mp=true'));
    t.child.kill('SIGTTIN');
    await until('three workers serve', async () => (await threadsSince(1)).length === 3);
    // Two signals of one kind sent at once may arrive as one: one at a time.
    t.child.kill('SIGTTOU');
    await until('two workers serve', async () => (await threadsSince(1)).length === 2);
    t.child.kill('SIGTTOU');
    await until('one worker serves', async () => (await threadsSince(1)).length === 1 && (await fetchText({ port: t.port })).body.endsWith('mp=false'));
    t.child.kill('SIGTTOU'); // never below one
    await sleep(300);
    const stats = await traffic.stop();
    expect(stats.failures).toEqual({});
    expect((await fetchText({ port: t.port })).status).toBe(200);
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });

  it('--reload restarts the workers when a file under the application directory changes', async () => {
    files.write('app.mjs', app('v1'));
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--reload'], { cwd: files.dir });
    expect((await fetchText({ port: t.port })).body).toMatch(/^v1 /);
    await sleep(100);
    files.write('app.mjs', app('v2'));
    await until('v2 answers', async () => (await fetchText({ port: t.port })).body.startsWith('v2 '));
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });
});
