// errors.test.ts: PEP 3333 error semantics — an exception before the
// headers are sent becomes a 500 (and is logged), after that the
// connection is cut; startResponse's second call and excInfo.
import { expect, it } from 'vitest';
import type { Application, Environ, StartResponse } from '../../src/index.js';
import { buildRequest, dateProblems, deferred, get, header, RawClient, sleep } from '../helpers/http.js';
import { forEachServer, start, type CaptureStream } from '../helpers/servers.js';

/** Wraps an app so that `/ok` always answers 200 "ok". */
function withOk(app: Application): Application {
  return (environ: Environ, startResponse: StartResponse) => {
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

/** The captured log contains the message and a stack frame. */
function expectLogged(errors: CaptureStream, message: string): void {
  const log = errors.text();
  expect(log, 'the error is logged').toContain(message);
  expect(log, 'with its stack').toMatch(/\n\s+at /);
}

forEachServer((kind) => {
  it('answers 500 when the app throws before startResponse, and logs the stack', async () => {
    const { port, errors } = await start(kind, withOk(() => {
      throw new Error('sync-boom-1');
    }));
    const res = await get(port, '/');
    expect(res.status).toBe(500);
    expect(res.complete).toBe(true);
    expect(dateProblems(res)).toEqual([]);
    expect(res.body.toString()).not.toContain('sync-boom-1');
    await expect.poll(() => errors.text(), { timeout: 2000 }).toContain('sync-boom-1');
    expectLogged(errors, 'sync-boom-1');
    await expectStillServing(port);
  });

  it('answers 500 when the app throws after startResponse but before returning', async () => {
    const { port, errors } = await start(kind, withOk((_env, startResponse) => {
      startResponse('200 OK', [['X-Should-Not-Appear', '1']]);
      throw new Error('sync-boom-2');
    }));
    const res = await get(port, '/');
    expect(res.status).toBe(500);
    expect(header(res, 'x-should-not-appear')).toBeUndefined();
    await expect.poll(() => errors.text(), { timeout: 2000 }).toContain('sync-boom-2');
    await expectStillServing(port);
  });

  it('answers 500 when the app rejects', async () => {
    const { port, errors } = await start(kind, withOk(async () => {
      await sleep(5);
      throw new Error('async-boom');
    }));
    const res = await get(port, '/');
    expect(res.status).toBe(500);
    await expect.poll(() => errors.text(), { timeout: 2000 }).toContain('async-boom');
    expectLogged(errors, 'async-boom');
    await expectStillServing(port);
  });

  it('answers 500 when the body iterator throws before the first chunk', async () => {
    const { port, errors } = await start(kind, withOk((_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        await sleep(5);
        throw new Error('iter-boom');
      })();
    }));
    const res = await get(port, '/');
    expect(res.status).toBe(500);
    await expect.poll(() => errors.text(), { timeout: 2000 }).toContain('iter-boom');
    await expectStillServing(port);
  });

  it('answers 500 when a sync iterator throws before the first chunk', async () => {
    const { port, errors } = await start(kind, withOk((_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (function* () {
        yield '';
        throw new Error('sync-iter-boom');
      })();
    }));
    const res = await get(port, '/');
    expect(res.status).toBe(500);
    await expect.poll(() => errors.text(), { timeout: 2000 }).toContain('sync-iter-boom');
    await expectStillServing(port);
  });

  it('cuts a chunked response when the body throws after the first chunk', async () => {
    const seen = deferred();
    const { port, errors } = await start(kind, withOk((_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield 'first-part';
        await Promise.race([seen.promise, sleep(3000)]);
        throw new Error('late-boom');
      })();
    }));
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    await client.waitFor(() => client.text().includes('first-part'), 3000, 'first chunk');
    seen.resolve();
    expect(await client.waitClose(3000), 'the connection is cut').toBe(true);
    const res = client.parser.responses[0]!;
    expect(res.status).toBe(200);
    expect(res.framing).toBe('chunked');
    expect(res.complete, 'no terminating chunk').toBe(false);
    expect(client.text()).not.toContain('\r\n0\r\n\r\n');
    expect(res.body.toString()).toBe('first-part');
    await expect.poll(() => errors.text(), { timeout: 2000 }).toContain('late-boom');
    expectLogged(errors, 'late-boom');
    await expectStillServing(port);
  });

  it('cuts a Content-Length response short when the body throws after the first chunk', async () => {
    const seen = deferred();
    const { port, errors } = await start(kind, withOk((_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '100']]);
      return (async function* () {
        yield '0123456789';
        await Promise.race([seen.promise, sleep(3000)]);
        throw new Error('cl-boom');
      })();
    }));
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    await client.waitFor(() => client.text().includes('0123456789'), 3000, 'first chunk');
    seen.resolve();
    expect(await client.waitClose(3000), 'the connection is cut').toBe(true);
    const res = client.parser.responses[0]!;
    expect(header(res, 'content-length')).toBe('100');
    expect(res.complete).toBe(false);
    expect(res.body.toString()).toBe('0123456789');
    await expect.poll(() => errors.text(), { timeout: 2000 }).toContain('cl-boom');
    await expectStillServing(port);
  });

  it('answers 500 when the app returns a body without calling startResponse', async () => {
    const { port, errors } = await start(kind, withOk(() => ['forgot to start']));
    const res = await get(port, '/');
    expect(res.status).toBe(500);
    expect(res.body.toString()).not.toContain('forgot to start');
    await expect.poll(() => errors.text().length, { timeout: 2000 }).toBeGreaterThan(0);
    await expectStillServing(port);
  });

  it('answers 500 when the app returns something that is not an iterable', async () => {
    const { port } = await start(kind, withOk(((_env: Environ, startResponse: StartResponse) => {
      startResponse('200 OK', []);
      return 42;
    }) as unknown as Application));
    const res = await get(port, '/');
    expect(res.status).toBe(500);
    await expectStillServing(port);
  });

  it('throws on a second startResponse without excInfo', async () => {
    const { port } = await start(kind, withOk((_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      try {
        startResponse('201 Created', [['Content-Type', 'text/plain']]);
      } catch (err) {
        return [`threw: ${(err as Error).message}`];
      }
      return ['did not throw'];
    }));
    const res = await get(port, '/');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toMatch(/^threw: .+/);
  });

  it('replaces status and headers with excInfo before any body was sent', async () => {
    const { port } = await start(kind, withOk((_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['X-First', '1']]);
      try {
        throw new Error('handled');
      } catch (err) {
        startResponse('503 Service Unavailable', [['Content-Type', 'text/plain'], ['X-Second', '2']], err);
      }
      return ['sorry'];
    }));
    const res = await get(port, '/');
    expect(res.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
    expect(header(res, 'x-first')).toBeUndefined();
    expect(header(res, 'x-second')).toBe('2');
    expect(res.body.toString()).toBe('sorry');
    await expectStillServing(port);
  });

  it('replaces the status with excInfo inside a body that has not sent anything yet', async () => {
    const { port } = await start(kind, withOk((_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield '';
        await sleep(5);
        startResponse('502 Bad Gateway', [['Content-Type', 'text/plain']], new Error('upstream'));
        yield 'upstream failed';
      })();
    }));
    const res = await get(port, '/');
    expect(res.status).toBe(502);
    expect(res.body.toString()).toBe('upstream failed');
  });

  it('rethrows excInfo after the first body byte was sent, and the connection is cut', async () => {
    const seen = deferred();
    let caughtSame: boolean | undefined;
    const { port, errors } = await start(kind, withOk((_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield 'sent';
        await Promise.race([seen.promise, sleep(3000)]);
        const err = new Error('too-late');
        try {
          startResponse('500 Internal Server Error', [], err);
          caughtSame = false;
        } catch (e) {
          caughtSame = e === err;
          throw e;
        }
        yield 'never';
      })();
    }));
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    await client.waitFor(() => client.text().includes('sent'), 3000, 'first chunk');
    seen.resolve();
    expect(await client.waitClose(3000), 'the connection is cut').toBe(true);
    expect(caughtSame, 'startResponse rethrew excInfo itself').toBe(true);
    expect(client.parser.responses[0]!.status).toBe(200);
    expect(client.parser.responses[0]!.complete).toBe(false);
    expect(client.text()).not.toContain('never');
    await expect.poll(() => errors.text(), { timeout: 2000 }).toContain('too-late');
    await expectStillServing(port);
  });

  it('keeps serving on the same keep-alive connection after a 500', async () => {
    const { port } = await start(kind, withOk((env) => {
      throw new Error(`boom ${env.PATH_INFO}`);
    }));
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/bad'), 'GET');
    const bad = await client.next();
    expect(bad.status).toBe(500);
    if (!client.closed) {
      await client.send(buildRequest('GET', '/ok'), 'GET');
      expect((await client.next()).status).toBe(200);
    }
    client.destroy();
    await expectStillServing(port);
  });
});
