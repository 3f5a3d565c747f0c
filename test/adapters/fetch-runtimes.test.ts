// fetch-runtimes.test.ts: toFetchHandler on Node (a node:http bridge), Bun
// (Bun.serve) and Deno (Deno.serve), one shared suite: each runtime runs
// test/fixtures/fetch-suite/launcher.mjs on the compiled dist/ (npm test
// runs tsc first), and the cases below drive it over real sockets. The Bun
// and Deno binaries come from the `bun` and `deno` dev dependencies;
// Deno runs with no network and no npm resolution at all.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { findBun, findDeno } from '../../scripts/find-runtimes.mjs';
// @ts-expect-error: a plain .mjs script without types
import { startServer } from '../../scripts/lib/server-process.mjs';
import { buildRequest, header, headerAll, RawClient, request, sleep } from '../helpers/http.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LAUNCHER = 'test/fixtures/fetch-suite/launcher.mjs';

interface Runtime {
  name: string;
  argv: () => { argv: string[] } | { reason: string };
}

const RUNTIMES: Runtime[] = [
  { name: 'node', argv: () => ({ argv: [process.execPath, LAUNCHER] }) },
  {
    name: 'bun',
    argv: () => {
      const bun = findBun();
      return bun.path ? { argv: [bun.path, '--no-install', LAUNCHER] } : { reason: bun.reason };
    },
  },
  {
    name: 'deno',
    argv: () => {
      const deno = findDeno();
      return deno.path
        ? {
            argv: [
              deno.path, 'run', '--no-remote', '--no-npm', '--no-config', '--no-lock', '--cached-only',
              '--allow-net=127.0.0.1', '--allow-read', '--allow-env', LAUNCHER,
            ],
          }
        : { reason: deno.reason };
    },
  },
];

async function until(pred: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

for (const runtime of RUNTIMES) {
  const found = runtime.argv();
  if ('reason' in found) {
    describe(runtime.name, () => {
      if (process.env.CI) it('has its binary (required in CI)', () => expect.fail(found.reason));
      else it.skip(`${runtime.name}: ${found.reason}`, () => {});
    });
    continue;
  }
  describe(runtime.name, () => {
    let srv: { port: number; stderr(): string; stop(): Promise<unknown> } | undefined;
    let port = 0;
    const base = () => `http://127.0.0.1:${port}`;

    beforeAll(async () => {
      srv = await startServer(found.argv[0]!, found.argv.slice(1), {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: '1' },
        timeoutMs: 15_000,
        keepChars: Infinity,
      });
      port = srv!.port;
    });
    afterAll(async () => {
      await srv?.stop();
    });

    it('maps the request onto the environ keys', async () => {
      const res = await fetch(`${base()}/environ?x=1&y=%20`, {
        method: 'POST',
        headers: { 'X-Custom': 'custom', 'Content-Type': 'text/plain', Cookie: 'a=1' },
        body: 'abc',
      });
      expect(await res.json()).toEqual({
        REQUEST_METHOD: 'POST',
        SCRIPT_NAME: '',
        PATH_INFO: '/environ',
        QUERY_STRING: 'x=1&y=%20',
        REQUEST_URI: '/environ?x=1&y=%20',
        SERVER_NAME: '127.0.0.1',
        SERVER_PORT: String(port),
        SERVER_PROTOCOL: 'HTTP/1.1',
        CONTENT_TYPE: 'text/plain',
        CONTENT_LENGTH: '3',
        HTTP_X_CUSTOM: 'custom',
        HTTP_COOKIE: 'a=1',
        'tsgi.url_scheme': 'http',
        'tsgi.version': [1, 0],
        'tsgi.multithread': true,
        'tsgi.run_once': false,
        remoteAddrIsString: true,
        hasInput: true,
        hasFileWrapper: true,
      });
    });

    it('percent-decodes PATH_INFO and keeps REQUEST_URI as sent', async () => {
      const res = await fetch(`${base()}/caf%C3%A9/x`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ path: '/café/x' });
    });

    it('streams a large request body into tsgi.input, whole and in order', async () => {
      const body = Buffer.alloc(4 * 1024 * 1024);
      for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
      let sum = 0;
      for (let i = 0; i < body.length; i++) sum = (sum + body[i]! * ((i % 251) + 1)) % 1000000007;
      const res = await fetch(`${base()}/echo`, { method: 'POST', body });
      expect(await res.json()).toEqual({ size: body.length, sum, chunked: true });
    });

    it('takes a chunked request body and reads it whole with read()', async () => {
      const { responses } = await request(
        port,
        'POST /read-all HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
      );
      expect(responses[0]!.status).toBe(201);
      expect(responses[0]!.body.toString()).toBe('hello world');
    });

    it('streams a response as it is produced, with its headers', async () => {
      const client = await RawClient.connect(port);
      await client.send(buildRequest('GET', '/stream'), 'GET');
      const res = await client.next();
      client.destroy();
      expect(res.status).toBe(200);
      expect(header(res, 'x-streamed')).toBe('yes');
      expect(res.framing).toBe('chunked');
      expect(res.body.toString()).toBe('part 1\npart 2\npart 3\n');
    });

    it('keeps each Set-Cookie a header of its own', async () => {
      const { responses } = await request(port, buildRequest('GET', '/cookies'));
      expect(headerAll(responses[0]!, 'set-cookie')).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    });

    it('answers an error before the headers with a 500 and logs it', async () => {
      const res = await fetch(`${base()}/error-before`);
      expect(res.status).toBe(500);
      expect(await res.text()).toBe('Internal Server Error\n');
      await until(() => srv!.stderr().includes('failed before the headers'));
    });

    it('answers an invalid status with a 500 naming the rule', async () => {
      const res = await fetch(`${base()}/bad-status`);
      expect(res.status).toBe(500);
      await until(() => srv!.stderr().includes('status must be "NNN Reason"'));
    });

    it('cuts the response when the application fails after the headers', async () => {
      const client = await RawClient.connect(port);
      await client.send(buildRequest('GET', '/error-after'), 'GET');
      await client.waitFor(() => client.text().includes('started'), 5000, 'the first chunk');
      expect((await fetch(`${base()}/release`)).status).toBe(204);
      expect(await client.waitClose(5000)).toBe(true);
      const res = client.parser.responses[0];
      expect(res?.status).toBe(200);
      expect(res?.complete).toBe(false);
      await until(() => srv!.stderr().includes('failed after the headers'));
    });

    it('calls close() when a response completes, and when the client goes away mid-body', async () => {
      const done = await fetch(`${base()}/complete`);
      expect(await done.text()).toBe('done');
      const client = await RawClient.connect(port);
      await client.send(buildRequest('GET', '/forever'), 'GET');
      await client.waitFor(() => client.text().includes('tick 2'), 5000, 'three ticks');
      client.socket.resetAndDestroy();
      let closes: string[] = [];
      await until(async () => {
        closes = (await (await fetch(`${base()}/closes`)).json()) as string[];
        return closes.some((c) => c.startsWith('forever'));
      });
      expect(closes[0]).toBe('complete');
      expect(closes.filter((c) => c.startsWith('forever'))).toHaveLength(1);
    });
  });
}
