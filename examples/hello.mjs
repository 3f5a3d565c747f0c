// hello.mjs: the smallest TSGI application.
//
//   tsgi serve examples/hello.mjs
//   curl http://127.0.0.1:8000/

/**
 * Answers every request with a plain-text greeting.
 *
 * @example
 * // tsgi serve examples/hello.mjs --bind 127.0.0.1:8000
 */
export default function hello(environ, startResponse) {
  const body = 'Hello, World!\n';
  startResponse('200 OK', [
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', String(Buffer.byteLength(body))],
  ]);
  return [body];
}
