#!/usr/bin/env node
// check-binaries.mjs: checks each prebuilt binary of scripts/prebuild.mjs
// before it is packed:
//
// - its ELF machine is the one its folder names;
// - it needs only libc, libstdc++, libm and libgcc_s;
// - the newest GLIBC_, GLIBCXX_ and CXXABI_ versions it needs are at or
//   below those the official Node 20 of its architecture needs (a binary
//   that asks for more would refuse to load on a system Node 20 runs on);
// - it neither imports nor exports an `llhttp_*` symbol, and exports nothing
//   of tsgi's own but the Node-API entry points: the node executable carries
//   another llhttp under the same names, and neither may bind to the other's
//   (binding.gyp: hidden visibility, -Bsymbolic).
//
//   node scripts/check-binaries.mjs [--official]
//
// The floors below were measured on the official Node 20.20.2 binaries for
// x64 and arm64 (`readelf -V`); with `--official`, the script measures the
// pinned official Node 20 of each architecture again (scripts/official-node.mjs)
// and fails if it needs less than the floor written here. Needs readelf
// (binutils), which reads ELF files of any architecture.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BINARY_NAME, TARGETS } from './prebuild.mjs';
import { officialNode } from './official-node.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The newest symbol versions official Node 20 binaries need (x64, arm64). */
export const NODE20_FLOOR = { GLIBC: '2.28', GLIBCXX: '3.4.21', CXXABI: '1.3.9' };

/** The shared libraries a prebuilt binary may need. */
const kAllowedLibraries = new Set(['libc.so.6', 'libstdc++.so.6', 'libm.so.6', 'libgcc_s.so.1']);

/** What a binary may export: the Node-API entry points and the C++ standard
 * library's inline instantiations (vague linkage, default visibility in
 * libstdc++'s headers). */
const kAllowedExport = /^(napi_register_module_v1|node_api_module_get_api_version_v1|_ZZ?NK?St\w*)$/;

function readelf(args, file) {
  const r = spawnSync('readelf', ['-W', ...args, file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error) throw new Error(`readelf: ${r.error.message} (Debian: apt-get install -y binutils)`);
  if (r.status !== 0) throw new Error(`readelf ${args.join(' ')} ${file}: ${r.stderr.trim()}`);
  return r.stdout;
}

function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The newest version needed per prefix (GLIBC, GLIBCXX, CXXABI, GCC…). */
export function neededVersions(file) {
  const text = readelf(['-V'], file);
  const section = text.slice(Math.max(0, text.indexOf("Version needs section '.gnu.version_r'")));
  const newest = {};
  for (const m of section.matchAll(/Name: ([A-Z]+)_([\d.]+)/g)) {
    const [, prefix, version] = m;
    if (!newest[prefix] || compareVersions(version, newest[prefix]) > 0) newest[prefix] = version;
  }
  return newest;
}

function neededLibraries(file) {
  return [...readelf(['-d'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
}

function dynamicSymbols(file) {
  const symbols = [];
  for (const line of readelf(['--dyn-syms'], file).split('\n')) {
    // Num: Value Size Type Bind Vis Ndx Name
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !/^\d+:$/.test(f[0])) continue;
    const name = f[7].replace(/@.*$/, '');
    if (name) symbols.push({ name, bind: f[4], defined: f[6] !== 'UND' });
  }
  return symbols;
}

function checkBinary(target, file) {
  const problems = [];
  const machine = /Machine:\s+(.+)/.exec(readelf(['-h'], file))?.[1]?.trim();
  if (machine !== target.machine) problems.push(`ELF machine is ${machine}, expected ${target.machine}`);

  const libraries = neededLibraries(file);
  const extra = libraries.filter((l) => !kAllowedLibraries.has(l));
  if (extra.length) problems.push(`needs ${extra.join(', ')} (allowed: ${[...kAllowedLibraries].join(', ')})`);

  const versions = neededVersions(file);
  for (const [prefix, floor] of Object.entries(NODE20_FLOOR)) {
    if (versions[prefix] && compareVersions(versions[prefix], floor) > 0) {
      problems.push(`needs ${prefix}_${versions[prefix]}, above Node 20's ${prefix}_${floor}`);
    }
  }
  const unknown = Object.keys(versions).filter((p) => !(p in NODE20_FLOOR) && p !== 'GCC');
  if (unknown.length) problems.push(`needs symbol versions of unexpected kinds: ${unknown.join(', ')}`);

  const symbols = dynamicSymbols(file);
  const llhttp = symbols.filter((s) => s.name.startsWith('llhttp_'));
  if (llhttp.length) {
    problems.push(`${llhttp[0].defined ? 'exports' : 'imports'} ${llhttp.map((s) => s.name).join(', ')}`);
  }
  const exported = symbols.filter((s) => s.defined && s.bind !== 'LOCAL' && !s.name.startsWith('llhttp_'));
  const stray = exported.filter((s) => !kAllowedExport.test(s.name));
  if (stray.length) problems.push(`exports ${stray.map((s) => s.name).join(', ')}`);

  const shown = Object.entries(versions).map(([p, v]) => `${p}_${v}`).join(' ');
  const line = `${target.name}/${BINARY_NAME}: ${statSync(file).size} bytes, ${machine}, needs ${libraries.join(' ')}; newest versions ${shown}; ${exported.length} exports, no llhttp_ symbol`;
  return { problems, line };
}

function main() {
  const official = process.argv.includes('--official');
  let failed = false;
  if (official) {
    for (const target of TARGETS) {
      const node = officialNode(`${target.arch}-20`);
      const versions = neededVersions(node);
      const shown = Object.keys(NODE20_FLOOR).map((p) => `${p}_${versions[p]}`).join(' ');
      process.stdout.write(`check-binaries: official Node 20 ${target.arch} needs ${shown}\n`);
      for (const [prefix, floor] of Object.entries(NODE20_FLOOR)) {
        if (!versions[prefix] || compareVersions(versions[prefix], floor) < 0) {
          process.stderr.write(`check-binaries: the floor ${prefix}_${floor} is above what Node 20 ${target.arch} needs (${prefix}_${versions[prefix]}): lower NODE20_FLOOR\n`);
          failed = true;
        }
      }
    }
  }
  for (const target of TARGETS) {
    const file = join(root, 'prebuilds', target.name, BINARY_NAME);
    if (!existsSync(file)) {
      process.stderr.write(`check-binaries: ${file} is missing (npm run build:prebuilds)\n`);
      failed = true;
      continue;
    }
    const { problems, line } = checkBinary(target, file);
    if (problems.length) {
      failed = true;
      for (const p of problems) process.stderr.write(`check-binaries: ${target.name}: ${p}\n`);
    } else {
      process.stdout.write(`check-binaries: ok ${line}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
}

main();
