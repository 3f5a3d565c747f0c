// find-runtimes.mjs: where the Bun and Deno binaries of the `bun` and
// `deno` npm packages are. npm 11 may not run their install scripts, which
// only move the binary out of the platform package (@oven/bun-<platform>,
// @deno/<platform>) into the main one; so both places are tried, and a
// candidate counts only if `--version` runs. Never downloads anything.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MODULES = join(ROOT, 'node_modules');

function scoped(scope, prefix, tail) {
  const dir = join(MODULES, scope);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.startsWith(prefix))
    .sort((a, b) => a.length - b.length) // the plain build before -baseline/-musl/-profile
    .map((name) => join(dir, name, ...tail));
}

/** The first candidate whose `--version` exits 0: { path, version }, or
 * { path: null, reason }. */
function probe(name, candidates) {
  const tried = [];
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0) return { path, version: r.stdout.trim().split('\n')[0] };
    tried.push(`${path}: ${r.error?.message ?? (r.stderr || `exit ${r.status}`).trim().split('\n')[0]}`);
  }
  return {
    path: null,
    reason: tried.length ? `${name} does not run here (${tried.join('; ')})` : `${name} is not installed (npm install, dev dependency "${name}")`,
  };
}

const platform = `${process.platform}-${process.arch}`;

/** Bun: @oven/bun-<platform>/bin/bun, or bun/bin/bun.exe once its
 * postinstall has moved it there. */
export function findBun() {
  return probe('bun', [
    ...scoped('@oven', `bun-${platform}`, ['bin', 'bun']),
    join(MODULES, 'bun', 'bin', 'bun.exe'),
  ]);
}

/** Deno: @deno/<platform>[-glibc]/deno, or deno/deno once linked there. */
export function findDeno() {
  return probe('deno', [...scoped('@deno', platform, ['deno']), join(MODULES, 'deno', 'deno')]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [name, found] of [['bun', findBun()], ['deno', findDeno()]]) {
    console.log(found.path ? `${name}: ${found.path} (${found.version})` : `${name}: ${found.reason}`);
  }
}
