// timeouts.test.ts: headersTimeout (slowloris), requestTimeout (a stalled
// body), keepAliveTimeout (idle connections) and sendTimeout (a client that
// stops reading), through serve() on both servers and through the CLI
// flags. Timeouts are half a second here; each bound below allows for the
// servers' coarse tick (a quarter of the shortest timeout) and a loaded
// machine.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Application, Chunk } from '../../src/index.js';
import { buildRequest, connectionHas, get, RawClient, sleep, until, type HttpResponse } from '../helpers/http.js';
import { forEachServer, SERVERS, start } from '../helpers/servers.js';
import { killAllCli, requireBuild, startCli, writeFixtures } from '../helpers/cli.js';

const HALF = 0.5;
// A timeout of HALF fires between 500 and 625 ms; allow for load.
const EARLIEST_MS = 400;
const LATEST_MS = 1600;
// node:http waits one second more than keepAliveTimeout before it closes
// an idle connection (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER in
// lib/_http_server.js); documented in src/node/server.ts.
const KEEP_ALIVE_EXTRA_MS = { native: 0, node: 1000 } as const;

const hello: Application = (_env, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return ['hello\n'];
};

function only(client: RawClient): HttpResponse {
  expect(client.parser.responses).toHaveLength(1);
  return client.parser.responses[0]!;
}

function expect408(res: HttpResponse): void {
  expect(res.status).toBe(408);
  expect(connectionHas(res, 'close')).toBe(true);
}

/** Writes `text` one byte every `everyMs` until the socket closes. */
function drip(client: RawClient, text: string, everyMs: number): { sent: () => number; stop: () => void } {
  let i = 0;
  const timer = setInterval(() => {
    if (client.closed || client.socket.destroyed || i >= text.length) {
      clearInterval(timer);
      return;
    }
    client.socket.write(text[i++]!);
  }, everyMs);
  return { sent: () => i, stop: () => clearInterval(timer) };
}

/** An endless body of 64 KiB chunks that records its progress. */
function endless() {
  const state = { yielded: 0, lastYieldAt: 0, closedAt: 0, closes: 0 };
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const app: Application = (env, startResponse) => {
    if (env.PATH_INFO !== '/big') return hello(env, startResponse);
    startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
    const body = (async function* (): AsyncGenerator<Chunk> {
      for (;;) {
        state.yielded++;
        state.lastYieldAt = Date.now();
        yield chunk;
      }
    })();
    return Object.assign(body, {
      close: () => {
        state.closes++;
        state.closedAt = Date.now();
      },
    });
  };
  return { app, state };
}

forEachServer((kind) => {
  it('answers 408 and closes when a head is dripped a byte every 100 ms (headersTimeout)', async () => {
    let calls = 0;
    const { port } = await start(kind, (env, s) => (calls++, hello(env, s)), { headersTimeout: HALF });
    const client = await RawClient.connect(port);
    const t0 = Date.now();
    const dripping = drip(client, 'GET /slowloris HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: ' + 'x'.repeat(200), 100);
    await client.waitFor(() => client.closed, 3000, 'the server to close the connection');
    dripping.stop();
    const elapsed = Date.now() - t0;
    expect408(only(client));
    expect(elapsed).toBeGreaterThanOrEqual(EARLIEST_MS);
    expect(elapsed).toBeLessThan(LATEST_MS);
    expect(dripping.sent()).toBeGreaterThan(3);
    expect(calls).toBe(0);
  });

  it('answers 408 to a partial head followed by silence', async () => {
    const { port } = await start(kind, hello, { headersTimeout: HALF });
    const client = await RawClient.connect(port);
    const t0 = Date.now();
    await client.send('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Partial: yes');
    await client.waitFor(() => client.closed, 3000, 'the server to close the connection');
    const elapsed = Date.now() - t0;
    expect408(only(client));
    expect(elapsed).toBeGreaterThanOrEqual(EARLIEST_MS);
    expect(elapsed).toBeLessThan(LATEST_MS);
  });

  it('answers 408 to a partial second head on a keep-alive connection', async () => {
    const { port } = await start(kind, hello, { headersTimeout: HALF, keepAliveTimeout: 5 });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/first'), 'GET');
    expect((await client.next()).status).toBe(200);
    const t0 = Date.now();
    await client.send('GET /second HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'GET');
    await client.waitFor(() => client.closed, 3000, 'the server to close the connection');
    const elapsed = Date.now() - t0;
    expect(client.parser.responses).toHaveLength(2);
    expect408(client.parser.responses[1]!);
    expect(elapsed).toBeLessThan(LATEST_MS);
  });

  it('answers 408 and closes when a request body stalls (requestTimeout)', async () => {
    let readError: unknown;
    const { port } = await start(
      kind,
      async (env, startResponse) => {
        try {
          const body = await env['tsgi.input'].read();
          startResponse('200 OK', [['Content-Type', 'text/plain']]);
          return [`got ${body.length} bytes\n`];
        } catch (err) {
          readError = err;
          throw err;
        }
      },
      { requestTimeout: HALF },
    );
    const client = await RawClient.connect(port);
    const t0 = Date.now();
    await client.send(
      Buffer.concat([buildRequest('POST', '/upload', { headers: [['Content-Length', '1000']] }), Buffer.alloc(100, 0x62)]),
      'POST',
    );
    await client.waitFor(() => client.closed, 3000, 'the server to close the connection');
    const elapsed = Date.now() - t0;
    expect408(only(client));
    expect(elapsed).toBeGreaterThanOrEqual(EARLIEST_MS);
    expect(elapsed).toBeLessThan(LATEST_MS);
    // The application waiting for the body learns that it will not come.
    expect(await until(() => readError !== undefined, 2000)).toBe(true);
  });

  it('closes an idle keep-alive connection after keepAliveTimeout without sending anything', async () => {
    const { port } = await start(kind, hello, { keepAliveTimeout: HALF });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    const res = await client.next();
    expect(res.status).toBe(200);
    expect(connectionHas(res, 'close')).toBe(false);
    const t0 = Date.now();
    const afterResponse = client.received;
    expect(await client.waitClose(3000 + KEEP_ALIVE_EXTRA_MS[kind])).toBe(true);
    const elapsed = Date.now() - t0;
    expect(client.received, 'bytes sent on an idle close').toBe(afterResponse);
    expect(elapsed).toBeGreaterThanOrEqual(EARLIEST_MS);
    expect(elapsed).toBeLessThan(LATEST_MS + KEEP_ALIVE_EXTRA_MS[kind]);
  });

  it('keeps a keep-alive connection with a request every 200 ms open, and closes it once idle', async () => {
    const { port } = await start(kind, hello, { keepAliveTimeout: HALF });
    const client = await RawClient.connect(port);
    const t0 = Date.now();
    // Longer than keepAliveTimeout (plus node:http's extra second).
    for (let i = 0; i < 12; i++) {
      await client.send(buildRequest('GET', `/${i}`), 'GET');
      const res = await client.next();
      expect(res.status).toBe(200);
      await sleep(200);
    }
    expect(Date.now() - t0).toBeGreaterThan(2000);
    expect(client.closed).toBe(false);
    expect(await client.waitClose(3000 + KEEP_ALIVE_EXTRA_MS[kind])).toBe(true);
  });

  it('cuts a client that stops reading a streamed response after sendTimeout, calls close(), and serves others', async () => {
    const { app, state } = endless();
    const { port } = await start(kind, app, { sendTimeout: HALF });
    const client = await RawClient.connect(port, { keepRaw: false });
    await client.send(buildRequest('GET', '/big'), 'GET');
    // A slow reader first: pauses of 300 ms (less than sendTimeout) with
    // short reads in between must not be cut.
    const slowUntil = Date.now() + 1500;
    while (Date.now() < slowUntil) {
      client.socket.pause();
      await sleep(300);
      client.socket.resume();
      await sleep(30);
    }
    expect(state.closes, 'cut while the client was still reading').toBe(0);
    const receivedWhileSlow = client.received;
    expect(receivedWhileSlow).toBeGreaterThan(0);
    // Then it stops reading for good.
    client.socket.pause();
    expect(await until(() => state.closes > 0, 6000), 'the body was closed').toBe(true);
    expect(state.closes).toBe(1);
    // Cut for lack of progress, not at once.
    expect(state.closedAt - state.lastYieldAt).toBeGreaterThanOrEqual(EARLIEST_MS);
    const res = await get(port, '/');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello\n');
    client.socket.resume();
    expect(await client.waitClose(5000), 'the cut connection ends').toBe(true);
  });
});

// One test per flag through the real command, for both servers.
describe('tsgi serve timeout flags', () => {
  let fixtures: { dir: string; remove: () => void };
  beforeAll(() => {
    requireBuild();
    fixtures = writeFixtures({
      'hello.mjs': `export default (e, s) => { s('200 OK', [['Content-Type', 'text/plain']]); return ['hello\\n']; };\n`,
      'upload.mjs': `export default async (e, s) => {
  const body = await e['tsgi.input'].read();
  s('200 OK', [['Content-Type', 'text/plain']]);
  return [String(body.length)];
};\n`,
      'endless.mjs': `const chunk = new Uint8Array(64 * 1024).fill(97);
export default (e, s) => {
  s('200 OK', [['Content-Type', 'application/octet-stream']]);
  return (async function* () { for (;;) yield chunk; })();
};\n`,
    });
  });
  afterAll(() => fixtures.remove());
  afterEach(() => killAllCli());

  for (const server of SERVERS) {
    it(`--headers-timeout 0.5 answers 408 to a partial head (${server})`, async () => {
      const s = await startCli(['hello.mjs', '--bind', '127.0.0.1:0', '--server', server, '--headers-timeout', '0.5'], fixtures.dir);
      const client = await RawClient.connect(s.port);
      await client.send('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      await client.waitFor(() => client.closed, 3000, 'the server to close the connection');
      expect408(only(client));
    });

    it(`--request-timeout 0.5 answers 408 to a stalled body (${server})`, async () => {
      const s = await startCli(['upload.mjs', '--bind', '127.0.0.1:0', '--server', server, '--request-timeout', '0.5'], fixtures.dir);
      const client = await RawClient.connect(s.port);
      await client.send(buildRequest('POST', '/', { headers: [['Content-Length', '10']], body: undefined }), 'POST');
      await client.send('12345');
      await client.waitFor(() => client.closed, 3000, 'the server to close the connection');
      expect408(only(client));
    });

    it(`--keep-alive-timeout 0.5 closes an idle connection (${server})`, async () => {
      const s = await startCli(['hello.mjs', '--bind', '127.0.0.1:0', '--server', server, '--keep-alive-timeout', '0.5'], fixtures.dir);
      const client = await RawClient.connect(s.port);
      await client.send(buildRequest('GET', '/'), 'GET');
      expect((await client.next()).status).toBe(200);
      expect(await client.waitClose(3000 + KEEP_ALIVE_EXTRA_MS[server])).toBe(true);
      expect(client.parser.responses).toHaveLength(1);
    });

    it(`--send-timeout 0.5 cuts a client that stops reading (${server})`, async () => {
      const s = await startCli(['endless.mjs', '--bind', '127.0.0.1:0', '--server', server, '--send-timeout', '0.5'], fixtures.dir);
      const client = await RawClient.connect(s.port, { keepRaw: false });
      client.socket.pause();
      await client.send(buildRequest('GET', '/'), 'GET');
      await sleep(2000);
      // An endless body ends only because the server cut the connection.
      client.socket.resume();
      expect(await client.waitClose(5000), 'the cut connection ends').toBe(true);
      expect(client.received).toBeGreaterThan(0);
    });
  }
});
