// fd-leak.test.ts: a few hundred requests of every kind (keep-alive,
// close, HTTP/1.0, errors, files, aborted streams, pipelining) leave no
// descriptor behind once the server is closed.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Application, ServerKind } from '../../src/index.js';
import { buildRequest, get, RawClient, request, sleep, until } from '../helpers/http.js';
import { closeServer, forEachServer, start } from '../helpers/servers.js';
// @ts-expect-error: a plain .mjs script without types
import { fdCount } from '../../scripts/lib/proc.mjs';

let dir = '';
let file = '';
let bigFile = '';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgi-fd-'));
  file = path.join(dir, 'f.bin');
  fs.writeFileSync(file, randomBytes(200_000));
  bigFile = path.join(dir, 'big.bin');
  fs.writeFileSync(bigFile, '');
  fs.truncateSync(bigFile, 16 * 1024 * 1024);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});


const app: Application = async (environ, startResponse) => {
  switch (environ.PATH_INFO) {
    case '/throw':
      throw new Error('expected failure (fd-leak test)');
    case '/file':
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return environ['tsgi.file_wrapper'](file);
    case '/big':
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return environ['tsgi.file_wrapper'](bigFile);
    case '/fd':
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return environ['tsgi.file_wrapper'](fs.openSync(file, 'r'));
    case '/stream':
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        for (let i = 0; i < 200; i++) {
          yield `line ${i}\n`;
          await sleep(5);
        }
      })();
    case '/echo': {
      const body = await environ['tsgi.input'].read();
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return [body];
    }
    default:
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['ok'];
  }
};

async function workload(port: number): Promise<number> {
  let ok = 0;
  // 100 requests, each on its own connection.
  for (let i = 0; i < 100; i++) {
    const r = await get(port, `/n${i}`);
    if (r.status === 200) ok++;
  }
  // 60 on one keep-alive connection.
  const ka = await RawClient.connect(port, { keepRaw: false });
  for (let i = 0; i < 60; i++) {
    await ka.send(buildRequest('GET', `/k${i}`), 'GET');
    if ((await ka.next()).status === 200) ok++;
  }
  ka.destroy();
  // 20 HTTP/1.0, 20 errors, 20 files by path, 20 by fd, 20 echo bodies.
  for (let i = 0; i < 20; i++) {
    const { responses } = await request(port, 'GET /old HTTP/1.0\r\n\r\n');
    if (responses[0]?.status === 200) ok++;
    if ((await get(port, '/throw')).status === 500) ok++;
    if ((await get(port, '/file')).body.length === 200_000) ok++;
    if ((await get(port, '/fd')).body.length === 200_000) ok++;
    const e = await request(port, buildRequest('POST', '/echo', { body: 'x'.repeat(5000) }));
    if (e.responses[0]?.body.length === 5000) ok++;
  }
  // 20 streams aborted by the client, 10 with pipelined requests queued.
  for (let i = 0; i < 20; i++) {
    const c = await RawClient.connect(port);
    const extra = i % 2 === 0 ? Buffer.concat([buildRequest('GET', '/a'), buildRequest('GET', '/b')]) : Buffer.alloc(0);
    await c.send(Buffer.concat([buildRequest('GET', '/stream'), extra]), 'GET', 'GET', 'GET');
    await c.waitFor(() => c.text().includes('line 1\n'), 3000, 'stream start');
    c.destroy();
    ok++;
  }
  // 20 connections that send half a request and go away.
  for (let i = 0; i < 20; i++) {
    const c = await RawClient.connect(port);
    await c.send('GET /half HTTP/1.1\r\nHost: x\r\n');
    c.destroy();
    ok++;
  }
  return ok;
}

async function run(kind: ServerKind): Promise<void> {
  // Warm up lazily created descriptors (thread pool, timers...).
  {
    const { server, port } = await start(kind, app);
    await get(port, '/file');
    await get(port, '/');
    await closeServer(server);
  }
  await sleep(100);
  const before = fdCount();
  const { server, port } = await start(kind, app);
  const ok = await workload(port);
  expect(ok).toBe(100 + 60 + 20 * 5 + 20 + 20);
  await closeServer(server);
  // Files on the sendfile path (no validate() in between), some aborted.
  const raw = await start(kind, app, { validate: false });
  let files = 0;
  for (let i = 0; i < 20; i++) {
    if ((await get(raw.port, '/file')).body.length === 200_000) files++;
    if ((await get(raw.port, '/fd')).body.length === 200_000) files++;
  }
  for (let i = 0; i < 10; i++) {
    const c = await RawClient.connect(raw.port, { keepRaw: false });
    c.socket.pause();
    await c.send(buildRequest('GET', '/big'), 'GET');
    await sleep(20);
    c.destroy();
  }
  expect(files).toBe(40);
  await closeServer(raw.server);
  const settled = await until(() => fdCount() <= before + 2, 5000);
  expect(settled, `descriptors: ${before} before, ${fdCount()} after`).toBe(true);
}

forEachServer((kind) => {
  it('leaks no file descriptors over a few hundred requests', async () => {
    await run(kind);
  }, 60_000);
});
