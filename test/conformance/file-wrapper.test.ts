// file-wrapper.test.ts: tsgi.file_wrapper — a path, an fd, a range, HEAD,
// the wrapper iterated by the app, and the descriptor closed afterwards.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Application, ServerKind } from '../../src/index.js';
import { buildRequest, header, RawClient, request, until } from '../helpers/http.js';
import { forEachServer, start as startServer } from '../helpers/servers.js';
// @ts-expect-error: a plain .mjs script without types
import { fdsOpenOn } from '../../scripts/lib/proc.mjs';

const SIZE = 1024 * 1024 + 13;
let dir = '';
let file = '';
let content: Buffer = Buffer.alloc(0);
let bigFile = '';
const BIG = 24 * 1024 * 1024;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsgi-fw-'));
  file = path.join(dir, 'data.bin');
  content = randomBytes(SIZE);
  fs.writeFileSync(file, content);
  bigFile = path.join(dir, 'big.bin');
  fs.writeFileSync(bigFile, '');
  fs.truncateSync(bigFile, BIG);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Descriptors of this process that point at the test file. */
const openOnFile = (target = file): number[] => fdsOpenOn(target);

forEachServer((kind) => {
  for (const validated of [true, false]) {
    describe(validated ? 'through validate()' : 'without validate() (sendfile path)', () => {
      fileTests(kind, validated);
    });
  }
});

function fileTests(kind: ServerKind, validated: boolean): void {
  const start = (k: ServerKind, app: Application) => startServer(k, app, { validate: validated });
  const byPath: Application = (environ, startResponse) => {
    startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
    return environ['tsgi.file_wrapper'](file);
  };

  it('sends a file by path with its exact bytes and a Content-Length', async () => {
    const { port } = await start(kind, byPath);
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/file'), 'GET');
    const res = await client.next();
    expect(res.status).toBe(200);
    expect(header(res, 'content-length')).toBe(String(SIZE));
    expect(header(res, 'transfer-encoding')).toBeUndefined();
    expect(res.body.length).toBe(SIZE);
    expect(res.body.equals(content)).toBe(true);
    // Keep-alive still works after a file.
    await client.send(buildRequest('GET', '/file'), 'GET');
    expect((await client.next()).body.equals(content)).toBe(true);
    client.destroy();
    expect(await until(() => openOnFile().length === 0, 2000), 'file closed after sending').toBe(true);
  });

  it('sends a file given as an fd and closes the fd', async () => {
    let fdUsed = -1;
    const { port } = await start(kind, (environ, startResponse) => {
      fdUsed = fs.openSync(file, 'r');
      startResponse('200 OK', [
        ['Content-Type', 'application/octet-stream'],
        ['Content-Length', String(SIZE)],
      ]);
      return environ['tsgi.file_wrapper'](fdUsed);
    });
    const { responses } = await request(port, buildRequest('GET', '/fd'));
    const res = responses[0]!;
    expect(headerCount(res.headers, 'content-length')).toBe(1);
    expect(header(res, 'content-length')).toBe(String(SIZE));
    expect(res.body.equals(content)).toBe(true);
    expect(fdUsed).toBeGreaterThan(2);
    expect(await until(() => openOnFile().length === 0, 2000), 'fd closed by the wrapper').toBe(true);
  });

  it('sends a range of a file with offset and length', async () => {
    const { port } = await start(kind, (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return environ['tsgi.file_wrapper'](file, { offset: 1000, length: 70_000 });
    });
    const { responses } = await request(port, buildRequest('GET', '/range'));
    const res = responses[0]!;
    expect(header(res, 'content-length')).toBe('70000');
    expect(res.body.equals(content.subarray(1000, 71_000))).toBe(true);
  });

  it('answers HEAD of a file with headers only', async () => {
    const { port } = await start(kind, byPath);
    const client = await RawClient.connect(port);
    await client.send(buildRequest('HEAD', '/file'), 'HEAD');
    await client.send(buildRequest('GET', '/after'), 'GET');
    const [head, after] = await client.responses(2);
    expect(head!.status).toBe(200);
    const cl = header(head!, 'content-length');
    if (cl !== undefined) expect(cl).toBe(String(SIZE));
    // No body bytes after the HEAD response: the GET's status line follows.
    expect(client.text().indexOf('HTTP/1.1 ', 1)).toBe(head!.rawHead.length);
    expect(after!.body.equals(content)).toBe(true);
    client.destroy();
    expect(await until(() => openOnFile().length === 0, 2000), 'file closed after HEAD').toBe(true);
  });

  it('sends a file to an HTTP/1.0 client', async () => {
    const { port } = await start(kind, byPath);
    const client = await RawClient.connect(port);
    await client.send('GET /file HTTP/1.0\r\n\r\n', 'GET');
    const [res] = await client.responses(1);
    expect(res!.complete).toBe(true);
    expect(res!.body.equals(content)).toBe(true);
    client.destroy();
  });

  it('lets the app iterate a wrapper itself', async () => {
    const { port } = await start(kind, async (environ, startResponse) => {
      const w = environ['tsgi.file_wrapper'](file, { blockSize: 10_000 });
      const parts: Uint8Array[] = [];
      try {
        for await (const c of w) parts.push(c);
      } finally {
        await w.close();
      }
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return [`${parts.length}:${Buffer.concat(parts).equals(content)}`];
    });
    const { responses } = await request(port, buildRequest('GET', '/iter'));
    expect(responses[0]!.body.toString()).toBe(`${Math.ceil(SIZE / 10_000)}:true`);
    expect(await until(() => openOnFile().length === 0, 2000)).toBe(true);
  });

  // The native server corks the socket (TCP_CORK) while it sends a file and
  // uncorks at its end: a last partial segment left corked would wait up to
  // 200 ms in the kernel, so 20 responses in a row would take 4 s or more.
  it('sends file after file on one connection without holding back their ends', async () => {
    const { port } = await start(kind, byPath);
    const client = await RawClient.connect(port, { keepRaw: false });
    const began = Date.now();
    for (let i = 0; i < 20; i++) {
      await client.send(buildRequest('GET', '/file'), 'GET');
      const res = await client.next();
      expect(res.status).toBe(200);
      expect(res.body.equals(content), `response ${i}`).toBe(true);
    }
    expect(Date.now() - began, '20 files of 1 MiB + 13 bytes, one after another').toBeLessThan(3000);
    client.destroy();
  });

  it('delivers a file intact to a client that stops reading, then reads', async () => {
    const big = path.join(dir, `slow-${kind}-${validated}.bin`);
    const bytes = randomBytes(16 * 1024 * 1024 + 5);
    fs.writeFileSync(big, bytes);
    const { port } = await start(kind, (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return environ['tsgi.file_wrapper'](big);
    });
    const client = await RawClient.connect(port, { keepRaw: false });
    client.socket.pause();
    await client.send(buildRequest('GET', '/slow'), 'GET');
    expect(await until(() => openOnFile(big).length > 0, 2000), 'file opened').toBe(true);
    // The kernel's buffers fill and the server waits for the socket.
    await new Promise<void>((r) => setImmediate(r));
    client.socket.resume();
    const res = await client.next(15_000);
    expect(res.body.length).toBe(bytes.length);
    expect(res.body.equals(bytes)).toBe(true);
    expect(await until(() => openOnFile(big).length === 0, 2000), 'file closed').toBe(true);
    client.destroy();
  });

  it('closes the file when the client goes away mid-file', async () => {
    const { port } = await start(kind, (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return environ['tsgi.file_wrapper'](bigFile);
    });
    const client = await RawClient.connect(port, { keepRaw: false });
    client.socket.pause();
    await client.send(buildRequest('GET', '/big'), 'GET');
    expect(await until(() => openOnFile(bigFile).length > 0, 2000), 'file opened').toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(openOnFile(bigFile).length, 'still sending: the client does not read').toBeGreaterThan(0);
    client.destroy();
    expect(await until(() => openOnFile(bigFile).length === 0, 3000), 'file closed after abort').toBe(true);
    // The server still works.
    const { responses } = await request(port, buildRequest('GET', '/file'));
    expect(responses[0]!.status).toBe(200);
    expect(responses[0]!.body.length).toBe(BIG);
  });
}

function headerCount(headers: [string, string][], name: string): number {
  return headers.filter(([k]) => k.toLowerCase() === name).length;
}
