#!/usr/bin/env node
// soak.mjs: many requests with random client aborts against a tsgi server in
// a child process (test/fixtures/fault-server.mjs, from dist/), then checks
// that it leaked no descriptor, that its resident memory stayed flat after
// warm-up and that it never crashed.
//
//   node scripts/soak.mjs [--requests N] [--concurrency C] [--abort-rate R]
//                         [--server native|node] [--seed S] [--valgrind]
//
// The mix: keep-alive GETs, POST bodies (echoed), chunked uploads with
// chunk extensions and OWS cut into several writes (the bytes the native
// parser holds back between reads), chunked streaming responses, pipelined
// batches of four, 500s, Connection: close; and, at
// --abort-rate (default 5 %), a connection the client resets mid-head,
// mid-body or mid-response. Every response is checked (status and length).
//
// --valgrind runs the server under valgrind memcheck (default 20,000
// requests) and reports the definitely and indirectly lost bytes whose
// allocation stack passes through tsgi.node; any such byte fails the run.
//
// Exit status 0 when every check passed, 1 otherwise. Build first
// (`npm run build`, or `npx node-gyp rebuild && npx tsc -p tsconfig.json`).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exchange } from './lib/http-response.mjs';
import { fdCount as fdsOf, rssKiB as rssOf } from './lib/proc.mjs';
import { startServer } from './lib/server-process.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = join(root, 'test', 'fixtures', 'fault-server.mjs');

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string' },
    concurrency: { type: 'string' },
    'abort-rate': { type: 'string', default: '0.05' },
    server: { type: 'string', default: 'native' },
    seed: { type: 'string', default: '1' },
    valgrind: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\nimport ')[0] + '\n');
  process.exit(0);
}

const total = Number(args.requests ?? (args.valgrind ? 20_000 : 1_000_000));
const concurrency = Number(args.concurrency ?? (args.valgrind ? 8 : 32));
const abortRate = Number(args['abort-rate']);
const kind = args.server === 'node' ? 'node' : 'native';
if (!Number.isSafeInteger(total) || total < 100 || !(concurrency >= 1) || !(abortRate >= 0 && abortRate < 1)) {
  process.stderr.write('soak: --requests must be >= 100, --concurrency >= 1, --abort-rate in [0, 1)\n');
  process.exit(2);
}
if (!existsSync(join(root, 'dist', 'index.js'))) {
  process.stderr.write('soak: dist/ is missing: run `npx tsc -p tsconfig.json` first\n');
  process.exit(2);
}

// ---- deterministic randomness (mulberry32) ---------------------------------

let seed = Number(args.seed) >>> 0;
function random() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

// ---- the server process ------------------------------------------------------

const workDir = mkdtempSync(join(tmpdir(), 'tsgi-soak-'));
const valgrindLog = join(workDir, 'valgrind.log');

const command = args.valgrind ? 'valgrind' : process.execPath;
const argv = [
  ...(args.valgrind
    ? [
        '--tool=memcheck',
        '--leak-check=full',
        '--show-leak-kinds=definite,indirect',
        '--errors-for-leak-kinds=definite,indirect',
        '--num-callers=40',
        `--log-file=${valgrindLog}`,
        process.execPath,
      ]
    : []),
  // V8 grows its young generation in one step once allocation is fast
  // (16-20 MiB of RSS at some point between 1,400 and 5,800 requests of a
  // 20,000-request run), which is not a leak but falls after the warm-up.
  // Pinned at its default maximum (16 MiB semi-spaces on x64), the young
  // generation is resident from the start, so the RSS series shows only
  // what the server keeps.
  '--min-semi-space-size=16',
  '--max-semi-space-size=16',
  fixture,
  kind,
];
// Node under valgrind takes a while to start.
const server = await startServer(command, argv, {
  stdin: 'pipe',
  timeoutMs: args.valgrind ? 300_000 : 20_000,
});
const { port } = server;
const pid = /** @type {number} */ (server.info.pid);
let crashed = false;
let stopping = false;
void server.exit.then(() => {
  if (!stopping) crashed = true;
});

const fdCount = () => fdsOf(pid);
function rssKiB() {
  try {
    return rssOf(pid);
  } catch {
    return NaN;
  }
}

// ---- a keep-alive connection ---------------------------------------------------

/** One client connection; the responses are read by the repository's
 * response parser (scripts/lib/http-response.mjs). */
class Conn {
  constructor(socket) {
    this.socket = socket;
    this.closed = false;
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static open() {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        resolve(new Conn(socket));
      });
    });
  }

  /** Writes `data` and resolves its `n` responses; throws unless all came. */
  async exchange(data, n) {
    const { outcome, responses, error } = await exchange(this.socket, data, { count: n, timeoutMs: 30_000 });
    if (outcome === 'done') return responses;
    throw new Error(
      outcome === 'timeout'
        ? `timed out waiting for ${n} response(s)`
        : outcome === 'error'
          ? `bad response: ${error}`
          : `connection closed after ${responses.length} of ${n} responses`,
    );
  }

  /** Writes `parts` one loop turn apart (so the server reads them as
   * separate pieces) and resolves the `n` responses, as exchange(). */
  async exchangeSplit(parts, n) {
    const answer = this.exchange(null, n);
    for (const part of parts) {
      this.socket.write(part);
      await new Promise((r) => setImmediate(r));
    }
    return answer;
  }

  /** Writes `data` and waits until `bytes` of the response's body came (or
   * all of it, or the connection closed). */
  async partial(data, bytes) {
    const { outcome } = await exchange(this.socket, data, {
      timeoutMs: 30_000,
      until: (p) => p.pendingBodyBytes >= bytes || p.responses[0]?.complete === true,
    });
    if (outcome === 'timeout') throw new Error(`timed out waiting for ${bytes} bytes of a response`);
  }

  destroy() {
    this.socket.destroy();
  }
}

// ---- the workload ------------------------------------------------------------

const stats = {
  ok: 0,
  failures: 0,
  firstFailure: '',
  aborts: { head: 0, body: 0, response: 0 },
  kinds: { get: 0, post: 0, split: 0, lines: 0, pipelined: 0, stream: 0, error: 0, close: 0 },
};
let started = 0;
let done = 0;
const sampleEvery = Math.max(100, Math.floor(total / 100));
let nextSample = sampleEvery;
const samples = [];

function fail(message) {
  stats.failures++;
  if (!stats.firstFailure) stats.firstFailure = message;
}

function check(res, status, length, what) {
  if (res.status !== status || (length >= 0 && res.body.length !== length)) {
    fail(`${what}: status ${res.status} length ${res.body.length}, expected ${status} / ${length}`);
    return false;
  }
  return true;
}

const get = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: soak\r\n${extra}\r\n`;

// A chunked upload cut inside its method and inside trailing OWS, with
// chunk extensions: 5 bytes echoed.
const SPLIT = [
  'PO',
  'ST /echo HTTP/1.1\r\nHost: soak \t',
  ' \r\nX-Trail: v  ',
  '\t\r\nTransfer-Encoding: chunked\r\n\r\n5;a="x\\"y";b\r\nhel',
  'lo\r\n0;last\r\n\r\n',
];

async function abortOne() {
  const conn = await Conn.open();
  const which = random();
  if (which < 1 / 3) {
    stats.aborts.head++;
    conn.socket.write('GET /aborted HTTP/1.1\r\nHost: soak\r\nX-Partial: ' + 'y'.repeat(Math.floor(random() * 500)));
    await new Promise((r) => setImmediate(r));
  } else if (which < 2 / 3) {
    stats.aborts.body++;
    const path = random() < 0.5 ? '/echo' : '/count';
    conn.socket.write(`POST ${path} HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n`);
    conn.socket.write(Buffer.alloc(1 + Math.floor(random() * 60_000), 0x62));
    await new Promise((r) => setImmediate(r));
  } else {
    stats.aborts.response++;
    await conn.partial(get(random() < 0.5 ? '/stream' : '/lines?n=100000'), 1 + Math.floor(random() * 100_000));
  }
  // A reset, not a FIN: the kernel discards what is unread.
  conn.socket.resetAndDestroy();
}

// A pipelined batch is four requests, so an iteration averages 1.48 of
// them: abort iterations at the rate that makes `abortRate` of requests.
const kPerIteration = 1 + 0.16 * 3;
const abortChance = (abortRate * kPerIteration) / (1 + abortRate * (kPerIteration - 1));

async function worker() {
  let conn = await Conn.open();
  while (started < total) {
    const r = random();
    try {
      if (conn.closed) conn = await Conn.open();
      if (r < abortChance) {
        started++;
        await abortOne();
        done++;
      } else {
        const pick = random();
        if (pick < 0.45) {
          started++;
          const [res] = await conn.exchange(get('/'), 1);
          if (check(res, 200, 2, 'GET /')) stats.ok++;
          stats.kinds.get++;
          done++;
        } else if (pick < 0.49) {
          started++;
          const [res] = await conn.exchangeSplit(SPLIT, 1);
          if (check(res, 200, 5, 'split chunked POST /echo')) stats.ok++;
          stats.kinds.split++;
          done++;
        } else if (pick < 0.62) {
          started++;
          const size = Math.floor(random() * 48 * 1024);
          const body = Buffer.alloc(size, 0x61 + (size % 26));
          const head = `POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: ${size}\r\n\r\n`;
          const [res] = await conn.exchange(Buffer.concat([Buffer.from(head), body]), 1);
          if (check(res, 200, size, 'POST /echo')) stats.ok++;
          stats.kinds.post++;
          done++;
        } else if (pick < 0.72) {
          started++;
          const [res] = await conn.exchange(get('/lines?n=20'), 1);
          const want = Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join('').length;
          if (check(res, 200, want, 'GET /lines')) stats.ok++;
          stats.kinds.lines++;
          done++;
        } else if (pick < 0.88) {
          const n = Math.min(4, total - started);
          started += n;
          const batch = Array.from({ length: n }, (_, i) => get(`/p${i}`)).join('');
          const all = await conn.exchange(batch, n);
          for (const res of all) if (check(res, 200, 2, 'pipelined GET')) stats.ok++;
          stats.kinds.pipelined += n;
          done += n;
        } else if (pick < 0.93) {
          started++;
          const [res] = await conn.exchange(get('/stream?chunks=4'), 1);
          if (check(res, 200, 4 * 64 * 1024, 'GET /stream')) stats.ok++;
          stats.kinds.stream++;
          done++;
        } else if (pick < 0.97) {
          started++;
          const [res] = await conn.exchange(get('/throw'), 1);
          if (check(res, 500, -1, 'GET /throw')) stats.ok++;
          stats.kinds.error++;
          done++;
        } else {
          started++;
          const [res] = await conn.exchange(get('/', 'Connection: close\r\n'), 1);
          if (check(res, 200, 2, 'GET / (close)')) stats.ok++;
          stats.kinds.close++;
          done++;
          conn.destroy();
          conn = await Conn.open();
        }
      }
    } catch (err) {
      fail(String(err?.message ?? err));
      done++;
      conn.destroy();
      if (crashed) return;
      conn = await Conn.open().catch(() => conn);
    }
    if (done >= nextSample) {
      nextSample += sampleEvery;
      samples.push({ at: done, rss: rssKiB() });
    }
  }
  conn.destroy();
}

async function waitFds(limit, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let n = fdCount();
  while (n > limit && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    n = fdCount();
  }
  return n;
}

// Warm-up: lazily made descriptors (thread pool, timers) and JIT, then
// every client connection closed before the first count.
const warmupTotal = Math.min(2_000, Math.floor(total / 10));
{
  const saved = { started, done };
  const warm = [];
  const target = warmupTotal;
  for (let i = 0; i < 4; i++) {
    warm.push(
      (async () => {
        const conn = await Conn.open();
        while (started < target) {
          started++;
          await conn.exchange(get('/'), 1);
          await conn.exchange(get('/lines?n=3'), 1);
          await conn.exchange(Buffer.from('POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 3\r\n\r\nabc'), 1);
        }
        conn.destroy();
      })(),
    );
  }
  await Promise.all(warm);
  started = saved.started;
  done = saved.done;
}
await new Promise((r) => setTimeout(r, 300));
const fdsBefore = await waitFds(0, 0);

const t0 = Date.now();
let lastReport = t0;
const progress = setInterval(() => {
  const now = Date.now();
  if (now - lastReport >= 10_000) {
    lastReport = now;
    const rate = Math.round(done / ((now - t0) / 1000));
    process.stderr.write(`soak: ${done}/${total} requests, ${rate}/s, RSS ${rssKiB()} KiB, failures ${stats.failures}\n`);
  }
}, 1000);
await Promise.all(Array.from({ length: concurrency }, () => worker()));
clearInterval(progress);
const seconds = (Date.now() - t0) / 1000;

// Lingering closes end within kLingerMs (2 s) of the last response.
const fdsAfter = crashed ? NaN : await waitFds(fdsBefore, 5_000);
const rssEnd = crashed ? NaN : rssKiB();

stopping = true;
const exit = await server.stop({ timeoutMs: args.valgrind ? 300_000 : 30_000 });

// ---- the report ----------------------------------------------------------------

const warm = samples.filter((s) => s.at > total / 10);
const rss = warm.length ? warm.map((s) => s.rss) : samples.map((s) => s.rss);
const first = rss[0] ?? rssEnd;
const last = rss[rss.length - 1] ?? rssEnd;
const max = Math.max(...rss, 0);
// The floor of the last quarter of the samples: a sample can land on a
// young generation or malloc arena at its peak, just before a scavenge
// gives it back; a leak raises the floor as well.
const tail = rss.slice(Math.floor((rss.length * 3) / 4));
const floor = tail.length ? Math.min(...tail) : last;
// Flat: that floor within 25 % (and at least 16 MiB) of the first sample.
const rssFlat = floor <= first + Math.max(16 * 1024, first / 4);
const aborts = stats.aborts.head + stats.aborts.body + stats.aborts.response;

let leak = null;
if (args.valgrind) {
  const log = existsSync(valgrindLog) ? readFileSync(valgrindLog, 'utf8') : '';
  leak = { definite: 0, indirect: 0, records: 0, summary: '' };
  // A loss record: "N bytes in M blocks are definitely lost in loss record
  // a of b", then its stack, up to the next blank "==PID== " line.
  const records = log.split(/\n==\d+== \n/);
  for (const record of records) {
    const m = /([\d,]+) (?:\([\d,]+ direct, [\d,]+ indirect\) )?bytes in [\d,]+ blocks are (definitely|indirectly) lost/.exec(record);
    if (!m) continue;
    if (!/tsgi\.node|native\/\w+\.cc/.test(record)) continue;
    leak.records++;
    const bytes = Number(m[1].replace(/,/g, ''));
    if (m[2] === 'definitely') leak.definite += bytes;
    else leak.indirect += bytes;
  }
  const summary = /LEAK SUMMARY:[\s\S]*?suppressed:[^\n]*/.exec(log);
  leak.summary = summary ? summary[0].replace(/==\d+== /g, '') : '(no leak summary: did the server exit cleanly?)';
  const errors = /ERROR SUMMARY: (\d+) errors/.exec(log);
  leak.errorSummary = errors ? Number(errors[1]) : NaN;
  // An access error is tsgi's when it happens in tsgi.node (its first
  // frame), not when tsgi.node is merely further down the stack: V8's
  // conservative stack scan reads uninitialised stack words during a GC
  // that a callback from tsgi happened to trigger.
  leak.invalidInTsgi = log
    .split(/\n==\d+== \n/)
    .filter((r) => /Invalid (read|write|free)|uninitialised|Conditional jump|Mismatched/.test(r))
    .filter((r) => /==\d+==\s+at 0x[0-9A-F]+: [^\n]*tsgi\.node/.test(r)).length;
}

const checks = {
  'no crash': !crashed && exit.code === 0,
  'every response as expected': stats.failures === 0,
  'no descriptor leak': fdsAfter <= fdsBefore,
  'resident memory flat after warm-up': args.valgrind || rssFlat,
};
if (leak) {
  checks['no bytes lost in tsgi (valgrind)'] = leak.definite === 0 && leak.indirect === 0;
  checks['no invalid access in tsgi (valgrind)'] = leak.invalidInTsgi === 0;
}

const lines = [
  `soak: ${kind} server${args.valgrind ? ' under valgrind memcheck' : ''}, seed ${args.seed}`,
  `  requests     ${done} in ${seconds.toFixed(1)} s (${Math.round(done / seconds)}/s), concurrency ${concurrency}`,
  `  completed    ${stats.ok} as expected, ${stats.failures} failures${stats.firstFailure ? ` (first: ${stats.firstFailure})` : ''}`,
  `  mix          ${Object.entries(stats.kinds).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  `  aborts       ${aborts} (${(aborts / done * 100).toFixed(2)} %): mid-head ${stats.aborts.head}, mid-body ${stats.aborts.body}, mid-response ${stats.aborts.response}`,
  `  descriptors  ${fdsBefore} before, ${fdsAfter} after`,
  `  VmRSS (KiB)  after warm-up: first ${first}, last ${last}, max ${max}, floor of the last quarter ${floor}; at the end ${rssEnd}`,
  `  server exit  ${exit.code ?? exit.signal}${crashed ? ' (CRASHED during the run)' : ''}`,
];
if (leak) {
  lines.push(
    `  valgrind     tsgi.node: definitely lost ${leak.definite} B, indirectly lost ${leak.indirect} B in ${leak.records} record(s); invalid accesses in tsgi.node: ${leak.invalidInTsgi}; all errors (node included): ${leak.errorSummary}`,
    `  whole process ${leak.summary.trim().split('\n').map((l) => l.trim()).join('; ')}`,
  );
}
for (const [name, ok] of Object.entries(checks)) lines.push(`  ${ok ? 'held  ' : 'BROKEN'}  ${name}`);
process.stdout.write(lines.join('\n') + '\n');
if (crashed || exit.code !== 0) process.stdout.write(`server stderr:\n${server.stderr().slice(-4000)}\n`);
if (args.valgrind && !Object.values(checks).every(Boolean)) {
  process.stdout.write(`valgrind log kept: ${valgrindLog}\n`);
} else {
  rmSync(workDir, { recursive: true, force: true });
}
process.exit(Object.values(checks).every(Boolean) ? 0 : 1);
