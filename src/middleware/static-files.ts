// static-files.ts: staticFiles(root, options), files under a directory
// through tsgi.file_wrapper (sendfile(2) on the native server), with
// validators (RFC 9110 §8.8, §13), single byte ranges (RFC 9110 §14) and a
// path resolution that cannot leave the root.
import { close, fstat, open, realpath } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { contentType } from 'mime-types';
import type { Application, Environ, Header, StartResponse } from '../types.js';

const openAsync = promisify(open);
const fstatAsync = promisify(fstat);
const closeAsync = promisify(close);
const realpathAsync = promisify(realpath);

/** Options of {@link staticFiles}. */
export interface StaticFilesOptions {
  /** Files tried, in order, for a directory (default `['index.html']`;
   * `[]` for none). */
  index?: string[];
  /** `Cache-Control: public, max-age=N` on every file (default: no
   * Cache-Control). */
  maxAge?: number;
  /** Serve names that start with a dot (default false: 404). */
  dotfiles?: boolean;
  /** Called instead of answering 404 or 405, so that the files can sit in
   * front of an application. */
  fallback?: Application;
}

const kText = 'text/plain; charset=utf-8';

function plain(startResponse: StartResponse, status: string, extra: Header[] = []): string[] {
  const body = status.slice(4) + '\n';
  startResponse(status, [['Content-Type', kText], ['Content-Length', String(body.length)], ...extra]);
  return [body];
}

/** The path segments of PATH_INFO, or a status when it is refused: 400 for
 * NUL, 404 for `..`, backslashes and (unless allowed) dot-files. PATH_INFO
 * is already percent-decoded, so `%2e%2e` and `%2f` arrive here as `..`
 * and `/`, and are judged as such. */
function segments(pathInfo: string, dotfiles: boolean): string[] | 400 | 404 {
  if (pathInfo.includes('\0')) return 400;
  const out: string[] = [];
  for (const seg of pathInfo.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..' || seg.includes('\\')) return 404;
    if (!dotfiles && seg.charCodeAt(0) === 46 /* . */) return 404;
    out.push(seg);
  }
  return out;
}

/** A strong validator from the file's identity: size and mtime (as nginx). */
function etagOf(size: number, mtimeMs: number): string {
  return `"${Math.floor(mtimeMs).toString(16)}-${size.toString(16)}"`;
}

/** If-None-Match (RFC 9110 §13.1.2): weak comparison; `*` matches. */
function noneMatch(header: string, etag: string): boolean {
  const bare = etag.replace(/^W\//, '');
  for (const tag of header.split(',')) {
    const t = tag.trim();
    if (t === '*' || t.replace(/^W\//, '') === bare) return true;
  }
  return false;
}

/** A single byte range (RFC 9110 §14.1.2) against `size`: `[start, end]`
 * inclusive, `'unsatisfiable'`, or null to ignore the header (malformed, or
 * several ranges, which we answer with the whole file). */
function parseRange(header: string, size: number): [number, number] | 'unsatisfiable' | null {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null;
  const [, first, last] = m;
  if (first === '' && last === '') return null;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return null;
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size - 1 : Number(last);
  return [start, Math.min(end, size - 1)];
}

/** `/a/b` as a URL path, for a redirect. */
function urlPath(environ: Environ): string {
  return encodeURI(environ.SCRIPT_NAME + environ.PATH_INFO).replace(/[?#]/g, (c) => (c === '?' ? '%3F' : '%23'));
}

/** Opens `path` if it is a regular file or a directory inside `rootReal`;
 * null when it does not exist or lies outside (a symlink pointing out). */
async function openInside(path: string, rootReal: string): Promise<{ fd: number; dir: boolean; size: number; mtimeMs: number } | null> {
  let real: string;
  try {
    real = await realpathAsync(path);
  } catch {
    return null;
  }
  if (real !== rootReal && !real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep)) return null;
  let fd: number;
  try {
    fd = await openAsync(real, 'r');
  } catch {
    return null;
  }
  try {
    const st = await fstatAsync(fd);
    if (!st.isFile() && !st.isDirectory()) {
      await closeAsync(fd);
      return null;
    }
    return { fd, dir: st.isDirectory(), size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    await closeAsync(fd).catch(() => {});
    return null;
  }
}

/**
 * Serves the files under `root` for GET and HEAD, on PATH_INFO (so it can
 * be mounted with urlMap). The body is a `tsgi.file_wrapper` (sendfile on
 * the native server). Sends Content-Type (from the extension, by the
 * `mime-types` table), Content-Length, Last-Modified, a strong ETag and
 * Accept-Ranges; answers If-None-Match and If-Modified-Since with 304, a
 * single `Range` with 206 (If-Range honoured) or 416, a directory with its
 * index file (a redirect adds the trailing slash first). A path can never
 * leave `root`: `..` segments, NUL, and files whose real path (symlinks
 * resolved) is outside the root are refused; absolute paths and encoded
 * slashes are just more segments under the root.
 *
 * @example
 * ```ts
 * import { staticFiles, urlMap } from 'tsgi/middleware';
 * const app = urlMap({ '/static': staticFiles('./public', { maxAge: 3600 }), '/': site });
 * ```
 */
export function staticFiles(root: string, options: StaticFilesOptions = {}): Application {
  if (typeof root !== 'string' || root === '') throw new TypeError('staticFiles: root must be a directory path');
  const rootPath = resolve(root);
  const index = options.index ?? ['index.html'];
  const dotfiles = options.dotfiles ?? false;
  const fallback = options.fallback;
  const maxAge = options.maxAge;
  if (maxAge !== undefined && (!Number.isSafeInteger(maxAge) || maxAge < 0)) {
    throw new RangeError(`staticFiles: maxAge must be a non-negative integer of seconds, got ${maxAge}`);
  }
  const cacheControl: Header[] = maxAge === undefined ? [] : [['Cache-Control', `public, max-age=${maxAge}`]];
  let rootReal: Promise<string> | null = null;

  return async (environ, startResponse) => {
    const method = environ.REQUEST_METHOD;
    if (method !== 'GET' && method !== 'HEAD') {
      if (fallback) return fallback(environ, startResponse);
      return plain(startResponse, '405 Method Not Allowed', [['Allow', 'GET, HEAD']]);
    }
    const segs = segments(environ.PATH_INFO, dotfiles);
    if (segs === 400) return plain(startResponse, '400 Bad Request');
    const notFound = () => (fallback ? fallback(environ, startResponse) : plain(startResponse, '404 Not Found'));
    if (segs === 404) return notFound();
    rootReal ??= realpathAsync(rootPath);
    let base: string;
    try {
      base = await rootReal;
    } catch {
      rootReal = null;
      return notFound();
    }
    let file = await openInside(join(base, ...segs), base);
    if (file === null) return notFound();
    let name = segs[segs.length - 1] ?? '';
    if (file.dir) {
      await closeAsync(file.fd);
      if (!environ.PATH_INFO.endsWith('/')) {
        const query = environ.QUERY_STRING;
        const location = urlPath(environ) + '/' + (query === '' ? '' : '?' + query);
        return plain(startResponse, '301 Moved Permanently', [['Location', location]]);
      }
      file = null;
      for (const candidate of index) {
        const found = await openInside(join(base, ...segs, candidate), base);
        if (found === null) continue;
        if (found.dir) {
          await closeAsync(found.fd);
          continue;
        }
        file = found;
        name = candidate;
        break;
      }
      if (file === null) return notFound();
    }
    const { fd, size, mtimeMs } = file;
    const etag = etagOf(size, mtimeMs);
    const lastModified = new Date(Math.floor(mtimeMs / 1000) * 1000).toUTCString();
    const validators: Header[] = [['ETag', etag], ['Last-Modified', lastModified], ...cacheControl];

    // RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only
    // without it.
    const inm = environ.HTTP_IF_NONE_MATCH;
    const ims = environ.HTTP_IF_MODIFIED_SINCE;
    let notModified = false;
    if (inm !== undefined) notModified = noneMatch(inm, etag);
    else if (ims !== undefined) {
      const since = Date.parse(ims);
      notModified = !Number.isNaN(since) && Math.floor(mtimeMs / 1000) * 1000 <= since;
    }
    if (notModified) {
      await closeAsync(fd);
      startResponse('304 Not Modified', validators);
      return [];
    }

    const type = contentType(extname(name)) || 'application/octet-stream';
    const headers: Header[] = [['Content-Type', type], ['Accept-Ranges', 'bytes'], ...validators];
    let status = '200 OK';
    let offset = 0;
    let length = size;
    const rangeHeader = environ.HTTP_RANGE;
    if (rangeHeader !== undefined && method === 'GET') {
      const ifRange = environ.HTTP_IF_RANGE;
      const applies = ifRange === undefined || ifRange.trim() === etag || ifRange.trim() === lastModified;
      const range = applies ? parseRange(rangeHeader, size) : null;
      if (range === 'unsatisfiable') {
        await closeAsync(fd);
        return plain(startResponse, '416 Range Not Satisfiable', [['Content-Range', `bytes */${size}`], ...validators]);
      }
      if (range !== null) {
        status = '206 Partial Content';
        offset = range[0];
        length = range[1] - range[0] + 1;
        headers.push(['Content-Range', `bytes ${range[0]}-${range[1]}/${size}`]);
      }
    }
    headers.push(['Content-Length', String(length)]);
    startResponse(status, headers);
    if (method === 'HEAD' || length === 0) {
      await closeAsync(fd);
      return [];
    }
    // The wrapper owns fd from here and closes it.
    return environ['tsgi.file_wrapper'](fd, { offset, length });
  };
}
