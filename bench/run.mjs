#!/usr/bin/env node
// run.mjs: the benchmark harness (`npm run bench`).
//
// Serves examples/hello.mjs with each server, loads it with wrk from another
// core, alternates the servers round by round, and reports the median
// requests/s per server and scenario, plus the ratios native/other.
//
//   npm run bench                        3 rounds x 5 s per measurement
//   npm run bench -- --smoke             1 round x 1 s (CI: keeps the harness working)
//   npm run bench -- --servers native,node --scenarios B --rounds 5
//
// Everything targets 127.0.0.1. Every loop is bounded, every wait has a
// timeout, and child processes are killed when this process exits.
//
// Adding a server: append a descriptor to SERVERS. A descriptor either gives
// `argv(ctx)` for a process that prints `listening on http://HOST:PORT (TAG)`
// on stdout and stops on SIGTERM (like `tsgi serve`), or its own
// `start(ctx)` returning `{ port, stop() }` (e.g. nginx with a generated
// config). `unavailable(ctx)` returns a reason to skip it, or null.
// Adding a scenario: append a descriptor to SCENARIOS.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, accessSync, constants as fsc } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';
const APP = 'examples/hello.mjs';
const EXPECTED_BODY = 'Hello, World!';
const CLI = 'bin/tsgi.js';

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const CHECK_TIMEOUT_MS = 5_000;
const WRK_GRACE_MS = 20_000; // on top of the wrk duration

// ---------------------------------------------------------------- servers

/** @typedef {{ port?: number, pin: string | null }} Ctx */

const SERVERS = [
  {
    id: 'native',
    label: 'tsgi native',
    short: 'native',
    tag: 'native',
    unavailable: () => cliMissing(),
    argv: () => [process.execPath, [CLI, 'serve', APP, '--bind', `${HOST}:0`, '--server', 'native']],
  },
  {
    id: 'node',
    label: 'tsgi node',
    short: 'tsgi-node',
    tag: 'node',
    unavailable: () => cliMissing(),
    argv: () => [process.execPath, [CLI, 'serve', APP, '--bind', `${HOST}:0`, '--server', 'node']],
  },
  {
    id: 'node-http',
    label: 'node:http',
    short: 'node:http',
    tag: 'node:http',
    unavailable: () => null,
    argv: () => [process.execPath, ['bench/servers/node-http.mjs', '--bind', `${HOST}:0`]],
  },
  // Later: uWebSockets.js, nginx (see the note at the top).
];

/** Ratios reported in the table: [numerator id, denominator id]. */
const RATIOS = [
  ['native', 'node'],
  ['native', 'node-http'],
];

// -------------------------------------------------------------- scenarios

const SCENARIOS = [
  {
    id: 'A',
    label: (o) => `A unpipelined -c${o.connections}`,
    depth: () => 1,
    wrkArgs: () => [],
    scriptArgs: () => [],
  },
  {
    id: 'B',
    label: (o) => `B pipelined x${o.pipeline} -c${o.connections}`,
    depth: (o) => o.pipeline,
    wrkArgs: () => ['-s', 'bench/pipeline.lua'],
    scriptArgs: (o) => ['--', String(o.pipeline), '/'],
  },
];

// ---------------------------------------------------------------- options

function intIn(min, max) {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    }
    return n;
  };
}

/** "5", "5s", "2m" -> whole seconds (wrk takes whole seconds). */
function seconds(v) {
  const m = /^(\d+)(s|m)?$/.exec(String(v).trim());
  if (!m) throw new InvalidArgumentError('expected seconds, e.g. 5s or 1m');
  const n = Number(m[1]) * (m[2] === 'm' ? 60 : 1);
  if (n < 1 || n > 600) throw new InvalidArgumentError('expected 1s..10m');
  return n;
}

function list(v) {
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

const program = new Command()
  .name('npm run bench --')
  .description('Benchmark the tsgi servers (and node:http) with wrk on 127.0.0.1.')
  .addOption(new Option('--duration <time>', 'length of each measurement').argParser(seconds).default(5, '5s'))
  .addOption(
    new Option('--warmup <time>', 'warm-up before each measurement (not recorded)').argParser(seconds).default(2, '2s'),
  )
  .option('--rounds <n>', 'rounds; each round runs every server once', intIn(1, 50), 3)
  .option('--connections <n>', 'wrk connections (-c)', intIn(1, 10000), 64)
  .option('--pipeline <n>', 'requests per pipelined batch in scenario B', intIn(2, 256), 16)
  .option('--servers <ids>', `servers to run (${SERVERS.map((s) => s.id).join(',')})`, list)
  .option('--scenarios <ids>', `scenarios to run (${SCENARIOS.map((s) => s.id).join(',')})`, list)
  .option('--smoke', 'one round, 1 s measurements, 1 s warm-up (for CI)')
  .option('--json <file>', 'also write the results as JSON', 'bench/results/latest.json')
  .option('--no-json', 'do not write JSON')
  .option('--no-pin', 'do not pin server and wrk to separate cores')
  .showHelpAfterError();

// ---------------------------------------------------------------- helpers

const children = new Set();

function killChildren(signal) {
  for (const child of children) {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

process.on('exit', () => killChildren('SIGKILL'));
// A closed stdout (`npm run bench | head`) must not stop the run halfway.
process.stdout.on('error', (e) => {
  if (e.code !== 'EPIPE') throw e;
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping\n`);
    killChildren('SIGTERM');
    process.exit(130);
  });
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, fsc.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

function cliMissing() {
  if (!existsSync(join(ROOT, CLI))) return `${CLI} not found`;
  if (!existsSync(join(ROOT, 'dist'))) return 'dist/ not built: run `npm run build:ts`';
  return null;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function fmtInt(n) {
  return n == null || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US');
}

function fmtRatio(r) {
  return r == null || !Number.isFinite(r) ? '-' : `${r.toFixed(2)}x`;
}

function fmtMs(ms) {
  if (ms == null) return '-';
  return ms < 1 ? `${Math.round(ms * 1000)}us` : `${ms.toFixed(2)}ms`;
}

function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function tail(s, n = 2000) {
  return s.length > n ? `...${s.slice(-n)}` : s;
}

/** CPUs this process may run on, from /proc/self/status ("0-3,6"). */
function allowedCpus() {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(status);
    if (!m) return [];
    const cpus = [];
    for (const part of m[1].trim().split(',')) {
      const [a, b] = part.split('-').map(Number);
      for (let c = a; c <= (b ?? a) && cpus.length < 4096; c++) cpus.push(c);
    }
    return cpus;
  } catch {
    return [];
  }
}

function machineInfo() {
  let cpuModel = 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1].trim();
  } catch {
    // not Linux
  }
  const wrk = spawnSync('wrk', ['-v'], { encoding: 'utf8', timeout: 5000 });
  const wrkVersion = /wrk\s+(\S+)/.exec(`${wrk.stdout ?? ''}${wrk.stderr ?? ''}`)?.[1] ?? 'unknown';
  let tsgi = 'unknown';
  if (!cliMissing()) {
    const v = spawnSync(process.execPath, [CLI, '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 10000 });
    if (v.status === 0 && v.stdout.trim()) tsgi = v.stdout.trim().split('\n')[0];
  }
  return {
    nproc: availableParallelism(),
    cpu: cpuModel,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    wrk: wrkVersion,
    tsgi,
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

// ---------------------------------------------------------- server control

/** Spawns a command (pinned with taskset if asked) and tracks it. */
function spawnTracked(cmd, args, pin) {
  const [c, a] = pin ? ['taskset', ['-c', pin, cmd, ...args]] : [cmd, args];
  const child = spawn(c, a, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/**
 * Starts a listening-line server: resolves { port, stop(), stderr() } once
 * it printed `listening on http://HOST:PORT (TAG)`.
 */
function startProcess(desc, ctx) {
  const [cmd, args] = desc.argv(ctx);
  const child = spawnTracked(cmd, args, ctx.pin);
  let out = '';
  let err = '';
  let exited = null;
  const exitPromise = new Promise((r) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      r(exited);
    });
  });
  child.stderr.setEncoding('utf8').on('data', (d) => {
    err = tail(err + d, 8000);
  });

  const ready = new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no listening line within ${START_TIMEOUT_MS / 1000} s\n${tail(out + err)}`));
    }, START_TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (d) => {
      if (out.length < 8000) out += d;
      const m = /^listening on http:\/\/(\[[^\]]*\]|[^\s:]+):(\d+)(?: \(([^)]*)\))?\s*$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        if (desc.tag && m[3] !== desc.tag) {
          reject(new Error(`started as (${m[3] ?? '?'}), expected (${desc.tag})`));
        } else if (m[1] !== HOST) {
          reject(new Error(`bound ${m[1]}, expected ${HOST}`));
        } else {
          resolvePort(Number(m[2]));
        }
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (${signal ?? `code ${code}`}) before listening\n${tail(out + err)}`));
    });
  });

  const stop = async () => {
    if (exited) return { ...exited, graceful: false, early: true };
    child.kill('SIGTERM');
    const res = await Promise.race([exitPromise, sleep(STOP_TIMEOUT_MS).then(() => null)]);
    if (res) return { ...res, graceful: res.code === 0 || res.signal === 'SIGTERM' };
    child.kill('SIGKILL');
    const killed = await Promise.race([exitPromise, sleep(STOP_TIMEOUT_MS).then(() => null)]);
    return { ...(killed ?? { code: null, signal: 'SIGKILL' }), graceful: false, timedOut: true };
  };

  return ready.then(
    (port) => ({ port, stop, stderr: () => err }),
    async (e) => {
      await stop();
      throw e;
    },
  );
}

async function startServer(desc, ctx) {
  if (desc.start) return desc.start(ctx);
  return startProcess(desc, ctx);
}

// ------------------------------------------------------------ sanity check

/**
 * Sends `depth` GET requests in one write on one connection and checks that
 * `depth` complete 200 responses with the expected body come back, in time.
 * A small HTTP/1.1 response reader (Content-Length and chunked).
 */
function checkServer(port, depth) {
  return new Promise((resolveCheck, reject) => {
    const sock = connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    let got = 0;
    const done = (e) => {
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolveCheck();
    };
    const timer = setTimeout(
      () => done(new Error(`check: ${got}/${depth} responses within ${CHECK_TIMEOUT_MS / 1000} s`)),
      CHECK_TIMEOUT_MS,
    );
    sock.on('error', (e) => done(new Error(`check: ${e.message}`)));
    sock.on('close', () => {
      if (got < depth) done(new Error(`check: connection closed after ${got}/${depth} responses`));
    });
    sock.on('connect', () => {
      const one = `GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\n\r\n`;
      sock.write(one.repeat(depth));
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (let guard = 0; guard <= depth; guard++) {
        let r;
        try {
          r = parseResponse(buf);
        } catch (e) {
          done(new Error(`check: response ${got + 1}: ${e.message}`));
          return;
        }
        if (!r) return; // need more bytes
        buf = buf.subarray(r.size);
        got++;
        if (r.status !== 200) return done(new Error(`check: response ${got}: status ${r.status}`));
        if (r.body.trimEnd() !== EXPECTED_BODY) {
          return done(new Error(`check: response ${got}: body ${JSON.stringify(r.body.slice(0, 80))}`));
        }
        if (got === depth) return done();
      }
    });
  });
}

/** Parses one response at the start of buf; null if incomplete. */
function parseResponse(buf) {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) {
    if (buf.length > 65536) throw new Error('head too large');
    return null;
  }
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0].slice(0, 80))}`);
  const headers = new Map();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  let pos = headEnd + 4;
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
    const parts = [];
    for (let guard = 0; guard < 100000; guard++) {
      const eol = buf.indexOf('\r\n', pos);
      if (eol < 0) return null;
      const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
      if (!Number.isFinite(size)) throw new Error('bad chunk size');
      if (size === 0) {
        const end = buf.indexOf('\r\n\r\n', eol);
        if (end < 0) return null;
        return { status: Number(m[1]), body: Buffer.concat(parts).toString('utf8'), size: end + 4 };
      }
      if (buf.length < eol + 2 + size + 2) return null;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      pos = eol + 2 + size + 2;
    }
    throw new Error('too many chunks');
  }
  const cl = headers.get('content-length');
  if (cl == null) throw new Error('no Content-Length and not chunked');
  const len = Number(cl);
  if (buf.length < pos + len) return null;
  return { status: Number(m[1]), body: buf.subarray(pos, pos + len).toString('utf8'), size: pos + len };
}

// --------------------------------------------------------------------- wrk

function runWrk(port, scenario, opts, durationS, pin) {
  const args = [
    '-t1',
    `-c${opts.connections}`,
    `-d${durationS}s`,
    '--latency',
    ...scenario.wrkArgs(opts),
    `http://${HOST}:${port}/`,
    ...scenario.scriptArgs(opts),
  ];
  return new Promise((resolveRun, reject) => {
    const child = spawnTracked('wrk', args, pin);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out = tail(out + d, 20000);
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err = tail(err + d, 8000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), durationS * 1000 + WRK_GRACE_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`wrk ${signal ?? `exit ${code}`}: ${tail(err || out, 1000)}`));
        return;
      }
      try {
        resolveRun(parseWrk(out));
      } catch (e) {
        reject(new Error(`${e.message}\n${tail(out, 1000)}`));
      }
    });
  });
}

const TIME_MS = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

function timeMs(s) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(s);
  return m ? Number(m[1]) * TIME_MS[m[2]] : null;
}

/** Parses wrk 4.x text output. */
function parseWrk(out) {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)/m.exec(out);
  if (!rps || !total) throw new Error('cannot parse wrk output');
  const lat = /^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)/m.exec(out);
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out);
    // wrk 4.1 prints 0.00us for a percentile its histogram cannot place.
    const ms = m ? timeMs(m[1]) : null;
    return ms ? ms : null;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    rps: Number(rps[1]),
    requests: Number(total[1]),
    seconds: Number(total[2]) * (TIME_MS[total[3]] / 1000),
    latencyMs: {
      avg: lat ? timeMs(lat[1]) : null,
      max: lat ? timeMs(lat[3]) : null,
      p50: pct(50),
      p90: pct(90),
      p99: pct(99),
    },
    errors: {
      connect: sock ? Number(sock[1]) : 0,
      read: sock ? Number(sock[2]) : 0,
      write: sock ? Number(sock[3]) : 0,
      timeout: sock ? Number(sock[4]) : 0,
      non2xx: non2xx ? Number(non2xx[1]) : 0,
    },
  };
}

// -------------------------------------------------------------------- main

function pickById(all, ids, what) {
  if (!ids) return all;
  const out = [];
  for (const id of ids) {
    const d = all.find((x) => x.id.toLowerCase() === id.toLowerCase());
    if (!d) {
      console.error(`bench: unknown ${what} "${id}" (known: ${all.map((x) => x.id).join(', ')})`);
      process.exit(2);
    }
    out.push(d);
  }
  return out;
}

async function main() {
  program.parse();
  const opts = program.opts();
  if (opts.smoke) {
    opts.rounds = 1;
    opts.duration = 1;
    opts.warmup = 1;
    // A smoke run proves the harness works; it must not replace the
    // recorded figures unless a file is named explicitly.
    if (program.getOptionValueSource('json') === 'default') opts.json = false;
  }
  const servers = pickById(SERVERS, opts.servers, 'server');
  const scenarios = pickById(SCENARIOS, opts.scenarios, 'scenario');

  if (!which('wrk')) {
    console.error('bench: wrk is not on PATH. Install it (Debian/Ubuntu):');
    console.error('  apt-get install -y wrk');
    process.exit(1);
  }

  // Pinning: the server on one core, wrk on another.
  let pinServer = null;
  let pinWrk = null;
  let pinNote;
  const cpus = allowedCpus();
  if (!opts.pin) pinNote = 'off (--no-pin)';
  else if (!which('taskset')) pinNote = 'off (taskset not found; it is in util-linux)';
  else if (cpus.length < 2) pinNote = `off (only ${cpus.length || 'unknown'} usable CPU)`;
  else if (spawnSync('taskset', ['-c', `${cpus[0]},${cpus[1]}`, 'true'], { timeout: 5000 }).status !== 0) {
    pinNote = 'off (taskset failed here)';
  } else {
    pinServer = String(cpus[0]);
    pinWrk = String(cpus[1]);
    pinNote = `taskset: server on CPU ${pinServer}, wrk on CPU ${pinWrk}`;
  }

  const machine = machineInfo();
  const startedAt = new Date();
  console.log('tsgi benchmark');
  console.log(`  machine   ${machine.nproc} CPUs, ${machine.cpu}, ${machine.memGiB} GiB, Linux ${machine.kernel}`);
  console.log(`  software  node ${machine.node}, wrk ${machine.wrk}, ${machine.tsgi}`);
  console.log(
    `  load      ${machine.loadavg.join(' ')} (1/5/15 min, before the run)` +
      (machine.loadavg[0] >= 0.5 ? '  -- the machine is busy: expect noisy figures' : ''),
  );
  console.log(`  pinning   ${pinNote}`);
  console.log(`  app       ${APP} on http://${HOST}:<port>/`);
  console.log(
    `  method    wrk -t1 -c${opts.connections}; ${opts.rounds} round(s), servers alternating; ` +
      `${opts.warmup} s warm-up + ${opts.duration} s measured per scenario; median of rounds` +
      (opts.smoke ? '  [smoke]' : ''),
  );
  console.log(`  scenarios ${scenarios.map((s) => s.label(opts)).join('; ')}`);
  console.log('');

  const runs = [];
  const failures = [];
  const warnings = [];
  const skipped = new Map();
  for (const desc of servers) {
    const why = desc.unavailable({});
    if (why) skipped.set(desc.id, why);
  }

  for (let round = 1; round <= opts.rounds; round++) {
    for (const desc of servers) {
      if (skipped.has(desc.id)) {
        if (round === 1) failures.push(`${desc.label}: not run: ${skipped.get(desc.id)}`);
        continue;
      }
      const tagline = `round ${round}/${opts.rounds}  ${desc.label.padEnd(12)}`;
      let srv;
      try {
        srv = await startServer(desc, { pin: pinServer });
      } catch (e) {
        failures.push(`${desc.label} (round ${round}): failed to start: ${e.message}`);
        console.log(`${tagline}  FAILED to start: ${e.message.split('\n')[0]}`);
        continue;
      }
      try {
        for (const sc of scenarios) {
          const label = sc.label(opts);
          try {
            await checkServer(srv.port, sc.depth(opts));
            if (opts.warmup > 0) await runWrk(srv.port, sc, opts, opts.warmup, pinWrk);
            const r = await runWrk(srv.port, sc, opts, opts.duration, pinWrk);
            runs.push({ round, server: desc.id, scenario: sc.id, ...r });
            const e = r.errors;
            const errs = e.connect + e.read + e.write + e.timeout;
            console.log(
              `${tagline}  ${label.padEnd(24)} ${fmtInt(r.rps).padStart(10)} req/s` +
                `  p50 ${fmtMs(r.latencyMs.p50)}  p99 ${fmtMs(r.latencyMs.p99)}` +
                (errs ? `  socket errors ${errs}` : '') +
                (e.non2xx ? `  NON-2xx ${e.non2xx}` : ''),
            );
            if (r.requests === 0) failures.push(`${desc.label} ${label} (round ${round}): no responses`);
            if (e.non2xx) failures.push(`${desc.label} ${label} (round ${round}): ${e.non2xx} non-2xx responses`);
            if (errs) {
              warnings.push(
                `${desc.label} ${label} (round ${round}): socket errors connect ${e.connect}, ` +
                  `read ${e.read}, write ${e.write}, timeout ${e.timeout}`,
              );
            }
          } catch (e) {
            failures.push(`${desc.label} ${label} (round ${round}): ${e.message}`);
            console.log(`${tagline}  ${label.padEnd(24)} FAILED: ${e.message.split('\n')[0]}`);
          }
        }
      } finally {
        const st = await srv.stop();
        if (!st.graceful) {
          warnings.push(
            `${desc.label} (round ${round}): ` +
              (st.early
                ? `had exited during the run (${st.signal ?? `code ${st.code}`})`
                : st.timedOut
                  ? `did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM (killed)`
                  : `exited with ${st.signal ?? `code ${st.code}`} on SIGTERM`),
          );
          if (st.early) failures.push(`${desc.label} (round ${round}): server died during the run`);
        }
        const stderr = srv.stderr?.().trim();
        if (stderr) warnings.push(`${desc.label} (round ${round}) stderr: ${tail(stderr, 600)}`);
      }
    }
  }

  // Medians and ratios.
  const summary = scenarios.map((sc) => {
    const medians = {};
    const spread = {};
    for (const desc of servers) {
      const xs = runs.filter((r) => r.server === desc.id && r.scenario === sc.id).map((r) => r.rps);
      medians[desc.id] = median(xs);
      spread[desc.id] = xs.length ? { min: Math.min(...xs), max: Math.max(...xs), n: xs.length } : null;
    }
    const ratios = {};
    for (const [a, b] of RATIOS) {
      if (medians[a] != null && medians[b]) ratios[`${a}/${b}`] = medians[a] / medians[b];
    }
    return { scenario: sc.id, label: sc.label(opts), medians, spread, ratios };
  });

  // Table.
  const ratioCols = RATIOS.filter(([a, b]) => servers.some((s) => s.id === a) && servers.some((s) => s.id === b));
  const short = (id) => SERVERS.find((s) => s.id === id).short;
  const head = [
    'scenario',
    ...servers.map((s) => `${s.label} req/s`),
    ...ratioCols.map(([a, b]) => `${short(a)}/${short(b)}`),
  ];
  const rows = summary.map((s) => [
    s.label,
    ...servers.map((d) => fmtInt(s.medians[d.id])),
    ...ratioCols.map(([a, b]) => fmtRatio(s.ratios[`${a}/${b}`])),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log('');
  console.log(`median requests/s over ${opts.rounds} round(s)`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  if (opts.rounds > 1) {
    console.log('');
    console.log('range over the rounds (min-max requests/s)');
    for (const s of summary) {
      const cells = servers
        .filter((d) => s.spread[d.id])
        .map((d) => `${d.short} ${fmtInt(s.spread[d.id].min)}-${fmtInt(s.spread[d.id].max)}`);
      console.log(`${s.label.padEnd(widths[0])}  ${cells.join('   ')}`);
    }
  }
  const loadAfter = loadavg().map((x) => Math.round(x * 100) / 100);
  console.log(`\nload after the run: ${loadAfter.join(' ')}`);

  for (const w of warnings) console.log(`warning: ${w}`);
  for (const f of failures) console.log(`FAILED: ${f}`);

  if (opts.json) {
    const file = resolve(process.cwd(), opts.json);
    const result = {
      version: 1,
      date: startedAt.toISOString(),
      machine: { ...machine, loadavgAfter: loadAfter, pinning: pinServer ? { server: pinServer, wrk: pinWrk } : null },
      options: {
        duration: opts.duration,
        warmup: opts.warmup,
        rounds: opts.rounds,
        connections: opts.connections,
        threads: 1,
        pipeline: opts.pipeline,
        smoke: Boolean(opts.smoke),
      },
      app: APP,
      servers: servers.map((s) => ({ id: s.id, label: s.label })),
      scenarios: scenarios.map((s) => ({ id: s.id, label: s.label(opts), depth: s.depth(opts) })),
      summary,
      runs,
      warnings,
      failures,
    };
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
    console.log(`\nresults written to ${opts.json}`);
  }

  process.exitCode = failures.length ? 1 : 0;
}

main().catch((e) => {
  console.error(`bench: ${e?.stack ?? e}`);
  killChildren('SIGKILL');
  process.exit(1);
});
