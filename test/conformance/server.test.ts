// server.test.ts: many concurrent connections, and server.close() —
// idle keep-alive connections closed at once, requests in flight finished.
import { expect, it } from 'vitest';
import type { Application } from '../../src/index.js';
import { buildRequest, connectionHas, deferred, get, RawClient, refused, sleep } from '../helpers/http.js';
import { closeServer, forEachServer, start } from '../helpers/servers.js';

const echoPath: Application = (environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [`path=${environ.PATH_INFO}`];
};

forEachServer((kind) => {
  it('serves 200 concurrent connections', async () => {
    const { port } = await start(kind, async (environ, startResponse) => {
      await sleep(Number(environ.QUERY_STRING) % 7);
      return echoPath(environ, startResponse);
    });
    const clients = await Promise.all(Array.from({ length: 200 }, () => RawClient.connect(port)));
    await Promise.all(clients.map((c, i) => c.send(buildRequest('GET', `/c${i}?${i}`), 'GET')));
    const results = await Promise.all(clients.map((c) => c.next(15_000)));
    for (const [i, r] of results.entries()) {
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(`path=/c${i}`);
    }
    for (const c of clients) c.destroy();
  });

  it('reports its kind, host, port and url', async () => {
    const { server, port } = await start(kind, echoPath);
    expect(server.kind).toBe(kind);
    expect(server.host).toBe('127.0.0.1');
    expect(port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${port}`);
    const res = await fetch(`${server.url}/via-fetch`);
    expect(await res.text()).toBe('path=/via-fetch');
  });

  it('close() closes an idle keep-alive connection and resolves', async () => {
    const { server, port } = await start(kind, echoPath);
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/idle'), 'GET');
    expect((await client.next()).status).toBe(200);
    expect(client.closed).toBe(false);
    const t0 = Date.now();
    await closeServer(server, 3000);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await client.waitClose(2000), 'the idle socket is closed').toBe(true);
    expect(await refused(port), 'no longer accepting').toBe(true);
  });

  it('close() lets a request in flight finish with its full response first', async () => {
    const inApp = deferred();
    let appDone = 0;
    let closeResolved = 0;
    const { server, port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        inApp.resolve();
        yield 'part-1;';
        await sleep(300);
        yield 'part-2;';
        await sleep(100);
        yield 'end';
        appDone = Date.now();
      })();
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/slow'), 'GET');
    await inApp.promise;
    await sleep(20);
    const closing = closeServer(server, 5000).then(() => {
      closeResolved = Date.now();
    });
    // A new connection is not accepted while closing.
    await sleep(50);
    expect(await refused(port), 'no longer accepting while closing').toBe(true);
    await closing;
    expect(appDone, 'the app finished its body').toBeGreaterThan(0);
    expect(closeResolved).toBeGreaterThanOrEqual(appDone);
    const [res] = await client.responses(1, 3000);
    expect(res!.complete, 'full response').toBe(true);
    expect(res!.body.toString()).toBe('part-1;part-2;end');
    expect(await client.waitClose(2000)).toBe(true);
  });

  it('close() marks a response in flight with Connection: close', async () => {
    const go = deferred();
    const inApp = deferred();
    const { server, port } = await start(kind, async (_env, startResponse) => {
      inApp.resolve();
      await go.promise;
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['done'];
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    await inApp.promise;
    const closing = closeServer(server, 5000);
    await sleep(50);
    go.resolve();
    await closing;
    const [res] = await client.responses(1, 3000);
    expect(res!.body.toString()).toBe('done');
    expect(connectionHas(res!, 'close')).toBe(true);
  });

  it('can start and close many servers in a row', async () => {
    for (let i = 0; i < 10; i++) {
      const { server, port } = await start(kind, echoPath);
      expect((await get(port, `/s${i}`)).body.toString()).toBe(`path=/s${i}`);
      await closeServer(server, 3000);
    }
  });

  it('answers a malformed request with 400, closes, and keeps serving', async () => {
    let calls = 0;
    const { port } = await start(kind, (environ, startResponse) => {
      calls++;
      return echoPath(environ, startResponse);
    });
    const client = await RawClient.connect(port);
    // A header line without a colon: malformed for every parser.
    await client.send('GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n', 'GET');
    const [res] = await client.responses(1, 3000);
    expect(res?.status).toBe(400);
    expect(await client.waitClose(3000)).toBe(true);
    expect(calls, 'the app is not called for a malformed request').toBe(0);
    expect((await get(port, '/fine')).body.toString()).toBe('path=/fine');
  });

  it('answers a request head over 16 KiB with 431 and keeps serving', async () => {
    let calls = 0;
    const { port } = await start(kind, (environ, startResponse) => {
      calls++;
      return echoPath(environ, startResponse);
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/', { headers: [['X-Huge', 'h'.repeat(20 * 1024)]] }), 'GET');
    const [res] = await client.responses(1, 3000);
    expect(res?.status).toBe(431);
    expect(await client.waitClose(3000)).toBe(true);
    expect(calls).toBe(0);
    expect((await get(port, '/fine')).body.toString()).toBe('path=/fine');
  });

  it('rejects serve() on a port in use', async () => {
    const { port } = await start(kind, echoPath);
    await expect(start(kind, echoPath, { port })).rejects.toThrow();
  });
});
