// environ.mjs: shows the environ of each request, one `KEY = value` line per
// key in sorted order, like the demo_app of Python's wsgiref.
//
//   tsgi serve examples/environ.mjs
//   curl 'http://127.0.0.1:8000/some/path?x=1' -H 'X-Demo: yes'
import { inspect } from 'node:util';

/** Renders one value on one line: strings quoted (control characters
 * escaped, since headers come from the client), objects shallowly. */
function render(value) {
  return inspect(value, { depth: 0, breakLength: Infinity, compact: true });
}

/**
 * Lists the environ as text/plain.
 *
 * @example
 * // tsgi serve examples/environ.mjs
 */
export default function environApp(environ, startResponse) {
  const lines = Object.keys(environ)
    .sort()
    .map((key) => `${key} = ${render(environ[key])}\n`);
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return ['Hello, World!\n\n', ...lines];
}
