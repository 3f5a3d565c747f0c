// pipelined-batch.test.ts: batches of pipelined responses of every kind
// (empty, small, larger than a write batch, streamed, HEAD, 204, a
// Connection: close among them), a client that reads slowly, and one that
// leaves mid-batch. The reference server writes a batch as one writev
// (src/node/write-batch.ts), the native server as one uv_write: the bytes
// and their order must be what each response alone would be.
import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import type { Application } from '../../src/index.js';
import { buildRequest, connectionHas, header, RawClient, sleep, until } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

/** `n` bytes of a pattern that differs per `seed`. */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');

/** /bytes/N/SEED: N pattern bytes; /stream/K/SEED: K async chunks of
 * bytes and UTF-8 text; /empty; /nocontent (204). */
const batchApp: Application = (environ, startResponse) => {
  const [, kind, a, b] = environ.PATH_INFO.split('/');
  if (kind === 'bytes') {
    const body = pattern(Number(a), Number(b));
    startResponse('200 OK', [['Content-Type', 'application/octet-stream'], ['Content-Length', String(body.length)]]);
    return [body];
  }
  if (kind === 'stream') {
    startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    const n = Number(a);
    const seed = Number(b);
    return (async function* () {
      for (let i = 0; i < n; i++) {
        await null;
        yield i % 2 === 0 ? pattern(1000 + i * 500, seed + i) : `é${i}€`;
      }
    })();
  }
  if (kind === 'nocontent') {
    startResponse('204 No Content', []);
    return [];
  }
  startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '0']]);
  return [];
};

/** What /stream/K/SEED sends. */
function streamed(n: number, seed: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) parts.push(i % 2 === 0 ? pattern(1000 + i * 500, seed + i) : Buffer.from(`é${i}€`));
  return Buffer.concat(parts);
}

forEachServer((kind) => {
  it('answers a batch of mixed pipelined responses byte for byte, in order', async () => {
    const { port } = await start(kind, batchApp);
    const client = await RawClient.connect(port);
    const plan: { method: string; path: string; body: Buffer; status: number }[] = [];
    for (let round = 0; round < 3; round++) {
      plan.push({ method: 'GET', path: `/bytes/10/${round}`, body: pattern(10, round), status: 200 });
      plan.push({ method: 'GET', path: '/empty', body: Buffer.alloc(0), status: 200 });
      plan.push({ method: 'GET', path: `/bytes/30000/${round}`, body: pattern(30000, round), status: 200 });
      // Larger than a write batch: the batch's writes wait for its writev.
      plan.push({ method: 'GET', path: `/bytes/100000/${round}`, body: pattern(100000, round), status: 200 });
      plan.push({ method: 'GET', path: `/stream/9/${round}`, body: streamed(9, round), status: 200 });
      plan.push({ method: 'HEAD', path: `/bytes/5000/${round}`, body: Buffer.alloc(0), status: 200 });
      plan.push({ method: 'GET', path: '/nocontent', body: Buffer.alloc(0), status: 204 });
      plan.push({ method: 'GET', path: `/bytes/1/${round}`, body: pattern(1, round), status: 200 });
    }
    await client.send(Buffer.concat(plan.map((p) => buildRequest(p.method, p.path))), ...plan.map((p) => p.method));
    const all = await client.responses(plan.length);
    expect(all.length).toBe(plan.length);
    for (let i = 0; i < plan.length; i++) {
      const p = plan[i]!;
      const r = all[i]!;
      expect(r.complete, `${p.method} ${p.path} complete`).toBe(true);
      expect(r.status, `${p.method} ${p.path}`).toBe(p.status);
      expect(sha1(r.body), `${p.method} ${p.path}: ${r.body.length} bytes`).toBe(sha1(p.body));
      if (p.method === 'HEAD') expect(header(r, 'content-length')).toBe('5000');
    }
    // The connection serves on after the batch.
    await client.send(buildRequest('GET', '/bytes/3/9'), 'GET');
    const after = (await client.responses(plan.length + 1))[plan.length];
    expect(after?.body.equals(pattern(3, 9))).toBe(true);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('ends a batch at its Connection: close request, with every response before it whole', async () => {
    const { port } = await start(kind, batchApp);
    const client = await RawClient.connect(port);
    const reqs: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      const path = i % 2 === 0 ? `/bytes/20000/${i}` : `/stream/3/${i}`;
      reqs.push(buildRequest('GET', path, i === 4 ? { headers: [['Connection', 'close']] } : {}));
    }
    await client.send(Buffer.concat(reqs), ...reqs.map(() => 'GET'));
    expect(await client.waitClose(5000), 'closed after the Connection: close response').toBe(true);
    const all = await client.responses(5, 1000);
    expect(all.length).toBe(5);
    for (let i = 0; i < 5; i++) {
      expect(all[i]!.complete).toBe(true);
      const want = i % 2 === 0 ? pattern(20000, i) : streamed(3, i);
      expect(sha1(all[i]!.body), `response ${i}`).toBe(sha1(want));
    }
    expect(connectionHas(all[4]!, 'close')).toBe(true);
    // Nothing of the requests after it was answered.
    expect(client.parser.responses.length).toBe(5);
  });

  it('delivers a batch of 16 pipelined 256 KiB responses whole to a client that pauses reading', async () => {
    const { port } = await start(kind, batchApp);
    const client = await RawClient.connect(port, { keepRaw: false });
    client.socket.pause();
    const reqs = Array.from({ length: 16 }, (_, i) => buildRequest('GET', `/bytes/262144/${i}`));
    await client.send(Buffer.concat(reqs), ...reqs.map(() => 'GET'));
    // Time for the server to fill the socket and wait on its
    // backpressure (4 MiB against the kernel's buffers); then the client
    // reads everything.
    await sleep(300);
    client.socket.resume();
    const all = await client.responses(16, 20_000);
    expect(all.length).toBe(16);
    for (let i = 0; i < 16; i++) expect(sha1(all[i]!.body), `response ${i}`).toBe(sha1(pattern(262144, i)));
    client.destroy();
  });

  it('serves on after a client leaves in the middle of a batch of large pipelined responses', async () => {
    const { port } = await start(kind, batchApp);
    for (let round = 0; round < 3; round++) {
      const gone = await RawClient.connect(port, { keepRaw: false });
      const reqs = Array.from({ length: 16 }, (_, i) => buildRequest('GET', i % 3 === 0 ? `/stream/40/${i}` : `/bytes/500000/${i}`));
      await gone.send(Buffer.concat(reqs), ...reqs.map(() => 'GET'));
      expect(await until(() => gone.received > 100_000)).toBe(true);
      gone.destroy();
    }
    const client = await RawClient.connect(port);
    const reqs = Array.from({ length: 4 }, (_, i) => buildRequest('GET', `/bytes/70000/${i}`));
    await client.send(Buffer.concat(reqs), ...reqs.map(() => 'GET'));
    const all = await client.responses(4);
    for (let i = 0; i < 4; i++) expect(sha1(all[i]!.body)).toBe(sha1(pattern(70000, i)));
    client.destroy();
  });
});
