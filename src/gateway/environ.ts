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

// Below this length a string of the head is searched in a loop: cheaper
// than the call into String.prototype.indexOf for the short paths and
// Host values of most requests.
const kShortScan = 64;

/** `text.indexOf(String.fromCharCode(code), from)`. */
function indexOfCode(text: string, code: number, from: number): number {
  const n = text.length;
  if (n - from > kShortScan) return text.indexOf(String.fromCharCode(code), from);
  for (let i = from; i < n; i++) if (text.charCodeAt(i) === code) return i;
  return -1;
}

/** Percent-decodes a path as UTF-8; sequences that are not valid UTF-8 are
 * left as they were sent. */
export function decodePath(raw: string): string {
  if (indexOfCode(raw, 0x25 /* % */, 0) < 0) return raw;
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

/** Where the query of a request target starts (its "?"), or -1; `start`
 * is pathStart's. */
function queryAt(target: string, start: number): number {
  return indexOfCode(target, 0x3f /* ? */, start < 0 ? 0 : start);
}

/** PATH_INFO (percent-decoded) of a request target; `start` and `q` are
 * pathStart's and queryAt's. */
function pathInfo(target: string, start: number, q: number): string {
  if (start < 0) return '/';
  if (q < 0) return decodePath(start === 0 ? target : target.slice(start));
  return decodePath(target.slice(start, q));
}

/** QUERY_STRING of a request target; `q` is queryAt's. */
function queryString(target: string, q: number): string {
  return q < 0 ? '' : target.slice(q + 1);
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
  const q = queryAt(target, start);
  return {
    REQUEST_METHOD: method,
    SCRIPT_NAME: '',
    PATH_INFO: pathInfo(target, start, q),
    QUERY_STRING: queryString(target, q),
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

// The last Host value hostName() read, and its host: clients send the same
// Host on every request.
let lastHost = '';
let lastHostName = '';

/** SERVER_NAME for a Host header value: its host, without the port;
 * `fallback` (the bound address) when it is empty. */
function hostName(host: string | undefined, fallback: string): string {
  if (!host) return fallback;
  if (host === lastHost) return lastHostName;
  lastHostName = hostOf(host);
  lastHost = host;
  return lastHostName;
}

function hostOf(host: string): string {
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']');
    return end > 0 ? host.slice(1, end) : host;
  }
  const colon = indexOfCode(host, 0x3a /* : */, 0);
  return colon < 0 ? host : host.slice(0, colon);
}

/** Completes the environ once every header is in: SERVER_NAME is the Host
 * header's host, without its port; then, on a connection from a trusted
 * front-end (`trust` is its server's ProxyTrust, null for any other peer),
 * the forwarded headers (forwarded.ts). */
export function finishEnviron(environ: Environ, trust: ProxyTrust | null): Environ {
  environ.SERVER_NAME = hostName(environ.HTTP_HOST, environ.SERVER_NAME);
  if (trust !== null) trust.apply(environ);
  return environ;
}

// ---- Header shapes -----------------------------------------------------------
//
// Adding headers one keyed store at a time gives every sequence of header
// names its own chain of hidden classes, and every store and load of an
// `HTTP_*` key becomes megamorphic. Instead, each sequence of header names
// a server meets is a path in a trie of HeaderShape nodes; a node knows the
// environ keys of its sequence and where each header's value goes, and a
// shape seen more than once gets a function that makes the whole environ
// in one object literal (one hidden class per sequence, every key a plain
// data property). The values are the request's own: nothing but the names
// is shared between requests. The trie and the number of compiled shapes
// are bounded; past them a request takes the generic path, whose environ
// is the same object, key for key and in the same order.

/** Makes a server's own object of a request's headers from its names and
 * values alternating (the reference server's `req.headers`, node/request.ts). */
export type HeadersMaker = (raw: readonly string[]) => Record<string, string | string[]>;

/** Makes the environ of one header shape (the values are `values[0..n)`). */
type EnvironMaker = (
  base: EnvironBase,
  method: string,
  path: string,
  query: string,
  target: string,
  serverName: string,
  serverPort: string,
  protocol: string,
  remoteAddr: string,
  remotePort: string,
  input: InputStream,
  values: readonly string[],
) => Environ;

// Bounds: a client sending random names cannot grow the trie without end,
// nor make the server compile a function per request.
const kMaxShapeNodes = 4096;
const kMaxCompiledShapes = 256;
// A sequence is compiled the second time a request ends on it.
const kCompileAfter = 2;
let shapeNodes = 0;
let compiledShapes = 0;

// The keys of every environ, in the order of createEnviron's literal (the
// compiled makers write the same literal).
const kFixedKeys: readonly (readonly [string, string])[] = [
  ['REQUEST_METHOD', 'm'],
  ['SCRIPT_NAME', "''"],
  ['PATH_INFO', 'p'],
  ['QUERY_STRING', 'q'],
  ['REQUEST_URI', 't'],
  ['SERVER_NAME', 'sn'],
  ['SERVER_PORT', 'sp'],
  ['SERVER_PROTOCOL', 'pr'],
  ['REMOTE_ADDR', 'ra'],
  ['REMOTE_PORT', 'rp'],
  ['tsgi.version', 'V'],
  ["tsgi.url_scheme", "'http'"],
  ['tsgi.input', 'i'],
  ['tsgi.errors', 'b.errors'],
  ['tsgi.multithread', 'true'],
  ['tsgi.multiprocess', 'b.multiprocess'],
  ['tsgi.run_once', 'false'],
  ['tsgi.file_wrapper', 'b.fileWrapper'],
];

/** The request fields a server checks itself before the application sees
 * the request (the node server's strict.ts): told apart by their environ
 * key, so in any case, once per trie node. */
export const HeadField = Object.freeze({
  Other: 0,
  Host: 1,
  TransferEncoding: 2,
  ContentLength: 3,
  Connection: 4,
} as const);
export type HeadField = (typeof HeadField)[keyof typeof HeadField];

const kHeadFields: ReadonlyMap<string, HeadField> = new Map([
  ['HTTP_HOST', HeadField.Host],
  ['HTTP_TRANSFER_ENCODING', HeadField.TransferEncoding],
  ['CONTENT_LENGTH', HeadField.ContentLength],
  ['HTTP_CONNECTION', HeadField.Connection],
]);
const kNoChecked: readonly number[] = [];

/**
 * One sequence of request header names (a path in the trie from
 * `rootShape`): its environ keys, and where the value of its last header
 * goes. Servers walk it with `known()` (header ids, native) or `named()`
 * (names as sent), put each value at `slot` (joining it to what is there
 * with `join` when the name repeats an earlier one), then call `make()`.
 */
export class HeaderShape {
  /** The environ keys of the sequence, each once, in first-seen order. */
  readonly keys: readonly string[];
  /** Index in `keys` of this node's header, or -1: the name is dropped. */
  readonly slot: number;
  /** The separator when this header repeats an earlier key, else null. */
  readonly join: string | null;
  /** Index in `keys` of HTTP_HOST, or -1. */
  readonly hostSlot: number;
  /** How many headers the sequence has. */
  readonly depth: number;
  /** Every header of the sequence has a key of its own, in order (no
   * name repeated or dropped): the value of key i is the i-th header's,
   * read from the request's own pairs (walkHeaders). */
  readonly direct: boolean;
  /** The HeadFields of the sequence: its position and its HeadField, in
   * pairs, in order. */
  readonly checked: readonly number[];
  /** The reference server's maker of `req.headers` for this sequence
   * (node/request.ts), null when it has none; undefined until asked. */
  headersMaker: HeadersMaker | null | undefined = undefined;
  private byId: (HeaderShape | undefined)[] | null = null;
  private byName: Map<string, HeaderShape> | null = null;
  /** The first name seen after this one, and where it leads: compared
   * before the map, since a client sends its fields in the same order
   * every time (and a name fresh from the parser has no hash yet). */
  private firstName: string | null = null;
  private firstNext: HeaderShape | null = null;
  private hits = 0;
  private maker: EnvironMaker | null = null;
  /** The maker that reads the values straight from rawHeaders-style
   * pairs (`values[2 * i + 1]`). */
  private rawMaker: EnvironMaker | null = null;

  constructor(keys: readonly string[], slot: number, join: string | null, parent: HeaderShape | null, key: string | null) {
    this.keys = keys;
    this.slot = slot;
    this.join = join;
    this.hostSlot = keys.indexOf('HTTP_HOST');
    if (parent === null) {
      this.depth = 0;
      this.direct = true;
      this.checked = kNoChecked;
    } else {
      this.depth = parent.depth + 1;
      this.direct = parent.direct && slot === parent.depth && join === null;
      const field = key === null ? HeadField.Other : (kHeadFields.get(key) ?? HeadField.Other);
      this.checked = field === HeadField.Other ? parent.checked : [...parent.checked, parent.depth, field];
    }
  }

  /** The shape after one more header with known-header id `id`, whose
   * environ key is `keyOf[id]`; null when the trie is full. */
  known(id: number, keyOf: readonly (string | null)[]): HeaderShape | null {
    return this.byId?.[id] ?? this.addKnown(id, keyOf[id] ?? null);
  }

  /** The shape after one more header named `name` (as sent); null when
   * the trie is full. */
  named(name: string): HeaderShape | null {
    if (name === this.firstName) return this.firstNext;
    return this.byName?.get(name) ?? this.addNamed(name);
  }

  private addKnown(id: number, key: string | null): HeaderShape | null {
    const next = this.extend(key);
    if (next !== null) (this.byId ??= [])[id] = next;
    return next;
  }

  private addNamed(name: string): HeaderShape | null {
    const next = this.extend(environKey(name));
    if (next === null) return null;
    if (this.firstName === null) {
      this.firstName = name;
      this.firstNext = next;
    } else {
      (this.byName ??= new Map()).set(name, next);
    }
    return next;
  }

  private extend(key: string | null): HeaderShape | null {
    if (shapeNodes >= kMaxShapeNodes) return null;
    shapeNodes++;
    if (key === null) return new HeaderShape(this.keys, -1, null, this, null);
    const slot = this.keys.indexOf(key);
    if (slot >= 0) return new HeaderShape(this.keys, slot, key === 'HTTP_COOKIE' ? '; ' : ', ', this, key);
    return new HeaderShape([...this.keys, key], this.keys.length, null, this, key);
  }

  /** The environ of a request whose header values (joined) are
   * `values[0..keys.length)`; with `stride` 2, `values` are the request's
   * names and values alternating, one header per key (no name repeated
   * or dropped), and the value of key i is `values[2 * i + 1]`. */
  make(
    base: EnvironBase,
    method: string,
    target: string,
    protocol: string,
    remoteAddr: string,
    remotePort: string,
    input: InputStream,
    values: readonly string[],
    serverPort: string = base.serverPort,
    stride: 1 | 2 = 1,
  ): Environ {
    const at = stride - 1;
    const h = this.hostSlot;
    const serverName = hostName(h < 0 ? undefined : values[h * stride + at], base.serverName);
    let maker = stride === 1 ? this.maker : this.rawMaker;
    if (maker === null) {
      if (++this.hits < kCompileAfter || compiledShapes >= kMaxCompiledShapes) {
        const environ = createEnviron(base, method, target, protocol, remoteAddr, remotePort, input);
        const keys = this.keys;
        for (let i = 0; i < keys.length; i++) environ[keys[i]!] = values[i * stride + at];
        environ.SERVER_NAME = serverName;
        environ.SERVER_PORT = serverPort;
        return environ;
      }
      compiledShapes++;
      maker = compileMaker(this.keys, stride);
      if (stride === 1) this.maker = maker;
      else this.rawMaker = maker;
    }
    const start = pathStart(target);
    const q = queryAt(target, start);
    return maker(base, method, pathInfo(target, start, q), queryString(target, q), target, serverName, serverPort, protocol, remoteAddr, remotePort, input, values);
  }
}

/** The function that writes the environ literal of `keys`. The keys are
 * written as JSON strings (a header name is a token, but a token may hold
 * quotes); the values are arguments, nothing of a request is in the code. */
function compileMaker(keys: readonly string[], stride: 1 | 2): EnvironMaker {
  const fields = kFixedKeys.map(([k, v]) => `${JSON.stringify(k)}: ${v}`);
  keys.forEach((k, i) => fields.push(`${JSON.stringify(k)}: v[${i * stride + stride - 1}]`));
  const body = `return function (b, m, p, q, t, sn, sp, pr, ra, rp, i, v) {\nreturn {\n${fields.join(',\n')}\n};\n};`;
  return (new Function('V', body) as (version: typeof VERSION) => EnvironMaker)(VERSION);
}

/** The shape of a request without headers: where every walk starts. */
export const rootShape = new HeaderShape([], -1, null, null, null);

/** `values` of a walk: one array per thread, reused by every request (a
 * maker copies what it needs). */
export const shapeValues: string[] = [];

/**
 * Walks the names of `headers` (names and values alternating, as sent) in
 * the trie: the shape of the sequence, null when the trie is full. The
 * values of a direct shape stay where they are; the others are put in
 * `shapeValues` (joined where a name repeats).
 */
export function walkHeaders(headers: readonly string[]): HeaderShape | null {
  let shape: HeaderShape = rootShape;
  const values = shapeValues;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const next = shape.named(headers[i]!);
    if (next === null) return null;
    if (!next.direct) {
      // The first header that is not: the values so far are copied.
      if (shape.direct) for (let j = 0; j < shape.depth; j++) values[j] = headers[2 * j + 1]!;
      const slot = next.slot;
      if (slot >= 0) values[slot] = next.join === null ? headers[i + 1]! : values[slot] + next.join + headers[i + 1]!;
    }
    shape = next;
  }
  return shape;
}

/** The environ of a request whose `headers` walkHeaders() walked to
 * `shape`; null (the trie is full): one keyed store per header. */
export function environOf(
  shape: HeaderShape | null,
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
  if (shape !== null) {
    const environ = shape.direct
      ? shape.make(base, method, target, protocol, remoteAddr, remotePort, input, headers, base.serverPort, 2)
      : shape.make(base, method, target, protocol, remoteAddr, remotePort, input, shapeValues);
    if (trust !== null) trust.apply(environ);
    return environ;
  }
  const environ = createEnviron(base, method, target, protocol, remoteAddr, remotePort, input);
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const key = environKey(headers[i]!);
    if (key !== null) addHeader(environ, key, headers[i + 1]!);
  }
  return finishEnviron(environ, trust);
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
  return environOf(walkHeaders(headers), base, method, target, protocol, headers, remoteAddr, remotePort, input, trust);
}
