// hono-bun-server.mjs: the Hono app of hono-app.mjs on Bun.serve, run
// by the Bun binary of the `bun` dev dependency (scripts/find-runtimes.mjs
// finds it):
//
//   $(node scripts/find-runtimes.mjs ...) bench/apps/hono-bun-server.mjs [--bind HOST:PORT] [--keep-alive-timeout SECONDS]
//
// Prints `listening on http://HOST:PORT (hono-bun)` once ready, and stops
// on SIGTERM/SIGINT. Exits 3 when not run by Bun.
import { serverArgs } from './common.mjs';
import app from './hono-app.mjs';

if (typeof globalThis.Bun === 'undefined') {
  process.stderr.write('hono-bun-server.mjs: run it with the bun binary, not node\n');
  process.exit(3);
}
const args = serverArgs('hono-bun-server.mjs', process.argv.slice(2), { 'keep-alive-timeout': true });
// Bun's idleTimeout is in seconds, at most 255.
const idle = Math.min(255, args['keep-alive-timeout'] === undefined ? 10 : Number(args['keep-alive-timeout']));

const server = Bun.serve({ hostname: args.host, port: args.port, idleTimeout: idle, fetch: app.fetch });
process.stdout.write(`listening on http://${server.hostname.includes(':') ? `[${server.hostname}]` : server.hostname}:${server.port} (hono-bun)\n`);

const stop = () => {
  server.stop(true);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
