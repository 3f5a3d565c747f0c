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

/** Makes one line (with its `\n`, printable ASCII) of a record in `out`;
 * `now` is the time, in ms since the epoch. `timed`: whether it uses the
 * duration (else the driver reads the clock once a request, not twice). */
export type LineFormatter = ((record: AccessRecord, now: number, out: LineTarget) => void) & { readonly timed: boolean };

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

const kHex = '0123456789abcdef';

/** `\xHH` of byte `c`. */
const hexByte = (c: number) => '\\x' + kHex[c >> 4] + kHex[c & 15];

// ---- The line's bytes -----------------------------------------------------------
// A line is made straight into its log's block (LineTarget), byte by byte,
// from the values as they are: no string is joined, nothing is flattened
// or copied twice, no call into C++. The compiled line (compileAccessFormat)
// first takes its values, reserves room for the longest line they can make
// (kEscapedMost bytes a character of a value), then writes the format's own
// text as inline byte stores and each value with put() or text(). Measured
// on the pipelined hello (npm run bench, a perf profile): joining the
// pieces as a string and copying it with latin1Write cost more (V8
// flattens the joined string into a new one before it copies it), and so
// did helpers that kept the position in module state.

/** Where a line is made in place (LogFile). */
export interface LineTarget {
  /** Where the line starts in the block of openLine(). */
  readonly lineStart: number;
  /** The block, with room for `n` bytes from lineStart. */
  openLine(n: number): Uint8Array;
  /** The line ends at `end` of that block (its `\n` included). */
  closeLine(end: number): void;
}

/** The most bytes a UTF-16 unit of a value becomes: `\xHH` for each of
 * the 3 UTF-8 bytes of a character above U+07FF. */
const kEscapedMost = 12;

/** Printable ASCII known to need no escape (times, numbers), at `p` of
 * `b`; returns the position after it. */
function put(b: Uint8Array, p: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
  return p;
}

/** A value as the text format writes it, at `p` of `b`: as it is when it
 * is plain (the common case: one loop), else `"` as `\"`, `\` as `\\`,
 * bytes below 0x20, 0x7f and above as `\xHH` (characters up to U+00FF are
 * bytes; above, their UTF-8). Returns the position after it. */
function text(b: Uint8Array, p: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return escapedFrom(b, p, s, i);
    b[p++] = c;
  }
  return p;
}

/** text() from `from` on, where a byte to escape is. */
function escapedFrom(b: Uint8Array, p: number, s: string, from: number): number {
  const n = s.length;
  for (let i = from; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) {
      b[p++] = c;
    } else if (c === 0x22 || c === 0x5c) {
      b[p++] = 0x5c;
      b[p++] = c;
    } else if (c <= 0xff) {
      p = put(b, p, hexByte(c));
    } else {
      const cp = s.codePointAt(i)!;
      if (cp > 0xffff) i++;
      for (const u of Buffer.from(String.fromCodePoint(cp), 'utf8')) p = put(b, p, hexByte(u));
    }
  }
  return p;
}

/** A JSON value at `p` of `b`: `null`, or the string, copied as it is
 * when it is plain (the common case: one loop), else jsonString's escapes
 * (at most 6 bytes a UTF-16 unit, `\uXXXX`). Returns the position after
 * it. */
function json(b: Uint8Array, p: number, v: string | null | undefined): number {
  if (v === null || v === undefined) return put(b, p, 'null');
  const start = p;
  b[p++] = 0x22;
  const n = v.length;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return put(b, start, jsonString(v));
    b[p++] = c;
  }
  b[p++] = 0x22;
  return p;
}

/** A value, or `-` when it is missing or empty (gunicorn's dash). */
function orDash(value: string | null | undefined): string {
  return value === null || value === undefined || value === '' ? '-' : value;
}

/** The format's own text as printable ASCII: as it is, but for other
 * characters, written as the \xHH of their UTF-8 (the operator's quotes and
 * backslashes stay: they are the format's). */
function asciiLiteral(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c >= 0x20 && c < 0x7f) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += hexByte(b);
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

/** A piece of a line: the format's own text, or a JS expression of a
 * string from `r` (the record), `e` (its environ) and `now`, over the
 * helpers of this file, written as it is (`ascii`: known to be printable
 * ASCII), escaped (`text`), or as a JSON value (`json`: a string or null);
 * `time` is the JSON format's ISO time, written by isoTime(). */
type Piece = { kind: 'literal' | 'ascii' | 'text' | 'json' | 'time'; code: string };

const lit = (code: string): Piece => ({ kind: 'literal', code });
const asc = (code: string): Piece => ({ kind: 'ascii', code });
const esc = (code: string): Piece => ({ kind: 'text', code });
const jsn = (code: string): Piece => ({ kind: 'json', code });

/** gunicorn 23.0's atoms, as pieces. */
const ATOMS: Record<string, Piece[]> = {
  h: [esc('orDash(e.REMOTE_ADDR)')],
  u: [esc('orDash(basicUser(e))')],
  t: [asc('clfTime(now)')],
  r: [esc('e.REQUEST_METHOD'), lit(' '), esc('e.REQUEST_URI'), lit(' '), esc('e.SERVER_PROTOCOL')],
  s: [asc('(r.statusSent === 0 ? "-" : "" + r.statusSent)')],
  m: [esc('e.REQUEST_METHOD')],
  U: [esc('pathBytes(e.PATH_INFO)')],
  q: [esc('e.QUERY_STRING')],
  H: [esc('e.SERVER_PROTOCOL')],
  b: [asc('(r.bytesSent < 0 ? "-" : "" + r.bytesSent)')],
  B: [asc('(r.bytesSent < 0 ? "None" : "" + r.bytesSent)')],
  f: [esc('orDash(e.HTTP_REFERER)')],
  a: [esc('orDash(e.HTTP_USER_AGENT)')],
  T: [asc('"" + Math.floor(r.durationUs / 1e6)')],
  D: [asc('"" + Math.round(r.durationUs)')],
  M: [asc('"" + Math.floor(r.durationUs / 1e3)')],
  L: [asc('decimalSeconds(r.durationUs)')],
};

/** `%(L)s`: `0.000123`. */
function decimalSeconds(durationUs: number): string {
  const us = Math.round(durationUs);
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
}

/** The pieces of an atom name (`h`, `{User-Agent}i`...): unknown names
 * are `-`, as gunicorn's SafeAtoms has them. Names reach the source only as
 * JSON string literals. */
function atom(name: string): Piece[] {
  const known = ATOMS[name];
  if (known !== undefined) return known;
  const m = /^\{(.*)\}([ioe])$/s.exec(name);
  if (m === null) return [lit('-')];
  const inner = m[1]!;
  const lower = inner.toLowerCase();
  if (m[2] === 'i') {
    const key = requestKey(lower);
    return key === null ? [lit('-')] : [esc(`orDash(e[${JSON.stringify(key)}])`)];
  }
  if (m[2] === 'o') return [esc(`orDash(responseHeader(r, ${JSON.stringify(lower)}))`)];
  return [esc(`orDash(environValue(e, ${JSON.stringify(inner)}))`)];
}

/** The statements of a line's pieces: values first, then the room they
 * need, then the bytes. */
function lineSource(pieces: Piece[]): string {
  const values: string[] = [];
  const writes: string[] = [];
  const sizes: string[] = [];
  let fixed = 1; // the \n
  for (const piece of pieces) {
    if (piece.kind === 'literal') {
      const bytes = Buffer.from(asciiLiteral(piece.code), 'latin1');
      for (const c of bytes) writes.push(`b[p++] = ${c};`);
      fixed += bytes.length;
      continue;
    }
    if (piece.kind === 'time') {
      fixed += 26;
      writes.push('p = isoTime(b, p, now);');
      continue;
    }
    const v = `v${values.length}`;
    values.push(`const ${v} = ${piece.code};`);
    if (piece.kind === 'json') {
      // `null`, or 6 bytes a unit and the quotes.
      sizes.push(`(${v} == null ? 4 : 6 * ${v}.length + 2)`);
      writes.push(`p = json(b, p, ${v});`);
    } else {
      sizes.push(piece.kind === 'text' ? `${kEscapedMost} * ${v}.length` : `${v}.length`);
      writes.push(piece.kind === 'text' ? `p = text(b, p, ${v});` : `p = put(b, p, ${v});`);
    }
  }
  return [
    'const e = r.environ;',
    ...values,
    `const b = out.openLine(${[String(fixed), ...sizes].join(' + ')});`,
    'let p = out.lineStart;',
    ...writes,
    'b[p++] = 10;',
    'out.closeLine(p);',
  ].join('\n');
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
  if (format === 'json') return compilePieces(JSON_PIECES);
  const pieces: Piece[] = [];
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
    for (const piece of atom(name)) {
      if (piece.kind === 'literal') {
        literal += piece.code;
        continue;
      }
      if (literal !== '') pieces.push(lit(literal));
      literal = '';
      pieces.push(piece);
    }
  }
  if (literal !== '') pieces.push(lit(literal));
  for (const p of pieces) if (p.kind === 'literal' && /[\r\n]/.test(p.code)) throw new TypeError('must not contain a line break');
  return compilePieces(pieces);
}

/** The function of a line's pieces. */
function compilePieces(pieces: Piece[]): LineFormatter {
  const timed = pieces.some((p) => p.kind !== 'literal' && p.code.includes('r.durationUs'));
  // One function of the whole line, from our statements and the format's
  // literals as byte values (nothing of the format is code).
  const make = new Function(
    'put',
    'text',
    'json',
    'orDash',
    'pathBytes',
    'clfTime',
    'basicUser',
    'responseHeader',
    'environValue',
    'decimalSeconds',
    'isoTime',
    `return function accessLine(r, now, out) {\n${lineSource(pieces)}\n};`,
  ) as (...helpers: unknown[]) => (r: AccessRecord, now: number, out: LineTarget) => void;
  return Object.assign(make(put, text, json, orDash, pathBytes, clfTime, basicUser, responseHeader, environValue, decimalSeconds, isoTime), { timed });
}

let isoSecond = -1;
let isoPrefix = '';

/** `"2024-05-01T10:00:00.123Z"` (quoted, 26 bytes) at `p` of `b`, its
 * second made once; returns the position after it. */
function isoTime(b: Uint8Array, p: number, now: number): number {
  const ms = Math.floor(now);
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = '"' + new Date(second * 1000).toISOString().slice(0, 20);
  }
  const frac = ms - second * 1000;
  p = put(b, p, isoPrefix);
  b[p] = 48 + Math.floor(frac / 100);
  b[p + 1] = 48 + (Math.floor(frac / 10) % 10);
  b[p + 2] = 48 + (frac % 10);
  b[p + 3] = 0x5a; // Z
  b[p + 4] = 0x22;
  return p + 5;
}

/** `--access-log-format json`: one object per line, fields in this order. */
const JSON_PIECES: Piece[] = [
  lit('{"time":'),
  { kind: 'time', code: '' },
  lit(',"remote_addr":'),
  jsn('(e.REMOTE_ADDR === "" ? null : e.REMOTE_ADDR)'),
  lit(',"remote_port":'),
  jsn('(e.REMOTE_PORT === "" ? null : e.REMOTE_PORT)'),
  lit(',"remote_user":'),
  jsn('basicUser(e)'),
  lit(',"method":'),
  jsn('e.REQUEST_METHOD'),
  lit(',"uri":'),
  jsn('e.REQUEST_URI'),
  lit(',"path":'),
  jsn('e.PATH_INFO'),
  lit(',"query":'),
  jsn('e.QUERY_STRING'),
  lit(',"protocol":'),
  jsn('e.SERVER_PROTOCOL'),
  lit(',"status":'),
  asc('(r.statusSent === 0 ? "null" : "" + r.statusSent)'),
  lit(',"bytes":'),
  asc('(r.bytesSent < 0 ? "null" : "" + r.bytesSent)'),
  lit(',"referer":'),
  jsn('e.HTTP_REFERER'),
  lit(',"user_agent":'),
  jsn('e.HTTP_USER_AGENT'),
  lit(',"duration_us":'),
  asc('"" + Math.round(r.durationUs)'),
  lit(`,"pid":${process.pid}}`),
];
