// forwarded.test.ts: what X-Forwarded-* and Forwarded (RFC 7239) change in
// the environ (src/gateway/forwarded.ts): REMOTE_ADDR/PORT, tsgi.url_scheme,
// SERVER_NAME/PORT, only from the front-ends of forwardedAllowIps; from any
// other peer they stay plain HTTP_* keys. Real requests from 127.0.0.1.
import { expect, it } from 'vitest';
import { serve, type Application } from '../../src/index.js';
import { buildRequest, request, type HeaderList } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

interface Seen {
  addr: string;
  port: string;
  scheme: string;
  name: string;
  serverPort: string;
  xff?: string;
  fwd?: string;
  host?: string;
}

const app: Application = (environ, startResponse) => {
  const seen: Seen = {
    addr: environ.REMOTE_ADDR,
    port: environ.REMOTE_PORT,
    scheme: environ['tsgi.url_scheme'],
    name: environ.SERVER_NAME,
    serverPort: environ.SERVER_PORT,
    xff: environ.HTTP_X_FORWARDED_FOR,
    fwd: environ.HTTP_FORWARDED,
    host: environ.HTTP_X_FORWARDED_HOST,
  };
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [JSON.stringify(seen)];
};

async function seen(port: number, headers: HeaderList): Promise<Seen> {
  const { responses } = await request(port, buildRequest('GET', '/', { headers: [['Host', 'internal:8000'], ...headers] }));
  expect(responses[0]!.status).toBe(200);
  return JSON.parse(responses[0]!.body.toString()) as Seen;
}

forEachServer((kind) => {
  it('from a trusted peer (127.0.0.1 by default): the right-most untrusted hop of X-Forwarded-For, the scheme, host and port', async () => {
    const { port } = await start(kind, app);
    const s = await seen(port, [
      ['X-Forwarded-For', '203.0.113.7, 10.0.0.1'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Host', 'example.com'],
    ]);
    // 10.0.0.1 is not trusted: it is the client as far as we can know.
    expect(s).toMatchObject({ addr: '10.0.0.1', port: '', scheme: 'https', name: 'example.com', serverPort: '443' });
    // The headers themselves stay as they were sent.
    expect(s.xff).toBe('203.0.113.7, 10.0.0.1');
  });

  it('walks past every trusted hop, across repeated headers, and takes the left-most when all are trusted', async () => {
    const { port } = await start(kind, app, { forwardedAllowIps: '127.0.0.1, 10.0.0.0/8, 2001:db8::/32' });
    const two = await seen(port, [
      ['X-Forwarded-For', '198.51.100.9, 2001:db8::5'],
      ['X-Forwarded-For', '10.1.2.3'],
    ]);
    expect(two.addr).toBe('198.51.100.9');
    const all = await seen(port, [['X-Forwarded-For', '10.9.9.9, 10.1.1.1']]);
    expect(all.addr).toBe('10.9.9.9');
    // The proto of the hop that named the client: as many from the right
    // as trusted hops were passed over.
    const proto = await seen(port, [
      ['X-Forwarded-For', '198.51.100.9, 10.1.1.1'],
      ['X-Forwarded-Proto', 'https, http'],
      ['X-Forwarded-Host', 'public.example, internal.example'],
    ]);
    expect(proto).toMatchObject({ addr: '198.51.100.9', scheme: 'https', name: 'public.example' });
  });

  it('takes X-Forwarded-Ssl, X-Forwarded-Port and a host with a port', async () => {
    const { port } = await start(kind, app);
    expect(await seen(port, [['X-Forwarded-Ssl', 'on']])).toMatchObject({ scheme: 'https', name: 'internal', serverPort: String(port) });
    expect(await seen(port, [['X-Forwarded-Host', '[2001:db8::1]:8443']])).toMatchObject({ name: '2001:db8::1', serverPort: '8443' });
    expect(await seen(port, [['X-Forwarded-Host', 'a.example'], ['X-Forwarded-Port', '9443']])).toMatchObject({ name: 'a.example', serverPort: '9443' });
  });

  it('takes RFC 7239 Forwarded before X-Forwarded-*, with quoted IPv6 nodes and ports', async () => {
    const { port } = await start(kind, app);
    const s = await seen(port, [
      ['Forwarded', 'for="[2001:db8:cafe::17]:4711";proto=https;host=shop.example, for=127.0.0.1'],
      ['X-Forwarded-For', '192.0.2.1'],
    ]);
    expect(s).toMatchObject({ addr: '2001:db8:cafe::17', port: '4711', scheme: 'https', name: 'shop.example', serverPort: '443' });
    // `unknown` and obfuscated nodes name no address: REMOTE_ADDR stays.
    const hidden = await seen(port, [['Forwarded', 'for=_hidden;proto=https']]);
    expect(hidden).toMatchObject({ addr: '127.0.0.1', scheme: 'https' });
  });

  it('ignores malformed values, never failing the request', async () => {
    const { port } = await start(kind, app);
    for (const headers of [
      [['X-Forwarded-For', 'not-an-ip, 10.0.0.1']],
      [['X-Forwarded-For', '']],
      [['X-Forwarded-For', ',,,']],
      [['X-Forwarded-For', '[::1']],
      [['X-Forwarded-For', '1.2.3.4:99999']],
      [['X-Forwarded-Proto', 'gopher']],
      [['X-Forwarded-Port', '0']],
      [['X-Forwarded-Port', '123456']],
      [['X-Forwarded-Host', 'bad host']],
      [['Forwarded', 'for=[::1]']],
      [['Forwarded', 'for="unterminated']],
      [['Forwarded', 'for=1.2.3.4;for=5.6.7.8']],
      [['Forwarded', 'proto']],
      [['Forwarded', 'for=1.2.3.4 garbage']],
    ] as HeaderList[]) {
      const s = await seen(port, headers);
      expect(s, JSON.stringify(headers)).toMatchObject({ addr: '127.0.0.1', scheme: 'http', name: 'internal', serverPort: String(port) });
    }
    // A malformed Forwarded leaves X-Forwarded-* to speak.
    expect((await seen(port, [['Forwarded', 'for='], ['X-Forwarded-For', '192.0.2.4']])).addr).toBe('192.0.2.4');
  });

  it('from a peer not in forwardedAllowIps: nothing changes, the headers stay HTTP_* keys', async () => {
    for (const allow of ['10.0.0.0/8', '::1', '']) {
      const { port, server } = await start(kind, app, { forwardedAllowIps: allow });
      const s = await seen(port, [
        ['X-Forwarded-For', '203.0.113.7'],
        ['X-Forwarded-Proto', 'https'],
        ['X-Forwarded-Host', 'example.com'],
        ['Forwarded', 'for=198.51.100.1;proto=https'],
      ]);
      expect(s, allow).toMatchObject({ addr: '127.0.0.1', scheme: 'http', name: 'internal', serverPort: String(port) });
      expect(s.xff).toBe('203.0.113.7');
      expect(s.fwd).toBe('for=198.51.100.1;proto=https');
      expect(s.host).toBe('example.com');
      await server.close();
    }
  });

  it('trusts every peer with *, and the IPv4 peer of a dual-stack listener as its IPv4 address', async () => {
    const { port } = await start(kind, app, { forwardedAllowIps: '*' });
    expect((await seen(port, [['X-Forwarded-For', '203.0.113.7']])).addr).toBe('203.0.113.7');
    const { port: cidr } = await start(kind, app, { forwardedAllowIps: '127.0.0.0/8' });
    expect((await seen(cidr, [['X-Forwarded-For', '203.0.113.8']])).addr).toBe('203.0.113.8');
  });

  it('refuses a bad forwardedAllowIps before listening, naming it', async () => {
    await expect(serve(app, { server: kind, port: 0, forwardedAllowIps: '10.0.0.0/40' })).rejects.toThrow(
      'serve: forwardedAllowIps must be a list of IP addresses and CIDR ranges (IPv4, IPv6), or *: "10.0.0.0/40" is not one, got "10.0.0.0/40"',
    );
    await expect(serve(app, { server: kind, port: 0, forwardedAllowIps: ['127.0.0.1', 'localhost'] })).rejects.toThrow(TypeError);
  });
});
