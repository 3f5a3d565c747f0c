// response-head.ts: startResponse()'s status and header list, checked
// (RFC 9110 field syntax, the roles of http-rules.ts) and kept, so that a
// response that sends the same again is recognised by its content and
// neither checked nor encoded a second time. Used by the response driver
// (response.ts); a sink may keep its own prepared form on a head.
import type { Header } from '../types.js';
import {
  badFieldChar,
  fieldValueProblem,
  HeaderRole,
  headerRole,
  isToken,
  listTokens,
  parseContentLength,
  statusCode,
  statusProblem,
} from './http-rules.js';

// Validated status strings and header names, so that the common response
// (the same literals every time) is checked once. Bounded: an application
// that makes a new status or name per request is checked every time.
const kCacheMax = 1024;
const statusCodes = new Map<string, number>();
const headerRoles = new Map<string, HeaderRole>();

function checkStatus(status: unknown): number {
  if (typeof status !== 'string') throw new TypeError(`tsgi: status must be a string, got ${describe(status)}`);
  const cached = statusCodes.get(status);
  if (cached !== undefined) return cached;
  const problem = statusProblem(status);
  if (problem !== null) throw new TypeError(`tsgi: status ${problem}, got ${describe(status)}`);
  const code = statusCode(status);
  if (statusCodes.size < kCacheMax) statusCodes.set(status, code);
  return code;
}

function checkName(name: string): HeaderRole {
  const cached = headerRoles.get(name);
  if (cached !== undefined) return cached;
  if (!isToken(name)) throw new TypeError(`tsgi: header name must be a token (RFC 9110 §5.6.2), got ${JSON.stringify(name)}`);
  const role = headerRole(name);
  if (headerRoles.size < kCacheMax) headerRoles.set(name, role);
  return role;
}

/**
 * A status and header list the driver checked, kept so that a response
 * that sends the same again is recognised by its content and not checked
 * (nor encoded, by a sink that prepares it) again. What the application
 * passed is compared string by string with what is kept; a Content-Length
 * value may differ (it is read each time: the server writes the field
 * itself). Mutating a header array between responses is therefore seen.
 * Bounded: an application whose every response differs is checked every
 * time, as without it.
 */
export class ResponseHead {
  /** Times the head was sent again after it was first checked. */
  hits = 0;
  /** The Content-Length found by the checkHead() call that returned this
   * head (-1: none): read it right after the call. */
  length = -1;
  /** It is kept for the responses after it (one Content-Length field at
   * most: its value is the only one read again). */
  kept = false;
  /** A sink's own state for this head (the native server: whose slot it
   * holds, and which). */
  owner: object | null = null;
  slot = -1;
  /** What the node:http sink made of it to send it again (its header
   * array, src/node/sink.ts), or null. */
  prepared: object | null = null;
  private lineText: string | null = null;

  constructor(
    readonly status: string,
    readonly code: number,
    /** The headers the server sends: the application's minus the owned ones. */
    readonly headers: Header[],
    readonly close: boolean,
    /** The application's names and values as given (null: the
     * Content-Length value, read each time), to compare with. */
    private readonly names: readonly string[],
    private readonly values: readonly (string | null)[],
    private readonly lengthAt: number,
  ) {}

  /** `headers` as header lines, each `Name: value\r\n`. */
  get lines(): string {
    if (this.lineText === null) {
      let block = '';
      for (let i = 0; i < this.headers.length; i++) block += this.headers[i]![0] + ': ' + this.headers[i]![1] + '\r\n';
      this.lineText = block;
    }
    return this.lineText;
  }

  /** The Content-Length `headers` declare (-1: none) when they are the
   * ones kept here, else -2. */
  match(status: string, headers: readonly unknown[]): number {
    const names = this.names;
    if (status !== this.status || headers.length !== names.length) return -2;
    let length = -1;
    for (let i = 0; i < names.length; i++) {
      const pair = headers[i];
      if (!Array.isArray(pair) || pair.length !== 2 || pair[0] !== names[i]) return -2;
      const value: unknown = pair[1];
      if (i === this.lengthAt) {
        if (typeof value !== 'string') return -2;
        length = parseContentLength(value);
        if (length < 0) return -2;
      } else if (value !== this.values[i]) {
        return -2;
      }
    }
    return length;
  }
}


// The heads sent last, newest at `lastHead`: a ring of kHeads, looked
// through from the last one matched.
const kHeads = 16;
const heads: (ResponseHead | undefined)[] = [];
let lastHead = 0;
let nextHead = 0;

/**
 * The head of `status` and `headers` as startResponse() took them: one
 * kept that matches them, else one checked now. Throws a TypeError that
 * names the rule broken. The head's `length` is the Content-Length the
 * headers declare (-1: none).
 */
export function checkHead(status: unknown, headers: unknown): ResponseHead {
  if (typeof status === 'string' && Array.isArray(headers)) {
    // The heads sent before, the last one matched first.
    for (let k = 0, i = lastHead; k < heads.length; k++, i = i + 1 === heads.length ? 0 : i + 1) {
      const head = heads[i]!;
      const length = head.match(status, headers);
      if (length === -2) continue;
      lastHead = i;
      head.hits++;
      head.length = length;
      return head;
    }
  }
  const code = checkStatus(status);
  if (!Array.isArray(headers)) throw new TypeError(`tsgi: headers must be an array of [name, value] pairs, got ${describe(headers)}`);
  const kept: Header[] = [];
  const names: string[] = [];
  const values: (string | null)[] = [];
  let contentLength = -1;
  let lengthAt = -1;
  let lengths = 0;
  let close = false;
  for (let i = 0; i < headers.length; i++) {
    const pair: unknown = headers[i];
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw new TypeError(`tsgi: each header must be a [name, value] pair of strings, got ${describe(pair)}`);
    }
    const name: string = pair[0];
    const value: string = pair[1];
    const role = checkName(name);
    if (badFieldChar(value) >= 0) {
      throw new TypeError(`tsgi: header ${name} value ${fieldValueProblem(value)}`);
    }
    names.push(name);
    values.push(value);
    if (role === HeaderRole.Keep) {
      kept.push([name, value]);
    } else if (role === HeaderRole.ContentLength) {
      contentLength = parseContentLength(value);
      if (contentLength < 0) throw new TypeError(`tsgi: Content-Length must be decimal digits, got ${JSON.stringify(value)}`);
      lengthAt = i;
      values[i] = null;
      lengths++;
    } else if (role === HeaderRole.Connection) {
      if (listTokens(value).includes('close')) close = true;
    }
  }
  const head = new ResponseHead(status as string, code, kept, close, names, values, lengthAt);
  head.length = contentLength;
  if (lengths <= 1) {
    head.kept = true;
    heads[nextHead] = head;
    lastHead = nextHead;
    nextHead = nextHead + 1 === kHeads ? 0 : nextHead + 1;
  }
  return head;
}

/** `value` as an error message shows it. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return `${typeof value} ${String(value)}`;
}

