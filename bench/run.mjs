#!/usr/bin/env node
// run.mjs: the benchmark harness (`npm run bench`).
//
// Serves the same application (bench/apps/tsgi-app.mjs and its
// equivalents) with every server, loads it with wrk from another core, and
// reports per server and scenario the median over rounds of requests/s,
// p50/p99 latency, server CPU time per request and resident memory, each
// also as a ratio to the reference server (tsgi node) and to
// uWebSockets.js, with the targets of the native server marked PASS/FAIL.
//
//   npm run bench                        3 rounds x (2 s warm-up + 5 s) per measurement
//   npm run bench -- --smoke             1 round x 1 s, a subset (CI: keeps the harness working)
//   npm run bench -- --servers native,uws --scenarios hello,pipelined --rounds 5
//
// Rounds alternate the servers: for each round, for each scenario, each
// server in turn is started afresh, checked, warmed up, measured and
// stopped. Medians are taken over the rounds. Writes a table to stdout and,
// unless --smoke, bench/results/latest.json and bench/results/latest.svg.
//
// Everything targets 127.0.0.1. Every loop is bounded, every wait has a
// timeout, and child processes (and nginx's workers) are killed when this
// process exits. See bench/README.md for what each scenario measures.
//
// Adding a server: append a descriptor to SERVERS. A descriptor either gives
// `argv(ctx)` for a process that prints `listening on http://HOST:PORT (TAG)`
// on stdout and stops on SIGTERM (like `tsgi serve`), or its own
// `start(ctx)` returning `{ port, cpuPids(), rssPids(), stop(), stderr() }`
// (nginx with a generated config). `unavailable(ctx)` returns a reason to
// skip it, or null. Adding a scenario: append a descriptor to SCENARIOS.
import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants as fsc,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { availableParallelism, loadavg, release, tmpdir, totalmem } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';
const APP = 'bench/apps/tsgi-app.mjs';
const CLI = 'bin/tsgi.js';
/** Seconds an idle keep-alive connection stays open, for every server that
 * has the setting (uWS: fixed 10 s), so that the idle scenario's
 * connections outlive its measurement. */
const KEEP_ALIVE_S = 60;

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const CHECK_TIMEOUT_MS = 10_000;
const WRK_GRACE_MS = 20_000; // on top of the wrk duration
const IDLE_TIMEOUT_S = 120; // the idle client's whole run
const SETTLE_MS = 500; // before reading RSS

const REF = 'node'; // the reference server of the ratios
const UWS = 'uws';

// ---------------------------------------------------------------- servers

const SERVERS = [
  {
    id: 'native',
    label: 'tsgi native',
    short: 'native',
    tag: 'native',
    unavailable: () => cliMissing(),
    argv: () => [
      process.execPath,
      [CLI, 'serve', APP, '--bind', `${HOST}:0`, '--server', 'native', '--keep-alive-timeout', String(KEEP_ALIVE_S)],
    ],
  },
  {
    id: 'node',
    label: 'tsgi node',
    short: 'tsgi-node',
    tag: 'node',
    unavailable: () => cliMissing(),
    argv: () => [
      process.execPath,
      [CLI, 'serve', APP, '--bind', `${HOST}:0`, '--server', 'node', '--keep-alive-timeout', String(KEEP_ALIVE_S)],
    ],
  },
  {
    id: 'node-http',
    label: 'node:http',
    short: 'node:http',
    tag: 'node:http',
    unavailable: () => null,
    argv: () => [
      process.execPath,
      ['bench/servers/node-http.mjs', '--bind', `${HOST}:0`, '--keep-alive-timeout', String(KEEP_ALIVE_S)],
    ],
  },
  {
    id: 'uws',
    label: 'uWebSockets.js',
    short: 'uWS',
    tag: 'uws',
    unavailable: () => uwsMissing(),
    argv: () => [process.execPath, ['bench/servers/uws.mjs', '--bind', `${HOST}:0`]],
  },
  {
    id: 'nginx',
    label: 'nginx',
    short: 'nginx',
    unavailable: () => (which('nginx') ? null : 'nginx is not installed (apt-get install -y nginx-light)'),
    start: (ctx) => startNginx(ctx),
  },
];

// -------------------------------------------------------------- scenarios

const BROWSER_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const BROWSER_LANG = 'en-US,en;q=0.9,de;q=0.8';
const BROWSER_REQUEST =
  'GET /browser?q=tsgi&page=2&sort=desc HTTP/1.1\r\n' +
  `Host: ${HOST}\r\n` +
  `User-Agent: ${BROWSER_UA}\r\n` +
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n' +
  `Accept-Language: ${BROWSER_LANG}\r\n` +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Cookie: theme=dark; session=3f2a9c4e1b7d; _ga=GA1.1.123456789.1700000000\r\n' +
  `Referer: http://${HOST}/search?q=tsgi\r\n` +
  'Cache-Control: no-cache\r\n' +
  'Sec-Fetch-Dest: document\r\n' +
  'Sec-Fetch-Mode: navigate\r\n' +
  'Sec-Fetch-Site: same-origin\r\n' +
  '\r\n';
// Written out by hand (not computed by bench/apps/common.mjs) so that the
// check also tests the apps' logic.
const BROWSER_BODY =
  `path=/browser q=tsgi session=3f2a9c4e1b7d\nlang=${BROWSER_LANG}\nua=${BROWSER_UA}\n`;

const HELLO_BODY = Buffer.from('Hello, World!\n');
const ECHO_SIZE = 16 * 1024;
const ECHO_BODY = Buffer.alloc(ECHO_SIZE, 'tsgi echo 0123456789 ');
const FILE_SIZE = 1024 * 1024;
// The servers send the same 4 KiB chunk 16 times.
const STREAM_BODY = Buffer.concat(Array(16).fill(Buffer.alloc(4096, 'abcdefghijklmnopqrstuvwxyz0123456789\n')));

/**
 * kind "wrk": wrk -t1 -c<connections>, `depth` requests per batch; the
 * request is `request` (raw bytes, sent by the Lua script and by the check)
 * or, with request null, wrk's own `GET / HTTP/1.1` (no script).
 * kind "idle": see measureIdle().
 * `skip(serverId)` gives a reason a server cannot take part, or null.
 */
const SCENARIOS = [
  {
    id: 'hello',
    aliases: ['A'],
    kind: 'wrk',
    label: (o) => `hello -c${o.connections}`,
    what: 'GET / -> "Hello, World!\\n", one request per connection at a time',
    depth: () => 1,
    request: null,
    expect: () => HELLO_BODY,
    skip: () => null,
    smoke: true,
  },
  {
    id: 'pipelined',
    aliases: ['B'],
    kind: 'wrk',
    label: (o) => `hello pipelined x${o.pipeline}`,
    what: 'GET / -> "Hello, World!\\n", 16 requests written per batch',
    depth: (o) => o.pipeline,
    request: `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
    expect: () => HELLO_BODY,
    skip: () => null,
    smoke: true,
  },
  {
    id: 'browser',
    kind: 'wrk',
    label: (o) => `browser-like x${o.pipeline}`,
    what:
      'GET /browser?q=... with 11 browser headers; the app reads the path, the query (q), ' +
      'User-Agent, Accept-Language and Cookie (session) and echoes them; 16 per batch',
    depth: (o) => o.pipeline,
    request: BROWSER_REQUEST,
    expect: () => Buffer.from(BROWSER_BODY, 'latin1'),
    skip: () => null,
    smoke: true,
  },
  {
    id: 'echo',
    kind: 'wrk',
    label: () => 'POST 16 KiB echo',
    what: 'POST /echo with a 16 KiB body (Content-Length); the app reads it all and sends it back',
    depth: () => 1,
    request:
      `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: application/octet-stream\r\n` +
      `Content-Length: ${ECHO_SIZE}\r\n\r\n${ECHO_BODY.toString('latin1')}`,
    expect: () => ECHO_BODY,
    skip: (id) => (id === 'nginx' ? 'nginx cannot echo a body without extra modules' : null),
    smoke: true,
  },
  {
    id: 'file',
    kind: 'wrk',
    label: () => '1 MiB file',
    what:
      'GET /file -> a 1 MiB file from disk: tsgi.file_wrapper (tsgi), fs.createReadStream().pipe (node:http), ' +
      'fs.read in 64 KiB blocks with tryEnd/onWritable backpressure (uWS), sendfile (nginx)',
    depth: () => 1,
    request: `GET /file HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
    expect: (ctx) => ctx.fileBytes,
    skip: () => null,
    smoke: false,
  },
  {
    id: 'stream',
    kind: 'wrk',
    label: () => '64 KiB in 16 chunks',
    what:
      'GET /stream -> 64 KiB as 16 chunks of 4 KiB, chunked encoding: an async generator (tsgi), ' +
      '16 res.write() and end() (node:http, uWS)',
    depth: () => 1,
    request: `GET /stream HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
    expect: () => STREAM_BODY,
    skip: (id) => (id === 'nginx' ? 'nginx has no application to stream from' : null),
    smoke: false,
  },
  {
    id: 'idle',
    kind: 'idle',
    label: (o) => `idle x${o.idleConnections}`,
    what:
      'server VmRSS after opening N keep-alive connections that each made one GET / and stay idle, ' +
      'minus VmRSS before, divided by the connections still open (nginx: its worker)',
    depth: () => 1,
    request: null,
    expect: () => HELLO_BODY,
    skip: () => null,
    smoke: true,
  },
];

/** The native server's targets: a ratio of medians, or an absolute bound. */
const TARGETS = [
  { scenario: 'pipelined', metric: 'rps', vs: 'uws', min: 1.0 },
  { scenario: 'hello', metric: 'rps', vs: 'uws', min: 0.95 },
  { scenario: 'hello', metric: 'rps', vs: 'node-http', min: 1.8 },
  { scenario: 'browser', metric: 'rps', vs: 'uws', min: 0.9 },
  { scenario: 'echo', metric: 'rps', vs: 'node-http', min: 2.0 },
  { scenario: 'file', metric: 'rps', vs: 'nginx', min: 0.8 },
  { scenario: 'idle', metric: 'bytesPerConn', max: 1500 },
];
const TARGET_SERVER = 'native';

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
function seconds(min) {
  return (v) => {
    const m = /^(\d+)(s|m)?$/.exec(String(v).trim());
    if (!m) throw new InvalidArgumentError('expected seconds, e.g. 5s or 1m');
    const n = Number(m[1]) * (m[2] === 'm' ? 60 : 1);
    if (n < min || n > 600) throw new InvalidArgumentError(`expected ${min}s..10m`);
    return n;
  };
}

function list(v) {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const program = new Command()
  .name('npm run bench --')
  .description('Benchmark the tsgi servers against node:http, uWebSockets.js and nginx, with wrk on 127.0.0.1.')
  .addOption(new Option('--duration <time>', 'length of each measurement').argParser(seconds(1)).default(5, '5s'))
  .addOption(
    new Option('--warmup <time>', 'warm-up before each measurement (not recorded)')
      .argParser(seconds(0))
      .default(2, '2s'),
  )
  .option('--rounds <n>', 'rounds; each round runs every scenario on every server once', intIn(1, 50), 3)
  .option('--connections <n>', 'wrk connections (-c)', intIn(1, 10000), 64)
  .option('--pipeline <n>', 'requests per batch in the pipelined scenarios', intIn(2, 256), 16)
  .option('--idle-connections <n>', 'connections of the idle scenario', intIn(10, 50000), 8000)
  .option('--idle-concurrency <n>', 'connections being opened at once in the idle scenario', intIn(1, 4096), 256)
  .option('--servers <ids>', `servers to run (${SERVERS.map((s) => s.id).join(',')})`, list)
  .option('--scenarios <ids>', `scenarios to run (${SCENARIOS.map((s) => s.id).join(',')})`, list)
  .option(
    '--smoke',
    `1 round, 1 s, no warm-up, scenarios ${SCENARIOS.filter((s) => s.smoke)
      .map((s) => s.id)
      .join(',')} with 300 idle connections (for CI)`,
  )
  .option('--json <file>', 'also write the results as JSON', 'bench/results/latest.json')
  .option('--no-json', 'do not write JSON')
  .option('--svg <file>', 'also write a chart of the ratios to uWS as SVG', 'bench/results/latest.svg')
  .option('--no-svg', 'do not write the chart')
  .option('--no-pin', 'do not pin server and wrk to separate cores')
  .option('--report <json>', 'measure nothing: print the tables of a saved JSON (and write --svg if named)')
  .showHelpAfterError();

// ---------------------------------------------------------------- helpers

const children = new Set();
/** Grandchildren (nginx workers): pid -> expected comm. */
const extraPids = new Map();

function killChildren(signal) {
  for (const child of children) {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
  for (const [pid, comm] of extraPids) {
    // Only if the pid still names the process we started.
    if (procComm(pid) === comm) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    }
  }
}

let workDir = null;
process.on('exit', () => {
  killChildren('SIGKILL');
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});
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
  // nginx lives in /usr/sbin, which a non-root PATH may lack.
  for (const dir of ['/usr/sbin', '/sbin', '/usr/local/sbin']) {
    try {
      accessSync(join(dir, cmd), fsc.X_OK);
      return join(dir, cmd);
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

let uwsProbe;
/** Loads the uWS binary in a child once: a reason to skip, or null. */
function uwsMissing() {
  if (uwsProbe !== undefined) return uwsProbe;
  const r = spawnSync(process.execPath, ['bench/servers/uws.mjs', '--probe'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 15000,
  });
  if (r.status === 0) uwsProbe = null;
  else {
    const why = `${r.stderr ?? ''}`.trim().split('\n').pop() || `exit ${r.status ?? r.signal}`;
    uwsProbe =
      `uWebSockets.js does not load here (${why.replace(/^uws\.mjs: /, '')})` +
      (/cannot find/i.test(why) ? '; install it with `npm install -D @trufflesuite/uws-js-unofficial`' : '');
  }
  return uwsProbe;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function fmtInt(n) {
  return n == null || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US');
}

function fmtRatio(r) {
  if (r == null || !Number.isFinite(r)) return '-';
  return r >= 100 ? `${r.toFixed(0)}x` : r >= 10 ? `${r.toFixed(1)}x` : `${r.toFixed(2)}x`;
}

function fmtMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return '-';
  return ms < 1 ? `${Math.round(ms * 1000)}us` : ms < 100 ? `${ms.toFixed(2)}ms` : `${ms.toFixed(0)}ms`;
}

function fmtUs(us) {
  if (us == null || !Number.isFinite(us)) return '-';
  return us < 10 ? `${us.toFixed(2)}us` : us < 1000 ? `${us.toFixed(1)}us` : `${(us / 1000).toFixed(2)}ms`;
}

function fmtMiB(m) {
  return m == null || !Number.isFinite(m) ? '-' : m.toFixed(1);
}

function median(xs) {
  const v = xs.filter((x) => x != null && Number.isFinite(x));
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b);
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
  let nginx = null;
  if (which('nginx')) {
    const v = spawnSync(which('nginx'), ['-v'], { encoding: 'utf8', timeout: 5000 });
    nginx = /nginx\/(\S+)/.exec(`${v.stderr ?? ''}${v.stdout ?? ''}`)?.[1] ?? 'unknown';
  }
  let uws = null;
  try {
    uws = JSON.parse(readFileSync(join(ROOT, 'node_modules/@trufflesuite/uws-js-unofficial/package.json'), 'utf8'))
      .version;
  } catch {
    // not installed
  }
  return {
    nproc: availableParallelism(),
    cpu: cpuModel,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    wrk: wrkVersion,
    tsgi,
    nginx,
    uws,
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

// ------------------------------------------------------------ /proc figures

let clockTicks = 100;

function procComm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Fields of /proc/PID/stat after the command name: [0] is the state (field 3). */
function procStat(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of all threads of the processes, in clock ticks. */
function cpuTicks(pids) {
  let t = 0;
  for (const pid of pids) {
    const f = procStat(pid);
    t += Number(f[11]) + Number(f[12]);
  }
  return t;
}

/** VmRSS summed over the processes, in KiB. */
function rssKiB(pids) {
  let kib = 0;
  for (const pid of pids) {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (!m) throw new Error(`no VmRSS for pid ${pid}`);
    kib += Number(m[1]);
  }
  return kib;
}

/** Child processes of `ppid` (bounded scan of /proc). */
function childPids(ppid) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (Number(procStat(name)[1]) === ppid) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

// ---------------------------------------------------------- server control

let nofileWanted = 4096;

/**
 * Spawns a command with a raised open-file limit (sh's ulimit, up to the
 * hard limit) and pinned with taskset if asked; `exec` keeps the pid.
 */
function spawnTracked(cmd, args, pin, { stdin = 'ignore' } = {}) {
  const inner = pin ? ['taskset', '-c', pin, cmd, ...args] : [cmd, ...args];
  const script = `ulimit -n ${nofileWanted} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`;
  const child = spawn('sh', ['-c', script, 'sh', ...inner], {
    cwd: ROOT,
    stdio: [stdin, 'pipe', 'pipe'],
    env: process.env,
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Stops a child: SIGTERM, then SIGKILL, each bounded. */
async function stopChild(child, exitPromise, getExited) {
  if (getExited()) return { ...getExited(), graceful: false, early: true };
  child.kill('SIGTERM');
  const res = await Promise.race([exitPromise, sleep(STOP_TIMEOUT_MS).then(() => null)]);
  if (res) return { ...res, graceful: res.code === 0 || res.signal === 'SIGTERM' };
  child.kill('SIGKILL');
  const killed = await Promise.race([exitPromise, sleep(STOP_TIMEOUT_MS).then(() => null)]);
  return { ...(killed ?? { code: null, signal: 'SIGKILL' }), graceful: false, timedOut: true };
}

/**
 * Starts a listening-line server: resolves { port, cpuPids, rssPids, stop,
 * stderr } once it printed `listening on http://HOST:PORT (TAG)`.
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

  const stop = () => stopChild(child, exitPromise, () => exited);
  const pids = () => {
    if (exited) throw new Error(`server exited (${exited.signal ?? `code ${exited.code}`})`);
    return [child.pid];
  };
  return ready.then(
    (port) => ({ port, cpuPids: pids, rssPids: pids, stop, stderr: () => err }),
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

/** A free port on HOST (for nginx, which cannot take port 0 and report it). */
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen({ host: HOST, port: 0 }, () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Resolves true once HOST:port accepts a connection, false after `ms`. */
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

function nginxConfig(dir, port, file) {
  const q = (s) => `"${s.replace(/(["\\$])/g, '\\$1')}"`;
  // Mirrors bench/apps/common.mjs. 'charset' adds "; charset=utf-8" to text/plain.
  return `# generated by bench/run.mjs
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile ${nofileWanted};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {
    worker_connections ${nofileWanted};
}
http {
    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout ${KEEP_ALIVE_S}s;
    keepalive_requests 1000000000;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    types { }
    default_type text/plain;
    charset utf-8;
    server {
        listen ${HOST}:${port};
        location = / {
            return 200 "Hello, World!\\n";
        }
        location = /browser {
            return 200 "path=$uri q=$arg_q session=$cookie_session\\nlang=$http_accept_language\\nua=$http_user_agent\\n";
        }
        location = /file {
            default_type application/octet-stream;
            charset off;
            alias ${q(file)};
        }
        location / {
            return 404 "Not Found\\n";
        }
    }
}
`;
}

let nginxCount = 0;

/** nginx with a generated config in the work dir, one worker, on HOST only. */
async function startNginx(ctx) {
  const bin = which('nginx');
  let lastError = null;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const dir = join(ctx.workDir, `nginx-${++nginxCount}`);
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
    const port = await freePort();
    writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, ctx.file));
    const child = spawnTracked(bin, ['-p', `${dir}/`, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`], ctx.pin);
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
    child.stdout.resume();
    let workers = [];
    const stop = async () => {
      const st = await stopChild(child, exitPromise, () => exited);
      for (const pid of workers) extraPids.delete(pid);
      return st;
    };
    const up = await waitListening(port, START_TIMEOUT_MS, () => exited);
    if (up) {
      for (let i = 0; i < 100 && workers.length === 0; i++) {
        workers = childPids(child.pid).filter((pid) => procComm(pid) === 'nginx');
        if (workers.length === 0) await sleep(20);
      }
      for (const pid of workers) extraPids.set(pid, 'nginx');
      if (workers.length === 1) {
        const log = () => {
          try {
            return readFileSync(join(dir, 'error.log'), 'utf8');
          } catch {
            return '';
          }
        };
        const alive = () => {
          if (exited) throw new Error(`nginx exited (${exited.signal ?? `code ${exited.code}`})`);
        };
        return {
          port,
          // CPU: master + worker; memory: the worker (the master only waits).
          cpuPids: () => (alive(), [child.pid, ...workers]),
          rssPids: () => (alive(), workers),
          stop,
          stderr: () => tail(`${err}${log()}`.replace(/^.*\[notice\].*\n?/gm, ''), 2000),
        };
      }
      lastError = new Error(`expected one nginx worker, found ${workers.length}`);
    } else {
      let log = '';
      try {
        log = readFileSync(join(dir, 'error.log'), 'utf8');
      } catch {
        // none
      }
      lastError = new Error(`nginx did not listen on ${HOST}:${port}\n${tail(err + log, 1500)}`);
    }
    await stop();
  }
  throw lastError;
}

// ------------------------------------------------------------ sanity check

/**
 * Sends `depth` copies of the scenario's request in one write on one
 * connection and checks that `depth` complete 200 responses with the
 * expected body come back, in time. Resolves the first response's head.
 */
function checkServer(port, request, depth, expected) {
  return new Promise((resolveCheck, reject) => {
    const sock = connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    let got = 0;
    let firstHead = null;
    const done = (e) => {
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolveCheck(firstHead);
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
      const one = Buffer.from(request ?? `GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\n\r\n`, 'latin1');
      sock.write(Buffer.concat(Array(depth).fill(one)));
    });
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
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
        firstHead ??= r.head;
        if (r.status !== 200) return done(new Error(`check: response ${got}: status ${r.status}`));
        if (!r.body.equals(expected)) {
          const show = r.body.subarray(0, 80).toString('latin1');
          return done(
            new Error(`check: response ${got}: body of ${r.body.length} bytes ${JSON.stringify(show)}, ` +
              `expected ${expected.length} bytes ${JSON.stringify(expected.subarray(0, 80).toString('latin1'))}`),
          );
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
  const head = buf.subarray(0, headEnd).toString('latin1');
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0].slice(0, 80))}`);
  const headers = new Map();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  let pos = headEnd + 4;
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
    const bodyParts = [];
    for (let guard = 0; guard < 100000; guard++) {
      const eol = buf.indexOf('\r\n', pos);
      if (eol < 0) return null;
      const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
      if (!Number.isFinite(size)) throw new Error('bad chunk size');
      if (size === 0) {
        const end = buf.indexOf('\r\n', eol + 2);
        if (end < 0) return null;
        if (end !== eol + 2) throw new Error('trailers are not expected');
        return { status: Number(m[1]), head, body: Buffer.concat(bodyParts), size: end + 2 };
      }
      if (buf.length < eol + 2 + size + 2) return null;
      bodyParts.push(buf.subarray(eol + 2, eol + 2 + size));
      pos = eol + 2 + size + 2;
    }
    throw new Error('too many chunks');
  }
  const cl = headers.get('content-length');
  if (cl == null) throw new Error('no Content-Length and not chunked');
  const len = Number(cl);
  if (buf.length < pos + len) return null;
  return { status: Number(m[1]), head, body: buf.subarray(pos, pos + len), size: pos + len };
}

// --------------------------------------------------------------------- wrk

function runWrk(port, scenario, ctx, durationS) {
  const { opts } = ctx;
  const script = scenario.request
    ? ['-s', 'bench/pipeline.lua', `http://${HOST}:${port}/`, '--', String(scenario.depth(opts)), `@${ctx.requestFiles[scenario.id]}`]
    : [`http://${HOST}:${port}/`];
  const args = ['-t1', `-c${opts.connections}`, `-d${durationS}s`, '--latency', ...script];
  return new Promise((resolveRun, reject) => {
    const child = spawnTracked('wrk', args, ctx.pinWrk);
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
  const zero = [];
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out);
    // wrk 4.1 prints 0.00us for a percentile its histogram cannot place
    // (seen for p99 with pipelining): reported as null, noted.
    const ms = m ? timeMs(m[1]) : null;
    if (m && !ms) zero.push(`p${p}`);
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
    wrkZero: zero,
    errors: {
      connect: sock ? Number(sock[1]) : 0,
      read: sock ? Number(sock[2]) : 0,
      write: sock ? Number(sock[3]) : 0,
      timeout: sock ? Number(sock[4]) : 0,
      non2xx: non2xx ? Number(non2xx[1]) : 0,
    },
  };
}

// ---------------------------------------------------------- measurements

/** One wrk measurement: figures of the measured run (not the warm-up). */
async function measureWrk(srv, sc, ctx) {
  if (ctx.opts.warmup > 0) await runWrk(srv.port, sc, ctx, ctx.opts.warmup);
  const cpu0 = cpuTicks(srv.cpuPids());
  const r = await runWrk(srv.port, sc, ctx, ctx.opts.duration);
  const cpu1 = cpuTicks(srv.cpuPids());
  const rss = rssKiB(srv.rssPids());
  return {
    rps: r.rps,
    p50: r.latencyMs.p50,
    p99: r.latencyMs.p99,
    cpuUs: r.requests > 0 ? (((cpu1 - cpu0) / clockTicks) * 1e6) / r.requests : null,
    rssMiB: rss / 1024,
    requests: r.requests,
    seconds: r.seconds,
    cpuSeconds: (cpu1 - cpu0) / clockTicks,
    latencyMs: r.latencyMs,
    wrkZero: r.wrkZero,
    errors: r.errors,
  };
}

/**
 * The idle scenario: VmRSS before, then bench/idle-client.mjs opens N
 * keep-alive connections (one GET / each, bounded concurrency) and holds
 * them; VmRSS after; (after - before) / connections still open.
 */
async function measureIdle(srv, ctx) {
  const { opts } = ctx;
  await sleep(SETTLE_MS);
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
    ctx.pinWrk,
    { stdin: 'pipe' },
  );
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => {
    err = tail(err + d, 4000);
  });
  let exited = null;
  const exitPromise = new Promise((r) => child.on('exit', (code, signal) => r((exited = { code, signal }))));
  const lines = [];
  let waiter = null;
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    pending += d;
    for (let i = pending.indexOf('\n'), guard = 0; i >= 0 && guard < 1000; i = pending.indexOf('\n'), guard++) {
      const line = pending.slice(0, i);
      pending = pending.slice(i + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        continue;
      }
      waiter?.();
    }
  });
  const next = async (event, ms) => {
    const until = Date.now() + ms;
    for (let guard = 0; guard < 100000; guard++) {
      const i = lines.findIndex((l) => l.event === event);
      if (i >= 0) return lines.splice(i, 1)[0];
      if (exited) throw new Error(`idle client exited (${exited.signal ?? `code ${exited.code}`}): ${tail(err, 500)}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`idle client: no "${event}" within ${ms / 1000} s`);
      await new Promise((r) => {
        waiter = r;
        setTimeout(r, Math.min(left, 1000));
      });
      waiter = null;
    }
    throw new Error('idle client: too many lines');
  };
  try {
    const ready = await next('ready', IDLE_TIMEOUT_S * 1000);
    await sleep(SETTLE_MS);
    const after = rssKiB(srv.rssPids());
    child.stdin.write('count\n');
    const { open } = await next('count', 10_000);
    child.stdin.write('close\n');
    await next('closed', 10_000).catch(() => {});
    return {
      bytesPerConn: open > 0 ? ((after - before) * 1024) / open : null,
      open,
      ok: ready.ok,
      failed: ready.failed,
      firstError: ready.firstError,
      openMs: ready.ms,
      clientNofile: ready.nofile,
      rssBeforeMiB: before / 1024,
      rssAfterMiB: after / 1024,
    };
  } finally {
    if (!exited) {
      child.stdin.end();
      const res = await Promise.race([exitPromise, sleep(STOP_TIMEOUT_MS).then(() => null)]);
      if (!res) child.kill('SIGKILL');
    }
  }
}

// ---------------------------------------------------------------- summary

const WRK_METRICS = [
  { key: 'rps', head: 'req/s', fmt: fmtInt, ratios: true },
  { key: 'p50', head: 'p50', fmt: fmtMs, ratios: true },
  { key: 'p99', head: 'p99', fmt: fmtMs, ratios: true },
  { key: 'cpuUs', head: 'cpu/req', fmt: fmtUs, ratios: true },
  { key: 'rssMiB', head: 'RSS MiB', fmt: fmtMiB, ratios: true },
];
const IDLE_METRICS = [
  { key: 'open', head: 'open conns', fmt: fmtInt },
  { key: 'rssBeforeMiB', head: 'RSS before MiB', fmt: fmtMiB },
  { key: 'rssAfterMiB', head: 'RSS after MiB', fmt: fmtMiB },
  { key: 'bytesPerConn', head: 'bytes/conn', fmt: fmtInt, ratios: true },
];
const metricsOf = (sc) => (sc.kind === 'idle' ? IDLE_METRICS : WRK_METRICS);

function summarize(scenarios, servers, runs) {
  return scenarios.map((sc) => {
    const per = {};
    for (const desc of servers) {
      const rs = runs.filter((r) => r.server === desc.id && r.scenario === sc.id);
      if (rs.length === 0) continue;
      const med = {};
      for (const m of metricsOf(sc)) med[m.key] = median(rs.map((r) => r[m.key]));
      per[desc.id] = { n: rs.length, median: med };
      if (sc.kind === 'wrk') {
        const xs = rs.map((r) => r.rps);
        per[desc.id].rpsRange = { min: Math.min(...xs), max: Math.max(...xs) };
        const zero = [...new Set(rs.flatMap((r) => (r.wrkZero ?? []).filter((p) => p !== 'p90')))];
        if (zero.length) per[desc.id].wrkReportedZero = zero;
      }
    }
    for (const id of Object.keys(per)) {
      const ratios = {};
      for (const base of [REF, UWS]) {
        if (!per[base]) continue;
        ratios[base] = {};
        for (const m of metricsOf(sc)) {
          if (!m.ratios) continue;
          const a = per[id].median[m.key];
          const b = per[base].median[m.key];
          ratios[base][m.key] = a != null && b ? a / b : null;
        }
      }
      per[id].ratios = ratios;
    }
    return { scenario: sc.id, label: sc.label(program.opts()), kind: sc.kind, servers: per };
  });
}

function evaluateTargets(summary, serversById) {
  const ran = new Set(summary.map((s) => s.scenario));
  return TARGETS.filter((t) => ran.has(t.scenario)).map((t) => {
    const s = summary.find((x) => x.scenario === t.scenario);
    const vsLabel = t.vs ? serversById.get(t.vs)?.short ?? t.vs : null;
    const text = t.vs
      ? `${t.metric === 'rps' ? 'req/s' : t.metric} >= ${t.min.toFixed(2)}x ${vsLabel}`
      : `<= ${fmtInt(t.max)} bytes/conn`;
    let measured = null;
    let why = null;
    const mine = s?.servers[TARGET_SERVER];
    if (!s) why = 'scenario not run';
    else if (!mine) why = `${TARGET_SERVER} not measured`;
    else if (t.vs) {
      const other = s.servers[t.vs];
      if (!other) why = `${vsLabel} not measured`;
      else if (mine.median[t.metric] != null && other.median[t.metric]) {
        measured = mine.median[t.metric] / other.median[t.metric];
      }
    } else measured = mine.median[t.metric];
    const pass = measured == null ? null : t.vs ? measured >= t.min : measured <= t.max;
    const shown = measured == null ? '-' : t.vs ? fmtRatio(measured) : fmtInt(measured);
    const short = t.vs ? `>=${t.min.toFixed(2)}x ${vsLabel}` : `<=${t.max}B`;
    return { ...t, server: TARGET_SERVER, text, short, measured, shown, pass, note: why };
  });
}

const mark = (pass) => (pass == null ? 'n/a' : pass ? 'PASS' : 'FAIL');

function printTables(summary, scenarios, servers, targets, opts) {
  const short = (id) => servers.find((s) => s.id === id)?.short ?? id;
  for (const s of summary) {
    const sc = scenarios.find((x) => x.id === s.scenario);
    const present = servers.filter((d) => s.servers[d.id]);
    if (present.length === 0) continue;
    const bases = [REF, UWS].filter((b) => s.servers[b]);
    const metrics = metricsOf(sc);
    const head = ['server'];
    for (const m of metrics) {
      head.push(m.head);
      if (m.ratios) for (const b of bases) head.push(b === REF ? '/ref' : `/${short(b)}`);
    }
    const myTargets = targets.filter((t) => t.scenario === s.scenario);
    if (myTargets.length) head.push('target');
    const rows = present.map((d) => {
      const p = s.servers[d.id];
      const row = [d.label];
      for (const m of metrics) {
        row.push(m.fmt(p.median[m.key]));
        if (m.ratios) for (const b of bases) row.push(fmtRatio(p.ratios[b]?.[m.key]));
      }
      if (myTargets.length) {
        row.push(
          d.id === TARGET_SERVER ? myTargets.map((t) => `${t.short}: ${t.shown} ${mark(t.pass)}`).join('; ') : '',
        );
      }
      return row;
    });
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells) =>
      cells
        .map((c, i) => (i === 0 || i === cells.length - 1 && myTargets.length ? c.padEnd(widths[i]) : c.padStart(widths[i])))
        .join('  ')
        .trimEnd();
    console.log('');
    console.log(`${s.label}: ${sc.what}`);
    console.log(line(head));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows) console.log(line(r));
    const zero = present.filter((d) => s.servers[d.id].wrkReportedZero);
    if (zero.length) {
      console.log(
        `  (wrk reported 0 for ${[...new Set(zero.flatMap((d) => s.servers[d.id].wrkReportedZero))].join('/')} of ` +
          `${zero.map((d) => d.short).join(', ')} in some round: shown as the median of the other rounds, or -)`,
      );
    }
    if (opts.rounds > 1 && sc.kind === 'wrk') {
      const cells = present.map(
        (d) => `${d.short} ${fmtInt(s.servers[d.id].rpsRange.min)}-${fmtInt(s.servers[d.id].rpsRange.max)}`,
      );
      console.log(`  req/s range over rounds: ${cells.join('   ')}`);
    }
  }
  console.log('');
  console.log(`targets (${servers.find((s) => s.id === TARGET_SERVER)?.label ?? TARGET_SERVER}, medians)`);
  const head = ['scenario', 'target', 'measured', 'result'];
  const rows = targets.map((t) => [
    summary.find((s) => s.scenario === t.scenario)?.label ?? t.scenario,
    t.text,
    t.shown,
    t.note ? `n/a (${t.note})` : mark(t.pass),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

// ------------------------------------------------------------------ chart

/**
 * Grouped bars per scenario: each server's figure relative to uWS (or,
 * without uWS, to tsgi node), higher is better: req/s ÷ base req/s, and for
 * the idle scenario base bytes/conn ÷ server bytes/conn. Rendered by
 * vega-lite + vega in Node (renderer "none", toSVG: no browser or canvas).
 */
async function writeChart(file, summary, servers, meta) {
  let vega;
  let vl;
  try {
    vega = await import('vega');
    vl = await import('vega-lite');
  } catch (e) {
    return `chart not written: vega/vega-lite not installed (${e.code ?? e.message})`;
  }
  const base = summary.some((s) => s.servers[UWS]) ? UWS : REF;
  const baseLabel = servers.find((s) => s.id === base)?.label ?? base;
  const values = [];
  for (const s of summary) {
    const b = s.servers[base];
    if (!b) continue;
    for (const d of servers) {
      const p = s.servers[d.id];
      if (!p) continue;
      const r =
        s.kind === 'idle'
          ? p.median.bytesPerConn > 0 && b.median.bytesPerConn > 0
            ? b.median.bytesPerConn / p.median.bytesPerConn
            : null
          : p.median.rps && b.median.rps
            ? p.median.rps / b.median.rps
            : null;
      if (r == null) continue;
      values.push({ scenario: s.label, server: d.label, ratio: Math.round(r * 1000) / 1000, label: fmtRatio(r) });
    }
  }
  if (values.length === 0) return 'chart not written: nothing to compare';
  const order = servers.map((s) => s.label);
  const ratios = values.map((v) => v.ratio);
  const lo = Math.min(0.5, ...ratios) / 2;
  const hi = Math.max(2, ...ratios) * 2;
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `tsgi benchmark: each server relative to ${baseLabel} (higher is better)`,
      subtitle: [
        `Bars: req/s ÷ ${baseLabel} req/s; idle keep-alive: ${baseLabel} bytes/conn ÷ server bytes/conn. Medians of ${meta.rounds} round(s).`,
        meta.machine,
      ],
    },
    width: { step: 22 },
    height: 360,
    data: { values },
    encoding: {
      x: {
        field: 'scenario',
        type: 'nominal',
        sort: summary.map((s) => s.label),
        title: null,
        axis: { labelAngle: 0, labelLimit: 160 },
      },
      xOffset: { field: 'server', sort: order },
    },
    layer: [
      {
        // Bars grow from 1 (as good as the base): up is better, down worse.
        mark: { type: 'bar' },
        encoding: {
          y: {
            field: 'ratio',
            type: 'quantitative',
            // Room beyond the longest bars for their labels.
            scale: { type: 'log', domain: [lo, hi] },
            title: `ratio to ${baseLabel} (log scale)`,
          },
          y2: { datum: 1 },
          color: { field: 'server', type: 'nominal', sort: order, title: 'server' },
          tooltip: [{ field: 'server' }, { field: 'scenario' }, { field: 'label', title: 'ratio' }],
        },
      },
      {
        mark: { type: 'text', angle: 270, align: 'left', baseline: 'middle', dx: 3, fontSize: 9 },
        transform: [{ filter: 'datum.ratio >= 1' }],
        encoding: { y: { field: 'ratio', type: 'quantitative' }, text: { field: 'label' } },
      },
      {
        mark: { type: 'text', angle: 270, align: 'right', baseline: 'middle', dx: -3, fontSize: 9 },
        transform: [{ filter: 'datum.ratio < 1' }],
        encoding: { y: { field: 'ratio', type: 'quantitative' }, text: { field: 'label' } },
      },
      {
        mark: { type: 'rule', color: 'black' },
        encoding: { x: null, xOffset: null, y: { datum: 1 } },
      },
    ],
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, svg);
    renameSync(`${file}.tmp`, file);
  } finally {
    view.finalize();
  }
  return null;
}

// -------------------------------------------------------------------- main

function pickById(all, ids, what) {
  if (!ids) return all;
  const out = [];
  for (const id of ids) {
    const d = all.find((x) => [x.id, ...(x.aliases ?? [])].some((n) => n.toLowerCase() === id.toLowerCase()));
    if (!d) {
      console.error(`bench: unknown ${what} "${id}" (known: ${all.map((x) => x.id).join(', ')})`);
      process.exit(2);
    }
    if (!out.includes(d)) out.push(d);
  }
  // Keep the table's order whatever order was asked.
  return all.filter((d) => out.includes(d));
}

/** --report: the tables (and chart) of a saved run, measuring nothing. */
async function report(opts) {
  const saved = JSON.parse(readFileSync(resolve(process.cwd(), opts.report), 'utf8'));
  if (saved.version !== 2) throw new Error(`${opts.report}: not a version 2 result`);
  const ids = new Set(saved.servers.map((s) => s.id));
  const servers = SERVERS.filter((s) => ids.has(s.id));
  const scIds = new Set(saved.summary.map((s) => s.scenario));
  const scenarios = SCENARIOS.filter((s) => scIds.has(s.id));
  const targets = evaluateTargets(saved.summary, new Map(SERVERS.map((s) => [s.id, s])));
  console.log(`${opts.report}: ${saved.date}, ${saved.options.rounds} round(s), node ${saved.machine.node}`);
  printTables(saved.summary, scenarios, servers, targets, saved.options);
  for (const n of saved.notes ?? []) console.log(`note: ${n}`);
  for (const w of saved.warnings ?? []) console.log(`warning: ${w}`);
  for (const f of saved.failures ?? []) console.log(`FAILED: ${f}`);
  if (opts.svg && program.getOptionValueSource('svg') === 'cli') {
    const m = saved.machine;
    const why = await writeChart(resolve(process.cwd(), opts.svg), saved.summary, servers, {
      rounds: saved.options.rounds,
      machine: `${m.nproc} CPUs ${m.cpu}, node ${m.node}, ${saved.date.slice(0, 16)}Z`,
    });
    console.log(why ? `note: ${why}` : `chart written to ${opts.svg}`);
  }
}

async function main() {
  program.parse();
  const opts = program.opts();
  const given = (name) => program.getOptionValueSource(name) === 'cli';
  if (opts.smoke) {
    opts.rounds = 1;
    opts.duration = 1;
    if (!given('warmup')) opts.warmup = 0;
    if (!given('idleConnections')) opts.idleConnections = 300;
    if (!given('scenarios')) opts.scenarios = SCENARIOS.filter((s) => s.smoke).map((s) => s.id);
    // A smoke run proves the harness works; it must not replace the
    // recorded figures unless a file is named explicitly.
    if (program.getOptionValueSource('json') === 'default') opts.json = false;
    if (program.getOptionValueSource('svg') === 'default') opts.svg = false;
  }
  const servers = pickById(SERVERS, opts.servers, 'server');
  const scenarios = pickById(SCENARIOS, opts.scenarios, 'scenario');
  const serversById = new Map(SERVERS.map((s) => [s.id, s]));

  if (opts.report) {
    await report(opts);
    return;
  }

  if (!which('wrk')) {
    console.error('bench: wrk is not on PATH. Install it (Debian/Ubuntu):');
    console.error('  apt-get install -y wrk');
    process.exit(1);
  }
  const tck = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
  if (tck.status === 0 && Number(tck.stdout) > 0) clockTicks = Number(tck.stdout);
  nofileWanted = Math.max(4096, opts.idleConnections + 1024);

  // Pinning: the server on one core, wrk (and the idle client) on another.
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
    pinNote = `taskset: server on CPU ${pinServer}, wrk and the idle client on CPU ${pinWrk}`;
  }

  // The work dir: the 1 MiB file, the raw requests, nginx's configs.
  workDir = mkdtempSync(join(tmpdir(), 'tsgi-bench-'));
  chmodSync(workDir, 0o755); // nginx's worker runs as nobody
  const file = join(workDir, 'file-1m.bin');
  const fileBytes = Buffer.alloc(FILE_SIZE);
  for (let i = 0; i < FILE_SIZE; i++) fileBytes[i] = 32 + ((i * 7 + (i >> 10)) % 95);
  writeFileSync(file, fileBytes, { mode: 0o644 });
  process.env.TSGI_BENCH_FILE = file;
  const requestFiles = {};
  for (const sc of SCENARIOS) {
    if (!sc.request) continue;
    requestFiles[sc.id] = join(workDir, `${sc.id}.http`);
    writeFileSync(requestFiles[sc.id], Buffer.from(sc.request, 'latin1'), { mode: 0o644 });
  }
  const ctx = { opts, pin: pinServer, pinWrk, workDir, file, fileBytes, requestFiles };

  const machine = machineInfo();
  const startedAt = new Date();
  console.log('tsgi benchmark');
  console.log(`  machine   ${machine.nproc} CPUs, ${machine.cpu}, ${machine.memGiB} GiB, Linux ${machine.kernel}`);
  console.log(
    `  software  node ${machine.node}, wrk ${machine.wrk}, ${machine.tsgi}, ` +
      `uWS.js ${machine.uws ?? '-'}, nginx ${machine.nginx ?? '-'}`,
  );
  console.log(
    `  load      ${machine.loadavg.join(' ')} (1/5/15 min, before the run)` +
      (machine.loadavg[0] >= 0.5 ? '  -- the machine is busy: expect noisy figures' : ''),
  );
  console.log(`  pinning   ${pinNote}`);
  console.log(`  app       ${APP} (tsgi), bench/servers/node-http.mjs, bench/servers/uws.mjs, generated nginx.conf`);
  console.log(
    `  method    ${opts.rounds} round(s); per round, per scenario, each server in turn: start, check, ` +
      `${opts.warmup} s warm-up, ${opts.duration} s wrk -t1 -c${opts.connections}, stop; medians over rounds` +
      (opts.smoke ? '  [smoke]' : ''),
  );
  console.log(`  scenarios ${scenarios.map((s) => s.label(opts)).join('; ')}`);
  console.log('');

  const runs = [];
  const failures = [];
  const warnings = [];
  const notes = [];
  const heads = {};
  const skipped = new Map();
  for (const desc of servers) {
    const why = desc.unavailable(ctx);
    if (why) {
      skipped.set(desc.id, why);
      notes.push(`${desc.label}: skipped: ${why}`);
    }
  }
  for (const sc of scenarios) {
    for (const desc of servers) {
      const why = sc.skip(desc.id);
      if (why && !skipped.has(desc.id)) notes.push(`${desc.label}: ${sc.label(opts)} skipped: ${why}`);
    }
  }

  for (let round = 1; round <= opts.rounds; round++) {
    for (const sc of scenarios) {
      const label = sc.label(opts);
      for (const desc of servers) {
        if (skipped.has(desc.id) || sc.skip(desc.id)) continue;
        const tagline = `round ${round}/${opts.rounds}  ${label.padEnd(22)} ${desc.label.padEnd(14)}`;
        let srv;
        try {
          srv = await startServer(desc, ctx);
        } catch (e) {
          failures.push(`${desc.label} ${label} (round ${round}): failed to start: ${e.message}`);
          console.log(`${tagline}  FAILED to start: ${e.message.split('\n')[0]}`);
          continue;
        }
        try {
          const head = await checkServer(
            srv.port,
            sc.request,
            Math.min(sc.depth(opts), 16),
            sc.expect(ctx),
          );
          (heads[desc.id] ??= {})[sc.id] ??= head;
          if (sc.kind === 'idle') {
            const r = await measureIdle(srv, ctx);
            runs.push({ round, server: desc.id, scenario: sc.id, ...r });
            console.log(
              `${tagline}  ${fmtInt(r.bytesPerConn).padStart(7)} bytes/conn  (${fmtInt(r.open)} open, ` +
                `RSS ${fmtMiB(r.rssBeforeMiB)} -> ${fmtMiB(r.rssAfterMiB)} MiB, opened in ${fmtInt(r.openMs)} ms` +
                `${r.failed ? `, ${r.failed} FAILED: ${r.firstError}` : ''})`,
            );
            if (r.failed) {
              failures.push(`${desc.label} ${label} (round ${round}): ${r.failed} connections failed (${r.firstError})`);
            }
            if (r.open < r.ok) {
              warnings.push(`${desc.label} ${label} (round ${round}): ${r.ok - r.open} connections closed by the ` +
                'server before the measurement (divided by those still open)');
            }
          } else {
            const r = await measureWrk(srv, sc, ctx);
            runs.push({ round, server: desc.id, scenario: sc.id, ...r });
            const e = r.errors;
            const errs = e.connect + e.read + e.write + e.timeout;
            console.log(
              `${tagline}  ${fmtInt(r.rps).padStart(9)} req/s  p50 ${fmtMs(r.p50).padStart(7)}  ` +
                `p99 ${(r.p99 == null && r.wrkZero.includes('p99') ? '0?' : fmtMs(r.p99)).padStart(7)}  ` +
                `cpu ${fmtUs(r.cpuUs).padStart(7)}/req  RSS ${fmtMiB(r.rssMiB)} MiB` +
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
          }
        } catch (e) {
          failures.push(`${desc.label} ${label} (round ${round}): ${e.message}`);
          console.log(`${tagline}  FAILED: ${e.message.split('\n')[0]}`);
        } finally {
          const st = await srv.stop();
          if (!st.graceful) {
            warnings.push(
              `${desc.label} ${label} (round ${round}): ` +
                (st.early
                  ? `had exited during the run (${st.signal ?? `code ${st.code}`})`
                  : st.timedOut
                    ? `did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM (killed)`
                    : `exited with ${st.signal ?? `code ${st.code}`} on SIGTERM`),
            );
            if (st.early) failures.push(`${desc.label} ${label} (round ${round}): server died during the run`);
          }
          const stderr = srv.stderr?.().trim();
          if (stderr) warnings.push(`${desc.label} ${label} (round ${round}) stderr: ${tail(stderr, 600)}`);
        }
      }
    }
  }

  const summary = summarize(scenarios, servers, runs);
  const targets = evaluateTargets(summary, serversById);
  console.log('');
  console.log(
    `medians over ${opts.rounds} round(s); /ref (= ${serversById.get(REF).label}) and /${serversById.get(UWS).short}: ` +
      'ratio of the medians (server / base) for every figure; cpu/req: server utime+stime per request ' +
      '(nginx: master+worker); RSS: VmRSS after the run (nginx: worker)',
  );
  printTables(summary, scenarios, servers, targets, opts);

  const loadAfter = loadavg().map((x) => Math.round(x * 100) / 100);
  console.log(`\nload after the run: ${loadAfter.join(' ')}`);
  for (const n of notes) console.log(`note: ${n}`);
  for (const w of warnings) console.log(`warning: ${w}`);
  for (const f of failures) console.log(`FAILED: ${f}`);

  const meta = {
    rounds: opts.rounds,
    machine: `${machine.nproc} CPUs ${machine.cpu}, node ${machine.node}, ${startedAt.toISOString().slice(0, 16)}Z`,
  };
  if (opts.json) {
    const jsonFile = resolve(process.cwd(), opts.json);
    const result = {
      version: 2,
      date: startedAt.toISOString(),
      machine: {
        ...machine,
        loadavgAfter: loadAfter,
        pinning: pinServer ? { server: pinServer, wrk: pinWrk } : null,
        clockTicks,
      },
      options: {
        duration: opts.duration,
        warmup: opts.warmup,
        rounds: opts.rounds,
        connections: opts.connections,
        threads: 1,
        pipeline: opts.pipeline,
        idleConnections: opts.idleConnections,
        idleConcurrency: opts.idleConcurrency,
        keepAliveTimeout: KEEP_ALIVE_S,
        smoke: Boolean(opts.smoke),
      },
      app: APP,
      reference: REF,
      servers: servers.map((s) => ({ id: s.id, label: s.label, skipped: skipped.get(s.id) ?? null })),
      scenarios: scenarios.map((s) => ({
        id: s.id,
        label: s.label(opts),
        kind: s.kind,
        what: s.what,
        depth: s.depth(opts),
        request: s.request ? `${s.request.slice(0, 2000)}` : 'GET / HTTP/1.1 (wrk default)',
      })),
      units: {
        rps: 'requests/s',
        p50: 'ms',
        p99: 'ms',
        cpuUs: 'server CPU microseconds per request',
        rssMiB: 'MiB (VmRSS after the run)',
        bytesPerConn: 'bytes of VmRSS per idle connection',
      },
      summary,
      targets: targets.map(({ scenario, server, metric, vs, min, max, text, measured, pass, note }) => ({
        scenario,
        server,
        metric,
        vs: vs ?? null,
        min: min ?? null,
        max: max ?? null,
        text,
        measured,
        pass,
        note,
      })),
      responseHeads: heads,
      runs,
      notes,
      warnings,
      failures,
    };
    mkdirSync(dirname(jsonFile), { recursive: true });
    writeFileSync(`${jsonFile}.tmp`, `${JSON.stringify(result, null, 2)}\n`);
    renameSync(`${jsonFile}.tmp`, jsonFile);
    console.log(`\nresults written to ${opts.json}`);
  }
  if (opts.svg) {
    try {
      const why = await writeChart(resolve(process.cwd(), opts.svg), summary, servers, meta);
      console.log(why ? `note: ${why}` : `chart written to ${opts.svg}`);
    } catch (e) {
      warnings.push(`chart: ${e.message}`);
      console.log(`warning: chart not written: ${e.message}`);
    }
  }

  process.exitCode = failures.length ? 1 : 0;
}

main().catch((e) => {
  console.error(`bench: ${e?.stack ?? e}`);
  killChildren('SIGKILL');
  process.exit(1);
});
