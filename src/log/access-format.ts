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
  statusSent: number;
  /** The response headers the application gave (those sent as they are). */
  headersSent: readonly Header[];
  /** The Content-Length sent, or -1. */
  lengthSent: number;
  /** Body bytes sent, or -1 when no status line was sent. */
  bytesSent: number;
  /** From the start of the application call to the end of the response
   * (0 when the format has no duration: LineFormatter.timed). */
  durationUs: number;
}

/** Where a line is written, piece by piece (LogFile): `ascii` for text
 * known to be printable ASCII, `text` for a value to escape, `int` for a
 * whole number. */
export interface LineOut {
  ascii(s: string): void;
  text(s: string): void;
  int(v: number): void;
}

/** Writes one line (with its `\n`) of a record; `now` is the time, in ms
 * since the epoch. `timed`: whether it uses the duration (else the driver
 * reads the clock once a request, not twice). */
export type LineFormatter = ((record: AccessRecord, now: number, out: LineOut) => void) & { readonly timed: boolean };

/** gunicorn's default `access_log_format` (the Apache combined format). */
export const GUNICORN_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

// ---- Escaping ----------------------------------------------------------------

/** True when `value` is printable ASCII without `"` and `\\`: written as it
 * is in both formats (the common case, checked without a RegExp). */
function plain(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** The format's own text as printable ASCII: as it is, but for other
 * characters, written as the \xHH of their UTF-8 (the operator's quotes and
 * backslashes stay: they are the format's). */
function asciiLiteral(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x20 && c < 0x7f) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += '\\x' + b.toString(16).padStart(2, '0');
  }
  return out;
}

/** PATH_INFO is text (percent-decoded as UTF-8): its bytes are its UTF-8,
 * given as a latin1 string to escape. */
function pathBytes(value: string): string {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) return Buffer.from(value, 'utf8').toString('latin1');
  }
  return value;
}

/** A JSON string that is printable ASCII, however odd `value` is. */
export function jsonString(value: string): string {
  if (plain(value)) return '"' + value + '"';
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
  if (lower === 'content-length') return r.lengthSent >= 0 ? String(r.lengthSent) : null;
  let found: string | null = null;
  for (const [name, value] of r.headersSent) if (name.length === lower.length && name.toLowerCase() === lower) found = value;
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

/** gunicorn 23.0's atoms, as JS statements writing to `w` (LineOut) from
 * `r` (the record), `e` (its environ) and `now`, over the helpers of this
 * file: a format is compiled into one function that V8 can inline whole
 * (see compileAccessFormat). `dash(EXPR)` stands for "EXPR, escaped, or `-`
 * when it is missing or empty". */
const ATOMS: Record<string, string> = {
  h: 'dash(e.REMOTE_ADDR)',
  u: 'dash(basicUser(e))',
  t: 'w.ascii(clfTime(now));',
  r: 'w.text(e.REQUEST_METHOD); w.ascii(" "); w.text(e.REQUEST_URI); w.ascii(" "); w.text(e.SERVER_PROTOCOL);',
  s: 'if (r.statusSent === 0) w.ascii("-"); else w.int(r.statusSent);',
  m: 'w.text(e.REQUEST_METHOD);',
  U: 'w.text(pathBytes(e.PATH_INFO));',
  q: 'w.text(e.QUERY_STRING);',
  H: 'w.text(e.SERVER_PROTOCOL);',
  b: 'if (r.bytesSent < 0) w.ascii("-"); else w.int(r.bytesSent);',
  B: 'if (r.bytesSent < 0) w.ascii("None"); else w.int(r.bytesSent);',
  f: 'dash(e.HTTP_REFERER)',
  a: 'dash(e.HTTP_USER_AGENT)',
  T: 'w.int(Math.floor(r.durationUs / 1e6));',
  D: 'w.int(Math.round(r.durationUs));',
  M: 'w.int(Math.floor(r.durationUs / 1e3));',
  L: 'w.ascii(decimalSeconds(r.durationUs));',
};

/** The statement of `dash(EXPR)`. */
function dashOf(expr: string): string {
  return `{ const v = ${expr}; if (v === null || v === undefined || v === "") w.ascii("-"); else w.text(v); }`;
}

/** `%(L)s`: `0.000123`. */
function decimalSeconds(durationUs: number): string {
  const us = Math.round(durationUs);
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
}

/** The expression of an atom name (`h`, `{User-Agent}i`...): unknown names
 * are `-`, as gunicorn's SafeAtoms has them. Names reach the source only as
 * JSON string literals. */
function atom(name: string): string {
  const known = ATOMS[name];
  if (known !== undefined) return known.startsWith('dash(') ? dashOf(known.slice(5, -1)) : known;
  const m = /^\{(.*)\}([ioe])$/s.exec(name);
  if (m === null) return 'w.ascii("-");';
  const inner = m[1]!;
  const lower = inner.toLowerCase();
  if (m[2] === 'i') {
    const key = requestKey(lower);
    return key === null ? 'w.ascii("-");' : dashOf(`e[${JSON.stringify(key)}]`);
  }
  if (m[2] === 'o') return dashOf(`responseHeader(r, ${JSON.stringify(lower)})`);
  return dashOf(`environValue(e, ${JSON.stringify(inner)})`);
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
  if (format === 'json') return Object.assign(jsonLine, { timed: true });
  const parts: { literal: boolean; text: string }[] = [];
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
    i = j + 1;
    // The constant atoms join the literal text around them.
    if (name === 'l') {
      literal += '-';
      continue;
    }
    if (name === 'p') {
      literal += `<${process.pid}>`;
      continue;
    }
    if (literal !== '') parts.push({ literal: true, text: literal });
    literal = '';
    parts.push({ literal: false, text: atom(name) });
  }
  if (literal !== '') parts.push({ literal: true, text: literal });
  const timed = parts.some((p) => !p.literal && p.text.includes('r.durationUs'));
  for (const p of parts) if (p.literal && /[\r\n]/.test(p.text)) throw new TypeError('must not contain a line break');
  const body = parts.map((p) => (p.literal ? `w.ascii(${JSON.stringify(asciiLiteral(p.text))});` : p.text)).join('\n');
  // One function of the whole line, from our statements and the format's
  // literals as JSON strings (nothing of the format is code).
  const make = new Function(
    'pathBytes',
    'clfTime',
    'basicUser',
    'responseHeader',
    'environValue',
    'decimalSeconds',
    `return function accessLine(r, now, w) { const e = r.environ;\n${body}\nw.ascii("\\n"); };`,
  ) as (...helpers: unknown[]) => (r: AccessRecord, now: number, w: LineOut) => void;
  return Object.assign(make(pathBytes, clfTime, basicUser, responseHeader, environValue, decimalSeconds), { timed });
}

let isoSecond = -1;
let isoPrefix = '';

/** `2024-05-01T10:00:00.123Z` (quoted), its second made once; written as
 * pieces, no string a line. */
function isoTime(now: number, w: LineOut): void {
  const ms = Math.floor(now);
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = '"' + new Date(second * 1000).toISOString().slice(0, 20);
  }
  const frac = ms - second * 1000;
  w.ascii(isoPrefix);
  if (frac < 100) w.ascii(frac < 10 ? '00' : '0');
  w.int(frac);
  w.ascii('Z"');
}

/** A JSON value of the line: `null`, or the string, copied as it is when
 * it is plain (the common case: one scan, no string made), else
 * jsonString's escapes. */
function jsonValue(v: string | null | undefined, w: LineOut): void {
  if (v === null || v === undefined) {
    w.ascii('null');
  } else if (plain(v)) {
    w.ascii('"');
    w.ascii(v);
    w.ascii('"');
  } else {
    w.ascii(jsonString(v));
  }
}

/** `--access-log-format json`: one object per line, fields in this order. */
function jsonLine(r: AccessRecord, now: number, w: LineOut): void {
  const e = r.environ;
  w.ascii('{"time":');
  isoTime(now, w);
  w.ascii(',"remote_addr":');
  jsonValue(e.REMOTE_ADDR === '' ? null : e.REMOTE_ADDR, w);
  w.ascii(',"remote_port":');
  jsonValue(e.REMOTE_PORT === '' ? null : e.REMOTE_PORT, w);
  w.ascii(',"remote_user":');
  jsonValue(basicUser(e), w);
  w.ascii(',"method":');
  jsonValue(e.REQUEST_METHOD, w);
  w.ascii(',"uri":');
  jsonValue(e.REQUEST_URI, w);
  w.ascii(',"path":');
  jsonValue(e.PATH_INFO, w);
  w.ascii(',"query":');
  jsonValue(e.QUERY_STRING, w);
  w.ascii(',"protocol":');
  jsonValue(e.SERVER_PROTOCOL, w);
  w.ascii(',"status":');
  if (r.statusSent === 0) w.ascii('null');
  else w.int(r.statusSent);
  w.ascii(',"bytes":');
  if (r.bytesSent < 0) w.ascii('null');
  else w.int(r.bytesSent);
  w.ascii(',"referer":');
  jsonValue(e.HTTP_REFERER, w);
  w.ascii(',"user_agent":');
  jsonValue(e.HTTP_USER_AGENT, w);
  w.ascii(',"duration_us":');
  w.int(Math.round(r.durationUs));
  w.ascii(kJsonEnd);
}

const kJsonEnd = `,"pid":${process.pid}}\n`;
