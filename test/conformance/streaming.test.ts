// streaming.test.ts: bodies are streamed as they are produced (not
// buffered), headers wait for the first non-empty chunk, and a slow client
// pauses the body iterator (response backpressure).
import { expect, it } from 'vitest';
import { barrier, buildRequest, deferred, header, RawClient, sleep, until } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const CHUNK = 64 * 1024;
const CHUNKS = 512; // 32 MiB

/** Waits for `p`, or `ms` milliseconds; true if `p` won. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  const won = await Promise.race([p.then(() => true), t]);
  clearTimeout(timer);
  return won;
}

function expectedBody(): Buffer {
  const b = Buffer.alloc(CHUNK * CHUNKS);
  for (let i = 0; i < CHUNKS; i++) b.fill(i % 251, i * CHUNK, (i + 1) * CHUNK);
  return b;
}

forEachServer((kind) => {
  it('sends each chunk of an async generator as it is produced, in order', async () => {
    const seen = [deferred(), deferred()];
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield 'chunk-1';
        // Wait until the client has seen chunk-1: a server that buffers the
        // body would never get there.
        if (!(await settledWithin(seen[0]!.promise, 5000))) yield '|TIMEOUT-1|';
        yield 'chunk-2';
        if (!(await settledWithin(seen[1]!.promise, 5000))) yield '|TIMEOUT-2|';
        yield 'chunk-3';
      })();
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/stream'), 'GET');
    await client.waitFor(() => client.text().includes('chunk-1'), 3000, 'chunk-1');
    expect(client.text()).not.toContain('chunk-2');
    seen[0]!.resolve();
    await client.waitFor(() => client.text().includes('chunk-2'), 3000, 'chunk-2');
    expect(client.text()).not.toContain('chunk-3');
    seen[1]!.resolve();
    const res = await client.next();
    expect(res.body.toString()).toBe('chunk-1chunk-2chunk-3');
    expect(res.framing).toBe('chunked');
    expect(res.chunkSizes).toEqual([7, 7, 7]);
    client.destroy();
  });

  // Chunks yielded without waiting for I/O are written together (the server
  // corks them for the turn and writes in blocks as they grow); chunks
  // yielded in separate turns go out one by one (the test above). Either
  // way each chunk keeps its own framing, in order, strings and bytes alike.
  it('frames every chunk of a body produced in one turn, past the size of one write block', async () => {
    const sizes: number[] = [];
    for (let i = 0; i < 200; i++) sizes.push(1 + ((i * 977) % 3000));
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(total, 'the body crosses the 64 KiB cork block several times').toBeGreaterThan(4 * 65536);
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return (async function* () {
        for (let i = 0; i < sizes.length; i++) {
          const n = sizes[i]!;
          yield i % 3 === 0 ? String.fromCharCode(97 + (i % 26)).repeat(n) : Buffer.alloc(n, i % 251);
        }
      })();
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/turn'), 'GET');
    await client.send(buildRequest('GET', '/turn'), 'GET');
    for (let round = 0; round < 2; round++) {
      const res = await client.next(10_000);
      expect(res.framing).toBe('chunked');
      expect(res.chunkSizes).toEqual(sizes);
      let at = 0;
      for (let i = 0; i < sizes.length; i++) {
        const n = sizes[i]!;
        const part = res.body.subarray(at, at + n);
        const want = i % 3 === 0 ? Buffer.from(String.fromCharCode(97 + (i % 26)).repeat(n)) : Buffer.alloc(n, i % 251);
        expect(part.equals(want), `chunk ${i}`).toBe(true);
        at += n;
      }
      expect(at).toBe(total);
    }
    client.destroy();
  });

  it('sends nothing until the first non-empty chunk', async () => {
    const go = deferred();
    const { port } = await start(kind, (env, startResponse) => {
      if (env.PATH_INFO === '/barrier') {
        startResponse('200 OK', []);
        return [];
      }
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['X-Late', 'yes']]);
      return (async function* () {
        await go.promise;
        yield '';
        yield 'late';
      })();
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    await barrier(port);
    expect(client.received, 'bytes sent before the first non-empty chunk').toBe(0);
    go.resolve();
    const res = await client.next();
    expect(res.status).toBe(200);
    expect(header(res, 'x-late')).toBe('yes');
    expect(res.body.toString()).toBe('late');
    client.destroy();
  });

  it('streams 32 MiB to a client that reads at once', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return (async function* () {
        for (let i = 0; i < CHUNKS; i++) yield Buffer.alloc(CHUNK, i % 251);
      })();
    });
    const client = await RawClient.connect(port, { keepRaw: false });
    await client.send(buildRequest('GET', '/big'), 'GET');
    const res = await client.next(15_000);
    expect(res.body.length).toBe(CHUNK * CHUNKS);
    expect(res.body.equals(expectedBody())).toBe(true);
    client.destroy();
  });

  it('sends a 32 MiB array body intact with its Content-Length', async () => {
    const big = expectedBody();
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return [big];
    });
    const client = await RawClient.connect(port, { keepRaw: false });
    await client.send(buildRequest('GET', '/big'), 'GET');
    await client.send(buildRequest('GET', '/big'), 'GET');
    const res = await client.next(15_000);
    expect(header(res, 'content-length')).toBe(String(big.length));
    expect(res.body.equals(big)).toBe(true);
    expect((await client.next(15_000)).body.length).toBe(big.length);
    client.destroy();
  });

  for (const flavour of ['async', 'sync'] as const) {
    it(`pauses a ${flavour} generator while the client does not read, then delivers 32 MiB intact`, async () => {
      let produced = 0;
      let finished = false;
      const { port } = await start(kind, (_env, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
        if (flavour === 'async') {
          return (async function* () {
            for (let i = 0; i < CHUNKS; i++) {
              produced++;
              yield Buffer.alloc(CHUNK, i % 251);
            }
            finished = true;
          })();
        }
        return (function* () {
          for (let i = 0; i < CHUNKS; i++) {
            produced++;
            yield Buffer.alloc(CHUNK, i % 251);
          }
          finished = true;
        })();
      });
      const client = await RawClient.connect(port, { keepRaw: false });
      client.socket.pause();
      await client.send(buildRequest('GET', '/big'), 'GET');
      // A server that ignores backpressure pulls all the chunks as soon as
      // it pulls the first (the generators never wait): one turn of the
      // loop after the first shows it. One that waits for the socket stops
      // where the kernel's buffers are full.
      expect(await until(() => produced > 0), 'the generator started').toBe(true);
      await new Promise<void>((r) => setImmediate(r));
      const whilePaused = produced;
      expect(whilePaused, 'the generator started').toBeGreaterThan(0);
      // Loopback kernel buffers hold about 4 MiB here (node:http itself
      // reaches ~60 chunks); a server that ignores backpressure runs all 512.
      expect(whilePaused, 'chunks produced while the client was not reading').toBeLessThan(128);
      expect(finished).toBe(false);
      client.socket.resume();
      const res = await client.next(15_000);
      expect(res.complete).toBe(true);
      expect(res.body.length).toBe(CHUNK * CHUNKS);
      expect(res.body.equals(expectedBody())).toBe(true);
      expect(produced).toBe(CHUNKS);
      client.destroy();
    });
  }
});
