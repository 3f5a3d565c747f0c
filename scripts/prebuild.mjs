#!/usr/bin/env node
// prebuild.mjs: builds the binaries that ship inside the npm tarball,
// prebuilds/linux-x64/tsgi.glibc.node and prebuilds/linux-arm64/tsgi.glibc.node,
// with prebuildify (Node-API, stripped, tagged with the libc).
//
//   npm run build:prebuilds            both targets (CI does this before npm pack)
//   node scripts/prebuild.mjs linux-x64
//
// - Headers: the running Node's own (`<prefix>/include/node`, the
//   `npm_config_nodedir` node-gyp reads), which must be Node 20's: the oldest
//   Node this package supports, so the binary uses no Node-API function a
//   supported Node lacks. NAPI_VERSION (binding.gyp) is what bounds the API.
// - Nothing is downloaded: where the kernel lets us (root, `unshare --net`),
//   each build runs in a network namespace with no interface, so a header
//   download would fail the build instead of happening. `--require-offline`
//   (implied when CI=true) fails when that proof cannot be had.
// - linux-arm64 is cross-compiled with Debian's g++-aarch64-linux-gnu.
// - Each target builds in its own copy of the sources under build/prebuild/,
//   so the checkout's own build/Release (a source build, which the loader
//   prefers) is left as it was. The targets build one after the other:
//   gyp writes node-addon-api's makefile beside its .gyp file in the shared
//   node_modules, and two builds at once corrupt it ("missing separator").
//
// Musl (Alpine) is not built: Debian has no musl libstdc++ to link against.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The oldest Node major the package supports (package.json `engines`). */
export const NODE_MAJOR = 20;

/**
 * The shipped targets: folder under prebuilds/, the ELF machine readelf
 * reports for it, and the prefix of its GNU toolchain ('' for the host).
 * scripts/check-binaries.mjs and scripts/check-package.mjs read this table.
 */
export const TARGETS = [
  { name: 'linux-x64', arch: 'x64', machine: 'Advanced Micro Devices X86-64', tools: '' },
  { name: 'linux-arm64', arch: 'arm64', machine: 'AArch64', tools: 'aarch64-linux-gnu-' },
];

/** prebuildify's file name for a target (`--napi --tag-libc`, glibc). */
export const BINARY_NAME = 'tsgi.glibc.node';

/** The sources a build needs (the same list package.json ships). */
const kSources = ['binding.gyp', 'package.json', 'native', 'scripts/find-llhttp.cjs'];

function fail(message) {
  process.stderr.write(`prebuild: ${message}\n`);
  process.exit(1);
}

/** The Node headers to build against, and their version. */
function nodeHeaders() {
  const nodedir = process.env.npm_config_nodedir || dirname(dirname(process.execPath));
  const include = join(nodedir, 'include', 'node');
  const versionH = join(include, 'node_version.h');
  if (!existsSync(join(include, 'node_api.h')) || !existsSync(join(include, 'common.gypi')) || !existsSync(versionH)) {
    fail(`no Node headers in ${include} (node_api.h, common.gypi, node_version.h); set npm_config_nodedir to a Node ${NODE_MAJOR} install prefix`);
  }
  const text = readFileSync(versionH, 'utf8');
  const part = (name) => text.match(new RegExp(`^#define NODE_${name}_VERSION (\\d+)$`, 'm'))?.[1];
  const version = `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
  if (Number(part('MAJOR')) !== NODE_MAJOR) {
    fail(`the headers in ${include} are Node ${version}; the prebuilds are built against Node ${NODE_MAJOR}'s`);
  }
  return { nodedir, version };
}

/** Whether a command can run in a fresh network namespace here. */
function canUnshareNet() {
  return spawnSync('unshare', ['--net', 'true'], { stdio: 'ignore' }).status === 0;
}

function run(command, args, options) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', ...options });
    child.on('error', (err) => resolve({ code: 1, error: err }));
    child.on('close', (code, signal) => resolve({ code: code ?? 1, signal }));
  });
}

async function buildTarget(target, headers, offline) {
  const stage = join(root, 'build', 'prebuild', target.name);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  for (const entry of kSources) cpSync(join(root, entry), join(stage, entry), { recursive: true });

  const env = { ...process.env, npm_config_nodedir: headers.nodedir };
  if (target.tools) {
    for (const [name, tool] of [['CC', 'gcc'], ['CXX', 'g++'], ['LINK', 'g++'], ['AR', 'ar']]) {
      env[name] = `${target.tools}${tool}`;
    }
    const probe = spawnSync(env.CXX, ['--version'], { stdio: 'ignore' });
    if (probe.status !== 0) fail(`${target.name}: ${env.CXX} not found (Debian: apt-get install -y g++-aarch64-linux-gnu)`);
  }
  const prebuildify = join(root, 'node_modules', 'prebuildify', 'bin.js');
  const args = [
    prebuildify, '--napi', '--strip', '--tag-libc',
    `--target=${headers.version}`, `--arch=${target.arch}`, '--platform=linux',
    `--strip-bin=${target.tools}strip`, `--out=${root}`, stage,
  ];
  const command = offline ? 'unshare' : process.execPath;
  const argv = offline ? ['--net', process.execPath, ...args] : args;
  process.stdout.write(`prebuild: ${target.name}: node ${args.slice(1).join(' ').replaceAll(root, '.')}\n`);
  const started = Date.now();
  const result = await run(command, argv, { cwd: stage, env });
  if (result.code !== 0) fail(`${target.name}: prebuildify failed (exit ${result.code}${result.signal ? `, ${result.signal}` : ''})`);
  const file = join(root, 'prebuilds', target.name, BINARY_NAME);
  if (!existsSync(file)) fail(`${target.name}: prebuildify did not write ${file}`);
  process.stdout.write(`prebuild: ${target.name}: ${statSync(file).size} bytes in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

async function main() {
  const argv = process.argv.slice(2);
  const requireOffline = argv.includes('--require-offline') || process.env.CI === 'true';
  const names = argv.filter((a) => !a.startsWith('--'));
  const targets = names.length === 0 ? TARGETS : names.map((n) => TARGETS.find((t) => t.name === n) ?? fail(`unknown target ${n} (known: ${TARGETS.map((t) => t.name).join(', ')})`));
  const headers = nodeHeaders();
  const offline = canUnshareNet();
  if (!offline && requireOffline) fail('cannot run the builds without network (unshare --net failed; run as root)');
  process.stdout.write(
    `prebuild: Node ${headers.version} headers from ${join(headers.nodedir, 'include', 'node')}; ` +
      (offline ? 'builds run with no network (unshare --net)\n' : 'network not isolated (unshare --net unavailable)\n'),
  );
  for (const target of targets) rmSync(join(root, 'prebuilds', target.name), { recursive: true, force: true });
  for (const target of targets) await buildTarget(target, headers, offline);
  rmSync(join(root, 'build', 'prebuild'), { recursive: true, force: true });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
