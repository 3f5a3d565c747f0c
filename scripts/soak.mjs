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
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

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

function startServer() {
  const nodeArgs = [fixture, kind];
  const command = args.valgrind ? 'valgrind' : process.execPath;
  const argv = args.valgrind
    ? [
        '--tool=memcheck',
        '--leak-check=full',
        '--show-leak-kinds=definite,indirect',
        '--errors-for-leak-kinds=definite,indirect',
        '--num-callers=40',
        `--log-file=${valgrindLog}`,
        process.execPath,
        ...nodeArgs,
      ]
    : nodeArgs;
  const child = spawn(command, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s) => (stderr += s));
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const ready = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s) => {
      out += s;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    void exited.then((e) => reject(new Error(`server exited (${e.code ?? e.signal}) before listening: ${stderr}`)));
  });
  return { child, ready, exited, stderr: () => stderr };
}

const server = startServer();
const { port, pid } = await server.ready;
let crashed = false;
void server.exited.then(() => {
  if (!stopping) crashed = true;
});
let stopping = false;

const fdCount = () => readdirSync(`/proc/${pid}/fd`).length;
function rssKiB() {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

// ---- a minimal HTTP/1.1 response reader --------------------------------------

/** One keep-alive connection; `expect(n)` resolves with n parsed responses. */
class Conn {
  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.waiting = null;
    this.responses = [];
    this.cur = null;
    socket.on('data', (d) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse();
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
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

  parse() {
    for (;;) {
      if (!this.cur) {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = this.buf.subarray(0, end).toString('latin1');
        this.buf = this.buf.subarray(end + 4);
        const status = Number(head.slice(9, 12));
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        this.cur = {
          status,
          length: 0,
          close: /\r\nconnection: *close/i.test(head),
          remaining: cl ? Number(cl[1]) : -1,
          chunked: /\r\ntransfer-encoding: *chunked/i.test(head),
          chunkLeft: 0,
          body: [],
        };
        if (!cl && !this.cur.chunked) this.cur.remaining = 0;
      }
      const cur = this.cur;
      if (!cur.chunked) {
        const n = Math.min(cur.remaining, this.buf.length);
        if (n > 0) cur.body.push(this.buf.subarray(0, n));
        cur.length += n;
        cur.remaining -= n;
        this.buf = this.buf.subarray(n);
        if (cur.remaining > 0) return;
      } else {
        for (;;) {
          if (cur.chunkLeft > 0) {
            const n = Math.min(cur.chunkLeft, this.buf.length);
            if (n > 0) cur.body.push(this.buf.subarray(0, n));
            cur.length += n;
            cur.chunkLeft -= n;
            this.buf = this.buf.subarray(n);
            if (cur.chunkLeft > 0) return;
            cur.chunkLeft = -2; // the CRLF after the data
          }
          if (cur.chunkLeft === -2) {
            if (this.buf.length < 2) return;
            this.buf = this.buf.subarray(2);
            cur.chunkLeft = 0;
          }
          const nl = this.buf.indexOf('\r\n');
          if (nl < 0) return;
          const size = parseInt(this.buf.subarray(0, nl).toString('latin1'), 16);
          this.buf = this.buf.subarray(nl + 2);
          if (size === 0) {
            // No trailers from this server: the terminating CRLF follows.
            if (this.buf.length < 2) {
              this.buf = Buffer.concat([Buffer.from('0\r\n'), this.buf]);
              return;
            }
            this.buf = this.buf.subarray(2);
            break;
          }
          cur.chunkLeft = size;
        }
      }
      this.responses.push(cur);
      this.cur = null;
      this.wake();
    }
  }

  wake() {
    const w = this.waiting;
    if (w && (this.closed || this.responses.length >= w.n || (w.bytes && this.cur && this.cur.length >= w.bytes))) {
      this.waiting = null;
      w.resolve();
    }
  }

  /** Waits for n complete responses (or close, or `bytes` of body). */
  wait(n, bytes = 0, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} response(s)`)), timeoutMs);
      this.waiting = {
        n,
        bytes,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.wake();
    });
  }

  async exchange(data, n) {
    this.responses = [];
    this.socket.write(data);
    await this.wait(n);
    if (this.responses.length < n) throw new Error(`connection closed after ${this.responses.length} of ${n} responses`);
    return this.responses;
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
  if (res.status !== status || (length >= 0 && res.length !== length)) {
    fail(`${what}: status ${res.status} length ${res.length}, expected ${status} / ${length}`);
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
    conn.socket.write(get(random() < 0.5 ? '/stream' : '/lines?n=100000'));
    await conn.wait(1, 1 + Math.floor(random() * 100_000));
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
          conn.responses = [];
          for (const part of SPLIT) {
            conn.socket.write(part);
            await new Promise((r) => setImmediate(r));
          }
          await conn.wait(1);
          if (conn.responses.length < 1) throw new Error('connection closed before the split upload was answered');
          if (check(conn.responses[0], 200, 5, 'split chunked POST /echo')) stats.ok++;
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
server.child.kill('SIGTERM');
const exit = await Promise.race([
  server.exited,
  new Promise((r) => setTimeout(() => r({ code: null, signal: 'timeout' }), args.valgrind ? 300_000 : 30_000)),
]);
if (exit.signal === 'timeout') server.child.kill('SIGKILL');

// ---- the report ----------------------------------------------------------------

const warm = samples.filter((s) => s.at > total / 10);
const rss = warm.length ? warm.map((s) => s.rss) : samples.map((s) => s.rss);
const first = rss[0] ?? rssEnd;
const last = rss[rss.length - 1] ?? rssEnd;
const max = Math.max(...rss, 0);
// Flat: the last sample within 25 % (and at least 16 MiB) of the first.
const rssFlat = last <= first + Math.max(16 * 1024, first / 4);
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
  `  VmRSS (KiB)  after warm-up: first ${first}, last ${last}, max ${max}; at the end ${rssEnd}`,
  `  server exit  ${exit.code ?? exit.signal}${crashed ? ' (CRASHED during the run)' : ''}`,
];
if (leak) {
  lines.push(
    `  valgrind     tsgi.node: definitely lost ${leak.definite} B, indirectly lost ${leak.indirect} B in ${leak.records} record(s); invalid accesses in tsgi.node: ${leak.invalidInTsgi}; all errors (node included): ${leak.errorSummary}`,
    `  whole process ${leak.summary.trim().split('\n').map((l) => l.trim()).join('; ')}`,
  );
}
for (const [name, ok] of Object.entries(checks)) lines.push(`  ${ok ? 'PASS' : 'FAIL'}  ${name}`);
process.stdout.write(lines.join('\n') + '\n');
if (crashed || exit.code !== 0) process.stdout.write(`server stderr:\n${server.stderr().slice(-4000)}\n`);
if (args.valgrind && !Object.values(checks).every(Boolean)) {
  process.stdout.write(`valgrind log kept: ${valgrindLog}\n`);
} else {
  rmSync(workDir, { recursive: true, force: true });
}
process.exit(Object.values(checks).every(Boolean) ? 0 : 1);
