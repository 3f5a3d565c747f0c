// linger.test.ts: a connection the server closes after a response (the
// request said Connection: close, or the body overran its Content-Length)
// delivers that response whole although the client had pipelined more
// input behind it, which the server never answers: RFC 9112 section 9.6's
// lingering close. A server that closes outright with that input unread
// makes its kernel reset the connection, and the reset drops the end of
// the response in the client's kernel before the client has read it.
import { expect, it } from 'vitest';
import { buildRequest, RawClient, until } from '../helpers/http.js';
import { closeServer, forEachServer, start } from '../helpers/servers.js';

/** The response body: large enough that the server's writes wait for the
 * client (node:http then stops reading the socket). */
const BODY = Buffer.alloc(1024 * 1024, 0x61);
/** What the client sends behind the request that closes the connection. */
const TRAILING = Buffer.concat([buildRequest('GET', '/next'), Buffer.alloc(256 * 1024, 0x7a)]);
/** Connections at once: the reset is a race the client often wins alone. */
const CONNECTIONS = 12;

async function exchange(port: number, first: Buffer): Promise<RawClient> {
  const client = await RawClient.connect(port, { keepRaw: false });
  await client.send(first, 'GET');
  // The response is under way (its writes wait for the client) before the
  // rest arrives, so that the server leaves the rest unread.
  await client.waitFor(() => client.received > 0, 10_000, 'the first bytes of the response');
  await client.send(TRAILING, 'GET');
  return client;
}

forEachServer((kind) => {
  for (const why of ['Connection: close', 'a body over its Content-Length'] as const) {
    it(`delivers the last response whole before closing (${why}) though more input follows unread`, async () => {
      const { port } = await start(kind, (env, startResponse) => {
        const cut = env.PATH_INFO === '/surplus';
        // The surplus: the body has 1000 bytes more than declared.
        startResponse('200 OK', [
          ['Content-Type', 'application/octet-stream'],
          ['Content-Length', String(cut ? BODY.length - 1000 : BODY.length)],
        ]);
        return (function* () {
          for (let at = 0; at < BODY.length; at += 16_384) yield BODY.subarray(at, at + 16_384);
        })();
      });
      const first =
        why === 'Connection: close'
          ? buildRequest('GET', '/', { headers: [['Connection', 'close']] })
          : buildRequest('GET', '/surplus');
      const want = why === 'Connection: close' ? BODY.length : BODY.length - 1000;
      const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => exchange(port, first)));
      for (const [i, client] of clients.entries()) {
        expect(await client.waitClose(10_000), `connection ${i}: the server closes it`).toBe(true);
        expect(client.socketError?.message, `connection ${i}: no reset`).toBeUndefined();
        const responses = client.parser.responses;
        expect(responses.length, `connection ${i}: one response, none to the input after it`).toBe(1);
        expect(responses[0]!.complete, `connection ${i}: the response complete`).toBe(true);
        expect(responses[0]!.body.length, `connection ${i}: its body whole`).toBe(want);
        expect(client.parser.error).toBeUndefined();
        client.destroy();
      }
    });
  }

  it('delivers the response whole when more input follows a Connection: close request in the same write', async () => {
    // Here node:http's parser reads the input after the closing request
    // at once and reports it (HPE_CLOSED_CONNECTION) while the response
    // is still queued.
    const { port } = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return [BODY];
    });
    const first = buildRequest('GET', '/', { headers: [['Connection', 'close']] });
    const clients = await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        const client = await RawClient.connect(port, { keepRaw: false });
        await client.send(Buffer.concat([first, TRAILING]), 'GET', 'GET');
        return client;
      }),
    );
    for (const [i, client] of clients.entries()) {
      expect(await client.waitClose(10_000), `connection ${i}: the server closes it`).toBe(true);
      expect(client.socketError?.message, `connection ${i}: no reset`).toBeUndefined();
      expect(client.parser.responses.length, `connection ${i}: one response`).toBe(1);
      expect(client.parser.responses[0]!.body.length, `connection ${i}: its body whole`).toBe(BODY.length);
      client.destroy();
    }
  });

  it('lets a lingering connection finish when the server closes, its response whole', async () => {
    let done = 0;
    const started = await start(kind, (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      // Small enough for the loopback buffers: the server's output
      // finishes while the client is not reading, so it lingers.
      return Object.assign([BODY.subarray(0, 48 * 1024)], { close: () => void done++ });
    });
    const client = await RawClient.connect(started.port, { keepRaw: false });
    client.socket.pause();
    await client.send(Buffer.concat([buildRequest('GET', '/', { headers: [['Connection', 'close']] }), TRAILING]), 'GET', 'GET');
    expect(await until(() => done === 1), 'the response was handed over').toBe(true);
    // Its output finishes on a later turn of the loop (the shutdown's
    // callback): give it a few.
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setTimeout(r, 10));
    // More input while it lingers, unread when the server closes.
    void client.send(TRAILING);
    const closing = closeServer(started.server);
    client.socket.resume();
    expect(await client.waitClose(10_000), 'the server closes the connection').toBe(true);
    expect(client.socketError?.message, 'no reset').toBeUndefined();
    expect(client.parser.responses[0]?.body.length, 'the body whole').toBe(48 * 1024);
    await closing;
    client.destroy();
  });
});
