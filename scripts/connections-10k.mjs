#!/usr/bin/env node
// connections-10k.mjs: holds 10,000 concurrent keep-alive connections to a
// tsgi server in a child process and serves a request on each, twice: once
// as the connections are opened (in batches) and once more while all of
// them are open. Prints the server's descriptors and resident memory.
//
//   node scripts/connections-10k.mjs [--connections N] [--batch B]
//                                    [--server native|node]
//
// Both processes need N descriptors and more: the server is started with
// `ulimit -n` raised to N + 1,000 (within the hard limit) and this process
// raises nothing, so its own soft limit must allow N + 100. When a limit
// is too low, the run says so and uses the most connections it allows.
// Exit status 0 when every request got a 200.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exchange } from './lib/http-response.mjs';
import { fdCount, rssKiB } from './lib/proc.mjs';
import { startServer } from './lib/server-process.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = join(root, 'test', 'fixtures', 'fault-server.mjs');
const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '10000' },
    batch: { type: 'string', default: '500' },
    server: { type: 'string', default: 'native' },
  },
});
if (!existsSync(join(root, 'dist', 'index.js'))) {
  process.stderr.write('connections-10k: dist/ is missing: run `npx tsc -p tsconfig.json` first\n');
  process.exit(2);
}

function limits() {
  const r = spawnSync('bash', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' });
  const [soft, hard] = r.stdout.trim().split('\n').map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  return { soft, hard };
}

let wanted = Number(args.connections);
const batch = Number(args.batch);
const kind = args.server === 'node' ? 'node' : 'native';
const { soft, hard } = limits();
const serverLimit = Math.min(hard, wanted + 1000);
const most = Math.min(serverLimit - 100, soft - 100);
if (most < wanted) {
  process.stdout.write(
    `connections-10k: the descriptor limits (soft ${soft}, hard ${hard}) allow about ${most} connections, not ${wanted}: testing ${most}\n`,
  );
  wanted = most;
}

const server = await startServer(process.execPath, [fixture, kind], { nofile: serverLimit, stderr: 'inherit' });
const pid = /** @type {number} */ (server.info.pid);
const { port } = server;
const rss = () => rssKiB(pid);
const fds = () => fdCount(pid);

/** A keep-alive connection. */
function open() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
  });
}

/** One GET / on `s`: true when a complete 200 "ok" came back. */
async function request(s, timeoutMs = 30_000) {
  const { outcome, responses } = await exchange(s, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', { timeoutMs });
  return outcome === 'done' && responses[0].status === 200 && responses[0].body.toString() === 'ok';
}

const t0 = Date.now();
const fdsStart = fds();
const sockets = [];
let failures = 0;
for (let i = 0; i < wanted; i += batch) {
  const n = Math.min(batch, wanted - i);
  const opened = await Promise.all(Array.from({ length: n }, () => open().catch(() => null)));
  const live = opened.filter(Boolean);
  failures += n - live.length;
  const results = await Promise.all(live.map((s) => request(s)));
  failures += results.filter((ok) => !ok).length;
  sockets.push(...live);
}
const tOpen = Date.now();
const held = sockets.filter((s) => !s.destroyed).length;
const fdsHeld = fds();
const rssHeld = rss();
const again = await Promise.all(sockets.map((s) => request(s)));
const secondOk = again.filter(Boolean).length;
const tAgain = Date.now();
for (const s of sockets) s.destroy();
let fdsEnd = fds();
for (let i = 0; i < 100 && fdsEnd > fdsStart; i++) {
  await new Promise((r) => setTimeout(r, 50));
  fdsEnd = fds();
}
await server.stop();

const pass = failures === 0 && held === wanted && secondOk === wanted;
process.stdout.write(
  [
    `connections-10k: ${kind} server, ${wanted} connections in batches of ${batch}`,
    `  first request   ${wanted - failures} of ${wanted} got 200 while opening (${((tOpen - t0) / 1000).toFixed(1)} s)`,
    `  held open       ${held}; server descriptors ${fdsHeld} (${fdsStart} before)`,
    `  second request  ${secondOk} of ${wanted} got 200 with all open (${((tAgain - tOpen) / 1000).toFixed(1)} s)`,
    `  server VmRSS    ${rssHeld} KiB with all open`,
    `  after closing   ${fdsEnd} server descriptors`,
    `  ${pass ? 'held' : 'BROKEN'}`,
  ].join('\n') + '\n',
);
process.exit(pass ? 0 : 1);
