// hono.mjs: the Hono app (bench/apps/hono-app.mjs) on four servers: tsgi
// native and tsgi node through fromFetchHandler, @hono/node-server (Hono's
// own Node.js adapter, the anchor for the tsgi figures) and Bun.serve (the
// Bun binary of the `bun` dev dependency). They serve hello, pipelined
// and idle only, and are optional: `--servers hono-native,hono-node,hono-node-server,hono-bun`.
import { findBun } from '../../scripts/find-runtimes.mjs';
import { HOST, KEEP_ALIVE_S } from '../settings.mjs';
import { cliMissing, processServer } from './define.mjs';

const ONLY = ['hello', 'pipelined', 'idle'];
const bind = ['--bind', `${HOST}:0`, '--keep-alive-timeout', String(KEEP_ALIVE_S)];

/** @param {'native' | 'node'} kind */
const onTsgi = (kind) =>
  processServer({
    id: `hono-${kind}`,
    label: `Hono/tsgi ${kind}`,
    tag: `hono-tsgi-${kind}`,
    optional: true,
    only: ONLY,
    unavailable: cliMissing,
    command: () => [process.execPath, ['bench/apps/hono-tsgi-server.mjs', '--server', kind, ...bind]],
  });

export const honoNative = onTsgi('native');
export const honoNode = onTsgi('node');

export const honoNodeServer = processServer({
  id: 'hono-node-server',
  label: 'Hono/node-server',
  short: 'hono-ns',
  tag: 'hono-node-server',
  optional: true,
  only: ONLY,
  command: () => [process.execPath, ['bench/apps/hono-node-server.mjs', ...bind]],
});

let bun;
export const honoBun = processServer({
  id: 'hono-bun',
  label: 'Hono/Bun.serve',
  short: 'hono-bun',
  tag: 'hono-bun',
  optional: true,
  only: ONLY,
  unavailable: () => (bun ??= findBun()).reason ?? null,
  // Bun's idle timeout is at most 255 s: the server program caps it.
  command: () => [(bun ??= findBun()).path, ['bench/apps/hono-bun-server.mjs', ...bind]],
});
