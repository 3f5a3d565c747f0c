// binds.test.ts: several --bind at once (IPv4, IPv6, unix), the environ of
// each, --umask, stale and live socket files, fd://N, systemd socket
// activation through Debian's systemd-socket-activate, and every bad bind
// refused with one line and the right exit code.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadBinding } from '../../src/native/loader.js';
import { nativeLoadError } from '../helpers/servers.js';
import { fetchText, fixtureDir, killAll, runTsgi, startTsgi, hasSocketActivate } from '../helpers/tsgi.js';
import { app } from './apps.js';

const files = fixtureDir({ 'app.mjs': app('v1') });
afterEach(killAll);
afterAll(() => files.remove());
const hasActivate = hasSocketActivate;

describe.skipIf(nativeLoadError)('binds', () => {
  it('listens on IPv4, IPv6 and a unix socket at once, each with its own SERVER_NAME and SERVER_PORT', async () => {
    const sock = join(files.dir, 'a.sock');
    const t = await startTsgi(['app.mjs', '--bind', '127.0.0.1:0', '--bind', '[::1]:0', '--bind', `unix:${sock}`, '--workers', '2', '--umask', '077'], { cwd: files.dir });
    expect(t.urls[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(t.urls[1]).toMatch(/^http:\/\/\[::1\]:\d+$/);
    expect(t.urls[2]).toBe(`unix:${sock}`);
    const v6 = Number(new URL(t.urls[1]!).port);
    const env4 = JSON.parse((await fetchText({ port: t.port }, '/environ')).body);
    expect(env4).toMatchObject({ SERVER_NAME: '127.0.0.1', SERVER_PORT: String(t.port), REMOTE_ADDR: '127.0.0.1' });
    const env6 = await new Promise<Record<string, string>>((resolve, reject) => {
      // No Host header: SERVER_NAME is the bind's address.
      const c = connect({ host: '::1', port: v6 }, () => c.write('GET /environ HTTP/1.0\r\n\r\n'));
      let text = '';
      c.on('data', (d: Buffer) => (text += d));
      c.on('end', () => resolve(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))));
      c.on('error', reject);
    });
    expect(env6).toMatchObject({ SERVER_NAME: '::1', SERVER_PORT: String(v6), REMOTE_ADDR: '::1' });
    const envU = JSON.parse((await fetchText({ socketPath: sock }, '/environ')).body);
    expect(envU).toMatchObject({ SERVER_PORT: '', REMOTE_ADDR: '', REMOTE_PORT: '' });
    expect(statSync(sock).mode & 0o777).toBe(0o700);
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
    expect(existsSync(sock), 'the socket file is removed at exit').toBe(false);
  });

  it('removes a stale socket file, and refuses one a live server listens on, naming the path', async () => {
    const sock = join(files.dir, 'stale.sock');
    // A socket file whose server is gone (its descriptor closed, the file
    // left behind, as after a crash).
    const binding = loadBinding();
    if (binding instanceof Error) throw binding;
    binding.sockets.close(binding.sockets.listenUnix(sock, 8, -1));
    expect(statSync(sock).isSocket()).toBe(true);
    const t = await startTsgi(['app.mjs', '--bind', `unix:${sock}`], { cwd: files.dir });
    expect((await fetchText({ socketPath: sock })).status).toBe(200);
    const live = await runTsgi(['serve', 'app.mjs', '--bind', `unix:${sock}`], { cwd: files.dir });
    expect(live).toMatchObject({ code: 1, stdout: '', stderr: `tsgi: cannot listen on unix:${sock}: another server is listening on ${sock}\n` });
    t.child.kill('SIGTERM');
    await t.exit;
    writeFileSync(join(files.dir, 'plain'), 'x');
    const plain = await runTsgi(['serve', 'app.mjs', '--bind', `unix:${join(files.dir, 'plain')}`], { cwd: files.dir });
    expect(plain).toMatchObject({ code: 1, stderr: `tsgi: cannot listen on unix:${join(files.dir, 'plain')}: ${join(files.dir, 'plain')} exists and is not a socket\n` });
  });

  it('serves on an inherited listening descriptor named by fd://3', async () => {
    const binding = loadBinding();
    if (binding instanceof Error) throw binding;
    const fd = binding.sockets.listenTcp('127.0.0.1', 0, 64, false, false);
    const port = binding.sockets.inspect(fd).port;
    try {
      const t = await startTsgi(['app.mjs', '--bind', 'fd://3', '--workers', '2'], { cwd: files.dir, stdio: ['ignore', 'pipe', 'pipe', fd] });
      expect(t.urls).toEqual([`http://127.0.0.1:${port}`]);
      expect(JSON.parse((await fetchText({ port }, '/environ')).body)).toMatchObject({ SERVER_PORT: String(port) });
      t.child.kill('SIGTERM');
      expect((await t.exit).code).toBe(0);
    } finally {
      binding.sockets.close(fd);
    }
  });

  it.skipIf(!hasActivate && !process.env.CI)('takes the sockets systemd passes (systemd-socket-activate, LISTEN_FDS)', async () => {
    const sock = join(files.dir, 'activated.sock');
    // systemd-socket-activate listens, and starts tsgi on the first
    // connection, which waits in the socket's queue meanwhile.
    const started = startTsgi(['app.mjs', '--workers', '2'], { cwd: files.dir, command: ['systemd-socket-activate', '-l', sock] });
    const { until } = await import('../helpers/tsgi.js');
    await until('systemd-socket-activate listens', () => existsSync(sock));
    const first = fetchText({ socketPath: sock });
    const t = await started;
    expect(t.urls).toEqual([`unix:${sock}`]);
    expect((await first).body).toMatch(/^v1 /);
    expect((await fetchText({ socketPath: sock })).body).toMatch(/^v1 /);
    t.child.kill('SIGTERM');
    expect((await t.exit).code).toBe(0);
  });

  const usage: [string, string[], NodeJS.ProcessEnv, string][] = [
    ['a bind without port', ['--bind', '127.0.0.1'], {}, `tsgi: error: option '--bind' must be HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N, got "127.0.0.1"`],
    ['an unbracketed IPv6 bind', ['--bind', '::1:80'], {}, `tsgi: error: option '--bind' must be HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N, got "::1:80"`],
    ['a port above 65535', ['--bind', '127.0.0.1:65536'], {}, `tsgi: error: option '--bind' port must be 0-65535, got "127.0.0.1:65536"`],
    ['an fd:// without a number', ['--bind', 'fd://x'], {}, `tsgi: error: option '--bind' fd://N needs a descriptor number, got "fd://x"`],
    ['a unix path too long for sun_path', ['--bind', `unix:/${'a'.repeat(120)}`], {}, `tsgi: error: option '--bind' unix:PATH is 121 bytes, longer than the 107 a unix socket address holds: "unix:/${'a'.repeat(120)}"`],
    ['LISTEN_FDS that is not a number', [], { LISTEN_FDS: 'two', LISTEN_PID: String(process.pid) }, `tsgi: LISTEN_FDS must be a number of descriptors (LISTEN_PID is "${process.pid}"), got "two"`],
    ['LISTEN_PID that is not a process id', [], { LISTEN_FDS: '1', LISTEN_PID: 'me' }, 'tsgi: LISTEN_PID must be a process id (LISTEN_FDS is "1"), got "me"'],
  ];
  for (const [what, flags, env, message] of usage) {
    it(`refuses ${what} with exit code 2`, async () => {
      const exit = await runTsgi(['serve', 'app.mjs', ...flags], { cwd: files.dir, env: { ...process.env, ...env } });
      expect(exit).toMatchObject({ code: 2, stdout: '', stderr: `${message}\n` });
    });
  }

  it('refuses an fd that is not open, or not a listening socket, with exit code 1', async () => {
    const closed = await runTsgi(['serve', 'app.mjs', '--bind', 'fd://97'], { cwd: files.dir });
    expect(closed).toMatchObject({ code: 1, stderr: 'tsgi: cannot listen on fd://97: descriptor 97 is not a listening socket (it is not open)\n' });
    const file = await runTsgi(['serve', 'app.mjs', '--bind', 'fd://0'], { cwd: files.dir });
    expect(file.code).toBe(1);
    expect(file.stderr).toMatch(/^tsgi: cannot listen on fd:\/\/0: descriptor 0 is not a listening socket \((it is not a socket|not listening|a datagram socket|not an IP or unix socket)\)\n$/);
  });
});
