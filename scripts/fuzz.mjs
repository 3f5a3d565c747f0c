#!/usr/bin/env node
// fuzz.mjs: builds the libFuzzer harness of the native parsing layer
// (fuzz/parser_fuzzer.cc + native/parser.cc + native/strict.cc + the
// system llhttp, no Node-API) with clang and -fsanitize=fuzzer,address,
// undefined, then runs it on the seed corpus in fuzz/corpus.
//
//   npm run fuzz -- --time 60            run for 60 s (CI)
//   node scripts/fuzz.mjs --time 1800 --jobs 2
//   node scripts/fuzz.mjs --build-only
//   node scripts/fuzz.mjs --run <file>   replay one input (a crash)
//
// New inputs go to build/fuzz/corpus (seeds are never modified), crashes
// to build/fuzz/artifacts. Exits non-zero when the fuzzer finds a crash or
// a broken invariant.
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
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
  .option('--build-only', 'build the harness and stop')
  .option('--run <file>', 'replay one input instead of fuzzing')
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

function build() {
  mkdirSync(join(OUT, 'obj'), { recursive: true });
  const sanitize = '-fsanitize=address,undefined';
  const common = ['-g', '-O1', '-fno-omit-frame-pointer', sanitize, '-fno-sanitize-recover=undefined'];
  const include = llhttp('include');
  const objects = [];
  // llhttp is instrumented for coverage too: its states are what we explore.
  for (const src of llhttp('sources')) {
    const obj = join(OUT, 'obj', `llhttp-${src.split('/').pop().replace(/\.c$/, '.o')}`);
    run(opts.cc, [...common, '-fsanitize=fuzzer-no-link', '-w', ...include.map((d) => `-I${d}`), '-c', src, '-o', obj]);
    objects.push(obj);
  }
  const binary = join(OUT, 'parser_fuzzer');
  run(opts.cxx, [
    ...common,
    '-fsanitize=fuzzer',
    '-std=c++17',
    '-Wall',
    '-Wextra',
    '-fno-exceptions',
    '-I' + join(ROOT, 'native'),
    ...include.map((d) => `-I${d}`),
    join(ROOT, 'fuzz', 'parser_fuzzer.cc'),
    join(ROOT, 'native', 'parser.cc'),
    join(ROOT, 'native', 'strict.cc'),
    ...objects,
    ...llhttp('libraries'),
    '-o',
    binary,
  ]);
  return binary;
}

const binary = build();
console.log(`fuzz: built ${relative(ROOT, binary)}`);
if (opts.buildOnly) process.exit(0);

const dict = join(ROOT, 'fuzz', 'http.dict');
if (opts.run) {
  const r = spawnSync(binary, [`-dict=${dict}`, resolve(opts.run)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const corpus = join(OUT, 'corpus');
const artifacts = join(OUT, 'artifacts');
mkdirSync(corpus, { recursive: true });
mkdirSync(artifacts, { recursive: true });
const seeds = join(ROOT, 'fuzz', 'corpus');
if (!existsSync(seeds) || readdirSync(seeds).length === 0) {
  console.error('fuzz: the seed corpus fuzz/corpus is missing');
  process.exit(2);
}
const args = [
  `-max_total_time=${opts.time}`,
  `-dict=${dict}`,
  `-artifact_prefix=${artifacts}/`,
  '-print_final_stats=1',
  '-max_len=4096',
  '-timeout=10',
  '-rss_limit_mb=2048',
];
if (opts.jobs > 1) args.push(`-jobs=${opts.jobs}`, `-workers=${opts.jobs}`);
args.push(corpus, seeds);
console.log(`fuzz: ${relative(ROOT, binary)} ${args.map((a) => a.replace(ROOT + '/', '')).join(' ')}`);
const child = spawn(binary, args, { cwd: OUT, stdio: 'inherit' });
const stop = () => child.kill('SIGINT');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
child.on('exit', (code, signal) => {
  if (code === 0) console.log('fuzz: no crash, no broken invariant');
  else console.error(`fuzz: the fuzzer stopped with ${signal ?? `exit ${code}`}; see build/fuzz/artifacts`);
  process.exit(code ?? 1);
});
