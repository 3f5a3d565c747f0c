// version.ts: `tsgi --version`: the versions of tsgi, of the Node-API the
// addon was built for and of its llhttp, and the binary's path.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadNative, packageRoot, unavailableMessage } from '../native/loader.js';

/** tsgi's version, from its package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/**
 * Four lines:
 *
 * @example
 * ```
 * tsgi 0.1.0
 * Node-API 8 (Node.js v20.20.2 provides 10)
 * llhttp 8.1.0
 * binary /app/node_modules/tsgi/prebuilds/linux-x64/tsgi.glibc.node (prebuilt)
 * ```
 *
 * Without a binary, the last three say `none` and why.
 */
export function versionText(): string {
  const load = loadNative();
  const node = `Node.js ${process.version} provides ${process.versions.napi}`;
  if (!load.ok) {
    return [
      `tsgi ${packageVersion()}`,
      `Node-API none (${node})`,
      'llhttp none',
      `binary none: ${unavailableMessage(load)}`,
    ].join('\n') + '\n';
  }
  return [
    `tsgi ${packageVersion()}`,
    `Node-API ${load.binding.napiVersion} (${node})`,
    `llhttp ${load.binding.llhttpVersion}`,
    `binary ${load.path} (${load.source})`,
  ].join('\n') + '\n';
}
