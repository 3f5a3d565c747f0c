// main.ts: the `tsgi` command.
//
//   tsgi serve MODULE[:EXPORT] [--bind HOST:PORT] [--server native|node]
//              [--config FILE] [--print-config] [--check-config] [settings]
//   tsgi cgi MODULE[:EXPORT]  (cgi.ts)
//   tsgi build      (build.ts)
//   tsgi doctor     (doctor.ts)
//   tsgi --version  (version.ts)
//
// Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT) or --help/--version,
// 1 for runtime failures (the server cannot listen, the native server asked
// for is not available, a build failed; `tsgi doctor` when the native server
// is not available), 2 for usage errors (bad
// flags, variables or config file, a module that cannot be found or
// imported, a missing export). Every failure is one line on stderr that
// starts with `tsgi: `. The settings' sources and their precedence:
// src/config/load.ts.
import { accessSync, constants as fsc, existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { NativeUnavailableError } from '../native/loader.js';
import { serve } from '../serve.js';
import { registerCgi } from './cgi.js';
import { formatDefault, SETTINGS, type ResolvedSettings, type Setting, type SettingKey } from '../settings.js';
import type { Application, ServeOptions, Server } from '../types.js';
import { validateSettings } from '../config/checks.js';
import { CONFIG_FILES, ConfigError, describeSource, formatSettings, loadSettings, type LoadedSettings } from '../config/load.js';
import { ErrorLog } from '../log/error-log.js';
import { runBuild } from './build.js';
import { runDoctor } from './doctor.js';
import { versionText } from './version.js';

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

/** The settings that are flags of `tsgi serve` (src/settings.ts). */
const kFlagSettings = SETTINGS.filter((s) => s.flag !== null);

/** The placeholder of a flag's value in --help. */
function valueName(s: Setting): string {
  if (s.meta !== undefined) return s.meta;
  if (s.type === 'size') return 'bytes';
  if (s.type === 'seconds') return 'seconds';
  if (s.type === 'choice') return s.choices!.join('|');
  if (s.type === 'string' || s.type === 'list') return 'value';
  return 'n';
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
 * at once without waiting for connections in flight. SIGUSR1 reopens the
 * log files (logrotate renamed them). */
function handleSignals(server: Server, log: ErrorLog): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warning(`${signal} again, exiting without waiting for open connections`);
      log.file.flushSync();
      process.exit(0);
    }
    stopping = true;
    log.info(`${signal}: closing`);
    server.close().then(
      async () => {
        log.info('closed');
        await log.close();
        process.exit(0);
      },
      async (err: unknown) => {
        log.error(`error while closing the server: ${firstLine(err)}`);
        await log.close();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGUSR1', () => {
    log.reopen();
    server.reopenLogs();
    log.info('SIGUSR1: log files reopened');
  });
}

/** The raw text of every settings flag given, by setting key. */
function flagTexts(opts: Record<string, unknown>): Partial<Record<SettingKey, string | string[]>> {
  const flags: Partial<Record<SettingKey, string | string[]>> = {};
  for (const s of kFlagSettings) {
    const value = opts[optionName(s.flag!)];
    if (value !== undefined) flags[s.key as SettingKey] = value as string | string[];
  }
  return flags;
}

/** A log path that cannot be written is a bad value of its setting. */
function checkLogPath(loaded: LoadedSettings, key: 'accessLog' | 'errorLog', path: string | undefined): void {
  if (path === undefined || path === '-') return;
  const where = describeSource(loaded.sources[key]);
  const target = existsSync(path) ? path : dirname(resolve(path));
  try {
    accessSync(target, fsc.W_OK);
    if (existsSync(path) && statSync(path).isDirectory()) throw Object.assign(new Error('it is a directory'), { code: 'EISDIR' });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`error: ${key} (${where}) cannot be written: ${JSON.stringify(path)}: ${e.code ?? e.message}; it must be ${key === 'accessLog' ? 'a file path, or - for stdout' : 'a file path, or - for stderr'}`);
  }
}

interface ServeFlags extends Record<string, unknown> {
  config?: string;
  printConfig?: boolean;
  checkConfig?: boolean;
}

async function runServe(target: string, opts: ServeFlags): Promise<void> {
  let loaded: LoadedSettings;
  let settings: ResolvedSettings;
  try {
    loaded = await loadSettings({ flags: flagTexts(opts), env: process.env, cwd: process.cwd(), configFile: opts.config });
    settings = validateSettings(loaded.options, 'error: ');
    checkLogPath(loaded, 'accessLog', settings.accessLog);
    checkLogPath(loaded, 'errorLog', settings.errorLog);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof TypeError || err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
  if (opts.printConfig) {
    process.stdout.write(formatSettings(loaded, settings));
    throw new Done();
  }
  const app = await loadApplication(target);
  if (opts.checkConfig) {
    const from = loaded.file === null ? 'no config file' : `config file ${loaded.file}`;
    process.stdout.write(`tsgi: ${JSON.stringify(target)} loads and its settings are valid (${from})\n`);
    throw new Done();
  }
  const bind = settings.bind?.[0] ?? `${settings.host}:${settings.port}`;
  let log: ErrorLog;
  try {
    log = ErrorLog.open(settings.errorLog, settings.logLevel);
  } catch (err) {
    throw new UsageError(`error: errorLog (${describeSource(loaded.sources.errorLog)}) cannot be opened: ${firstLine(err)}`);
  }
  let server: Server;
  try {
    server = await serve(app, { ...(loaded.options as ServeOptions), errors: log });
  } catch (err) {
    await log.close();
    if (err instanceof NativeUnavailableError) throw new RuntimeError(err.message);
    if (err instanceof TypeError || err instanceof RangeError) throw new UsageError(`error: ${firstLine(err).replace(/^serve: /, '')}`);
    throw new RuntimeError(`cannot serve on ${bind}: ${firstLine(err)}`);
  }
  handleSignals(server, log);
  const url = formatUrl(server.host, server.port);
  process.stdout.write(`listening on ${url} (${server.kind})\n`);
  log.info(`listening on ${url} (${server.kind})`);
  if (server.stats !== null) {
    const stats = server.stats.startsWith('unix:') ? server.stats : `http://${server.stats}/metrics`;
    process.stdout.write(`metrics on ${stats}\n`);
    log.info(`metrics on ${stats}`);
  }
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
    .option('--config <file>', `the config file (default: ${CONFIG_FILES.join(' or ')} in the working directory, if there)`)
    .option('--print-config', 'print every setting, its value and where it came from (flag, environment, file, default), and exit')
    .option('--check-config', 'load the application and the settings, say whether they are valid, and exit (0, or 2)');
  const serveCommand = program.commands.find((c) => c.name() === 'serve')!;
  for (const s of kFlagSettings) {
    const flags = `${s.short ? `${s.short}, ` : ''}${s.flag} <${valueName(s)}>`;
    const text = `${s.help} (default ${formatDefault(s)}; ${s.env})`;
    // A list flag may be repeated; each value may hold several, with commas.
    if (s.type === 'list') serveCommand.option(flags, text, (value: string, prior: string[] | undefined) => [...(prior ?? []), value]);
    else serveCommand.option(flags, text);
  }
  serveCommand.action(async (target: string, opts: ServeFlags) => {
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
