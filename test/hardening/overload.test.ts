// overload.test.ts: a server in a child process (test/fixtures/
// fault-server.mjs, from dist/) measured from outside through /proc:
// resident memory stays bounded against a client that reads a huge stream
// very slowly and against one that uploads as fast as it can to an
// application that never reads; running out of descriptors sheds load
// without spinning and recovers; a thousand keep-alive connections are held
// and served at once (scripts/connections-10k.mjs does ten thousand).
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { ServerKind } from '../../src/index.js';
import { sleep } from '../helpers/http.js';
import { forEachServer } from '../helpers/servers.js';
import { requireBuild } from '../helpers/cli.js';
// @ts-expect-error: a plain .mjs script without types
import { exchange as exchangeRaw } from '../../scripts/lib/http-response.mjs';
// @ts-expect-error: a plain .mjs script without types
import { cpuMs, fdCount, rssKiB } from '../../scripts/lib/proc.mjs';
// @ts-expect-error: a plain .mjs script without types
import { startServer } from '../../scripts/lib/server-process.mjs';

const fixture = fileURLToPath(new URL('../fixtures/fault-server.mjs', import.meta.url));
// Far below what either test would reach without backpressure (gigabytes
// in a few seconds), far above a server's normal swings.
const RSS_BOUND_KIB = 48 * 1024;

interface ChildServer {
  child: ChildProcess;
  pid: number;
  port: number;
}

const children = new Set<ChildProcess>();
const sockets = new Set<net.Socket>();

/** Starts the fixture, with the descriptor limit `nofile` if given;
 * `options` are serve() options (numbers). */
async function startChild(kind: ServerKind, nofile?: number, options: string[] = []): Promise<ChildServer> {
  const srv = await startServer(process.execPath, [fixture, kind, ...options], { nofile, timeoutMs: 10_000 });
  children.add(srv.child);
  return { child: srv.child, pid: srv.info.pid as number, port: srv.port };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    sockets.add(s);
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
    s.on('close', () => sockets.delete(s));
  });
}

/** One GET on `s`: resolves with the status, or 0 if the connection closed
 * (or stayed silent for `timeoutMs`) first. */
async function exchange(s: net.Socket, path = '/', timeoutMs = 2000): Promise<number> {
  const { outcome, responses } = await exchangeRaw(s, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, {
    timeoutMs,
  });
  return outcome === 'done' ? (responses[0].status as number) : 0;
}

beforeAll(() => requireBuild());

afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const c of children) c.kill('SIGKILL');
  children.clear();
});

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

forEachServer((kind) => {
  it('keeps memory bounded while a client reads an endless stream very slowly', async () => {
    const server = await startChild(kind);
    const warm = await connect(server.port);
    expect(await exchange(warm)).toBe(200);
    warm.destroy();
    await sleep(200);
    const base = rssKiB(server.pid);
    const s = await connect(server.port);
    let received = 0;
    s.on('data', (d: Buffer) => {
      received += d.length;
      s.pause();
    });
    s.write('GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    let max = base;
    const end = Date.now() + 4000;
    while (Date.now() < end) {
      await sleep(250);
      // One read every quarter second: the client takes what one 'data'
      // event holds, then stops again.
      s.resume();
      max = Math.max(max, rssKiB(server.pid));
    }
    expect(received, 'the stream flowed').toBeGreaterThan(0);
    expect(max - base, `RSS ${base} KiB before, ${max} KiB at most`).toBeLessThan(RSS_BOUND_KIB);
    s.destroy();
  }, 20_000);

  it('keeps memory bounded while a client uploads as fast as it can to an app that never reads', async () => {
    // A body limit above the upload, so that only backpressure can stop it.
    const server = await startChild(kind, undefined, [`maxBodySize=${16 * 1024 ** 3}`]);
    await sleep(200);
    const base = rssKiB(server.pid);
    const s = await connect(server.port);
    s.write(`POST /sink HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${8 * 1024 ** 3}\r\n\r\n`);
    const block = Buffer.alloc(256 * 1024, 0x75);
    let accepted = 0;
    let max = base;
    const end = Date.now() + 4000;
    let lastSample = 0;
    while (Date.now() < end && !s.destroyed) {
      if (s.write(block)) {
        accepted += block.length;
      } else {
        accepted += block.length;
        // Wait for drain, at most 100 ms; never leave the listener behind.
        let onDrain: () => void = () => {};
        await Promise.race([new Promise<void>((r) => s.once('drain', (onDrain = r))), sleep(100)]);
        s.off('drain', onDrain);
      }
      if (Date.now() - lastSample > 100) {
        lastSample = Date.now();
        max = Math.max(max, rssKiB(server.pid));
        await new Promise((r) => setImmediate(r));
      }
    }
    max = Math.max(max, rssKiB(server.pid));
    // What the client could hand over: the socket buffers on both sides
    // and the server's 64 KiB of input, not the gigabytes it tried.
    expect(accepted - s.writableLength, 'the server stopped reading').toBeLessThan(64 * 1024 * 1024);
    expect(max - base, `RSS ${base} KiB before, ${max} KiB at most`).toBeLessThan(RSS_BOUND_KIB);
    s.destroy();
  }, 20_000);

  it('sheds load without spinning when it runs out of descriptors, and recovers', async () => {
    const server = await startChild(kind, 64);
    const fdsBefore = fdCount(server.pid);
    // Hold keep-alive connections, each served once, until accept fails:
    // the server then closes new connections at once (libuv's reserve
    // descriptor trick) instead of answering them.
    const held: net.Socket[] = [];
    let shedInARow = 0;
    let shed = 0;
    for (let i = 0; i < 120 && shedInARow < 5; i++) {
      const s = await connect(server.port);
      const status = await exchange(s, '/', 1000);
      if (status === 200) {
        held.push(s);
        shedInARow = 0;
      } else {
        shed++;
        shedInARow++;
        s.destroy();
      }
    }
    expect(held.length, 'connections served before the limit').toBeGreaterThan(10);
    expect(shedInARow, 'new connections are shed at the limit').toBe(5);
    // Saturated: keep knocking for 1.5 s and measure the server's CPU time.
    const cpu0 = cpuMs(server.pid);
    const t0 = Date.now();
    let knocks = 0;
    while (Date.now() - t0 < 1500) {
      const s = await connect(server.port).catch(() => null);
      if (s) {
        knocks++;
        expect(await exchange(s, '/', 500), 'shed while saturated').toBe(0);
        s.destroy();
      }
      await sleep(20);
    }
    const spent = cpuMs(server.pid) - cpu0;
    const elapsed = Date.now() - t0;
    expect(knocks).toBeGreaterThan(10);
    expect(spent, `CPU ${spent} ms in ${elapsed} ms while saturated`).toBeLessThan(elapsed / 4);
    // Connections it holds are still served.
    expect(await exchange(held[0]!, '/', 2000)).toBe(200);
    expect(server.child.exitCode, 'the server is alive').toBe(null);
    // Clients go away: new requests succeed again.
    for (const s of held) s.destroy();
    await sleep(300);
    let ok = 0;
    for (let i = 0; i < 20; i++) {
      const s = await connect(server.port);
      if ((await exchange(s, '/', 2000)) === 200) ok++;
      s.destroy();
    }
    expect(ok, 'requests after recovery').toBe(20);
    const settled = Date.now() + 3000;
    while (fdCount(server.pid) > fdsBefore + 1 && Date.now() < settled) await sleep(50);
    expect(fdCount(server.pid), `descriptors: ${fdsBefore} before`).toBeLessThanOrEqual(fdsBefore + 1);
  }, 30_000);

  it('holds and serves 1,000 concurrent keep-alive connections', async () => {
    const server = await startChild(kind, 4096);
    const held: net.Socket[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const opened = await Promise.all(Array.from({ length: 100 }, () => connect(server.port)));
      const statuses = await Promise.all(opened.map((s) => exchange(s, '/', 5000)));
      expect(statuses.filter((st) => st === 200).length, `batch ${batch}`).toBe(100);
      held.push(...opened);
    }
    expect(held.filter((s) => !s.destroyed).length).toBe(1000);
    // All still open: one more request on each.
    const again = await Promise.all(held.map((s) => exchange(s, '/', 10_000)));
    expect(again.filter((st) => st === 200).length).toBe(1000);
    expect(fdCount(server.pid)).toBeGreaterThanOrEqual(1000);
  }, 30_000);
});
