#!/usr/bin/env node
// find-llhttp.cjs: locates the llhttp the native addon is built against and
// prints what binding.gyp asks for. llhttp is a system dependency and is
// never copied into this repository.
//
//   node scripts/find-llhttp.cjs include    -> directory holding llhttp.h
//   node scripts/find-llhttp.cjs sources    -> llhttp C sources to compile
//                                              (one per line; none when a
//                                              shared library is linked)
//   node scripts/find-llhttp.cjs libraries  -> linker flags (or nothing)
//   node scripts/find-llhttp.cjs describe   -> human-readable summary: which
//                                              llhttp, its version, where
//
// Search order:
//   1. $LLHTTP_DIR: any llhttp release tree (include/llhttp.h and
//      src/api.c, src/http.c, src/llhttp.c).
//   2. Debian 12's node-llhttp: C sources in <prefix>/share/llhttp and the
//      header in <prefix>/share/include/llhttp.
//   3. libllhttp-dev (newer distributions): <prefix>/include/llhttp.h and
//      the library: the static archive when there is one (linked with its
//      symbols kept private: the node executable exports an llhttp of its
//      own under the same names), else -lllhttp.
//
// gyp treats any output on stderr as a failure, so this script writes to
// stderr only when it fails, and then exits non-zero with the command that
// installs llhttp.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const kSources = ['api.c', 'http.c', 'llhttp.c'];
const kPrefixes = ['/usr', '/usr/local'];

function isFile(p) {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function fromTree(dir) {
  const include = path.join(dir, 'include');
  const src = path.join(dir, 'src');
  const sources = kSources.map((f) => path.join(src, f));
  if (!isFile(path.join(include, 'llhttp.h')) || !sources.every(isFile)) {
    return null;
  }
  return { kind: `release tree ${dir}`, include, sources, libraries: [] };
}

function fromDebianSources() {
  for (const prefix of kPrefixes) {
    const include = path.join(prefix, 'share', 'include', 'llhttp');
    const srcDir = path.join(prefix, 'share', 'llhttp');
    const sources = kSources.map((f) => path.join(srcDir, f));
    if (isFile(path.join(include, 'llhttp.h')) && sources.every(isFile)) {
      return { kind: 'node-llhttp (C sources)', include, sources, libraries: [] };
    }
  }
  return null;
}

function libDirs(prefix) {
  const dirs = [path.join(prefix, 'lib'), path.join(prefix, 'lib64')];
  try {
    for (const entry of fs.readdirSync(path.join(prefix, 'lib'))) {
      if (/-linux-gnu|-linux-musl/.test(entry)) dirs.push(path.join(prefix, 'lib', entry));
    }
  } catch {
    // no lib directory
  }
  return dirs;
}

function fromSystemLibrary() {
  for (const prefix of kPrefixes) {
    const include = path.join(prefix, 'include');
    if (!isFile(path.join(include, 'llhttp.h'))) continue;
    for (const dir of libDirs(prefix)) {
      const archive = path.join(dir, 'libllhttp.a');
      if (isFile(archive)) {
        return {
          kind: 'libllhttp-dev (static archive)',
          include,
          sources: [],
          libraries: [archive, '-Wl,--exclude-libs,libllhttp.a'],
        };
      }
    }
    return { kind: 'libllhttp-dev (shared library)', include, sources: [], libraries: ['-lllhttp'] };
  }
  return null;
}

function find() {
  const env = process.env.LLHTTP_DIR;
  if (env) {
    const found = fromTree(path.resolve(env));
    if (!found) {
      return {
        error:
          `LLHTTP_DIR=${env} is not an llhttp release tree ` +
          '(expected include/llhttp.h and src/{api,http,llhttp}.c).',
      };
    }
    return found;
  }
  return fromDebianSources() || fromSystemLibrary() || { error: 'llhttp was not found.' };
}

/** Points build/llhttp-src at the directory holding `sources` and returns
 * the sources through that link. */
function linkSources(sources) {
  if (sources.length === 0) return sources;
  const dir = path.dirname(sources[0]);
  const link = path.join(process.cwd(), 'build', 'llhttp-src');
  fs.mkdirSync(path.dirname(link), { recursive: true });
  let current = null;
  try {
    current = fs.readlinkSync(link);
  } catch {
    // no link yet
  }
  if (current !== dir) {
    fs.rmSync(link, { force: true, recursive: true });
    fs.symlinkSync(dir, link);
  }
  return sources.map((f) => path.join(link, path.relative(dir, f)));
}

/** `8.1.0`, from the LLHTTP_VERSION_* macros of llhttp.h. */
function version(include) {
  let text = '';
  try {
    text = fs.readFileSync(path.join(include, 'llhttp.h'), 'utf8');
  } catch {
    return 'of unknown version';
  }
  const part = (name) => (new RegExp(`#define LLHTTP_VERSION_${name} (\\d+)`).exec(text) || [])[1];
  const parts = [part('MAJOR'), part('MINOR'), part('PATCH')];
  return parts.every(Boolean) ? parts.join('.') : 'of unknown version';
}

function main() {
  const what = process.argv[2] || 'describe';
  const found = find();
  if (found.error) {
    process.stderr.write(
      `\ntsgi: ${found.error}\n` +
        'tsgi: the native server needs llhttp. Install it with:\n\n' +
        '    apt-get install -y node-llhttp\n\n' +
        'tsgi: (or libllhttp-dev on newer distributions, or set LLHTTP_DIR to an\n' +
        'tsgi: llhttp release tree), then build again.\n\n',
    );
    process.exit(1);
  }
  switch (what) {
    case 'include':
      process.stdout.write(found.include + '\n');
      break;
    case 'sources': {
      // gyp's make generator puts each object at the path of its source
      // relative to binding.gyp, `..` and all, under the object directory:
      // an absolute path, or a relative one that climbs far enough, lands
      // the object outside build/ (and lets two builds of different
      // architectures overwrite each other's). So the sources are reached
      // through a link inside build/ (build output, like the objects; the
      // sources themselves are not copied), and printed relative to the
      // directory gyp runs this from, the one holding binding.gyp.
      const rel = linkSources(found.sources).map((f) => path.relative(process.cwd(), f));
      process.stdout.write(rel.join('\n') + (rel.length ? '\n' : ''));
      break;
    }
    case 'libraries':
      process.stdout.write(found.libraries.join('\n') + (found.libraries.length ? '\n' : ''));
      break;
    case 'describe':
      process.stdout.write(`${found.kind} ${version(found.include)}: include ${found.include}\n`);
      break;
    default:
      process.stderr.write(`find-llhttp: unknown request "${what}"\n`);
      process.exit(2);
  }
}

main();
