// interop.test.ts: what real clients send that a strict server must still
// serve, over raw bytes: chunk extensions as RFC 9112 section 7.1.1 writes
// them, OWS around field values (section 5.1), a streamed echo of an
// upload on a kept connection (also with curl); the same message for the
// same body failure on both servers; and both servers agreeing on every
// byte of a request target.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Application } from '../../src/index.js';
import { buildRequest, chunked, connectionHas, deferred, RawClient, request, within } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const H = 'Host: 127.0.0.1\r\n';
const CHUNKED = `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;
const NODE_EXT_BWS = "node:http's llhttp refuses whitespace (BWS) in chunk extensions";

// curl, a real client, without the sanitizer runtime that test:asan
// preloads for node (curl is not built for it).
const curlEnv = { ...process.env };
delete curlEnv.LD_PRELOAD;
const haveCurl = spawnSync('curl', ['--version'], { env: curlEnv, timeout: 10_000 }).status === 0;

/** Answers `PATH_INFO CONTENT_LENGTH [HTTP_X] body`. */
const echoApp: Application = async (environ, startResponse) => {
  const body = Buffer.from(await environ['tsgi.input'].read()).toString('latin1');
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [`${environ.PATH_INFO} ${environ.CONTENT_LENGTH ?? '-'} [${environ.HTTP_X ?? ''}] ${body}`];
};

interface Accepted {
  name: string;
  bytes: string;
  /** The echo the request must get. */
  echo: string;
  /** Why node:http cannot serve it (the case is skipped for 'node'). */
  nodeSkip?: string;
}

const ACCEPTED: Accepted[] = [
  // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ); unknown
  // extensions are ignored (RFC 9112 section 7.1.1).
  { name: 'two chunk extensions after a token value', bytes: CHUNKED + '1;a=b;c=d\r\nx\r\n0\r\n\r\n', echo: '/c - [] x' },
  { name: 'a quoted-pair in a chunk-extension value', bytes: CHUNKED + '2;a="x\\"y"\r\nhi\r\n0\r\n\r\n', echo: '/c - [] hi' },
  { name: 'a quoted chunk-extension value holding ";" and "="', bytes: CHUNKED + '2;a="b;c=d";e\r\nhi\r\n0\r\n\r\n', echo: '/c - [] hi' },
  { name: 'an extension on the last chunk, then a trailer', bytes: CHUNKED + '1\r\nx\r\n0;last="yes"\r\nX-T: t\r\n\r\n', echo: '/c - [] x' },
  { name: 'BWS before ";"', bytes: CHUNKED + '1 ;a=b\r\nx\r\n0\r\n\r\n', echo: '/c - [] x', nodeSkip: NODE_EXT_BWS },
  { name: 'BWS after ";" and around "="', bytes: CHUNKED + '1; a = b ; c\r\nx\r\n0\r\n\r\n', echo: '/c - [] x', nodeSkip: NODE_EXT_BWS },
  { name: 'HTAB as BWS around a quoted value', bytes: CHUNKED + '1\t;\ta\t=\t"v w"\r\nx\r\n0\r\n\r\n', echo: '/c - [] x', nodeSkip: NODE_EXT_BWS },
  // OWS around a field value is not part of it (RFC 9112 section 5.1).
  {
    name: 'Content-Length with SP and HTAB around it',
    bytes: `POST /l HTTP/1.1\r\n${H}Content-Length: \t 5 \t\r\n\r\nhello`,
    echo: '/l 5 [] hello',
    nodeSkip: "node:http's llhttp refuses HTAB after the digits of Content-Length",
  },
  { name: 'Content-Length with SP after it', bytes: `POST /l HTTP/1.1\r\n${H}Content-Length: 5  \r\n\r\nhello`, echo: '/l 5 [] hello' },
  {
    name: 'Transfer-Encoding with HTAB after it',
    bytes: `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\t\r\n\r\n1\r\nx\r\n0\r\n\r\n`,
    echo: '/c - [] x',
    nodeSkip: "node:http's llhttp does not read \"chunked\" followed by HTAB as chunked, and refuses the body",
  },
  { name: 'a field value with SP and HTAB around it', bytes: `GET /x HTTP/1.1\r\n${H}X: \t v \tw \t\r\n\r\n`, echo: '/x - [v \tw] ' },
  { name: 'a field value of whitespace only', bytes: `GET /x HTTP/1.1\r\n${H}X: \t \r\n\r\n`, echo: '/x - [] ' },
];

forEachServer((kind) => {
  for (const c of ACCEPTED) {
    it.skipIf(kind === 'node' && c.nodeSkip !== undefined)(`serves ${c.name}, and keeps the connection`, async () => {
      const { port } = await start(kind, echoApp);
      const client = await RawClient.connect(port);
      await client.send(c.bytes, 'X');
      const res = await client.next();
      expect(res.status).toBe(200);
      expect(res.body.toString('latin1')).toBe(c.echo);
      expect(connectionHas(res, 'close')).toBe(false);
      await client.send(buildRequest('GET', '/next'), 'GET');
      expect((await client.next()).body.toString()).toBe('/next - [] ');
      expect(client.closed).toBe(false);
      client.destroy();
    });
  }

  it('serves the same request cut into one-byte writes alike', async () => {
    // Whitespace and methods held back between reads reach llhttp alike.
    const { port } = await start(kind, echoApp);
    const client = await RawClient.connect(port);
    const bytes = `POST /cut HTTP/1.1\r\n${H}X:  a \t b  \r\nContent-Length: 2 \r\n\r\nhi`;
    for (const b of Buffer.from(bytes, 'latin1')) await client.send(Buffer.from([b]));
    client.methods.push('POST');
    expect((await client.next()).body.toString()).toBe('/cut 2 [a \t b] hi');
    client.destroy();
  });

  it('honours Connection: close followed by HTAB', async () => {
    const seen: string[] = [];
    const { port } = await start(kind, (environ, startResponse) => {
      seen.push(environ.PATH_INFO);
      startResponse('200 OK', []);
      return ['ok'];
    });
    const client = await RawClient.connect(port);
    await client.send(
      `GET /closing HTTP/1.1\r\n${H}Connection: close\t\r\n\r\n` + buildRequest('GET', '/after').toString('latin1'),
      'GET', 'GET',
    );
    expect(await client.waitClose(5000)).toBe(true);
    expect(client.parser.responses.map((r) => r.status)).toEqual([200]);
    expect(connectionHas(client.parser.responses[0]!, 'close')).toBe(true);
    expect(seen).toEqual(['/closing']);
  });

  describe('a streamed echo of an upload', () => {
    /** Streams the body back as it arrives: the response begins long
     * before the upload ends, and the body is still read to its end. */
    const streamingEcho: Application = (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return environ['tsgi.input'];
    };
    const upload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < upload.length; i++) upload[i] = (i * 7 + (i >> 10)) & 0xff;

    for (const framing of ['Content-Length', 'chunked'] as const) {
      it(`keeps the connection once the whole body was read (${framing})`, async () => {
        const { port } = await start(kind, streamingEcho, { validate: false });
        const client = await RawClient.connect(port);
        const head =
          framing === 'chunked'
            ? `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`
            : `POST /echo HTTP/1.1\r\n${H}Content-Length: ${upload.length}\r\n\r\n`;
        const wire = framing === 'chunked' ? chunked(upload, 64 * 1024) : upload;
        const half = wire.length >> 1;
        await client.send(Buffer.concat([Buffer.from(head), wire.subarray(0, half)]), 'POST');
        // The response has begun while half of the upload is unsent.
        await client.waitFor(() => client.parser.pendingBodyBytes > 0, 10_000, 'the echo to begin');
        await client.send(wire.subarray(half));
        const res = await client.next();
        expect(res.status).toBe(200);
        expect(res.body.equals(upload), 'every byte echoed').toBe(true);
        expect(connectionHas(res, 'close')).toBe(false);
        // The next request on the same connection is answered.
        await client.send(buildRequest('GET', '/next'), 'GET');
        const next = await client.next();
        expect(next.status).toBe(200);
        expect(client.closed).toBe(false);
        client.destroy();
      });
    }

    // node:http reads and discards the rest of a body left unread, and
    // keeps the connection (requestTimeout bounds the wait).
    it.skipIf(kind === 'node')('closes the connection after a streamed response that left the body unread', async () => {
      const { port } = await start(
        kind,
        (_environ, startResponse) => {
          startResponse('200 OK', [['Content-Type', 'text/plain']]);
          return (async function* () {
            yield 'not ';
            yield 'reading';
          })();
        },
        { validate: false },
      );
      const client = await RawClient.connect(port);
      await client.send(`POST /unread HTTP/1.1\r\n${H}Content-Length: 100000\r\n\r\n` + 'u'.repeat(1000), 'POST');
      const res = await client.next();
      expect(res.body.toString()).toBe('not reading');
      // The rest of the body never came: the connection cannot be reused.
      expect(await client.waitClose(5000)).toBe(true);
    });

    it.skipIf(!haveCurl && !process.env.CI)('with curl: an echo of 1 MiB, then a second request on the same connection', async () => {
      expect(haveCurl, 'curl is installed (.ci/run)').toBe(true);
      const { port } = await start(kind, streamingEcho, { validate: false });
      const dir = mkdtempSync(join(tmpdir(), 'tsgi-interop-'));
      writeFileSync(join(dir, 'upload'), upload);
      const base = `http://127.0.0.1:${port}`;
      // Asynchronous: the server runs on this thread.
      const r = await new Promise<{ failed: boolean; out: string; err: string }>((resolve) => {
        execFile(
          'curl',
          [
            '-sS', '--max-time', '20',
            '--data-binary', `@${join(dir, 'upload')}`, '-o', join(dir, 'echo'), '-w', '%{http_code} %{num_connects}\\n', `${base}/echo`,
            '--next', '-sS', '--max-time', '20', '-o', join(dir, 'next'), '-w', '%{http_code} %{num_connects}\\n', `${base}/next`,
          ],
          { env: curlEnv, timeout: 30_000 },
          (error, stdout, stderr) => resolve({ failed: error !== null, out: stdout, err: stderr }),
        );
      });
      expect(r.err).toBe('');
      expect(r.failed).toBe(false);
      // 200 on a new connection, then 200 on none new: the same one reused.
      expect(r.out).toBe('200 1\n200 0\n');
      expect(readFileSync(join(dir, 'echo')).equals(upload)).toBe(true);
    });
  });

  describe('the message of a failed body', () => {
    /** Resolves with what the application's input throws. */
    function failing(): { app: Application; message: Promise<string> } {
      const failed = deferred<string>();
      return {
        message: within(failed.promise, 10_000, 'the input to fail'),
        app: async (environ, startResponse) => {
          try {
            await environ['tsgi.input'].read();
          } catch (err) {
            failed.resolve((err as Error).message);
            throw err;
          }
          startResponse('200 OK', []);
          return ['read'];
        },
      };
    }

    async function failWith(port: number, head: string, rest: string, message: Promise<string>): Promise<string> {
      const client = await RawClient.connect(port);
      // The head first: the application is reading when the rest comes.
      await client.send(head, 'POST');
      await client.send(rest);
      const m = await message;
      client.destroy();
      return m;
    }

    it('is the same for a chunked body over maxBodySize on both servers', async () => {
      const f = failing();
      const { port } = await start(kind, f.app, { maxBodySize: 100 });
      const message = await failWith(port, CHUNKED, chunked('c'.repeat(101), 30).toString('latin1'), f.message);
      expect(message).toBe('tsgi: the request body is larger than maxBodySize (100 bytes)');
    });

    it('is the same for chunk extensions over their bound on both servers', async () => {
      const f = failing();
      const { port } = await start(kind, f.app);
      const message = await failWith(port, CHUNKED, `1;e=${'v'.repeat(16 * 1024 + 8)}\r\nx\r\n0\r\n\r\n`, f.message);
      expect(message).toBe('tsgi: a chunk of the request body carries more than 16384 bytes of chunk extensions');
    });

    it('is the same for a malformed chunked body on both servers', async () => {
      const f = failing();
      const { port } = await start(kind, f.app);
      const message = await failWith(port, CHUNKED, '1\r\nxXX0\r\n\r\n', f.message);
      expect(message).toBe('tsgi: the request body breaks the chunked framing of RFC 9112 section 7.1 (the client got 400)');
    });

    it('is the same for a body cut off by the client on both servers', async () => {
      const f = failing();
      const { port } = await start(kind, f.app);
      const client = await RawClient.connect(port);
      await client.send(`POST /cut HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc`, 'POST');
      client.destroy();
      expect(await f.message).toBe('tsgi: the client closed the connection before the body was complete');
    });
  });

  it('agrees with RFC 3986 on every printable byte of a target, but serves what browsers send raw', async () => {
    // The byte rule is written once (isTargetChar in src/gateway/http-rules.ts,
    // checked against native/http_rules.h when the addon loads); this sweep
    // holds both servers to it from the outside.
    const { port } = await start(kind, (environ, startResponse) => {
      startResponse('200 OK', []);
      return [environ.PATH_INFO];
    }, { validate: false });
    // RFC 3986 unreserved, reserved and pct-encoded, plus the bytes browsers
    // leave unencoded in queries (WHATWG URL): \\ ^ ` { | }.
    const allowed = /[A-Za-z0-9\-._~:/?[\]@!$&'()*+,;=\\^`{|}]/;
    const wrong: string[] = [];
    for (let b = 0x21; b < 0x7f; b++) {
      const c = String.fromCharCode(b);
      // '%' only as pct-encoded: sent as "%41".
      for (const target of c === '%' ? ['/t%41', '/q?a=%41'] : [`/t${c}`, `/q?a=${c}`]) {
        const { responses } = await request(port, `GET ${target} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
        const want = c === '%' || allowed.test(c) ? 200 : 400;
        if (responses[0]?.status !== want) wrong.push(`${JSON.stringify(target)}: ${responses[0]?.status} (want ${want})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('is the same for a trailer section over maxHeaderSize on both servers', async () => {
    const failed = deferred<string>();
    const { port } = await start(kind, async (environ, startResponse) => {
      try {
        await environ['tsgi.input'].read();
      } catch (err) {
        failed.resolve((err as Error).message);
        throw err;
      }
      startResponse('200 OK', []);
      return ['read'];
    }, { maxHeaderSize: 256 });
    const client = await RawClient.connect(port);
    await client.send(CHUNKED, 'POST');
    await client.send(`1\r\nx\r\n0\r\nX-T: ${'t'.repeat(300)}\r\n\r\n`);
    const message = await within(failed.promise, 10_000, 'the input to fail');
    client.destroy();
    expect(message).toBe("tsgi: the request's trailer section is larger than maxHeaderSize (256 bytes) or maxHeaderCount (100) allows");
  });
});
