// nginx.mjs: nginx with one worker (Debian's nginx-light), the C ceiling,
// on a config generated per start in the work dir
// (bench/apps/nginx-conf.mjs). nginx cannot take port 0 and say which port
// it got: it gets a free port, and is ready once that port accepts. CPU:
// master + worker; memory: the worker (the master only waits).
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { childPids, comm } from '../../scripts/lib/proc.mjs';
import { adopt, exitOf, spawnTracked, supervise } from '../../scripts/lib/server-process.mjs';
import { nginxConfig } from '../apps/nginx-conf.mjs';
import { which } from '../machine.mjs';
import { tail } from '../format.mjs';
import { HOST, KEEP_ALIVE_S, START_TIMEOUT_MS, STOP_TIMEOUT_MS } from '../settings.mjs';
import { skipper } from './define.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free port on HOST. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen({ host: HOST, port: 0 }, () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });
}

/** Resolves true once HOST:port accepts a connection, false after `ms` or
 * once `isDead()`. */
async function waitListening(port, ms, isDead) {
  const until = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < until; i++) {
    if (isDead()) return false;
    const ok = await new Promise((r) => {
      const s = connect({ host: HOST, port });
      const t = setTimeout(() => {
        s.destroy();
        r(false);
      }, 500);
      s.on('connect', () => {
        clearTimeout(t);
        s.destroy();
        r(true);
      });
      s.on('error', () => {
        clearTimeout(t);
        r(false);
      });
    });
    if (ok) return true;
    await sleep(50);
  }
  return false;
}

const readLog = (dir) => {
  try {
    return readFileSync(join(dir, 'error.log'), 'utf8');
  } catch {
    return '';
  }
};

let count = 0;

/** One attempt: resolves the started server, or an Error to retry with. */
async function attempt(bin, ctx) {
  const dir = join(ctx.workDir, `nginx-${++count}`);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755); // the worker runs as nobody
  const port = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    nginxConfig({ dir, host: HOST, port, file: ctx.file, nofile: ctx.nofile, keepAliveS: KEEP_ALIVE_S }),
  );
  const child = spawnTracked(bin, ['-p', `${dir}/`, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`], {
    nofile: ctx.nofile,
    pin: ctx.pin.server ?? undefined,
  });
  const { exit, exited } = exitOf(child);
  const { stop: stopMaster } = supervise(child, exit, exited);
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => {
    err = tail(err + d, 8000);
  });
  child.stdout.resume();
  const forget = [];
  const stop = async () => {
    const st = await stopMaster({ timeoutMs: STOP_TIMEOUT_MS });
    for (const f of forget) f();
    return st;
  };
  if (!(await waitListening(port, START_TIMEOUT_MS, exited))) {
    await stop();
    return new Error(`nginx did not listen on ${HOST}:${port}\n${tail(err + readLog(dir), 1500)}`);
  }
  let workers = [];
  for (let i = 0; i < 100 && workers.length === 0; i++) {
    workers = childPids(/** @type {number} */ (child.pid)).filter((pid) => comm(pid) === 'nginx');
    if (workers.length === 0) await sleep(20);
  }
  for (const pid of workers) forget.push(adopt(pid));
  if (workers.length !== 1) {
    await stop();
    return new Error(`expected one nginx worker, found ${workers.length}`);
  }
  const alive = () => {
    const e = exited();
    if (e) throw new Error(`nginx exited (${e.signal ?? `code ${e.code}`})`);
  };
  return {
    port,
    cpuPids: () => (alive(), [/** @type {number} */ (child.pid), ...workers]),
    rssPids: () => (alive(), workers),
    stop,
    stderr: () => tail(`${err}${readLog(dir)}`.replace(/^.*\[notice\].*\n?/gm, ''), 2000),
  };
}

/** @type {import('./define.mjs').Server} */
export default {
  id: 'nginx',
  label: 'nginx',
  short: 'nginx',
  skip: skipper({
    echo: 'nginx cannot echo a body without extra modules',
    stream: 'nginx has no application to stream from',
  }),
  unavailable: () => (which('nginx') ? null : 'nginx is not installed (apt-get install -y nginx-light)'),
  async start(ctx) {
    const bin = /** @type {string} */ (which('nginx'));
    let last;
    for (let i = 0; i < 3; i++) {
      const r = await attempt(bin, ctx);
      if (!(r instanceof Error)) return r;
      last = r;
    }
    throw last;
  },
};
