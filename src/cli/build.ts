// build.ts: `tsgi build`, which compiles the native addon from source into
// the package's build/Release (which the loader then prefers to any prebuilt
// binary), and the probes of what such a build needs, which `tsgi doctor`
// reports too.
//
// A build needs llhttp (scripts/find-llhttp.cjs says which one, or how to
// install it), python3, make, a C and a C++ compiler, node-gyp and the Node
// headers. node-gyp is taken from the package's own dependencies (a
// checkout), else npm's bundled copy; the headers from the running Node's
// install prefix when it has them (no download), else node-gyp downloads
// them as it always does.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { loadNative, packageRoot, sourceBuildPath } from '../native/loader.js';

const require = createRequire(import.meta.url);

/** One thing a source build needs: found (with what) or missing. */
export interface Requirement {
  name: string;
  found: string | null;
  /** What to do when it is missing. */
  hint: string;
}

const kDebianTools = 'apt-get install -y python3 make g++';

/** `which`: the first executable file `name` on PATH. */
function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** The first line `command --version` prints, or null. */
function versionOf(command: string): string | null {
  const r = spawnSync(command, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return `${r.stdout}${r.stderr}`.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
}

function tool(name: string, candidates: string[], hint: string): Requirement {
  for (const candidate of candidates) {
    const path = candidate.includes('/') ? candidate : which(candidate);
    const version = path ? versionOf(path) : null;
    if (path && version !== null) return { name, found: `${path} (${version})`, hint };
  }
  return { name, found: null, hint };
}

/** Which llhttp a build would use: scripts/find-llhttp.cjs's one line. */
export function llhttpForBuild(): Requirement {
  const r = spawnSync(process.execPath, [join(packageRoot, 'scripts', 'find-llhttp.cjs'), 'describe'], { encoding: 'utf8' });
  const hint = 'apt-get install -y node-llhttp (or libllhttp-dev, or LLHTTP_DIR=<an llhttp release tree>)';
  if (r.status === 0) return { name: 'llhttp', found: r.stdout.trim(), hint };
  const why = r.stderr.split('\n').map((l) => l.replace(/^tsgi: /, '').trim()).find((l) => l !== '') ?? 'not found';
  return { name: 'llhttp', found: null, hint: `${why} ${hint}` };
}

/** node-gyp's script: the package's own (a checkout's devDependency), or
 * the copy npm bundles (npm names it in npm_config_node_gyp for npx and
 * scripts; otherwise it sits next to the npm on PATH). */
export function findNodeGyp(): string | null {
  try {
    const pkg = require.resolve('node-gyp/package.json', { paths: [packageRoot] });
    const script = join(dirname(pkg), 'bin', 'node-gyp.js');
    if (existsSync(script)) return script;
  } catch {
    // not a dependency here
  }
  const named = process.env.npm_config_node_gyp;
  if (named && existsSync(named)) return named;
  const npm = which('npm');
  if (npm) {
    const script = join(dirname(dirname(realpathSync(npm))), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(script)) return script;
  }
  return null;
}

/** The Node install prefix whose headers node-gyp should use (so nothing is
 * downloaded): npm_config_nodedir, else the running Node's own prefix when
 * it ships include/node with common.gypi. */
export function nodeHeaders(): string | null {
  const configured = process.env.npm_config_nodedir;
  if (configured) return configured;
  const prefix = dirname(dirname(process.execPath));
  const include = join(prefix, 'include', 'node');
  return existsSync(join(include, 'node_api.h')) && existsSync(join(include, 'common.gypi')) ? prefix : null;
}

/** Everything a source build needs, in the order `tsgi build` checks it. */
export function buildRequirements(): Requirement[] {
  const gyp = findNodeGyp();
  return [
    llhttpForBuild(),
    tool('python3', [process.env.PYTHON ?? 'python3'], kDebianTools),
    tool('make', ['make'], kDebianTools),
    // make's defaults when CC and CXX are not set: what gyp's Makefile runs.
    tool('C compiler', [process.env.CC ?? 'cc'], kDebianTools),
    tool('C++ compiler', [process.env.CXX ?? 'g++'], kDebianTools),
    { name: 'node-gyp', found: gyp, hint: 'npm install -g node-gyp (npm normally bundles it)' },
  ];
}

/**
 * `tsgi build`: checks the requirements, runs `node-gyp rebuild` in the
 * package and loads the result. Throws (exit 1) with what is missing.
 *
 * @example
 * ```sh
 * apt-get install -y node-llhttp python3 make g++ && npx tsgi build
 * ```
 */
export function runBuild(): void {
  const say = (line: string): void => void process.stdout.write(`tsgi build: ${line}\n`);
  const requirements = buildRequirements();
  for (const r of requirements) say(`${r.name}: ${r.found ?? 'missing'}`);
  const missing = requirements.filter((r) => r.found === null);
  if (missing.length > 0) {
    throw new Error(`cannot build the native addon, missing ${missing.map((r) => `${r.name} (${r.hint})`).join('; ')}`);
  }
  const env = { ...process.env };
  const headers = nodeHeaders();
  if (headers) {
    env.npm_config_nodedir = headers;
    say(`Node headers: ${join(headers, 'include', 'node')}`);
  } else {
    say(`Node headers: node-gyp downloads those of Node ${process.version}`);
  }
  say(`node-gyp rebuild in ${packageRoot}`);
  const gyp = spawnSync(process.execPath, [findNodeGyp()!, 'rebuild'], { cwd: packageRoot, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (gyp.status !== 0) throw new Error(`node-gyp rebuild failed (exit ${gyp.status ?? gyp.signal}); its output is above`);
  const built = sourceBuildPath();
  if (!built) throw new Error(`node-gyp succeeded but wrote no ${join(packageRoot, 'build', 'Release', 'tsgi.node')}`);
  const load = loadNative();
  if (!load.ok) throw new Error(`the new build does not load: ${load.reason}`);
  if (load.path !== built) {
    say(`built ${built}, but the loader picks ${load.path} (${load.platform.overrides.join(' ')})`);
    return;
  }
  say(`built ${built} (Node-API ${load.binding.napiVersion}, llhttp ${load.binding.llhttpVersion}); the native server uses it from now on`);
}
