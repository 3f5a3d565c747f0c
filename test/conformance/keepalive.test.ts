// keepalive.test.ts: persistent connections (HTTP/1.1 and 1.0) and
// pipelining, with order kept across synchronous and asynchronous answers.
import { expect, it } from 'vitest';
import type { Application } from '../../src/index.js';
import {
  buildRequest,
  chunked,
  connectionHas,
  RawClient,
  sleep,
} from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

/** Answers with `METHOD PATH_INFO REMOTE_PORT body`. */
const whoApp: Application = async (environ, startResponse) => {
  const body = await environ['tsgi.input'].read();
  if (environ.PATH_INFO === '/slow') await sleep(200);
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [
    `${environ.REQUEST_METHOD} ${environ.PATH_INFO} ${environ.REMOTE_PORT} ${Buffer.from(body).toString()}`,
  ];
};

forEachServer((kind) => {
  it('serves 3 sequential requests on one HTTP/1.1 connection', async () => {
    const { port } = await start(kind, whoApp);
    const client = await RawClient.connect(port);
    const local = client.localPort;
    for (const p of ['/1', '/2', '/3']) {
      await client.send(buildRequest('GET', p), 'GET');
      const res = await client.next();
      expect(res.body.toString()).toBe(`GET ${p} ${local} `);
      expect(connectionHas(res, 'close')).toBe(false);
      expect(client.closed).toBe(false);
    }
    client.destroy();
  });

  it('closes an HTTP/1.0 connection after the response by default', async () => {
    const { port } = await start(kind, whoApp);
    const client = await RawClient.connect(port);
    await client.send('GET /old HTTP/1.0\r\n\r\n', 'GET');
    const [res] = await client.responses(1);
    expect(res!.body.toString()).toMatch(/^GET \/old \d+ $/);
    expect(connectionHas(res!, 'keep-alive')).toBe(false);
    expect(await client.waitClose(3000), 'server closed the HTTP/1.0 connection').toBe(true);
  });

  it('keeps an HTTP/1.0 connection open with Connection: keep-alive', async () => {
    const { port } = await start(kind, whoApp);
    const client = await RawClient.connect(port);
    await client.send('GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', 'GET');
    const a = await client.next();
    expect(connectionHas(a, 'keep-alive')).toBe(true);
    expect(a.framing).toBe('length');
    // Kept: the same connection answers the next request.
    await client.send('GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', 'GET');
    const b = await client.next();
    expect(b.body.toString()).toBe(`GET /b ${client.localPort} `);
    // Without keep-alive on the next request, the server closes.
    await client.send('GET /c HTTP/1.0\r\n\r\n', 'GET');
    const c = await client.next();
    expect(c.body.toString()).toMatch(/^GET \/c /);
    expect(await client.waitClose(3000)).toBe(true);
  });

  it('answers Connection: close with Connection: close and closes', async () => {
    const { port } = await start(kind, whoApp);
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/bye', { headers: [['Connection', 'close']] }), 'GET');
    const [res] = await client.responses(1);
    expect(res!.status).toBe(200);
    expect(connectionHas(res!, 'close')).toBe(true);
    expect(await client.waitClose(3000), 'server closed after Connection: close').toBe(true);
  });

  it('reads the close option whatever the case of Connection, and only from Connection', async () => {
    const { port } = await start(kind, whoApp);
    const client = await RawClient.connect(port);
    // Fields as long as Connection (10), Content-Length (14) and
    // Transfer-Encoding (17) that are none of them change nothing; a body
    // announced in upper case is read as one.
    await client.send(
      'POST /a HTTP/1.1\r\nHost: x\r\nUser-Agent: close\r\nX-Length-Is: 5\r\nX-Transfer-Codes: chunked\r\n' +
        'CONTENT-LENGTH: 2\r\n\r\nhi',
      'POST',
    );
    const first = await client.next(3000);
    expect(first.body.toString()).toMatch(/^POST \/a \d+ hi$/);
    expect(connectionHas(first, 'close')).toBe(false);
    await client.send('GET /b HTTP/1.1\r\nHost: x\r\nCONNECTION: keep-alive, Close\r\n\r\n', 'GET');
    const second = await client.next(3000);
    expect(second.body.toString()).toMatch(/^GET \/b \d+ $/);
    expect(connectionHas(second, 'close')).toBe(true);
    expect(await client.waitClose(3000), 'server closed after CONNECTION: ..., Close').toBe(true);
  });

  it('answers 16 pipelined requests in one write, in order', async () => {
    const { port } = await start(kind, whoApp);
    const client = await RawClient.connect(port);
    const reqs = Array.from({ length: 16 }, (_, i) => buildRequest('GET', `/p${i}`));
    await client.send(Buffer.concat(reqs), ...reqs.map(() => 'GET'));
    const all = await client.responses(16);
    expect(all.length).toBe(16);
    expect(all.map((r) => r.body.toString().split(' ')[1])).toEqual(
      Array.from({ length: 16 }, (_, i) => `/p${i}`),
    );
    for (const r of all) expect(r.complete).toBe(true);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('answers 256 pipelined requests sent in one write, in order', async () => {
    const { port } = await start(kind, (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [environ.QUERY_STRING];
    });
    const client = await RawClient.connect(port);
    const n = 256;
    await client.send(
      Buffer.concat(Array.from({ length: n }, (_, i) => buildRequest('GET', `/?${i}`))),
      ...Array.from({ length: n }, () => 'GET'),
    );
    const all = await client.responses(n);
    expect(all.length).toBe(n);
    expect(all.map((r) => r.body.toString())).toEqual(Array.from({ length: n }, (_, i) => String(i)));
    client.destroy();
  });

  it('keeps pipelined order when the first answer is late and the others are immediate', async () => {
    const { port } = await start(kind, (environ, startResponse) => {
      if (environ.PATH_INFO === '/slow') {
        return new Promise<string[]>((resolve) =>
          setTimeout(() => {
            startResponse('200 OK', [['Content-Type', 'text/plain']]);
            resolve(['slow']);
          }, 250),
        );
      }
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [environ.PATH_INFO.slice(1)];
    });
    const client = await RawClient.connect(port);
    const paths = ['/slow', '/f1', '/f2', '/f3', '/f4'];
    await client.send(
      Buffer.concat(paths.map((p) => buildRequest('GET', p))),
      ...paths.map(() => 'GET'),
    );
    const all = await client.responses(paths.length);
    expect(all.map((r) => r.body.toString())).toEqual(['slow', 'f1', 'f2', 'f3', 'f4']);
    client.destroy();
  });

  it('keeps pipelined order with an async app that is slow for the first request', async () => {
    const { port } = await start(kind, whoApp);
    const client = await RawClient.connect(port);
    const paths = ['/slow', '/x', '/slow', '/y'];
    await client.send(
      Buffer.concat(paths.map((p) => buildRequest('GET', p))),
      ...paths.map(() => 'GET'),
    );
    const all = await client.responses(4);
    expect(all.map((r) => r.body.toString().split(' ')[1])).toEqual(paths);
    client.destroy();
  });

  it('answers pipelined POSTs with bodies (Content-Length and chunked) in order', async () => {
    const { port } = await start(kind, whoApp);
    const client = await RawClient.connect(port);
    const wire = Buffer.concat([
      buildRequest('POST', '/a', { body: 'alpha' }),
      Buffer.from('POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'),
      chunked('bravo-bravo', 3),
      buildRequest('GET', '/c'),
      buildRequest('HEAD', '/d'),
      buildRequest('POST', '/e', { body: 'x'.repeat(70_000) }),
      buildRequest('POST', '/f', { body: '' }),
    ]);
    await client.send(wire, 'POST', 'POST', 'GET', 'HEAD', 'POST', 'POST');
    const all = await client.responses(6);
    const bodies = all.map((r) => r.body.toString());
    expect(bodies[0]).toMatch(/^POST \/a \d+ alpha$/);
    expect(bodies[1]).toMatch(/^POST \/b \d+ bravo-bravo$/);
    expect(bodies[2]).toMatch(/^GET \/c \d+ $/);
    expect(bodies[3]).toBe('');
    expect(all[3]!.status).toBe(200);
    expect(bodies[4]).toBe(`POST /e ${client.localPort} ${'x'.repeat(70_000)}`);
    expect(bodies[5]).toMatch(/^POST \/f \d+ $/);
    client.destroy();
  });

  it('serves a pipelined request after one whose body the app did not read', async () => {
    const { port } = await start(kind, (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`${environ.REQUEST_METHOD} ${environ.PATH_INFO}`];
    });
    const client = await RawClient.connect(port);
    await client.send(
      Buffer.concat([
        buildRequest('POST', '/unread', { body: 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n' }),
        buildRequest('GET', '/next'),
      ]),
      'POST',
      'GET',
    );
    const all = await client.responses(2, 5000);
    expect(all[0]!.body.toString()).toBe('POST /unread');
    if (all.length > 1) {
      expect(all[1]!.body.toString()).toBe('GET /next');
    } else {
      // A server may instead close after an unread body; it must not parse
      // the body as a request.
      expect(client.closed).toBe(true);
    }
    expect(client.text()).not.toContain('/smuggled');
    client.destroy();
  });
});
