#!/usr/bin/env node
// check-package.mjs: packs tsgi and installs the tarball the way a user
// would, on a machine that cannot compile: fresh projects whose PATH holds
// only node, npm, npx and sh (no compiler, no make, no python) and whose
// LLHTTP_DIR points nowhere. For each install it checks: exit 0, no
// install-scripts warning from npm, nothing compiled (node_modules/tsgi/build
// absent), the prebuilt binary is the one loaded, and `npx tsgi serve`
// serves the hello example natively and answers a request. Runtimes:
//
//   x64      this machine's Node: `npm install`, `--ignore-scripts` and
//            `--strict-allow-scripts` (npm 11: an unreviewed dependency
//            install script fails the install), then the negative paths
//            (no prebuild for the platform) and `npx tsgi build` with the
//            toolchain back on PATH;
//   arm64    the official Node 20 for linux-arm64 under qemu-user;
//   newest   the newest official Node major for linux-x64.
//
//   node scripts/check-package.mjs [--only x64,arm64,newest] [--keep]
//
// The official Nodes come from the npm registry (scripts/official-node.mjs).
// Runs in a temporary directory, removed at the end unless --keep. Every
// step has a time limit; the script prints how long each took.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync, realpathSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BINARY_NAME, TARGETS } from './prebuild.mjs';
import { OFFICIAL_NODE, officialNode, registryLatest } from './official-node.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const keep = argv.includes('--keep');
const onlyArg = argv[argv.indexOf('--only') + 1];
const only = argv.includes('--only') && onlyArg ? new Set(onlyArg.split(',')) : null;
const work = mkdtempSync(join(tmpdir(), 'tsgi-check-package-'));
const started = Date.now();
let failures = 0;

const say = (line) => process.stdout.write(`check-package: ${line}\n`);
const elapsed = (t) => `${((Date.now() - t) / 1000).toFixed(1)} s`;

function check(ok, what, detail = '') {
  if (ok) {
    say(`ok   ${what}`);
  } else {
    failures++;
    process.stderr.write(`check-package: FAIL ${what}${detail ? `\n${detail.trimEnd().replace(/^/gm, '    ')}` : ''}\n`);
  }
  return ok;
}

/** Runs a command to completion within `seconds`; never throws. */
function run(command, args, { cwd, env, seconds = 120 }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (s) => ((stdout += s), (output += s)));
    child.stderr.setEncoding('utf8').on('data', (s) => (output += s));
    const timer = setTimeout(() => {
      output += `\n[killed after ${seconds} s]`;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, seconds * 1000);
    child.on('error', (err) => ((output += String(err)), resolve({ code: 127, output, stdout })));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), output, stdout });
    });
  });
}

function get(port) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, agent: false, timeout: 20_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** `npx tsgi serve hello.mjs`: waits for the listening line, sends one
 * request, stops it with SIGTERM. Returns what it saw. */
function serve(project, env, extra = [], seconds = 120) {
  return new Promise((resolve) => {
    const child = spawn('npx', ['tsgi', 'serve', 'hello.mjs', '--bind', '127.0.0.1:0', ...extra], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let result = null;
    const kill = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } };
    const timer = setTimeout(() => { stderr += `\n[killed after ${seconds} s]`; kill(); }, seconds * 1000);
    child.stderr.setEncoding('utf8').on('data', (s) => (stderr += s));
    child.stdout.setEncoding('utf8').on('data', async (s) => {
      stdout += s;
      const m = /^listening on http:\/\/127\.0\.0\.1:(\d+) \((\w+)\)\n/.exec(stdout);
      if (!m || result) return;
      result = { kind: m[2] };
      try {
        result.response = await get(Number(m[1]));
      } catch (err) {
        result.error = String(err);
      }
      // As Ctrl-C would: the signal goes to the whole process group (npx,
      // sh, tsgi); it must end within 15 s.
      result.stopping = Date.now();
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      setTimeout(() => { stderr += '\n[still running 15 s after SIGTERM]'; kill(); }, 15_000).unref();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      kill();
      resolve({ ...(result ?? {}), code, signal, stdout, stderr });
    });
  });
}

/** npx ends by the signal it forwarded (or 0); tsgi closed its stdout. */
function stoppedCleanly(s) {
  return (s.code === 0 || s.signal === 'SIGTERM') && !s.stderr.includes('[still running');
}

/** A directory of links to only what an install needs: no compiler, no
 * make, no python. `node` may be a wrapper (qemu). */
function restrictedPath(name, nodeCommand) {
  const bin = join(work, `${name}-bin`);
  mkdirSync(bin, { recursive: true });
  if (nodeCommand.wrapper) {
    writeFileSync(join(bin, 'node'), `#!/bin/sh\nexec ${nodeCommand.wrapper} "$@"\n`);
    chmodSync(join(bin, 'node'), 0o755);
  } else {
    symlinkSync(nodeCommand.path, join(bin, 'node'));
  }
  const npmCli = realpathSync(which('npm'));
  symlinkSync(npmCli, join(bin, 'npm'));
  symlinkSync(join(dirname(npmCli), 'npx-cli.js'), join(bin, 'npx'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  return bin;
}

function which(name, path = process.env.PATH ?? '') {
  for (const dir of path.split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** The environment of a user's shell on the restricted PATH. */
function userEnv(bin) {
  const env = { ...process.env, PATH: bin, LLHTTP_DIR: join(work, 'no-llhttp-here') };
  for (const name of ['CC', 'CXX', 'LINK', 'PYTHON', 'npm_config_nodedir', 'PREBUILDS_ONLY', 'LIBC', 'npm_config_arch', 'npm_config_platform', 'TSGI_PREBUILD']) delete env[name];
  for (const name of Object.keys(env)) if (/^npm_(lifecycle|package|config_(node_gyp|prefix|local_prefix|global_prefix))/.test(name)) delete env[name];
  Object.assign(env, { npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' });
  return env;
}

function newProject(name) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: `check-${name}`, version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
  copyFileSync(join(root, 'examples', 'hello.mjs'), join(dir, 'hello.mjs'));
  return dir;
}

async function pack() {
  const t = Date.now();
  const r = await run('npm', ['pack', '--pack-destination', work], { cwd: root, env: process.env, seconds: 420 });
  const tarball = readdirSync(work).find((f) => /^tsgi-.*\.tgz$/.test(f));
  if (!check(r.code === 0 && tarball, `npm pack (prepack builds and checks both prebuilds) in ${elapsed(t)}`, r.output)) return null;
  const path = join(work, tarball);
  const list = spawnSync('tar', ['-tvzf', path], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  const entries = list.map((line) => {
    const f = line.trim().split(/\s+/);
    return { size: Number(f[2]), path: f.slice(5).join(' ').replace(/^package\//, '') };
  });
  for (const target of TARGETS) {
    const entry = entries.find((e) => e.path === `prebuilds/${target.name}/${BINARY_NAME}`);
    check(entry, `tarball holds prebuilds/${target.name}/${BINARY_NAME}${entry ? ` (${entry.size} bytes)` : ''}`);
  }
  const unpacked = entries.reduce((n, e) => n + e.size, 0);
  say(`tarball ${tarball}: ${statSync(path).size} bytes, ${entries.length} files, ${unpacked} bytes unpacked`);
  return path;
}

/** One fresh install of the tarball plus a native request. */
async function installAndServe({ name, arch, bin, node = process.version, flags = [], seconds = 180 }) {
  const t = Date.now();
  const project = newProject(name);
  const env = userEnv(bin);
  const install = await run('npm', ['install', ...flags, tarballPath], { cwd: project, env, seconds });
  const label = `${name}: npm install ${[...flags, 'tsgi.tgz'].join(' ')}`;
  check(install.code === 0, `${label} exits 0 (${elapsed(t)})`, install.output);
  check(!/install[- ]scripts?/i.test(install.output), `${name}: npm prints no install-scripts warning`, install.output);
  const pkg = join(project, 'node_modules', 'tsgi');
  check(!existsSync(join(pkg, 'build')), `${name}: nothing compiled (node_modules/tsgi/build absent)`);

  const version = await run('npx', ['tsgi', '--version'], { cwd: project, env, seconds: 60 });
  const binary = join(pkg, 'prebuilds', `linux-${arch}`, BINARY_NAME);
  check(
    version.code === 0 && version.stdout.includes(`(Node.js ${node} provides `) && version.stdout.includes(`\nbinary ${binary} (prebuilt)\n`),
    `${name}: tsgi --version runs on Node.js ${node} and names the prebuilt binary`,
    version.output,
  );

  const s = await serve(project, env);
  check(
    s.kind === 'native' && s.response?.status === 200 && s.response.body === 'Hello, World!\n' && stoppedCleanly(s),
    `${name}: npx tsgi serve listens (${s.kind ?? 'no listening line'}), answers ${s.response ? `${s.response.status} ${JSON.stringify(s.response.body)}` : s.error ?? 'nothing'}, stops on SIGTERM`,
    s.stderr,
  );
  say(`${name}: done in ${elapsed(t)}`);
  return { project, env };
}

/** Negative paths in an installed project: no prebuild for the platform. */
async function negative({ project, env }) {
  const none = { ...env, PREBUILDS_ONLY: '1', LIBC: 'musl' };
  const tuple = `linux-${process.arch}-musl`;
  const s = await serve(project, none);
  const warnings = s.stderr.split('\n').filter((l) => l.includes('[TSGI_NO_NATIVE]'));
  check(
    s.kind === 'node' && s.response?.body === 'Hello, World!\n' && warnings.length === 1 && warnings[0].includes(`not available on ${tuple}`) && warnings[0].includes('linux-arm64-glibc, linux-x64-glibc'),
    `no prebuild (LIBC=musl): one TSGI_NO_NATIVE warning naming ${tuple} and the shipped targets, then the node server`,
    s.stderr,
  );
  const native = await run('npx', ['tsgi', 'serve', 'hello.mjs', '--bind', '127.0.0.1:0', '--server', 'native'], { cwd: project, env: none, seconds: 60 });
  check(
    native.code === 1 && native.output.includes(`tsgi: the native server is not available on ${tuple}`) && native.output.includes('then run npx tsgi build'),
    'no prebuild: --server native exits 1 with the reason and the build steps',
    native.output,
  );
  const doctor = await run('npx', ['tsgi', 'doctor'], { cwd: project, env: none, seconds: 60 });
  check(doctor.code === 1 && /native server: +not available/.test(doctor.output), 'no prebuild: tsgi doctor exits 1', doctor.output);
}

/** `npx tsgi build` in an installed project, with the toolchain on PATH. */
async function buildFromSource({ project, env }) {
  const t = Date.now();
  const full = { ...env, PATH: `${env.PATH}${delimiter}${process.env.PATH}` };
  delete full.LLHTTP_DIR;
  const build = await run('npx', ['tsgi', 'build'], { cwd: project, env: full, seconds: 300 });
  check(build.code === 0 && /tsgi build: llhttp: .*\d+\.\d+\.\d+/.test(build.output), `npx tsgi build compiles from source and names its llhttp (${elapsed(t)})`, build.output);
  const built = join(project, 'node_modules', 'tsgi', 'build', 'Release', 'tsgi.node');
  const version = await run('npx', ['tsgi', '--version'], { cwd: project, env: full, seconds: 60 });
  check(version.stdout.includes(`\nbinary ${built} (source build)\n`), 'after tsgi build, the source build is the one loaded', version.output);
  const s = await serve(project, full);
  check(s.kind === 'native' && s.response?.body === 'Hello, World!\n', 'the source build serves natively', s.stderr);
}

const wanted = (name) => !only || only.has(name);
let tarballPath;

try {
  say(`working in ${work}`);
  tarballPath = await pack();
  if (tarballPath) {
    if (wanted('x64')) {
      const bin = restrictedPath('x64', { path: process.execPath });
      const missing = ['cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'python3', 'python'].filter((tool) => which(tool, bin));
      check(missing.length === 0, 'the restricted PATH has no compiler, make or python', missing.join(' '));
      const first = await installAndServe({ name: 'x64', arch: 'x64', bin });
      await installAndServe({ name: 'x64-ignore-scripts', arch: 'x64', bin, flags: ['--ignore-scripts'] });
      const strict = await installAndServe({ name: 'x64-strict-allow-scripts', arch: 'x64', bin, flags: ['--strict-allow-scripts'] });
      await negative(first);
      await buildFromSource(strict);
    }
    if (wanted('arm64')) {
      const t = Date.now();
      const node = officialNode('arm64-20');
      const qemu = which('qemu-aarch64-static') ?? which('qemu-aarch64');
      const sysroot = '/usr/aarch64-linux-gnu';
      if (check(qemu && existsSync(join(sysroot, 'lib', 'ld-linux-aarch64.so.1')), `qemu-user and the arm64 sysroot are installed (node ${OFFICIAL_NODE['arm64-20'].version} fetched in ${elapsed(t)})`)) {
        const bin = restrictedPath('arm64', { wrapper: `${qemu} -L ${sysroot} ${node}` });
        const arch = await run(join(bin, 'node'), ['-p', 'process.arch + " " + process.version'], { env: userEnv(bin), seconds: 60 });
        check(arch.stdout.trim() === `arm64 v${OFFICIAL_NODE['arm64-20'].version}`, `the arm64 node runs under qemu (${arch.stdout.trim()})`, arch.output);
        await installAndServe({ name: 'arm64', arch: 'arm64', bin, node: `v${OFFICIAL_NODE['arm64-20'].version}`, seconds: 600 });
      }
    }
    if (wanted('newest')) {
      const spec = OFFICIAL_NODE['x64-newest'];
      const latest = registryLatest(spec.pkg);
      if (latest && Number(latest.split('.')[0]) > Number(spec.version.split('.')[0])) {
        say(`note: ${spec.pkg}@${latest} is a newer major than the pinned ${spec.version}: update scripts/official-node.mjs`);
      }
      const bin = restrictedPath('newest', { path: officialNode('x64-newest') });
      await installAndServe({ name: `node-${spec.version}`, arch: 'x64', bin, node: `v${spec.version}` });
    }
  }
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true });
}
say(`${failures === 0 ? 'all checks passed' : `${failures} check(s) failed`} in ${elapsed(started)}`);
process.exit(failures === 0 ? 0 : 1);
