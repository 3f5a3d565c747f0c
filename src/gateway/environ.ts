// environ.ts: the one place where a request head becomes a TSGI environ
// (PEP 3333 §"environ Variables"), shared by both servers.
import type { Environ, ErrorStream, FileWrapperFactory, InputStream } from '../types.js';
import type { ProxyTrust } from './forwarded.js';

/** What stays the same for every request of a server. */
export interface EnvironBase {
  serverName: string;
  serverPort: string;
  errors: ErrorStream;
  multiprocess: boolean;
  fileWrapper: FileWrapperFactory;
}

const VERSION = Object.freeze([1, 0] as const);

// Header name (as sent) -> environ key, or null when the name is dropped.
// Bounded, so that a client sending random names cannot grow it without end.
const keyCache = new Map<string, string | null>();
const kKeyCacheMax = 2048;

/**
 * `Content-Type` -> `CONTENT_TYPE`, `X-Foo` -> `HTTP_X_FOO`; null for names
 * that contain `_`, which would collide with their `-` spelling (a proxy
 * that strips `X-User-Id` may pass `X_User_Id`).
 */
export function environKey(name: string): string | null {
  let key = keyCache.get(name);
  if (key !== undefined) return key;
  if (name.includes('_')) key = null;
  else {
    const upper = name.toUpperCase().replace(/-/g, '_');
    key = upper === 'CONTENT_TYPE' || upper === 'CONTENT_LENGTH' ? upper : 'HTTP_' + upper;
  }
  if (keyCache.size < kKeyCacheMax) keyCache.set(name, key);
  return key;
}

const kPercentRun = /(?:%[0-9A-Fa-f]{2})+/g;

/** Percent-decodes a path as UTF-8; sequences that are not valid UTF-8 are
 * left as they were sent. */
export function decodePath(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw.replace(kPercentRun, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/** Where the path of a request target starts: after the authority of an
 * absolute-form target (`http://host/p?q`, RFC 9112 §3.2.2); -1 when such a
 * target has no path. */
function pathStart(target: string): number {
  if (target.charCodeAt(0) === 47 /* / */ || target === '*') return 0;
  const scheme = target.indexOf('://');
  if (scheme <= 0) return 0;
  const slash = target.indexOf('/', scheme + 3);
  const q = target.indexOf('?', scheme + 3);
  return slash < 0 || (q >= 0 && q < slash) ? -1 : slash;
}

/**
 * Creates the environ of one request with every fixed key, in one literal,
 * so that every environ has the same hidden class up to its `HTTP_*` keys.
 * Headers are then added with `addHeader` and the environ completed with
 * `finishEnviron`.
 */
export function createEnviron(
  base: EnvironBase,
  method: string,
  target: string,
  protocol: string,
  remoteAddr: string,
  remotePort: string,
  input: InputStream,
): Environ {
  const start = pathStart(target);
  const q = target.indexOf('?', start < 0 ? 0 : start);
  const path = start < 0 ? '/' : q < 0 ? target.slice(start) : target.slice(start, q);
  return {
    REQUEST_METHOD: method,
    SCRIPT_NAME: '',
    PATH_INFO: decodePath(path),
    QUERY_STRING: q < 0 ? '' : target.slice(q + 1),
    REQUEST_URI: target,
    SERVER_NAME: base.serverName,
    SERVER_PORT: base.serverPort,
    SERVER_PROTOCOL: protocol,
    REMOTE_ADDR: remoteAddr,
    REMOTE_PORT: remotePort,
    'tsgi.version': VERSION,
    'tsgi.url_scheme': 'http',
    'tsgi.input': input,
    'tsgi.errors': base.errors,
    'tsgi.multithread': true,
    'tsgi.multiprocess': base.multiprocess,
    'tsgi.run_once': false,
    'tsgi.file_wrapper': base.fileWrapper,
  };
}

/** Adds one request header under its environ key (see `environKey`).
 * Repeated headers are joined with ", " (RFC 9110 §5.3), cookies with
 * "; " (RFC 6265 §5.4). */
export function addHeader(environ: Environ, key: string, value: string): void {
  const prior = environ[key];
  if (typeof prior === 'string') {
    environ[key] = prior + (key === 'HTTP_COOKIE' ? '; ' : ', ') + value;
  } else {
    environ[key] = value;
  }
}

/** Completes the environ once every header is in: SERVER_NAME is the Host
 * header's host, without its port; then, on a connection from a trusted
 * front-end (`trust` is its server's ProxyTrust, null for any other peer),
 * the forwarded headers (forwarded.ts). */
export function finishEnviron(environ: Environ, trust: ProxyTrust | null): Environ {
  const host = environ.HTTP_HOST;
  if (host) {
    if (host.charCodeAt(0) === 91 /* [ */) {
      const end = host.indexOf(']');
      environ.SERVER_NAME = end > 0 ? host.slice(1, end) : host;
    } else {
      const colon = host.indexOf(':');
      environ.SERVER_NAME = colon < 0 ? host : host.slice(0, colon);
    }
  }
  if (trust !== null) trust.apply(environ);
  return environ;
}

/** Builds the environ of one request from `rawHeaders`-style pairs (names
 * and values alternating, as sent). */
export function makeEnviron(
  base: EnvironBase,
  method: string,
  target: string,
  protocol: string,
  headers: readonly string[],
  remoteAddr: string,
  remotePort: string,
  input: InputStream,
  trust: ProxyTrust | null,
): Environ {
  const environ = createEnviron(base, method, target, protocol, remoteAddr, remotePort, input);
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const key = environKey(headers[i]!);
    if (key !== null) addHeader(environ, key, headers[i + 1]!);
  }
  return finishEnviron(environ, trust);
}
