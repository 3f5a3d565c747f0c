// lent-chunks.test.ts: body chunks of every size mixed, around the size
// from which the native server writes a Uint8Array straight from the
// application's memory instead of copying it (2 KiB) and around its 64 KiB
// write block: byte-exact and in order in every framing and through every
// way of writing, through backpressure, and when the client resets while
// the server holds them.
import { expect, it } from 'vitest';
import type { Chunk } from '../../src/index.js';
import { buildRequest, get, header, RawClient, until } from '../helpers/http.js';
import { closeServer, forEachServer, start } from '../helpers/servers.js';

const SIZES = [1, 2047, 2048, 2049, 70_000, 5, 4096, 300, 65_536, 16_384, 3, 100_000, 2048, 1];

/** Chunk `i` of the bodies here: its size from SIZES, its own fill byte,
 * every fourth a string (always copied), so that an order mix-up or a
 * chunk sent twice shows in the bytes. */
function chunkOf(i: number): Chunk {
  const n = SIZES[i % SIZES.length]!;
  return i % 4 === 3 ? String.fromCharCode(97 + (i % 26)).repeat(n) : Buffer.alloc(n, (i * 7) % 251);
}

function sizeOf(i: number): number {
  return SIZES[i % SIZES.length]!;
}

function expected(from: number, count: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = from; i < from + count; i++) parts.push(Buffer.from(chunkOf(i)));
  return Buffer.concat(parts);
}

const COUNT = 3 * SIZES.length;

forEachServer((kind) => {
  it('sends mixed lent and copied chunks of an async generator byte-exact, in order, each framed', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return (async function* () {
        for (let i = 0; i < COUNT; i++) yield chunkOf(i);
      })();
    });
    const client = await RawClient.connect(port, { keepRaw: false });
    // Two pipelined: the second response follows the first's last chunk.
    await client.send(buildRequest('GET', '/a') + buildRequest('GET', '/b'), 'GET', 'GET');
    const want = expected(0, COUNT);
    for (let round = 0; round < 2; round++) {
      const res = await client.next(10_000);
      expect(res.framing).toBe('chunked');
      expect(res.complete).toBe(true);
      expect(res.chunkSizes).toEqual(Array.from({ length: COUNT }, (_, i) => sizeOf(i)));
      expect(res.body.equals(want), `response ${round + 1} byte-exact`).toBe(true);
    }
    client.destroy();
  });

  it('sends exactly the declared Content-Length of mixed chunks, and not a byte more', async () => {
    const total = expected(0, COUNT).length;
    const { port } = await start(kind, (env, startResponse) => {
      // /short declares 1000 bytes fewer than the body has, cutting into a
      // lent chunk (the last ones are 2048 and 1 bytes).
      const declared = env.PATH_INFO === '/short' ? total - 1000 : total;
      startResponse('200 OK', [
        ['Content-Type', 'application/octet-stream'],
        ['Content-Length', String(declared)],
      ]);
      return (function* () {
        for (let i = 0; i < COUNT; i++) yield chunkOf(i);
      })();
    });
    const client = await RawClient.connect(port, { keepRaw: false });
    await client.send(buildRequest('GET', '/'), 'GET');
    const res = await client.next(10_000);
    expect(res.framing).toBe('length');
    expect(header(res, 'content-length')).toBe(String(total));
    expect(res.body.equals(expected(0, COUNT))).toBe(true);
    await client.send(buildRequest('GET', '/short'), 'GET');
    await client.send(buildRequest('GET', '/'), 'GET');
    const short = await client.next(10_000);
    expect(short.body.equals(expected(0, COUNT).subarray(0, total - 1000))).toBe(true);
    // The surplus ends the connection (it cannot be framed): no byte of it
    // is read as the next response.
    expect(await client.waitClose(5000), 'the server closes after the surplus').toBe(true);
    expect(client.parser.responses.length, 'no response after the surplus').toBe(2);
    expect(client.parser.error).toBeUndefined();
    client.destroy();
  });

  it("keeps the order of write()'s chunks and the returned body's, lent and copied alike", async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      const write = startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      for (let i = 0; i < 6; i++) write(chunkOf(i));
      return (async function* () {
        for (let i = 6; i < COUNT; i++) yield chunkOf(i);
      })();
    });
    const client = await RawClient.connect(port, { keepRaw: false });
    await client.send(buildRequest('GET', '/'), 'GET');
    const res = await client.next(10_000);
    expect(res.complete).toBe(true);
    expect(res.body.equals(expected(0, COUNT))).toBe(true);
    client.destroy();
  });

  for (const flavour of ['async', 'sync'] as const) {
    it(`holds a ${flavour} body of mixed chunks while the client does not read, then delivers it byte-exact`, async () => {
      // About 24 MiB: far more than the loopback buffers hold.
      const count = 60 * SIZES.length;
      let produced = 0;
      const { port } = await start(kind, (_env, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
        if (flavour === 'async') {
          return (async function* () {
            for (let i = 0; i < count; i++, produced++) yield chunkOf(i);
          })();
        }
        return (function* () {
          for (let i = 0; i < count; i++, produced++) yield chunkOf(i);
        })();
      });
      const client = await RawClient.connect(port, { keepRaw: false });
      client.socket.pause();
      await client.send(buildRequest('GET', '/'), 'GET');
      expect(await until(() => produced > 0), 'the body started').toBe(true);
      // A server that ignored backpressure would have run the whole body by
      // the next turn (the generators never wait for I/O).
      await new Promise<void>((r) => setImmediate(r));
      expect(produced, 'chunks produced while the client was not reading').toBeLessThan(count / 2);
      client.socket.resume();
      const res = await client.next(20_000);
      expect(res.complete).toBe(true);
      expect(res.body.equals(expected(0, count))).toBe(true);
      expect(produced).toBe(count);
      client.destroy();
    });
  }

  it('calls close() once when the client resets while the server holds lent chunks, and serves on', async () => {
    let closes = 0;
    let returned = false;
    let produced = 0;
    const started = await start(kind, (env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      if (env.PATH_INFO === '/ok') return ['ok'];
      const g = (function* () {
        try {
          for (let i = 0; i < 100_000; i++, produced++) yield chunkOf(i);
        } finally {
          returned = true;
        }
      })();
      return Object.assign(g, { close: () => void closes++ });
    });
    const client = await RawClient.connect(started.port, { keepRaw: false });
    client.socket.pause();
    await client.send(buildRequest('GET', '/'), 'GET');
    // The body is stopped by backpressure: the kernel's buffers are full
    // and the server holds what it was given.
    expect(await until(() => produced > 0), 'the body started').toBe(true);
    await new Promise<void>((r) => setImmediate(r));
    const stopped = produced;
    expect(stopped, 'stopped by backpressure').toBeLessThan(100_000);
    client.socket.resetAndDestroy();
    expect(await until(() => closes === 1 && returned, 5000), 'close() and the generator finally').toBe(true);
    expect((await get(started.port, '/ok')).body.toString()).toBe('ok');
    await closeServer(started.server);
    await new Promise<void>((r) => setImmediate(r));
    expect(closes, 'close() exactly once').toBe(1);
    expect(produced, 'nothing more pulled after the reset').toBeLessThan(stopped + 2 * SIZES.length);
  });

  for (const wait of [false, true]) {
    it(`cuts only the response whose chunk cannot be written (${wait ? 'a wait after it' : 'the end right after it'}), and serves on`, async () => {
      // A Uint16Array passing for a Uint8Array passes the driver's check;
      // the server refuses its bytes later: at the response's end, or on
      // the native server in the hand-over of the turn's chunks, outside
      // the driver's try.
      const started = await start(
        kind,
        (env, startResponse) => {
          startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
          if (env.PATH_INFO === '/ok') return ['ok'];
          return (async function* () {
            yield Buffer.alloc(4096, 1);
            await new Promise((r) => setTimeout(r, 5));
            yield Object.setPrototypeOf(new Uint16Array(2048), Uint8Array.prototype) as Uint8Array;
            if (wait) await new Promise((r) => setTimeout(r, 200));
            yield 'never';
          })();
        },
        { validate: false },
      );
      const client = await RawClient.connect(started.port);
      await client.send(buildRequest('GET', '/'), 'GET');
      expect(await client.waitClose(5000), 'the response is cut').toBe(true);
      // Cut: no last chunk, and nothing after the refused chunk.
      const raw = client.raw().toString('latin1');
      expect(raw.startsWith('HTTP/1.1 200 OK'), 'the head and first chunk were sent').toBe(true);
      expect(raw.endsWith('0\r\n\r\n'), 'no last chunk').toBe(false);
      expect(raw).not.toContain('never');
      expect(started.errors.text()).not.toBe('');
      expect((await get(started.port, '/ok')).body.toString()).toBe('ok');
    });
  }
});
