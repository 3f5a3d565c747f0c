// close.test.ts: the body's close() is called exactly once whatever
// happens, and an abandoned iterator gets return() (generator finally).
import { expect, it } from 'vitest';
import type { Chunk } from '../../src/index.js';
import { buildRequest, get, RawClient, sleep, until } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

/** Waits a little after `count()` reached `n`, then checks it stayed `n`. */
async function expectExactly(count: () => number, n: number, what: string): Promise<void> {
  expect(await until(() => count() >= n, 3000), `${what}: reached ${n} (is ${count()})`).toBe(true);
  await sleep(100);
  expect(count(), `${what}: exactly ${n}`).toBe(n);
}

forEachServer((kind) => {
  it('calls close() once after an array body', async () => {
    let closes = 0;
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return Object.assign(['a', 'b'], { close: () => void closes++ });
    });
    const res = await get(port, '/');
    expect(res.body.toString()).toBe('ab');
    await expectExactly(() => closes, 1, 'close()');
  });

  it('calls close() once, after the last chunk, for a generator', async () => {
    let closes = 0;
    let finallyRan = 0;
    let closedBeforeEnd = false;
    let ended = false;
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const g = (function* () {
        try {
          yield 'x';
          yield 'y';
          ended = true;
        } finally {
          finallyRan++;
        }
      })();
      return Object.assign(g, {
        close: () => {
          if (!ended) closedBeforeEnd = true;
          closes++;
        },
      });
    });
    const res = await get(port, '/');
    expect(res.body.toString()).toBe('xy');
    await expectExactly(() => closes, 1, 'close()');
    expect(finallyRan).toBe(1);
    expect(closedBeforeEnd).toBe(false);
  });

  it('awaits an async close() without breaking the response', async () => {
    let closeDone = 0;
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return Object.assign(
        (async function* () {
          yield 'async';
        })(),
        {
          close: async () => {
            await sleep(10);
            closeDone++;
          },
        },
      );
    });
    const res = await get(port, '/');
    expect(res.body.toString()).toBe('async');
    await expectExactly(() => closeDone, 1, 'async close()');
    expect((await get(port, '/')).status).toBe(200);
  });

  it('calls close() once when the body throws', async () => {
    let closes = 0;
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const g = (function* (): Generator<Chunk> {
        throw new Error('body-fails');
      })();
      return Object.assign(g, { close: () => void closes++ });
    });
    const res = await get(port, '/');
    expect(res.status).toBe(500);
    await expectExactly(() => closes, 1, 'close()');
  });

  it('calls close() once when the body throws after the first chunk', async () => {
    let closes = 0;
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const g = (async function* () {
        yield 'one';
        await sleep(20);
        throw new Error('mid-body-fails');
      })();
      return Object.assign(g, { close: () => void closes++ });
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    expect(await client.waitClose(3000)).toBe(true);
    await expectExactly(() => closes, 1, 'close()');
  });

  it('calls close() once for HEAD (body not iterated)', async () => {
    let closes = 0;
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return Object.assign(['head body'], { close: () => void closes++ });
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('HEAD', '/'), 'HEAD');
    await client.next();
    client.destroy();
    await expectExactly(() => closes, 1, 'close()');
  });

  it('calls close() and runs the generator finally when the client disconnects mid-response', async () => {
    let closes = 0;
    let finallyRan = 0;
    let produced = 0;
    const { port } = await start(kind, (env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      if (env.PATH_INFO === '/ok') return ['ok'];
      const g = (async function* () {
        try {
          for (let i = 0; i < 500; i++) {
            produced++;
            yield `tick ${i}\n`;
            await sleep(20);
          }
        } finally {
          finallyRan++;
        }
      })();
      return Object.assign(g, { close: () => void closes++ });
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/slow'), 'GET');
    await client.waitFor(() => client.text().includes('tick 2'), 3000, 'a few ticks');
    client.destroy();
    await expectExactly(() => closes, 1, 'close() after abort');
    expect(await until(() => finallyRan === 1, 3000), 'generator finally ran').toBe(true);
    const at = produced;
    await sleep(200);
    expect(produced - at, 'the generator is not driven after the abort').toBeLessThanOrEqual(1);
    expect(produced).toBeLessThan(100);
    expect((await get(port, '/ok')).body.toString()).toBe('ok');
  });

  it('calls return() of a plain async iterator when the client disconnects', async () => {
    let returns = 0;
    let nexts = 0;
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      let i = 0;
      const iterator: AsyncIterator<Chunk> = {
        async next() {
          nexts++;
          await sleep(20);
          if (i >= 500) return { done: true, value: undefined };
          return { done: false, value: `n${i++}\n` };
        },
        async return() {
          returns++;
          return { done: true, value: undefined };
        },
      };
      return { [Symbol.asyncIterator]: () => iterator };
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    await client.waitFor(() => client.text().includes('n3'), 3000, 'a few chunks');
    client.destroy();
    await expectExactly(() => returns, 1, 'return()');
    const at = nexts;
    await sleep(200);
    expect(nexts - at, 'next() is not called after return()').toBe(0);
  });

  it('calls return() of a sync iterator stuck on backpressure when the client disconnects', async () => {
    let returns = 0;
    let closes = 0;
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      let i = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const iterator: Iterator<Chunk> = {
        next() {
          return i++ < 2000 ? { done: false, value: chunk } : { done: true, value: undefined };
        },
        return() {
          returns++;
          return { done: true, value: undefined };
        },
      };
      return { [Symbol.iterator]: () => iterator, close: () => void closes++ };
    });
    const client = await RawClient.connect(port, { keepRaw: false });
    client.socket.pause();
    await client.send(buildRequest('GET', '/'), 'GET');
    await sleep(300);
    client.destroy();
    await expectExactly(() => returns, 1, 'return()');
    await expectExactly(() => closes, 1, 'close()');
  });

  it('calls close() and return() of a body stuck in an await that never settles when the client resets', async () => {
    let returns = 0;
    let closes = 0;
    let nexts = 0;
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const iterator: AsyncIterator<Chunk> = {
        next() {
          nexts++;
          // The first chunk, then an await that never settles.
          return nexts === 1 ? Promise.resolve({ done: false, value: 'first' }) : new Promise(() => {});
        },
        return() {
          returns++;
          return Promise.resolve({ done: true, value: undefined });
        },
      };
      return { [Symbol.asyncIterator]: () => iterator, close: () => void closes++ };
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    await until(() => client.text().includes('first'), 5_000);
    expect(nexts).toBe(2);
    client.socket.resetAndDestroy();
    await expectExactly(() => closes, 1, 'close()');
    await expectExactly(() => returns, 1, 'return()');
  });
});
