// main.ts: the `tsgi` command.
//
//   tsgi serve MODULE[:EXPORT] [--bind HOST:PORT] [--server native|node]
//   tsgi cgi MODULE[:EXPORT]  (cgi.ts)
//   tsgi build      (build.ts)
//   tsgi doctor     (doctor.ts)
//   tsgi --version  (version.ts)
//
// Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT) or --help/--version,
// 1 for runtime failures (the server cannot listen, the native server asked
// for is not available, a build failed; `tsgi doctor` when the native server
// is not available), 2 for usage errors (bad
// flags, a module that cannot be found or imported, a missing export). Every
// failure is one line on stderr that starts with `tsgi: `.
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { NativeUnavailableError } from '../native/loader.js';
import { serve } from '../serve.js';
import { registerCgi } from './cgi.js';
import { formatDefault, setting, SETTINGS, settingProblem, type Setting } from '../settings.js';
import type { Application, ServeOptions, Server } from '../types.js';
import { runBuild } from './build.js';
import { runDoctor } from './doctor.js';
import { versionText } from './version.js';

const DEFAULT_BIND = `${setting('host').default}:${setting('port').default}`;
const EXPORT_NAME = /^[A-Za-z_$][\w$]*$/;

/** A mistake in how the command was called: exit code 2. */
class UsageError extends Error {}

/** The command could not do its work: exit code 1. */
class RuntimeError extends Error {}

/** Thrown (and caught in main) after --version printed its line. */
class Done extends Error {}

/** The first line of an error's message. */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').find((line) => line.trim() !== '')?.trim() ?? text;
}

/**
 * Parses `HOST:PORT`; IPv6 hosts are written in brackets (`[::1]:8000`).
 * Returns the host without brackets.
 */
function parseBind(bind: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.%\w]+)\]|([^:[\]\s]+)):(\d+)$/.exec(bind);
  if (!m) {
    throw new UsageError(`error: option '--bind' must be HOST:PORT (IPv6 as [HOST]:PORT), got ${JSON.stringify(bind)}`);
  }
  const port = Number(m[3]);
  if (!Number.isSafeInteger(port) || port > 65535) {
    throw new UsageError(`error: option '--bind' port must be 0-65535, got ${JSON.stringify(m[3])}`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

const kSizeUnits: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `16M`, `8k`, `1048576`: a whole number with an optional binary unit. */
export function parseSize(flag: string, value: string): number {
  const m = /^(\d+)\s*([kmg]?)(?:i?b)?$/i.exec(value.trim());
  const bytes = m ? Number(m[1]) * kSizeUnits[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new UsageError(`error: option '${flag}' must be a whole number, with k, M or G for sizes (e.g. 16384, 16k, 16M), got ${JSON.stringify(value)}`);
  }
  return bytes;
}

/** `30`, `0.5`: a number of seconds. */
export function parseSeconds(flag: string, value: string): number {
  const seconds = /^\d+(?:\.\d+)?$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isFinite(seconds)) {
    throw new UsageError(`error: option '${flag}' must be a number of seconds (e.g. 30, 0.5), got ${JSON.stringify(value)}`);
  }
  return seconds;
}

/** The settings that are flags of `tsgi serve` (src/settings.ts). */
const kFlagSettings = SETTINGS.filter((s) => s.flag !== null);

/** The placeholder of a flag's value in --help. */
function valueName(s: Setting): string {
  if (s.type === 'size') return 'bytes';
  if (s.type === 'seconds') return 'seconds';
  if (s.type === 'choice') return s.choices!.join('|');
  return 'n';
}

/** Parses a flag's value and checks it against the table. */
function parseFlag(s: Setting, value: string): ServeOptions[keyof ServeOptions] {
  const flag = s.flag!;
  const parsed = s.type === 'seconds' ? parseSeconds(flag, value) : s.type === 'choice' ? value : parseSize(flag, value);
  const problem = settingProblem(s, parsed);
  if (problem !== null) throw new UsageError(`error: option '${flag}' ${problem}, got ${JSON.stringify(value)}`);
  return parsed as ServeOptions[keyof ServeOptions];
}

/** Commander's camel-cased option name for a flag: `--max-url-size` -> `maxUrlSize`. */
function optionName(flag: string): string {
  return flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Splits `MODULE[:EXPORT]`. A colon followed by something that is not an
 * identifier stays part of the path. */
function splitTarget(target: string): { file: string; name: string | undefined } {
  const colon = target.lastIndexOf(':');
  if (colon > 0) {
    const name = target.slice(colon + 1);
    if (EXPORT_NAME.test(name)) return { file: target.slice(0, colon), name };
  }
  return { file: target, name: undefined };
}

/** `SyntaxError: Unexpected end of input`: the error's kind and first line. */
function describeImportError(err: unknown): string {
  if (!(err instanceof Error) || !err.name || err.name === 'Error') return firstLine(err);
  return `${err.name}: ${firstLine(err)}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/**
 * Imports `MODULE[:EXPORT]` relative to the working directory and returns the
 * application: the named export, or else the default export, `app` or
 * `application`, whichever is first a function. For CommonJS modules the
 * `module.exports` object (the default export) is searched too.
 */
async function loadApplication(target: string, cwd = process.cwd()): Promise<Application> {
  const { file, name } = splitTarget(target);
  const shown = JSON.stringify(file);
  const path = isAbsolute(file) ? file : resolve(cwd, file);
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new UsageError(`cannot find module file ${shown}`);
  }
  if (!isFile) throw new UsageError(`module ${shown} is not a file`);

  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`cannot import ${shown}: ${describeImportError(err)}`);
  }
  const cjs = mod.default;
  const lookup = (key: string): unknown => {
    if (mod[key] !== undefined) return mod[key];
    if (key !== 'default' && typeof cjs === 'object' && cjs !== null) {
      return (cjs as Record<string, unknown>)[key];
    }
    return undefined;
  };

  if (name !== undefined) {
    const value = lookup(name);
    if (value === undefined) throw new UsageError(`${shown} has no export ${JSON.stringify(name)}`);
    if (typeof value !== 'function') {
      throw new UsageError(`export ${JSON.stringify(name)} of ${shown} is not a function, got ${describe(value)}`);
    }
    return value as Application;
  }
  const candidates = ['default', 'app', 'application'];
  for (const key of candidates) {
    const value = lookup(key);
    if (typeof value === 'function') return value as Application;
  }
  const present = candidates.filter((key) => lookup(key) !== undefined);
  if (present.length === 0) {
    throw new UsageError(`${shown} has no default export, "app" or "application" export`);
  }
  const key = present[0]!;
  throw new UsageError(
    `export ${JSON.stringify(key)} of ${shown} is not a function, got ${describe(lookup(key))}`,
  );
}

/** `http://127.0.0.1:8000`, `http://[::1]:8000`. */
function formatUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Closes the server on SIGTERM/SIGINT and exits 0; a second signal exits
 * at once without waiting for connections in flight. */
function handleSignals(server: Server): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`tsgi: ${signal} again, exiting without waiting for open connections\n`);
      process.exit(0);
    }
    stopping = true;
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`tsgi: error while closing the server: ${firstLine(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function runServe(target: string, opts: { bind: string; server?: string } & Record<string, string | undefined>): Promise<void> {
  const { host, port } = parseBind(opts.bind);
  const options: Record<string, unknown> = { host, port };
  for (const s of kFlagSettings) {
    const value = opts[optionName(s.flag!)];
    if (value !== undefined) options[s.key] = parseFlag(s, value);
  }
  const app = await loadApplication(target);
  let server: Server;
  try {
    server = await serve(app, options as ServeOptions);
  } catch (err) {
    if (err instanceof NativeUnavailableError) throw new RuntimeError(err.message);
    throw new RuntimeError(`cannot serve on ${opts.bind}: ${firstLine(err)}`);
  }
  handleSignals(server);
  process.stdout.write(`listening on ${formatUrl(server.host ?? host, server.port)} (${server.kind})\n`);
}

function buildProgram(): Command {
  const program = new Command('tsgi');
  program
    .description('Run TSGI applications: WSGI (PEP 3333) for TypeScript.')
    .option('-V, --version', "print tsgi's, Node-API's and llhttp's versions and the native binary's path")
    .exitOverride()
    .configureOutput({
      // Commander's errors (`error: unknown option '--x'`, with a
      // suggestion on the next line) become one line.
      outputError: (str, write) => write(`tsgi: ${str.trim().split('\n').map((s) => s.trim()).join(' ')}\n`),
    })
    .on('option:version', () => {
      process.stdout.write(versionText());
      throw new Done();
    });

  program
    .command('serve')
    .description('serve an application over HTTP')
    .argument('<module>', 'MODULE[:EXPORT]: an ES or CommonJS module file; EXPORT defaults to the default export, then "app", then "application"')
    .option('-b, --bind <host:port>', 'address to listen on ([HOST]:PORT for IPv6; port 0 picks a free one)', DEFAULT_BIND);
  const serveCommand = program.commands.find((c) => c.name() === 'serve')!;
  for (const s of kFlagSettings) {
    const flags = `${s.short ? `${s.short}, ` : ''}${s.flag} <${valueName(s)}>`;
    serveCommand.option(flags, `${s.help} (default ${formatDefault(s)})`);
  }
  serveCommand.action(async (target: string, opts: { bind: string; server?: string } & Record<string, string | undefined>) => {
    await runServe(target, opts);
  });
  registerCgi(program, (target) => loadApplication(target));
  program
    .command('build')
    .description('compile the native addon from source (needs llhttp, python3, make and a C++ compiler)')
    .action(() => runBuild());
  program
    .command('doctor')
    .description('say whether the native server can run here, and why')
    .action(() => {
      process.exitCode = runDoctor();
    });
  return program;
}

/**
 * Runs the `tsgi` command with `argv` (as in `process.argv`). On failure it
 * prints one line on stderr and exits the process (2 for usage errors, 1 for
 * runtime failures); `tsgi serve` resolves once the server is listening and
 * leaves the process running until SIGTERM or SIGINT.
 *
 * @example
 * ```ts
 * import { main } from './cli/main.js';
 * await main(['node', 'tsgi', 'serve', 'examples/hello.mjs', '--bind', '127.0.0.1:0']);
 * ```
 */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof Done) process.exit(0);
    if (err instanceof CommanderError) {
      // Help or version asked for: 0. Anything else was a usage error that
      // commander already printed (or help printed for a missing command).
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    if (err instanceof UsageError) {
      process.stderr.write(`tsgi: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`tsgi: ${firstLine(err)}\n`);
    process.exit(1);
  }
}
