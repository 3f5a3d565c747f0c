// compress.test.ts: compress on both servers: negotiation by q-values, the
// three codings (decoded with node:zlib), streaming with a flush per chunk
// and backpressure, Vary, and every case it must leave alone; and the
// middleware composed with each other.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { compose, compress, errorPage, negotiate, staticFiles, urlMap } from '../../src/middleware/index.js';
import type { Application, Header } from '../../src/types.js';
import { buildRequest, deferred, header, RawClient, request, sleep, type HeaderList, type HttpResponse } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const TEXT = 'The quick brown fox jumps over the lazy dog. '.repeat(200); // 9,000 bytes

function decode(res: HttpResponse): string {
  const coding = header(res, 'content-encoding');
  const body = res.body;
  const out = coding === 'gzip' ? gunzipSync(body) : coding === 'br' ? brotliDecompressSync(body) : coding === 'deflate' ? inflateSync(body) : body;
  return out.toString();
}

const fixed = (status: string, headers: Header[], body: string | Buffer = TEXT): Application => (_e, startResponse) => {
  startResponse(status, headers);
  return [body];
};

async function get(port: number, target: string, headers: HeaderList, method = 'GET'): Promise<HttpResponse> {
  return (await request(port, buildRequest(method, target, { headers }), { methods: [method] })).responses[0]!;
}

it('negotiates on q-values, ties going to the server order', () => {
  const all = ['br', 'gzip', 'deflate'] as const;
  expect(negotiate('gzip;q=0.5, br;q=0.9', all)).toBe('br');
  expect(negotiate('deflate, gzip', all)).toBe('gzip');
  expect(negotiate('gzip;q=0, *;q=0.2', all)).toBe('br');
  expect(negotiate('br;q=0, gzip;q=0', ['br', 'gzip'])).toBe(null);
  expect(negotiate('identity', all)).toBe(null);
  expect(negotiate(undefined, all)).toBe(null);
  expect(negotiate('x-gzip', all)).toBe('gzip');
  expect(() => compress({ encodings: ['zstd' as 'br'] })).toThrow('compress: unknown coding "zstd"');
});

forEachServer((kind) => {
  it('compresses with each coding the client prefers, with Vary, a new length and a weak ETag', async () => {
    const { port } = await start(kind, compress()(fixed('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', String(TEXT.length)], ['ETag', '"abc"']])));
    for (const [accept, coding] of [['gzip', 'gzip'], ['deflate;q=1, gzip;q=0.5', 'deflate'], ['gzip;q=0.8, br', 'br']] as const) {
      const res = await get(port, '/', [['Accept-Encoding', accept]]);
      expect(header(res, 'content-encoding')).toBe(coding);
      expect(header(res, 'vary')).toBe('Accept-Encoding');
      expect(header(res, 'etag')).toBe('W/"abc"');
      expect(Number(header(res, 'content-length'))).toBe(res.body.length);
      expect(res.body.length).toBeLessThan(TEXT.length / 10);
      expect(decode(res)).toBe(TEXT);
    }
    const identity = await get(port, '/', []);
    expect(header(identity, 'content-encoding')).toBeUndefined();
    expect(header(identity, 'vary')).toBe('Accept-Encoding');
    expect(identity.body.toString()).toBe(TEXT);
  });

  it('leaves alone small bodies, encoded ones, no-transform, HEAD, 204, 304 and other types', async () => {
    const cases: [string, Application, string][] = [
      ['small', fixed('200 OK', [['Content-Type', 'text/plain']], 'tiny'), 'GET'],
      ['encoded', fixed('200 OK', [['Content-Type', 'text/plain'], ['Content-Encoding', 'gzip']], Buffer.from('not really gzip')), 'GET'],
      ['no-transform', fixed('200 OK', [['Content-Type', 'text/plain'], ['Cache-Control', 'public, no-transform']]), 'GET'],
      ['head', fixed('200 OK', [['Content-Type', 'text/plain']]), 'HEAD'],
      ['204', fixed('204 No Content', [['Content-Type', 'text/plain']], ''), 'GET'],
      ['304', fixed('304 Not Modified', [['Content-Type', 'text/plain'], ['ETag', '"x"']], ''), 'GET'],
      ['png', fixed('200 OK', [['Content-Type', 'image/png']]), 'GET'],
    ];
    for (const [name, app, method] of cases) {
      const { port } = await start(kind, compress()(app));
      const res = await get(port, '/', [['Accept-Encoding', 'gzip, br']], method);
      expect({ name, encoding: header(res, 'content-encoding') }).toEqual({ name, encoding: name === 'encoded' ? 'gzip' : undefined });
      if (name === 'small' || name === 'no-transform') expect(res.body.toString()).toBe(name === 'small' ? 'tiny' : TEXT);
      if (name === 'png') expect(header(res, 'vary')).toBeUndefined();
    }
  });

  it('streams: each chunk is flushed to the client before the next is produced', async () => {
    const seen = deferred();
    const { port } = await start(kind, compress({ threshold: 0 })((_e, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/event-stream']]);
      return (async function* () {
        yield 'data: one\n\n';
        const won = await Promise.race([seen.promise.then(() => true), sleep(5000).then(() => false)]);
        yield won ? 'data: two\n\n' : 'data: TIMEOUT\n\n';
      })();
    }));
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/', { headers: [['Accept-Encoding', 'gzip']] }), 'GET');
    // The head and the first flushed gzip block arrive while the app waits.
    await client.waitFor(() => client.parser.pendingBodyBytes > 10, 3000, 'the first compressed chunk');
    seen.resolve();
    const res = await client.next();
    client.destroy();
    expect(header(res, 'content-encoding')).toBe('gzip');
    expect(res.framing).toBe('chunked');
    expect(decode(res)).toBe('data: one\n\ndata: two\n\n');
  });

  it('stops asking for chunks while the client does not read (backpressure)', async () => {
    let produced = 0;
    const { port } = await start(kind, compress()((_e, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        for (;;) {
          const chunk = randomBytes(64 * 1024); // does not compress: output is as large
          produced += chunk.length;
          yield chunk;
        }
      })();
    }));
    const socket = connect({ host: '127.0.0.1', port });
    socket.pause();
    socket.write(buildRequest('GET', '/', { headers: [['Accept-Encoding', 'gzip']] }));
    const end = Date.now() + 5000;
    while (produced === 0 && Date.now() < end) await sleep(10);
    await sleep(500);
    expect(produced).toBeGreaterThan(0);
    expect(produced).toBeLessThan(32 * 1024 * 1024);
    socket.destroy();
  });

  it('composes with errorPage, urlMap and staticFiles', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-compose-'));
    try {
      writeFileSync(join(dir, 'page.html'), `<p>${TEXT}</p>`);
      const failing: Application = () => {
        throw new Error('<oops>');
      };
      const app = compose(errorPage({ debug: true }), compress({ threshold: 100 }))(
        urlMap({ '/static': staticFiles(dir), '/fail': failing }),
      );
      const { port } = await start(kind, app);
      const page = await get(port, '/static/page.html', [['Accept-Encoding', 'br']]);
      expect(page.status).toBe(200);
      expect(header(page, 'content-encoding')).toBe('br');
      expect(header(page, 'content-type')).toBe('text/html; charset=utf-8');
      expect(decode(page)).toBe(`<p>${TEXT}</p>`);
      const ranged = await get(port, '/static/page.html', [['Accept-Encoding', 'br'], ['Range', 'bytes=0-2']]);
      expect(ranged.status).toBe(206);
      expect(header(ranged, 'content-encoding')).toBeUndefined();
      expect(ranged.body.toString()).toBe('<p>');
      const failed = await get(port, '/fail', [['Accept-Encoding', 'gzip']]);
      expect(failed.status).toBe(500);
      expect(decode(failed)).toContain('Error: &lt;oops&gt;');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
