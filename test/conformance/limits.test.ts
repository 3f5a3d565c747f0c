// limits.test.ts: the limits and timeouts of ServeOptions (src/types.ts) —
// defaults and options, each answered with its ready-made response (or a
// cut connection) without calling the application.
import { expect, it } from 'vitest';
import type { Application } from '../../src/index.js';
import { buildRequest, deferred, get, RawClient, sleep, until } from '../helpers/http.js';
import { closeServer, forEachServer, start } from '../helpers/servers.js';

function counting(): { app: Application; calls: () => number } {
  let n = 0;
  return {
    calls: () => n,
    app: async (environ, startResponse) => {
      n++;
      const body = await environ['tsgi.input'].read();
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`${environ.PATH_INFO.length}:${body.length}`];
    },
  };
}

/** Sends `data` on a fresh connection; returns the status of the first
 * response (undefined if none) and whether the server closed. */
async function statusOf(port: number, data: string | Buffer, method = 'GET') {
  const client = await RawClient.connect(port);
  await client.send(data, method);
  const [res] = await client.responses(1, 5000);
  // Only error responses are expected to close the connection.
  const closed = res === undefined || res.status >= 400 ? await client.waitClose(3000) : false;
  client.destroy();
  return { status: res?.status, closed };
}

forEachServer((kind) => {
  it('answers a target over 8 KiB with 414 (default maxUrlSize)', async () => {
    const { app, calls } = counting();
    const { port } = await start(kind, app);
    const ok = await get(port, `/${'a'.repeat(7 * 1024)}`);
    expect(ok.status).toBe(200);
    const r = await statusOf(port, buildRequest('GET', `/${'a'.repeat(9 * 1024)}`));
    expect(r).toEqual({ status: 414, closed: true });
    expect(calls()).toBe(1);
  });

  it('answers more than 100 header fields with 431 (default maxHeaderCount)', async () => {
    const { app, calls } = counting();
    const { port } = await start(kind, app);
    const headers = (n: number): [string, string][] =>
      Array.from({ length: n }, (_, i) => [`X-F${i}`, 'v'] as [string, string]);
    // Host + 99 = 100 fields: fine.
    const ok = await statusOf(port, buildRequest('GET', '/', { headers: headers(99) }));
    expect(ok.status).toBe(200);
    const r = await statusOf(port, buildRequest('GET', '/', { headers: headers(120) }));
    expect(r).toEqual({ status: 431, closed: true });
    expect(calls()).toBe(1);
  });

  it('answers a declared body over 16 MiB with 413 (default maxBodySize)', async () => {
    const { app, calls } = counting();
    const { port } = await start(kind, app);
    const r = await statusOf(
      port,
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${16 * 1024 * 1024 + 1}\r\n\r\n`,
      'POST',
    );
    expect(r).toEqual({ status: 413, closed: true });
    expect(calls()).toBe(0);
  });

  it('applies maxBodySize from the options, to Content-Length and chunked bodies', async () => {
    const { app } = counting();
    const { port } = await start(kind, app, { maxBodySize: 1000 });
    const ok = await get(port, '/');
    expect(ok.status).toBe(200);
    const atLimit = await statusOf(port, buildRequest('POST', '/', { body: 'x'.repeat(1000) }), 'POST');
    expect(atLimit.status).toBe(200);
    const over = await statusOf(port, buildRequest('POST', '/', { body: 'x'.repeat(1001) }), 'POST');
    expect(over).toEqual({ status: 413, closed: true });
    const chunkedOver = await statusOf(
      port,
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '200\r\n' + 'y'.repeat(0x200) + '\r\n' +
        '200\r\n' + 'y'.repeat(0x200) + '\r\n0\r\n\r\n',
      'POST',
    );
    expect(chunkedOver.status === 413 || chunkedOver.status === undefined).toBe(true);
    expect(chunkedOver.closed).toBe(true);
  });

  it('applies maxUrlSize, maxHeaderSize and maxHeaderCount from the options', async () => {
    const { app } = counting();
    const { port } = await start(kind, app, { maxUrlSize: 100, maxHeaderSize: 2048, maxHeaderCount: 10 });
    expect((await statusOf(port, buildRequest('GET', `/${'u'.repeat(200)}`))).status).toBe(414);
    expect((await statusOf(port, buildRequest('GET', '/', { headers: [['X-Big', 'h'.repeat(3000)]] }))).status).toBe(431);
    const many = Array.from({ length: 15 }, (_, i) => [`X-M${i}`, 'v'] as [string, string]);
    expect((await statusOf(port, buildRequest('GET', '/', { headers: many }))).status).toBe(431);
    expect((await get(port, `/${'u'.repeat(50)}`)).status).toBe(200);
  });

  it('closes an idle keep-alive connection after keepAliveTimeout', async () => {
    const { app } = counting();
    const { port } = await start(kind, app, { keepAliveTimeout: 0.3 });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    expect((await client.next()).status).toBe(200);
    const t0 = Date.now();
    expect(await client.waitClose(3000), 'idle connection closed').toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
  });

  it('answers an incomplete head with 408 after headersTimeout', async () => {
    const { app, calls } = counting();
    const { port } = await start(kind, app, { headersTimeout: 0.5 });
    const client = await RawClient.connect(port);
    await client.send('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ', 'GET');
    const t0 = Date.now();
    const [res] = await client.responses(1, 4000);
    expect(res?.status).toBe(408);
    expect(await client.waitClose(2000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(calls()).toBe(0);
  });

  it('answers a body that never completes with 408 after requestTimeout', async () => {
    const { app } = counting();
    const { port } = await start(kind, app, { requestTimeout: 0.5, headersTimeout: 0.4 });
    const client = await RawClient.connect(port);
    await client.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part', 'POST');
    const [res] = await client.responses(1, 4000);
    expect(res?.status === 408 || res === undefined, `status ${res?.status}`).toBe(true);
    expect(await client.waitClose(3000), 'connection closed').toBe(true);
  });

  it('cuts a response the client does not read after sendTimeout, and closes the body', async () => {
    let closes = 0;
    const { port } = await start(
      kind,
      (_env, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
        const g = (async function* () {
          for (let i = 0; i < 4096; i++) yield Buffer.alloc(64 * 1024, 0x62);
        })();
        return Object.assign(g, { close: () => void closes++ });
      },
      { sendTimeout: 0.5 },
    );
    const client = await RawClient.connect(port, { keepRaw: false });
    client.socket.pause();
    await client.send(buildRequest('GET', '/'), 'GET');
    await sleep(2500);
    client.socket.resume();
    expect(await client.waitClose(5000), 'the server cut the connection').toBe(true);
    expect(client.parser.responses[0]?.complete).toBe(false);
    expect(closes).toBe(1);
  });

  it('cuts requests still in flight after gracefulTimeout when closing', async () => {
    const inApp = deferred();
    let closes = 0;
    let ended = false;
    const { server, port, errors } = await start(
      kind,
      (_env, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'text/plain']]);
        const g = (async function* () {
          inApp.resolve();
          try {
            for (let i = 0; i < 1000; i++) {
              yield `t${i}\n`;
              await sleep(20);
            }
          } finally {
            ended = true;
          }
        })();
        return Object.assign(g, { close: () => void closes++ });
      },
      { gracefulTimeout: 0.5 },
    );
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    await inApp.promise;
    const t0 = Date.now();
    await closeServer(server, 5000);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(await client.waitClose(2000)).toBe(true);
    expect(client.parser.responses[0]?.complete).toBe(false);
    // Settled: the generator has ended (its pending step returned and its
    // finally ran) and the server is closed, so no second call can come.
    expect(await until(() => ended && closes >= 1), 'the body ended and was closed').toBe(true);
    await new Promise<void>((r) => setImmediate(r));
    expect(closes).toBe(1);
    expect(errors.text(), 'no second close() refused by validate()').not.toMatch(/twice/);
  });
});
