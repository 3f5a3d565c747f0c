// response.test.ts: response framing and headers on the wire —
// Content-Length vs chunked vs close-delimited, HEAD/204/304, UTF-8,
// the legacy write(), status lines, header order, Date.
import { expect, it } from 'vitest';
import type { Application } from '../../src/index.js';
import {
  buildRequest,
  connectionHas,
  dateProblems,
  header,
  headerAll,
  RawClient,
  request,
  sleep,
  until,
} from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const text = (s: string): Application => (_env, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [s];
};

forEachServer((kind) => {
  it('writes the status line and header values as latin1, one byte per character (PEP 3333)', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 Gr\u00fc\u00dfe', [['X-Latin1', 'caf\u00e9 \u00ff']]);
      return ['body \u00e9'];
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    const res = await client.next();
    // The head is decoded as latin1 by the client: each byte one character.
    expect(res.statusLine).toBe('HTTP/1.1 200 Gr\u00fc\u00dfe');
    expect(header(res, 'x-latin1')).toBe('caf\u00e9 \u00ff');
    expect(res.rawHead).toContain('X-Latin1: caf\xe9 \xff\r\n');
    // The body is UTF-8 all the same.
    expect(res.body.toString('utf8')).toBe('body \u00e9');
    expect(header(res, 'content-length')).toBe('7');
    client.destroy();
  });

  it('sends Content-Length (not chunked) for an array body', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['ab', Buffer.from('cd'), new Uint8Array([0x65, 0x66])];
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    const res = await client.next();
    expect(res.status).toBe(200);
    expect(res.framing).toBe('length');
    expect(headerAll(res, 'content-length')).toEqual(['6']);
    expect(header(res, 'transfer-encoding')).toBeUndefined();
    expect(res.body.toString()).toBe('abcdef');
    expect(dateProblems(res)).toEqual([]);
    client.destroy();
  });

  it('sends Content-Length for a multi-chunk array body (without validate())', async () => {
    const { port } = await start(
      kind,
      (_env, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'text/plain']]);
        return ['ab', Buffer.from('cd'), 'é'];
      },
      { validate: false },
    );
    const { responses } = await request(port, buildRequest('GET', '/'));
    expect(responses[0]!.framing).toBe('length');
    expect(header(responses[0]!, 'content-length')).toBe('6');
    expect(responses[0]!.body.toString()).toBe('abcdé');
  });

  it('sends Content-Length for an array body returned asynchronously', async () => {
    const { port } = await start(kind, async (_env, startResponse) => {
      await sleep(5);
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['async'];
    });
    const { responses } = await request(port, buildRequest('GET', '/'));
    expect(responses[0]!.framing).toBe('length');
    expect(header(responses[0]!, 'content-length')).toBe('5');
    expect(responses[0]!.body.toString()).toBe('async');
  });

  it('sends Content-Length 0 for an empty array body', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [];
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    const res = await client.next();
    expect(header(res, 'content-length')).toBe('0');
    expect(header(res, 'transfer-encoding')).toBeUndefined();
    // The connection is still usable.
    await client.send(buildRequest('GET', '/again'), 'GET');
    expect((await client.next()).status).toBe(200);
    client.destroy();
  });

  it('uses chunked encoding for a generator body on HTTP/1.1', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (function* () {
        yield 'one,';
        yield 'two,';
        yield 'three';
      })();
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    const res = await client.next();
    expect(res.framing).toBe('chunked');
    expect(header(res, 'content-length')).toBeUndefined();
    expect(res.body.toString()).toBe('one,two,three');
    expect(res.complete).toBe(true);
    await client.send(buildRequest('GET', '/'), 'GET');
    expect((await client.next()).body.toString()).toBe('one,two,three');
    client.destroy();
  });

  it('uses chunked encoding for an async generator body on HTTP/1.1', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield 'a';
        await sleep(10);
        yield Buffer.from('b');
        await sleep(10);
        yield '';
        yield 'c';
      })();
    });
    const { responses } = await request(port, buildRequest('GET', '/'));
    const res = responses[0]!;
    expect(res.framing).toBe('chunked');
    expect(res.body.toString()).toBe('abc');
    expect(res.chunkSizes.every((n) => n > 0)).toBe(true);
  });

  it('does not use chunked for an HTTP/1.0 client with a streaming body', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield 'x'.repeat(1000);
        await sleep(5);
        yield 'y'.repeat(1000);
      })();
    });
    const client = await RawClient.connect(port);
    await client.send('GET /stream HTTP/1.0\r\n\r\n', 'GET');
    const [res] = await client.responses(1);
    expect(await client.waitClose(3000)).toBe(true);
    expect(res!.framing === 'close' || res!.framing === 'length').toBe(true);
    expect(header(res!, 'transfer-encoding')).toBeUndefined();
    expect(res!.complete).toBe(true);
    expect(res!.body.toString()).toBe('x'.repeat(1000) + 'y'.repeat(1000));
  });

  it('respects an app-provided Content-Length with a streaming body', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [
        ['Content-Type', 'text/plain'],
        ['Content-Length', '11'],
      ]);
      return (async function* () {
        yield 'hello';
        await sleep(5);
        yield ' world';
      })();
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    const res = await client.next();
    expect(res.framing).toBe('length');
    expect(headerAll(res, 'content-length')).toEqual(['11']);
    expect(header(res, 'transfer-encoding')).toBeUndefined();
    expect(res.body.toString()).toBe('hello world');
    await client.send(buildRequest('GET', '/'), 'GET');
    expect((await client.next()).body.toString()).toBe('hello world');
    client.destroy();
  });

  it('keeps an app-provided Content-Length on HEAD without cutting the connection', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '1234']]);
      return [];
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('HEAD', '/'), 'HEAD');
    const head = await client.next();
    expect(headerAll(head, 'content-length')).toEqual(['1234']);
    // HEAD with Content-Length is not a short body: the connection serves
    // the next request, and does not announce a close.
    expect(connectionHas(head, 'close')).toBe(false);
    await client.send(buildRequest('HEAD', '/'), 'HEAD');
    expect((await client.next()).status).toBe(200);
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('derives no Content-Length for HEAD from an empty body, and the GET size from a whole one', async () => {
    // RFC 9110 §8.6: a HEAD response's Content-Length must be the size a
    // GET would send. An app that skips the body on HEAD has not said it.
    const { port } = await start(kind, (env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return env.REQUEST_METHOD === 'HEAD' && env.PATH_INFO === '/skip' ? [] : ['hello'];
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('HEAD', '/skip'), 'HEAD');
    const skipped = await client.next();
    expect(skipped.status).toBe(200);
    expect(header(skipped, 'content-length')).toBeUndefined();
    expect(header(skipped, 'transfer-encoding')).toBeUndefined();
    expect(connectionHas(skipped, 'close')).toBe(false);
    // The same connection goes on: the HEAD response had no body to frame.
    await client.send(buildRequest('HEAD', '/whole'), 'HEAD');
    expect(headerAll(await client.next(), 'content-length')).toEqual(['5']);
    await client.send(buildRequest('GET', '/skip'), 'GET');
    const got = await client.next();
    expect(headerAll(got, 'content-length')).toEqual(['5']);
    expect(got.body.toString()).toBe('hello');
    expect(client.closed).toBe(false);
    client.destroy();
  });

  it('never sends more body bytes than the declared Content-Length', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '5']]);
      return (async function* () {
        yield '12345';
        await sleep(5);
        yield 'HTTP/1.1 200 OK\r\nX-Smuggled: 1\r\nContent-Length: 0\r\n\r\n';
      })();
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    await client.send(buildRequest('GET', '/'), 'GET');
    const [res] = await client.responses(1);
    expect(res!.body.toString()).toBe('12345');
    // The surplus ends the connection (it cannot be framed): after the
    // close, nothing more can arrive.
    expect(await client.waitClose(3000), 'the server closes after the surplus').toBe(true);
    expect(client.text()).not.toContain('X-Smuggled');
    client.destroy();
  });

  it('closes the connection when the body is shorter than the declared Content-Length', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '10']]);
      return ['short'];
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    expect(await client.waitClose(3000), 'the client learns the body is short').toBe(true);
    const res = client.parser.responses[0]!;
    expect(header(res, 'content-length')).toBe('10');
    expect(res.complete).toBe(false);
    expect(res.body.toString()).toBe('short');
  });

  it('encodes string chunks as UTF-8 with the right length', async () => {
    const s = 'héllo wörld — 日本語 🎉';
    const { port } = await start(kind, text(s));
    const { responses } = await request(port, buildRequest('GET', '/'));
    const res = responses[0]!;
    expect(header(res, 'content-length')).toBe(String(Buffer.byteLength(s, 'utf8')));
    expect(res.body.equals(Buffer.from(s, 'utf8'))).toBe(true);
  });

  it('encodes UTF-8 strings in chunked bodies with the right chunk sizes', async () => {
    const parts = ['é', '€€', '🎉'];
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
      return (async function* () {
        for (const p of parts) {
          yield p;
          await sleep(5);
        }
      })();
    });
    const { responses } = await request(port, buildRequest('GET', '/'));
    const res = responses[0]!;
    expect(res.framing).toBe('chunked');
    expect(res.body.toString('utf8')).toBe(parts.join(''));
    expect(res.chunkSizes.reduce((a, b) => a + b, 0)).toBe(Buffer.byteLength(parts.join('')));
  });

  it('sends write() output before the returned body', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      const write = startResponse('200 OK', [['Content-Type', 'text/plain']]);
      write('first-');
      write(Buffer.from('second-'));
      return ['third'];
    });
    const { responses } = await request(port, buildRequest('GET', '/'));
    expect(responses[0]!.status).toBe(200);
    expect(responses[0]!.body.toString()).toBe('first-second-third');
  });

  it('answers HEAD with headers only and keeps the connection usable', async () => {
    const { port } = await start(kind, text('hello head'));
    const client = await RawClient.connect(port);
    await client.send(buildRequest('HEAD', '/h'), 'HEAD');
    await client.send(buildRequest('GET', '/g'), 'GET');
    const [head, getRes] = await client.responses(2);
    expect(head!.status).toBe(200);
    expect(header(head!, 'transfer-encoding')).toBeUndefined();
    const cl = header(head!, 'content-length');
    if (cl !== undefined) expect(cl).toBe('10');
    expect(dateProblems(head!)).toEqual([]);
    // No body bytes: the next thing on the wire is the GET's status line.
    const raw = client.text();
    expect(raw.indexOf('\r\n\r\nHTTP/1.1 200')).toBe(head!.rawHead.length - 4);
    expect(getRes!.body.toString()).toBe('hello head');
    client.destroy();
  });

  it('answers HEAD with a streaming body without body bytes', async () => {
    let closed = 0;
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const g = (function* () {
        yield 'streamed';
      })();
      return Object.assign(g, { close: () => void closed++ });
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('HEAD', '/'), 'HEAD');
    await client.send(buildRequest('GET', '/'), 'GET');
    const [head, getRes] = await client.responses(2);
    expect(head!.status).toBe(200);
    expect(client.text().split('streamed').length - 1).toBe(1);
    expect(getRes!.body.toString()).toBe('streamed');
    expect(await until(() => closed === 2, 2000), `close() calls: ${closed}`).toBe(true);
    client.destroy();
  });

  for (const status of ['204 No Content', '304 Not Modified']) {
    it(`sends ${status} without a body or chunked framing`, async () => {
      const { port } = await start(kind, (_env, startResponse) => {
        startResponse(status, [['X-Status', status.slice(0, 3)]]);
        return [];
      });
      const client = await RawClient.connect(port);
      await client.send(buildRequest('GET', '/'), 'GET');
      await client.send(buildRequest('GET', '/'), 'GET');
      const [a, b] = await client.responses(2);
      expect(a!.statusLine).toBe(`HTTP/1.1 ${status}`);
      expect(header(a!, 'transfer-encoding')).toBeUndefined();
      if (status.startsWith('204')) expect(header(a!, 'content-length')).toBeUndefined();
      expect(header(a!, 'x-status')).toBe(status.slice(0, 3));
      expect(dateProblems(a!)).toEqual([]);
      // Nothing between the two responses.
      const raw = client.text();
      expect(raw.slice(a!.rawHead.length, a!.rawHead.length + 9)).toBe('HTTP/1.1 ');
      expect(b!.status).toBe(Number(status.slice(0, 3)));
      client.destroy();
    });
  }

  it('sends the status line as given, with its reason phrase', async () => {
    const { port } = await start(kind, (env, startResponse) => {
      const status = env.PATH_INFO === '/teapot' ? "418 I'm a teapot" : '299 Custom Thing';
      startResponse(status, [['Content-Type', 'text/plain']]);
      return ['x'];
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/teapot'), 'GET');
    expect((await client.next()).statusLine).toBe("HTTP/1.1 418 I'm a teapot");
    await client.send(buildRequest('GET', '/other'), 'GET');
    expect((await client.next()).statusLine).toBe('HTTP/1.1 299 Custom Thing');
    client.destroy();
  });

  it('sends app headers in order, repeated ones separately, values intact', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [
        ['X-Zeta', '1'],
        ['Set-Cookie', 'a=1; Path=/'],
        ['Content-Type', 'text/plain'],
        ['X-Alpha', 'two words,  and, commas'],
        ['Set-Cookie', 'b=2'],
        ['X-Mid', ''],
      ]);
      return ['ok'];
    });
    const { responses } = await request(port, buildRequest('GET', '/'));
    const res = responses[0]!;
    const names = res.headers.map(([k]) => k.toLowerCase());
    const appNames = ['x-zeta', 'set-cookie', 'content-type', 'x-alpha', 'set-cookie', 'x-mid'];
    expect(names.filter((n) => appNames.includes(n))).toEqual(appNames);
    expect(headerAll(res, 'set-cookie')).toEqual(['a=1; Path=/', 'b=2']);
    expect(header(res, 'x-alpha')).toBe('two words,  and, commas');
    expect(header(res, 'x-mid')).toBe('');
    expect(dateProblems(res)).toEqual([]);
  });

  it('never lets a header value with CR/LF inject a header', async () => {
    const { port } = await start(kind, (_env, startResponse) => {
      try {
        startResponse('200 OK', [['X-Evil', 'a\r\nInjected: yes']]);
      } catch {
        startResponse('200 OK', [['X-Caught', '1']], new Error('rejected'));
      }
      return ['body'];
    });
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    const [res] = await client.responses(1);
    expect(res?.headers.some(([k]) => k.toLowerCase() === 'injected')).toBe(false);
    expect(client.text()).not.toMatch(/\r\nInjected: yes\r\n/);
    client.destroy();
  });

  it('puts one valid Date header on every response, errors included', async () => {
    const { port } = await start(kind, (env, startResponse) => {
      if (env.PATH_INFO === '/err') throw new Error('boom');
      startResponse(env.PATH_INFO === '/404' ? '404 Not Found' : '200 OK', [['Content-Type', 'text/plain']]);
      return env.PATH_INFO === '/stream' ? (function* () { yield 's'; yield 't'; })() : ['x'];
    });
    const client = await RawClient.connect(port);
    for (const p of ['/', '/404', '/stream', '/err']) {
      await client.send(buildRequest('GET', p), 'GET');
    }
    const all = await client.responses(4);
    expect(all.map((r) => r.status)).toEqual([200, 404, 200, 500]);
    for (const r of all) expect(dateProblems(r), r.statusLine).toEqual([]);
    client.destroy();
  });

  it('does not add Connection: close to ordinary HTTP/1.1 responses', async () => {
    const { port } = await start(kind, text('ka'));
    const { responses } = await request(port, buildRequest('GET', '/'));
    expect(connectionHas(responses[0]!, 'close')).toBe(false);
  });

  // The headers the server owns (src/gateway/http-rules.ts), set by an
  // application that is not checked by validate(): none reaches the wire,
  // and the server's own framing, Date and persistence stand.
  it('drops the framing, hop-by-hop and Date headers an application sets, and honours Connection: close', async () => {
    const { port } = await start(
      kind,
      (env, startResponse) => {
        startResponse('200 OK', [
          ['Transfer-Encoding', 'gzip'],
          ['Keep-Alive', 'timeout=99'],
          ['Proxy-Connection', 'keep-alive'],
          ['TE', 'trailers'],
          ['Trailer', 'X-Checksum'],
          ['Upgrade', 'h2c'],
          ['Date', 'Thu, 01 Jan 1970 00:00:00 GMT'],
          ['Connection', env.PATH_INFO === '/close' ? 'close' : 'upgrade'],
          ['Proxy-Authenticate', 'Basic realm="p"'],
        ]);
        return ['body'];
      },
      { validate: false },
    );
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/'), 'GET');
    const res = await client.next();
    const sent = (name: string) => headerAll(res, name);
    for (const name of ['transfer-encoding', 'proxy-connection', 'te', 'trailer', 'upgrade']) expect(sent(name), name).toEqual([]);
    // node:http announces its own keep-alive timeout; the application's is dropped.
    expect(sent('keep-alive')).not.toContain('timeout=99');
    expect(header(res, 'content-length')).toBe('4');
    expect(dateProblems(res)).toEqual([]);
    expect(sent('connection').some((v) => /upgrade/i.test(v))).toBe(false);
    expect(header(res, 'proxy-authenticate')).toBe('Basic realm="p"');
    expect(res.body.toString()).toBe('body');
    await client.send(buildRequest('GET', '/close'), 'GET');
    const closing = await client.next();
    expect(connectionHas(closing, 'close')).toBe(true);
    expect(await client.waitClose(5000), 'Connection: close from the application closes').toBe(true);
  });

  it('refuses an interim (1xx) status as the response status: a 500, logged', async () => {
    const { port, errors } = await start(
      kind,
      (_env, startResponse) => {
        startResponse('103 Early Hints', [['Link', '</a.css>; rel=preload']]);
        return ['never'];
      },
      { validate: false },
    );
    const { responses } = await request(port, buildRequest('GET', '/'));
    expect(responses[0]!.status).toBe(500);
    expect(errors.text()).toContain('status code must be between 200 and 599');
  });
});
