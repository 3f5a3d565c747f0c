// access-format.ts: the access log's line, from gunicorn's format string
// (its atoms and defaults as in gunicorn 23.0, gunicorn/glogging.py
// `Logger.atoms` and `SafeAtoms`) or `json`, compiled once per server.
//
// gunicorn escapes only `"` (as `\"`). Here every value a client can
// influence is escaped so that no byte can end a line, forge a field or
// break the JSON: in the text format `"` is `\"`, `\` is `\\`, and every
// byte below 0x20, 0x7f and every byte above 0x7f is `\xHH` (header values
// are their bytes, as latin1; PATH_INFO is its UTF-8); a line is ASCII.
// In the JSON format strings are JSON strings of the environ's values, with
// everything outside printable ASCII written as \uXXXX.
import type { Environ, Header } from '../types.js';

/** What a finished response leaves for the access log. */
export interface AccessRecord {
  environ: Environ;
  /** The status code sent, or 0 when no status line was sent. */
  status: number;
  /** The response headers the application gave (those sent as they are). */
  headers: readonly Header[];
  /** The Content-Length sent, or -1. */
  contentLength: number;
  /** Body bytes sent, or -1 when no status line was sent. */
  sent: number;
  /** From the start of the application call to the end of the response. */
  durationUs: number;
}

/** Makes one line (with its `\n`) from a record; `now` is Date.now(). */
export type LineFormatter = (record: AccessRecord, now: number) => string;

/** gunicorn's default `access_log_format` (the Apache combined format). */
export const GUNICORN_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

// ---- Escaping ----------------------------------------------------------------

const kPlain = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const kHex = '0123456789abcdef';

function hexByte(b: number): string {
  return '\\x' + kHex[b >> 4]! + kHex[b & 15]!;
}

/** A value for the text format: see the file's first comment. Characters
 * up to U+00FF are bytes (latin1, as header values are); characters above
 * are written as their UTF-8 bytes. */
export function escapeText(value: string): string {
  if (kPlain.test(value)) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20 && c < 0x7f) out += value[i]!;
    else if (c <= 0xff) out += hexByte(c);
    else {
      // One code point (a surrogate pair counts once) as UTF-8.
      const cp = value.codePointAt(i)!;
      if (cp > 0xffff) i++;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out += hexByte(b);
    }
  }
  return out;
}

/** PATH_INFO is text (percent-decoded as UTF-8): its bytes are its UTF-8. */
function escapePath(value: string): string {
  return kPlain.test(value) ? value : escapeText(Buffer.from(value, 'utf8').toString('latin1'));
}

/** A JSON string that is printable ASCII, however odd `value` is. */
export function jsonString(value: string): string {
  const json = JSON.stringify(value);
  return /[^\x20-\x7e]/.test(json)
    ? json.replace(/[^\x20-\x7e]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
    : json;
}

// ---- Time --------------------------------------------------------------------

const kMonths = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number) => (n < 10 ? '0' : '') + n;

/** `-0700`: the local offset, as strftime's %z writes it. */
export function zoneOffset(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return sign + pad2(Math.floor(abs / 60)) + pad2(abs % 60);
}

let clfSecond = -1;
let clfText = '';

/** `[10/Oct/2000:13:55:36 -0700]`, local time (gunicorn's `now()`),
 * made once per second. */
export function clfTime(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== clfSecond) {
    const d = new Date(second * 1000);
    clfSecond = second;
    clfText = `[${pad2(d.getDate())}/${kMonths[d.getMonth()]}/${d.getFullYear()}:${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${zoneOffset(d)}]`;
  }
  return clfText;
}

// ---- Atoms -------------------------------------------------------------------

/** `u`: the user of `Authorization: Basic`, as gunicorn's `_get_user`
 * takes it (the part before the first `:` of the decoded credentials,
 * which must be UTF-8), or null. */
export function basicUser(environ: Environ): string | null {
  const auth = environ.HTTP_AUTHORIZATION;
  if (auth === undefined || auth.slice(0, 5).toLowerCase() !== 'basic') return null;
  const space = auth.indexOf(' ');
  if (space < 0) return null;
  const encoded = auth.slice(space + 1).trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return null;
  const bytes = Buffer.from(encoded, 'base64');
  const colon = bytes.indexOf(0x3a);
  const name = colon < 0 ? bytes : bytes.subarray(0, colon);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(name);
  } catch {
    return null;
  }
}

/** The environ key of a request header (`{name}i`): as environKey makes
 * it; names with `_` are never in the environ. */
function requestKey(name: string): string | null {
  if (name.includes('_')) return null;
  const upper = name.toUpperCase().replace(/-/g, '_');
  return upper === 'CONTENT_TYPE' || upper === 'CONTENT_LENGTH' ? upper : 'HTTP_' + upper;
}

/** A response header (`{name}o`): the last one of that name, as
 * gunicorn's dict of them keeps; Content-Length as it was sent. */
function responseHeader(r: AccessRecord, lower: string): string | null {
  if (lower === 'content-length') return r.contentLength >= 0 ? String(r.contentLength) : null;
  let found: string | null = null;
  for (const [name, value] of r.headers) if (name.length === lower.length && name.toLowerCase() === lower) found = value;
  return found;
}

/** `{name}e`: an environ value, its key matched without case. */
function environValue(environ: Environ, name: string): string | null {
  let value: unknown = environ[name];
  if (value === undefined) value = environ[name.toUpperCase()] ?? environ[name.toLowerCase()];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}

const dash = (v: string | null | undefined): string => (v === null || v === undefined || v === '' ? '-' : escapeText(v));

type Atom = (r: AccessRecord, now: number) => string;

/** gunicorn 23.0's atoms. */
const ATOMS: Record<string, Atom> = {
  h: (r) => dash(r.environ.REMOTE_ADDR),
  l: () => '-',
  u: (r) => dash(basicUser(r.environ)),
  t: (_r, now) => clfTime(now),
  r: (r) => escapeText(`${r.environ.REQUEST_METHOD} ${r.environ.REQUEST_URI} ${r.environ.SERVER_PROTOCOL}`),
  s: (r) => (r.status === 0 ? '-' : String(r.status)),
  m: (r) => escapeText(r.environ.REQUEST_METHOD),
  U: (r) => escapePath(r.environ.PATH_INFO),
  q: (r) => escapeText(r.environ.QUERY_STRING),
  H: (r) => escapeText(r.environ.SERVER_PROTOCOL),
  b: (r) => (r.sent < 0 ? '-' : String(r.sent)),
  B: (r) => (r.sent < 0 ? 'None' : String(r.sent)),
  f: (r) => dash(r.environ.HTTP_REFERER),
  a: (r) => dash(r.environ.HTTP_USER_AGENT),
  T: (r) => String(Math.floor(r.durationUs / 1e6)),
  D: (r) => String(Math.round(r.durationUs)),
  M: (r) => String(Math.floor(r.durationUs / 1e3)),
  L: (r) => {
    const us = Math.round(r.durationUs);
    return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
  },
  p: () => `<${process.pid}>`,
};

/** The getter of an atom name (`h`, `{User-Agent}i`...): unknown names are
 * `-`, as gunicorn's SafeAtoms has them. */
function atom(name: string): Atom {
  const known = ATOMS[name];
  if (known !== undefined) return known;
  const m = /^\{(.*)\}([ioe])$/s.exec(name);
  if (m === null) return () => '-';
  const inner = m[1]!;
  const lower = inner.toLowerCase();
  if (m[2] === 'i') {
    const key = requestKey(lower);
    return key === null ? () => '-' : (r) => dash(r.environ[key] as string | undefined);
  }
  if (m[2] === 'o') return (r) => dash(responseHeader(r, lower));
  return (r) => dash(environValue(r.environ, inner));
}

// ---- Compiling -----------------------------------------------------------------

/**
 * Why `format` is not an access log format, or null. A format is `json`,
 * or text with `%(name)s` atoms (`d` and `i` are taken as `s`) and `%%`
 * for a percent sign; widths and flags are not supported.
 */
export function accessFormatProblem(format: string): string | null {
  try {
    compileAccessFormat(format);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Compiles a format to a function of one record. Throws a TypeError saying
 * what is wrong (`%(name` without `)`, `%s` without a name, ...).
 *
 * @example
 * ```ts
 * const line = compileAccessFormat('%(h)s "%(r)s" %(s)s');
 * line(record, Date.now()); // '127.0.0.1 "GET / HTTP/1.1" 200\n'
 * ```
 */
export function compileAccessFormat(format: string): LineFormatter {
  if (format === 'json') return jsonLine;
  const parts: (string | Atom)[] = [];
  let literal = '';
  let i = 0;
  while (i < format.length) {
    const c = format[i]!;
    if (c !== '%') {
      literal += c;
      i++;
      continue;
    }
    const next = format[i + 1];
    if (next === '%') {
      literal += '%';
      i += 2;
      continue;
    }
    if (next !== '(') {
      throw new TypeError(`must name each atom as %(name)s; a "%" at ${i} is followed by ${next === undefined ? 'nothing' : JSON.stringify(next)}`);
    }
    // Python matches the parenthesis with nesting, as here.
    let depth = 1;
    let j = i + 2;
    while (j < format.length && depth > 0) {
      if (format[j] === '(') depth++;
      else if (format[j] === ')') depth--;
      j++;
    }
    if (depth !== 0) throw new TypeError(`has "%(" at ${i} without its ")"`);
    const name = format.slice(i + 2, j - 1);
    const conversion = format[j];
    if (conversion !== 's' && conversion !== 'd' && conversion !== 'i') {
      throw new TypeError(`must end %(${name}) with s (widths and flags are not supported), got ${conversion === undefined ? 'nothing' : JSON.stringify(conversion)}`);
    }
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push(atom(name));
    i = j + 1;
  }
  if (literal !== '') parts.push(literal);
  for (const p of parts) if (typeof p === 'string' && /[\r\n]/.test(p)) throw new TypeError('must not contain a line break');
  return (r, now) => {
    let line = '';
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k]!;
      line += typeof p === 'string' ? p : p(r, now);
    }
    return line + '\n';
  };
}

const json = (v: string | null | undefined): string => (v === null || v === undefined ? 'null' : jsonString(v));

/** `--access-log-format json`: one object per line, fields in this order. */
function jsonLine(r: AccessRecord, now: number): string {
  const e = r.environ;
  return (
    `{"time":"${new Date(now).toISOString()}"` +
    `,"remote_addr":${json(e.REMOTE_ADDR === '' ? null : e.REMOTE_ADDR)}` +
    `,"remote_port":${json(e.REMOTE_PORT === '' ? null : e.REMOTE_PORT)}` +
    `,"remote_user":${json(basicUser(e))}` +
    `,"method":${json(e.REQUEST_METHOD)}` +
    `,"uri":${json(e.REQUEST_URI)}` +
    `,"path":${json(e.PATH_INFO)}` +
    `,"query":${json(e.QUERY_STRING)}` +
    `,"protocol":${json(e.SERVER_PROTOCOL)}` +
    `,"status":${r.status === 0 ? 'null' : r.status}` +
    `,"bytes":${r.sent < 0 ? 'null' : r.sent}` +
    `,"referer":${json(e.HTTP_REFERER)}` +
    `,"user_agent":${json(e.HTTP_USER_AGENT)}` +
    `,"duration_us":${Math.round(r.durationUs)}` +
    `,"pid":${process.pid}}\n`
  );
}
