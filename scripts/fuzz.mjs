#!/usr/bin/env node
// fuzz.mjs: builds the libFuzzer harnesses of the native parsing layer
// with clang and -fsanitize=fuzzer,address,undefined (no Node-API), then
// runs each on its seed corpus, one after the other:
//   parser: fuzz/parser_fuzzer.cc + native/parser.cc + native/strict.cc +
//           native/head_check.cc + the system llhttp; seeds fuzz/corpus,
//           dictionary fuzz/http.dict
//   proxy:  fuzz/proxy_fuzzer.cc + native/proxy_protocol.cc (and the HTTP
//           parser after the header); seeds fuzz/proxy-corpus,
//           dictionary fuzz/proxy.dict
//
//   npm run fuzz -- --time 60            60 s for each harness (CI)
//   node scripts/fuzz.mjs --time 1800 --jobs 2 --target parser
//   node scripts/fuzz.mjs --build-only
//   node scripts/fuzz.mjs --target proxy --run <file>   replay one input
//   node scripts/fuzz.mjs --verbose      libFuzzer's progress on the terminal
//
// New inputs go to build/fuzz/<target>/corpus (seeds are never modified),
// crashes to build/fuzz/<target>/artifacts. libFuzzer's own output (one
// line per new input: thousands a minute) goes to build/fuzz/<target>/fuzz.log
// unless --verbose; this script prints its final statistics, and the log's
// end when the fuzzer fails. Exits non-zero when a fuzzer finds a crash or a
// broken invariant.
import { spawnSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'build', 'fuzz');

function positive(value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const program = new Command()
  .name('fuzz')
  .option('--time <seconds>', 'total fuzzing time', positive, 60)
  .option('--jobs <n>', 'parallel fuzzing processes', positive, 1)
  .option('--cc <clang>', 'C compiler', process.env.CC_FUZZ || 'clang')
  .option('--cxx <clang++>', 'C++ compiler', process.env.CXX_FUZZ || 'clang++')
  .option('--target <name>', 'parser, proxy or all', 'all')
  .option('--build-only', 'build the harnesses and stop')
  .option('--run <file>', 'replay one input instead of fuzzing (with --target)')
  .option('--verbose', "libFuzzer's progress on the terminal instead of build/fuzz/<target>/fuzz.log")
  .parse();
const opts = program.opts();

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error) {
    console.error(`fuzz: cannot run ${cmd}: ${r.error.message} (install clang, e.g. apt-get install -y clang)`);
    process.exit(2);
  }
  if (r.status !== 0) {
    console.error(`fuzz: ${cmd} failed (exit ${r.status})`);
    process.exit(2);
  }
}

function llhttp(what) {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'find-llhttp.cjs'), what], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    process.exit(2);
  }
  return r.stdout.split('\n').filter(Boolean).map((f) => (what === 'sources' ? resolve(ROOT, f) : f));
}

/** The harnesses: their sources besides llhttp, seeds and dictionary. */
const TARGETS = {
  parser: { sources: ['fuzz/parser_fuzzer.cc', 'native/parser.cc', 'native/strict.cc', 'native/head_check.cc'], seeds: 'fuzz/corpus', dict: 'fuzz/http.dict' },
  proxy: {
    sources: ['fuzz/proxy_fuzzer.cc', 'native/proxy_protocol.cc', 'native/parser.cc', 'native/strict.cc', 'native/head_check.cc'],
    seeds: 'fuzz/proxy-corpus',
    dict: 'fuzz/proxy.dict',
  },
};

let llhttpObjects = null;

function build(name) {
  mkdirSync(join(OUT, 'obj'), { recursive: true });
  const sanitize = '-fsanitize=address,undefined';
  const common = ['-g', '-O1', '-fno-omit-frame-pointer', sanitize, '-fno-sanitize-recover=undefined'];
  const include = llhttp('include');
  if (llhttpObjects === null) {
    llhttpObjects = [];
    // llhttp is instrumented for coverage too: its states are what we explore.
    for (const src of llhttp('sources')) {
      const obj = join(OUT, 'obj', `llhttp-${src.split('/').pop().replace(/\.c$/, '.o')}`);
      run(opts.cc, [...common, '-fsanitize=fuzzer-no-link', '-w', ...include.map((d) => `-I${d}`), '-c', src, '-o', obj]);
      llhttpObjects.push(obj);
    }
  }
  const binary = join(OUT, `${name}_fuzzer`);
  run(opts.cxx, [
    ...common,
    '-fsanitize=fuzzer',
    '-std=c++17',
    '-Wall',
    '-Wextra',
    '-fno-exceptions',
    '-I' + join(ROOT, 'native'),
    ...include.map((d) => `-I${d}`),
    ...TARGETS[name].sources.map((f) => join(ROOT, f)),
    ...llhttpObjects,
    ...llhttp('libraries'),
    '-o',
    binary,
  ]);
  return binary;
}

const names = opts.target === 'all' ? Object.keys(TARGETS) : [opts.target];
for (const name of names) {
  if (!(name in TARGETS)) {
    console.error(`fuzz: --target must be parser, proxy or all, got ${JSON.stringify(name)}`);
    process.exit(2);
  }
}
const binaries = Object.fromEntries(names.map((name) => [name, build(name)]));
for (const b of Object.values(binaries)) console.log(`fuzz: built ${relative(ROOT, b)}`);
if (opts.buildOnly) process.exit(0);

if (opts.run) {
  if (names.length !== 1) {
    console.error('fuzz: --run replays on one harness: add --target parser or --target proxy');
    process.exit(2);
  }
  const r = spawnSync(binaries[names[0]], [`-dict=${join(ROOT, TARGETS[names[0]].dict)}`, resolve(opts.run)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

/** Runs one harness for opts.time seconds; resolves with its exit code. */
function fuzz(name) {
  const t = TARGETS[name];
  const dir = join(OUT, name);
  const corpus = join(dir, 'corpus');
  const artifacts = join(dir, 'artifacts');
  mkdirSync(corpus, { recursive: true });
  mkdirSync(artifacts, { recursive: true });
  const seeds = join(ROOT, t.seeds);
  if (!existsSync(seeds) || readdirSync(seeds).length === 0) {
    console.error(`fuzz: the seed corpus ${t.seeds} is missing`);
    process.exit(2);
  }
  const args = [
    `-max_total_time=${opts.time}`,
    `-dict=${join(ROOT, t.dict)}`,
    `-artifact_prefix=${artifacts}/`,
    '-print_final_stats=1',
    '-max_len=4096',
    '-timeout=10',
    '-rss_limit_mb=2048',
  ];
  if (opts.jobs > 1) args.push(`-jobs=${opts.jobs}`, `-workers=${opts.jobs}`);
  args.push(corpus, seeds);
  console.log(`fuzz: ${relative(ROOT, binaries[name])} ${args.map((a) => a.replace(ROOT + '/', '')).join(' ')}`);
  const log = join(dir, 'fuzz.log');
  const out = opts.verbose ? 'inherit' : openSync(log, 'w');
  const child = spawn(binaries[name], args, { cwd: dir, stdio: ['ignore', out, out] });
  if (typeof out === 'number') closeSync(out);
  const stop = () => child.kill('SIGINT');
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (!opts.verbose) report(name, log, code !== 0);
      if (code === 0) console.log(`fuzz: ${name}: no crash, no broken invariant`);
      else console.error(`fuzz: ${name}: the fuzzer stopped with ${signal ?? `exit ${code}`}; see build/fuzz/${name}/artifacts`);
      resolve(code ?? 1);
    });
  });
}

/** Prints libFuzzer's final statistics from its log as one line; after a
 * failure, the log's last lines too (the crash or invariant report is
 * there). */
function report(name, log, failed) {
  const lines = readFileSync(log, 'latin1').split('\n');
  const stat = {};
  for (const line of lines) {
    const m = /^stat::(\w+):\s*(\d+)/.exec(line);
    if (m) stat[m[1]] = m[2];
  }
  if (stat.number_of_executed_units !== undefined) {
    console.log(
      `fuzz: ${name}: ${stat.number_of_executed_units} inputs executed ` +
        `(${stat.average_exec_per_sec}/s), ${stat.new_units_added} new in the corpus, ` +
        `slowest ${stat.slowest_unit_time_sec} s, peak RSS ${stat.peak_rss_mb} MB`,
    );
  }
  if (failed) {
    console.error(`fuzz: the last lines of ${relative(ROOT, log)}:`);
    for (const line of lines.slice(-80)) console.error(`  ${line}`);
  }
}

let failed = 0;
for (const name of names) if ((await fuzz(name)) !== 0) failed++;
process.exit(failed === 0 ? 0 : 1);
