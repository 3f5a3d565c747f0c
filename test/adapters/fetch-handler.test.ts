// fetch-handler.test.ts: fromFetchHandler on both servers, from the
// outside: the Request it builds, request.signal when the client goes away,
// streaming both ways with backpressure, lazy 100-continue, Set-Cookie, and
// what a handler that breaks the contract gets.
import { connect } from 'node:net';
import { expect, it } from 'vitest';
import { fromFetchHandler, type FetchHandler } from '../../src/index.js';
import { buildRequest, deferred, header, headerAll, RawClient, request, sleep } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

function serveFetch(kind: Parameters<typeof start>[0], handler: FetchHandler, options = {}) {
  // The server trusts no front-end here: the adapter's trustProxy is what
  // is tested (the server's own trust: test/conformance/forwarded.test.ts).
  return start(kind, fromFetchHandler(handler, options), { forwardedAllowIps: '' });
}

forEachServer((kind) => {
  it('builds the Request from the environ: method, URL from Host, headers, instanceof Request', async () => {
    let seen: Record<string, unknown> = {};
    const { port } = await serveFetch(kind, (req) => {
      const copy = new Request(req); // undici reads its internals through the lazy request
      seen = {
        isRequest: req instanceof Request,
        method: req.method,
        url: req.url,
        ua: req.headers.get('User-Agent'),
        missing: req.headers.get('x-missing'),
        names: [...req.headers.keys()],
        copyUrl: copy.url,
        copyHeader: copy.headers.get('x-a'),
      };
      return new Response('ok');
    });
    const { responses } = await request(
      port,
      buildRequest('GET', '/a%20b/c?x=1&y=%2F', { headers: [['Host', 'example.test:8080'], ['User-Agent', 'ua/1'], ['X-A', '1']] }),
    );
    expect(responses[0]!.status).toBe(200);
    expect(seen).toEqual({
      isRequest: true,
      method: 'GET',
      url: 'http://example.test:8080/a%20b/c?x=1&y=%2F',
      ua: 'ua/1',
      missing: null,
      names: ['host', 'user-agent', 'x-a'],
      copyUrl: 'http://example.test:8080/a%20b/c?x=1&y=%2F',
      copyHeader: '1',
    });
  });

  it('takes scheme and host from X-Forwarded-* only with trustProxy', async () => {
    const urls: string[] = [];
    const handler: FetchHandler = (req) => {
      urls.push(req.url);
      return new Response('ok');
    };
    const headers: [string, string][] = [['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'public.test, proxy.local']];
    const plain = await serveFetch(kind, handler);
    await request(plain.port, buildRequest('GET', '/p', { headers }));
    const trusting = await serveFetch(kind, handler, { trustProxy: true });
    await request(trusting.port, buildRequest('GET', '/p', { headers }));
    expect(urls).toEqual(['http://127.0.0.1/p', 'https://public.test/p']);
  });

  it('fires request.signal each time the client goes away while the handler waits', async () => {
    const aborted: string[] = [];
    let arrived = deferred();
    let gone = deferred();
    const { port } = await serveFetch(kind, (req) => {
      arrived.resolve();
      return new Promise<Response>((resolve) => {
        req.signal.addEventListener('abort', () => {
          aborted.push(new URL(req.url).pathname);
          gone.resolve();
          resolve(new Response('late'));
        });
      });
    });
    for (const path of ['/one', '/two']) {
      const client = await RawClient.connect(port);
      await client.send(buildRequest('GET', path), 'GET');
      await arrived.promise;
      // A reset: a FIN alone is a half-close, after which the client still
      // gets its response (RFC 9112 §9.6).
      client.socket.resetAndDestroy();
      await gone.promise;
      arrived = deferred();
      gone = deferred();
    }
    expect(aborted).toEqual(['/one', '/two']);
  });

  it('fires request.signal and cancels the response stream when the client leaves mid-body', async () => {
    const cancelled = deferred<string>();
    const aborted = deferred();
    let signalOfDone: AbortSignal | null = null;
    const { port } = await serveFetch(kind, (req) => {
      if (req.url.endsWith('/done')) {
        signalOfDone = req.signal;
        return new Response('complete');
      }
      req.signal.addEventListener('abort', () => aborted.resolve());
      let n = 0;
      return new Response(
        new ReadableStream({
          pull(controller) {
            controller.enqueue(new TextEncoder().encode(`tick ${n++}\n`));
            return sleep(5);
          },
          cancel(reason) {
            cancelled.resolve(String(reason));
          },
        }),
      );
    });
    const done = await request(port, buildRequest('GET', '/done'));
    expect(done.responses[0]!.body.toString()).toBe('complete');
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/forever'), 'GET');
    await client.waitFor(() => client.text().includes('tick 2'), 5000, 'three ticks');
    client.destroy();
    await aborted.promise;
    await cancelled.promise;
    // The completed response's signal never fired.
    expect(signalOfDone!.aborted).toBe(false);
  });

  it('streams the request body to the handler as it arrives, and 100 Continue only when read', async () => {
    const firstChunk = deferred();
    const { port } = await serveFetch(kind, async (req) => {
      if (req.url.endsWith('/ignore')) return new Response('not read');
      const reader = req.body!.getReader();
      let size = 0;
      let chunks = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (chunks++ === 0) firstChunk.resolve();
        size += value.byteLength;
      }
      return Response.json({ size });
    });
    // Not read: no 100 Continue, just the answer.
    const ignored = await RawClient.connect(port);
    await ignored.send('POST /ignore HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n', 'POST');
    const res = await ignored.next();
    expect(res.status).toBe(200);
    expect(ignored.text().startsWith(CONTINUE)).toBe(false);
    ignored.destroy();
    // Read: 100 Continue first; the handler sees the first half before the
    // client sends the second.
    const client = await RawClient.connect(port);
    await client.send('POST /read HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 200000\r\n\r\n', 'POST');
    await client.waitFor(() => client.text().startsWith(CONTINUE), 3000, '100 Continue');
    await client.send(Buffer.alloc(100_000, 1));
    await firstChunk.promise;
    await client.send(Buffer.alloc(100_000, 2));
    const answer = await client.next();
    expect(JSON.parse(answer.body.toString())).toEqual({ size: 200_000 });
    client.destroy();
  });

  it('stops pulling the response stream while the client does not read (backpressure)', async () => {
    let pulled = 0;
    const { port } = await serveFetch(kind, () =>
      new Response(
        new ReadableStream(
          {
            pull(controller) {
              pulled += 65536;
              controller.enqueue(new Uint8Array(65536));
            },
          },
          { highWaterMark: 0 },
        ),
      ),
    );
    // A client that sends its request and never reads.
    const socket = connect({ host: '127.0.0.1', port });
    socket.pause();
    socket.write(buildRequest('GET', '/big'));
    await until(() => pulled > 0);
    await sleep(500);
    // Unbounded pulling would be hundreds of MiB in half a second; with
    // backpressure it is the socket buffers plus a high water mark.
    expect(pulled).toBeLessThan(32 * 1024 * 1024);
    socket.destroy();
  });

  it('keeps each Set-Cookie a header line of its own', async () => {
    const { port } = await serveFetch(kind, () => {
      const headers = new Headers([['content-type', 'text/plain']]);
      headers.append('Set-Cookie', 'a=1; Path=/');
      headers.append('Set-Cookie', 'b=2, c; Expires=Wed, 21 Oct 2015 07:28:00 GMT');
      return new Response('ok', { headers });
    });
    const { responses } = await request(port, buildRequest('GET', '/'));
    expect(headerAll(responses[0]!, 'set-cookie')).toEqual(['a=1; Path=/', 'b=2, c; Expires=Wed, 21 Oct 2015 07:28:00 GMT']);
  });

  it('sends a body in hand with a Content-Length, a status text, and a 500 for a non-Response', async () => {
    const { port, errors } = await serveFetch(kind, (req) => {
      if (req.url.endsWith('/bad')) return 'not a response' as unknown as Response;
      return new Response(new TextEncoder().encode('bytes!'), { status: 418, statusText: 'Short And Stout' });
    });
    const ok = (await request(port, buildRequest('GET', '/'))).responses[0]!;
    expect(ok.statusLine).toBe('HTTP/1.1 418 Short And Stout');
    expect(header(ok, 'content-length')).toBe('6');
    expect(ok.body.toString()).toBe('bytes!');
    const bad = (await request(port, buildRequest('GET', '/bad'))).responses[0]!;
    expect(bad.status).toBe(500);
    expect(errors.text()).toContain('fromFetchHandler: the handler must return a Response, got string');
  });
});

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}
