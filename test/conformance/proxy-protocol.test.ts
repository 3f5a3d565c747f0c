// proxy-protocol.test.ts: `proxyProtocol` (haproxy's PROXY protocol v1 and
// v2) on both servers: the header a trusted front-end sends before HTTP
// names the client (REMOTE_ADDR/REMOTE_PORT) and the port it reached
// (SERVER_PORT); a malformed one, or none in time, closes the connection
// with nothing answered; an untrusted peer speaks plain HTTP.
import { expect, it } from 'vitest';
import type { Application } from '../../src/index.js';
import { buildRequest, RawClient } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const app: Application = (environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [`${environ.REMOTE_ADDR} ${environ.REMOTE_PORT} ${environ.SERVER_PORT} ${environ.PATH_INFO} ${environ.HTTP_X_FORWARDED_FOR ?? '-'}`];
};

const kSignature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 header: version/command byte, family byte, the rest. */
function v2(verCmd: number, family: number, body: Buffer): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = verCmd;
  fixed[1] = family;
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([kSignature, fixed, body]);
}

function inet4(src: string, dst: string, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  src.split('.').forEach((o, i) => (b[i] = Number(o)));
  dst.split('.').forEach((o, i) => (b[4 + i] = Number(o)));
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

function inet6(last1: number, last2: number, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(36);
  b.writeUInt16BE(0x2001, 0);
  b.writeUInt16BE(0x0db8, 2);
  b[15] = last1;
  b.writeUInt16BE(0x2001, 16);
  b.writeUInt16BE(0x0db8, 18);
  b[31] = last2;
  b.writeUInt16BE(sport, 32);
  b.writeUInt16BE(dport, 34);
  return b;
}

const tlv = (type: number, value: Buffer) => Buffer.concat([Buffer.from([type, value.length >> 8, value.length & 0xff]), value]);

/** Sends `bytes` (whole, or `step` bytes at a time) and returns the body
 * of the one response. */
async function through(port: number, bytes: Buffer, step = 0): Promise<string> {
  const c = await RawClient.connect(port);
  if (step === 0) await c.send(bytes, 'GET');
  else {
    c.methods.push('GET');
    for (let i = 0; i < bytes.length; i += step) await c.send(bytes.subarray(i, i + step));
  }
  const res = await c.next();
  c.destroy();
  return res.body.toString();
}

/** True when the server closes the connection having sent nothing. */
async function closedUnanswered(port: number, bytes: Buffer): Promise<boolean> {
  const c = await RawClient.connect(port);
  await c.send(bytes);
  const closed = await c.waitClose(5000);
  return closed && c.received === 0;
}

const get = (path = '/p', headers: [string, string][] = []) => buildRequest('GET', path, { headers });

forEachServer((kind) => {
  it('v1: TCP4 and TCP6 name the client and the port it reached; UNKNOWN keeps the peer', async () => {
    const { port } = await start(kind, app, { proxyProtocol: 'v1' });
    const tcp4 = Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n'), get()]);
    expect(await through(port, tcp4)).toBe('192.0.2.10 56324 443 /p -');
    const tcp6 = Buffer.concat([Buffer.from('PROXY TCP6 2001:DB8:0:0::7 2001:db8::1 1 8443\r\n'), get()]);
    expect(await through(port, tcp6)).toBe('2001:db8::7 1 8443 /p -');
    const unknown = Buffer.concat([Buffer.from('PROXY UNKNOWN whatever comes here\r\n'), get()]);
    expect(await through(port, unknown)).toMatch(new RegExp(`^127\\.0\\.0\\.1 \\d+ ${port} /p -$`));
  });

  it('v2: TCP4, TCP6 (with TLVs skipped), LOCAL and UNSPEC', async () => {
    const { port } = await start(kind, app, { proxyProtocol: 'v2' });
    expect(await through(port, Buffer.concat([v2(0x21, 0x11, inet4('203.0.113.5', '10.0.0.1', 40000, 80)), get()]))).toBe('203.0.113.5 40000 80 /p -');
    const withTlvs = Buffer.concat([inet6(0x44, 0x01, 5, 443), tlv(0x01, Buffer.from('h2')), tlv(0x05, Buffer.from('unique-id')), tlv(0x04, Buffer.alloc(0))]);
    expect(await through(port, Buffer.concat([v2(0x21, 0x21, withTlvs), get()]))).toBe('2001:db8::44 5 443 /p -');
    // LOCAL: the balancer's own health check; its block is not looked at.
    expect(await through(port, Buffer.concat([v2(0x20, 0x00, Buffer.from('junk')), get()]))).toMatch(/^127\.0\.0\.1 \d+ \d+ \/p -$/);
    expect(await through(port, Buffer.concat([v2(0x21, 0x00, Buffer.alloc(0)), get()]))).toMatch(/^127\.0\.0\.1 /);
  });

  it('reads a header that arrives a byte at a time, and HTTP right behind it (pipelined)', async () => {
    const { port } = await start(kind, app, { proxyProtocol: 'auto' });
    expect(await through(port, Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.10 198.51.100.1 1 2\r\n'), get('/slow')]), 1)).toBe('192.0.2.10 1 2 /slow -');
    expect(await through(port, Buffer.concat([v2(0x21, 0x11, inet4('192.0.2.11', '10.0.0.1', 3, 4)), get('/slow2')]), 1)).toBe('192.0.2.11 3 4 /slow2 -');
    const c = await RawClient.connect(port);
    await c.send(Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.12 198.51.100.1 7 8\r\n'), get('/a'), get('/b')]), 'GET', 'GET');
    const [a, b] = await c.responses(2);
    expect([a!.body.toString(), b!.body.toString()]).toEqual(['192.0.2.12 7 8 /a -', '192.0.2.12 7 8 /b -']);
    c.destroy();
  });

  it('closes the connection unanswered on a malformed header', async () => {
    const { port } = await start(kind, app, { proxyProtocol: 'auto' });
    const bad: [string, Buffer][] = [
      ['plain HTTP', get()],
      ['a lower-case keyword', Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n')],
      ['a port with a leading zero', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n')],
      ['a port above 65535', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n')],
      ['an IPv6 address under TCP4', Buffer.from('PROXY TCP4 ::1 5.6.7.8 1 2\r\n')],
      ['an IPv4 address with a leading zero', Buffer.from('PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n')],
      ['two spaces', Buffer.from('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n')],
      ['a missing port', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n')],
      ['a bare LF', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n')],
      ['a line over 107 bytes', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(100)}\r\n`)],
      ['a control byte', Buffer.from('PROXY UNKNOWN \x01\r\n')],
      ['an unknown protocol', Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n')],
      ['a bad v2 signature', Buffer.concat([Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0b]), Buffer.alloc(8)])],
      ['v2 version 3', v2(0x31, 0x11, inet4('1.2.3.4', '5.6.7.8', 1, 2))],
      ['a v2 command 2', v2(0x22, 0x11, inet4('1.2.3.4', '5.6.7.8', 1, 2))],
      ['v2 over UDP', v2(0x21, 0x12, inet4('1.2.3.4', '5.6.7.8', 1, 2))],
      ['a v2 length short of its addresses', v2(0x21, 0x21, Buffer.alloc(20))],
      ['a v2 TLV overrunning the header', v2(0x21, 0x11, Buffer.concat([inet4('1.2.3.4', '5.6.7.8', 1, 2), Buffer.from([0x01, 0x00, 0x09, 0x41])]))],
      ['a v2 family 4', v2(0x21, 0x41, Buffer.alloc(12))],
    ];
    for (const [what, bytes] of bad) expect(await closedUnanswered(port, Buffer.concat([bytes, get()])), what).toBe(true);
    // The server still serves well-formed headers.
    expect(await through(port, Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.1 1 2\r\n'), get()]))).toBe('192.0.2.1 1 2 /p -');
  });

  it('holds each mode to its version', async () => {
    const v1only = await start(kind, app, { proxyProtocol: 'v1' });
    expect(await closedUnanswered(v1only.port, Buffer.concat([v2(0x21, 0x11, inet4('1.2.3.4', '5.6.7.8', 1, 2)), get()]))).toBe(true);
    const v2only = await start(kind, app, { proxyProtocol: 'v2' });
    expect(await closedUnanswered(v2only.port, Buffer.concat([Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), get()]))).toBe(true);
  });

  it('closes a connection whose header does not come within the headers timeout, unanswered', async () => {
    const { port } = await start(kind, app, { proxyProtocol: 'v1', headersTimeout: 0.3 });
    const c = await RawClient.connect(port);
    const t0 = Date.now();
    await c.send('PROXY TCP4 1.2.3.4');
    expect(await c.waitClose(3000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(c.received).toBe(0);
  });

  it('from a peer that is not a trusted front-end: plain HTTP (a PROXY line is not a request line: 400)', async () => {
    const { port } = await start(kind, app, { proxyProtocol: 'auto', forwardedAllowIps: '10.0.0.0/8' });
    expect(await through(port, get())).toMatch(/^127\.0\.0\.1 \d+ \d+ \/p -$/);
    const c = await RawClient.connect(port);
    await c.send(Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.1 1 2\r\n'), get()]), 'PROXY');
    const res = await c.next();
    expect(res.status).toBe(400);
    c.destroy();
  });

  it("takes the client of the header as the peer whose forwarded headers count", async () => {
    const { port } = await start(kind, app, { proxyProtocol: 'v1' });
    // 192.0.2.1 is not trusted: its X-Forwarded-For changes nothing.
    const untrusted = Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n'), get('/p', [['X-Forwarded-For', '203.0.113.1']])]);
    expect(await through(port, untrusted)).toBe('192.0.2.1 1 2 /p 203.0.113.1');
    // A PROXY header from a trusted client (another front-end on 127.0.0.1).
    const trusted = Buffer.concat([Buffer.from('PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\n'), get('/p', [['X-Forwarded-For', '203.0.113.1']])]);
    expect(await through(port, trusted)).toBe('203.0.113.1  2 /p 203.0.113.1');
  });

  it("keeps the header's client, port and trust for every request of a keep-alive connection, idle between them", async () => {
    const { port } = await start(kind, app, { proxyProtocol: 'auto' });
    const xff: [string, string][] = [['X-Forwarded-For', '203.0.113.1']];
    // An untrusted client (v1): every request is its own, X-Forwarded-For
    // changes nothing; a trusted one (v2): every request takes it.
    const cases: [Buffer, string][] = [
      [Buffer.from('PROXY TCP4 192.0.2.20 198.51.100.1 9 10\r\n'), '192.0.2.20 9 10'],
      [v2(0x21, 0x11, inet4('127.0.0.1', '10.0.0.1', 11, 12)), '203.0.113.1  12'],
    ];
    for (const [header, peer] of cases) {
      const c = await RawClient.connect(port);
      await c.send(Buffer.concat([header, get('/1', xff)]), 'GET');
      const first = await c.next();
      expect(first.body.toString()).toBe(`${peer} /1 203.0.113.1`);
      for (let i = 2; i <= 5; i++) {
        await c.send(get(`/${i}`, xff), 'GET');
        expect((await c.next()).body.toString()).toBe(`${peer} /${i} 203.0.113.1`);
      }
      c.destroy();
    }
  });
});
