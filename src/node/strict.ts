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

/** The status a request head deserves beyond what node:http checks, or 0. */
export function checkHead(req: IncomingMessage, limits: Limits): number {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) return 505;
  const url = req.url ?? '';
  if (url.length > limits.maxUrlSize) return 414;
  if (!validTarget(req.method ?? '', url)) return 400;
  const raw = req.rawHeaders;
  if (raw.length / 2 > limits.maxHeaderCount) return 431;
  let hosts = 0;
  const codings: string[] = [];
  let te = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === 'host') {
      hosts++;
      if (!HOST.test(value)) return 400;
    } else if (name === 'transfer-encoding') {
      te = true;
      for (const c of value.split(',')) codings.push(c.trim().toLowerCase());
    }
  }
  if (hosts > 1 || (req.httpVersionMinor === 1 && hosts === 0)) return 400;
  if (te) {
    if (req.httpVersionMinor === 0) return 400;
    if (codings.some((c) => !TOKEN.test(c))) return 400;
    if (codings[codings.length - 1] !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1) return 400;
    if (codings.length > 1) return 501;
  }
  const cl = req.headers['content-length'];
  if (cl !== undefined && Number(cl) > limits.maxBodySize) return 413;
  return 0;
}

/**
 * Whether the request asks to close the connection. node:http misses
 * "close" followed by HTAB (trailing OWS, RFC 9112 section 5.1), which it
 * trims from `rawHeaders` but not from its own reading.
 */
export function asksClose(req: IncomingMessage): boolean {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== 10 || raw[i]!.toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.split(',')) {
      if (token.trim().toLowerCase() === 'close') return true;
    }
  }
  return false;
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
