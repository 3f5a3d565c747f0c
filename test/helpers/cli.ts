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

/** Starts `tsgi serve <args>` in `cwd` and resolves once it listens; its
 * first line must be the listening line. */
export async function startCli(args: string[], cwd: string): Promise<CliServer> {
  const srv = (await startServer(process.execPath, [bin, 'serve', ...args], {
    cwd,
    timeoutMs: 10_000,
    keepChars: Infinity,
  })) as ServerProcess;
  children.add(srv.child);
  const exit = srv.exit.then((e) => {
    children.delete(srv.child);
    return { ...e, stderr: srv.stderr() };
  });
  const m = /^listening on http:\/\/127\.0\.0\.1:(\d+) \((native|node)\)$/.exec(srv.line);
  if (!m || !srv.stdout().startsWith(`${srv.line}\n`)) {
    throw new Error(`unexpected first line ${JSON.stringify(srv.stdout().split('\n')[0])}`);
  }
  return { child: srv.child, port: Number(m[1]), kind: m[2]!, exit };
}

/** Kills every child still running (after each test). */
export function killAllCli(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}
