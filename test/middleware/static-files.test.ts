// static-files.test.ts: staticFiles on both servers: types, validators and
// 304, single ranges (206/416), HEAD, index files, and a root that cannot
// be left (.., encoded dots and slashes, NUL, symlinks out, absolute paths).
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { staticFiles, urlMap } from '../../src/middleware/index.js';
import { buildRequest, header, request, type HeaderList, type HttpResponse } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

let dir = '';
let root = '';
const BIG = Buffer.alloc(300_000);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 31) & 0xff;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsgi-static-'));
  root = join(dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(root, 'hello.txt'), 'Hello, static!\n');
  writeFileSync(join(root, 'style.css'), 'body { color: red }\n');
  writeFileSync(join(root, 'big.bin'), BIG);
  writeFileSync(join(root, 'sub', 'index.html'), '<p>index</p>\n');
  writeFileSync(join(root, '.secret'), 'dotfile\n');
  writeFileSync(join(dir, 'outside', 'secret.txt'), 'SECRET\n');
  writeFileSync(join(dir, 'rootsibling.txt'), 'SIBLING\n');
  symlinkSync(join(dir, 'outside', 'secret.txt'), join(root, 'link-out'));
  symlinkSync(join(dir, 'outside'), join(root, 'dir-out'));
  symlinkSync(join(root, 'hello.txt'), join(root, 'link-in'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function get(port: number, target: string, headers: HeaderList = [], method = 'GET'): Promise<HttpResponse> {
  return (await request(port, buildRequest(method, target, { headers }), { methods: [method] })).responses[0]!;
}

forEachServer((kind) => {
  // validate: false, so that the server sees the file wrapper (sendfile).
  const serveRoot = () => start(kind, staticFiles(root), { validate: false });

  it('serves a file with its type, length, validators and Accept-Ranges; HEAD without the body', async () => {
    const { port } = await serveRoot();
    const res = await get(port, '/hello.txt');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('Hello, static!\n');
    expect(header(res, 'content-type')).toBe('text/plain; charset=utf-8');
    expect(header(res, 'content-length')).toBe('15');
    expect(header(res, 'accept-ranges')).toBe('bytes');
    expect(header(res, 'etag')).toMatch(/^"[0-9a-f]+-f"$/);
    expect(header(res, 'last-modified')).toBe(new Date(Math.floor(statSync(join(root, 'hello.txt')).mtimeMs / 1000) * 1000).toUTCString());
    expect(header(await get(port, '/style.css'), 'content-type')).toBe('text/css; charset=utf-8');
    expect(header(await get(port, '/big.bin'), 'content-type')).toBe('application/octet-stream');
    const head = await get(port, '/hello.txt', [], 'HEAD');
    expect(head.status).toBe(200);
    expect(header(head, 'content-length')).toBe('15');
    expect(head.body.length).toBe(0);
  });

  it('sends a large file whole (sendfile on native)', async () => {
    const { port } = await serveRoot();
    const res = await get(port, '/big.bin');
    expect(res.body.equals(BIG)).toBe(true);
  });

  it('answers If-None-Match and If-Modified-Since with 304, If-None-Match first', async () => {
    const { port } = await serveRoot();
    const first = await get(port, '/hello.txt');
    const etag = header(first, 'etag')!;
    const modified = header(first, 'last-modified')!;
    const same = await get(port, '/hello.txt', [['If-None-Match', `"other", W/${etag}`]]);
    expect(same.status).toBe(304);
    expect(same.body.length).toBe(0);
    expect(header(same, 'etag')).toBe(etag);
    expect((await get(port, '/hello.txt', [['If-None-Match', '"other"']])).status).toBe(200);
    expect((await get(port, '/hello.txt', [['If-Modified-Since', modified]])).status).toBe(304);
    expect((await get(port, '/hello.txt', [['If-Modified-Since', 'Thu, 01 Jan 1998 00:00:00 GMT']])).status).toBe(200);
    // RFC 9110 §13.1.3: with If-None-Match, If-Modified-Since is ignored.
    expect((await get(port, '/hello.txt', [['If-None-Match', '"other"'], ['If-Modified-Since', modified]])).status).toBe(200);
  });

  it('answers a single Range with 206, an unsatisfiable one with 416, and several with the whole file', async () => {
    const { port } = await serveRoot();
    const size = BIG.length;
    const part = await get(port, '/big.bin', [['Range', 'bytes=100-199']]);
    expect(part.status).toBe(206);
    expect(header(part, 'content-range')).toBe(`bytes 100-199/${size}`);
    expect(part.body.equals(BIG.subarray(100, 200))).toBe(true);
    const suffix = await get(port, '/big.bin', [['Range', 'bytes=-10']]);
    expect(suffix.status).toBe(206);
    expect(suffix.body.equals(BIG.subarray(size - 10))).toBe(true);
    const open = await get(port, '/big.bin', [['Range', `bytes=${size - 5}-`]]);
    expect(header(open, 'content-range')).toBe(`bytes ${size - 5}-${size - 1}/${size}`);
    const beyond = await get(port, '/big.bin', [['Range', `bytes=${size}-`]]);
    expect(beyond.status).toBe(416);
    expect(header(beyond, 'content-range')).toBe(`bytes */${size}`);
    const several = await get(port, '/big.bin', [['Range', 'bytes=0-1, 5-6']]);
    expect(several.status).toBe(200);
    expect(several.body.length).toBe(size);
    const etag = header(part, 'etag')!;
    expect((await get(port, '/big.bin', [['Range', 'bytes=0-1'], ['If-Range', etag]])).status).toBe(206);
    expect((await get(port, '/big.bin', [['Range', 'bytes=0-1'], ['If-Range', '"stale"']])).status).toBe(200);
  });

  it('serves a directory index, redirecting to the trailing slash first (under a mount)', async () => {
    const { port } = await start(kind, urlMap({ '/static': staticFiles(root) }), { validate: false });
    const redirect = await get(port, '/static/sub?x=1');
    expect(redirect.status).toBe(301);
    expect(header(redirect, 'location')).toBe('/static/sub/?x=1');
    const index = await get(port, '/static/sub/');
    expect(index.status).toBe(200);
    expect(header(index, 'content-type')).toBe('text/html; charset=utf-8');
    expect(index.body.toString()).toBe('<p>index</p>\n');
    expect((await get(port, '/static/hello.txt')).body.toString()).toBe('Hello, static!\n');
  });

  it('never leaves the root', async () => {
    const { port } = await serveRoot();
    const refused: [string, number][] = [
      ['/../outside/secret.txt', 404],
      ['/sub/../../outside/secret.txt', 404],
      ['/%2e%2e/outside/secret.txt', 404],
      ['/%2E%2E%2Foutside%2Fsecret.txt', 404],
      ['/sub/..%2f..%2frootsibling.txt', 404],
      ['/..%5coutside%5csecret.txt', 404],
      ['/hello.txt%00.png', 400],
      ['/link-out', 404],
      ['/dir-out/secret.txt', 404],
      ['//etc/passwd', 404],
      ['/%2Fetc%2Fpasswd', 404],
      [`/${join(dir, 'outside', 'secret.txt')}`, 404],
      ['/.secret', 404],
    ];
    for (const [target, status] of refused) {
      const res = await get(port, target);
      expect({ target, status: res.status }).toEqual({ target, status });
      expect(res.body.toString()).not.toMatch(/SECRET|SIBLING|root:/);
    }
    // A symlink that stays inside is followed.
    expect((await get(port, '/link-in')).body.toString()).toBe('Hello, static!\n');
  });

  it('answers other methods with 405, or hands them and misses to a fallback', async () => {
    const plain = await serveRoot();
    const post = await get(plain.port, '/hello.txt', [['Content-Length', '0']], 'POST');
    expect(post.status).toBe(405);
    expect(header(post, 'allow')).toBe('GET, HEAD');
    const withFallback = await start(kind, staticFiles(root, { fallback: (_e, sr) => (sr('200 OK', [['Content-Type', 'text/plain']]), ['app']) }));
    expect((await get(withFallback.port, '/nope')).body.toString()).toBe('app');
    expect((await get(withFallback.port, '/hello.txt', [['Content-Length', '0']], 'POST')).body.toString()).toBe('app');
  });
});
