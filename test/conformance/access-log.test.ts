// access-log.test.ts: the access log (src/log/): gunicorn 23's default line
// and atoms, the JSON lines, and what a client cannot do to either (end a
// line, forge a field, break the JSON), on both servers, read back from the
// file the server wrote.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { Application } from '../../src/index.js';
import { buildRequest, request, RawClient } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const dir = mkdtempSync(join(tmpdir(), 'tsgi-access-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const kFile = join(dir, 'body.txt');
writeFileSync(kFile, 'a file of 22 bytes.\n\n\n');

const app: Application = (environ, startResponse) => {
  const path = environ.PATH_INFO;
  if (path === '/boom') throw new Error('boom');
  if (path === '/file') {
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return environ['tsgi.file_wrapper'](kFile);
  }
  if (path === '/missing') {
    startResponse('404 Not Found', [['Content-Type', 'text/plain'], ['X-Trace', 'abc"def']]);
    return ['no\n'];
  }
  if (path === '/stream') {
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return (function* () {
      yield 'one,';
      yield 'two,';
      yield 'three';
    })();
  }
  startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '5']]);
  return ['hello'];
};

const kTime = String.raw`\[\d\d/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]`;

/** Serves `app` with an access log in `format`, runs `requests`, closes the
 * server (which flushes the log) and returns the file's lines. */
async function logOf(kind: Parameters<typeof start>[0], format: string | undefined, requests: (port: number) => Promise<void>): Promise<string[]> {
  const file = join(dir, `access-${n++}.log`);
  const { server, port } = await start(kind, app, { accessLog: file, ...(format === undefined ? {} : { accessLogFormat: format }) });
  await requests(port);
  await server.close();
  const text = readFileSync(file, 'latin1');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
}

forEachServer((kind) => {
  it("writes gunicorn's default line (the Apache combined format)", async () => {
    const lines = await logOf(kind, undefined, async (port) => {
      await request(port, buildRequest('GET', '/a/b?x=1', { headers: [['User-Agent', 'curl/8.0'], ['Referer', 'http://ref.example/']] }));
      await request(port, buildRequest('GET', '/missing', { version: 'HTTP/1.0', host: false }));
    });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^127\\.0\\.0\\.1 - - ${kTime} "GET /a/b\\?x=1 HTTP/1\\.1" 200 5 "http://ref\\.example/" "curl/8\\.0"$`));
    expect(lines[1]).toMatch(new RegExp(`^127\\.0\\.0\\.1 - - ${kTime} "GET /missing HTTP/1\\.0" 404 3 "-" "-"$`));
  });

  it('has every atom: the request, the response, timings, headers in and out, environ values', async () => {
    const format = '%(h)s|%(l)s|%(u)s|%(r)s|%(s)s|%(b)s|%(B)s|%(m)s|%(U)s|%(q)s|%(H)s|%(T)s|%(D)s|%(M)s|%(L)s|%(p)s|%({x-req}i)s|%({X-Trace}o)s|%({content-length}o)s|%({SERVER_PROTOCOL}e)s|%({nope}i)s|%(zz)s|%%';
    const lines = await logOf(kind, format, async (port) => {
      await request(port, buildRequest('GET', '/missing?q=1', { headers: [['X-Req', 'r1'], ['Authorization', `Basic ${Buffer.from('alice:secret').toString('base64')}`]] }));
      await request(port, buildRequest('HEAD', '/', {}), { methods: ['HEAD'] });
      await request(port, buildRequest('GET', '/stream'));
      await request(port, buildRequest('GET', '/boom'));
    });
    const f = lines.map((l) => l.split('|'));
    expect(f[0]!.slice(0, 11)).toEqual(['127.0.0.1', '-', 'alice', 'GET /missing?q=1 HTTP/1.1', '404', '3', '3', 'GET', '/missing', 'q=1', 'HTTP/1.1']);
    const [T, D, M, L] = f[0]!.slice(11, 15);
    expect(T).toBe('0');
    expect(Number(D)).toBeGreaterThan(0);
    expect(M).toBe(String(Math.floor(Number(D) / 1000)));
    expect(L).toBe(`0.${D!.padStart(6, '0')}`);
    expect(f[0]!.slice(15)).toEqual([`<${process.pid}>`, 'r1', 'abc\\"def', '3', 'HTTP/1.1', '-', '-', '%']);
    // HEAD: the length is announced, no body byte is sent.
    expect(f[1]!.slice(3, 7)).toEqual(['HEAD / HTTP/1.1', '200', '0', '0']);
    expect(f[1]![18]).toBe('5');
    // A streamed body: its bytes, whatever the framing.
    expect(f[2]!.slice(4, 6)).toEqual(['200', '13']);
    // The application failed: its 500 is logged.
    expect(f[3]!.slice(3, 5)).toEqual(['GET /boom HTTP/1.1', '500']);
  });

  it('logs every response of a keep-alive connection with its own status and bytes, one after another and pipelined', async () => {
    // The same heads again and again: the native server prepares them and
    // queues the complete responses (ARCHITECTURE.md, "The path of a
    // request"); each is still logged as it was answered.
    const paths = ['/', '/missing', '/', '/', '/missing', '/', '/missing', '/missing', '/stream', '/'];
    const lines = await logOf(kind, '%(r)s %(s)s %(b)s', async (port) => {
      const c = await RawClient.connect(port);
      const statuses: number[] = [];
      for (const path of paths) {
        await c.send(buildRequest('GET', path), 'GET');
        statuses.push((await c.next()).status);
      }
      await c.send(Buffer.concat(paths.map((path) => buildRequest('GET', path))), ...paths.map(() => 'GET'));
      for (const _ of paths) statuses.push((await c.next()).status);
      const once = paths.map((path) => (path === '/missing' ? 404 : 200));
      expect(statuses).toEqual([...once, ...once]);
      c.destroy();
    });
    const expected = paths.map((path) => `GET ${path} HTTP/1.1 ${path === '/missing' ? '404 3' : path === '/stream' ? '200 13' : '200 5'}`);
    expect(lines).toEqual([...expected, ...expected]);
  });

  it('escapes what a client sends: no line can be ended or forged, every line is ASCII', async () => {
    const lines = await logOf(kind, undefined, async (port) => {
      // CR, LF, NUL, a quote, a backslash and bytes that are not UTF-8, in
      // the path (percent-encoded: the target itself must be ASCII) and in
      // headers (obs-text and quotes: CR, LF and NUL are refused there).
      await request(port, buildRequest('GET', '/x%0D%0Aforged%20%22line%22%00%22%FF%C3%A9', {
        headers: [
          ['User-Agent', 'evil" "injected\\ \xff\xfe\x7e'],
          ['Referer', 'a\tb"'],
        ],
      }));
      const c = await RawClient.connect(port);
      // A header with CR in its value never reaches the application.
      await c.send('GET /refused HTTP/1.1\r\nHost: a\r\nUser-Agent: a\rb\r\n\r\n', 'GET');
      await c.responses(1);
      c.destroy();
    });
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).toMatch(/^[\x20-\x7e]*$/);
    // The target is ASCII without controls (the parser sees to it): as sent.
    expect(line).toContain('"GET /x%0D%0Aforged%20%22line%22%00%22%FF%C3%A9 HTTP/1.1"');
    expect(line.endsWith('"a\\x09b\\"" "evil\\" \\"injected\\\\ \\xff\\xfe~"'), line).toBe(true);
  });

  it('writes a line longer than a block of the log (a 40,000-byte header of obs-text, every byte escaped) whole, between the lines around it', async () => {
    const file = join(dir, `access-${n++}.log`);
    const { server, port } = await start(kind, app, { accessLog: file, accessLogFormat: '%(m)s %(a)s', maxHeaderSize: 256 * 1024 });
    const c = await RawClient.connect(port);
    const big = '\xff'.repeat(40_000);
    await c.send(Buffer.concat([buildRequest('GET', '/'), buildRequest('GET', '/', { headers: [['User-Agent', big]] }), buildRequest('GET', '/')]), 'GET', 'GET', 'GET');
    for (let i = 0; i < 3; i++) expect((await c.next()).status).toBe(200);
    c.destroy();
    await server.close();
    const lines = readFileSync(file, 'latin1').split('\n');
    expect(lines.map((l) => l.length)).toEqual([5, 4 + 160_000, 5, 0]);
    expect(lines[1]).toBe('GET ' + '\\xff'.repeat(40_000));
  });

  it('escapes the decoded path too (%(U)s): CR, LF, NUL and UTF-8 as \\xHH', async () => {
    const lines = await logOf(kind, '%(U)s', async (port) => {
      await request(port, buildRequest('GET', '/a%0D%0Ab%00c%22%C3%A9d%FF'));
    });
    // (%FF is not UTF-8: decodePath leaves it as it was sent.)
    expect(lines).toEqual(['/a\\x0d\\x0ab\\x00c\\"\\xc3\\xa9d%FF']);
  });

  it('writes one JSON object per line with json, whatever the bytes', async () => {
    const lines = await logOf(kind, 'json', async (port) => {
      await request(port, buildRequest('GET', '/q%0A%22%00%C3%A9?a=%22', { headers: [['User-Agent', 'x"\\\xff\x80'], ['Referer', 'r']] }));
      await request(port, buildRequest('POST', '/missing', { body: 'abc' }));
    });
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^[\x20-\x7e]*$/);
    const [a, b] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(a!)).toEqual(['time', 'remote_addr', 'remote_port', 'remote_user', 'method', 'uri', 'path', 'query', 'protocol', 'status', 'bytes', 'referer', 'user_agent', 'duration_us', 'pid']);
    expect(a).toMatchObject({
      remote_addr: '127.0.0.1',
      remote_user: null,
      method: 'GET',
      uri: '/q%0A%22%00%C3%A9?a=%22',
      path: '/q\n"\0é',
      query: 'a=%22',
      protocol: 'HTTP/1.1',
      status: 200,
      bytes: 5,
      referer: 'r',
      // Header values are their bytes as latin1, as in the environ.
      user_agent: 'x"\\\xff\x80',
      pid: process.pid,
    });
    expect(Date.parse(a!.time as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(b).toMatchObject({ method: 'POST', status: 404, bytes: 3, user_agent: null });
  });

  it('counts the bytes of a file body (sendfile where the server can)', async () => {
    const lines = await logOf(kind, '%(s)s %(b)s %({content-length}o)s', async (port) => {
      const res = (await request(port, buildRequest('GET', '/file'))).responses[0]!;
      expect(res.body.toString()).toBe('a file of 22 bytes.\n\n\n');
    });
    expect(lines).toEqual(['200 22 22']);
  });

  it('writes JSON strings that are plain as they are, and escapes from the first byte that is not', async () => {
    const lines = await logOf(kind, 'json', async (port) => {
      // Space and ~ are the ends of what is copied as it is; DEL (in the
      // decoded path: a header cannot hold it), a quote, a backslash and
      // obs-text are not, wherever they are.
      await request(port, buildRequest('GET', '/~%7F', { headers: [['User-Agent', 'a ~plain~ z'], ['Referer', '~\xff']] }));
      await request(port, buildRequest('GET', '/', { headers: [['User-Agent', '"'], ['Referer', 'end\\']] }));
    });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('"path":"/~\\u007f"');
    expect(lines[0]).toContain('"referer":"~\\u00ff","user_agent":"a ~plain~ z"');
    expect(lines[1]).toContain('"referer":"end\\\\","user_agent":"\\""');
    const [a, b] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(a).toMatchObject({ path: '/~\x7f', user_agent: 'a ~plain~ z', referer: '~\xff' });
    expect(b).toMatchObject({ user_agent: '"', referer: 'end\\' });
  });

  it('writes nothing, and opens nothing, without accessLog', async () => {
    const { port, server } = await start(kind, app);
    await request(port, buildRequest('GET', '/'));
    expect(server.stats).toBe(null);
    await server.close();
  });

  it('refuses a bad format before listening, naming the setting', async () => {
    await expect(start(kind, app, { accessLog: join(dir, 'never.log'), accessLogFormat: '%(h)d %(x' })).rejects.toThrow(
      'serve: accessLogFormat has "%(" at 6 without its ")" (gunicorn\'s %(atom)s format, or json), got "%(h)d %(x"',
    );
    await expect(start(kind, app, { accessLogFormat: '%s' })).rejects.toThrow('serve: accessLogFormat must name each atom as %(name)s');
    await expect(start(kind, app, { accessLogFormat: '%(h)-10s' })).rejects.toThrow('must end %(h) with s (widths and flags are not supported)');
  });
});
