// environ.test.ts: the CGI and gateway keys of the environ (src/types.ts,
// `Environ`), as an application sees them, checked through real requests.
import { expect, it } from 'vitest';
import type { Application, Environ } from '../../src/index.js';
import { buildRequest, header, RawClient, request, type HttpResponse } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

interface Dump {
  env: Record<string, unknown>;
  types: Record<string, string>;
  keys: string[];
  input: { read: string; iterator: string };
  errors: { write: string; flush: string };
  body: string;
}

/** Returns every environ key with its type, the JSON-able values, and the
 * request body it read. */
const dumpApp: Application = async (environ, startResponse) => {
  const env: Record<string, unknown> = {};
  const types: Record<string, string> = {};
  for (const k of Object.keys(environ)) {
    const v = environ[k];
    types[k] = Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
    if (typeof v !== 'object' || Array.isArray(v)) {
      if (typeof v !== 'function') env[k] = v;
    }
  }
  const input = environ['tsgi.input'];
  const errors = environ['tsgi.errors'];
  const info = {
    read: typeof input?.read,
    iterator: typeof (input as unknown as Record<symbol, unknown>)?.[Symbol.asyncIterator],
  };
  const errInfo = { write: typeof errors?.write, flush: typeof errors?.flush };
  const chunks: Uint8Array[] = [];
  for await (const c of input) chunks.push(c);
  const body = Buffer.concat(chunks).toString('utf8');
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  const out: Dump = { env, types, keys: Object.keys(environ), input: info, errors: errInfo, body };
  return [JSON.stringify(out)];
};

function parse(res: HttpResponse): Dump {
  expect(res.status, res.body.toString()).toBe(200);
  return JSON.parse(res.body.toString('utf8')) as Dump;
}

forEachServer((kind) => {
  it('has the CGI keys of a simple GET', async () => {
    const { port } = await start(kind, dumpApp);
    const client = await RawClient.connect(port);
    const localPort = client.localPort;
    await client.send(
      `GET /caf%C3%A9/x%2Fy?a=1&b=%20c+d HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
      'GET',
    );
    const [res] = await client.responses(1);
    const d = parse(res!);
    client.destroy();
    expect(d.env.REQUEST_METHOD).toBe('GET');
    expect(d.env.SCRIPT_NAME).toBe('');
    expect(d.env.PATH_INFO).toBe('/café/x/y');
    expect(d.env.QUERY_STRING).toBe('a=1&b=%20c+d');
    expect(d.env.REQUEST_URI).toBe('/caf%C3%A9/x%2Fy?a=1&b=%20c+d');
    expect(d.env.SERVER_PROTOCOL).toBe('HTTP/1.1');
    expect(d.env.SERVER_NAME).toBe('127.0.0.1');
    expect(d.env.SERVER_PORT).toBe(String(port));
    expect(d.env.REMOTE_ADDR).toBe('127.0.0.1');
    expect(d.env.REMOTE_PORT).toBe(String(localPort));
    expect(d.env.HTTP_HOST).toBe(`127.0.0.1:${port}`);
    for (const k of ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_URI',
      'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'REMOTE_ADDR', 'REMOTE_PORT']) {
      expect(d.types[k], k).toBe('string');
    }
    expect(d.keys).not.toContain('CONTENT_TYPE');
    expect(d.keys).not.toContain('CONTENT_LENGTH');
    expect(d.keys).not.toContain('HTTP_CONTENT_TYPE');
    expect(d.keys).not.toContain('HTTP_CONTENT_LENGTH');
    expect(d.body).toBe('');
  });

  it('percent-decodes PATH_INFO as UTF-8 and keeps QUERY_STRING / REQUEST_URI raw', async () => {
    const { port } = await start(kind, dumpApp);
    const cases: [target: string, path: string, query: string][] = [
      ['/', '/', ''],
      ['/a%20b', '/a b', ''],
      ['/a+b', '/a+b', ''],
      ['/%E2%82%AC/%e2%82%ac', '/€/€', ''],
      ['/a%2fb%2F', '/a/b/', ''],
      ['/bad%ZZesc%', '/bad%ZZesc%', ''],
      ['/p?', '/p', ''],
      ['/q?x=%41&y=%2F&z=a+b', '/q', 'x=%41&y=%2F&z=a+b'],
      ['/dots/../x?z', '/dots/../x', 'z'],
    ];
    // All on one keep-alive connection, sequentially.
    const client = await RawClient.connect(port);
    for (const [t, path, query] of cases) {
      await client.send(buildRequest('GET', t), 'GET');
      const res = await client.next();
      const d = parse(res);
      expect(d.env.PATH_INFO, t).toBe(path);
      expect(d.env.QUERY_STRING, t).toBe(query);
      expect(d.env.REQUEST_URI, t).toBe(t);
    }
    client.destroy();
  });

  it('takes SERVER_NAME from Host without its port, SERVER_PORT from the listener', async () => {
    const { port } = await start(kind, dumpApp);
    const { responses } = await request(
      port,
      buildRequest('GET', '/', { headers: [['Host', 'example.test:8080']] }),
    );
    const d = parse(responses[0]!);
    expect(d.env.SERVER_NAME).toBe('example.test');
    expect(d.env.SERVER_PORT).toBe(String(port));
    expect(d.env.HTTP_HOST).toBe('example.test:8080');
  });

  it('reports HTTP/1.0 and falls back to the bound address without Host', async () => {
    const { port } = await start(kind, dumpApp);
    const { responses } = await request(port, 'GET /old?x HTTP/1.0\r\n\r\n');
    const d = parse(responses[0]!);
    expect(d.env.SERVER_PROTOCOL).toBe('HTTP/1.0');
    expect(d.env.SERVER_NAME).toBe('127.0.0.1');
    expect(d.env.PATH_INFO).toBe('/old');
    expect(d.env.QUERY_STRING).toBe('x');
    expect(d.keys).not.toContain('HTTP_HOST');
  });

  it('sets CONTENT_TYPE and CONTENT_LENGTH only when sent, never as HTTP_*', async () => {
    const { port } = await start(kind, dumpApp);
    const client = await RawClient.connect(port);
    await client.send(
      buildRequest('POST', '/post', {
        headers: [['Content-Type', 'text/plain; charset=utf-8']],
        body: 'héllo',
      }),
      'POST',
    );
    let d = parse(await client.next());
    expect(d.env.CONTENT_TYPE).toBe('text/plain; charset=utf-8');
    expect(d.env.CONTENT_LENGTH).toBe(String(Buffer.byteLength('héllo')));
    expect(d.body).toBe('héllo');
    expect(d.keys).not.toContain('HTTP_CONTENT_TYPE');
    expect(d.keys).not.toContain('HTTP_CONTENT_LENGTH');

    // Chunked: no CONTENT_LENGTH.
    await client.send(
      'POST /chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-test\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
      'POST',
    );
    d = parse(await client.next());
    expect(d.env.CONTENT_TYPE).toBe('application/x-test');
    expect(d.keys).not.toContain('CONTENT_LENGTH');
    expect(d.keys).not.toContain('HTTP_CONTENT_LENGTH');
    expect(d.body).toBe('abcde');

    // Content-Length: 0 is a Content-Length.
    await client.send('POST /zero HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 'POST');
    d = parse(await client.next());
    expect(d.env.CONTENT_LENGTH).toBe('0');
    expect(d.keys).not.toContain('CONTENT_TYPE');
    client.destroy();
  });

  it('maps request headers to HTTP_* (joins repeats, cookies with "; ", drops names with "_")', async () => {
    const { port } = await start(kind, dumpApp);
    const raw = Buffer.concat([
      Buffer.from(
        'GET /h HTTP/1.1\r\n' +
          'Host: 127.0.0.1\r\n' +
          'X-Custom-Thing: v1\r\n' +
          'x-lower-case: lc\r\n' +
          'Accept: text/a\r\n' +
          'Accept: text/b\r\n' +
          'Cookie: a=1\r\n' +
          'Cookie: b=2\r\n' +
          'X_Under: smuggled\r\n' +
          'X-Dup: dash\r\n' +
          'X_Dup: underscore\r\n' +
          'X-Space:   padded   \r\n' +
          'X-Latin: caf',
        'latin1',
      ),
      Buffer.from([0xe9]),
      Buffer.from('\r\n\r\n', 'latin1'),
    ]);
    const { responses } = await request(port, raw);
    const d = parse(responses[0]!);
    expect(d.env.HTTP_X_CUSTOM_THING).toBe('v1');
    expect(d.env.HTTP_X_LOWER_CASE).toBe('lc');
    expect(d.env.HTTP_ACCEPT).toBe('text/a, text/b');
    expect(d.env.HTTP_COOKIE).toBe('a=1; b=2');
    expect(d.keys).not.toContain('HTTP_X_UNDER');
    expect(d.env.HTTP_X_DUP).toBe('dash');
    expect(d.env.HTTP_X_SPACE).toBe('padded');
    expect(d.env.HTTP_X_LATIN).toBe('café');
    for (const k of d.keys.filter((k) => k.startsWith('HTTP_'))) {
      expect(k, 'HTTP_* keys are upper case with underscores').toMatch(/^HTTP_[A-Z0-9_]+$/);
      expect(d.types[k], k).toBe('string');
    }
  });

  it('parses a head that arrives one byte at a time', async () => {
    const { port } = await start(kind, dumpApp);
    const client = await RawClient.connect(port);
    const wire = Buffer.from(
      'POST /split%20path?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-One: first value\r\n' +
        'X-Two: second\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbody',
      'latin1',
    );
    client.methods.push('POST');
    for (let i = 0; i < wire.length; i++) {
      await client.send(wire.subarray(i, i + 1));
      if (i % 4 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    const d = parse(await client.next());
    expect(d.env.PATH_INFO).toBe('/split path');
    expect(d.env.QUERY_STRING).toBe('q=1');
    expect(d.env.HTTP_X_ONE).toBe('first value');
    expect(d.env.HTTP_X_TWO).toBe('second');
    expect(d.env.CONTENT_TYPE).toBe('text/plain');
    expect(d.body).toBe('body');
    client.destroy();
  });

  it('maps 90 headers, an 8 KiB header value and a 6 KiB target', async () => {
    const { port } = await start(kind, dumpApp);
    const headers: [string, string][] = [];
    for (let i = 0; i < 90; i++) headers.push([`X-H${i}`, `v${i}`]);
    const big = 'b'.repeat(8 * 1024);
    headers.push(['X-Big', big]);
    const target = `/${'p'.repeat(3000)}?${'q'.repeat(3000)}`;
    const { responses } = await request(port, buildRequest('GET', target, { headers }));
    const d = parse(responses[0]!);
    for (let i = 0; i < 90; i++) expect(d.env[`HTTP_X_H${i}`], `HTTP_X_H${i}`).toBe(`v${i}`);
    expect(d.env.HTTP_X_BIG).toBe(big);
    expect(d.env.REQUEST_URI).toBe(target);
    expect(d.env.QUERY_STRING).toBe('q'.repeat(3000));
  });

  it('has the gateway keys with their types', async () => {
    const { port } = await start(kind, dumpApp);
    const { responses } = await request(port, buildRequest('GET', '/'));
    const d = parse(responses[0]!);
    expect(d.env['tsgi.version']).toEqual([1, 0]);
    expect(d.env['tsgi.url_scheme']).toBe('http');
    expect(d.env['tsgi.multithread']).toBe(true);
    expect(d.env['tsgi.multiprocess']).toBe(false);
    expect(d.env['tsgi.run_once']).toBe(false);
    expect(d.types['tsgi.file_wrapper']).toBe('function');
    expect(d.types['tsgi.input']).toBe('object');
    expect(d.types['tsgi.errors']).toBe('object');
    expect(d.input).toEqual({ read: 'function', iterator: 'function' });
    expect(d.errors).toEqual({ write: 'function', flush: 'function' });
  });

  it('sets tsgi.multiprocess from the option', async () => {
    const { port } = await start(kind, dumpApp, { multiprocess: true });
    const { responses } = await request(port, buildRequest('GET', '/'));
    expect(parse(responses[0]!).env['tsgi.multiprocess']).toBe(true);
  });

  it('sends tsgi.errors to the errors stream of serve()', async () => {
    const marker = `marker-${Math.random().toString(36).slice(2)}`;
    const { port, errors } = await start(kind, (environ: Environ, startResponse) => {
      environ['tsgi.errors'].write(`${marker}\n`);
      environ['tsgi.errors'].flush();
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['ok'];
    });
    const { responses } = await request(port, buildRequest('GET', '/'));
    expect(responses[0]!.status).toBe(200);
    expect(errors.text()).toContain(marker);
  });

  it('gives each request a fresh environ', async () => {
    let n = 0;
    const { port } = await start(kind, (environ, startResponse) => {
      const seen = environ['test.mark'];
      environ['test.mark'] = ++n;
      environ.PATH_INFO = '/mutated';
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`${String(seen)} ${environ.REQUEST_URI}`];
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/one'), 'GET');
    expect((await client.next()).body.toString()).toBe('undefined /one');
    await client.send(buildRequest('GET', '/two'), 'GET');
    const res = await client.next();
    expect(res.body.toString()).toBe('undefined /two');
    expect(header(res, 'content-type')).toBe('text/plain');
    client.destroy();
  });
});
