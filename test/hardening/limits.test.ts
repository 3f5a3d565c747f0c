// limits.test.ts: the request limits of ServeOptions (maxUrlSize -> 414,
// maxHeaderSize and maxHeaderCount -> 431, maxBodySize -> 413; chunk
// extensions bounded per chunk, trailers bounded), through serve() and through the CLI
// flags, with small values; and response header fields with CR, LF or NUL
// refused (an error for the application, a 500 for the client).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ServerKind } from '../../src/index.js';
import { killAllCli, startCli } from '../helpers/cli.js';
import { buildRequest, chunked, get, request } from '../helpers/http.js';
import { expectRefused, recorder } from '../helpers/refusal.js';
import { forEachServer, SERVERS, start } from '../helpers/servers.js';

const H = 'Host: 127.0.0.1\r\n';

/** A GET whose field section (after the request line, up to and including
 * the final CRLF) is exactly `size` bytes: Host plus one X-Pad field. */
function headWithFieldSection(size: number): Buffer {
  const fixed = H.length + 'X-Pad: '.length + 2 + 2;
  return Buffer.from(`GET /sized HTTP/1.1\r\n${H}X-Pad: ${'p'.repeat(size - fixed)}\r\n\r\n`, 'latin1');
}

forEachServer((kind: ServerKind) => {
  it('answers 414 for a target longer than maxUrlSize, and accepts one of exactly that size', async () => {
    const rec = recorder();
    const { port } = await start(kind, rec.app, { maxUrlSize: 64 });
    const exact = '/' + 'u'.repeat(63);
    expect((await get(port, exact)).status).toBe(200);
    await expectRefused(port, rec, buildRequest('GET', exact + 'u'), 414);
    expect(rec.paths).toEqual([exact, '/before']);
  });

  // node:http counts its maxHeaderSize over the whole head (request line
  // included), so the exact boundary is the native server's alone.
  it.skipIf(kind === 'node')('answers 431 for a field section one byte over maxHeaderSize', async () => {
    const rec = recorder();
    const { port } = await start(kind, rec.app, { maxHeaderSize: 512 });
    const { responses } = await request(port, headWithFieldSection(512));
    expect(responses[0]!.status).toBe(200);
    await expectRefused(port, rec, headWithFieldSection(513), 431);
    expect(rec.paths).toEqual(['/sized', '/before']);
  });

  it('answers 431 for a header section well over maxHeaderSize', async () => {
    const rec = recorder();
    const { port } = await start(kind, rec.app, { maxHeaderSize: 1024 });
    expect((await request(port, headWithFieldSection(600))).responses[0]!.status).toBe(200);
    await expectRefused(port, rec, headWithFieldSection(4096), 431);
    expect(rec.paths).toEqual(['/sized', '/before']);
  });

  it('answers 431 for more header fields than maxHeaderCount', async () => {
    const rec = recorder();
    const { port } = await start(kind, rec.app, { maxHeaderCount: 5 });
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-F${i}: v\r\n`).join('');
    // Host plus four: five fields.
    expect((await request(port, `GET /five HTTP/1.1\r\n${H}${fields(4)}\r\n`)).responses[0]!.status).toBe(200);
    await expectRefused(port, rec, `GET /six HTTP/1.1\r\n${H}${fields(5)}\r\n`, 431);
    expect(rec.paths).toEqual(['/five', '/before']);
  });

  it('answers 413 for a Content-Length over maxBodySize without calling the application', async () => {
    const rec = recorder();
    const { port } = await start(kind, rec.app, { maxBodySize: 100 });
    const ok = await request(port, buildRequest('POST', '/hundred', { body: 'b'.repeat(100) }));
    expect(ok.responses[0]!.status).toBe(200);
    await expectRefused(port, rec, buildRequest('POST', '/big', { body: 'b'.repeat(101) }), 413);
    expect(rec.paths).toEqual(['/hundred', '/before']);
  });

  it('answers 413 when a chunked body grows past maxBodySize', async () => {
    const rec = recorder();
    const { port } = await start(kind, rec.app, { maxBodySize: 100 });
    const head = `POST /chunks HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;
    const fits = await request(port, Buffer.concat([Buffer.from(head), chunked('c'.repeat(100), 30)]));
    expect(fits.responses[0]!.status).toBe(200);
    await expectRefused(port, rec, Buffer.concat([Buffer.from(head), chunked('c'.repeat(101), 30)]), 413);
    // The head was valid: the application may have been called for it,
    // but its body read failed and it never answered.
    expect(rec.paths.filter((p) => p !== '/chunks' && p !== '/before')).toEqual([]);
    expect(rec.paths.filter((p) => p === '/chunks').length - 1).toBe(rec.bodyErrors);
  });

  it('bounds chunk extensions per chunk, at 16 KiB by default (413)', async () => {
    const rec = recorder();
    const { port } = await start(kind, rec.app);
    const head = `POST /ext HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;
    const ext = (n: number) => `;e=${'v'.repeat(n - 3)}`;
    // Three chunks of 10 KB of extensions each: 30 KB in the message.
    const three = head + [1, 2, 3].map(() => `1${ext(10_000)}\r\nx\r\n`).join('') + '0\r\n\r\n';
    const ok = await request(port, three);
    expect(ok.responses[0]!.status).toBe(200);
    // Over on both: the native server counts every byte of the
    // extensions, node:http their names and values.
    await expectRefused(port, rec, head + `1${ext(16 * 1024 + 8)}\r\nx\r\n0\r\n\r\n`, 413);
    expect(rec.paths.filter((p) => p !== '/ext' && p !== '/before')).toEqual([]);
  });

  it.skipIf(kind === 'node')('bounds chunk extensions per chunk by maxHeaderSize (413)', async () => {
    // node:http's bound is its own 16 KiB, whatever maxHeaderSize says.
    const rec = recorder();
    const { port } = await start(kind, rec.app, { maxHeaderSize: 256 });
    const head = `POST /ext HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;
    const ext = (n: number) => `;e=${'v'.repeat(n - 3)}`;
    // 200 one-byte chunks with 256 bytes of extensions each: 51,200 bytes.
    const many = Array.from({ length: 200 }, () => `1${ext(256)}\r\nx\r\n`).join('') + '0\r\n\r\n';
    const ok = await request(port, head + many);
    expect(ok.responses[0]!.status).toBe(200);
    expect(ok.responses[0]!.body.toString()).toBe('ok /ext');
    await expectRefused(port, rec, head + `1\r\nx\r\n1${ext(257)}\r\nx\r\n0\r\n\r\n`, 413);
  });

  it('bounds a trailer section by maxHeaderSize (431)', async () => {
    const rec = recorder();
    const { port } = await start(kind, rec.app, { maxHeaderSize: 256 });
    const head = `POST /ext HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;
    await expectRefused(port, rec, head + '1\r\nx\r\n0\r\n' + `X-T: ${'t'.repeat(300)}\r\n\r\n`, 431);
  });
});

describe('response header fields', () => {
  forEachServer((kind: ServerKind) => {
    for (const [what, name, value] of [
      ['CR LF in a value', 'X-Ok', 'a\r\nInjected: 1'],
      ['a bare LF in a value', 'X-Ok', 'a\nInjected: 1'],
      ['a bare CR in a value', 'X-Ok', 'a\rInjected: 1'],
      ['NUL in a value', 'X-Ok', 'a\0b'],
      ['CR LF in a name', 'X-Ok\r\nInjected', '1'],
      ['NUL in a name', 'X\0Ok', '1'],
    ] as const) {
      it(`refuses ${what}: an error for the application, a 500 for the client`, async () => {
        let thrown: unknown;
        // Without validate(): the server itself must refuse.
        const { port } = await start(
          kind,
          (_environ, startResponse) => {
            try {
              startResponse('200 OK', [[name, value]]);
            } catch (err) {
              thrown = err;
              throw err;
            }
            return ['never'];
          },
          { validate: false },
        );
        const { responses, client } = await request(port, buildRequest('GET', '/'), { keep: true });
        expect(responses[0]!.status).toBe(500);
        expect(thrown).toBeInstanceOf(TypeError);
        expect(client.text()).not.toContain('Injected');
        expect(client.text()).not.toContain('never');
        expect(client.raw().includes(0)).toBe(false);
        client.destroy();
      });
    }
  });
});

// ---- The same limits through the CLI flags ----------------------------------

afterAll(() => killAllCli());

/** Starts `tsgi serve` with `flags`; resolves with the port. */
async function serveCli(kind: ServerKind, app: string, flags: string[]): Promise<number> {
  const s = await startCli([app, '--bind', '127.0.0.1:0', '--server', kind, ...flags], dirname(app));
  return s.port;
}

describe('limits through the CLI flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-limits-'));
  const app = join(dir, 'app.mjs');
  writeFileSync(
    app,
    `export default async (e, s) => { for await (const _ of e['tsgi.input']) {} s('200 OK', []); return ['ok ' + e.PATH_INFO]; };\n`,
  );
  for (const kind of SERVERS) {
    describe(kind, () => {
      it('--max-url-size 64: 414 beyond', async () => {
        const port = await serveCli(kind, app, ['--max-url-size', '64']);
        expect((await get(port, '/' + 'u'.repeat(63))).status).toBe(200);
        const { responses } = await request(port, buildRequest('GET', '/' + 'u'.repeat(64)));
        expect(responses[0]!.statusLine).toBe('HTTP/1.1 414 URI Too Long');
      });

      it('--max-header-size 1k: 431 beyond', async () => {
        const port = await serveCli(kind, app, ['--max-header-size', '1k']);
        expect((await request(port, headWithFieldSection(600))).responses[0]!.status).toBe(200);
        const { responses } = await request(port, headWithFieldSection(4096));
        expect(responses[0]!.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
      });

      it('--max-header-count 5: 431 beyond', async () => {
        const port = await serveCli(kind, app, ['--max-header-count', '5']);
        const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-F${i}: v\r\n`).join('');
        expect((await request(port, `GET / HTTP/1.1\r\n${H}${fields(4)}\r\n`)).responses[0]!.status).toBe(200);
        const { responses } = await request(port, `GET / HTTP/1.1\r\n${H}${fields(5)}\r\n`);
        expect(responses[0]!.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
      });

      it('--max-body-size 100: 413 beyond', async () => {
        const port = await serveCli(kind, app, ['--max-body-size', '100']);
        const ok = await request(port, buildRequest('POST', '/', { body: 'b'.repeat(100) }));
        expect(ok.responses[0]!.status).toBe(200);
        const { responses } = await request(port, buildRequest('POST', '/', { body: 'b'.repeat(101) }));
        expect(responses[0]!.statusLine).toBe('HTTP/1.1 413 Content Too Large');
      });
    });
  }
});
