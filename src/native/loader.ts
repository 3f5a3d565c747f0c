// loader.ts: finds and loads the native addon, once per thread, and says
// exactly why when it cannot.
//
// node-gyp-build picks the file: a source build (build/Release, written by
// `tsgi build` or by `npm install` in a checkout) wins; otherwise the
// prebuilt binary shipped in the package, prebuilds/<os>-<arch>/
// tsgi.<libc>.node (scripts/prebuild.mjs). node-gyp-build's guess of the C
// library is only "/etc/alpine-release exists"; the loader asks the running
// process instead (process.report's glibcVersionRuntime, as napi-rs does) and
// refuses a prebuilt binary tagged for the other libc, which would otherwise
// fail in dlopen with a message naming neither.
//
// node-gyp-build's environment overrides are honoured, and reported by the
// platform tuple, so a platform without a prebuild can be simulated:
// PREBUILDS_ONLY=1 (ignore source builds), LIBC=glibc|musl,
// npm_config_arch, npm_config_platform, TSGI_PREBUILD=<dir holding prebuilds/>.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkContract, type NativeBinding } from './binding.js';

/** The package's root: the directory holding package.json, binding.gyp,
 * build/ and prebuilds/. */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const require = createRequire(import.meta.url);

/** What a binary must match: node-gyp-build's tuple, libc as detected. */
export interface Platform {
  os: string;
  arch: string;
  /** `glibc` or `musl` on Linux, else null. */
  libc: 'glibc' | 'musl' | null;
  /** The running glibc's version (`2.36`), when there is one. */
  glibcVersion: string | null;
  /** The environment overrides in effect (`LIBC=musl`, `PREBUILDS_ONLY=1`…). */
  overrides: string[];
}

/** Where the loaded binary came from. */
export type BinarySource = 'source build' | 'prebuilt';

export type NativeLoad =
  | { ok: true; binding: NativeBinding; path: string; source: BinarySource; platform: Platform }
  | {
      ok: false;
      /** Why, in one clause: `there is no prebuilt binary for it`. */
      reason: string;
      /** The file that was found but could not load, if any. */
      path: string | null;
      error: Error;
      platform: Platform;
    };

/** `linux-x64-glibc`: the platform tuple as the messages spell it. */
export function formatPlatform(p: Pick<Platform, 'os' | 'arch' | 'libc'>): string {
  return [p.os, p.arch, p.libc].filter(Boolean).join('-');
}

let cachedPlatform: Platform | undefined;

/** The platform tuple node-gyp-build matches, with the libc detected from
 * the running process unless `LIBC` overrides it. */
export function currentPlatform(): Platform {
  if (cachedPlatform) return cachedPlatform;
  const env = process.env;
  const overrides = ['PREBUILDS_ONLY', 'LIBC', 'npm_config_arch', 'npm_config_platform', 'TSGI_PREBUILD']
    .filter((name) => env[name])
    .map((name) => `${name}=${env[name]}`);
  const os = env.npm_config_platform || process.platform;
  const arch = env.npm_config_arch || process.arch;
  let libc: Platform['libc'] = null;
  let glibcVersion: string | null = null;
  if (process.platform === 'linux') {
    glibcVersion = glibcVersionRuntime();
    libc = glibcVersion ? 'glibc' : 'musl';
  }
  if (env.LIBC === 'glibc' || env.LIBC === 'musl') libc = env.LIBC;
  cachedPlatform = { os, arch, libc, glibcVersion, overrides };
  return cachedPlatform;
}

/** process.report's header names the glibc the process runs on, and is
 * silent under musl. The report is taken without its network section
 * (which may resolve host names). */
function glibcVersionRuntime(): string | null {
  const report = process.report as NodeJS.ProcessReport & { excludeNetwork?: boolean };
  const saved = report.excludeNetwork;
  try {
    report.excludeNetwork = true;
    const header = (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
    return header?.glibcVersionRuntime ?? null;
  } catch {
    return null;
  } finally {
    report.excludeNetwork = saved;
  }
}

/** The targets this copy of tsgi has prebuilt binaries for, read from its
 * prebuilds/ folder (`linux-x64-glibc`, …), sorted. */
export function shippedTargets(): string[] {
  const dir = join(packageRoot, 'prebuilds');
  const targets: string[] = [];
  for (const tuple of safeReaddir(dir)) {
    for (const file of safeReaddir(join(dir, tuple))) {
      const m = /^tsgi\.(?:napi\.)?(glibc|musl)?\.?node$/.exec(file);
      if (m) targets.push(m[1] ? `${tuple}-${m[1]}` : tuple);
    }
  }
  return targets.sort();
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The source build's file, whether or not node-gyp-build would use it. */
export function sourceBuildPath(): string | null {
  const file = join(packageRoot, 'build', 'Release', 'tsgi.node');
  return existsSync(file) ? file : null;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? text;
}

function attempt(): NativeLoad {
  let path: string;
  try {
    const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
    path = gypBuild.resolve(packageRoot);
  } catch (err) {
    const platform = currentPlatform();
    return { ok: false, reason: 'there is no prebuilt binary for it', path: null, error: toError(err), platform };
  }
  const inBuild = /[\\/]build[\\/](?:Release|Debug)[\\/][^\\/]+$/.test(path);
  const source: BinarySource = inBuild ? 'source build' : 'prebuilt';
  const platform = currentPlatform();
  const tag = /\.(glibc|musl)\.node$/.exec(path)?.[1];
  if (!inBuild && tag && platform.libc && tag !== platform.libc) {
    return {
      ok: false,
      reason: `the prebuilt binary for ${platform.os}-${platform.arch} is for ${tag}`,
      path,
      error: new Error(`${path} is built for ${tag}, this process runs on ${platform.libc}`),
      platform,
    };
  }
  let binding: NativeBinding;
  try {
    binding = require(path) as NativeBinding;
  } catch (err) {
    return { ok: false, reason: `${shortPath(path)} failed to load: ${firstLine(err)}`, path, error: toError(err), platform };
  }
  // The binding contract (ARCHITECTURE.md, "The C++/TS contract") is
  // checked here, the one place every binary passes through.
  try {
    checkContract(binding);
  } catch (err) {
    return { ok: false, reason: `${shortPath(path)} does not match this tsgi: ${firstLine(err)}`, path, error: toError(err), platform };
  }
  return { ok: true, binding, path, source, platform };
}

/** `prebuilds/linux-x64/tsgi.glibc.node`: a path inside the package, shown
 * relative to it. */
function shortPath(path: string): string {
  const rel = relative(packageRoot, path);
  return rel.startsWith('..') ? path : rel.split(sep).join('/');
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

let cached: NativeLoad | undefined;

/** Loads the addon once per thread (a worker thread loads its own copy of
 * the module, as Node-API requires) and returns what happened. */
export function loadNative(): NativeLoad {
  cached ??= attempt();
  return cached;
}

/** The addon, or the Error that kept it from loading. */
export function loadBinding(): NativeBinding | Error {
  const load = loadNative();
  return load.ok ? load.binding : new Error(unavailableMessage(load), { cause: load.error });
}

/** What to run to build the addon from source (one line). */
export const BUILD_STEPS =
  'install python3, make, a C++ compiler and llhttp (Debian/Ubuntu: apt-get install -y node-llhttp python3 make g++), then run npx tsgi build';

/** `the native server is not available on linux-x64-musl: there is no
 * prebuilt binary for it (this tsgi ships prebuilt binaries for
 * linux-arm64-glibc, linux-x64-glibc)`. */
export function unavailableMessage(load: Extract<NativeLoad, { ok: false }>): string {
  return `the native server is not available on ${formatPlatform(load.platform)}: ${unavailableReason(load)}`;
}

/** The part of unavailableMessage() after the platform. */
export function unavailableReason(load: Extract<NativeLoad, { ok: false }>): string {
  const shipped = shippedTargets();
  const ships = shipped.length ? `this tsgi ships prebuilt binaries for ${shipped.join(', ')}` : 'this copy of tsgi has no prebuilt binaries';
  const overrides = load.platform.overrides.length ? `; overrides: ${load.platform.overrides.join(' ')}` : '';
  return `${load.reason} (${ships}${overrides})`;
}

let warned = false;

/** Emits the TSGI_NO_NATIVE warning, once per thread. */
export function warnNoNative(load: Extract<NativeLoad, { ok: false }>): void {
  if (warned) return;
  warned = true;
  process.emitWarning(
    `tsgi: ${unavailableMessage(load)}; using the node server. \`npx tsgi doctor\` shows why, \`npx tsgi build\` builds from source.`,
    { code: 'TSGI_NO_NATIVE' },
  );
}

/** The error of `server: 'native'` (and `--server native`) when the addon
 * cannot load: the reason and the build steps, in one line. */
export class NativeUnavailableError extends Error {
  readonly code = 'TSGI_NO_NATIVE';
  constructor(load: Extract<NativeLoad, { ok: false }>) {
    super(`${unavailableMessage(load)}; to build it from source: ${BUILD_STEPS}`, { cause: load.error });
    this.name = 'NativeUnavailableError';
  }
}
