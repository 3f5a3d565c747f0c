// deploy.test.ts: Debian's nginx in front of two tsgi instances on unix
// sockets, with exactly deploy/nginx.conf, deploy/tsgi.service and
// deploy/tsgi.socket (paths and the port replaced): one instance started
// by systemd-socket-activate from the units, the other plain. Requests
// reach both; the client's address arrives; a 20 MiB upload and a 50 MB
// streamed download pass intact; SIGHUP of one instance and SIGTERM and a
// restart of the other under load fail no request. About 10 s.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { nativeLoadError } from '../helpers/servers.js';
import { bin, fetchText, fixtureDir, killAll, load, root, sleep, startTsgi, until, hasSocketActivate } from '../helpers/tsgi.js';

const hasNginx = existsSync('/usr/sbin/nginx');
const hasActivate = hasSocketActivate;

const kApp = `import { createHash } from 'node:crypto';
export default async function app(env, sr) {
  if (env.REQUEST_METHOD === 'POST') {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of env['tsgi.input']) { hash.update(chunk); size += chunk.length; }
    sr('200 OK', [['Content-Type', 'text/plain']]);
    return [size + ' ' + hash.digest('hex')];
  }
  if (env.PATH_INFO === '/download') {
    sr('200 OK', [['Content-Type', 'application/octet-stream']]);
    return (async function* () {
      const block = Buffer.alloc(1 << 20);
      for (let i = 0; i < 50; i++) { block.fill(i); yield block; }
    })();
  }
  sr('200 OK', [['Content-Type', 'application/json']]);
  return [JSON.stringify({ instance: process.env.INSTANCE, REMOTE_ADDR: env.REMOTE_ADDR, xff: env.HTTP_X_FORWARDED_FOR })];
}
`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The value of `key=` in a unit file's text. */
function unitValue(text: string, key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${key}= in the unit`);
  return m[1]!;
}

afterEach(killAll);

describe.skipIf(nativeLoadError || ((!hasNginx || !hasActivate) && !process.env.CI))('behind nginx, on systemd units', () => {
  const files = fixtureDir({ 'app.mjs': kApp });
  let nginx: ChildProcess | undefined;
  afterAll(() => {
    nginx?.kill('SIGQUIT');
    files.remove();
  });

  it('serves through nginx from both instances, streams 20 MiB up and 50 MB down, and fails no request across SIGHUP and a restart', { timeout: 60_000 }, async () => {
    const dir = files.dir;
    const run = join(dir, 'run');
    mkdirSync(run);
    mkdirSync(join(dir, 'nginx'));
    const port = await freePort();
    const subst = (text: string) =>
      text.replaceAll('/run/tsgi/', `${run}/`).replaceAll('/var/lib/nginx/tsgi/', `${dir}/nginx/`).replaceAll('/srv/app/node_modules/tsgi/bin/tsgi.js', bin).replaceAll('/srv/app', dir);
    writeFileSync(join(dir, 'nginx.conf'), subst(readFileSync(join(root, 'deploy', 'nginx.conf'), 'utf8')).replace('listen 80;', `listen 127.0.0.1:${port};`));
    const service = subst(readFileSync(join(root, 'deploy', 'tsgi.service'), 'utf8'));
    const socket = subst(readFileSync(join(root, 'deploy', 'tsgi.socket'), 'utf8'));
    // ExecStart=/usr/bin/node <bin> serve app.mjs --workers auto
    const exec = unitValue(service, 'ExecStart').split(' ');
    expect(exec.slice(0, 3)).toEqual(['/usr/bin/node', bin, 'serve']);
    const serveArgs = exec.slice(3);
    const socketA = unitValue(socket, 'ListenStream');
    const socketB = join(run, 'b.sock');

    // A: from the units, as systemd would run it (the socket first, tsgi
    // on the first connection). B: the same command on its own socket.
    const env = (name: string) => ({ ...process.env, INSTANCE: name });
    const startA = startTsgi(serveArgs, { cwd: dir, env: env('a'), command: ['systemd-socket-activate', '-l', socketA, '-E', 'INSTANCE=a'] });
    await until('the socket unit listens', () => existsSync(socketA));
    const wake = fetchText({ socketPath: socketA });
    const a = await startA;
    await wake;
    const startB = () => startTsgi([...serveArgs, '--bind', `unix:${socketB}`], { cwd: dir, env: env('b') });
    let b = await startB();

    nginx = spawn('/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off; user root;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let nginxErr = '';
    nginx.stderr!.on('data', (d: Buffer) => (nginxErr += d));
    await until(`nginx listens (${nginxErr})`, async () => fetchText({ port }).then(() => true, () => false));

    // Both instances answer; the client's address arrives forwarded.
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const r = JSON.parse((await fetchText({ port })).body);
      seen.add(r.instance);
      // On a unix socket the peer (nginx) has no address, and is trusted
      // (--forwarded-allow-ips): REMOTE_ADDR is the client's, from the
      // X-Forwarded-For nginx sets.
      expect(r.xff).toBe('127.0.0.1');
      expect(r.REMOTE_ADDR).toBe('127.0.0.1');
    }
    expect(seen).toEqual(new Set(['a', 'b']));

    // 20 MiB up, streamed (proxy_request_buffering off).
    const upload = randomBytes(20 * 1024 * 1024);
    const up = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload', agent: false, headers: { 'Content-Type': 'application/octet-stream' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      });
      req.on('error', reject);
      for (let off = 0; off < upload.length; off += 1 << 20) req.write(upload.subarray(off, off + (1 << 20)));
      req.end();
    });
    expect(up).toBe(`200 ${upload.length} ${createHash('sha256').update(upload).digest('hex')}`);

    // 50 MB down, streamed.
    const expected = createHash('sha256');
    for (let i = 0; i < 50; i++) expected.update(Buffer.alloc(1 << 20, i));
    const down = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/download', agent: false }, (res) => {
        const hash = createHash('sha256');
        let size = 0;
        res.on('data', (c: Buffer) => {
          hash.update(c);
          size += c.length;
        });
        res.on('end', () => resolve(`${res.statusCode} ${size} ${hash.digest('hex')}`));
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(down).toBe(`200 ${50 << 20} ${expected.digest('hex')}`);

    // Under load: SIGHUP of A, then SIGTERM of B and B started again.
    const traffic = load({ port }, { keepAlive: 6, fresh: 2, check: (body) => /"instance":"[ab]"/.test(body) });
    await sleep(400);
    a.child.kill('SIGHUP');
    await sleep(800);
    b.child.kill('SIGTERM');
    expect((await b.exit).code).toBe(0);
    await sleep(300);
    b = await startB();
    await sleep(800);
    const stats = await traffic.stop();
    expect(stats.failures).toEqual({});
    expect(stats.ok).toBeGreaterThan(200);
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    expect((await a.exit).code).toBe(0);
    expect((await b.exit).code).toBe(0);
  });
});
