// close.test.ts: the body's close() is called exactly once whatever
// happens, and an abandoned iterator gets return() (generator finally).
import { expect, it } from 'vitest';
import type { Chunk } from '../../src/index.js';
import type { Server } from '../../src/types.js';
import { buildRequest, get, RawClient, sleep, until } from '../helpers/http.js';
import { closeServer, forEachServer, start } from '../helpers/servers.js';

/**
 * Checks that `count()` reaches `n` and stays there. "Stays" is shown by
 * events, not by waiting: the body has settled (`settled()`: it finished,
 * or its pending step returned, so the driver holds nothing that could call
 * it again), the server has closed (close() resolves only after every
 * connection's end was handled, where onGone runs), and one more turn of
 * the loop has let any promise continuation of the driver run.
 */
async function expectExactly(
  count: () => number,
  n: number,
  what: string,
  started: { server: Server; errors: { text(): string } },
  settled: () => boolean = () => true,
): Promise<void> {
  expect(await until(() => count() >= n, 3000), `${what}: reached ${n} (is ${count()})`).toBe(true);
  expect(await until(settled, 3000), `${what}: the body settled`).toBe(true);
  await closeServer(started.server);
  await new Promise<void>((r) => setImmediate(r));
  expect(count(), `${what}: exactly ${n}`).toBe(n);
  // validate() (around every app here) refuses a second close() before it
  // reaches the body, and the server logs that.
  expect(started.errors.text(), `${what}: no second call refused by validate()`).not.toMatch(/twice|after close\(\)/);
}

forEachServer((kind) => {
  it('calls close() once after an array body', async () => {
    let closes = 0;
    const started = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return Object.assign(['a', 'b'], { close: () => void closes++ });
    });
    const res = await get(started.port, '/');
    expect(res.body.toString()).toBe('ab');
    await expectExactly(() => closes, 1, 'close()', started);
  });

  it('calls close() once, after the last chunk, for a generator', async () => {
    let closes = 0;
    let finallyRan = 0;
    let closedBeforeEnd = false;
    let ended = false;
    const started = await start(kind, (_env, startResponse) => {
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
    const res = await get(started.port, '/');
    expect(res.body.toString()).toBe('xy');
    await expectExactly(() => closes, 1, 'close()', started, () => finallyRan === 1);
    expect(finallyRan).toBe(1);
    expect(closedBeforeEnd).toBe(false);
  });

  it('awaits an async close() without breaking the response', async () => {
    let closeDone = 0;
    const started = await start(kind, (_env, startResponse) => {
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
    const res = await get(started.port, '/');
    expect(res.body.toString()).toBe('async');
    expect(await until(() => closeDone === 1, 3000), 'the async close() finished').toBe(true);
    // The connection goes on after the awaited close().
    expect((await get(started.port, '/')).status).toBe(200);
    await expectExactly(() => closeDone, 2, 'async close(), once per response', started);
  });

  it('calls close() once when the body throws', async () => {
    let closes = 0;
    const started = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const g = (function* (): Generator<Chunk> {
        throw new Error('body-fails');
      })();
      return Object.assign(g, { close: () => void closes++ });
    });
    const res = await get(started.port, '/');
    expect(res.status).toBe(500);
    await expectExactly(() => closes, 1, 'close()', started);
  });

  it('calls close() once when the body throws after the first chunk', async () => {
    let closes = 0;
    let threw = false;
    const started = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const g = (async function* () {
        yield 'one';
        await sleep(20);
        threw = true;
        throw new Error('mid-body-fails');
      })();
      return Object.assign(g, { close: () => void closes++ });
    });
    const client = await RawClient.connect(started.port);
    await client.send(buildRequest('GET', '/'), 'GET');
    expect(await client.waitClose(3000)).toBe(true);
    await expectExactly(() => closes, 1, 'close()', started, () => threw);
  });

  it('calls close() once for HEAD (body not iterated)', async () => {
    let closes = 0;
    const started = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return Object.assign(['head body'], { close: () => void closes++ });
    });
    const client = await RawClient.connect(started.port);
    await client.send(buildRequest('HEAD', '/'), 'HEAD');
    await client.next();
    client.destroy();
    await expectExactly(() => closes, 1, 'close()', started);
  });

  it('calls close() and runs the generator finally when the client disconnects mid-response', async () => {
    let closes = 0;
    let finallyRan = 0;
    let produced = 0;
    const started = await start(kind, (env, startResponse) => {
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
    const client = await RawClient.connect(started.port);
    await client.send(buildRequest('GET', '/slow'), 'GET');
    await client.waitFor(() => client.text().includes('tick 2'), 3000, 'a few ticks');
    client.destroy();
    expect(await until(() => finallyRan === 1, 3000), 'generator finally ran').toBe(true);
    // Its finally ran: the generator is done and can be driven no more.
    expect(produced, 'the generator stopped soon after the abort').toBeLessThan(100);
    expect((await get(started.port, '/ok')).body.toString()).toBe('ok');
    await expectExactly(() => closes, 1, 'close() after the abort', started);
  });

  it('calls return() of a plain async iterator when the client disconnects', async () => {
    let returns = 0;
    let nexts = 0;
    let nextsSettled = 0;
    let nextsAtReturn = -1;
    const started = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      let i = 0;
      const iterator: AsyncIterator<Chunk> = {
        async next() {
          nexts++;
          await sleep(20);
          nextsSettled++;
          if (i >= 500) return { done: true, value: undefined };
          return { done: false, value: `n${i++}\n` };
        },
        async return() {
          nextsAtReturn = nexts;
          returns++;
          return { done: true, value: undefined };
        },
      };
      return { [Symbol.asyncIterator]: () => iterator };
    });
    const client = await RawClient.connect(started.port);
    await client.send(buildRequest('GET', '/'), 'GET');
    await client.waitFor(() => client.text().includes('n3'), 3000, 'a few chunks');
    client.destroy();
    // Settled: the next() pending at return() has returned, and the driver
    // saw it after the client had gone.
    await expectExactly(() => returns, 1, 'return()', started, () => returns === 1 && nextsSettled === nexts);
    expect(nexts, 'next() is not called after return()').toBe(nextsAtReturn);
  });

  it('calls return() of a sync iterator stuck on backpressure when the client disconnects', async () => {
    let returns = 0;
    let closes = 0;
    const started = await start(kind, (_env, startResponse) => {
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
    const client = await RawClient.connect(started.port, { keepRaw: false });
    client.socket.pause();
    await client.send(buildRequest('GET', '/'), 'GET');
    // Pacing: let the response fill the socket so that the server waits
    // for a drain when the client goes.
    await sleep(300);
    client.destroy();
    expect(await until(() => returns === 1, 3000), 'return()').toBe(true);
    await expectExactly(() => closes, 1, 'close()', started);
    expect(returns, 'return() exactly once').toBe(1);
  });

  it('calls close() and return() of a body stuck in an await that never settles when the client resets', async () => {
    let returns = 0;
    let closes = 0;
    let nexts = 0;
    const started = await start(kind, (_env, startResponse) => {
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
    const client = await RawClient.connect(started.port);
    await client.send(buildRequest('GET', '/'), 'GET');
    await until(() => client.text().includes('first'), 5_000);
    expect(nexts).toBe(2);
    client.socket.resetAndDestroy();
    // The pending next() never settles: close() and return() come from the
    // connection's end (onGone), which close() below has handled.
    expect(await until(() => returns === 1, 3000), 'return()').toBe(true);
    await expectExactly(() => closes, 1, 'close()', started);
    expect(returns, 'return() exactly once').toBe(1);
  });
});
