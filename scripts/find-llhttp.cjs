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
//   node scripts/find-llhttp.cjs describe   -> human-readable summary
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
      // gyp's make generator mis-handles absolute source paths (object
      // files land outside the build tree): print them relative to the
      // directory gyp runs this from, the one holding binding.gyp.
      const rel = found.sources.map((f) => path.relative(process.cwd(), f));
      process.stdout.write(rel.join('\n') + (rel.length ? '\n' : ''));
      break;
    }
    case 'libraries':
      process.stdout.write(found.libraries.join('\n') + (found.libraries.length ? '\n' : ''));
      break;
    case 'describe':
      process.stdout.write(`${found.kind}: include ${found.include}\n`);
      break;
    default:
      process.stderr.write(`find-llhttp: unknown request "${what}"\n`);
      process.exit(2);
  }
}

main();
