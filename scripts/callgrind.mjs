#!/usr/bin/env node
// callgrind.mjs: instructions per request of `tsgi serve`, counted by
// valgrind's callgrind (immune to the noise of a shared machine). Runs the
// server under callgrind twice, with a small and a large number of
// requests on one keep-alive connection from a client in another process,
// and reports (I(large) - I(small)) / (large - small): start-up, JIT
// warm-up and shutdown cancel out.
//
//   node scripts/callgrind.mjs                       hello, native, defaults
//   node scripts/callgrind.mjs -- --access-log /tmp/a.log
//   node scripts/callgrind.mjs --requests 2000,12000 --path / -- --stats-bind 127.0.0.1:0
//   node scripts/callgrind.mjs --tsgi ../other-checkout   another build, same load
//
// Prints one line: `<Ir per request> instructions/request (<flags>)`.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const program = new Command()
  .name('callgrind')
  .option('--requests <small,large>', 'the two request counts', '2000,12000')
  .option('--path <path>', 'the path requested', '/')
  .option('--depth <n>', 'requests sent at a time (pipelining)', '1')
  .option('--app <file>', 'the application (relative to --tsgi)', 'bench/apps/tsgi-app.mjs')
  .option('--tsgi <dir>', 'the checkout whose bin/tsgi.js runs (built)', ROOT)
  .option('--keep <dir>', 'keep the two callgrind outputs there (for callgrind_annotate)')
  .allowExcessArguments()
  .parse();
const opts = program.opts();
const flags = program.args;
const [small, large] = opts.requests.split(',').map(Number);
const depth = Number(opts.depth);

/** Sends `n` GETs on one connection, `depth` at a time; resolves when
 * every response has been read. */
function load(port, n) {
  const one = `GET ${opts.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let sent = 0;
    let done = 0;
    let inBatch = 0;
    let buf = '';
    const send = () => {
      const k = Math.min(depth, n - sent);
      sent += k;
      inBatch = k;
      socket.write(one.repeat(k));
    };
    socket.setEncoding('latin1');
    socket.on('connect', send);
    socket.on('error', reject);
    socket.on('data', (d) => {
      buf += d;
      // Each response of the benchmark app has a Content-Length.
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const m = /content-length: (\d+)/i.exec(buf.slice(0, end));
        const total = end + 4 + (m ? Number(m[1]) : 0);
        if (buf.length < total) break;
        buf = buf.slice(total);
        done++;
        inBatch--;
      }
      if (done === n) {
        socket.end();
        resolve();
      } else if (inBatch === 0) send();
    });
  });
}

/** Total instructions of one run of the server under callgrind. */
async function run(n) {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-callgrind-'));
  const out = join(dir, 'callgrind.out');
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', `--callgrind-out-file=${out}`, '--trace-children=no', process.execPath, join(resolve(opts.tsgi), 'bin/tsgi.js'), 'serve', opts.app, '--bind', '127.0.0.1:0', ...flags],
    { cwd: resolve(opts.tsgi), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s) => (stderr += s));
  const port = await new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (s) => {
      stdout += s;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`the server exited (${code}): ${stderr.slice(-2000)}`)));
  });
  await load(port, n);
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  const text = readFileSync(out, 'utf8');
  if (opts.keep) {
    mkdirSync(opts.keep, { recursive: true });
    copyFileSync(out, join(opts.keep, `callgrind.${n}.out`));
  }
  rmSync(dir, { recursive: true, force: true });
  const m = /^(?:summary|totals): (\d+)/m.exec(text);
  if (!m) throw new Error('no totals in the callgrind output');
  return Number(m[1]);
}

const a = await run(small);
const b = await run(large);
const per = (b - a) / (large - small);
console.log(`${Math.round(per)} instructions/request (${flags.join(' ') || 'defaults'}; ${opts.path}, depth ${depth}, ${small} vs ${large} requests)`);
