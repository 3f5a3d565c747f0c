#!/usr/bin/env node
// idle-client.mjs: opens N keep-alive connections to a server, makes one
// request on each, and then keeps them all open and idle, so that the
// harness (bench/run.mjs) can read the server's resident memory.
//
//   node bench/idle-client.mjs --port PORT [--connections 8000] [--concurrency 256]
//                              [--path /] [--timeout 120]
//
// At most --concurrency connections are being opened at once. Protocol on
// stdout/stdin, one JSON object or command per line:
//   -> {"event":"ready","ok":N,"failed":F,"firstError":...,"ms":T,"nofile":L}
//      once every connection has its response (or failed)
//   <- count   -> {"event":"count","open":N}   connections still open
//   <- close   -> closes everything and exits 0
// The whole run is bounded by --timeout seconds; 127.0.0.1 only.
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { exchange } from '../scripts/lib/http-response.mjs';
import { openFileLimit } from '../scripts/lib/proc.mjs';

const opts = { port: 0, connections: 8000, concurrency: 256, path: '/', timeout: 120 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in opts) || i + 1 >= argv.length) {
    process.stderr.write(`idle-client.mjs: bad argument ${argv[i]}\n`);
    process.exit(2);
  }
  opts[key] = key === 'path' ? argv[++i] : Number(argv[++i]);
}
if (!(opts.port > 0) || !(opts.connections > 0) || !(opts.concurrency > 0)) {
  process.stderr.write('idle-client.mjs: --port, --connections and --concurrency must be positive\n');
  process.exit(2);
}

const HOST = '127.0.0.1';
const request = Buffer.from(`GET ${opts.path} HTTP/1.1\r\nHost: ${HOST}:${opts.port}\r\n\r\n`);
const sockets = new Set();
let started = 0;
let ok = 0;
let failed = 0;
let firstError = null;
let closedEarly = 0;
let readySent = false;
const t0 = Date.now();

function send(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

const hardTimer = setTimeout(() => {
  process.stderr.write(`idle-client.mjs: gave up after ${opts.timeout} s\n`);
  for (const s of sockets) s.destroy();
  process.exit(1);
}, opts.timeout * 1000);

function settled() {
  if (!readySent && ok + failed === opts.connections) {
    readySent = true;
    send({ event: 'ready', ok, failed, firstError, closedEarly, ms: Date.now() - t0, nofile: String(openFileLimit()) });
  }
}

/** Opens one connection, makes one request, resolves when its response is
 * complete (a 200) or it failed. */
async function one() {
  const sock = connect({ host: HOST, port: opts.port });
  const { outcome, responses, error } = await exchange(sock, request, { timeoutMs: opts.timeout * 1000 });
  const status = responses[0]?.status;
  const why =
    outcome === 'done'
      ? status === 200
        ? null
        : `status ${status}`
      : outcome === 'error'
        ? error
        : outcome === 'closed'
          ? (sock.errored?.code ?? 'closed before the response')
          : 'no response';
  if (why) {
    failed++;
    firstError ??= why;
    sock.destroy();
    return;
  }
  ok++;
  sockets.add(sock);
  sock.on('error', () => {});
  sock.on('close', () => {
    if (sockets.delete(sock)) closedEarly++;
  });
}

async function worker() {
  for (let guard = 0; guard < opts.connections && started < opts.connections; guard++) {
    started++;
    await one();
  }
}

const workers = [];
for (let i = 0; i < Math.min(opts.concurrency, opts.connections); i++) workers.push(worker());
Promise.all(workers).then(settled);

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'count') send({ event: 'count', open: sockets.size, closedEarly });
  else if (cmd === 'close') {
    for (const s of sockets) s.destroy();
    clearTimeout(hardTimer);
    send({ event: 'closed' });
    process.exit(0);
  }
});
rl.on('close', () => {
  // The harness went away: do not linger.
  for (const s of sockets) s.destroy();
  process.exit(0);
});
