// request.ts: the reference server's IncomingMessage, whose `headers`
// object is made in one object literal per header shape.
//
// node:http reads `req.headers.expect` on every HTTP/1.1 request, and its
// `headers` getter builds the whole object from rawHeaders one field at a
// time (matchKnownFields, a lower-casing and a keyed store per field): a
// sixth of the instructions of a browser-like request. The server walks
// the names in the shape trie anyway (gateway/environ.ts); for a shape
// whose names are all distinct, the object node:http would build is a
// literal of the lower-cased names in order, with the values as sent (and
// Set-Cookie as an array of one). Every other shape, and any Node.js whose
// getter builds something else (checked at load), gets node:http's own.
import { IncomingMessage, type IncomingHttpHeaders } from 'node:http';
import { walkHeaders, type HeaderShape, type HeadersMaker } from '../gateway/environ.js';

const nodeGetter = Object.getOwnPropertyDescriptor(IncomingMessage.prototype, 'headers')?.get as
  | ((this: IncomingMessage) => IncomingHttpHeaders)
  | undefined;

// Bounds: a client sending random names cannot make the server compile a
// function per request.
const kMaxMakers = 256;
let makers = 0;

/** The function that writes the headers literal of the names of `raw`
 * (names and values alternating). Names are written as JSON strings; the
 * values are read from the argument, nothing of a request is in the code. */
function compile(raw: readonly string[]): HeadersMaker {
  const fields: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    fields.push(name === 'set-cookie' ? `"set-cookie": [r[${i + 1}]]` : `${JSON.stringify(name)}: r[${i + 1}]`);
  }
  return new Function('r', `return {\n${fields.join(',\n')}\n};`) as HeadersMaker;
}

/** The maker of `shape` (whose names are those of `raw`), made on first
 * use; null when node:http's getter must build the object: a name repeats
 * or is one the environ drops (not `direct`: node:http joins or drops
 * repeats by field, and keeps names with `_`), or the bound is reached. */
function makerOf(shape: HeaderShape, raw: readonly string[]): HeadersMaker | null {
  let maker = shape.headersMaker;
  if (maker !== undefined) return maker;
  maker = null;
  if (shape.direct && makers < kMaxMakers && kMakes) {
    makers++;
    maker = compile(raw);
  }
  shape.headersMaker = maker;
  return maker;
}

const kHeaders = Symbol('tsgi.headers');

/**
 * The IncomingMessage class of a server whose requests have at most
 * `maxHeaders` fields in `headers` (node:http's maxHeadersCount): past it,
 * node:http's getter, which keeps only the first ones. `shape` is the walk
 * of the request's names (null: the trie is full), done by the first read
 * of `headers` (node:http's, before the 'request' event); undefined until
 * then.
 */
export function requestClass(maxHeaders: number): typeof IncomingMessage {
  const maxPairs = 2 * maxHeaders;
  class Request extends IncomingMessage {
    shape: HeaderShape | null | undefined = undefined;
    [kHeaders]: IncomingHttpHeaders | undefined = undefined;
  }
  Object.defineProperty(Request.prototype, 'headers', {
    configurable: true,
    get(this: Request): IncomingHttpHeaders {
      let headers = this[kHeaders];
      if (headers !== undefined) return headers;
      const raw = this.rawHeaders;
      // (Past maxPairs the server walks the names itself, as for a read
      // of `headers` it did not see.)
      let shape = this.shape;
      if (shape === undefined && raw.length <= maxPairs) shape = this.shape = walkHeaders(raw);
      const maker = shape === undefined || shape === null ? null : makerOf(shape, raw);
      headers = maker === null ? nodeGetter!.call(this) : maker(raw);
      this[kHeaders] = headers;
      return headers;
    },
    set(this: Request, value: IncomingHttpHeaders) {
      this[kHeaders] = value;
    },
  });
  return Request;
}

/** A request of a requestClass(). */
export type ServerRequest = IncomingMessage & { shape: HeaderShape | null | undefined };

/** Whether compile() makes what node:http's getter makes, on this
 * Node.js: a few header lists made both ways and compared, at load. */
function checkMakers(): boolean {
  if (nodeGetter === undefined) return false;
  const cases: string[][] = [
    ['Host', 'a.test'],
    ['host', 'a.test', 'User-Agent', 'x/1', 'Accept', '*/*', 'Cookie', 'a=1; b=2', 'Content-Type', 'text/plain', 'Content-Length', '3'],
    ['X-Custom', 'v', 'set-cookie', 's=1', 'Referer', 'http://r.test/', 'Authorization', 'Basic x', 'If-None-Match', '"e"', 'TE', 'trailers'],
    ['Accept-Language', 'en', 'Sec-Fetch-Mode', 'navigate', 'Expect', '100-continue', 'Connection', 'keep-alive', 'constructor', 'c', 'toString', 't'],
  ];
  try {
    for (const raw of cases) {
      const req = new IncomingMessage(null as never) as IncomingMessage & { _addHeaderLines(h: string[], n: number): void };
      req._addHeaderLines(raw, raw.length);
      const theirs = nodeGetter.call(req);
      const ours = compile(raw)(raw);
      if (JSON.stringify(Object.entries(ours)) !== JSON.stringify(Object.entries(theirs))) return false;
      if (Object.getPrototypeOf(ours) !== Object.getPrototypeOf(theirs)) return false;
    }
    return true;
  } catch {
    return false;
  }
}

const kMakes = checkMakers();
/** Whether the reference server makes `headers` itself on this Node.js. */
export const makesHeaders: boolean = kMakes;
