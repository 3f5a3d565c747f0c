// proxy-protocol.ts: the node server's PROXY header (haproxy's PROXY
// protocol, v1 and v2), read on the socket before node:http sees a byte:
// a net.Server accepts, reads the header of a trusted front-end, puts back
// what follows it (socket.unshift) and hands the socket to node:http
// (`connection`, which node:http documents for injecting connections). The
// rules are those of native/proxy_protocol.cc, which the same tests hold
// both servers to (test/conformance/proxy-protocol.test.ts).
import { isIP, SocketAddress, type Socket } from 'node:net';

/** What the header said: the client's address, or none (v1 UNKNOWN, v2
 * LOCAL, UNSPEC, UNIX: the connection keeps its own). */
export interface ProxyAddress {
  source: string;
  sourcePort: number;
  destination: string;
  destinationPort: number;
}

export type ProxyParse =
  | { state: 'more' }
  | { state: 'invalid' }
  | { state: 'done'; length: number; address: ProxyAddress | null };

const kV1Max = 107;
const kV2Signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const kV1Prefix = Buffer.from('PROXY ', 'latin1');

const more: ProxyParse = { state: 'more' };
const invalid: ProxyParse = { state: 'invalid' };

/** "0", or 1-5 digits without a leading zero, at most 65535; else -1. */
function port(text: string): number {
  if (!/^(?:0|[1-9]\d{0,4})$/.test(text)) return -1;
  const n = Number(text);
  return n <= 65535 ? n : -1;
}

/** An address of `family` as inet_ntop writes it, or null. */
function address(text: string, family: 4 | 6): string | null {
  if (text.includes('%') || isIP(text) !== family) return null;
  return family === 4 ? text : new SocketAddress({ address: text, family: 'ipv6' }).address;
}

function v1(buf: Buffer): ProxyParse {
  const n = Math.min(buf.length, kV1Max);
  // Refused at the first byte that cannot be a v1 header.
  for (let i = 0; i < Math.min(n, kV1Prefix.length); i++) if (buf[i] !== kV1Prefix[i]) return invalid;
  let end = -1;
  for (let i = kV1Prefix.length; i < n; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      if (i + 1 >= n) return buf.length >= kV1Max ? invalid : more;
      if (buf[i + 1] !== 0x0a) return invalid;
      end = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return invalid;
  }
  if (end < 0) return buf.length >= kV1Max ? invalid : more;
  const fields = buf.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (fields[1] === 'UNKNOWN') return { state: 'done', length, address: null };
  if (fields.length !== 6 || fields.some((f) => f === '')) return invalid;
  const family = fields[1] === 'TCP4' ? 4 : fields[1] === 'TCP6' ? 6 : 0;
  if (family === 0) return invalid;
  const source = address(fields[2]!, family);
  const destination = address(fields[3]!, family);
  const sourcePort = port(fields[4]!);
  const destinationPort = port(fields[5]!);
  if (source === null || destination === null || sourcePort < 0 || destinationPort < 0) return invalid;
  return { state: 'done', length, address: { source, sourcePort, destination, destinationPort } };
}

function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

function v2(buf: Buffer): ProxyParse {
  const n = Math.min(buf.length, kV2Signature.length);
  for (let i = 0; i < n; i++) if (buf[i] !== kV2Signature[i]) return invalid;
  if (buf.length < 16) return more;
  const verCmd = buf[12]!;
  const fam = buf[13]!;
  const len = buf.readUInt16BE(14);
  if (verCmd >> 4 !== 2 || (verCmd & 0x0f) > 1) return invalid;
  const total = 16 + len;
  const proxy = (verCmd & 0x0f) === 1;
  const family = fam >> 4;
  const transport = fam & 0x0f;
  // LOCAL (a health check of the balancer), or UNSPEC: nothing looked at.
  if (!proxy || (family === 0 && transport === 0)) return buf.length < total ? more : { state: 'done', length: total, address: null };
  if (family === 0 || family > 3 || transport !== 1) return invalid;
  const addressLength = family === 1 ? 12 : family === 2 ? 36 : 216;
  if (len < addressLength) return invalid;
  // The TLVs after the addresses must add up to the length (checked as
  // far as they have arrived, so that a bad one is refused early).
  let at = 16 + addressLength;
  while (at < total) {
    if (total - at < 3) return invalid;
    if (buf.length < at + 3) return more;
    const value = buf.readUInt16BE(at + 1);
    if (value > total - at - 3) return invalid;
    at += 3 + value;
  }
  if (buf.length < total) return more;
  if (family === 3) return { state: 'done', length: total, address: null };
  const a = buf.subarray(16, 16 + addressLength);
  const size = family === 1 ? 4 : 16;
  const text = (b: Buffer) => (family === 1 ? [...b].join('.') : ipv6(b));
  return {
    state: 'done',
    length: total,
    address: {
      source: text(a.subarray(0, size)),
      destination: text(a.subarray(size, 2 * size)),
      sourcePort: a.readUInt16BE(2 * size),
      destinationPort: a.readUInt16BE(2 * size + 2),
    },
  };
}

/** Parses the start of a connection's bytes (`mode`: which versions). */
export function parseProxyHeader(buf: Buffer, mode: 'v1' | 'v2' | 'auto'): ProxyParse {
  if (buf.length === 0) return more;
  if (buf[0] === 0x50 /* P */ && mode !== 'v2') return v1(buf);
  if (buf[0] === 0x0d && mode !== 'v1') return v2(buf);
  return invalid;
}

/**
 * Reads the PROXY header of `socket`, then calls `done` with what it said
 * (the bytes after it are back on the socket); an invalid header, or none
 * within `timeoutMs` (0: no bound), destroys the socket unanswered.
 */
export function readProxyHeader(socket: Socket, mode: 'v1' | 'v2' | 'auto', timeoutMs: number, done: (address: ProxyAddress | null) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  const timer = timeoutMs > 0 ? setTimeout(() => socket.destroy(), timeoutMs) : null;
  timer?.unref();
  const finish = () => {
    if (timer !== null) clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', finish);
    socket.off('error', finish);
  };
  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const r = parseProxyHeader(buf, mode);
    if (r.state === 'more') return;
    finish();
    if (r.state === 'invalid') {
      socket.destroy();
      return;
    }
    // Back on the socket, buffered (no 'data' listener now): node:http's
    // own listener, added in done(), reads it first.
    if (buf.length > r.length) socket.unshift(buf.subarray(r.length));
    done(r.address);
  };
  socket.on('data', onData);
  socket.once('close', finish);
  socket.once('error', finish);
}
