// cli.ts: runs `node bin/tsgi.js serve ...` as a child process for tests
// that need the real command (flags, signals, exit codes): fixtures are
// written to a temporary directory, children are killed after each test.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: a plain .mjs script without types (typed below)
import { startServer } from '../../scripts/lib/server-process.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin', 'tsgi.js');

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** What scripts/lib/server-process.mjs's startServer() resolves (the part used here). */
interface ServerProcess {
  child: ChildProcess;
  line: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

export interface CliServer {
  child: ChildProcess;
  port: number;
  kind: string;
  /** Resolves when the process has exited. */
  exit: Promise<CliExit>;
  /** Everything the process wrote so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves once `pred` holds for what was written on `stream` (checked
   * on each write); rejects after `timeoutMs` or when the process exits. */
  waitOutput(stream: 'stdout' | 'stderr', pred: (text: string) => boolean, timeoutMs?: number): Promise<string>;
}

const children = new Set<ChildProcess>();

/** Throws unless `tsc` has built dist/ (the command runs from there). */
export function requireBuild(): void {
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/cli/main.js is missing: build with `npx tsc -p tsconfig.json` (npm test does)');
  }
}

/** Writes `files` (name -> source) to a new temporary directory. */
export function writeFixtures(files: Record<string, string>): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-hardening-'));
  for (const [name, source] of Object.entries(files)) writeFileSync(join(dir, name), source);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts `tsgi serve <args>` in `cwd` (with `env`, process.env by
 * default) and resolves once it listens; its first line must be the
 * listening line. */
export async function startCli(args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<CliServer> {
  const srv = (await startServer(process.execPath, [bin, 'serve', ...args], {
    cwd,
    env,
    timeoutMs: 10_000,
    keepChars: Infinity,
  })) as ServerProcess;
  children.add(srv.child);
  let exited = false;
  const exit = srv.exit.then((e) => {
    exited = true;
    children.delete(srv.child);
    return { ...e, stderr: srv.stderr() };
  });
  const m = /^listening on http:\/\/127\.0\.0\.1:(\d+) \((native|node)\)$/.exec(srv.line);
  if (!m || !srv.stdout().startsWith(`${srv.line}\n`)) {
    throw new Error(`unexpected first line ${JSON.stringify(srv.stdout().split('\n')[0])}`);
  }
  const waitOutput = (stream: 'stdout' | 'stderr', pred: (text: string) => boolean, timeoutMs = 5_000) =>
    new Promise<string>((resolve, reject) => {
      const text = stream === 'stdout' ? srv.stdout : srv.stderr;
      const pipe = stream === 'stdout' ? srv.child.stdout! : srv.child.stderr!;
      const check = () => {
        if (!pred(text())) return false;
        clearTimeout(timer);
        pipe.off('data', onData);
        resolve(text());
        return true;
      };
      // After startServer's own listener has appended the chunk.
      const onData = () => void setImmediate(check);
      const timer = setTimeout(() => {
        pipe.off('data', onData);
        reject(new Error(`timed out after ${timeoutMs} ms waiting on ${stream}; it holds ${JSON.stringify(text())}`));
      }, timeoutMs);
      if (check()) return;
      if (exited) {
        clearTimeout(timer);
        reject(new Error(`tsgi has exited; ${stream} holds ${JSON.stringify(text())}`));
        return;
      }
      pipe.on('data', onData);
    });
  return { child: srv.child, port: Number(m[1]), kind: m[2]!, exit, stdout: srv.stdout, stderr: srv.stderr, waitOutput };
}

/** Kills every child still running (after each test). */
export function killAllCli(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

/** A line of the error log: `[2024-05-01 10:00:00 +0000] [pid] [LEVEL] message`. */
const kLogEvent = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] (.*)$/;

export interface LogEvent {
  pid: number;
  level: string;
  message: string;
}

/** Splits error-log text into its events and the other lines (what the
 * application wrote to tsgi.errors, or anything else). */
export function logEvents(text: string): { events: LogEvent[]; other: string[] } {
  const events: LogEvent[] = [];
  const other: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = kLogEvent.exec(line);
    if (m) events.push({ pid: Number(m[1]), level: m[2]!, message: m[3]! });
    else other.push(line);
  }
  return { events, other };
}

/** The messages of a stderr that holds nothing but INFO events; throws
 * (naming the line) otherwise. */
export function infoOnly(stderr: string): string[] {
  const { events, other } = logEvents(stderr);
  const bad = [...other, ...events.filter((e) => e.level !== 'INFO').map((e) => `[${e.level}] ${e.message}`)];
  if (bad.length > 0) throw new Error(`stderr has more than INFO events: ${JSON.stringify(bad)}`);
  return events.map((e) => e.message);
}

/** Error-log messages with what varies from run to run (thread ids, how
 * long a worker ran) written as `N` and `T`. */
export function steady(messages: string[]): string[] {
  return messages.map((m) => m.replace(/\(thread \d+/g, '(thread N').replace(/after \d+(?:\.\d+)? s\)/g, 'after T s)'));
}

/** The INFO events of `tsgi serve` with one worker, from its start to a
 * stop by `signal`, as steady() writes them. */
export function oneWorkerLife(port: number, kind: string, signal = 'SIGTERM'): string[] {
  return [
    'worker 1 starting (thread N)',
    `worker 1 ready (thread N, ${kind})`,
    `listening on http://127.0.0.1:${port} (${kind})`,
    `${signal}: stopping`,
    'worker 1 exited (thread N, after T s): stopped',
  ];
}
