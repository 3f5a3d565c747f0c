// forwarded.ts: which peers are trusted front-ends (forwardedAllowIps), and
// what their X-Forwarded-* and Forwarded (RFC 7239) headers change in the
// environ: REMOTE_ADDR/REMOTE_PORT, tsgi.url_scheme, SERVER_NAME and
// SERVER_PORT. Called by finishEnviron (environ.ts) for requests on a
// trusted connection only; both servers decide trust once per connection.
import { BlockList, isIP } from 'node:net';
import type { Environ } from '../types.js';

/** What the list of front-ends is, for the messages. */
const kAccepted = 'IP addresses and CIDR ranges (IPv4, IPv6), or *';

/** `::ffff:127.0.0.1` (a v4 peer on a dual-stack socket) -> `127.0.0.1`. */
function unmap(address: string): string {
  return address.length > 7 && address.charCodeAt(0) === 58 /* : */ && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address)
    ? address.slice(7)
    : address;
}

/**
 * The front-ends trusted to say who the client is: the peers of
 * `forwardedAllowIps`. A unix-socket peer (REMOTE_ADDR `""`) is always
 * trusted, as gunicorn does: the socket's file mode is its access control.
 *
 * @example
 * ```ts
 * const trust = ProxyTrust.parse(['10.0.0.0/8', '::1']);
 * trust.trusts('10.1.2.3'); // true
 * ```
 */
export class ProxyTrust {
  private constructor(
    private readonly all: boolean,
    private readonly list: BlockList,
  ) {}

  /** Parses the list; throws a TypeError naming the first bad item. */
  static parse(items: readonly string[]): ProxyTrust {
    const problem = allowListProblem(items);
    if (problem !== null) throw new TypeError(problem);
    const list = new BlockList();
    let all = false;
    for (const raw of items) {
      const item = raw.trim();
      if (item === '*') {
        all = true;
        continue;
      }
      const slash = item.indexOf('/');
      const address = unmap(slash < 0 ? item : item.slice(0, slash));
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (slash < 0) list.addAddress(address, family);
      else list.addSubnet(address, Number(item.slice(slash + 1)), family);
    }
    return new ProxyTrust(all, list);
  }

  /** Whether `address` (a peer's REMOTE_ADDR) is a trusted front-end. */
  trusts(address: string): boolean {
    if (this.all || address === '') return true;
    const a = unmap(address);
    const family = isIP(a);
    return family !== 0 && this.list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** Applies the forwarded headers of a request from a trusted peer. */
  apply(environ: Environ): void {
    if (
      environ.HTTP_FORWARDED === undefined &&
      environ.HTTP_X_FORWARDED_FOR === undefined &&
      environ.HTTP_X_FORWARDED_PROTO === undefined &&
      environ.HTTP_X_FORWARDED_SSL === undefined &&
      environ.HTTP_X_FORWARDED_HOST === undefined &&
      environ.HTTP_X_FORWARDED_PORT === undefined
    ) {
      return;
    }
    applyForwarded(environ, this);
  }
}

/** Why `items` is not a list of front-ends, or null. */
export function allowListProblem(items: readonly string[]): string | null {
  for (const raw of items) {
    const item = raw.trim();
    if (item === '*') continue;
    const slash = item.indexOf('/');
    const address = unmap(slash < 0 ? item : item.slice(0, slash));
    const family = isIP(address);
    let ok = family !== 0;
    if (ok && slash >= 0) {
      const bits = item.slice(slash + 1);
      ok = /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32);
    }
    if (!ok) return `must be a list of ${kAccepted}: ${JSON.stringify(item)} is not one`;
  }
  return null;
}

// ---- The headers -----------------------------------------------------------

/** One hop: its address (null when it is `unknown` or obfuscated), its
 * port ("" when none) and, for Forwarded, the element's proto and host. */
interface Hop {
  address: string | null;
  port: string;
  proto?: string;
  host?: string;
}

const kPort = /^\d{1,5}$/;
// uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2).
const kHost = /^(?:\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z._~%!$&'()*+,;=-]+)(?::\d{1,5})?$/;

function validPort(port: string): boolean {
  return kPort.test(port) && Number(port) >= 1 && Number(port) <= 65535;
}

/**
 * The item of a list header (X-Forwarded-Proto, -Host, -Port, -Ssl) that
 * the hop naming the client added: `skipped` items from the right (the
 * trusted front-ends X-Forwarded-For passed over, each having appended
 * its own), or the left-most when the list is shorter (a front-end set
 * the header instead of appending to it).
 */
function hopItem(value: string, skipped: number): string {
  if (skipped === 0 && !value.includes(',')) return value.trim();
  const items = value.split(',');
  const i = items.length - 1 - skipped;
  return items[i < 0 ? 0 : i]!.trim();
}

/** X-Forwarded-For: the hops, left to right; null when one is not an IP
 * address (the header is then ignored). */
function xffHops(value: string): Hop[] | null {
  const hops: Hop[] = [];
  for (const raw of value.split(',')) {
    const item = raw.trim();
    // Some proxies write `[::1]` or `1.2.3.4:port`; both are taken.
    let address = item;
    let port = '';
    if (item.charCodeAt(0) === 91 /* [ */) {
      const end = item.indexOf(']');
      if (end < 0) return null;
      address = item.slice(1, end);
      const rest = item.slice(end + 1);
      if (rest !== '') {
        if (rest.charCodeAt(0) !== 58 /* : */ || !validPort(rest.slice(1))) return null;
        port = rest.slice(1);
      }
      if (isIP(address) !== 6) return null;
    } else if (isIP(item) === 0) {
      const colon = item.lastIndexOf(':');
      if (colon < 0 || isIP(item.slice(0, colon)) !== 4 || !validPort(item.slice(colon + 1))) return null;
      address = item.slice(0, colon);
      port = item.slice(colon + 1);
    }
    hops.push({ address: unmap(address), port });
  }
  return hops;
}

/** The value of one Forwarded pair: a token or a quoted-string (RFC 9110
 * §5.6.4); null when malformed. */
const kToken = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Forwarded (RFC 7239 §4): one hop per element, left to right; null when
 * the header is malformed (it is then ignored). */
function forwardedHops(value: string): Hop[] | null {
  const hops: Hop[] = [];
  let i = 0;
  const n = value.length;
  let hop: Hop = { address: null, port: '' };
  const seen = new Set<string>();
  let hasFor = false;
  for (;;) {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
    // An empty pair (`;;`, a trailing `;`) is allowed by the grammar.
    if (i < n && value[i] !== ',' && value[i] !== ';') {
      const eq = value.indexOf('=', i);
      if (eq < 0) return null;
      const name = value.slice(i, eq).toLowerCase();
      if (!kToken.test(name) || seen.has(name)) return null;
      seen.add(name);
      i = eq + 1;
      let v: string;
      if (value[i] === '"') {
        v = '';
        i++;
        for (;;) {
          if (i >= n) return null;
          const c = value[i]!;
          if (c === '"') break;
          if (c === '\\') {
            i++;
            if (i >= n) return null;
          }
          v += value[i]!;
          i++;
        }
        i++;
      } else {
        let end = i;
        while (end < n && value[end] !== ';' && value[end] !== ',' && value[end] !== ' ' && value[end] !== '\t') end++;
        v = value.slice(i, end);
        if (!kToken.test(v)) return null;
        i = end;
      }
      if (name === 'for') {
        const node = forwardedNode(v);
        if (node === null) return null;
        hop.address = node.address;
        hop.port = node.port;
        hasFor = true;
      } else if (name === 'proto') {
        hop.proto = v.toLowerCase();
      } else if (name === 'host') {
        if (!kHost.test(v)) return null;
        hop.host = v;
      }
      while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
    }
    if (i >= n || value[i] === ',') {
      if (!hasFor) hop.address = null;
      hops.push(hop);
      if (i >= n) return hops;
      i++;
      hop = { address: null, port: '' };
      seen.clear();
      hasFor = false;
    } else if (value[i] === ';') {
      i++;
    } else {
      return null;
    }
  }
}

/** A `for=` node (RFC 7239 §6): an address (null for `unknown` and
 * obfuscated identifiers) and a port; null when malformed. */
function forwardedNode(v: string): { address: string | null; port: string } | null {
  let name = v;
  let port = '';
  if (v.charCodeAt(0) === 91 /* [ */) {
    const end = v.indexOf(']');
    if (end < 0) return null;
    name = v.slice(1, end);
    if (isIP(name) !== 6) return null;
    const rest = v.slice(end + 1);
    if (rest !== '') {
      if (rest.charCodeAt(0) !== 58) return null;
      port = rest.slice(1);
    }
  } else {
    const colon = v.indexOf(':');
    if (colon >= 0) {
      name = v.slice(0, colon);
      port = v.slice(colon + 1);
    }
    if (name.toLowerCase() === 'unknown' || /^_[0-9A-Za-z._-]+$/.test(name)) name = '';
    else if (isIP(name) !== 4) return null;
  }
  if (port !== '' && !validPort(port) && !/^_[0-9A-Za-z._-]+$/.test(port)) return null;
  return { address: name === '' ? null : unmap(name), port: validPort(port) ? port : '' };
}

/** The index of the hop that is the client: the right-most one that is
 * not a trusted front-end (or, when every hop is trusted, the left-most). */
function clientHop(hops: Hop[], trust: ProxyTrust): number {
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (hop.address === null || !trust.trusts(hop.address)) return i;
  }
  return 0;
}

/** SERVER_NAME and SERVER_PORT from a `host[:port]` a proxy received. */
function setHost(environ: Environ, host: string, scheme: string): void {
  let name = host;
  let port = '';
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']');
    name = host.slice(1, end);
    if (host.length > end + 1) port = host.slice(end + 2);
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
  }
  if (name === '') return;
  environ.SERVER_NAME = name;
  // A host without a port was reached on the scheme's default port.
  if (port !== '' && validPort(port)) environ.SERVER_PORT = port;
  else if (port === '') environ.SERVER_PORT = scheme === 'https' ? '443' : '80';
}

/**
 * Forwarded, when it parses, wins over the X-Forwarded-* headers; a
 * malformed header is ignored (never an error). The HTTP_* keys stay as
 * they were sent.
 */
function applyForwarded(environ: Environ, trust: ProxyTrust): void {
  const forwarded = environ.HTTP_FORWARDED;
  const hops = forwarded === undefined ? null : forwardedHops(forwarded);
  if (hops !== null && hops.length > 0) {
    const hop = hops[clientHop(hops, trust)]!;
    if (hop.address !== null) {
      environ.REMOTE_ADDR = hop.address;
      environ.REMOTE_PORT = hop.port;
    }
    if (hop.proto === 'http' || hop.proto === 'https') environ['tsgi.url_scheme'] = hop.proto;
    if (hop.host !== undefined) setHost(environ, hop.host, environ['tsgi.url_scheme']);
    return;
  }
  const xff = environ.HTTP_X_FORWARDED_FOR;
  let skipped = 0;
  if (xff !== undefined) {
    const list = xffHops(xff);
    if (list !== null && list.length > 0) {
      const i = clientHop(list, trust);
      const hop = list[i]!;
      skipped = list.length - 1 - i;
      environ.REMOTE_ADDR = hop.address!;
      environ.REMOTE_PORT = hop.port;
    }
  }
  const proto = environ.HTTP_X_FORWARDED_PROTO;
  const ssl = environ.HTTP_X_FORWARDED_SSL;
  const scheme = proto === undefined ? '' : hopItem(proto, skipped).toLowerCase();
  if (scheme === 'http' || scheme === 'https') {
    environ['tsgi.url_scheme'] = scheme;
  } else if (ssl !== undefined) {
    const on = hopItem(ssl, skipped).toLowerCase();
    if (on === 'on') environ['tsgi.url_scheme'] = 'https';
    else if (on === 'off') environ['tsgi.url_scheme'] = 'http';
  }
  const host = environ.HTTP_X_FORWARDED_HOST;
  if (host !== undefined) {
    const h = hopItem(host, skipped);
    if (kHost.test(h)) setHost(environ, h, environ['tsgi.url_scheme']);
  }
  const port = environ.HTTP_X_FORWARDED_PORT;
  if (port !== undefined) {
    const p = hopItem(port, skipped);
    if (validPort(p)) environ.SERVER_PORT = p;
  }
}
