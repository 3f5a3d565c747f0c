// faults.test.ts: faults of the application and of the client, on both
// servers. Every application fault ends in a 500 (nothing was sent yet) or a
// cut connection (the headers were out), with a logged message, and the
// server goes on serving; every client fault (a reset mid-head, mid-body or
// mid-response, a half-close) leaves the server serving and leaks no
// descriptor. The cases of test/conformance/errors.test.ts (throwing or
// rejecting before or after startResponse, a generator throwing before or
// after its first chunk, a body without startResponse, returning 42) are
// not repeated here.
//
// The servers run without validate() here: these are the faults the servers
// themselves must survive, not the ones the middleware reports first.
import { expect, it } from 'vitest';
import type { Application, Environ, StartResponse } from '../../src/index.js';
import { buildRequest, deferred, get, RawClient, sleep, until } from '../helpers/http.js';
import { forEachServer, start, type CaptureStream } from '../helpers/servers.js';
// @ts-expect-error: a plain .mjs script without types
import { fdCount } from '../../scripts/lib/proc.mjs';

type Outcome = '500' | 'cut';

interface AppFault {
  name: string;
  /** What the client sees: a complete 500, or a connection cut without a
   * complete response. */
  outcome: Outcome;
  app: Application;
}

const ok = (startResponse: StartResponse) => startResponse('200 OK', [['Content-Type', 'text/plain']]);
const anyApp = (f: (environ: Environ, startResponse: StartResponse) => unknown) => f as unknown as Application;

/** A body whose close() records that it ran. */
function withClose<T extends object>(body: T, close: () => unknown): T & { close(): unknown } {
  return Object.assign(body, { close });
}

const APP_FAULTS: AppFault[] = [
  {
    name: 'throws a non-Error value synchronously',
    outcome: '500',
    app: anyApp(() => {
      throw 'a string, not an Error';
    }),
  },
  {
    name: 'rejects with undefined',
    outcome: '500',
    app: anyApp(() => Promise.reject(undefined)),
  },
  {
    name: 'returns null',
    outcome: '500',
    app: anyApp((_e, s) => (ok(s), null)),
  },
  {
    name: 'returns undefined',
    outcome: '500',
    app: anyApp((_e, s) => (ok(s), undefined)),
  },
  {
    name: 'returns a plain object',
    outcome: '500',
    app: anyApp((_e, s) => (ok(s), { body: 'not iterable' })),
  },
  {
    name: 'returns an object whose [Symbol.iterator] throws',
    outcome: '500',
    app: anyApp((_e, s) => {
      ok(s);
      return {
        [Symbol.iterator]() {
          throw new Error('iterator-getter-boom');
        },
      };
    }),
  },
  {
    name: 'returns an iterator whose next() throws at once',
    outcome: '500',
    app: anyApp((_e, s) => {
      ok(s);
      return {
        [Symbol.iterator]: () => ({
          next() {
            throw new Error('next-boom');
          },
        }),
      };
    }),
  },
  {
    name: 'returns an async iterator whose next() rejects',
    outcome: '500',
    app: anyApp((_e, s) => {
      ok(s);
      return {
        [Symbol.asyncIterator]: () => ({
          next: () => Promise.reject(new Error('async-next-boom')),
        }),
      };
    }),
  },
  {
    name: 'returns an iterator whose next() returns a non-object',
    outcome: '500',
    app: anyApp((_e, s) => {
      ok(s);
      return { [Symbol.iterator]: () => ({ next: () => 7 }) };
    }),
  },
  {
    name: 'yields a number',
    outcome: '500',
    app: anyApp((_e, s) => (ok(s), [42])),
  },
  {
    name: 'yields null from a generator',
    outcome: '500',
    app: anyApp((_e, s) => {
      ok(s);
      return (function* () {
        yield null;
      })();
    }),
  },
  {
    name: 'yields a plain object from an async generator',
    outcome: '500',
    app: anyApp((_e, s) => {
      ok(s);
      return (async function* () {
        yield { not: 'a chunk' };
      })();
    }),
  },
  {
    name: 'yields a number after the first chunk',
    outcome: 'cut',
    app: anyApp((_e, s) => {
      ok(s);
      return (async function* () {
        yield 'first';
        await sleep(20);
        yield 42;
      })();
    }),
  },
  {
    name: 'throws from close() after a body that failed',
    outcome: '500',
    app: anyApp((_e, s) => {
      ok(s);
      const body = (function* () {
        throw new Error('body-boom');
      })();
      return withClose(body, () => {
        throw new Error('close-boom');
      });
    }),
  },
  {
    name: 'rejects from an async close() after a body that failed mid-way',
    outcome: 'cut',
    app: anyApp((_e, s) => {
      ok(s);
      const body = (async function* () {
        yield 'partial';
        await sleep(20);
        throw new Error('mid-boom');
      })();
      return withClose(body, () => Promise.reject(new Error('async-close-boom')));
    }),
  },
  {
    name: 'returns a body whose close getter throws',
    outcome: '500',
    app: anyApp((_e, s) => {
      ok(s);
      const body = (function* () {
        throw new Error('body-boom-2');
      })();
      return Object.defineProperty(body, 'close', {
        get() {
          throw new Error('close-getter-boom');
        },
      });
    }),
  },
  {
    name: 'returns a thenable whose then() throws',
    outcome: '500',
    app: anyApp(() => ({
      then() {
        throw new Error('then-boom');
      },
    })),
  },
  ...(
    [
      ['a status without a reason', '200'],
      ['a status that is only words', 'OK'],
      ['a four-digit status', '2000 Big'],
      ['a status below 200', '100 Continue'],
      ['a status with CRLF in it', '200 OK\r\nX-Injected: 1'],
      ['a status that is a number', 200],
      ['a status that is null', null],
    ] as const
  ).map(([what, status]): AppFault => ({
    name: `calls startResponse with ${what}`,
    outcome: '500',
    app: anyApp((_e, s) => {
      (s as unknown as (status: unknown, headers: unknown) => void)(status, [['Content-Type', 'text/plain']]);
      return ['never sent'];
    }),
  })),
  ...(
    [
      ['a header name with a space', [['Bad Name', 'x']]],
      ['a header name that is empty', [['', 'x']]],
      ['a header value with CRLF', [['X-Split', 'a\r\nX-Injected: 1']]],
      ['a header value with NUL', [['X-Nul', 'a\0b']]],
      ['a header value that is a number', [['X-Number', 5]]],
      ['a header that is not a pair', [['X-Alone']]],
      ['headers that are not an array', { 'Content-Type': 'text/plain' }],
      ['headers that are null', null],
      ['a Content-Length that is not a number', [['Content-Length', 'ten']]],
    ] as const
  ).map(([what, headers]): AppFault => ({
    name: `calls startResponse with ${what}`,
    outcome: '500',
    app: anyApp((_e, s) => {
      (s as unknown as (status: unknown, headers: unknown) => void)('200 OK', headers);
      return ['never sent'];
    }),
  })),
];

/** Wraps an app so that `/ok` always answers 200 "ok". */
function withOk(app: Application): Application {
  return (environ, startResponse) => {
    if (environ.PATH_INFO === '/ok') {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['ok'];
    }
    return app(environ, startResponse);
  };
}

async function expectStillServing(port: number): Promise<void> {
  const res = await get(port, '/ok');
  expect(res.status, 'the server answers the next request').toBe(200);
  expect(res.body.toString()).toBe('ok');
}

async function expectLogged(errors: CaptureStream): Promise<void> {
  await expect.poll(() => errors.text().length, { timeout: 2000, message: 'an error is logged' }).toBeGreaterThan(0);
}


forEachServer((kind) => {
  for (const fault of APP_FAULTS) {
    it(`application fault: ${fault.name} -> ${fault.outcome === '500' ? '500' : 'cut connection'}, logged, still serving`, async () => {
      const { port, errors } = await start(kind, withOk(fault.app), { validate: false });
      const client = await RawClient.connect(port);
      await client.send(buildRequest('GET', '/fault'), 'GET');
      await client.waitFor(
        () => client.closed || (client.parser.responses[0]?.complete ?? false),
        5000,
        'a complete response or a closed connection',
      );
      const res = client.parser.responses[0];
      if (fault.outcome === '500') {
        expect(res?.status, `a 500; received ${JSON.stringify(client.text().slice(0, 200))}`).toBe(500);
        expect(res!.complete).toBe(true);
        expect(client.text()).not.toContain('never sent');
        expect(client.text()).not.toContain('X-Injected');
      } else {
        expect(await client.waitClose(3000), 'the connection is cut').toBe(true);
        expect(res?.complete ?? false, 'no complete response').toBe(false);
      }
      client.destroy();
      await expectLogged(errors);
      await expectStillServing(port);
    });
  }

  it('keeps serving after many faults in a row on one keep-alive connection', async () => {
    const faults = APP_FAULTS.filter((f) => f.outcome === '500');
    const { port, errors } = await start(
      kind,
      withOk((environ, startResponse) => faults[Number(environ.QUERY_STRING)]!.app(environ, startResponse)),
      { validate: false },
    );
    let client = await RawClient.connect(port);
    for (let i = 0; i < faults.length; i++) {
      if (client.closed) client = await RawClient.connect(port);
      await client.send(buildRequest('GET', `/f?${i}`), 'GET');
      expect((await client.next()).status, faults[i]!.name).toBe(500);
    }
    client.destroy();
    await expectLogged(errors);
    await expectStillServing(port);
  });

  // ---- Client faults ---------------------------------------------------------

  const clientApp = (reads: { started: number; closed: number; failed: number }): Application =>
    withOk(async (environ, startResponse) => {
      if (environ.PATH_INFO === '/upload') {
        reads.started++;
        try {
          await environ['tsgi.input'].read();
        } catch {
          reads.failed++;
          throw new Error('the client went away mid-body');
        }
        startResponse('200 OK', [['Content-Type', 'text/plain']]);
        return ['read'];
      }
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const body = (async function* () {
        for (let i = 0; i < 100_000; i++) {
          yield `line ${i}\n`.padEnd(1024, '.');
          await sleep(1);
        }
      })();
      return Object.assign(body, { close: () => void reads.closed++ });
    });

  it('survives resets mid-head, mid-body and mid-response, and leaks no descriptor', async () => {
    const reads = { started: 0, closed: 0, failed: 0 };
    const warm = await start(kind, clientApp(reads));
    await expectStillServing(warm.port);
    const before = fdCount();
    const { port } = await start(kind, clientApp(reads));
    const rounds = 10;
    for (let i = 0; i < rounds; i++) {
      // Mid-head: a partial request line and header section.
      const head = await RawClient.connect(port);
      await head.send('GET /partial HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ab');
      head.socket.resetAndDestroy();
      // Mid-body: 10 of 100 KB, while the app reads.
      const body = await RawClient.connect(port);
      await body.send(Buffer.concat([
        buildRequest('POST', '/upload', { headers: [['Content-Length', '100000']] }),
        Buffer.alloc(10_000, 0x61),
      ]), 'POST');
      await until(() => reads.started > i, 2000);
      body.socket.resetAndDestroy();
      // Mid-response: after the first lines of an endless stream.
      const resp = await RawClient.connect(port);
      await resp.send(buildRequest('GET', '/stream'), 'GET');
      await resp.waitFor(() => resp.received > 4096, 3000, 'the first lines');
      resp.socket.resetAndDestroy();
      await expectStillServing(port);
    }
    expect(await until(() => reads.closed >= rounds, 3000), `close() ran for every stream (${reads.closed})`).toBe(true);
    expect(await until(() => reads.failed >= rounds, 3000), `every read failed (${reads.failed})`).toBe(true);
    // One descriptor for the second listener; lingering closes end within
    // a couple of seconds.
    const settled = await until(() => fdCount() <= before + 1, 4000);
    expect(settled, `descriptors: ${before} before, ${fdCount()} after`).toBe(true);
  });

  it('answers a request whose client shut down its write side (half-close), and then closes', async () => {
    const { port } = await start(kind, withOk(async (_env, startResponse) => {
      await sleep(50);
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['after-fin'];
    }));
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/half'), 'GET');
    client.end();
    const res = await client.next(3000);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('after-fin');
    expect(await client.waitClose(3000), 'the server closes once the response is out').toBe(true);
    await expectStillServing(port);
  });

  it('answers every pipelined request sent before a half-close', async () => {
    const { port } = await start(kind, withOk((environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [environ.PATH_INFO];
    }));
    const client = await RawClient.connect(port);
    await client.send(
      Buffer.concat([buildRequest('GET', '/a'), buildRequest('POST', '/b', { body: 'xyz' }), buildRequest('GET', '/c')]),
      'GET', 'POST', 'GET',
    );
    client.end();
    const all = await client.responses(3, 3000);
    expect(all.map((r) => r.body.toString())).toEqual(['/a', '/b', '/c']);
    expect(await client.waitClose(3000)).toBe(true);
  });

  it('does not call the app for a head cut by a half-close, and keeps serving', async () => {
    let calls = 0;
    const { port } = await start(kind, withOk((_env, startResponse) => {
      calls++;
      startResponse('200 OK', []);
      return [];
    }));
    const client = await RawClient.connect(port);
    await client.send('GET /cut HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    client.end();
    expect(await client.waitClose(3000), 'the server closes').toBe(true);
    expect(client.parser.responses.every((r) => r.status >= 400)).toBe(true);
    expect(calls).toBe(0);
    await expectStillServing(port);
  });

  it('stops a response whose client half-closed and then reset mid-stream', async () => {
    const closed = deferred();
    const { port } = await start(kind, withOk((_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const body = (async function* () {
        for (;;) {
          yield 'x'.repeat(1024);
          await sleep(1);
        }
      })();
      return Object.assign(body, { close: () => closed.resolve() });
    }));
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/stream'), 'GET');
    client.end();
    await client.waitFor(() => client.received > 8192, 3000, 'some of the stream');
    client.socket.resetAndDestroy();
    await closed.promise;
    await expectStillServing(port);
  });
});
