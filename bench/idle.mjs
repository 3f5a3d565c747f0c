// idle.mjs: the idle scenario's measurement: the server's VmRSS after the
// warm-up every measurement gets, then bench/idle-client.mjs (another
// process, on the load generator's CPU) opens N keep-alive connections
// that each make one GET / and stay idle, the server's VmRSS again;
// (after - before) / the connections still open. The same from before the
// warm-up is kept too (coldBytesPerConn).
import { rssKiB } from '../scripts/lib/proc.mjs';
import { spawnTracked } from '../scripts/lib/server-process.mjs';
import { tail } from './format.mjs';
import { IDLE_TIMEOUT_S, ROOT, SETTLE_MS, STOP_TIMEOUT_MS } from './settings.mjs';
import { runWrk } from './wrk.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The idle client's JSON lines, as events to wait for (bounded).
 * @param {import('node:child_process').ChildProcess} child
 */
function events(child) {
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => {
    err = tail(err + d, 4000);
  });
  let exited = null;
  const exit = new Promise((r) => child.on('exit', (code, signal) => r((exited = { code, signal }))));
  const lines = [];
  let wake = null;
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    pending += d;
    for (let i = pending.indexOf('\n'); i >= 0; i = pending.indexOf('\n')) {
      const line = pending.slice(0, i);
      pending = pending.slice(i + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        continue;
      }
      wake?.();
    }
  });
  child.on('exit', () => wake?.());
  /** Resolves the next line of that event; rejects on exit or after `ms`. */
  const next = async (event, ms) => {
    const until = Date.now() + ms;
    for (let guard = 0; guard < 100000; guard++) {
      const i = lines.findIndex((l) => l.event === event);
      if (i >= 0) return lines.splice(i, 1)[0];
      if (exited) throw new Error(`idle client exited (${exited.signal ?? `code ${exited.code}`}): ${tail(err, 500)}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`idle client: no "${event}" within ${ms / 1000} s`);
      await new Promise((r) => {
        wake = r;
        setTimeout(r, Math.min(left, 1000));
      });
      wake = null;
    }
    throw new Error('idle client: too many lines');
  };
  return { next, exit, exited: () => exited };
}

/**
 * @param {import('./servers/define.mjs').Started} srv
 * @param {import('./scenarios.mjs').Scenario} sc the idle scenario (its warm-up is wrk with its
 *   request, GET /)
 * @param {Record<string, any>} ctx
 */
export async function measureIdle(srv, sc, ctx) {
  const { opts } = ctx;
  await sleep(SETTLE_MS);
  const cold = rssKiB(srv.rssPids());
  // The warm-up of every measurement (wrk -c<connections>, then its
  // connections close): what a server allocates once on its first
  // requests (compiled code, a garbage-collected heap grown to its working
  // size; ARCHITECTURE.md "An idle connection" measures it) is not memory
  // per connection.
  if (opts.warmup > 0) {
    await runWrk(srv.port, sc, ctx, opts.warmup);
    await sleep(SETTLE_MS);
  }
  const before = rssKiB(srv.rssPids());
  const child = spawnTracked(
    process.execPath,
    [
      'bench/idle-client.mjs',
      '--port',
      String(srv.port),
      '--connections',
      String(opts.idleConnections),
      '--concurrency',
      String(opts.idleConcurrency),
      '--timeout',
      String(IDLE_TIMEOUT_S),
    ],
    { cwd: ROOT, nofile: ctx.nofile, pin: ctx.pin.wrk ?? undefined, stdin: 'pipe' },
  );
  const client = events(child);
  try {
    const ready = await client.next('ready', IDLE_TIMEOUT_S * 1000);
    await sleep(SETTLE_MS);
    const after = rssKiB(srv.rssPids());
    child.stdin.write('count\n');
    const { open } = await client.next('count', 10_000);
    child.stdin.write('close\n');
    await client.next('closed', 10_000).catch(() => {});
    return {
      bytesPerConn: open > 0 ? ((after - before) * 1024) / open : null,
      coldBytesPerConn: open > 0 ? ((after - cold) * 1024) / open : null,
      open,
      ok: ready.ok,
      failed: ready.failed,
      firstError: ready.firstError,
      openMs: ready.ms,
      clientNofile: ready.nofile,
      rssColdMiB: cold / 1024,
      rssBeforeMiB: before / 1024,
      rssAfterMiB: after / 1024,
    };
  } finally {
    if (!client.exited()) {
      child.stdin.end();
      // An unref'd timer: once the client is gone, nothing waits for it.
      const res = await Promise.race([
        client.exit,
        new Promise((r) => setTimeout(() => r(null), STOP_TIMEOUT_MS).unref()),
      ]);
      if (!res) child.kill('SIGKILL');
    }
  }
}
