// The `tsgi` command, run as a user runs it: `node bin/tsgi.js ...` in a
// child process (against dist/, so `npm test` builds first), over real
// sockets on 127.0.0.1.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative, unavailableMessage } from '../src/native/loader.js';
import { formatDefault, SETTINGS } from '../src/settings.js';
import { infoOnly, logEvents, oneWorkerLife, steady } from './helpers/cli.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'tsgi.js');
const examples = join(root, 'examples');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const native = loadNative();
const nativeMissing = !native.ok;
const TIMEOUT = 15_000;

let fixtures: string;
const children = new Set<ChildProcess>();

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/cli/main.js is missing: build with `npx tsc -p tsconfig.json` (npm test does)');
  }
  fixtures = mkdtempSync(join(tmpdir(), 'tsgi-cli-'));
  const files: Record<string, string> = {
    'named.mjs': `export const app = (e, s) => { s('200 OK', []); return ['named app']; };
export function other(e, s) { s('200 OK', []); return ['other export']; }
export const notApp = 42;\n`,
    'application.mjs': `export function application(e, s) { s('200 OK', []); return ['application']; }\n`,
    'module-exports.cjs': `module.exports = function (e, s) { s('200 OK', []); return ['cjs default']; };\n`,
    'exports-app.cjs': `exports.app = function (e, s) { s('200 OK', []); return ['cjs app']; };\n`,
    'no-app.mjs': `export const answer = 42;\n`,
    'default-object.mjs': `export default { hello: 'world' };\n`,
    'syntax-error.mjs': `export default function (\n`,
    'throws.mjs': `throw new RangeError('refusing to load');\n`,
    'slow.mjs': `export default async (e, s) => {
  await new Promise((resolve) => setTimeout(resolve, 400));
  s('200 OK', [['Content-Type', 'text/plain']]);
  return ['slow done\\n'];
};\n`,
    'stream.mjs': `export default (e, s) => {
  s('200 OK', [['Content-Type', 'text/plain']]);
  return (async function* () {
    yield 'first\\n';
    await new Promise((resolve) => setTimeout(resolve, 400));
    yield 'second\\n';
  })();
};\n`,
    'hang.mjs': `export default (e, s) => {
  s('200 OK', [['Content-Type', 'text/plain']]);
  return (async function* () {
    yield 'started\\n';
    // Waits forever on something that keeps the event loop alive, like an
    // application waiting on a database that never answers.
    await new Promise(() => setInterval(() => {}, 1000));
  })();
};\n`,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(fixtures, name), text);
});

afterAll(() => {
  if (fixtures) rmSync(fixtures, { recursive: true, force: true });
});

afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function launch(args: string[], cwd = root): { child: ChildProcess; exit: Promise<Exit> } {
  const child = spawn(process.execPath, [bin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exit = new Promise<Exit>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tsgi ${args.join(' ')} did not exit within 10 s; stderr: ${stderr}`));
    }, 10_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  // Attach a handler now so a timeout is reported where it is awaited.
  exit.catch(() => {});
  return { child, exit };
}

/** Runs tsgi to completion. */
function run(args: string[], cwd = root): Promise<Exit> {
  return launch(args, cwd).exit;
}

/** Starts `tsgi serve ...` and resolves with the listening line. */
async function start(args: string[], cwd = root) {
  const { child, exit } = launch(['serve', ...args], cwd);
  const line = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`no listening line within 10 s (stdout: ${JSON.stringify(buffered)})`)), 10_000);
    child.stdout!.on('data', (s: string) => {
      buffered += s;
      if (buffered.includes('\n')) {
        clearTimeout(timer);
        resolve(buffered.slice(0, buffered.indexOf('\n') + 1));
      }
    });
    void exit.then((e) => {
      clearTimeout(timer);
      reject(new Error(`tsgi exited with ${e.code} before listening; stderr: ${e.stderr}`));
    }, reject);
  });
  const m = /^listening on http:\/\/127\.0\.0\.1:(\d+) \((native|node)\)\n$/.exec(line);
  if (!m) throw new Error(`unexpected listening line ${JSON.stringify(line)}`);
  return { child, exit, line, port: Number(m[1]), kind: m[2] };
}

/** One GET over a fresh connection to 127.0.0.1. */
function get(port: number, path = '/', headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

function expectOneLine(stderr: string, text: string | RegExp): void {
  expect(stderr.endsWith('\n')).toBe(true);
  expect(stderr.split('\n')).toHaveLength(2);
  if (typeof text === 'string') expect(stderr).toBe(`${text}\n`);
  else expect(stderr.trimEnd()).toMatch(text);
}

describe('tsgi --version', () => {
  const node = `Node.js ${process.version} provides ${process.versions.napi}`;
  const expected = native.ok
    ? `tsgi ${version}\nNode-API ${native.binding.napiVersion} (${node})\nllhttp ${native.binding.llhttpVersion}\nbinary ${native.path} (${native.source})\n`
    : `tsgi ${version}\nNode-API none (${node})\nllhttp none\nbinary none: ${unavailableMessage(native)}\n`;
  for (const flag of ['--version', '-V']) {
    it(`prints the tsgi, Node-API and llhttp versions and the binary's path for ${flag}`, { timeout: TIMEOUT }, async () => {
      const result = await run([flag]);
      expect(result).toEqual({ code: 0, signal: null, stdout: expected, stderr: '' });
    });
  }
});

describe('tsgi serve', () => {
  for (const server of ['node', 'native'] as const) {
    it.skipIf(server === 'native' && nativeMissing)(
      `serves examples/hello.mjs with --server ${server} and stops on SIGTERM`,
      { timeout: TIMEOUT },
      async () => {
        const s = await start(['examples/hello.mjs', '--bind', '127.0.0.1:0', '--server', server]);
        expect(s.kind).toBe(server);
        expect(s.port).toBeGreaterThan(0);
        const res = await get(s.port);
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
        expect(res.body).toBe('Hello, World!\n');
        s.child.kill('SIGTERM');
        const exit = await s.exit;
        expect({ ...exit, stderr: '' }).toEqual({ code: 0, signal: null, stdout: s.line, stderr: '' });
        // The error log (stderr by default): what happened, nothing else.
        expect(steady(infoOnly(exit.stderr))).toEqual(oneWorkerLife(s.port, server));
      },
    );
  }

  it('uses the native server by default, or node when the addon does not load', { timeout: TIMEOUT }, async () => {
    const s = await start(['examples/hello.mjs', '--bind', '127.0.0.1:0']);
    expect(s.kind).toBe(nativeMissing ? 'node' : 'native');
    expect((await get(s.port)).body).toBe('Hello, World!\n');
    s.child.kill('SIGINT');
    expect((await s.exit).code).toBe(0);
  });

  it('exits 0 on SIGINT', { timeout: TIMEOUT }, async () => {
    const s = await start(['examples/hello.mjs', '--bind', '127.0.0.1:0', '--server', 'node']);
    s.child.kill('SIGINT');
    const exit = await s.exit;
    expect(exit.code).toBe(0);
    expect(steady(infoOnly(exit.stderr))).toEqual(oneWorkerLife(s.port, 'node', 'SIGINT'));
  });

  for (const server of ['node', 'native'] as const) {
    it.skipIf(server === 'native' && nativeMissing)(`lets a request in flight finish before exiting on SIGTERM (${server})`, { timeout: TIMEOUT }, async () => {
      const s = await start(['slow.mjs', '--bind', '127.0.0.1:0', '--server', server], fixtures);
      const pending = get(s.port);
      await new Promise((resolve) => setTimeout(resolve, 150));
      s.child.kill('SIGTERM');
      const res = await pending;
      expect(res.body).toBe('slow done\n');
      expect((await s.exit).code).toBe(0);
    });

    it.skipIf(server === 'native' && nativeMissing)(`lets a streaming response in flight finish on SIGTERM (${server})`, { timeout: TIMEOUT }, async () => {
      const s = await start(['stream.mjs', '--bind', '127.0.0.1:0', '--server', server], fixtures);
      const received = new Promise<{ body: string; complete: boolean }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: s.port, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            // SIGTERM once the first chunk is here: the response is in flight.
            if (body === '') s.child.kill('SIGTERM');
            body += chunk;
          });
          res.on('end', () => resolve({ body, complete: res.complete }));
          res.on('error', () => resolve({ body, complete: false }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(await received).toEqual({ body: 'first\nsecond\n', complete: true });
      expect((await s.exit).code).toBe(0);
    });

    it.skipIf(server === 'native' && nativeMissing)(`exits at once on a second signal while a response hangs (${server})`, { timeout: TIMEOUT }, async () => {
      const s = await start(['hang.mjs', '--bind', '127.0.0.1:0', '--server', server], fixtures);
      const pending = new Promise<void>((resolve) => {
        const req = request({ host: '127.0.0.1', port: s.port, agent: false }, (res) => {
          res.once('data', () => resolve());
          res.on('error', () => {});
        });
        req.on('error', () => {});
        req.end();
      });
      await pending;
      s.child.kill('SIGTERM');
      // The graceful close waits for the hanging response: still running.
      const early = await Promise.race([s.exit, new Promise((resolve) => setTimeout(() => resolve('running'), 300))]);
      expect(early, 'server.close() must wait for the response in flight').toBe('running');
      s.child.kill('SIGTERM');
      const exit = await s.exit;
      expect(exit.code).toBe(0);
      const { events, other } = logEvents(exit.stderr);
      expect(other).toEqual([]);
      expect(steady(events.map((e) => `${e.level} ${e.message}`))).toEqual([
        ...oneWorkerLife(s.port, server).slice(0, 4).map((m) => `INFO ${m}`),
        'WARNING SIGTERM again, exiting without waiting for open connections',
      ]);
    });
  }

  it('runs the middleware example: logging around a Role router', { timeout: TIMEOUT }, async () => {
    const s = await start(['examples/middleware.mjs', '--bind', '127.0.0.1:0']);
    expect((await get(s.port, '/users')).body).toBe('Hello, user.\n');
    expect((await get(s.port, '/admin', { Role: 'ADMIN' })).body).toBe('Hello, administrator.\n');
    expect((await get(s.port, '/admin', { Role: 'admin' })).body).toBe('Hello, user.\n');
    s.child.kill('SIGTERM');
    const exit = await s.exit;
    expect(exit.code).toBe(0);
    // What the application wrote to tsgi.errors reaches the error log as
    // it was written, between the server's events.
    const log = logEvents(exit.stderr).other;
    expect(log).toHaveLength(3);
    expect(log[0]).toMatch(/^GET \/users 200 \d+\.\d\dms$/);
    expect(log[1]).toMatch(/^GET \/admin 200 \d+\.\d\dms$/);
    expect(log[2]).toMatch(/^GET \/admin 200 \d+\.\d\dms$/);
  });

  it('runs the environ example', { timeout: TIMEOUT }, async () => {
    const s = await start([join(examples, 'environ.mjs'), '--bind', '127.0.0.1:0']);
    const res = await get(s.port, '/a/b?x=1', { 'X-Demo': 'yes' });
    const lines = res.body.split('\n');
    expect(lines).toContain("PATH_INFO = '/a/b'");
    expect(lines).toContain("QUERY_STRING = 'x=1'");
    expect(lines).toContain("HTTP_X_DEMO = 'yes'");
    expect(lines).toContain('tsgi.version = [ 1, 0 ]');
    const keys = lines.filter((l) => l.includes(' = ')).map((l) => l.slice(0, l.indexOf(' = ')));
    expect(keys).toEqual([...keys].sort());
    s.child.kill('SIGTERM');
    expect((await s.exit).code).toBe(0);
  });

  const pick: [string, string][] = [
    ['named.mjs', 'named app'],
    ['named.mjs:other', 'other export'],
    ['application.mjs', 'application'],
    ['module-exports.cjs', 'cjs default'],
    ['exports-app.cjs', 'cjs app'],
    ['exports-app.cjs:app', 'cjs app'],
  ];
  for (const [target, body] of pick) {
    it(`finds the application in ${target}`, { timeout: TIMEOUT }, async () => {
      const s = await start([target, '--bind', '127.0.0.1:0', '--server', 'node'], fixtures);
      expect((await get(s.port)).body).toBe(body);
      s.child.kill('SIGTERM');
      expect((await s.exit).code).toBe(0);
    });
  }
});

describe('tsgi usage errors exit 2 with one line on stderr', () => {
  const cases: [string, string[], string | RegExp][] = [
    ['an unknown flag', ['serve', 'examples/hello.mjs', '--bogus'], "tsgi: error: unknown option '--bogus'"],
    ['a misspelt flag', ['serve', 'examples/hello.mjs', '--bnd', '1'], "tsgi: error: unknown option '--bnd' (Did you mean --bind?)"],
    ['an unknown command', ['run', 'x'], "tsgi: error: unknown command 'run'"],
    ['a missing module argument', ['serve'], "tsgi: error: missing required argument 'module'"],
    ['an extra argument', ['serve', 'examples/hello.mjs', 'more'], /^tsgi: error: too many arguments for 'serve'/],
    ['a --bind without port', ['serve', 'examples/hello.mjs', '--bind', '127.0.0.1'], 'tsgi: error: option \'--bind\' must be HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N, got "127.0.0.1"'],
    ['a --bind without host', ['serve', 'examples/hello.mjs', '--bind', ':8000'], 'tsgi: error: option \'--bind\' must be HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N, got ":8000"'],
    ['a --bind with a bad port', ['serve', 'examples/hello.mjs', '--bind', '127.0.0.1:http'], 'tsgi: error: option \'--bind\' must be HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N, got "127.0.0.1:http"'],
    ['a --bind port above 65535', ['serve', 'examples/hello.mjs', '--bind', '127.0.0.1:65536'], 'tsgi: error: option \'--bind\' port must be 0-65535, got "127.0.0.1:65536"'],
    ['an unbracketed IPv6 --bind', ['serve', 'examples/hello.mjs', '--bind', '::1:80'], 'tsgi: error: option \'--bind\' must be HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N, got "::1:80"'],
    ['an invalid --server', ['serve', 'examples/hello.mjs', '--server', 'x'], 'tsgi: error: option \'--server\' must be "native" or "node", got "x"'],
    ['a missing module file', ['serve', 'nope.mjs'], 'tsgi: cannot find module file "nope.mjs"'],
    ['a directory as module', ['serve', 'examples'], 'tsgi: module "examples" is not a file'],
    ['a missing export', ['serve', 'examples/hello.mjs:foo'], 'tsgi: "examples/hello.mjs" has no export "foo"'],
  ];
  for (const [what, args, message] of cases) {
    it(`for ${what}`, { timeout: TIMEOUT }, async () => {
      const exit = await run(args);
      expect(exit.code).toBe(2);
      expect(exit.stdout).toBe('');
      expectOneLine(exit.stderr, message);
    });
  }

  const fixtureCases: [string, string[], string][] = [
    ['a module with a syntax error', ['serve', 'syntax-error.mjs'], 'tsgi: cannot import "syntax-error.mjs": SyntaxError: Unexpected end of input'],
    ['a module that throws', ['serve', 'throws.mjs'], 'tsgi: cannot import "throws.mjs": RangeError: refusing to load'],
    ['a non-function export', ['serve', 'named.mjs:notApp'], 'tsgi: export "notApp" of "named.mjs" is not a function, got number'],
    ['a non-function default export', ['serve', 'default-object.mjs'], 'tsgi: export "default" of "default-object.mjs" is not a function, got an object'],
    ['a module without an application', ['serve', 'no-app.mjs'], 'tsgi: "no-app.mjs" has no default export, "app" or "application" export'],
  ];
  for (const [what, args, message] of fixtureCases) {
    it(`for ${what}`, { timeout: TIMEOUT }, async () => {
      const exit = await run(args, fixtures);
      expect(exit.code).toBe(2);
      expect(exit.stdout).toBe('');
      expectOneLine(exit.stderr, message);
    });
  }

  it('without a command (help on stderr)', { timeout: TIMEOUT }, async () => {
    const exit = await run([]);
    expect(exit.code).toBe(2);
    expect(exit.stdout).toBe('');
    expect(exit.stderr).toMatch(/^Usage: tsgi /);
  });

  it('prints help on stdout with --help and exits 0', { timeout: TIMEOUT }, async () => {
    const exit = await run(['serve', '--help']);
    expect(exit.code).toBe(0);
    expect(exit.stdout).toMatch(/^Usage: tsgi serve \[options\] <module>/);
    expect(exit.stdout).toContain('--bind <address>');
    // Every flag of the settings table, with the table's default.
    const help = exit.stdout.replace(/\s+/g, ' ');
    for (const s of SETTINGS.filter((x) => x.flag !== null)) {
      expect(help).toContain(s.flag!);
      expect(help).toContain(`(default ${formatDefault(s)}; ${s.env})`);
    }
    expect(exit.stderr).toBe('');
  });
});

describe('tsgi runtime errors exit 1', () => {
  let blocker: NetServer | undefined;
  afterEach(() => {
    blocker?.close();
    blocker = undefined;
  });

  it('when the port is taken', { timeout: TIMEOUT }, async () => {
    blocker = createServer();
    const port = await new Promise<number>((resolve) => {
      blocker!.listen(0, '127.0.0.1', () => resolve((blocker!.address() as { port: number }).port));
    });
    const exit = await run(['serve', 'examples/hello.mjs', '--bind', `127.0.0.1:${port}`, '--server', 'node']);
    expect(exit.code).toBe(1);
    expect(exit.stdout).toBe('');
    expectOneLine(exit.stderr, new RegExp(`^tsgi: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE \\(address already in use\\)$`));
  });

  it.skipIf(!nativeMissing)('when --server native is asked for and the addon does not load', { timeout: TIMEOUT }, async () => {
    const exit = await run(['serve', 'examples/hello.mjs', '--bind', '127.0.0.1:0', '--server', 'native']);
    expect(exit.code).toBe(1);
    expectOneLine(exit.stderr, /^tsgi: cannot serve on 127\.0\.0\.1:0: .*native server is not available/);
  });
});
