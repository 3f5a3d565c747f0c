// url-map.ts: urlMap({ '/api': api, '/': site }), mounting applications on
// path prefixes as PEP 3333 mounting does (wsgiref.util.shift_path_info,
// Paste's URLMap): the matched prefix moves from PATH_INFO to SCRIPT_NAME.
import type { Application } from '../types.js';

const kNotFound = 'Not Found\n';

/** `/api/` -> `/api`, `/` -> ``; must start with `/`. */
function normalise(prefix: string): string {
  if (typeof prefix !== 'string' || prefix.charCodeAt(0) !== 47 /* / */) {
    throw new TypeError(`urlMap: each prefix must start with "/", got ${JSON.stringify(prefix)}`);
  }
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 47) end--;
  return prefix.slice(0, end);
}

/**
 * An application that dispatches on the longest matching path prefix. A
 * prefix matches at `/` boundaries only (`/api` matches `/api` and
 * `/api/x`, not `/apix`); the matched part is appended to `SCRIPT_NAME` and
 * removed from `PATH_INFO` (which is then `""` or starts with `/`). No
 * match is a `404 Not Found`.
 *
 * @example
 * ```ts
 * import { urlMap } from 'tsgi/middleware';
 * const app = urlMap({ '/api': api, '/static': staticFiles('public'), '/': site });
 * ```
 */
export function urlMap(map: Record<string, Application>): Application {
  if (map === null || typeof map !== 'object') throw new TypeError('urlMap: expected an object of prefix -> application');
  const mounts: [string, Application][] = [];
  for (const [raw, app] of Object.entries(map)) {
    const prefix = normalise(raw);
    if (typeof app !== 'function') throw new TypeError(`urlMap: the application for ${JSON.stringify(raw)} must be a function`);
    if (mounts.some(([p]) => p === prefix)) throw new TypeError(`urlMap: ${JSON.stringify(raw)} is mapped twice`);
    mounts.push([prefix, app]);
  }
  // Longest first: the first match is the longest.
  mounts.sort((a, b) => b[0].length - a[0].length);
  return (environ, startResponse) => {
    const path = environ.PATH_INFO;
    for (const [prefix, app] of mounts) {
      if (prefix === '' || (path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47))) {
        if (prefix !== '') {
          environ.SCRIPT_NAME += prefix;
          environ.PATH_INFO = path.slice(prefix.length);
        }
        return app(environ, startResponse);
      }
    }
    startResponse('404 Not Found', [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Content-Length', String(kNotFound.length)],
    ]);
    return [kNotFound];
  };
}
