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
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

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

function nofile() {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

const hardTimer = setTimeout(() => {
  process.stderr.write(`idle-client.mjs: gave up after ${opts.timeout} s\n`);
  for (const s of sockets) s.destroy();
  process.exit(1);
}, opts.timeout * 1000);

function settled() {
  if (!readySent && ok + failed === opts.connections) {
    readySent = true;
    send({ event: 'ready', ok, failed, firstError, closedEarly, ms: Date.now() - t0, nofile: nofile() });
  }
}

/** Opens one connection, makes one request, resolves when its response is complete. */
function one() {
  return new Promise((resolve) => {
    const sock = connect({ host: HOST, port: opts.port });
    let buf = Buffer.alloc(0);
    let need = -1;
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      if (err) {
        failed++;
        firstError ??= err;
        sock.destroy();
      } else {
        ok++;
        sockets.add(sock);
      }
      resolve();
    };
    sock.on('error', (e) => finish(e.code ?? e.message));
    sock.on('close', () => {
      if (!done) finish('closed before the response');
      else if (sockets.delete(sock)) closedEarly++;
    });
    sock.on('connect', () => sock.write(request));
    sock.on('data', (d) => {
      if (done) return; // nothing more is expected
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      if (need < 0) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return buf.length > 65536 ? finish('response head too large') : undefined;
        const head = buf.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.1 200 /.test(head)) return finish(`status: ${head.split('\r\n')[0]}`);
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (!cl) return finish('no Content-Length');
        need = end + 4 + Number(cl[1]);
      }
      if (buf.length >= need) {
        buf = Buffer.alloc(0);
        finish(null);
      }
    });
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
