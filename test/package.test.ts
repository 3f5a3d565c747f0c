// The npm tarball, as `npm pack` would make it from this checkout: it holds
// what a user needs (the compiled JavaScript and types, the command, the
// sources and build files for `tsgi build`, the prebuilt binaries) and
// nothing else, and installing it runs no script. The real pack, installs
// and requests are checked by scripts/check-package.mjs (CI).
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

interface Packed {
  files: { path: string }[];
}

let files: string[] = [];
beforeAll(() => {
  // --ignore-scripts: list what would be packed without running prepack
  // (which builds both prebuilds) or prepare.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  files = (JSON.parse(out) as Packed[])[0]!.files.map((f) => f.path).sort();
}, 60_000);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [relative(root, path)];
  });
}

const tracked = (dir: string) =>
  execFileSync('git', ['ls-files', dir], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean).sort();

describe('npm pack', () => {
  it('ships the compiled JavaScript and types of every source module, and no source map', () => {
    const sources = walk(join(root, 'src')).filter((f) => f.endsWith('.ts')).map((f) => f.slice('src/'.length, -'.ts'.length));
    const expected = sources.flatMap((m) => [`dist/${m}.js`, `dist/${m}.d.ts`]).sort();
    expect(files.filter((f) => f.startsWith('dist/')), 'a file in dist/ with no source in src/ is stale: rm -rf dist && npm run build:ts').toEqual(expected);
  });

  it('ships the sources a build from source needs, exactly as tracked', () => {
    expect(files.filter((f) => f.startsWith('native/'))).toEqual(tracked('native'));
    for (const f of ['binding.gyp', 'scripts/find-llhttp.cjs', 'bin/tsgi.js', 'package.json', 'README.md']) expect(files).toContain(f);
  });

  it('ships nothing else: no tests, benchmarks, fuzzing corpus, build output, TypeScript sources or CI files', () => {
    const allowed = /^(dist\/.+\.(js|d\.ts)|native\/[\w.]+|prebuilds\/linux-(x64|arm64)\/tsgi\.glibc\.node|binding\.gyp|scripts\/find-llhttp\.cjs|bin\/tsgi\.js|package\.json|README\.md)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    expect(files.some((f) => /^(test|bench|fuzz|build|src|examples|\.ci)\//.test(f))).toBe(false);
  });

  it('runs nothing when installed: no install scripts, and no implicit node-gyp rebuild', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string>; gypfile?: boolean };
    for (const hook of ['preinstall', 'install', 'postinstall']) expect(pkg.scripts[hook], hook).toBeUndefined();
    // binding.gyp is shipped, so without this npm would run `node-gyp rebuild`.
    expect(files).toContain('binding.gyp');
    expect(pkg.gypfile).toBe(false);
  });
});
