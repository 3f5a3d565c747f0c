// idle-connections.test.ts: keep-alive connections that go idle between
// requests and come back: many at once (more than the native server keeps
// spare request state for, ARCHITECTURE.md "Who owns which memory until
// when"), after a pipeline, with a head or leading empty lines split
// across reads, after a chunked body with trailers.
import { expect, it } from 'vitest';
import type { Application } from '../../src/index.js';
import { buildRequest, chunked, RawClient } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

/** Answers `METHOD PATH_INFO REMOTE_PORT body`. */
const whoApp: Application = async (environ, startResponse) => {
  const body = await environ['tsgi.input'].read();
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [`${environ.REQUEST_METHOD} ${environ.PATH_INFO} ${environ.REMOTE_PORT} ${Buffer.from(body).toString()}`];
};

// More than the native server's spare Exchanges (ExchangePool::kMaxIdle,
// 256): some connections come back to state that was freed and made anew.
const MANY = 300;

forEachServer((kind) => {
  it(`keeps ${MANY} idle connections, each answers again on the same connection`, async () => {
    const { port } = await start(kind, whoApp);
    const clients = await Promise.all(Array.from({ length: MANY }, () => RawClient.connect(port)));
    try {
      // Round 1: every connection makes a request and then goes idle.
      await Promise.all(clients.map((c, i) => c.send(buildRequest('GET', `/first/${i}`), 'GET')));
      const first = await Promise.all(clients.map((c) => c.next()));
      first.forEach((res, i) => {
        expect(res.status).toBe(200);
        expect(res.body.toString()).toBe(`GET /first/${i} ${clients[i]!.localPort} `);
      });
      // Round 2: all of them at once again, with bodies, then a pipelined pair.
      await Promise.all(
        clients.map((c, i) => c.send(buildRequest('POST', `/second/${i}`, { body: `body ${i}` }), 'POST')),
      );
      const second = await Promise.all(clients.map((c) => c.next()));
      second.forEach((res, i) => {
        expect(res.body.toString()).toBe(`POST /second/${i} ${clients[i]!.localPort} body ${i}`);
      });
      await Promise.all(
        clients.map((c, i) =>
          c.send(Buffer.concat([buildRequest('GET', `/third/${i}/a`), buildRequest('GET', `/third/${i}/b`)]), 'GET', 'GET'),
        ),
      );
      for (const [i, c] of clients.entries()) {
        const a = await c.next();
        const b = await c.next();
        expect(a.body.toString()).toBe(`GET /third/${i}/a ${c.localPort} `);
        expect(b.body.toString()).toBe(`GET /third/${i}/b ${c.localPort} `);
        expect(c.closed).toBe(false);
      }
    } finally {
      for (const c of clients) c.destroy();
    }
  });

  it('goes idle after a pipeline and parses the next head split across reads', async () => {
    const { port } = await start(kind, whoApp);
    const client = await RawClient.connect(port);
    const local = client.localPort;
    await client.send(Buffer.concat([buildRequest('GET', '/p1'), buildRequest('POST', '/p2', { body: 'xy' })]), 'GET', 'POST');
    expect((await client.next()).body.toString()).toBe(`GET /p1 ${local} `);
    expect((await client.next()).body.toString()).toBe(`POST /p2 ${local} xy`);
    // Idle now. The next head comes in three writes, each handed to the
    // kernel before the next is made.
    const head = buildRequest('POST', '/split', { body: 'abc' });
    await client.send(head.subarray(0, 7), 'POST');
    await client.send(head.subarray(7, 30));
    await client.send(head.subarray(30));
    expect((await client.next()).body.toString()).toBe(`POST /split ${local} abc`);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('takes leading empty lines after an idle period, a CR and its LF in two writes', async () => {
    const { port } = await start(kind, whoApp);
    const client = await RawClient.connect(port);
    const local = client.localPort;
    await client.send(buildRequest('GET', '/a'), 'GET');
    expect((await client.next()).body.toString()).toBe(`GET /a ${local} `);
    // RFC 9112 section 2.2: empty lines before a request line are ignored.
    await client.send('\r');
    await client.send('\n\r\n');
    await client.send(buildRequest('GET', '/b'), 'GET');
    expect((await client.next()).body.toString()).toBe(`GET /b ${local} `);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('answers the next request after a chunked body with trailers', async () => {
    const { port } = await start(kind, whoApp);
    const client = await RawClient.connect(port);
    const local = client.localPort;
    const upload = Buffer.concat([
      Buffer.from('POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'),
      chunked('hello world', 4, 'X-Sum: 1\r\nX-Other: 2\r\n'),
    ]);
    await client.send(upload, 'POST');
    expect((await client.next()).body.toString()).toBe(`POST /up ${local} hello world`);
    await client.send(buildRequest('GET', '/after'), 'GET');
    expect((await client.next()).body.toString()).toBe(`GET /after ${local} `);
    client.destroy();
  });
});
