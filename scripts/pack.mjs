#!/usr/bin/env node
// pack.mjs: the prepack and postpack steps of `npm pack` and `npm publish`.
//
//   node scripts/pack.mjs prepack    builds both prebuilt binaries
//                                    (prebuild.mjs), checks them
//                                    (check-binaries.mjs), compiles the
//                                    TypeScript into a clean dist/ (no stale
//                                    file is packed), then writes the
//                                    package.json that ships
//   node scripts/pack.mjs postpack   puts the checkout's package.json back
//
// The package.json that ships is the checkout's without `prepare`: prepare
// builds a checkout (`npm install` there compiles the addon and the
// TypeScript), never runs for a package installed from a tarball, yet npm 11
// counts it as an install script of a non-registry dependency (a tarball or
// URL install): it warns, and `--strict-allow-scripts` fails the install.
// npm reads the manifest again after prepack, so the pack itself does not
// run prepare either. The checkout's file waits in package.json.checkout; a
// pack that died before postpack is undone by the next prepack.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const manifest = join(root, 'package.json');
const saved = join(root, 'package.json.checkout');

function step(args) {
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`pack: node ${args.join(' ')} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(1);
  }
}

function restore() {
  if (existsSync(saved)) renameSync(saved, manifest);
}

const what = process.argv[2];
if (what === 'prepack') {
  restore();
  step(['scripts/prebuild.mjs']);
  step(['scripts/check-binaries.mjs']);
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  step([join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  delete pkg.scripts.prepare;
  copyFileSync(manifest, saved);
  writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
} else if (what === 'postpack') {
  restore();
} else {
  process.stderr.write('usage: node scripts/pack.mjs prepack|postpack\n');
  process.exit(2);
}
