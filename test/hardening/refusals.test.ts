// refusals.test.ts: the whole bytes of every ready-made refusal, on both
// servers: status line, every header in order, body, and nothing else (the
// Date by its format). The expected bytes are written out here, not taken
// from src/gateway/refusals.ts, so that a change to the table shows up as a
// failing test.
import { describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';
import type { Application } from '../../src/index.js';

const H = 'Host: 127.0.0.1\r\n';
const IMF_FIXDATE = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \\d{4} \\d{2}:\\d{2}:\\d{2} GMT';

/** The bytes of a refusal, with its Date as a pattern. */
function expected(status: string, body: string): RegExp {
  const text =
    `HTTP/1.1 ${status}\r\nDate: @DATE@\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace('@DATE@', IMF_FIXDATE)}$`);
}

interface RefusalCase {
  status: string;
  body: string;
  why: string;
  bytes: string;
  /** Sent after `bytes` was answered (a body that grows past the limit). */
  options?: Record<string, number>;
}

const CASES: RefusalCase[] = [
  { status: '400 Bad Request', body: 'Bad Request\n', why: 'obs-fold', bytes: `GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n` },
  {
    status: '408 Request Timeout',
    body: 'Request Timeout\n',
    why: 'a head not complete within headersTimeout',
    bytes: `GET / HTTP/1.1\r\n${H}X-Partial: `,
    options: { headersTimeout: 0.3 },
  },
  {
    status: '413 Content Too Large',
    body: 'Content Too Large\n',
    why: 'a declared body over maxBodySize',
    bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 101\r\n\r\n`,
    options: { maxBodySize: 100 },
  },
  { status: '414 URI Too Long', body: 'URI Too Long\n', why: 'a target over maxUrlSize', bytes: `GET /${'u'.repeat(64)} HTTP/1.1\r\n${H}\r\n`, options: { maxUrlSize: 64 } },
  { status: '417 Expectation Failed', body: 'Expectation Failed\n', why: 'an unknown expectation', bytes: `GET / HTTP/1.1\r\n${H}Expect: the-unexpected\r\n\r\n` },
  {
    status: '431 Request Header Fields Too Large',
    body: 'Request Header Fields Too Large\n',
    why: 'more fields than maxHeaderCount',
    bytes: `GET / HTTP/1.1\r\n${H}${'X-F: v\r\n'.repeat(5)}\r\n`,
    options: { maxHeaderCount: 5 },
  },
  { status: '501 Not Implemented', body: 'Not Implemented\n', why: 'an unknown method', bytes: `BREW / HTTP/1.1\r\n${H}\r\n` },
  { status: '505 HTTP Version Not Supported', body: 'HTTP Version Not Supported\n', why: 'HTTP/1.2', bytes: `GET / HTTP/1.2\r\n${H}\r\n` },
];

const app: Application = async (environ, startResponse) => {
  for await (const _ of environ['tsgi.input']) {
    // read it all
  }
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return ['ok'];
};

/** Sends `bytes` on a fresh connection; resolves with everything received
 * once the server closed it. */
async function refusedBytes(port: number, bytes: string): Promise<string> {
  const client = await RawClient.connect(port);
  await client.send(bytes);
  expect(await client.waitClose(5000), 'the server closes the connection after a refusal').toBe(true);
  return client.text();
}

forEachServer((kind) => {
  describe('sends every ready-made refusal byte for byte', () => {
    for (const c of CASES) {
      it(`${c.status} (${c.why})`, async () => {
        const { port } = await start(kind, app, c.options);
        expect(await refusedBytes(port, c.bytes)).toMatch(expected(c.status, c.body));
      });
    }

    it('413 Content Too Large for a chunked body that grows past maxBodySize', async () => {
      const { port } = await start(kind, (_environ, startResponse) => {
        // Answers only after the body: the refusal comes first.
        return (async function* () {
          for await (const _ of _environ['tsgi.input']) {
            // read until the server refuses the body
          }
          startResponse('200 OK', []);
          yield 'never';
        })();
      }, { maxBodySize: 100 });
      const body = `${(200).toString(16)}\r\n${'b'.repeat(200)}\r\n0\r\n\r\n`;
      const text = await refusedBytes(port, `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${body}`);
      expect(text).toMatch(expected('413 Content Too Large', 'Content Too Large\n'));
    });
  });
});
