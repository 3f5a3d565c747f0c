// hono.test.ts: one Hono application (params, JSON in and out, a streamed
// response, a large upload, cookies, an error route, a redirect) served by
// both tsgi servers through fromFetchHandler and by @hono/node-server as the
// anchor: every answer must be the anchor's.
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve as honoServe } from '@hono/node-server';
import { Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { streamText } from 'hono/streaming';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromFetchHandler, serve } from '../../src/index.js';
import { SERVERS } from '../helpers/servers.js';

const UPLOAD = Buffer.alloc(8 * 1024 * 1024);
for (let i = 0; i < UPLOAD.length; i += 4096) UPLOAD.writeUInt32BE(i, i);

function makeApp(): Hono {
  const app = new Hono();
  app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), fields: c.req.query('fields') ?? null }));
  app.post('/echo', async (c) => {
    const body = (await c.req.json()) as Record<string, unknown>;
    return c.json({ received: body, type: c.req.header('content-type') }, 201);
  });
  app.get('/stream', (c) =>
    streamText(c, async (stream) => {
      for (let i = 1; i <= 3; i++) {
        await stream.write(`part ${i}\n`);
        await stream.sleep(5);
      }
    }),
  );
  app.post('/upload', async (c) => {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    return c.json({ size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  });
  app.get('/cookies', (c) => {
    setCookie(c, 'a', '1', { path: '/', httpOnly: true });
    setCookie(c, 'b', '2', { path: '/x', sameSite: 'Lax' });
    return c.text(`session=${getCookie(c, 'session') ?? ''}`);
  });
  app.get('/error', () => {
    throw new Error('boom');
  });
  app.get('/redirect', (c) => c.redirect('/users/1', 302));
  app.get('/url', (c) => c.text(new URL(c.req.url).pathname + new URL(c.req.url).search));
  app.onError((err, c) => c.text(`custom error: ${err.message}`, 500));
  return app;
}

interface Result {
  status: number;
  type: string | null;
  location: string | null;
  cookies: string[];
  body: string;
}

async function call(base: string, path: string, init?: RequestInit): Promise<Result> {
  const res = await fetch(base + path, { redirect: 'manual', ...init });
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    location: res.headers.get('location'),
    cookies: res.headers.getSetCookie(),
    body: await res.text(),
  };
}

const CASES: [string, string, RequestInit?][] = [
  ['params and query', '/users/42?fields=name'],
  ['JSON in and out', '/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: [1, 2], b: 'é' }) }],
  ['streamed response', '/stream'],
  ['large upload', '/upload', { method: 'POST', body: UPLOAD }],
  ['cookies', '/cookies', { headers: { cookie: 'session=abc; other=1' } }],
  ['error route', '/error'],
  ['redirect', '/redirect'],
  ['encoded path', '/url?q=%20x&y'],
  ['not found', '/nope'],
];

describe('a Hono app', () => {
  const bases = new Map<string, string>();
  const closers: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    const anchor = honoServe({ fetch: makeApp().fetch, hostname: '127.0.0.1', port: 0, overrideGlobalObjects: false });
    await new Promise<void>((r) => anchor.once('listening', () => r()));
    bases.set('@hono/node-server', `http://127.0.0.1:${(anchor.address() as AddressInfo).port}`);
    closers.push(() => new Promise((r) => anchor.close(() => r())));
    for (const kind of SERVERS) {
      const server = await serve(fromFetchHandler(makeApp().fetch), { host: '127.0.0.1', port: 0, server: kind });
      bases.set(kind, server.url);
      closers.push(() => server.close());
    }
  });
  afterAll(async () => {
    for (const close of closers) await close();
  });

  for (const [name, path, init] of CASES) {
    it(`${name}: every server answers as @hono/node-server`, async () => {
      const anchor = await call(bases.get('@hono/node-server')!, path, init);
      for (const kind of SERVERS) {
        expect({ kind, ...(await call(bases.get(kind)!, path, init)) }).toEqual({ kind, ...anchor });
      }
    });
  }

  it('gives the anchor answers that mean what the routes say', async () => {
    const base = bases.get('@hono/node-server')!;
    expect(JSON.parse((await call(base, '/users/42?fields=name')).body)).toEqual({ id: '42', fields: 'name' });
    expect((await call(base, '/stream')).body).toBe('part 1\npart 2\npart 3\n');
    const upload = JSON.parse((await call(base, '/upload', { method: 'POST', body: UPLOAD })).body);
    expect(upload).toEqual({ size: UPLOAD.length, sha256: createHash('sha256').update(UPLOAD).digest('hex') });
    const cookies = await call(base, '/cookies', { headers: { cookie: 'session=abc' } });
    expect(cookies.cookies).toEqual(['a=1; Path=/; HttpOnly', 'b=2; Path=/x; SameSite=Lax']);
    expect(cookies.body).toBe('session=abc');
    expect(await call(base, '/error')).toMatchObject({ status: 500, body: 'custom error: boom' });
    expect(await call(base, '/redirect')).toMatchObject({ status: 302, location: '/users/1' });
  });
});
