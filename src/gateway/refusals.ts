// refusals.ts: the ready-made responses, one table for both servers: what a
// request gets when it cannot reach the application (malformed, over a
// limit, too slow), and the 500 of an application that failed before
// sending anything. The native server receives the refusals' bytes when it
// is constructed (one copy per Server, so per thread) and inserts its
// cached Date; the node server writes the same bytes with its own Date.
// ARCHITECTURE.md, "Ready-made refusals".
import type { Header } from '../types.js';
import { REASONS } from './http-rules.js';

/** One ready-made response. */
export interface Refusal {
  readonly code: number;
  /** `"400 Bad Request"` */
  readonly status: string;
  /** In wire order, after Date. */
  readonly headers: readonly Header[];
  readonly body: string;
}

const kContentType: Header = ['Content-Type', 'text/plain; charset=utf-8'];

function refusalFor(code: number): Refusal {
  const reason = REASONS[code]!;
  const body = `${reason}\n`;
  return Object.freeze({
    code,
    status: `${code} ${reason}`,
    // Each closes the connection: after a request that could not be read
    // whole, nothing after it can be framed (RFC 9112 §2.2, §9.6).
    headers: Object.freeze<Header[]>([kContentType, ['Content-Length', String(Buffer.byteLength(body))], ['Connection', 'close']]),
    body,
  });
}

/** The refusals, by status code. */
export const REFUSALS: ReadonlyMap<number, Refusal> = new Map(
  [400, 408, 413, 414, 417, 431, 501, 505].map((code) => [code, refusalFor(code)]),
);

/** The refusal with status `code` (400 for a code without one). */
export function refusal(code: number): Refusal {
  return REFUSALS.get(code) ?? REFUSALS.get(400)!;
}

/** The refusal's bytes before its Date line (the status line) and after
 * it (the other header lines, the empty line, the body), as latin1. */
export function refusalParts(code: number): { head: string; tail: string } {
  const r = refusal(code);
  let tail = '';
  for (const [name, value] of r.headers) tail += `${name}: ${value}\r\n`;
  return { head: `HTTP/1.1 ${r.status}\r\n`, tail: `${tail}\r\n${r.body}` };
}

/** The whole refusal, with `date` (an IMF-fixdate) as its Date. */
export function refusalBytes(code: number, date: string = new Date().toUTCString()): string {
  const { head, tail } = refusalParts(code);
  return `${head}Date: ${date}\r\n${tail}`;
}

/**
 * The status answering each parse error of the native server, by the name
 * the addon exports for it (`contract.httpErrors`, native/errors.h). `none`
 * never reaches a client; it answers as a bad request so that a bug still
 * sends a well-formed response. binding.ts checks at load that this list
 * and the addon's agree.
 */
export const NATIVE_REFUSALS: Readonly<Record<string, number>> = Object.freeze({
  none: 400,
  badRequest: 400,
  contentTooLarge: 413,
  uriTooLong: 414,
  headerFieldsTooLarge: 431,
  notImplemented: 501,
  versionNotSupported: 505,
  requestTimeout: 408,
  expectationFailed: 417,
  extensionTooLarge: 413,
});

/** The 500 of an application that failed before its response began
 * (PEP 3333). Unlike a refusal it keeps the connection: the request was
 * read whole. The server adds the framing. */
export const SERVER_ERROR = Object.freeze({
  code: 500,
  status: `500 ${REASONS[500]}`,
  headers: Object.freeze([kContentType]) as readonly Header[],
  body: `${REASONS[500]}\n`,
});
