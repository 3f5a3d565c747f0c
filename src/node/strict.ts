// strict.ts: the strict-parsing rules the reference server applies to a
// request head node:http has parsed: those of native/strict.cc that
// node:http (llhttp 9) leaves to its user. test/hardening/strict.test.ts
// runs every rule against both servers; the cases node:http makes
// impossible are skipped there with the reason.
import type { IncomingMessage } from 'node:http';
import type { Limits } from '../settings.js';
import { TARGET, TOKEN } from '../gateway/http-rules.js';

// Host = uri-host [ ":" port ] (RFC 9110 section 7.2, RFC 3986 section 3.2.2).
const HOST = /^(?:\[[0-9A-Za-z:.!$&'()*+,;=_~-]+\]|[0-9A-Za-z._~%!$&'()*+,;=-]*)(?::[0-9]*)?$/;
// absolute-form: scheme ":" hier-part (RFC 3986 section 3.1).
const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const HTTP_SCHEME = /^https?$/i;

/**
 * The request target (RFC 9112 section 3.2): origin-form, absolute-form or
 * (OPTIONS only) asterisk-form, of RFC 3986 characters; an absolute-form
 * one with an authority has a well-formed host and no userinfo (RFC 9110
 * section 4.2.4), and an http or https one a non-empty host.
 */
function validTarget(method: string, url: string): boolean {
  if (url === '*') return method === 'OPTIONS';
  if (!TARGET.test(url)) return false;
  if (url.charCodeAt(0) === 0x2f) return true;
  const m = ABSOLUTE.exec(url);
  if (m === null) return false;
  const http = HTTP_SCHEME.test(m[1]!);
  const rest = url.slice(m[0].length);
  if (!rest.startsWith('//')) return !http;
  let end = rest.length;
  for (let i = 2; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 0x2f || c === 0x3f) {
      end = i;
      break;
    }
  }
  const authority = rest.slice(2, end);
  if (http && (authority === '' || authority.charCodeAt(0) === 0x3a)) return false;
  return HOST.test(authority);
}

const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/(\d)\.(\d)$/;

/**
 * The status for a request line node:http refused for its method or its
 * version: 501 for a well-formed line with a method no one implements,
 * 505 for one with a version other than 1.0 and 1.1, else 400 (RFC 9110
 * sections 15.6.2 and 15.6.6). `line` is without its CRLF; null when it is
 * not all there.
 */
export function requestLineStatus(line: string | null): number {
  const m = line === null ? null : REQUEST_LINE.exec(line);
  if (m === null || !validTarget(m[1]!, m[2]!)) return 400;
  if (m[3] !== '1' || m[4]! > '1') return 505;
  return 501;
}

/** What checkHead learnt about a request head while it read the fields,
 * so that nothing else walks them again (or makes node:http build
 * `req.headers`). One per server, filled anew for each request. */
export interface HeadFacts {
  /** Content-Length other than "0", or Transfer-Encoding (as
   * requestHasBody in http-rules.ts, on the first Content-Length). */
  hasBody: boolean;
  /** Connection has the "close" option. node:http misses "close" followed
   * by HTAB (trailing OWS, RFC 9112 section 5.1), which it trims from
   * `rawHeaders` but not from its own reading. */
  close: boolean;
}

/** A fresh HeadFacts for checkHead to fill. */
export const headFacts = (): HeadFacts => ({ hasBody: false, close: false });

/** The status a request head deserves beyond what node:http checks, or 0;
 * fills `facts` when it is 0. Only the four names that matter are
 * lower-cased: the others are told apart by their length first. */
export function checkHead(req: IncomingMessage, limits: Limits, facts: HeadFacts): number {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) return 505;
  const url = req.url ?? '';
  if (url.length > limits.maxUrlSize) return 414;
  if (!validTarget(req.method ?? '', url)) return 400;
  const raw = req.rawHeaders;
  if (raw.length / 2 > limits.maxHeaderCount) return 431;
  let hosts = 0;
  let codings: string[] | null = null;
  let cl: string | undefined;
  let close = false;
  for (let i = 0; i < raw.length; i += 2) {
    const length = raw[i]!.length;
    if (length !== 4 && length !== 10 && length !== 14 && length !== 17) continue;
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === 'host') {
      hosts++;
      if (!HOST.test(value)) return 400;
    } else if (name === 'transfer-encoding') {
      codings ??= [];
      for (const c of value.split(',')) codings.push(c.trim().toLowerCase());
    } else if (name === 'content-length') {
      cl ??= value;
    } else if (name === 'connection' && !close) {
      for (const token of value.split(',')) {
        if (token.trim().toLowerCase() === 'close') close = true;
      }
    }
  }
  if (hosts > 1 || (req.httpVersionMinor === 1 && hosts === 0)) return 400;
  if (codings !== null) {
    if (req.httpVersionMinor === 0) return 400;
    if (codings.some((c) => !TOKEN.test(c))) return 400;
    if (codings[codings.length - 1] !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1) return 400;
    if (codings.length > 1) return 501;
  }
  if (cl !== undefined && Number(cl) > limits.maxBodySize) return 413;
  facts.hasBody = cl !== undefined ? cl !== '0' : codings !== null;
  facts.close = close;
  return 0;
}

/** Framing fields in a trailer section (RFC 9110 section 6.5.1): 400. */
export function badTrailers(req: IncomingMessage): boolean {
  const raw = req.rawTrailers;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'content-length' || name === 'transfer-encoding') return true;
  }
  return false;
}
