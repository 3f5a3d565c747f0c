// continue.test.ts: `Expect: 100-continue` — the interim response is sent
// when the application starts reading tsgi.input, and never otherwise.
import { expect, it } from 'vitest';
import { barrier, deferred, RawClient, until } from '../helpers/http.js';
import { forEachServer, start } from '../helpers/servers.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

forEachServer((kind) => {
  it('sends 100 Continue only when the app starts reading, then takes the body', async () => {
    const go = deferred();
    let appCalled = false;
    const { port } = await start(kind, async (environ, startResponse) => {
      if (environ.PATH_INFO === '/barrier') {
        startResponse('200 OK', []);
        return [];
      }
      appCalled = true;
      await go.promise;
      const parts: Uint8Array[] = [];
      for await (const c of environ['tsgi.input']) parts.push(c);
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`got:${Buffer.concat(parts).toString()}`];
    });
    const client = await RawClient.connect(port);
    const body = 'continued body';
    await client.send(
      `POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n` +
        `Content-Length: ${body.length}\r\n\r\n`,
      'POST',
    );
    expect(await until(() => appCalled), 'the app is called before the body arrives').toBe(true);
    await barrier(port);
    expect(client.received, 'nothing is sent before the app reads').toBe(0);
    go.resolve();
    await client.waitFor(() => client.received >= CONTINUE.length, 3000, '100 Continue');
    expect(client.text().startsWith(CONTINUE)).toBe(true);
    expect(client.parser.all[0]!.status).toBe(100);
    // The final response cannot come before the body.
    await barrier(port);
    expect(client.parser.responses.length).toBe(0);
    await client.send(body);
    const res = await client.next();
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(`got:${body}`);
    // Exactly one interim response.
    expect(client.parser.all.filter((r) => r.status === 100).length).toBe(1);
    client.destroy();
  });

  it('sends 100 Continue for a chunked upload too', async () => {
    const { port } = await start(kind, async (environ, startResponse) => {
      const all = await environ['tsgi.input'].read();
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [Buffer.from(all)];
    });
    const client = await RawClient.connect(port);
    await client.send(
      'POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n',
      'POST',
    );
    await client.waitFor(() => client.text().startsWith(CONTINUE), 3000, '100 Continue');
    await client.send('4\r\nwxyz\r\n0\r\n\r\n');
    const res = await client.next();
    expect(res.body.toString()).toBe('wxyz');
    client.destroy();
  });

  it('sends no 100 Continue when the app answers without reading', async () => {
    const { port } = await start(kind, (_environ, startResponse) => {
      startResponse('403 Forbidden', [['Content-Type', 'text/plain']]);
      return ['no upload for you'];
    });
    const client = await RawClient.connect(port);
    await client.send(
      'POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n',
      'POST',
    );
    const [res] = await client.responses(1, 5000);
    expect(res, 'a final response arrives without the body being sent').toBeDefined();
    expect(res!.status).toBe(403);
    expect(res!.body.toString()).toBe('no upload for you');
    expect(client.text().startsWith('HTTP/1.1 403')).toBe(true);
    expect(client.parser.all.some((r) => r.status === 100)).toBe(false);
    client.destroy();
  });
});
