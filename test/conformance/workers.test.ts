// workers.test.ts: servers inside worker_threads, loaded from the compiled
// package (dist/, built by `npm test` before vitest): serve, answer,
// close or be terminated, and several workers at once.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { expect, it } from 'vitest';
import type { ServerKind } from '../../src/index.js';
import { buildRequest, get, RawClient, refused, sleep } from '../helpers/http.js';
import { forEachServer, SERVERS, start } from '../helpers/servers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const fixture = path.join(root, 'test', 'fixtures', 'worker-server.mjs');

/** Source files whose compiled output in dist/ is missing or older. */
function staleBuild(): string[] {
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const out = path.join(root, 'dist', path.relative(path.join(root, 'src'), p)).replace(/\.ts$/, '.js');
        if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(p).mtimeMs) {
          stale.push(path.relative(root, p));
        }
      }
    }
  };
  walk(path.join(root, 'src'));
  return stale;
}

function expectBuilt(): void {
  const stale = staleBuild();
  expect(stale, 'dist/ is missing or older than src/: run `npx tsc -p tsconfig.json` (npm test does)').toEqual([]);
}

interface Running {
  worker: Worker;
  port: number;
  kind: string;
  exited: Promise<number>;
}

function startWorker(kind: ServerKind): Promise<Running> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(fixture, { workerData: { kind } });
    const exited = new Promise<number>((r) => worker.once('exit', r));
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`worker (${kind}) did not report a port within 10 s`));
    }, 10_000);
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    worker.once('message', (m: { port: number; kind: string }) => {
      clearTimeout(timer);
      resolve({ worker, port: m.port, kind: m.kind, exited });
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker (${kind}) exited with ${code} before listening`));
    });
  });
}

async function refusedWithin(port: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await refused(port)) return true;
    await sleep(50);
  }
  return refused(port);
}

forEachServer((kind) => {
  it('serves from a worker thread, then stops when the worker is terminated', async () => {
    expectBuilt();
    const w = await startWorker(kind);
    try {
      expect(w.kind).toBe(kind);
      for (let i = 0; i < 5; i++) {
        const res = await get(w.port, `/w${i}`);
        expect(res.status).toBe(200);
        expect(res.body.toString()).toBe(`thread=${w.worker.threadId} kind=${kind} path=/w${i}`);
      }
    } finally {
      await w.worker.terminate();
    }
    await w.exited;
    expect(await refusedWithin(w.port, 3000), 'the port is released after terminate()').toBe(true);
  });

  it('closes gracefully inside a worker, and the worker exits', async () => {
    expectBuilt();
    const w = await startWorker(kind);
    expect((await get(w.port, '/x')).status).toBe(200);
    const closed = new Promise<unknown>((r) => w.worker.once('message', r));
    w.worker.postMessage('close');
    expect(await Promise.race([closed, sleep(5000).then(() => 'timeout')])).toBe('closed');
    expect(await refused(w.port)).toBe(true);
    // Nothing keeps the worker's loop alive after close(): it exits alone.
    const code = await Promise.race([w.exited, sleep(5000).then(() => -999)]);
    if (code === -999) await w.worker.terminate();
    expect(code, 'the worker exits by itself after server.close()').toBe(0);
  });

  it('starts and terminates workers repeatedly while the main thread serves on', async () => {
    expectBuilt();
    // A server of the same kind on the main thread, with one keep-alive
    // connection that must outlive every worker's teardown.
    const main = await start(kind, (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`main ${environ.PATH_INFO}`];
    });
    const client = await RawClient.connect(main.port);
    for (let i = 0; i < 4; i++) {
      const w = await startWorker(kind);
      expect((await get(w.port, '/again')).status).toBe(200);
      expect(await w.worker.terminate(), 'terminate() ends the worker (exit code 1)').toBe(1);
      expect(await refusedWithin(w.port, 3000), "the worker's port is released").toBe(true);
      await client.send(buildRequest('GET', `/main${i}`), 'GET');
      expect((await client.next()).body.toString()).toBe(`main /main${i}`);
    }
    expect(client.closed, "the main thread's connection survived every worker's teardown").toBe(false);
    expect(main.errors.text(), 'nothing was logged on the main thread').toBe('');
    client.destroy();
  });
});

it.runIf(SERVERS.includes('native'))('runs two native servers in two workers at once', async () => {
  expectBuilt();
  const [a, b] = await Promise.all([startWorker('native'), startWorker('native')]);
  try {
    expect(a!.port).not.toBe(b!.port);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => get(i % 2 ? a!.port : b!.port, `/p${i}`)),
    );
    for (const [i, r] of results.entries()) {
      const w = i % 2 ? a! : b!;
      expect(r.body.toString()).toBe(`thread=${w.worker.threadId} kind=native path=/p${i}`);
    }
    await a!.worker.terminate();
    // The other worker keeps serving.
    expect((await get(b!.port, '/still')).body.toString()).toContain('path=/still');
  } finally {
    await Promise.all([a!.worker.terminate(), b!.worker.terminate()]);
  }
});
