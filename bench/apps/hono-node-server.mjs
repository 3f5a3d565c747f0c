#!/usr/bin/env node
// hono-node-server.mjs: the Hono app of hono-app.mjs on
// @hono/node-server, Hono's own Node.js adapter (its defaults, which
// replace the global Request and Response with its lighter ones): the
// anchor the Hono-on-tsgi figures are compared with.
//
//   node bench/apps/hono-node-server.mjs [--bind HOST:PORT] [--keep-alive-timeout SECONDS]
//
// Prints `listening on http://HOST:PORT (hono-node-server)` once ready, and
// closes on SIGTERM/SIGINT.
import { serve } from '@hono/node-server';
import { serverArgs } from './common.mjs';
import app from './hono-app.mjs';

const args = serverArgs('hono-node-server.mjs', process.argv.slice(2), { 'keep-alive-timeout': true });
const keepAlive = args['keep-alive-timeout'] === undefined ? 5 : Number(args['keep-alive-timeout']);

const server = serve({ fetch: app.fetch, hostname: args.host, port: args.port }, (info) => {
  const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  process.stdout.write(`listening on http://${shown}:${info.port} (hono-node-server)\n`);
});
server.keepAliveTimeout = keepAlive * 1000;
server.on('error', (err) => {
  process.stderr.write(`hono-node-server.mjs: ${err.message}\n`);
  process.exit(1);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeIdleConnections?.();
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
