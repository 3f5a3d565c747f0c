// cgi.test.ts: `tsgi cgi MODULE` behind a real CGI server: Debian's
// lighttpd with mod_cgi, started on loopback with its own config in a temp
// dir. GET with PATH_INFO and a query, POST with a body, a response that
// streams through lighttpd, and an application error (500, the error in
// lighttpd's breakage log, which is where a CGI script's stderr goes).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRequest, RawClient, sleep } from '../helpers/http.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const lighttpd = spawnSync('sh', ['-c', 'command -v lighttpd || ls /usr/sbin/lighttpd'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];

const APP = `
import { existsSync } from 'node:fs';
const go = ${JSON.stringify('GO_FILE')};
export default async function app(environ, startResponse) {
  if (environ.PATH_INFO === '/fail') throw new Error('cgi app failed on purpose');
  if (environ.PATH_INFO === '/stream') {
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return (async function* () {
      yield 'first\\n';
      for (let i = 0; i < 500 && !existsSync(go); i++) await new Promise((r) => setTimeout(r, 10));
      yield existsSync(go) ? 'second\\n' : 'timed out\\n';
    })();
  }
  const body = Buffer.from(await environ['tsgi.input'].read()).toString();
  const out = JSON.stringify({
    method: environ.REQUEST_METHOD, script: environ.SCRIPT_NAME, path: environ.PATH_INFO,
    query: environ.QUERY_STRING, uri: environ.REQUEST_URI, type: environ.CONTENT_TYPE ?? null,
    length: environ.CONTENT_LENGTH ?? null, custom: environ.HTTP_X_CUSTOM ?? null,
    runOnce: environ['tsgi.run_once'], body,
  });
  startResponse('201 Created', [['Content-Type', 'application/json'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
  return [out];
}
`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port }, () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

describe.skipIf(!lighttpd && !process.env.CI)('tsgi cgi behind lighttpd (mod_cgi)', () => {
  let dir = '';
  let port = 0;
  let server: ChildProcess | null = null;

  beforeAll(async () => {
    if (!lighttpd) throw new Error('lighttpd is not installed (apt-get install lighttpd)');
    dir = mkdtempSync(join(tmpdir(), 'tsgi-cgi-'));
    const www = join(dir, 'www');
    mkdirSync(www);
    writeFileSync(join(dir, 'app.mjs'), APP.replace('GO_FILE', join(dir, 'go')));
    const script = join(www, 'app.cgi');
    writeFileSync(script, `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin/tsgi.js')}" cgi "${join(dir, 'app.mjs')}"\n`);
    chmodSync(script, 0o755);
    // lighttpd takes a fixed port: a free one, retried if taken meanwhile.
    for (let attempt = 0; attempt < 5 && server === null; attempt++) {
      port = await freePort();
      writeFileSync(
        join(dir, 'lighttpd.conf'),
        [
          `server.document-root = "${www}"`,
          `server.bind = "127.0.0.1"`,
          `server.port = ${port}`,
          `server.errorlog = "${join(dir, 'error.log')}"`,
          // Where lighttpd puts its CGI scripts' stderr.
          `server.breakagelog = "${join(dir, 'cgi-stderr.log')}"`,
          `server.modules = ( "mod_cgi" )`,
          `cgi.assign = ( ".cgi" => "" )`,
          // Send the script's output as it comes (the streaming case).
          `server.stream-response-body = 2`,
        ].join('\n') + '\n',
      );
      const child = spawn(lighttpd, ['-D', '-f', join(dir, 'lighttpd.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let exited = false;
      child.once('exit', () => (exited = true));
      for (let i = 0; i < 100 && !exited; i++) {
        if (await accepts(port)) break;
        await sleep(50);
      }
      if (!exited && (await accepts(port))) server = child;
      else child.kill('SIGKILL');
    }
    if (server === null) throw new Error('lighttpd did not start');
  });

  afterAll(async () => {
    if (server !== null && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs a GET with PATH_INFO and a query, with each Set-Cookie', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/app.cgi/some/path?x=1&y=2`, { headers: { 'X-Custom': 'cgi' } });
    expect(res.status).toBe(201);
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await res.json()).toEqual({
      method: 'GET',
      script: '/app.cgi',
      path: '/some/path',
      query: 'x=1&y=2',
      uri: '/app.cgi/some/path?x=1&y=2',
      type: null,
      length: null,
      custom: 'cgi',
      runOnce: true,
      body: '',
    });
  });

  it('passes a POST body from stdin, bounded by CONTENT_LENGTH', async () => {
    const body = 'name=tsgi&' + 'x'.repeat(200_000);
    const res = await fetch(`http://127.0.0.1:${port}/app.cgi/post`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body,
    });
    const out = await res.json();
    expect(out).toMatchObject({ method: 'POST', path: '/post', type: 'application/x-www-form-urlencoded', length: String(body.length) });
    expect(out.body).toBe(body);
  });

  it('streams a response through the web server as it is produced', async () => {
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/app.cgi/stream'), 'GET');
    await client.waitFor(() => client.text().includes('first'), 10_000, 'the first chunk');
    expect(client.text()).not.toContain('second');
    writeFileSync(join(dir, 'go'), '');
    const res = await client.next(10_000);
    client.destroy();
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('first\nsecond\n');
  });

  it('answers an application error with a 500, the error on stderr', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/app.cgi/fail`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('Internal Server Error\n');
    const log = join(dir, 'cgi-stderr.log');
    for (let i = 0; i < 100 && !(existsSync(log) && readFileSync(log, 'utf8').includes('cgi app failed on purpose')); i++) await sleep(20);
    expect(readFileSync(log, 'utf8')).toContain('cgi app failed on purpose');
  });
});
