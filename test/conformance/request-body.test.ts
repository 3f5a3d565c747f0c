// request-body.test.ts: tsgi.input — Content-Length and chunked bodies,
// large bodies, empty bodies, and upload backpressure.
import { createHash, randomBytes } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import { expect, it } from 'vitest';
import type { Application } from '../../src/index.js';
import {
  buildRequest,
  chunked,
  deferred,
  header,
  RawClient,
  request,
  sleep,
  until,
} from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Echoes the body it read with `for await`, and reports the chunk count. */
const echoApp: Application = async (environ, startResponse) => {
  const parts: Uint8Array[] = [];
  for await (const c of environ['tsgi.input']) {
    if (!(c instanceof Uint8Array)) throw new TypeError('input chunk is not a Uint8Array');
    parts.push(c);
  }
  startResponse('200 OK', [
    ['Content-Type', 'application/octet-stream'],
    ['X-Chunks', String(parts.length)],
  ]);
  return [Buffer.concat(parts)];
};

forEachServer((kind) => {
  it('reads a Content-Length body with for await', async () => {
    const { port } = await start(kind, echoApp);
    const body = 'hello, body ✓';
    const { responses } = await request(port, buildRequest('POST', '/echo', { body }));
    const res = responses[0]!;
    expect(res.status).toBe(200);
    expect(res.body.toString('utf8')).toBe(body);
  });

  it('reads a chunked body (with extensions and trailers) de-chunked', async () => {
    const { port } = await start(kind, echoApp);
    const raw =
      'POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5\r\nhello\r\n' +
      '1;ext=1\r\n,\r\n' +
      'b\r\n 0123456789\r\n' +
      '0\r\nX-Trailer: t\r\n\r\n';
    const { responses } = await request(port, raw);
    expect(responses[0]!.status).toBe(200);
    expect(responses[0]!.body.toString()).toBe('hello, 0123456789');
  });

  it('reads a body sent in many small writes', async () => {
    const { port } = await start(kind, echoApp);
    const client = await RawClient.connect(port);
    const body = randomBytes(3000);
    const wire = Buffer.concat([
      Buffer.from('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'),
      chunked(body, 100),
    ]);
    client.methods.push('POST');
    for (let i = 0; i < wire.length; i += 257) {
      await client.send(wire.subarray(i, i + 257));
      await sleep(1);
    }
    const res = await client.next();
    expect(sha(res.body)).toBe(sha(body));
    client.destroy();
  });

  it('input.read() returns the whole body', async () => {
    const { port } = await start(kind, async (environ, startResponse) => {
      const all = await environ['tsgi.input'].read();
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`${all instanceof Uint8Array}:${all.length}:${sha(all)}`];
    });
    const body = randomBytes(200_000);
    const { responses } = await request(port, buildRequest('POST', '/', { body }));
    expect(responses[0]!.body.toString()).toBe(`true:${body.length}:${sha(body)}`);
  });

  it('input.read() collects a body of many chunks, past the high water mark, once', async () => {
    const { port } = await start(kind, async (environ, startResponse) => {
      const input = environ['tsgi.input'];
      const all = await input.read();
      const again = await input.read().then(
        () => 'read twice',
        (err: Error) => err.message,
      );
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`${all.length}:${sha(all)}:${again}`];
    });
    // Chunked, in 70,001-byte chunks: many pushes, and far more than the
    // 64 KiB high water mark buffered (read() collects the whole body: the
    // socket is not paused under it).
    const body = randomBytes(3 * 1024 * 1024);
    const wire = Buffer.concat([
      Buffer.from('POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'),
      chunked(body, 70_001),
    ]);
    const { responses } = await request(port, wire, { timeoutMs: 15_000 });
    expect(responses[0]!.body.toString()).toBe(`${body.length}:${sha(body)}:tsgi.input can be read only once`);
  });

  it('bodies kept across requests stay intact: small ones, ones past a slab, large ones', async () => {
    // The native server copies small body chunks into a shared slab and
    // large ones into buffers of their own (NativeHttpServer.bodyChunk):
    // bodies the application keeps must not change as later requests
    // fill slabs and start new ones. The sizes take both paths, sit at
    // the limit between them, and overrun a 64 KiB slab many times.
    const kept: Uint8Array[] = [];
    const { port } = await start(kind, async (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      if (environ.REQUEST_METHOD === 'GET') return [kept.map(sha).join(',')];
      kept.push(await environ['tsgi.input'].read());
      return [String(kept.length)];
    });
    const sizes = [1, 100, 16 * 1024, 16 * 1024 + 1, 7, 15_000, 40_000, 16 * 1024 - 1];
    for (let i = 0; i < 12; i++) sizes.push(9_000 + 997 * i);
    const bodies = sizes.map((n) => randomBytes(n));
    const client = await RawClient.connect(port);
    for (const [i, body] of bodies.entries()) {
      client.methods.push('POST');
      await client.send(buildRequest('POST', '/keep', { body }));
      expect((await client.next()).body.toString()).toBe(String(i + 1));
    }
    client.methods.push('GET');
    await client.send(buildRequest('GET', '/kept'));
    expect((await client.next()).body.toString()).toBe(bodies.map(sha).join(','));
    client.destroy();
  });

  it('pipelined small bodies past a body area in one write each arrive intact', async () => {
    // 40 bodies of 3 KiB written at once: the native server copies small
    // chunks into a 64 KiB body area and, once a batch has filled it, into
    // buffers of their own (NativeHttpServer.bodyChunk); both kinds must
    // hold their own bytes, also when kept past later requests.
    const kept: Uint8Array[] = [];
    const { port } = await start(kind, async (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const body = await environ['tsgi.input'].read();
      kept.push(body);
      return [sha(body)];
    });
    const bodies = Array.from({ length: 40 }, (_, i) => randomBytes(3 * 1024 + i));
    const client = await RawClient.connect(port);
    for (let i = 0; i < bodies.length; i++) client.methods.push('POST');
    await client.send(Buffer.concat(bodies.map((body) => buildRequest('POST', '/many', { body }))));
    for (const body of bodies) expect((await client.next()).body.toString()).toBe(sha(body));
    expect(kept.map(sha)).toEqual(bodies.map(sha));
    client.destroy();
  });

  it.runIf(kind === 'native')('small bodies sent one at a time keep landing in body areas as each fills', async () => {
    // The native server's fast path: C++ copies a small chunk into the
    // body area and asks JS for a new one once it has no room for a whole
    // chunk (onEvents' wantsArea). Were a full area never replaced, every
    // later chunk would get a buffer of its own (still correct, so only
    // the buffers show it): 40 bodies of 5 KiB fill a 64 KiB area three
    // times over, and each must be a view of a shared area.
    const buffers: ArrayBufferLike[] = [];
    const { port } = await start(kind, async (environ, startResponse) => {
      const body = await environ['tsgi.input'].read();
      buffers.push(body.buffer);
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [sha(body)];
    });
    const client = await RawClient.connect(port);
    for (let i = 0; i < 40; i++) {
      const body = randomBytes(5 * 1024);
      client.methods.push('POST');
      await client.send(buildRequest('POST', '/one', { body }));
      expect((await client.next()).body.toString()).toBe(sha(body));
    }
    client.destroy();
    const areas = new Set(buffers);
    expect(areas.size).toBeGreaterThanOrEqual(4);
    expect(areas.size).toBeLessThanOrEqual(5);
    for (const area of areas) expect(area.byteLength).toBe(64 * 1024);
  });

  it('a body chunk whose buffer the application posts away leaves later bodies intact', async () => {
    // A small chunk's .buffer is shared with other chunks (the native
    // server's body area): posting it in a transfer list must copy it, not
    // take it from the server, and the bodies after it must arrive whole.
    const { port } = await start(kind, async (environ, startResponse) => {
      const body = await environ['tsgi.input'].read();
      const { byteOffset, byteLength } = body;
      const { port1, port2 } = new MessageChannel();
      const copy = new Promise<ArrayBuffer>((resolve) => port2.once('message', resolve));
      try {
        port1.postMessage(body.buffer, [body.buffer]);
      } catch {
        port1.postMessage(body.buffer);
      }
      const posted = new Uint8Array(await copy, byteOffset, byteLength);
      port1.close();
      port2.close();
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`${sha(posted)}`];
    });
    const bodies = [10, 4096, 16 * 1024, 20_000, 700, 9_000].map((n) => randomBytes(n));
    const client = await RawClient.connect(port);
    for (const body of bodies) {
      client.methods.push('POST');
      await client.send(buildRequest('POST', '/post', { body }));
      expect((await client.next()).body.toString()).toBe(sha(body));
    }
    client.destroy();
  });

  it('echoes a 5 MiB Content-Length body intact', async () => {
    const { port } = await start(kind, echoApp);
    const body = randomBytes(5 * 1024 * 1024);
    const { responses } = await request(port, buildRequest('POST', '/big', { body }), {
      timeoutMs: 15_000,
    });
    const res = responses[0]!;
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(body.length);
    expect(sha(res.body)).toBe(sha(body));
  });

  it('echoes a 5 MiB chunked body intact', async () => {
    const { port } = await start(kind, echoApp);
    const body = randomBytes(5 * 1024 * 1024);
    const wire = Buffer.concat([
      Buffer.from('POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'),
      chunked(body, 70_001),
    ]);
    const { responses } = await request(port, wire, { timeoutMs: 15_000 });
    expect(responses[0]!.body.length).toBe(body.length);
    expect(sha(responses[0]!.body)).toBe(sha(body));
  });

  it('ends tsgi.input at once when there is no body', async () => {
    const { port } = await start(kind, echoApp);
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    let res = await client.next(3_000);
    expect(res.status).toBe(200);
    expect(header(res, 'x-chunks')).toBe('0');
    expect(res.body.length).toBe(0);
    await client.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 'POST');
    res = await client.next(3_000);
    expect(header(res, 'x-chunks')).toBe('0');
    await client.send('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'POST');
    res = await client.next(3_000);
    expect(header(res, 'x-chunks')).toBe('0');
    expect(res.body.length).toBe(0);
    client.destroy();
  });

  it('an app that reads slowly still gets 8 MiB intact', async () => {
    const { port } = await start(kind, async (environ, startResponse) => {
      const h = createHash('sha256');
      let n = 0;
      let i = 0;
      for await (const c of environ['tsgi.input']) {
        h.update(c);
        n += c.length;
        if (++i % 4 === 0) await sleep(2);
      }
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`${n}:${h.digest('hex')}`];
    });
    const body = randomBytes(8 * 1024 * 1024);
    const { responses } = await request(port, buildRequest('POST', '/slow', { body }), {
      timeoutMs: 18_000,
    });
    expect(responses[0]!.body.toString()).toBe(`${body.length}:${sha(body)}`);
  });

  it('stops reading the upload while the app does not read (backpressure)', async () => {
    const release = deferred();
    const started = deferred();
    let received = 0;
    const { port } = await start(kind, async (environ, startResponse) => {
      const it = environ['tsgi.input'][Symbol.asyncIterator]();
      const first = await it.next();
      received += first.done ? 0 : first.value.length;
      started.resolve();
      await release.promise;
      const h = createHash('sha256');
      if (!first.done) h.update(first.value);
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        received += r.value.length;
        h.update(r.value);
      }
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`${received}:${h.digest('hex')}`];
    });
    // 14 MiB: below any plausible default body limit (native: 16 MiB).
    const total = 14 * 1024 * 1024;
    const body = randomBytes(total);
    const client = await RawClient.connect(port);
    client.methods.push('POST');
    // Small writes, so that writableLength tells how much is still queued.
    client.socket.write(buildRequest('POST', '/bp', { headers: [['Content-Length', String(total)]] }));
    for (let i = 0; i < total; i += 64 * 1024) client.socket.write(body.subarray(i, i + 64 * 1024));
    await started.promise;
    // While the app holds the iterator, the server must stop reading: the
    // kernel buffers on loopback take about 4 MiB, so at least 6 MiB stay
    // queued in the client. A server that reads on takes all 14 MiB.
    await sleep(800);
    const taken = total - client.socket.writableLength;
    expect(taken, 'bytes the server side took while the app was stalled').toBeLessThan(8 * 1024 * 1024);
    release.resolve();
    const res = await client.next(12_000);
    expect(res.body.toString()).toBe(`${total}:${sha(body)}`);
    expect(await until(() => client.socket.writableLength === 0, 1000)).toBe(true);
    client.destroy();
  });
});
