#!/usr/bin/env node
// test-asan.mjs: builds the addon with clang's AddressSanitizer and
// UndefinedBehaviorSanitizer, runs the whole test suite on it (node is not
// instrumented, so the sanitizer runtime is preloaded), fails if any
// sanitizer report mentions tsgi's code, and restores the normal build.
//
//   npm run test:asan [-- vitest arguments, e.g. a file filter]
//
// Needs clang and its runtime (Debian: clang-14 libclang-rt-14-dev). The
// normal build/ is moved aside while the sanitized one is built and put
// back at the end, also when the run fails; without one to put back, the
// normal addon is rebuilt.
//
// V8 and Node allocate for the life of the process without freeing, so
// leak detection is off (detect_leaks=0): the valgrind soak
// (`npm run soak:valgrind`) is where leaks are counted.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const build = join(root, 'build');
const saved = join(root, 'build.normal');
const logs = mkdtempSync(join(tmpdir(), 'tsgi-asan-'));
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

function run(command, args, env = process.env) {
  process.stderr.write(`test-asan: ${command} ${args.join(' ')}\n`);
  const r = spawnSync(command, args, { cwd: root, env, stdio: 'inherit' });
  return r.status ?? 1;
}

function output(command, args) {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

const cc = process.env.CC ?? 'clang';
const cxx = process.env.CXX ?? 'clang++';
const runtime = output(cxx, ['-print-file-name=libclang_rt.asan-x86_64.so']);
if (!runtime || !existsSync(runtime)) {
  process.stderr.write(
    `test-asan: ${cxx} has no shared ASan runtime (libclang_rt.asan-x86_64.so); on Debian: apt-get install -y clang libclang-rt-14-dev\n`,
  );
  process.exit(2);
}

const sanitize = '-fsanitize=address,undefined -fno-omit-frame-pointer -shared-libasan -g';
const buildEnv = {
  ...process.env,
  CC: cc,
  CXX: cxx,
  CFLAGS: sanitize,
  CXXFLAGS: sanitize,
  LDFLAGS: '-fsanitize=address,undefined -shared-libasan',
};
const testEnv = {
  ...process.env,
  LD_PRELOAD: runtime,
  // Node and V8 are not instrumented; only their leaks would show here.
  ASAN_OPTIONS: `detect_leaks=0:abort_on_error=0:halt_on_error=1:log_path=${join(logs, 'asan')}`,
  UBSAN_OPTIONS: `halt_on_error=1:print_stacktrace=1:log_path=${join(logs, 'ubsan')}`,
  TSGI_SANITIZED: '1',
};

let status = 1;
let moved = false;
try {
  if (existsSync(saved)) rmSync(saved, { recursive: true, force: true });
  if (existsSync(build)) {
    renameSync(build, saved);
    moved = true;
  }
  if (run(npx, ['node-gyp', 'rebuild'], buildEnv) !== 0) throw new Error('the sanitized build failed');
  const addon = join(build, 'Release', 'tsgi.node');
  if (!/__asan_/.test(output('nm', ['-D', addon])) || !/__ubsan_/.test(output('nm', ['-D', addon]))) {
    throw new Error(`${addon} is not instrumented (no __asan_/__ubsan_ symbols)`);
  }
  if (run(npx, ['tsc', '-p', 'tsconfig.json']) !== 0) throw new Error('tsc failed');
  const tests = run(npx, ['vitest', 'run', ...process.argv.slice(2)], testEnv);

  // Every report the runtimes wrote, one file per process.
  const reports = readdirSync(logs).map((name) => ({ name, text: readFileSync(join(logs, name), 'utf8') }));
  const ours = reports.filter((r) => /tsgi\.node|native\/\w+\.(cc|h)\b/.test(r.text));
  for (const r of reports) {
    process.stdout.write(`\n---- ${r.name}${ours.includes(r) ? ' (mentions tsgi)' : ''} ----\n${r.text.slice(0, 6000)}\n`);
  }
  process.stdout.write(
    `\ntest-asan: vitest exit ${tests}; ${reports.length} sanitizer report file(s), ${ours.length} mentioning tsgi\n`,
  );
  status = tests === 0 && ours.length === 0 ? 0 : 1;
} catch (err) {
  process.stderr.write(`test-asan: ${err.message}\n`);
  status = 1;
} finally {
  rmSync(build, { recursive: true, force: true });
  if (moved) {
    renameSync(saved, build);
    process.stderr.write('test-asan: the normal build is back in build/\n');
  } else if (run(npx, ['node-gyp', 'rebuild']) !== 0) {
    process.stderr.write('test-asan: rebuilding the normal addon failed\n');
    status = 1;
  }
  if (status === 0) rmSync(logs, { recursive: true, force: true });
  else process.stderr.write(`test-asan: sanitizer logs kept in ${logs}\n`);
}
process.exit(status);
