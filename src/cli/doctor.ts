// doctor.ts: `tsgi doctor`: the whole diagnosis of whether the native server
// can run here, and what a source build would use. Exit code 0 when the
// native server is available, 1 when it is not.
import { join } from 'node:path';
import {
  BUILD_STEPS,
  currentPlatform,
  formatPlatform,
  loadNative,
  packageRoot,
  shippedTargets,
  sourceBuildPath,
  unavailableReason,
} from '../native/loader.js';
import { buildRequirements, nodeHeaders } from './build.js';
import { packageVersion } from './version.js';

function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `  ${`${k}:`.padEnd(width)}${v}\n`).join('');
}

/**
 * Prints the diagnosis on stdout and returns the exit code.
 *
 * @example
 * ```sh
 * npx tsgi doctor || npx tsgi build
 * ```
 */
export function runDoctor(): number {
  const platform = currentPlatform();
  const load = loadNative();
  const shipped = shippedTargets();
  const sourceBuild = sourceBuildPath();
  const libc = platform.glibcVersion ? ` (glibc ${platform.glibcVersion} detected)` : platform.libc === 'musl' ? ' (no glibc detected)' : '';
  const rows: [string, string][] = [
    ['tsgi', `${packageVersion()} in ${packageRoot}`],
    ['Node.js', `${process.version} (Node-API ${process.versions.napi}) at ${process.execPath}`],
    ['platform', `${formatPlatform(platform)}${libc}`],
  ];
  if (platform.overrides.length) rows.push(['overrides', platform.overrides.join(' ')]);
  rows.push(
    ['prebuilt binaries', shipped.length ? shipped.join(', ') : 'none in this copy of tsgi'],
    ['source build', sourceBuild ? `${sourceBuild}${process.env.PREBUILDS_ONLY ? ' (ignored: PREBUILDS_ONLY)' : ''}` : 'none (npx tsgi build makes one)'],
    [
      'binary',
      load.ok
        ? `${load.path} (${load.source}), Node-API ${load.binding.napiVersion}, llhttp ${load.binding.llhttpVersion}`
        : load.path
          ? `${load.path} does not load: ${load.error.message.split('\n')[0]}`
          : 'none',
    ],
    ['native server', load.ok ? 'available' : `not available: ${unavailableReason(load)}`],
  );
  let out = `tsgi doctor\n${table(rows)}`;

  const headers = nodeHeaders();
  const build: [string, string][] = buildRequirements().map((r) => [r.name, r.found ?? `missing: ${r.hint}`]);
  build.push(['Node headers', headers ? join(headers, 'include', 'node') : `downloaded by node-gyp for ${process.version}`]);
  out += `building from source (npx tsgi build):\n${table(build)}`;
  if (!load.ok) out += `to build it from source: ${BUILD_STEPS}\n`;
  process.stdout.write(out);
  return load.ok ? 0 : 1;
}
