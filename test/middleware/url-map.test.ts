// url-map.test.ts: urlMap and compose on both servers.
import { expect, it } from 'vitest';
import { compose, urlMap } from '../../src/middleware/index.js';
import type { Application, Middleware } from '../../src/types.js';
import { buildRequest, header, request } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const show = (name: string): Application => (environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [`${name} script=${JSON.stringify(environ.SCRIPT_NAME)} path=${JSON.stringify(environ.PATH_INFO)}`];
};

const tag = (label: string): Middleware => (app) => (environ, startResponse) =>
  app(environ, (status, headers, excInfo) => startResponse(status, [...headers, ['X-Order', label]], excInfo));

async function body(port: number, path: string): Promise<string> {
  const { responses } = await request(port, buildRequest('GET', path));
  return `${responses[0]!.status} ${responses[0]!.body.toString()}`;
}

forEachServer((kind) => {
  it('dispatches on the longest prefix at / boundaries and moves it to SCRIPT_NAME', async () => {
    const app = urlMap({
      '/api': show('api'),
      '/api/v2/': show('v2'),
      '/': show('site'),
    });
    const { port } = await start(kind, app);
    expect(await body(port, '/api')).toBe('200 api script="/api" path=""');
    expect(await body(port, '/api/users?x=1')).toBe('200 api script="/api" path="/users"');
    expect(await body(port, '/api/v2/x')).toBe('200 v2 script="/api/v2" path="/x"');
    expect(await body(port, '/api/v2')).toBe('200 v2 script="/api/v2" path=""');
    expect(await body(port, '/apix')).toBe('200 site script="" path="/apix"');
    expect(await body(port, '/')).toBe('200 site script="" path="/"');
  });

  it('answers 404 when nothing matches, and nests (SCRIPT_NAME accumulates)', async () => {
    const inner = urlMap({ '/b': show('inner') });
    const { port } = await start(kind, urlMap({ '/a': inner }));
    expect(await body(port, '/a/b/c')).toBe('200 inner script="/a/b" path="/c"');
    expect(await body(port, '/a/x')).toBe('404 Not Found\n');
    expect(await body(port, '/z')).toBe('404 Not Found\n');
  });

  it('composes middleware with the first one outermost', async () => {
    const { port } = await start(kind, compose(tag('outer'), tag('inner'))(show('app')));
    const { responses } = await request(port, buildRequest('GET', '/'));
    // The inner one adds its header first; the outer one sees it and adds after.
    expect(responses[0]!.headers.filter(([n]) => n === 'X-Order').map(([, v]) => v)).toEqual(['inner', 'outer']);
    expect(header(responses[0]!, 'content-type')).toBe('text/plain');
  });
});

it('refuses bad maps and bad middleware with clear errors', () => {
  expect(() => urlMap({ api: show('x') })).toThrow('urlMap: each prefix must start with "/", got "api"');
  expect(() => urlMap({ '/a': show('x'), '/a/': show('y') })).toThrow('"/a/" is mapped twice');
  expect(() => compose(tag('a'), 3 as unknown as Middleware)).toThrow('compose: middleware 1 must be a function');
  expect(compose()(show('x'))).toBeTypeOf('function');
});
