// tsgi.ts: runs `node bin/tsgi.js serve ...` (the supervisor and its
// workers) as a child process for the supervisor's tests: its listening
// lines, its stderr as it comes, signals, and a bounded load client that
// checks every response and counts every failure.
import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const bin = join(root, 'bin', 'tsgi.js');

export interface TsgiExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Tsgi {
  child: ChildProcess;
  /** The URLs of the listening lines, in order. */
  urls: string[];
  /** The port of the first TCP bind (0 when there is none). */
  port: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the stderr text once it matches `re` (rejects after `ms`). */
  waitForLog(re: RegExp, ms?: number): Promise<string>;
  exit: Promise<TsgiExit>;
}

const children = new Set<ChildProcess>();

/** Runs `tsgi <args>` to its end (usage errors and the like). */
export function runTsgi(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<TsgiExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd ?? root, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tsgi ${args.join(' ')} did not exit within ${options.timeoutMs ?? 10_000} ms; stderr: ${stderr}`));
    }, options.timeoutMs ?? 10_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** What scripts/test-asan.mjs sets for the sanitized addon to load. */
const kSanitizerEnv = ['LD_PRELOAD', 'ASAN_OPTIONS', 'UBSAN_OPTIONS', 'TSGI_SANITIZED'];

/**
 * Starts `tsgi serve <args>` and resolves once it printed `lines`
 * listening lines (default: one per --bind, at least one).
 */
export async function startTsgi(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; lines?: number; stdio?: StdioOptions; command?: string[] } = {},
): Promise<Tsgi> {
  const lines = options.lines ?? Math.max(1, args.filter((a) => a === '--bind' || a === '-b').length);
  const env = options.env ?? process.env;
  const command = [...(options.command ?? [])];
  // systemd-socket-activate hands its child only the variables named with
  // -E: under `npm run test:asan` the sanitizer's must reach tsgi too.
  if (command[0] === 'systemd-socket-activate') {
    for (const name of kSanitizerEnv) if (env[name] !== undefined) command.splice(1, 0, '-E', name);
  }
  const argv = [...command, ...(options.command ? [process.execPath] : []), bin, 'serve', ...args];
  const child = spawn(options.command ? argv[0]! : process.execPath, options.command ? argv.slice(1) : argv, {
    cwd: options.cwd ?? root,
    env,
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
    waiters.forEach((w) => w());
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    waiters.forEach((w) => w());
  });
  const exit = new Promise<TsgiExit>((resolve) => {
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
      waiters.forEach((w) => w());
    });
  });
  const urls = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${lines} listening lines within 15 s; stdout: ${stdout}; stderr: ${stderr}`)), 15_000);
    const check = () => {
      const found = [...stdout.matchAll(/^listening on (\S+) \((?:native|node)\)$/gm)].map((m) => m[1]!);
      if (found.length >= lines) {
        clearTimeout(timer);
        resolve(found);
      } else if (child.exitCode !== null || child.signalCode !== null) {
        clearTimeout(timer);
        reject(new Error(`tsgi exited with ${child.exitCode} before listening; stderr: ${stderr}`));
      }
    };
    waiters.push(check);
    check();
  });
  const tcp = urls.find((u) => u.startsWith('http://'));
  return {
    child,
    urls,
    port: tcp ? Number(new URL(tcp).port) : 0,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForLog(re, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`stderr did not match ${re} within ${ms} ms: ${stderr}`)), ms);
        const check = () => {
          if (re.test(stderr)) {
            clearTimeout(timer);
            resolve(stderr);
          }
        };
        waiters.push(check);
        check();
      });
    },
    exit,
  };
}

/** Kills every child still running (afterEach). */
export function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

/** A temporary directory with `files`. */
export function fixtureDir(files: Record<string, string>): { dir: string; write(name: string, text: string): void; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-sup-'));
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
  for (const [name, text] of Object.entries(files)) write(name, text);
  return { dir, write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One GET (a new connection unless `agent` is given). */
export function fetchText(target: { port?: number; socketPath?: string }, path = '/', agent: http.Agent | false = false, timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', ...target, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response to ${path} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export interface LoadStats {
  ok: number;
  /** Failed requests by cause (`ECONNRESET`, `status 502`, `body ...`). */
  failures: Record<string, number>;
  /** The distinct bodies seen. */
  bodies: Set<string>;
}

/**
 * A bounded load: `keepAlive` loops on keep-alive connections and
 * `fresh` loops opening a connection per request, each request after the
 * previous one, until stop(). Every response must be 200 and pass `check`.
 */
export function load(
  target: { port?: number; socketPath?: string },
  options: { keepAlive?: number; fresh?: number; path?: string; check?: (body: string) => boolean } = {},
): { stop(): Promise<LoadStats>; stats: LoadStats } {
  const stats: LoadStats = { ok: 0, failures: {}, bodies: new Set() };
  let running = true;
  const fail = (why: string) => (stats.failures[why] = (stats.failures[why] ?? 0) + 1);
  const loop = async (agent: http.Agent | false) => {
    while (running) {
      try {
        const r = await fetchText(target, options.path ?? '/', agent);
        if (r.status !== 200) fail(`status ${r.status}`);
        else if (options.check && !options.check(r.body)) fail(`body ${JSON.stringify(r.body.slice(0, 40))}`);
        else {
          stats.ok++;
          stats.bodies.add(r.body);
        }
      } catch (err) {
        fail((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      }
    }
    if (agent) agent.destroy();
  };
  const loops = [
    ...Array.from({ length: options.keepAlive ?? 4 }, () => loop(new http.Agent({ keepAlive: true, maxSockets: 1 }))),
    ...Array.from({ length: options.fresh ?? 2 }, () => loop(false)),
  ];
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(loops);
      return stats;
    },
  };
}

/** Whether Debian's systemd-socket-activate (package systemd) is here. */
export const hasSocketActivate = (() => {
  try {
    execFileSync('systemd-socket-activate', ['--help'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `test` every 50 ms until it is true; throws after `ms`. */
export async function until(what: string, test: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await test()) return;
    await sleep(50);
  }
  throw new Error(`${what}: not within ${ms} ms`);
}
