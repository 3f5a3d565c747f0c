// error-page.test.ts: errorPage on both servers: a text/html 500 before the
// headers are sent (throw, rejection, first chunk), the stack only in debug
// mode, HTML-escaped; after the first chunk the server cuts the response.
import { expect, it } from 'vitest';
import { errorPage } from '../../src/middleware/index.js';
import type { Application } from '../../src/types.js';
import { buildRequest, header, RawClient, request } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const failing: Application = async (environ, startResponse) => {
  const err = new Error('bad <script>alert("x")</script> & more');
  switch (environ.PATH_INFO) {
    case '/throw':
      throw err;
    case '/started':
      // startResponse was called, nothing sent yet: still replaceable.
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      throw err;
    case '/first-chunk':
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        throw err;
      })();
    case '/late':
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield 'partial ';
        throw err;
      })();
    default:
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['fine'];
  }
};

forEachServer((kind) => {
  for (const path of ['/throw', '/started', '/first-chunk']) {
    it(`answers ${path} with an HTML 500 that says nothing of the cause`, async () => {
      const { port, errors } = await start(kind, errorPage()(failing));
      const res = (await request(port, buildRequest('GET', path))).responses[0]!;
      expect(res.status).toBe(500);
      expect(header(res, 'content-type')).toBe('text/html; charset=utf-8');
      const html = res.body.toString();
      expect(html).toContain('<h1>Internal Server Error</h1>');
      expect(html).not.toContain('alert');
      expect(html).not.toContain('at ');
      // Logged with its stack for the operator.
      expect(errors.text()).toContain('bad <script>alert("x")</script> & more');
      expect(errors.text()).toMatch(/\n\s+at /);
    });
  }

  it('shows the message and the stack, HTML-escaped, in debug mode', async () => {
    const { port } = await start(kind, errorPage({ debug: true })(failing));
    const html = (await request(port, buildRequest('GET', '/throw'))).responses[0]!.body.toString();
    expect(html).toContain('Error: bad &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more');
    expect(html).toMatch(/<pre>Error: bad &lt;script&gt;[^<]*\n\s+at /);
    expect(html).not.toContain('<script>');
  });

  it('passes good responses through and lets the server cut a response that fails after its first chunk', async () => {
    const { port } = await start(kind, errorPage({ debug: true })(failing));
    expect((await request(port, buildRequest('GET', '/ok'))).responses[0]!.body.toString()).toBe('fine');
    const client = await RawClient.connect(port);
    await client.send(buildRequest('GET', '/late'), 'GET');
    expect(await client.waitClose(5000)).toBe(true);
    // Cut: no complete response (node:http may even drop the head it had
    // not flushed yet), and no error page after the first bytes.
    expect(client.parser.responses.filter((r) => r.complete)).toEqual([]);
    expect(client.text()).not.toContain('Internal Server Error');
  });
});
