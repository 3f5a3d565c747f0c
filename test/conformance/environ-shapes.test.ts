// environ-shapes.test.ts: the environ is the same plain object whichever
// way the server built it: generically (a header sequence seen for the
// first time, or after the shape trie of gateway/environ.ts is full), or by
// the function compiled for a sequence seen before. Each request's environ
// is compared with what the headers it sent imply, key by key and in order.
import { expect, it } from 'vitest';
import type { Application, Environ } from '../../src/index.js';
import { buildRequest, RawClient, type HeaderList } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const kFixed = [
  'REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_URI', 'SERVER_NAME', 'SERVER_PORT',
  'SERVER_PROTOCOL', 'REMOTE_ADDR', 'REMOTE_PORT', 'tsgi.version', 'tsgi.url_scheme', 'tsgi.input', 'tsgi.errors',
  'tsgi.multithread', 'tsgi.multiprocess', 'tsgi.run_once', 'tsgi.file_wrapper',
];

/** The header keys and values `headers` must give, computed apart from the
 * server: CGI names, `_` names dropped, repeats joined in first-seen order. */
function expected(headers: HeaderList): [string, string][] {
  const out = new Map<string, string>();
  for (const [name, value] of headers) {
    if (name.includes('_')) continue;
    const upper = name.toUpperCase().replace(/-/g, '_');
    const key = upper === 'CONTENT_TYPE' || upper === 'CONTENT_LENGTH' ? upper : `HTTP_${upper}`;
    const prior = out.get(key);
    out.set(key, prior === undefined ? value : prior + (key === 'HTTP_COOKIE' ? '; ' : ', ') + value);
  }
  return [...out];
}

interface Seen {
  keys: string[];
  headers: [string, string][];
  serverName: string;
  plain: string[];
}

/** What the application observed of one environ: its keys, its header
 * entries, and every way it is not a plain object (empty when it is). */
function observe(environ: Environ): Seen {
  const keys = Object.keys(environ);
  const plain: string[] = [];
  if (Object.getPrototypeOf(environ) !== Object.prototype) plain.push('prototype');
  for (const key of Reflect.ownKeys(environ)) {
    const d = Object.getOwnPropertyDescriptor(environ, key)!;
    if (!('value' in d) || !d.writable || !d.enumerable || !d.configurable) plain.push(`descriptor of ${String(key)}`);
  }
  const copy = { ...environ };
  if (JSON.stringify(Object.keys(copy)) !== JSON.stringify(keys)) plain.push('spread');
  if (!('REQUEST_METHOD' in environ) || 'HTTP_NOT_SENT' in environ) plain.push('in');
  const json = JSON.parse(JSON.stringify(environ)) as Record<string, unknown>;
  if (json.PATH_INFO !== environ.PATH_INFO) plain.push('JSON.stringify');
  const headers = keys
    .filter((k) => k.startsWith('HTTP_') || k === 'CONTENT_TYPE' || k === 'CONTENT_LENGTH')
    .map((k) => [k, environ[k] as string] as [string, string]);
  const serverName = environ.SERVER_NAME;
  // Writing, adding and deleting keys behaves as on any object.
  environ.PATH_INFO = '/changed';
  environ['x.added'] = 1;
  delete environ.QUERY_STRING;
  if (environ.PATH_INFO !== '/changed' || environ['x.added'] !== 1 || 'QUERY_STRING' in environ) plain.push('write');
  if (Object.keys(environ).at(-1) !== 'x.added') plain.push('order after write');
  return { keys, headers, serverName, plain };
}

function recorder(): { app: Application; seen: Seen[] } {
  const seen: Seen[] = [];
  const app: Application = (environ, startResponse) => {
    seen.push(observe(environ));
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return ['ok'];
  };
  return { app, seen };
}

/** Sends each head on one connection, one after another. */
async function send(port: number, requests: HeaderList[]): Promise<void> {
  const client = await RawClient.connect(port);
  for (const headers of requests) {
    await client.send(buildRequest('GET', '/p?q=1', { headers, host: false }), 'GET');
  }
  const responses = await client.responses(requests.length);
  client.destroy();
  for (const r of responses) expect(r.status).toBe(200);
}

forEachServer((kind) => {
  it('gives the same environ for a header sequence seen once, twice and many times', async () => {
    const { app, seen } = recorder();
    const s = await start(kind, app);
    // Known names in odd cases, unknown names, a dropped name, repeats of
    // a plain header and of Cookie; values change from request to request.
    const sequence = (n: number): HeaderList => [
      ['HOST', `example.test:${8000 + n}`],
      ['user-agent', `agent ${n}`],
      ['X-Custom-One', `one ${n}`],
      ['Accept', 'text/html'],
      ['X_Dropped', 'never seen'],
      ['Cookie', `a=${n}`],
      ['accept', `*/*;q=0.${n}`],
      ['Content-Type', 'text/plain'],
      ['cookie', 'b=2'],
    ];
    // Another sequence of the same names in another order is another shape.
    const other = (n: number): HeaderList => [
      ['Cookie', `c=${n}`],
      ['Host', `[::1]:${n}`],
      ['X-Custom-One', `x ${n}`],
    ];
    const requests: HeaderList[] = [];
    for (let n = 0; n < 6; n++) requests.push(sequence(n), other(n));
    await send(s.port, requests);
    expect(seen).toHaveLength(requests.length);
    seen.forEach((got, i) => {
      const want = expected(requests[i]!);
      expect(got.plain, `request ${i}`).toEqual([]);
      expect(got.keys, `request ${i}`).toEqual([...kFixed, ...want.map(([k]) => k)]);
      expect(got.headers, `request ${i}`).toEqual(want);
      const host = requests[i]!.find(([k]) => k.toLowerCase() === 'host')![1];
      expect(got.serverName).toBe(host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':')[0]);
    });
  });

  it('gives the same environ once more header sequences arrived than it keeps shapes for', async () => {
    const { app, seen } = recorder();
    const s = await start(kind, app);
    // 60 requests of 90 names never seen before: 5,400 sequence steps,
    // more than the shape trie holds (4,096), so the later requests are
    // built without it; the first two repeat to be compiled, too.
    const requests: HeaderList[] = [];
    for (let r = 0; r < 60; r++) {
      const headers: HeaderList = [['Host', '127.0.0.1']];
      for (let h = 0; h < 90; h++) headers.push([`X-Shape-${r}-${h}`, `v${r}.${h}`]);
      requests.push(headers);
    }
    requests.push(requests[0]!, requests[0]!, requests[1]!);
    for (let i = 0; i < requests.length; i += 10) await send(s.port, requests.slice(i, i + 10));
    expect(seen).toHaveLength(requests.length);
    seen.forEach((got, i) => {
      expect(got.plain, `request ${i}`).toEqual([]);
      expect(got.headers, `request ${i}`).toEqual(expected(requests[i]!));
    });
  });
  it('names each header right, known names in any case and names one byte away from them', async () => {
    const { app, seen } = recorder();
    const s = await start(kind, app);
    // Names the native server turns into ids (native/known_headers.h
    // compares them 4 and 8 bytes at a time), and for each a name that
    // differs from it in one byte at the start, the middle or the end,
    // which must not be taken for it.
    const names = [
      'Host', 'User-Agent', 'Accept', 'Accept-Language', 'Accept-Encoding', 'Connection', 'Cookie', 'Referer',
      'Cache-Control', 'Content-Type', 'Upgrade-Insecure-Requests', 'Sec-Fetch-Dest', 'Sec-Fetch-Mode',
      'Sec-Fetch-Site', 'Sec-Fetch-User', 'Origin', 'Pragma', 'Authorization', 'If-None-Match', 'If-Modified-Since',
      'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'X-Real-IP', 'X-Request-ID', 'Forwarded', 'Via',
      'DNT', 'TE', 'Priority', 'Sec-CH-UA', 'Sec-CH-UA-Mobile', 'Sec-CH-UA-Platform', 'Range', 'Keep-Alive',
    ];
    const swap = (name: string, i: number): string =>
      name.slice(0, i) + (name[i] === 'q' || name[i] === 'Q' ? 'z' : 'q') + name.slice(i + 1);
    const known: HeaderList = [];
    const upper: HeaderList = [];
    // (Each list of near names has a Host of its own: HTTP/1.1 needs one.)
    const near: HeaderList[] = [0, 1, 2].map((): HeaderList => [['Host', '127.0.0.1']]);
    names.forEach((name, i) => {
      known.push([name, `k${i}`]);
      upper.push([name.toUpperCase(), `u${i}`]);
      [0, name.length >> 1, name.length - 1].forEach((at, j) => near[j]!.push([swap(name, at), `n${i}.${j}`]));
    });
    const requests = [known, upper, ...near];
    await send(s.port, requests);
    expect(seen).toHaveLength(requests.length);
    seen.forEach((got, i) => expect(got.headers, `request ${i}`).toEqual(expected(requests[i]!)));
  });
});
