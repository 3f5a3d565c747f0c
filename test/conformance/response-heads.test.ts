// response-heads.test.ts: a status and header list the driver has checked
// before is recognised by its content (gateway/response.ts, ResponseHead),
// and the native server sends such a head from a slot it prepared once,
// complete responses through its response queue. Every response must
// still carry exactly what the application gave for it: heads that change
// between requests on one connection, arrays mutated in place, more
// distinct heads than either cache keeps, bodies of every kind and size.
import { expect, it } from 'vitest';
import type { Application, Header } from '../../src/index.js';
import { buildRequest, header, RawClient, type HttpResponse } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

/** The header lines of a response that come from the application (and
 * Content-Length): without Date and the persistence fields, which are the
 * server's (node:http adds Keep-Alive). */
function lines(res: HttpResponse): string[] {
  return res.headers
    .filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k.toLowerCase()))
    .map(([k, v]) => `${k}: ${v}`);
}

async function exchange(port: number, requests: Buffer[], methods: string[]): Promise<HttpResponse[]> {
  const client = await RawClient.connect(port);
  await client.send(Buffer.concat(requests), ...methods);
  const responses = await client.responses(requests.length);
  client.destroy();
  return responses;
}

forEachServer((kind) => {
  it('sends what the application gives each time, when it mutates one header array in place', async () => {
    const headers: Header[] = [
      ['Content-Type', 'text/plain'],
      ['X-Count', '0'],
    ];
    let n = 0;
    const app: Application = (_environ, startResponse) => {
      n++;
      // The same array every time, its contents changed in place.
      headers[1]![1] = String(n % 3);
      if (n === 5) headers.push(['X-Extra', 'five']);
      if (n === 6) headers.pop();
      if (n === 7) headers[0] = ['Content-Type', 'text/html'];
      startResponse('200 OK', headers);
      return [`body ${n}`];
    };
    const { port } = await start(kind, app);
    const count = 10;
    const responses = await exchange(port, Array.from({ length: count }, () => buildRequest('GET', '/')), Array(count).fill('GET'));
    responses.forEach((res, i) => {
      const k = i + 1;
      const type = k >= 7 ? 'text/html' : 'text/plain';
      const want = [`Content-Type: ${type}`, `X-Count: ${k % 3}`, ...(k === 5 ? ['X-Extra: five'] : []), `Content-Length: ${`body ${k}`.length}`];
      expect(lines(res), `response ${k}`).toEqual(want);
      expect(res.body.toString()).toBe(`body ${k}`);
    });
  });

  it('sends the status, length and close of each response when heads alternate on one connection', async () => {
    const app: Application = (environ, startResponse) => {
      const i = Number(environ.QUERY_STRING);
      const body = 'x'.repeat(i);
      switch (i % 4) {
        case 0:
          startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', String(body.length)]]);
          return [body];
        case 1:
          startResponse('201 Created', [['Content-Type', 'text/plain']]);
          return [Buffer.from(body)];
        case 2:
          startResponse('200 OK', [['Content-Type', 'text/plain'], ['content-length', String(body.length)]]);
          return (function* () {
            yield body.slice(0, 1);
            yield body.slice(1);
          })();
        default:
          startResponse('404 Not Found', [['Content-Type', 'text/plain'], ['X-Why', 'none']]);
          return (async function* () {
            yield body;
          })();
      }
    };
    const { port } = await start(kind, app);
    const count = 24;
    const responses = await exchange(port, Array.from({ length: count }, (_, i) => buildRequest('GET', `/?${i}`)), Array(count).fill('GET'));
    responses.forEach((res, i) => {
      const status = ['200', '201', '200', '404'][i % 4];
      expect(res.statusLine, `response ${i}`).toBe(`HTTP/1.1 ${status} ${{ 200: 'OK', 201: 'Created', 404: 'Not Found' }[status!]}`);
      expect(res.body.toString(), `response ${i}`).toBe('x'.repeat(i));
      if (i % 4 === 3) {
        expect(header(res, 'x-why')).toBe('none');
        // An async body without a declared length: chunked.
        expect(res.framing, `response ${i}`).toBe('chunked');
      } else {
        expect(header(res, 'content-length'), `response ${i}`).toBe(String(i));
      }
    });
  });

  it('closes after the response that says Connection: close, whatever came before it', async () => {
    const app: Application = (environ, startResponse) => {
      const close = environ.QUERY_STRING === 'close';
      startResponse('200 OK', close ? [['Content-Type', 'text/plain'], ['Connection', 'close']] : [['Content-Type', 'text/plain']]);
      return ['ok'];
    };
    const { port } = await start(kind, app);
    const client = await RawClient.connect(port);
    for (let i = 0; i < 4; i++) await client.send(buildRequest('GET', '/'), 'GET');
    await client.send(buildRequest('GET', '/?close'), 'GET');
    const responses = await client.responses(5);
    for (const res of responses.slice(0, 4)) expect(header(res, 'connection') ?? '').not.toContain('close');
    expect(header(responses[4]!, 'connection')).toBe('close');
    expect(await client.waitClose(5000)).toBe(true);
  });

  it('sends every head right when there are more of them than the caches keep', async () => {
    // 100 distinct heads (the driver keeps 16, the native server prepares
    // 64), each sent several times, in an order that evicts them.
    const app: Application = (environ, startResponse) => {
      const i = Number(environ.QUERY_STRING);
      startResponse('200 OK', [['X-Head', `h${i % 100}`], ['Content-Type', 'text/plain']]);
      return [`${i}`];
    };
    const { port } = await start(kind, app);
    for (let round = 0; round < 3; round++) {
      const ids = Array.from({ length: 100 }, (_, k) => (k * 37 + round * 11) % 100);
      const responses = await exchange(port, ids.map((i) => buildRequest('GET', `/?${i + 100 * round}`)), ids.map(() => 'GET'));
      responses.forEach((res, k) => {
        expect(header(res, 'x-head')).toBe(`h${ids[k]!}`);
        expect(res.body.toString()).toBe(`${ids[k]! + 100 * round}`);
      });
    }
  });

  it('sends string, byte, empty, multi-byte and large bodies of a repeated head', async () => {
    const large = Buffer.alloc(40_000, 'L');
    const bodies: (string | Buffer)[] = ['plain', Buffer.from('bytes'), '', 'é€😀 and \ud800 alone', large, 'é'.repeat(5000), 'after'];
    const app: Application = (environ, startResponse) => {
      const body = bodies[Number(environ.QUERY_STRING) % bodies.length]!;
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return [body];
    };
    const { port } = await start(kind, app);
    const ids = Array.from({ length: 3 * bodies.length }, (_, i) => i);
    const requests = ids.map((i) => buildRequest(i % 5 === 4 ? 'HEAD' : 'GET', `/?${i}`, { version: i % 7 === 3 ? 'HTTP/1.0' : 'HTTP/1.1', headers: i % 7 === 3 ? [['Connection', 'keep-alive']] : [] }));
    const responses = await exchange(port, requests, ids.map((i) => (i % 5 === 4 ? 'HEAD' : 'GET')));
    responses.forEach((res, k) => {
      const body = bodies[k % bodies.length]!;
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      // An empty body on HEAD cannot tell a skipped body from an empty GET
      // one: no length is derived from it (RFC 9110 §8.6, derivedLength).
      const length = k % 5 === 4 && bytes.length === 0 ? undefined : String(bytes.length);
      expect(header(res, 'content-length'), `response ${k}`).toBe(length);
      expect(res.body.equals(k % 5 === 4 ? Buffer.alloc(0) : bytes), `response ${k}`).toBe(true);
      if (k % 7 === 3) expect(header(res, 'connection'), `response ${k}`).toBe('keep-alive');
    });
  });

  it('sends a repeated head answered later, outside the batch that brought the request', async () => {
    const app: Application = async (environ, startResponse) => {
      await new Promise((r) => setTimeout(r, 1 + (Number(environ.QUERY_STRING) % 3)));
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [environ.QUERY_STRING];
    };
    const { port } = await start(kind, app);
    const responses = await exchange(port, Array.from({ length: 12 }, (_, i) => buildRequest('GET', `/?${i}`)), Array(12).fill('GET'));
    responses.forEach((res, i) => expect(res.body.toString()).toBe(String(i)));
  });
});
