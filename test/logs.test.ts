// logs.test.ts: `tsgi serve --access-log`, `--error-log`, `--log-level`
// and SIGUSR1, from the outside: a real process, real requests, a log
// rotated the way logrotate does it (rename, then the signal).
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildRequest, request, until } from './helpers/http.js';
import { SERVERS } from './helpers/servers.js';
import { killAllCli, logEvents, requireBuild, startCli, writeFixtures } from './helpers/cli.js';

let fixtures: { dir: string; remove: () => void };

beforeAll(() => {
  requireBuild();
  fixtures = writeFixtures({
    'app.mjs': `export default (environ, startResponse) => {
  if (environ.PATH_INFO === '/fail') throw new Error('it failed\\nacross lines');
  if (environ.PATH_INFO === '/note') environ['tsgi.errors'].write('a note from the application\\n');
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return ['ok'];
};\n`,
  });
});
afterAll(() => fixtures.remove());
afterEach(() => killAllCli());

const lines = (path: string): string[] => (existsSync(path) ? readFileSync(path, 'latin1').split('\n').filter(Boolean) : []);

/** Waits until `path` holds `n` lines (the log is written off the event
 * loop, at the end of a turn): a bound, not a pause. */
async function waitLines(path: string, n: number): Promise<string[]> {
  if (!(await until(() => lines(path).length >= n, 5_000))) throw new Error(`${path} holds ${JSON.stringify(lines(path))}, not ${n} lines`);
  return lines(path);
}

const get = async (port: number, path: string) => (await request(port, buildRequest('GET', path))).responses[0]!;

describe('tsgi serve logs', () => {
  for (const server of SERVERS) {
    it(`writes the access log to a file and reopens it on SIGUSR1 after a rename (${server})`, async () => {
      const log = join(fixtures.dir, `access-${server}.log`);
      const rotated = `${log}.1`;
      const s = await startCli(['app.mjs', '--bind', '127.0.0.1:0', '--server', server, '--access-log', log], fixtures.dir);
      await get(s.port, '/before');
      expect(await waitLines(log, 1)).toHaveLength(1);
      renameSync(log, rotated);
      // Until the signal, lines go to the file under its new name.
      await get(s.port, '/renamed');
      expect(await waitLines(rotated, 2)).toHaveLength(2);
      s.child.kill('SIGUSR1');
      await s.waitOutput('stderr', (t) => t.includes('SIGUSR1: log files reopened'));
      await get(s.port, '/after');
      const fresh = await waitLines(log, 1);
      expect(fresh).toHaveLength(1);
      expect(fresh[0]).toContain('"GET /after HTTP/1.1" 200 2');
      expect(lines(rotated).map((l) => /"GET (\S+)/.exec(l)![1])).toEqual(['/before', '/renamed']);
      s.child.kill('SIGTERM');
      expect((await s.exit).code).toBe(0);
    });

    it(`writes the access log to stdout with --access-log - and the JSON format (${server})`, async () => {
      const s = await startCli(['app.mjs', '--bind', '127.0.0.1:0', '--server', server, '--access-log', '-', '--access-log-format', 'json'], fixtures.dir);
      await get(s.port, '/json');
      const out = await s.waitOutput('stdout', (t) => t.split('\n').length >= 3);
      const entry = JSON.parse(out.split('\n')[1]!) as Record<string, unknown>;
      expect(entry).toMatchObject({ method: 'GET', path: '/json', status: 200, bytes: 2, remote_addr: '127.0.0.1' });
      s.child.kill('SIGTERM');
      expect((await s.exit).code).toBe(0);
    });
  }

  it('writes the error log to a file: one line per event with a timestamp, at the level asked for', async () => {
    const log = join(fixtures.dir, 'error.log');
    const s = await startCli(['app.mjs', '--bind', '127.0.0.1:0', '--error-log', log, '--log-level', 'warning'], fixtures.dir);
    expect((await get(s.port, '/fail')).status).toBe(500);
    expect((await get(s.port, '/note')).status).toBe(200);
    s.child.kill('SIGTERM');
    const exit = await s.exit;
    expect(exit.code).toBe(0);
    // Nothing on stderr: the events went to the file.
    expect(exit.stderr).toBe('');
    const { events, other } = logEvents(readFileSync(log, 'utf8'));
    // INFO (listening, closing) is below warning; the failure is one line,
    // its stack's line breaks escaped.
    expect(events.map((e) => e.level)).toEqual(['ERROR']);
    expect(events[0]!.pid).toBe(s.child.pid);
    expect(events[0]!.message).toMatch(/^error in application \(GET \/fail\): Error: it failed\\nacross lines\\n {4}at /);
    // What the application wrote to tsgi.errors, as it wrote it.
    expect(other).toEqual(['a note from the application']);
  });

  it('reopens the error log on SIGUSR1 too', async () => {
    const log = join(fixtures.dir, 'error-rotated.log');
    const s = await startCli(['app.mjs', '--bind', '127.0.0.1:0', '--error-log', log], fixtures.dir);
    await waitLines(log, 1);
    renameSync(log, `${log}.1`);
    s.child.kill('SIGUSR1');
    const fresh = await waitLines(log, 1);
    expect(logEvents(fresh.join('\n')).events.map((e) => e.message)).toEqual(['SIGUSR1: log files reopened']);
    expect(logEvents(lines(`${log}.1`).join('\n')).events.map((e) => e.message)).toContainEqual(expect.stringMatching(/^listening on http:\/\/127\.0\.0\.1:\d+ \(/));
    s.child.kill('SIGTERM');
    expect((await s.exit).code).toBe(0);
  });
});
