// cli.ts: runs `node bin/tsgi.js serve ...` as a child process for tests
// that need the real command (flags, signals, exit codes): fixtures are
// written to a temporary directory, children are killed after each test.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin', 'tsgi.js');

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
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

/** Starts `tsgi serve <args>` in `cwd` and resolves once it listens. */
export async function startCli(args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<CliServer> {
  const child = spawn(process.execPath, [bin, 'serve', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exit = new Promise<CliExit>((resolve) => {
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stderr });
    });
  });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line within 10 s; stderr: ${stderr}`)), 10_000);
    const check = () => {
      const nl = stdout.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(stdout.slice(0, nl));
      }
    };
    child.stdout!.on('data', check);
    void exit.then((e) => {
      clearTimeout(timer);
      reject(new Error(`tsgi exited with ${e.code} before listening; stderr: ${e.stderr}`));
    });
  });
  const m = /^listening on http:\/\/127\.0\.0\.1:(\d+) \((native|node)\)$/.exec(line);
  if (!m) throw new Error(`unexpected listening line ${JSON.stringify(line)}`);
  let exited = false;
  void exit.then(() => (exited = true));
  const waitOutput = (stream: 'stdout' | 'stderr', pred: (text: string) => boolean, timeoutMs = 5_000) =>
    new Promise<string>((resolve, reject) => {
      const text = () => (stream === 'stdout' ? stdout : stderr);
      const pipe = stream === 'stdout' ? child.stdout! : child.stderr!;
      const check = () => {
        if (!pred(text())) return false;
        clearTimeout(timer);
        pipe.off('data', onData);
        resolve(text());
        return true;
      };
      const onData = () => void check();
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
  return { child, port: Number(m[1]), kind: m[2]!, exit, stdout: () => stdout, stderr: () => stderr, waitOutput };
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
