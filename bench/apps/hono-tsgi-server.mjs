#!/usr/bin/env node
// hono-tsgi-server.mjs: the Hono app of hono-app.mjs on a tsgi server
// through fromFetchHandler: what a Hono user gets by switching servers.
//
//   node bench/apps/hono-tsgi-server.mjs [--bind HOST:PORT] [--server native|node] [--keep-alive-timeout SECONDS]
//
// Prints `listening on http://HOST:PORT (hono-tsgi-native)` (or
// `hono-tsgi-node`) once ready, and closes on SIGTERM/SIGINT.
import { fromFetchHandler, serve } from '../../dist/index.js';
import { serverArgs } from './common.mjs';
import app from './hono-app.mjs';

const args = serverArgs('hono-tsgi-server.mjs', process.argv.slice(2), { server: true, 'keep-alive-timeout': true });
const kind = args.server ?? 'native';
if (kind !== 'native' && kind !== 'node') {
  process.stderr.write(`hono-tsgi-server.mjs: --server must be native or node, got ${kind}\n`);
  process.exit(2);
}
const keepAliveTimeout = args['keep-alive-timeout'] === undefined ? 5 : Number(args['keep-alive-timeout']);

let server;
try {
  server = await serve(fromFetchHandler(app.fetch), { host: args.host, port: args.port, server: kind, keepAliveTimeout });
} catch (err) {
  process.stderr.write(`hono-tsgi-server.mjs: ${err.message}\n`);
  process.exit(1);
}
process.stdout.write(`listening on ${server.url} (hono-tsgi-${server.kind})\n`);

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
