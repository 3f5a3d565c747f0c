// node-listener.test.ts: toNodeListener on a plain node:http server
// (server.on('request')) and mounted in real Express, where SCRIPT_NAME is
// the mount point.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { toNodeListener, type Application } from '../../src/index.js';
import { captureStream } from '../helpers/servers.js';

const dump: Application = async (environ, startResponse) => {
  const body = environ.REQUEST_METHOD === 'POST' ? Buffer.from(await environ['tsgi.input'].read()).toString() : '';
  const out = JSON.stringify({
    SCRIPT_NAME: environ.SCRIPT_NAME,
    PATH_INFO: environ.PATH_INFO,
    QUERY_STRING: environ.QUERY_STRING,
    REQUEST_URI: environ.REQUEST_URI,
    SERVER_PORT: environ.SERVER_PORT,
    HTTP_X_A: environ.HTTP_X_A,
    body,
  });
  startResponse('200 OK', [['Content-Type', 'application/json'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
  return [out];
};

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('toNodeListener', () => {
  it("serves an app on a plain node:http server through server.on('request')", async () => {
    const server = createServer();
    server.on('request', toNodeListener(dump));
    const base = await listen(server);
    const res = await fetch(`${base}/a/b%20c?x=1`, { method: 'POST', body: 'payload', headers: { 'X-A': 'yes' } });
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await res.json()).toEqual({
      SCRIPT_NAME: '',
      PATH_INFO: '/a/b c',
      QUERY_STRING: 'x=1',
      REQUEST_URI: '/a/b%20c?x=1',
      SERVER_PORT: base.split(':')[2],
      HTTP_X_A: 'yes',
      body: 'payload',
    });
  });

  it('sets SCRIPT_NAME from the Express mount point, and leaves other routes to Express', async () => {
    const app = express();
    app.use('/tsgi', toNodeListener(dump));
    app.get('/other', (_req, res) => void res.send('express'));
    const base = await listen(createServer(app));
    const under = await (await fetch(`${base}/tsgi/deep/path?q=2`)).json();
    expect(under).toMatchObject({ SCRIPT_NAME: '/tsgi', PATH_INFO: '/deep/path', QUERY_STRING: 'q=2', REQUEST_URI: '/tsgi/deep/path?q=2' });
    const root = await (await fetch(`${base}/tsgi`)).json();
    expect(root).toMatchObject({ SCRIPT_NAME: '/tsgi', PATH_INFO: '', REQUEST_URI: '/tsgi' });
    const slash = await (await fetch(`${base}/tsgi/`)).json();
    expect(slash).toMatchObject({ SCRIPT_NAME: '/tsgi', PATH_INFO: '/' });
    expect(await (await fetch(`${base}/other`)).text()).toBe('express');
  });

  it('reads an uploaded body through Express, and answers an application error with a 500', async () => {
    const errors = captureStream();
    const app = express();
    app.use('/api', toNodeListener(
      (environ, startResponse) => {
        if (environ.PATH_INFO === '/fail') throw new Error('listener boom');
        return dump(environ, startResponse);
      },
      { errors },
    ));
    const base = await listen(createServer(app));
    const big = 'x'.repeat(3 * 1024 * 1024);
    const res = await (await fetch(`${base}/api/up`, { method: 'POST', body: big })).json();
    expect(res.body.length).toBe(big.length);
    const failed = await fetch(`${base}/api/fail`);
    expect(failed.status).toBe(500);
    expect(errors.text()).toContain('listener boom');
  });

  it('calls close() when the client goes away mid-response', async () => {
    let closed = 0;
    let resolveClosed!: () => void;
    const closedOnce = new Promise<void>((r) => (resolveClosed = r));
    const server = createServer(
      toNodeListener((_env, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'text/plain']]);
        return {
          async *[Symbol.asyncIterator]() {
            for (;;) {
              yield 'tick\n';
              await new Promise((r) => setTimeout(r, 5));
            }
          },
          close() {
            closed++;
            resolveClosed();
          },
        };
      }),
    );
    const base = await listen(server);
    const controller = new AbortController();
    const res = await fetch(base, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await closedOnce;
    expect(closed).toBe(1);
  });
});
