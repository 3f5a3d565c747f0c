// shutdown.test.ts: graceful shutdown. close() stops accepting, closes idle
// connections at once, lets requests in flight finish with
// `Connection: close`, cuts what is still open after gracefulTimeout and
// then resolves; SIGTERM on the CLI does the same and exits 0.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Application, Chunk } from '../../src/index.js';
import { buildRequest, connectionHas, deferred, RawClient, refused, sleep, until, within } from '../helpers/http.js';
import { forEachServer, SERVERS, start } from '../helpers/servers.js';
import { infoOnly, killAllCli, oneWorkerLife, requireBuild, startCli, steady, writeFixtures } from '../helpers/cli.js';

const hello: Application = (_env, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return ['hello\n'];
};

forEachServer((kind) => {
  it('closes an idle keep-alive connection at once on close()', async () => {
    const { server, port } = await start(kind, hello, { keepAliveTimeout: 60 });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    expect((await client.next()).status).toBe(200);
    const t0 = Date.now();
    const closed = server.close();
    expect(await client.waitClose(1000), 'the idle connection was closed').toBe(true);
    await within(closed, 1000, 'close() with only idle connections');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(client.parser.responses).toHaveLength(1);
    expect(await refused(port)).toBe(true);
  });

  it('lets a slow request in flight complete with Connection: close, then resolves', async () => {
    const started = deferred();
    const { server, port } = await start(
      kind,
      async (_env, startResponse) => {
        started.resolve();
        await sleep(400);
        startResponse('200 OK', [['Content-Type', 'text/plain']]);
        return ['slow done\n'];
      },
      { gracefulTimeout: 10 },
    );
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/slow'), 'GET');
    await started.promise;
    let resolved = false;
    const closed = server.close().then(() => {
      resolved = true;
    });
    // close() has stopped accepting (an event that takes a round trip of
    // the loop), and still waits for the request in flight, whose
    // application holds it for 400 ms.
    expect(await refused(port), 'no longer accepting').toBe(true);
    expect(resolved, 'close() waits for the request in flight').toBe(false);
    const res = await client.next();
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('slow done\n');
    expect(connectionHas(res, 'close')).toBe(true);
    expect(await client.waitClose(2000)).toBe(true);
    await within(closed, 2000, 'close() after the last response');
  });

  it('cuts a response still running after gracefulTimeout, calls close(), and resolves then', async () => {
    let closes = 0;
    const { server, port } = await start(
      kind,
      (_env, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'text/plain']]);
        // A stream that never ends. (A body stuck in an await that never
        // settles gets close() only when that await returns: the gateway
        // cannot interrupt it.)
        const body = (async function* (): AsyncGenerator<Chunk> {
          yield 'started\n';
          for (;;) {
            await sleep(100);
            yield '.';
          }
        })();
        return Object.assign(body, { close: () => void closes++ });
      },
      { gracefulTimeout: 0.5 },
    );
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/hang'), 'GET');
    await client.waitFor(() => client.text().includes('started'), 3000, 'the first chunk');
    const t0 = Date.now();
    await within(server.close(), 3000, 'close() after gracefulTimeout');
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(1500);
    expect(await client.waitClose(1000), 'the hanging connection was cut').toBe(true);
    expect(client.parser.responses[0]?.complete ?? false).toBe(false);
    expect(await until(() => closes === 1, 2000), "the body's close() was called").toBe(true);
  });
});

describe('tsgi serve graceful shutdown', () => {
  let fixtures: { dir: string; remove: () => void };
  beforeAll(() => {
    requireBuild();
    fixtures = writeFixtures({
      'slow.mjs': `export default async (e, s) => {
  await new Promise((resolve) => setTimeout(resolve, 500));
  s('200 OK', [['Content-Type', 'text/plain']]);
  return ['slow done\\n'];
};\n`,
      'hang.mjs': `export default (e, s) => {
  s('200 OK', [['Content-Type', 'text/plain']]);
  return (async function* () {
    yield 'started\\n';
    // An application waiting on a database that never answers.
    await new Promise(() => setInterval(() => {}, 1000));
  })();
};\n`,
    });
  });
  afterAll(() => fixtures.remove());
  afterEach(() => killAllCli());

  for (const server of SERVERS) {
    it(`finishes a request in flight on SIGTERM, with Connection: close, and exits 0 (${server})`, async () => {
      const s = await startCli(['slow.mjs', '--bind', '127.0.0.1:0', '--server', server], fixtures.dir);
      const client = await RawClient.connect(s.port);
      await client.send(buildRequest('GET', '/'), 'GET');
      await sleep(150);
      s.child.kill('SIGTERM');
      const res = await client.next(5000);
      expect(res.body.toString()).toBe('slow done\n');
      expect(connectionHas(res, 'close')).toBe(true);
      const exit = await within(s.exit, 5000, 'exit after SIGTERM');
      expect(exit.code).toBe(0);
      expect(exit.signal).toBe(null);
      expect(steady(infoOnly(exit.stderr))).toEqual(oneWorkerLife(s.port, server));
    });

    it(`--graceful-timeout 0.5 cuts a hanging request on SIGTERM and exits 0 (${server})`, async () => {
      const s = await startCli(['hang.mjs', '--bind', '127.0.0.1:0', '--server', server, '--graceful-timeout', '0.5'], fixtures.dir);
      const client = await RawClient.connect(s.port);
      await client.send(buildRequest('GET', '/'), 'GET');
      await client.waitFor(() => client.text().includes('started'), 3000, 'the first chunk');
      const t0 = Date.now();
      s.child.kill('SIGTERM');
      const exit = await within(s.exit, 5000, 'exit after the graceful timeout');
      const elapsed = Date.now() - t0;
      expect(exit.code).toBe(0);
      expect(steady(infoOnly(exit.stderr))).toEqual(oneWorkerLife(s.port, server));
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(2500);
      expect(await client.waitClose(1000)).toBe(true);
    });
  }
});
