// node-heads.test.ts: the reference server stores the head of a response
// with a length itself, as node:http's writeHead() would (storeHead in
// src/node/sink.ts), and leaves every other response to writeHead(). Each
// case here is answered by the reference server and by the same
// application on a plain node:http server through toNodeListener (whose
// responses always go through writeHead()): the bytes must be the same,
// Date's value aside, on both the stored path and the paths that fall back.
import { createServer, ServerResponse, type Server } from 'node:http';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Socket, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toNodeListener, type Application } from '../src/index.js';
import { storesHeads } from '../src/node/sink.js';
import { makesHeaders } from '../src/node/request.js';
import { RawClient } from './helpers/http.js';
import { closeAll, start } from './helpers/servers.js';

async function* twoChunks(): AsyncGenerator<string> {
  yield 'one ';
  yield 'two';
}

/** Chunks of every kind: bytes, an empty one (not a last-chunk), a
 * string with characters beyond ASCII (its size in UTF-8 bytes), and one
 * past the sockets' high-water mark. */
async function* mixedChunks(): AsyncGenerator<string | Uint8Array> {
  yield Buffer.from('bytes ');
  yield '';
  yield new Uint8Array(0);
  yield 'na\u00efve \u20ac ';
  yield Buffer.alloc(70_000, 0x61);
  yield 'end';
}

const app: Application = async (environ, startResponse) => {
  switch (environ.PATH_INFO) {
    case '/length':
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['X-A', 'b'], ['Set-Cookie', 'c=1'], ['Set-Cookie', 'd=2']]);
      return ['hello'];
    case '/declared':
      startResponse('201 Created', [['Content-Length', '5'], ['Content-Type', 'text/plain']]);
      return ['hello'];
    case '/empty':
      startResponse('404 Not Found', []);
      return [];
    case '/close':
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['Connection', 'close']]);
      return ['bye'];
    case '/bytes':
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return [Buffer.from('bytes \x00\xff body', 'latin1')];
    case '/utf8':
      startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
      return ['na\u00efve \u20ac'];
    case '/big':
      // Past the socket's high-water mark and the kernel's buffer: the
      // write that carries it is left partly queued.
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['x'.repeat(4_000_000)];
    case '/bytes-big':
      // Past kJoinedBody: sent as bytes, its head as bytes too (endBytes).
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return [BIG_BYTES];
    case '/bytes-huge':
      // Bytes past the socket's high-water mark and the kernel's buffer.
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return [HUGE_BYTES];
    case '/latin1':
      startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['X-Name', 'caf\u00e9']]);
      return ['na\u00efve'];
    case '/stream':
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return twoChunks();
    case '/mixed':
      startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['X-Name', 'caf\u00e9']]);
      return mixedChunks();
    case '/stream-close':
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['Connection', 'close']]);
      return twoChunks();
    case '/stream-error':
      startResponse('500 Internal Server Error', [['Content-Type', 'text/plain']]);
      return twoChunks();
    case '/no-content':
      startResponse('204 No Content', [['X-A', 'b']]);
      return [];
    case '/not-modified':
      startResponse('304 Not Modified', [['ETag', '"x"']]);
      return [];
    case '/expect-field':
      startResponse('200 OK', [['Expect', 'odd']]);
      return ['e'];
    case '/read':
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return [await environ['tsgi.input'].read()];
    default:
      // Answers without reading the body.
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['unread'];
  }
};

/** Bodies of bytes too large to join into a string (sink.ts, kJoinedBody),
 * with every byte value in them. */
const BIG_BYTES = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7) & 0xff));
const HUGE_BYTES = Buffer.alloc(4_000_000, BIG_BYTES);

const H = 'Host: example.test\r\n';
/** [what, request]: one fresh connection each. */
const CASES: [string, string][] = [
  ['a length, keep-alive (stored)', `GET /length HTTP/1.1\r\n${H}\r\n`],
  ['a declared Content-Length (stored)', `GET /declared HTTP/1.1\r\n${H}\r\n`],
  ['an empty body (stored)', `GET /empty HTTP/1.1\r\n${H}\r\n`],
  ['Connection: close from the application (stored)', `GET /close HTTP/1.1\r\n${H}\r\n`],
  ['Connection: close from the client (stored)', `GET /length HTTP/1.1\r\n${H}Connection: close\r\n\r\n`],
  ['a bytes body (stored)', `GET /bytes HTTP/1.1\r\n${H}\r\n`],
  ['a UTF-8 string body (stored)', `GET /utf8 HTTP/1.1\r\n${H}\r\n`],
  ['a body larger than the socket takes at once (stored)', `GET /big HTTP/1.1\r\n${H}\r\n`],
  ['a large bytes body (stored)', `GET /bytes-big HTTP/1.1\r\n${H}\r\n`],
  ['a bytes body larger than the socket takes at once (stored)', `GET /bytes-huge HTTP/1.1\r\n${H}\r\n`],
  ['HEAD of a large bytes body (stored)', `HEAD /bytes-big HTTP/1.1\r\n${H}\r\n`],
  ['a latin1 field value (stored)', `GET /latin1 HTTP/1.1\r\n${H}\r\n`],
  ['HEAD (stored)', `HEAD /length HTTP/1.1\r\n${H}\r\n`],
  ['a body read, then a length (stored)', `POST /read HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc`],
  ['HTTP/1.0, not kept alive (stored)', `GET /length HTTP/1.0\r\n${H}\r\n`],
  ['HTTP/1.0 keep-alive (stored)', `GET /length HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n`],
  ['no length: chunked, framed by the sink (stored)', `GET /stream HTTP/1.1\r\n${H}\r\n`],
  ['chunked: bytes, empty chunks, UTF-8, a large chunk, a latin1 field (stored)', `GET /mixed HTTP/1.1\r\n${H}\r\n`],
  ['chunked, Connection: close from the application (stored)', `GET /stream-close HTTP/1.1\r\n${H}\r\n`],
  ['chunked, Connection: close from the client (stored)', `GET /stream HTTP/1.1\r\n${H}Connection: close\r\n\r\n`],
  ['chunked, an error status (stored)', `GET /stream-error HTTP/1.1\r\n${H}\r\n`],
  ['no length, HEAD (writeHead)', `HEAD /stream HTTP/1.1\r\n${H}\r\n`],
  ['no length, HTTP/1.0: delimited by the close (writeHead)', `GET /stream HTTP/1.0\r\n${H}\r\n`],
  ['no length, HTTP/1.0 with TE: chunked (stored)', `GET /stream HTTP/1.0\r\n${H}TE: chunked\r\n\r\n`],
  ['204 (writeHead)', `GET /no-content HTTP/1.1\r\n${H}\r\n`],
  ['304 (writeHead)', `GET /not-modified HTTP/1.1\r\n${H}\r\n`],
  ['an Expect response field (writeHead)', `GET /expect-field HTTP/1.1\r\n${H}\r\n`],
  [
    '100-continue never sent (writeHead: not kept alive)',
    `POST /unread HTTP/1.1\r\n${H}Content-Length: 3\r\nExpect: 100-continue\r\n\r\n`,
  ],
];

/** The head of the one response to `request` on a fresh connection, its
 * Date value replaced, its body, and the bytes after the head as sent
 * (the chunked framing). */
async function answer(port: number, request: string): Promise<{ head: string; body: string; raw: string }> {
  const client = await RawClient.connect(port);
  const method = request.slice(0, request.indexOf(' '));
  await client.send(Buffer.from(request, 'latin1'), method);
  const [res] = await client.responses(1);
  client.destroy();
  expect(res, request).toBeDefined();
  const text = client.text();
  const end = text.indexOf('\r\n\r\n');
  expect(end, text).toBeGreaterThan(0);
  const head = text.slice(0, end + 4);
  const date = /\r\nDate: ([^\r]*)\r\n/.exec(head);
  // A Date node:http would write (IMF-fixdate), on every response.
  expect(date?.[1], head).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/);
  return { head: head.replace(date![1]!, 'DATE'), body: res!.body.toString('latin1'), raw: text.slice(end + 4) };
}

describe('reference server heads', () => {
  let reference = 0;
  let plain = 0;
  const servers: Server[] = [];
  // writeHead() counted, so that a case said to be stored is seen to be.
  const writeHead = ServerResponse.prototype.writeHead;
  let writeHeads = 0;

  beforeAll(async () => {
    ServerResponse.prototype.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      writeHeads++;
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as typeof writeHead;
    // The reference server's default keep-alive timeout (5 s) is
    // node:http's: the Keep-Alive fields are the same.
    reference = (await start('node', app, { validate: false })).port;
    const listener = toNodeListener(app);
    const server = createServer(listener);
    // As the reference server: 100 Continue only when the application reads.
    server.on('checkContinue', listener);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    plain = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    ServerResponse.prototype.writeHead = writeHead;
    await closeAll();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  it('stores heads on this Node.js (else the cases below test writeHead() only)', () => {
    expect(storesHeads).toBe(true);
  });

  for (const [what, request] of CASES) {
    it(`writes the head writeHead() writes: ${what}`, async () => {
      writeHeads = 0;
      const ours = await answer(reference, request);
      expect(writeHeads, 'writeHead() calls for the reference server').toBe(what.endsWith('(stored)') ? 0 : 1);
      const theirs = await answer(plain, request);
      expect(ours.head).toBe(theirs.head);
      expect(ours.body).toBe(theirs.body);
      expect(ours.raw).toBe(theirs.raw);
    });
  }

  it('stores a keep-alive head with its length, Date and the persistence fields, in writeHead() order', async () => {
    const { head, body } = await answer(reference, `GET /length HTTP/1.1\r\n${H}\r\n`);
    expect(head).toBe(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: b\r\nSet-Cookie: c=1\r\nSet-Cookie: d=2\r\n' +
        'Content-Length: 5\r\nDate: DATE\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n',
    );
    expect(body).toBe('hello');
  });

  it('sends a whole small body with its stored head in one write, not a vector, and finishes each response', async () => {
    // Socket.prototype._writev counted: node:http's end(data) flushes the
    // data and its closing empty write as one vector; the stored path
    // sends one string and leaves end() nothing to flush.
    const writev = Socket.prototype._writev!;
    let vectors = 0;
    Socket.prototype._writev = function (this: Socket, ...args: Parameters<typeof writev>) {
      vectors++;
      return writev.apply(this, args);
    };
    try {
      const client = await RawClient.connect(reference);
      const bodies: string[] = [];
      // One at a time on one connection: each response must finish for
      // node:http to read the next request.
      for (const path of ['/length', '/bytes', '/utf8', '/length', '/bytes']) {
        await client.send(Buffer.from(`GET ${path} HTTP/1.1\r\n${H}\r\n`, 'latin1'), 'GET');
        bodies.push((await client.next()).body.toString('latin1'));
      }
      expect(vectors).toBe(0);
      expect(bodies).toEqual(['hello', 'bytes \x00\xff body', Buffer.from('na\u00efve \u20ac').toString('latin1'), 'hello', 'bytes \x00\xff body']);
      // A pipelined pair: the second response waits for the first and
      // takes node:http's own end(data).
      await client.send(Buffer.from(`GET /length HTTP/1.1\r\n${H}\r\nGET /utf8 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 'latin1'), 'GET', 'GET');
      const pair = [await client.next(), await client.next()];
      expect(pair.map((r) => r.body.toString('latin1'))).toEqual(['hello', Buffer.from('na\u00efve \u20ac').toString('latin1')]);
      expect(await client.waitClose()).toBe(true);
    } finally {
      Socket.prototype._writev = writev;
    }
  });

  it('sends a whole large bytes body with its stored head as one vector of bytes, no string in it', async () => {
    // node:http's end(bytes) queues its head and a closing empty write as
    // strings around the bytes; the stored path writes bytes only.
    const writev = Socket.prototype._writev!;
    const vectors: boolean[] = [];
    Socket.prototype._writev = function (this: Socket, ...args: Parameters<typeof writev>) {
      vectors.push(args[0].every(({ chunk }) => Buffer.isBuffer(chunk)));
      return writev.apply(this, args);
    };
    try {
      const client = await RawClient.connect(reference);
      for (let i = 0; i < 3; i++) {
        await client.send(Buffer.from(`GET /bytes-big HTTP/1.1\r\n${H}\r\n`, 'latin1'), 'GET');
        expect((await client.next()).body.equals(BIG_BYTES)).toBe(true);
      }
      expect(vectors).toEqual([true, true, true]);
      // A pipelined pair: written as a batch (write-batch.ts), not on its
      // own, and still answered in full.
      await client.send(Buffer.from(`GET /bytes-big HTTP/1.1\r\n${H}\r\nGET /bytes-big HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 'latin1'), 'GET', 'GET');
      const pair = [await client.next(), await client.next()];
      expect(pair.every((r) => r.body.equals(BIG_BYTES))).toBe(true);
      expect(await client.waitClose()).toBe(true);
    } finally {
      Socket.prototype._writev = writev;
    }
  });

  it('gives req.headers the object node:http builds, made per shape or by node:http', async () => {
    expect(makesHeaders).toBe(true);
    const seen: string[] = [];
    const onStart = (message: unknown) => {
      const { request } = message as { request: { headers: Record<string, unknown> } };
      seen.push(JSON.stringify(Object.entries(request.headers)));
    };
    // Distinct names (made per shape, each sent twice so that both the
    // first request of a shape and a later one count), then names
    // node:http joins, drops or keeps apart (its own getter).
    const lists = [
      'Host: a.test\r\nUser-Agent: ua/1\r\nAccept: */*\r\nCookie: a=1; b=2\r\nSet-Cookie: s=1\r\nConstructor: c\r\nX-Mixed-CASE: M\r\n',
      'Host: a.test\r\nUser-Agent: ua/1\r\nAccept: */*\r\nCookie: a=1; b=2\r\nSet-Cookie: s=1\r\nConstructor: c\r\nX-Mixed-CASE: M\r\n',
      'host: b.test\r\nAccept: text/html\r\nAccept: text/plain\r\nCookie: a=1\r\ncookie: b=2\r\nUser-Agent: one\r\nuser-agent: two\r\n',
      'Host: c.test\r\nX_Under: u\r\nSet-Cookie: s=1\r\nSet-Cookie: t=2\r\n__proto__: p\r\n',
    ];
    const answers = async (port: number): Promise<string[]> => {
      seen.length = 0;
      for (const fields of [...lists, ...lists]) {
        const client = await RawClient.connect(port);
        await client.send(Buffer.from(`GET /length HTTP/1.1\r\n${fields}\r\n`, 'latin1'), 'GET');
        await client.next();
        client.destroy();
      }
      return seen.slice();
    };
    subscribe('http.server.request.start', onStart);
    try {
      const ours = await answers(reference);
      const theirs = await answers(plain);
      expect(ours).toHaveLength(2 * lists.length);
      expect(ours).toEqual(theirs);
    } finally {
      unsubscribe('http.server.request.start', onStart);
    }
  });

  it('keeps the connection after a stored head and answers the next request on it', async () => {
    const client = await RawClient.connect(reference);
    await client.send(Buffer.from(`GET /length HTTP/1.1\r\n${H}\r\nGET /close HTTP/1.1\r\n${H}\r\n`, 'latin1'), 'GET', 'GET');
    const responses = await client.responses(2);
    expect(responses.map((r) => r.body.toString())).toEqual(['hello', 'bye']);
    expect(await client.waitClose()).toBe(true);
  });
});
