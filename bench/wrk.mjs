// wrk.mjs: wrk runs and what they report. Every scenario script reports
// through wrk's done() hook (bench/wrk/report.lua) as one JSON line, read
// here; wrk's text output is not parsed. measureWrk() is one measurement:
// a warm-up run, then the measured run with the server's CPU time read
// from /proc around it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuTicks, clockTicks, rssKiB } from '../scripts/lib/proc.mjs';
import { spawnTracked } from '../scripts/lib/server-process.mjs';
import { tail } from './format.mjs';
import { HOST, ROOT, WRK_GRACE_MS } from './settings.mjs';

/**
 * The script and its arguments for a scenario (`-s FILE URL -- key=value...`).
 * @param {import('./scenarios.mjs').Scenario} sc
 * @param {Record<string, any>} ctx
 * @param {number} port
 * @param {number} depth
 * @param {string[]} [extra] more key=value arguments (dump=FILE)
 */
function scriptArgs(sc, ctx, port, depth, extra = []) {
  const args = [`depth=${depth}`];
  if (ctx.requestFiles[sc.id]) args.push(`request=${ctx.requestFiles[sc.id]}`);
  return ['-s', `bench/wrk/${sc.script}.lua`, `http://${HOST}:${port}/`, '--', ...args, ...extra];
}

/** Runs wrk to its end (bounded): resolves its stdout, rejects on a failure. */
function wrk(args, ctx, limitMs) {
  return new Promise((resolve, reject) => {
    const child = spawnTracked('wrk', args, { cwd: ROOT, nofile: ctx.nofile, pin: ctx.pin.wrk ?? undefined });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out = tail(out + d, 20000);
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err = tail(err + d, 8000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`wrk ${signal ?? `exit ${code}`}: ${tail(err || out, 1000)}`));
    });
  });
}

/**
 * The first batch the scenario's script sends (`depth` requests), as the
 * script itself wrote it (dump=FILE: it exits before connecting).
 * @returns {Promise<Buffer>}
 */
export async function dumpBatch(port, sc, ctx, depth) {
  const file = join(ctx.workDir, `${sc.id}.dump`);
  await wrk(['-t1', '-c1', '-d1s', ...scriptArgs(sc, ctx, port, depth, [`dump=${file}`])], ctx, 10_000);
  return readFileSync(file);
}

/**
 * @typedef {object} WrkReport
 * @property {number} rps requests / duration
 * @property {number} requests responses wrk counted
 * @property {number} seconds
 * @property {{ avg: number | null, max: number | null, p50: number | null, p90: number | null,
 *   p99: number | null }} latencyMs per batch (wrk times a pipelined batch as one)
 * @property {string[]} wrkZero percentiles wrk could not place (it gives 0): p50, p90, p99
 * @property {{ connect: number, read: number, write: number, timeout: number, status: number }} errors
 *   status: responses with a status of 400 or more
 * @property {{ cpuSeconds: number, busy: number }} client wrk's own CPU time, and over the duration
 */

/**
 * The report line of bench/wrk/report.lua in wrk's stdout.
 * @param {string} out
 * @returns {WrkReport}
 */
export function parseReport(out) {
  const line = out.split('\n').find((l) => l.startsWith('{"tsgiWrk":'));
  if (!line) throw new Error('wrk printed no report line (bench/wrk/report.lua done())');
  const r = JSON.parse(line);
  const seconds = r.durationUs / 1e6;
  const zero = [];
  const pct = (p) => {
    const us = r.latencyUs.percentiles[String(p)];
    if (!us) zero.push(`p${p}`);
    return us ? us / 1000 : null;
  };
  return {
    rps: seconds > 0 ? r.requests / seconds : 0,
    requests: r.requests,
    seconds,
    latencyMs: {
      avg: r.latencyUs.mean / 1000,
      max: r.latencyUs.max / 1000,
      p50: pct(50),
      p90: pct(90),
      p99: pct(99),
    },
    wrkZero: zero,
    errors: r.errors,
    client: { cpuSeconds: r.cpuSeconds, busy: seconds > 0 ? r.cpuSeconds / seconds : 0 },
  };
}

/**
 * One wrk run of `seconds` against the port.
 * @returns {Promise<WrkReport>}
 */
export async function runWrk(port, sc, ctx, seconds) {
  const { opts } = ctx;
  const args = ['-t1', `-c${opts.connections}`, `-d${seconds}s`, ...scriptArgs(sc, ctx, port, sc.depth(opts))];
  const out = await wrk(args, ctx, seconds * 1000 + WRK_GRACE_MS);
  try {
    return parseReport(out);
  } catch (e) {
    throw new Error(`${e.message}\n${tail(out, 1000)}`);
  }
}

/**
 * One measurement: the warm-up (not recorded), then the measured run; the
 * server's CPU time (all threads of its cpuPids) over the measured run per
 * response, and its memory after it.
 * @param {import('./servers/define.mjs').Started} srv
 */
export async function measureWrk(srv, sc, ctx) {
  if (ctx.opts.warmup > 0) await runWrk(srv.port, sc, ctx, ctx.opts.warmup);
  const cpu0 = cpuTicks(srv.cpuPids());
  const r = await runWrk(srv.port, sc, ctx, ctx.opts.duration);
  const cpu1 = cpuTicks(srv.cpuPids());
  const rss = rssKiB(srv.rssPids());
  const cpuSeconds = (cpu1 - cpu0) / clockTicks();
  return {
    rps: r.rps,
    p50: r.latencyMs.p50,
    p99: r.latencyMs.p99,
    cpuUs: r.requests > 0 ? (cpuSeconds * 1e6) / r.requests : null,
    rssMiB: rss / 1024,
    requests: r.requests,
    seconds: r.seconds,
    cpuSeconds,
    latencyMs: r.latencyMs,
    wrkZero: r.wrkZero,
    errors: r.errors,
    client: r.client,
  };
}
