// write-batch.test.ts: the reference server's write batches
// (src/node/write-batch.ts) against a client that pipelines and never
// reads (the batch's bytes must stay under the socket's backpressure and
// the send timeout), and against a close() in the loop turn of a batch
// (its finished responses must reach the client). Node server only: the
// first test reads the server's side of the connection through a
// test-only hook on http.Server.prototype.emit.
import http from 'node:http';
import net from 'node:net';
import { expect, it } from 'vitest';
import type { Application, Server } from '../../src/index.js';
import { buildRequest, RawClient, sleep } from '../helpers/http.js';
import { start } from '../helpers/servers.js';

it('stops reading, and cuts at the send timeout, a client that pipelines pairs of requests and never reads', async () => {
  let server: net.Socket | null = null;
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (this: http.Server, event: string, ...args: unknown[]) {
    if (event === 'connection') server = args[0] as net.Socket;
    return emit.call(this, event, ...args);
  } as typeof emit;
  let calls = 0;
  const size = 2000;
  // An async application: both requests of a pair are parsed before the
  // first response is written, so each pair is a batch of ~4 KB.
  const app: Application = async (_env, sr) => {
    calls++;
    sr('200 OK', [['Content-Length', String(size)]]);
    return [Buffer.alloc(size, 0x61)];
  };
  let sock: net.Socket;
  try {
    const { port } = await start('node', app, { validate: false, sendTimeout: 1, keepAliveTimeout: 5 });
    sock = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => sock.once('connect', r));
  } finally {
    http.Server.prototype.emit = emit;
  }
  sock.pause();
  sock.on('error', () => {});
  const s = server! as net.Socket & { _handle: { writeQueueSize: number } | null };
  const state = () => `${calls} requests answered, libuv queue ${s._handle?.writeQueueSize ?? '-'} B, writableLength ${s.writableLength}`;
  // 16000 requests, 32 MB of responses: several times what the kernel's
  // buffers hold on loopback. The last one closes the connection, so no
  // keep-alive timer can cut it instead of the send timeout.
  const pair = Buffer.concat([buildRequest('GET', '/a'), buildRequest('GET', '/b')]);
  const last = Buffer.concat([buildRequest('GET', '/a'), buildRequest('GET', '/b', { headers: [['Connection', 'close']] })]);
  for (let i = 0; i < 8000 && !s.destroyed; i++) {
    sock.write(i === 7999 ? last : pair);
    await sleep(1);
  }
  // Cut within the send timeout (1 s) plus a check; bounded at 5 s.
  for (let i = 0; i < 50 && !s.destroyed; i++) await sleep(100);
  const seen = state();
  sock.destroy();
  expect(s.destroyed, `cut by the send timeout (${seen})`).toBe(true);
  // node:http stops reading once a response waits for the socket: what
  // was answered is about what the kernel's buffers hold.
  expect(calls, `the server stopped reading (${seen})`).toBeLessThan(10_000);
}, 40_000);

it('delivers every finished pipelined response when the server closes in the loop turn of their batch', async () => {
  let server: Server | null = null;
  const app: Application = (env, sr) => {
    // A close() between a read and the check phase (a signal, the
    // supervisor's drain, another connection's callback): here, once
    // node:http has finished the three responses.
    if (env.PATH_INFO === '/last') queueMicrotask(() => void server!.close());
    sr('200 OK', [['Content-Length', '2']]);
    return [Buffer.from('ok')];
  };
  const started = await start('node', app, { validate: false });
  server = started.server;
  const client = await RawClient.connect(started.port);
  await client.send(Buffer.concat([buildRequest('GET', '/a'), buildRequest('GET', '/b'), buildRequest('GET', '/last')]), 'GET', 'GET', 'GET');
  const all = await client.responses(3, 3000);
  expect(all.filter((r) => r.complete).length).toBe(3);
});
