// config.test.ts: where `tsgi serve` takes its settings from (src/config/):
// flag > environment variable > config file > default, shown by
// --print-config, checked by --check-config, and every bad value refused
// with the setting, its source and what is accepted (exit 2). Real
// processes in temporary directories.
import { spawn } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../src/settings.js';
import { buildRequest, request } from './helpers/http.js';
import { killAllCli, requireBuild, startCli, writeFixtures } from './helpers/cli.js';

const bin = fileURLToPath(new URL('../bin/tsgi.js', import.meta.url));
const hello = `export default (e, s) => { s('200 OK', []); return ['hi']; };\n`;

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tsgi serve <args>` in `cwd` with `env` on top of a clean TSGI_*
 * environment, to its exit. */
function serve(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Exit> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSGI_')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'serve', ...args], { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tsgi serve ${args.join(' ')} did not exit; stderr: ${stderr}`));
    }, 10_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** --print-config as key -> [value, source]. */
function printed(stdout: string): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  for (const line of stdout.split('\n')) {
    const m = /^(\w+)\s+(.*?)  \((.*)\)$/.exec(line);
    if (m) out.set(m[1]!, [m[2]!, m[3]!]);
  }
  return out;
}

let n = 0;
/** A fresh directory with the app and the given files. */
function dirWith(files: Record<string, string> = {}): string {
  const dir = join(fixtures.dir, `case-${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'app.mjs'), hello);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

let fixtures: { dir: string; remove: () => void };
beforeAll(() => {
  requireBuild();
  fixtures = writeFixtures({});
});
afterAll(() => fixtures.remove());
afterEach(() => killAllCli());

describe('settings precedence', () => {
  it('flag > environment > config file > default, each value shown with its source', async () => {
    const dir = dirWith({
      'tsgi.config.json': JSON.stringify({ maxUrlSize: 1000, maxHeaderSize: '2k', keepAliveTimeout: 7, accessLog: 'from-file.log', bind: '127.0.0.1:0' }),
    });
    const exit = await serve(['app.mjs', '--print-config', '--max-url-size', '3000'], dir, { TSGI_MAX_URL_SIZE: '2000', TSGI_MAX_HEADER_SIZE: '4k' });
    expect(exit.code).toBe(0);
    const p = printed(exit.stdout);
    const file = join(dir, 'tsgi.config.json');
    expect(p.get('maxUrlSize')).toEqual(['3000', 'flag --max-url-size']);
    expect(p.get('maxHeaderSize')).toEqual(['4096', 'environment TSGI_MAX_HEADER_SIZE']);
    expect(p.get('keepAliveTimeout')).toEqual(['7', `file ${file}`]);
    expect(p.get('accessLog')).toEqual(['"from-file.log"', `file ${file}`]);
    expect(p.get('bind')).toEqual(['"127.0.0.1:0"', `file ${file}`]);
    expect(p.get('requestTimeout')).toEqual(['300', 'default']);
    // Every setting is listed.
    expect([...p.keys()]).toEqual(SETTINGS.map((s) => s.key));
    expect(exit.stdout).toContain(`# config file: ${file}`);
  });

  it('serves with what the sources say: a limit from the file, the bind from the environment, a flag over both', async () => {
    const dir = dirWith({ 'tsgi.config.mjs': `export default { maxUrlSize: 64, server: 'node', bind: ['127.0.0.1:1'] };\n` });
    const s = await startCli(['app.mjs', '--server', 'native'], dir, { ...process.env, TSGI_BIND: '127.0.0.1:0' });
    expect(s.kind).toBe('native');
    const long = await request(s.port, buildRequest('GET', `/${'a'.repeat(100)}`));
    expect(long.responses[0]!.status).toBe(414);
    const short = await request(s.port, buildRequest('GET', '/a'));
    expect(short.responses[0]!.status).toBe(200);
    s.child.kill('SIGTERM');
    expect((await s.exit).code).toBe(0);
  });

  it('takes the config file named by --config, relative to the working directory', async () => {
    const dir = dirWith({ 'other.json': JSON.stringify({ logLevel: 'error' }), 'tsgi.config.json': JSON.stringify({ logLevel: 'debug' }) });
    const exit = await serve(['app.mjs', '--print-config', '--config', 'other.json'], dir);
    expect(printed(exit.stdout).get('logLevel')).toEqual(['"error"', `file ${join(dir, 'other.json')}`]);
  });

  it('--check-config loads the application and the settings: 0 when both are good, 2 otherwise', async () => {
    const good = dirWith({ 'tsgi.config.json': JSON.stringify({ accessLog: 'access.log' }) });
    const ok = await serve(['app.mjs', '--check-config'], good);
    expect(ok).toEqual({ code: 0, stderr: '', stdout: `tsgi: "app.mjs" loads and its settings are valid (config file ${join(good, 'tsgi.config.json')})\n` });
    const noApp = await serve(['missing.mjs', '--check-config'], good);
    expect(noApp).toMatchObject({ code: 2, stdout: '', stderr: 'tsgi: cannot find module file "missing.mjs"\n' });
    const badLog = dirWith({ 'tsgi.config.json': JSON.stringify({ accessLog: '/nonexistent-dir/access.log' }) });
    const bad = await serve(['app.mjs', '--check-config'], badLog);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`tsgi: error: accessLog (file ${join(badLog, 'tsgi.config.json')}) cannot be written: "/nonexistent-dir/access.log": ENOENT; it must be a file path, or - for stdout\n`);
  });
});

describe('bad values exit 2, naming the setting, the source and what is accepted', () => {
  const cases: [string, string[], Record<string, string>, Record<string, string>, (dir: string) => string][] = [
    ['a flag out of range', ['--max-url-size', '0'], {}, {}, () => "tsgi: error: option '--max-url-size' must be a whole number of bytes from 1 to 64 MiB, got \"0\""],
    ['a flag that is not a number', ['--headers-timeout', 'soon'], {}, {}, () => "tsgi: error: option '--headers-timeout' must be a number of seconds (e.g. 30, 0.5), got \"soon\""],
    ['a bad choice by flag', ['--log-level', 'loud'], {}, {}, () => 'tsgi: error: option \'--log-level\' must be "debug" or "info" or "warning" or "error" or "critical", got "loud"'],
    ['a bad --proxy-protocol', ['--proxy-protocol', 'v3'], {}, {}, () => 'tsgi: error: option \'--proxy-protocol\' must be "off" or "v1" or "v2" or "auto", got "v3"'],
    ['a bad --stats-bind', ['--stats-bind', 'here'], {}, {}, () => 'tsgi: error: option \'--stats-bind\' must be HOST:PORT, [IPv6]:PORT or unix:PATH, got "here"'],
    ['a bad variable', [], { TSGI_MAX_BODY_SIZE: '12x' }, {}, () => 'tsgi: error: environment variable TSGI_MAX_BODY_SIZE must be a whole number, with k, M or G for sizes (e.g. 16384, 16k, 16M), got "12x"'],
    ['a variable out of range', [], { TSGI_KEEP_ALIVE_TIMEOUT: '100000' }, {}, () => 'tsgi: error: environment variable TSGI_KEEP_ALIVE_TIMEOUT must be a number of seconds from 0 to 86400, got "100000"'],
    ['a bad list in a variable', [], { TSGI_FORWARDED_ALLOW_IPS: '10.0.0.1, nope' }, {}, () => 'tsgi: error: environment variable TSGI_FORWARDED_ALLOW_IPS must be a list of IP addresses and CIDR ranges (IPv4, IPv6), or *: "nope" is not one, got "10.0.0.1, nope"'],
    ['a bad bind in a variable', [], { TSGI_BIND: '::1:80' }, {}, () => 'tsgi: error: environment variable TSGI_BIND must be HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N, got "::1:80"'],
    ['a bad format in a variable', [], { TSGI_ACCESS_LOG_FORMAT: '%(h' }, {}, () => 'tsgi: error: environment variable TSGI_ACCESS_LOG_FORMAT has "%(" at 0 without its ")" (gunicorn\'s %(atom)s format, or json), got "%(h"'],
    ['a value of the wrong type in the file', [], {}, { 'tsgi.config.json': JSON.stringify({ maxHeaderCount: true }) }, (d) => `tsgi: error: maxHeaderCount in ${join(d, 'tsgi.config.json')} must be a whole number from 1 to 65536, got true`],
    ['a string that is no size in the file', [], {}, { 'tsgi.config.json': JSON.stringify({ maxBodySize: 'big' }) }, (d) => `tsgi: error: maxBodySize in ${join(d, 'tsgi.config.json')} must be a whole number of bytes from 1 to 2^53 - 1, got "big"`],
    ['a bad list in the file', [], {}, { 'tsgi.config.mjs': 'export default { bind: ["127.0.0.1:0", 8000] };\n' }, (d) => `tsgi: error: bind in ${join(d, 'tsgi.config.mjs')} must be a string or a list of strings, got ["127.0.0.1:0",8000]`],
    ['an unknown key in the file', [], {}, { 'tsgi.config.json': JSON.stringify({ maxUrlSzie: 1 }) }, (d) => `tsgi: error: "maxUrlSzie" in ${join(d, 'tsgi.config.json')} is not a setting (did you mean maxUrlSize?); the settings are listed by tsgi serve --help and in the README`],
    ['a file that is not JSON', [], {}, { 'tsgi.config.json': '{ maxUrlSize: 1 }' }, (d) => `tsgi: error: cannot read the config file ${join(d, 'tsgi.config.json')}: Expected property name or '}' in JSON at position 2`],
    ['a file that holds no object', [], {}, { 'tsgi.config.json': '[1]' }, (d) => `tsgi: error: the config file ${join(d, 'tsgi.config.json')} must hold an object of settings, got an array`],
    ['a module that does not import', [], {}, { 'tsgi.config.mjs': 'export default {' }, (d) => `tsgi: error: cannot import the config file ${join(d, 'tsgi.config.mjs')}: SyntaxError: Unexpected end of input`],
    ['a module without a default export', [], {}, { 'tsgi.config.mjs': 'export const x = 1;\n' }, (d) => `tsgi: error: the config file ${join(d, 'tsgi.config.mjs')} must export by default an object of settings, got undefined`],
    ['two config files', [], {}, { 'tsgi.config.json': '{}', 'tsgi.config.mjs': 'export default {};\n' }, (d) => `tsgi: error: both tsgi.config.mjs and tsgi.config.json are in ${d}: keep one, or name one with --config`],
    ['a missing --config', ['--config', 'nope.json'], {}, {}, () => 'tsgi: error: option \'--config\' names "nope.json", which does not exist'],
    ['a --config of another kind', ['--config', 'app.mjs.txt'], {}, { 'app.mjs.txt': '{}' }, (d) => `tsgi: error: the config file ${join(d, 'app.mjs.txt')} must be .mjs, .js, .cjs or .json`],
    ['an error log that cannot be written', ['--error-log', '/nonexistent-dir/e.log'], {}, {}, () => 'tsgi: error: errorLog (flag --error-log) cannot be written: "/nonexistent-dir/e.log": ENOENT; it must be a file path, or - for stderr'],
  ];
  for (const [what, args, env, files, message] of cases) {
    it(`for ${what}`, async () => {
      const dir = dirWith(files);
      const exit = await serve(['app.mjs', ...args], dir, env);
      expect(exit.code).toBe(2);
      expect(exit.stdout).toBe('');
      expect(exit.stderr).toBe(`${message(dir)}\n`);
    });
  }
});
