// Loading the native addon, seen from outside: real `tsgi` processes and a
// real `serve()` in a child process, with node-gyp-build's environment
// overrides simulating a platform that has no prebuilt binary
// (PREBUILDS_ONLY=1 ignores the source build; LIBC=musl or
// npm_config_arch=riscv64 asks for a tuple nothing was built for).
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'tsgi.js');
const hello = join(root, 'examples', 'hello.mjs');
const sourceBuild = join(root, 'build', 'Release', 'tsgi.node');
const TIMEOUT = 20_000;

/** NAPI_VERSION as binding.gyp defines it: what the addon must report. */
const napiVersion = Number(/'NAPI_VERSION=(\d+)'/.exec(readFileSync(join(root, 'binding.gyp'), 'utf8'))?.[1]);

/** The shipped targets, read straight from prebuilds/ (`linux-x64-glibc`). */
function shipped(dir = root): string[] {
  const out: string[] = [];
  const base = join(dir, 'prebuilds');
  for (const tuple of existsSync(base) ? readdirSync(base) : []) {
    for (const file of readdirSync(join(base, tuple))) {
      const libc = /^tsgi\.(glibc|musl)\.node$/.exec(file)?.[1];
      if (libc) out.push(`${tuple}-${libc}`);
    }
  }
  return out.sort();
}

const shipsText = () =>
  shipped().length ? `this tsgi ships prebuilt binaries for ${shipped().join(', ')}` : 'this copy of tsgi has no prebuilt binaries';

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <args>` with extra environment variables; resolves on exit. */
function launch(args: string[], env: Record<string, string>, cwd = root) {
  const clean = { ...process.env };
  for (const name of ['PREBUILDS_ONLY', 'LIBC', 'npm_config_arch', 'npm_config_platform', 'TSGI_PREBUILD']) delete clean[name];
  const child = spawn(process.execPath, args, { cwd, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exit = new Promise<Exit>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', () => {
      if (stdout.includes('\n')) resolve(stdout.slice(0, stdout.indexOf('\n')));
    });
    void exit.then((e) => reject(new Error(`exited with ${e.code} before a line on stdout; stderr: ${e.stderr}`)));
  });
  firstLine.catch(() => {});
  return { child, exit, firstLine, stderr: () => stderr };
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

const musl = { PREBUILDS_ONLY: '1', LIBC: 'musl' };
const riscv = { PREBUILDS_ONLY: '1', npm_config_arch: 'riscv64' };
const warningLines = (stderr: string) => stderr.split('\n').filter((l) => l.includes('[TSGI_NO_NATIVE]'));

let fixtures: string;
beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: npm test builds it');
  fixtures = mkdtempSync(join(tmpdir(), 'tsgi-loading-'));
  // Two servers in one process, then server: 'native': prints JSON lines.
  writeFileSync(
    join(fixtures, 'two.mjs'),
    `import { serve } from ${JSON.stringify(join(root, 'dist', 'index.js'))};
const app = (e, s) => { s('200 OK', [['Content-Type', 'text/plain']]); return ['two']; };
const a = await serve(app, { port: 0 });
const b = await serve(app, { port: 0 });
let error = null;
try { await serve(app, { port: 0, server: 'native' }); } catch (e) { error = { name: e.name, code: e.code, message: e.message }; }
console.log(JSON.stringify({ kinds: [a.kind, b.kind], port: a.port, error }));
// The servers keep the process alive until the test kills it.
`,
  );
});
afterAll(() => {
  if (fixtures) rmSync(fixtures, { recursive: true, force: true });
});

describe('no prebuilt binary for the platform', () => {
  for (const [name, env, tuple] of [
    ['LIBC=musl', musl, `linux-${process.arch}-musl`],
    ['npm_config_arch=riscv64', riscv, 'linux-riscv64-glibc'],
  ] as const) {
    it(`serve() warns once with TSGI_NO_NATIVE and runs the node server (${name})`, { timeout: TIMEOUT }, async () => {
      const run = launch([join(fixtures, 'two.mjs')], env);
      const result = JSON.parse(await run.firstLine) as { kinds: string[]; port: number; error: { name: string; code: string; message: string } };
      expect(result.kinds).toEqual(['node', 'node']);
      expect(await get(result.port)).toBe('two');
      const warnings = warningLines(run.stderr());
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`tsgi: the native server is not available on ${tuple}: there is no prebuilt binary for it (${shipsText()}`);
      expect(warnings[0]).toContain('using the node server');
      // server: 'native' is an error with the same diagnosis and the steps.
      expect(result.error.name).toBe('NativeUnavailableError');
      expect(result.error.code).toBe('TSGI_NO_NATIVE');
      expect(result.error.message).toMatch(new RegExp(`^the native server is not available on ${tuple}: there is no prebuilt binary for it \\(`));
      expect(result.error.message).toContain('apt-get install -y node-llhttp python3 make g++), then run npx tsgi build');
      run.child.kill('SIGKILL');
    });
  }

  it('tsgi serve warns and serves with the node server', { timeout: TIMEOUT }, async () => {
    const run = launch([bin, 'serve', hello, '--bind', '127.0.0.1:0'], musl);
    const line = await run.firstLine;
    const m = /^listening on http:\/\/127\.0\.0\.1:(\d+) \(node\)$/.exec(line);
    expect(m, line).not.toBeNull();
    expect(await get(Number(m![1]))).toBe('Hello, World!\n');
    expect(warningLines(run.stderr())).toHaveLength(1);
    run.child.kill('SIGTERM');
    expect((await run.exit).code).toBe(0);
  });

  it('tsgi serve --server native exits 1 with the reason and the build steps on one line', { timeout: TIMEOUT }, async () => {
    const result = await launch([bin, 'serve', hello, '--bind', '127.0.0.1:0', '--server', 'native'], musl).exit;
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `tsgi: the native server is not available on linux-${process.arch}-musl: there is no prebuilt binary for it ` +
        `(${shipsText()}; overrides: PREBUILDS_ONLY=1 LIBC=musl); to build it from source: install python3, make, ` +
        'a C++ compiler and llhttp (Debian/Ubuntu: apt-get install -y node-llhttp python3 make g++), then run npx tsgi build\n',
    );
  });

  it('tsgi --version says there is no binary, and why', { timeout: TIMEOUT }, async () => {
    const result = await launch([bin, '--version'], musl).exit;
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines.slice(1, 3)).toEqual([`Node-API none (Node.js ${process.version} provides ${process.versions.napi})`, 'llhttp none']);
    expect(lines[3]).toBe(
      `binary none: the native server is not available on linux-${process.arch}-musl: there is no prebuilt binary for it (${shipsText()}; overrides: PREBUILDS_ONLY=1 LIBC=musl)`,
    );
  });

  it('tsgi doctor exits 1 and names the tuple, the overrides and the build steps', { timeout: TIMEOUT }, async () => {
    const result = await launch([bin, 'doctor'], riscv).exit;
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^ {2}platform: +linux-riscv64-glibc \(glibc [\d.]+ detected\)$/m);
    expect(result.stdout).toMatch(/^ {2}overrides: +PREBUILDS_ONLY=1 npm_config_arch=riscv64$/m);
    expect(result.stdout).toMatch(/^ {2}binary: +none$/m);
    expect(result.stdout).toMatch(/^ {2}native server: +not available: there is no prebuilt binary for it \(/m);
    expect(result.stdout).toMatch(/^to build it from source: install python3, make, a C\+\+ compiler and llhttp/m);
  });
});

describe.skipIf(!existsSync(sourceBuild))('a binary that fits', () => {
  it('tsgi --version names the source build, its Node-API and llhttp versions', { timeout: TIMEOUT }, async () => {
    const result = await launch([bin, '--version'], {}).exit;
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[1]).toBe(`Node-API ${napiVersion} (Node.js ${process.version} provides ${process.versions.napi})`);
    expect(lines[2]).toMatch(/^llhttp \d+\.\d+\.\d+$/);
    expect(lines[3]).toBe(`binary ${sourceBuild} (source build)`);
  });

  it('tsgi doctor exits 0 and says the native server is available', { timeout: TIMEOUT }, async () => {
    const result = await launch([bin, 'doctor'], {}).exit;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ {2}native server: +available$/m);
    expect(result.stdout).toContain(`  source build:      ${sourceBuild}\n`);
    expect(result.stdout).toMatch(/^ {2}llhttp: +\S.* \d+\.\d+\.\d+: include \//m);
  });

  it('picks the prebuilt binary without a source build, and the source build over it', { timeout: TIMEOUT }, async () => {
    // A package directory of its own (TSGI_PREBUILD) holding a working copy
    // of the addon as prebuilds/linux-<arch>/tsgi.glibc.node.
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-prebuild-'));
    try {
      writeFileSync(join(dir, 'package.json'), '{"name":"tsgi"}\n');
      const prebuilt = join(dir, 'prebuilds', `linux-${process.arch}`, 'tsgi.glibc.node');
      mkdirSync(join(dir, 'prebuilds', `linux-${process.arch}`), { recursive: true });
      copyFileSync(sourceBuild, prebuilt);
      const onlyPrebuilt = await launch([bin, '--version'], { TSGI_PREBUILD: dir }).exit;
      expect(onlyPrebuilt.stdout.split('\n')[3]).toBe(`binary ${prebuilt} (prebuilt)`);

      const served = launch([bin, 'serve', hello, '--bind', '127.0.0.1:0'], { TSGI_PREBUILD: dir });
      const m = /^listening on http:\/\/127\.0\.0\.1:(\d+) \(native\)$/.exec(await served.firstLine);
      expect(m).not.toBeNull();
      expect(await get(Number(m![1]))).toBe('Hello, World!\n');
      served.child.kill('SIGTERM');
      expect((await served.exit).code).toBe(0);

      const built = join(dir, 'build', 'Release', 'tsgi.node');
      mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
      copyFileSync(sourceBuild, built);
      const both = await launch([bin, '--version'], { TSGI_PREBUILD: dir }).exit;
      expect(both.stdout.split('\n')[3]).toBe(`binary ${built} (source build)`);
      const prebuildsOnly = await launch([bin, '--version'], { TSGI_PREBUILD: dir, PREBUILDS_ONLY: '1' }).exit;
      expect(prebuildsOnly.stdout.split('\n')[3]).toBe(`binary ${prebuilt} (prebuilt)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a binary that is found but does not load, with its path and the loader error', { timeout: TIMEOUT }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-prebuild-'));
    try {
      writeFileSync(join(dir, 'package.json'), '{"name":"tsgi"}\n');
      mkdirSync(join(dir, 'prebuilds', `linux-${process.arch}`), { recursive: true });
      const broken = join(dir, 'prebuilds', `linux-${process.arch}`, 'tsgi.glibc.node');
      writeFileSync(broken, 'not an ELF file');
      const result = await launch([bin, 'serve', hello, '--bind', '127.0.0.1:0', '--server', 'native'], { TSGI_PREBUILD: dir, PREBUILDS_ONLY: '1' }).exit;
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`^tsgi: the native server is not available on linux-${process.arch}-glibc: ${broken.replace(/[.]/g, '\\.')} failed to load: .*(invalid ELF header|file too short)`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
