#!/usr/bin/env node
// node-http.mjs: a plain node:http "Hello, World!" server, the baseline
// column of the benchmark. No tsgi code: it shows what node:http costs by
// itself, so the tsgi node server's own overhead can be read off.
//
//   node bench/servers/node-http.mjs [--bind HOST:PORT]
//
// Prints `listening on http://HOST:PORT (node:http)` once ready, like
// `tsgi serve`, and closes on SIGTERM/SIGINT.
import { createServer } from 'node:http';

const args = process.argv.slice(2);
let bind = '127.0.0.1:0';
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--bind' && i + 1 < args.length) bind = args[++i];
  else if (args[i].startsWith('--bind=')) bind = args[i].slice('--bind='.length);
  else {
    process.stderr.write(`node-http.mjs: unknown argument ${args[i]}\n`);
    process.exit(2);
  }
}
const m = /^(.*):(\d+)$/.exec(bind);
if (!m) {
  process.stderr.write(`node-http.mjs: --bind wants HOST:PORT, got ${bind}\n`);
  process.exit(2);
}
const host = m[1].replace(/^\[(.*)\]$/, '$1');
const port = Number(m[2]);

const body = Buffer.from('Hello, World!\n'); // the same bytes as examples/hello.mjs
const server = createServer((req, res) => {
  res.writeHead(200, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': body.length,
  });
  res.end(body);
});

server.on('error', (err) => {
  process.stderr.write(`node-http.mjs: ${err.message}\n`);
  process.exit(1);
});

server.listen({ host, port }, () => {
  const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  process.stdout.write(`listening on http://${shown}:${addr.port} (node:http)\n`);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  // Bounded: whatever is still open after 5 s is cut.
  setTimeout(() => {
    server.closeAllConnections();
    process.exit(0);
  }, 5000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
