// strict.ts: the strict-parsing rules the reference server applies to a
// request head node:http has parsed: those of native/strict.cc that
// node:http (llhttp 9) leaves to its user. test/hardening/strict.test.ts
// runs every rule against both servers; the cases node:http makes
// impossible are skipped there with the reason.
import type { IncomingMessage } from 'node:http';
import type { Limits } from '../settings.js';
import { isTarget, TOKEN } from '../gateway/http-rules.js';
import { HeadField, type HeaderShape } from '../gateway/environ.js';

// Host = uri-host [ ":" port ] (RFC 9110 section 7.2, RFC 3986 section 3.2.2):
// an IP-literal of kIpLiteral characters in brackets, or a reg-name of
// kRegName characters (possibly empty), then an optional ":" and digits.
// Checked in a loop over a table: every request has a Host.
const kRegName = 1;
const kIpLiteral = 2;
const kHostChars = new Uint8Array(128);
for (const c of "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._~!$&'()*+,;=-") {
  kHostChars[c.charCodeAt(0)] = kRegName | kIpLiteral;
}
kHostChars[0x25 /* % */] = kRegName;
kHostChars[0x3a /* : */] = kIpLiteral;

function validHost(host: string): boolean {
  const n = host.length;
  let i = 0;
  if (n > 0 && host.charCodeAt(0) === 0x5b /* [ */) {
    i = 1;
    while (i < n) {
      const c = host.charCodeAt(i);
      if (c >= 128 || (kHostChars[c]! & kIpLiteral) === 0) break;
      i++;
    }
    if (i === 1 || i === n || host.charCodeAt(i) !== 0x5d /* ] */) return false;
    i++;
  } else {
    while (i < n) {
      const c = host.charCodeAt(i);
      if (c >= 128 || (kHostChars[c]! & kRegName) === 0) break;
      i++;
    }
  }
  if (i === n) return true;
  if (host.charCodeAt(i) !== 0x3a /* : */) return false;
  for (i++; i < n; i++) {
    const c = host.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
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
  if (!isTarget(url)) return false;
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
  return validHost(authority);
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

/** The last Host value checkHead found valid, and the last target with
 * its method (the asterisk-form is valid only for OPTIONS). */
let lastHost = '';
let lastTarget: string | null = null;
let lastTargetMethod = '';

/** Whether the field name `name` is `lower` (letters and "-", of the same
 * length) in any case, without a lower-cased copy: the usual spelling
 * `usual` first, then the characters, where a character of a token with
 * the 0x20 bit set is one of `lower`'s only if it is one in either case. */
function isName(name: string, usual: string, lower: string): boolean {
  if (name === usual) return true;
  for (let i = 0; i < lower.length; i++) {
    if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** The HeadField of a field name, without the trie (which tells it from
 * the environ key). */
function headField(name: string): HeadField {
  switch (name.length) {
    case 4:
      return isName(name, 'Host', 'host') ? HeadField.Host : HeadField.Other;
    case 17:
      return isName(name, 'Transfer-Encoding', 'transfer-encoding') ? HeadField.TransferEncoding : HeadField.Other;
    case 14:
      return isName(name, 'Content-Length', 'content-length') ? HeadField.ContentLength : HeadField.Other;
    case 10:
      return isName(name, 'Connection', 'connection') ? HeadField.Connection : HeadField.Other;
    default:
      return HeadField.Other;
  }
}

/** A fresh HeadFacts for checkHead to fill. */
export const headFacts = (): HeadFacts => ({ hasBody: false, close: false });

/** The status a request head deserves beyond what node:http checks, or 0;
 * fills `facts` when it is 0. `shape` is where walkHeaders() took the
 * names (null: the trie is full), which knows which of them matter. */
export function checkHead(req: IncomingMessage, limits: Limits, facts: HeadFacts, shape: HeaderShape | null): number {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) return 505;
  const url = req.url ?? '';
  if (url.length > limits.maxUrlSize) return 414;
  // A client asking for the same target again (the last valid one for
  // that method) is not checked again.
  const method = req.method ?? '';
  if (url !== lastTarget || method !== lastTargetMethod) {
    if (!validTarget(method, url)) return 400;
    lastTarget = url;
    lastTargetMethod = method;
  }
  const raw = req.rawHeaders;
  if (raw.length / 2 > limits.maxHeaderCount) return 431;
  let hosts = 0;
  let codings: string[] | null = null;
  let cl: string | undefined;
  let close = false;
  // The shape the names walked to knows where its four fields are; without
  // one (the trie is full) every name is looked at.
  const checked = shape === null ? null : shape.checked;
  const count = checked === null ? raw.length / 2 : checked.length / 2;
  for (let c = 0; c < count; c++) {
    let at: number;
    let field: HeadField;
    if (checked === null) {
      at = c;
      field = headField(raw[2 * c]!);
      if (field === HeadField.Other) continue;
    } else {
      at = checked[2 * c]!;
      field = checked[2 * c + 1]! as HeadField;
    }
    const value = raw[2 * at + 1]!;
    if (field === HeadField.Host) {
      hosts++;
      // Clients send the same Host on every request: the last valid one
      // is not checked again.
      if (value !== lastHost) {
        if (!validHost(value)) return 400;
        lastHost = value;
      }
    } else if (field === HeadField.TransferEncoding) {
      codings ??= [];
      for (const coding of value.split(',')) codings.push(coding.trim().toLowerCase());
    } else if (field === HeadField.ContentLength) {
      cl ??= value;
    } else if (!close) {
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
