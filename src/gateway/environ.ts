// environ.ts: the one place where a request head becomes a TSGI environ
// (PEP 3333 §"environ Variables"), shared by both servers.
import type { Environ, ErrorStream, FileWrapperFactory, InputStream } from '../types.js';

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

/** Splits a request target into [path, query]; absolute-form targets
 * (`http://host/p?q`, RFC 9112 §3.2.2) give their path. */
export function splitTarget(target: string): [string, string] {
  let start = 0;
  if (target.charCodeAt(0) !== 47 /* / */ && target !== '*') {
    const scheme = target.indexOf('://');
    if (scheme > 0) {
      const slash = target.indexOf('/', scheme + 3);
      const q = target.indexOf('?', scheme + 3);
      if (slash < 0 || (q >= 0 && q < slash)) {
        return ['/', q >= 0 ? target.slice(q + 1) : ''];
      }
      start = slash;
    }
  }
  const q = target.indexOf('?', start);
  if (q < 0) return [target.slice(start), ''];
  return [target.slice(start, q), target.slice(q + 1)];
}

/** Host header -> SERVER_NAME: the host without its port. */
function hostName(host: string): string {
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']');
    return end > 0 ? host.slice(1, end) : host;
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/**
 * Builds the environ of one request. `headers` alternates names and values
 * as sent (`rawHeaders` order). The fixed keys are created in one literal so
 * every environ has the same hidden class up to its `HTTP_*` keys.
 */
export function makeEnviron(
  base: EnvironBase,
  method: string,
  target: string,
  protocol: string,
  headers: readonly string[],
  remoteAddr: string,
  remotePort: number,
  input: InputStream,
): Environ {
  const [path, query] = splitTarget(target);
  const environ: Environ = {
    REQUEST_METHOD: method,
    SCRIPT_NAME: '',
    PATH_INFO: decodePath(path),
    QUERY_STRING: query,
    REQUEST_URI: target,
    SERVER_NAME: base.serverName,
    SERVER_PORT: base.serverPort,
    SERVER_PROTOCOL: protocol,
    REMOTE_ADDR: remoteAddr,
    REMOTE_PORT: String(remotePort),
    'tsgi.version': VERSION,
    'tsgi.url_scheme': 'http',
    'tsgi.input': input,
    'tsgi.errors': base.errors,
    'tsgi.multithread': true,
    'tsgi.multiprocess': base.multiprocess,
    'tsgi.run_once': false,
    'tsgi.file_wrapper': base.fileWrapper,
  };
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const key = environKey(headers[i]!);
    if (key === null) continue;
    const value = headers[i + 1]!;
    const prior = environ[key];
    if (typeof prior === 'string') {
      // RFC 9110 §5.3 list join; cookies are joined with "; " (RFC 6265 §5.4).
      environ[key] = prior + (key === 'HTTP_COOKIE' ? '; ' : ', ') + value;
    } else {
      environ[key] = value;
    }
  }
  const host = environ.HTTP_HOST;
  if (host) environ.SERVER_NAME = hostName(host);
  return environ;
}
