// node-lazy-headers.test.ts: the reference server's requests build
// node:http's `headers` object only when more than node:http's own fields
// of it are read (src/node/lazy-headers.ts). The same raw requests go to a
// node:http server with LazyHeadersRequest and to a plain one; what each
// handler reads of `req.headers`, first the fields node:http reads itself
// (the view's own answer), then the whole object every way an object is
// read and changed (the full object), must be the same.
import { createServer, IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LazyHeadersRequest } from '../src/node/lazy-headers.js';
import { RawClient } from './helpers/http.js';

/** What a handler saw of req.headers, in the order it read it. */
function observe(req: IncomingMessage): unknown {
  const own = { expect: req.headers.expect, te: req.headers.te, host: req.headers.host };
  const h = req.headers;
  const seen = {
    own,
    spread: { ...h },
    keys: Object.keys(h),
    json: JSON.stringify(h),
    has: ['cookie' in h, 'expect' in h, 'x-absent' in h],
    descriptor: Object.getOwnPropertyDescriptor(h, 'host'),
    cookie: h.cookie,
  };
  h['x-added'] = 'yes';
  delete h.cookie;
  return { ...seen, after: { ...req.headers }, same: req.headers === h };
}

const servers: Server[] = [];
let lazyPort = 0;
let plainPort = 0;

async function listen(server: Server): Promise<number> {
  servers.push(server);
  server.maxHeadersCount = 8;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

function answer(req: IncomingMessage, res: import('node:http').ServerResponse): void {
  const body = JSON.stringify(observe(req));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

beforeAll(async () => {
  const lazy = createServer({ IncomingMessage: LazyHeadersRequest as typeof IncomingMessage }, answer);
  const plain = createServer(answer);
  for (const s of [lazy, plain]) {
    // Expect is answered by the handler, as the reference server does.
    s.on('checkContinue', answer);
    s.on('checkExpectation', answer);
  }
  lazyPort = await listen(lazy);
  plainPort = await listen(plain);
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

const H = 'Host: example.test\r\n';
const CASES: [string, string][] = [
  ['no Expect', `GET / HTTP/1.1\r\n${H}Cookie: a=1\r\n\r\n`],
  ['Expect: 100-continue', `POST / HTTP/1.1\r\n${H}Content-Length: 0\r\nExpect: 100-continue\r\n\r\n`],
  ['an unknown expectation, name in capitals', `GET / HTTP/1.1\r\n${H}EXPECT: odd\r\n\r\n`],
  ['two Expect fields (node:http joins them)', `GET / HTTP/1.1\r\n${H}Expect: odd\r\nExpect: 100-continue\r\n\r\n`],
  ['two Host fields (node:http keeps the first)', `GET / HTTP/1.1\r\n${H}Host: other.test\r\n\r\n`],
  ['HTTP/1.0 with TE', `GET / HTTP/1.0\r\n${H}TE: chunked\r\nCookie: b=2\r\n\r\n`],
  [
    'more fields than maxHeadersCount, Expect past the limit',
    `GET / HTTP/1.1\r\n${H}${Array.from({ length: 9 }, (_, i) => `X-${i}: ${i}\r\n`).join('')}Expect: odd\r\n\r\n`,
  ],
];

async function seen(port: number, raw: string): Promise<unknown> {
  const client = await RawClient.connect(port);
  await client.send(Buffer.from(raw, 'latin1'), raw.slice(0, raw.indexOf(' ')));
  const responses = await client.responses(1);
  client.destroy();
  const final = responses.find((r) => r.status >= 200)!;
  return JSON.parse(final.body.toString());
}

for (const [what, raw] of CASES) {
  it(`reads req.headers as node:http builds it: ${what}`, async () => {
    const lazy = await seen(lazyPort, raw);
    const plain = await seen(plainPort, raw);
    expect(lazy).toEqual(plain);
  });
}
