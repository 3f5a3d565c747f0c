// lazy-headers.ts: the IncomingMessage of the reference server, whose
// `headers` object is built only when something reads more of it than the
// fields node:http checks itself. The server reads `rawHeaders` (environ.ts,
// strict.ts), never `headers`; node:http reads `headers.expect` on every
// HTTP/1.1 request (lib/_http_server.js, parserOnIncoming), `headers.te`
// on HTTP/1.0 ones (ServerResponse), and `headers.host` with
// requireHostHeader (off here), and building the object for that costs a
// name match and a keyed store per field (ARCHITECTURE.md, "The reference
// server").
import { IncomingMessage, type IncomingHttpHeaders } from 'node:http';

const kFull = Symbol('tsgi.headers');
const kRequest = Symbol('tsgi.request');

/** node:http's own getter: builds the object from `rawHeaders` once. */
const baseHeaders = Object.getOwnPropertyDescriptor(IncomingMessage.prototype, 'headers')!;

interface Target {
  [kRequest]: LazyHeadersRequest;
}

/**
 * The value of the field `name` (lowercase) when it occurs once among the
 * first `limit` raw fields, undefined when it does not occur; null when it
 * occurs more than once (node:http's joining rules decide: the full object)
 * or when there are more fields than node:http keeps (maxHeadersCount).
 */
function single(req: IncomingMessage, name: string, limit: number): string | undefined | null {
  const raw = req.rawHeaders;
  if (raw.length > 2 * limit) return null;
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i]!;
    if (field.length === name.length && field.toLowerCase() === name) {
      if (found !== undefined) return null;
      found = raw[i + 1]!;
    }
  }
  return found;
}

/** The object node:http would have built: every operation but a read of
 * one of its own fields goes to it. */
function full(req: LazyHeadersRequest): IncomingHttpHeaders {
  let headers = req[kFull];
  if (headers === null) headers = req[kFull] = baseHeaders.get!.call(req) as IncomingHttpHeaders;
  return headers;
}

const handler: ProxyHandler<Target> = {
  get(target, key) {
    const req = target[kRequest];
    if (req[kFull] === null && (key === 'expect' || key === 'te' || key === 'host')) {
      const value = single(req, key, req.fieldLimit());
      if (value !== null) return value;
    }
    return full(req)[key as string];
  },
  has: (target, key) => key in full(target[kRequest]),
  ownKeys: (target) => Reflect.ownKeys(full(target[kRequest])),
  getOwnPropertyDescriptor: (target, key) => Reflect.getOwnPropertyDescriptor(full(target[kRequest]), key),
  set: (target, key, value) => Reflect.set(full(target[kRequest]), key, value),
  deleteProperty: (target, key) => Reflect.deleteProperty(full(target[kRequest]), key),
  defineProperty: (target, key, descriptor) => Reflect.defineProperty(full(target[kRequest]), key, descriptor),
};

/** The reference server's requests (createServer's `IncomingMessage`). */
export class LazyHeadersRequest extends IncomingMessage {
  [kFull]: IncomingHttpHeaders | null = null;
  view: IncomingHttpHeaders | null = null;

  /** How many fields node:http keeps of a head (the server's
   * maxHeadersCount; node:http's default when unset). */
  fieldLimit(): number {
    const limit = (this.socket as { server?: { maxHeadersCount?: number | null } } | null)?.server?.maxHeadersCount;
    return typeof limit === 'number' && limit > 0 ? limit : 2000;
  }

  /** The `headers` node:http reads: the full object once it is built,
   * else a view that builds it for anything but a read of its own fields. */
  headersView(): IncomingHttpHeaders {
    // The view, once handed out, stays the object (an identity kept).
    if (this.view !== null) return this.view;
    if (this[kFull] !== null) return this[kFull];
    const target = { [kRequest]: this } as Target;
    return (this.view = new Proxy(target, handler) as unknown as IncomingHttpHeaders);
  }
}

// An accessor in place of IncomingMessage's (which TypeScript declares as
// a property, so it cannot be overridden in the class body).
Object.defineProperty(LazyHeadersRequest.prototype, 'headers', {
  configurable: true,
  get(this: LazyHeadersRequest) {
    return this.headersView();
  },
  set(this: LazyHeadersRequest, value: IncomingHttpHeaders) {
    this[kFull] = value;
    this.view = null;
    baseHeaders.set!.call(this, value);
  },
});
