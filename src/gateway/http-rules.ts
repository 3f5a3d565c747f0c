// http-rules.ts: the rules of HTTP that apply to what an application sends,
// in one place: tokens, field values, status strings, reason phrases, the
// response headers the server owns, and which responses have no body. The
// response driver, validate() and the node server import them; the native
// addon's copies (native/http_rules.h) are compared with them when it loads
// (checkContract in src/native/binding.ts). ARCHITECTURE.md, "Where each
// rule lives".
import { STATUS_CODES } from 'node:http';

/** RFC 9110 §5.6.2: `token = 1*tchar`. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** True when `name` is a token (a field name, a method, a coding). */
export function isToken(name: string): boolean {
  return TOKEN.test(name);
}

/**
 * The bytes of a request target (RFC 9112 §3.2, RFC 3986 §2.1-2.3): VCHAR
 * but `#` (no fragment) and `"`, `<`, `>`, which every browser
 * percent-encodes. Kept although RFC 3986 leaves them out: `\`, `^`, `` ` ``,
 * `{`, `|`, `}`, which browsers send raw in queries (WHATWG URL, "query
 * percent-encode set"): refusing them breaks real clients.
 */
export function isTargetChar(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x23 && c !== 0x22 && c !== 0x3c && c !== 0x3e;
}

/** A whole request target of `isTargetChar` bytes. */
export const TARGET = /^[!$-;=?-~]+$/;

// Below this length a loop over the characters is cheaper than a call
// into the regular expression engine; above it, the engine is.
const kShortTarget = 16;

/** True when `target` is a non-empty run of `isTargetChar` characters
 * (TARGET). */
export function isTarget(target: string): boolean {
  const n = target.length;
  if (n > kShortTarget) return TARGET.test(target);
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    if (!isTargetChar(target.charCodeAt(i))) return false;
  }
  return true;
}

/** True when the character code `c` may appear in a field value or a reason
 * phrase (RFC 9110 §5.5, RFC 9112 §4): HTAB, SP, VCHAR and obs-text. Values
 * are written one byte per character (latin1, PEP 3333), so nothing above
 * U+00FF can be sent. */
export function isFieldChar(c: number): boolean {
  return c < 0x20 ? c === 0x09 : c !== 0x7f && c <= 0xff;
}

/** The index of the first character of `text` that `isFieldChar` refuses,
 * or -1. */
export function badFieldChar(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (!isFieldChar(text.charCodeAt(i))) return i;
  }
  return -1;
}

/** Why `text` cannot be a field value (or a reason phrase), or null. */
export function fieldValueProblem(text: string): string | null {
  const at = badFieldChar(text);
  if (at < 0) return null;
  const code = text.codePointAt(at)!.toString(16).toUpperCase().padStart(4, '0');
  return `must not contain control or non-latin1 characters (found U+${code})`;
}

// ---- Status ----------------------------------------------------------------

/** The final status codes an application may send (RFC 9110 §15). 1xx are
 * interim responses, which only the server sends (100 Continue, when the
 * application starts reading a body that asked for it). */
export const MIN_STATUS = 200;
export const MAX_STATUS = 599;

/**
 * Why `status` is not a valid TSGI status string, or null. The string is
 * `"NNN Reason"`: the status-code and reason-phrase of RFC 9112 §4 with the
 * space between them, the reason possibly empty (`"200 "`).
 */
export function statusProblem(status: string): string | null {
  if (status.length < 4 || status.charCodeAt(3) !== 0x20 || !/^\d{3}/.test(status)) {
    return 'must be "NNN Reason"';
  }
  const code = Number(status.slice(0, 3));
  if (code < MIN_STATUS || code > MAX_STATUS) {
    return `code must be between ${MIN_STATUS} and ${MAX_STATUS} (1xx are interim responses, sent by the server)`;
  }
  return fieldValueProblem(status.slice(4));
}

/** The code of a valid status string, or -1 (see statusProblem). */
export function statusCode(status: string): number {
  return statusProblem(status) === null ? Number(status.slice(0, 3)) : -1;
}

/** Reason phrases (RFC 9110 §15) of the statuses the servers write
 * themselves: the interim 100, the ready-made refusals and the 500 of a
 * failed application. */
export const REASONS: Readonly<Record<number, string>> = Object.freeze({
  100: 'Continue',
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  505: 'HTTP Version Not Supported',
});

/** The reason phrase for any status code: ours where we write it, else
 * node:http's table (the IANA registry), else "Unknown". */
export function reasonPhrase(code: number): string {
  return REASONS[code] ?? STATUS_CODES[code] ?? 'Unknown';
}

// ---- Bodies ----------------------------------------------------------------

/** True when a response with this status has no content (RFC 9110 §6.4.1):
 * 1xx, 204 No Content and 304 Not Modified. */
export function bodilessStatus(code: number): boolean {
  return code < 200 || code === 204 || code === 304;
}

/** True when the response carries no body bytes: a bodiless status, or the
 * answer to HEAD (RFC 9110 §9.3.2), which keeps its Content-Length. */
export function bodiless(code: number, method: string): boolean {
  return bodilessStatus(code) || method === 'HEAD';
}

/** The Content-Length a server derives from a whole body in hand of `size`
 * bytes when the application declared none, or -1 for none. A bodiless
 * status gets none. So does an empty body on HEAD: RFC 9110 §8.6 allows a
 * HEAD response's Content-Length only as the size a GET would send, and an
 * application that skips the body on HEAD has not said that size (the same
 * rule is `DerivedLength` in native/http_rules.h). */
export function derivedLength(code: number, headRequest: boolean, size: number): number {
  if (bodilessStatus(code) || (headRequest && size === 0)) return -1;
  return size;
}

// ---- Response headers the server owns ---------------------------------------

/** What the server does with a response header set by the application. */
export const HeaderRole = Object.freeze({
  /** Sent as given. */
  Keep: 0,
  /** Content-Length: read (1*DIGIT) and honoured; the server writes it. */
  ContentLength: 1,
  /** Connection: a `close` token is honoured (the server sends
   * `Connection: close` and closes after the response); the field itself
   * is the server's to write. */
  Connection: 2,
  /** The server's own: dropped. validate() refuses it, since an
   * application that sets it expects something that will not happen. */
  Drop: 3,
} as const);
export type HeaderRole = (typeof HeaderRole)[keyof typeof HeaderRole];

/**
 * The response headers the server owns, lower case, each with its role and
 * the reason. Framing (Content-Length, Transfer-Encoding) and persistence
 * are decided per connection by the server (RFC 9112 §6, §9); hop-by-hop
 * fields (RFC 9110 §7.6.1) describe that one connection, which only the
 * server sees; Date is the server's clock (RFC 9110 §6.6.1). Every other
 * field, Proxy-Authenticate included (end to end since RFC 9110 §11.7.1: a
 * 407 needs it), is the application's.
 */
export const OWNED_HEADERS: ReadonlyMap<string, { role: HeaderRole; why: string }> = new Map([
  ['content-length', { role: HeaderRole.ContentLength, why: 'framing, RFC 9112 §6.2: read and honoured, written by the server' }],
  ['connection', { role: HeaderRole.Connection, why: 'hop-by-hop, RFC 9110 §7.6.1: only "close" is honoured' }],
  ['transfer-encoding', { role: HeaderRole.Drop, why: 'framing, RFC 9112 §6.1: the server chooses chunked or a length' }],
  ['keep-alive', { role: HeaderRole.Drop, why: 'hop-by-hop, RFC 9110 §7.6.1: persistence is the server\'s' }],
  ['proxy-connection', { role: HeaderRole.Drop, why: 'hop-by-hop, RFC 9110 §7.6.1' }],
  ['te', { role: HeaderRole.Drop, why: 'hop-by-hop, RFC 9110 §10.1.4: a request field' }],
  ['trailer', { role: HeaderRole.Drop, why: 'RFC 9110 §6.6.2: the server sends no trailer section' }],
  ['upgrade', { role: HeaderRole.Drop, why: 'hop-by-hop, RFC 9110 §7.8: the server does not switch protocols' }],
  ['date', { role: HeaderRole.Drop, why: 'RFC 9110 §6.6.1: the server writes one Date per response from its clock' }],
]);

/** The role of a response header name (any case). */
export function headerRole(name: string): HeaderRole {
  return OWNED_HEADERS.get(name.toLowerCase())?.role ?? HeaderRole.Keep;
}

/** A Content-Length value: 1 to 15 decimal digits with optional whitespace
 * around (RFC 9110 §8.6, RFC 9112 §5.1), as a number; -1 otherwise. */
export function parseContentLength(value: string): number {
  let i = 0;
  let end = value.length;
  while (i < end && (value.charCodeAt(i) === 0x20 || value.charCodeAt(i) === 0x09)) i++;
  while (end > i && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  if (end === i || end - i > 15) return -1;
  let n = 0;
  for (let k = i; k < end; k++) {
    const d = value.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Whether a request head announces a body (RFC 9112 §6.3): a
 * Content-Length other than 0, or else a Transfer-Encoding. Takes node's
 * lower-case header object; the head was already found well-framed.
 *
 * @example
 * ```ts
 * requestHasBody({ 'content-length': '0' }); // false
 * requestHasBody({ 'transfer-encoding': 'chunked' }); // true
 * ```
 */
export function requestHasBody(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  const length = headers['content-length'];
  return length !== undefined ? length !== '0' : headers['transfer-encoding'] !== undefined;
}

/** The tokens of a list-valued field such as Connection (RFC 9110 §5.6.1),
 * lower case, empty elements dropped. */
export function listTokens(value: string): string[] {
  const tokens: string[] = [];
  for (const part of value.split(',')) {
    const t = part.trim().toLowerCase();
    if (t !== '') tokens.push(t);
  }
  return tokens;
}
