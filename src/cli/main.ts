// main.ts: the `tsgi` command.
//
//   tsgi serve MODULE[:EXPORT] [--bind ADDRESS]... [--workers N] [--server native|node]
//              [--config FILE] [--print-config] [--check-config] [settings]  (serve.ts)
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
import { dirname, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { NativeUnavailableError } from '../native/loader.js';
import { registerCgi } from './cgi.js';
import { formatDefault, SETTINGS, type ResolvedSettings, type Setting, type SettingKey } from '../settings.js';
import type { SupervisorOptions } from '../types.js';
import { validateSettings } from '../config/checks.js';
import { CONFIG_FILES, ConfigError, describeSource, formatSettings, loadSettings, subject, type LoadedSettings } from '../config/load.js';
import { ErrorLog } from '../log/error-log.js';
import { BindError } from '../supervisor/binds.js';
import { AppLoadError, loadApplication } from '../supervisor/load-app.js';
import { runServe } from './serve.js';
import { runBuild } from './build.js';
import { runDoctor } from './doctor.js';
import { versionText } from './version.js';

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
  if (s.key === 'bind') return 'address';
  if (s.auto) return 'n|auto';
  if (s.type === 'mode') return 'octal';
  if (s.type === 'size') return 'bytes';
  if (s.type === 'seconds') return 'seconds';
  if (s.type === 'choice') return s.choices!.join('|');
  return 'n';
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Commander's camel-cased option name for a flag: `--max-url-size` -> `maxUrlSize`. */
function optionName(flag: string): string {
  return flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The raw text of every settings flag given, by setting key (a boolean
 * flag: "true"). */
function flagTexts(opts: Record<string, unknown>): Partial<Record<SettingKey, string | string[]>> {
  const flags: Partial<Record<SettingKey, string | string[]>> = {};
  for (const s of kFlagSettings) {
    const value = opts[optionName(s.flag!)];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    flags[s.key as SettingKey] = value === true ? 'true' : (value as string | string[]);
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

/** `tsgi serve`: the settings from their sources (src/config/load.ts),
 * --print-config and --check-config, the error log, then serve.ts. */
async function serveCommandAction(target: string, opts: ServeFlags): Promise<void> {
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
  if (opts.checkConfig) {
    await loadApplication(target);
    const from = loaded.file === null ? 'no config file' : `config file ${loaded.file}`;
    process.stdout.write(`tsgi: ${JSON.stringify(target)} loads and its settings are valid (${from})\n`);
    throw new Done();
  }
  let log: ErrorLog;
  try {
    log = ErrorLog.open(settings.errorLog, settings.logLevel);
  } catch (err) {
    throw new UsageError(`error: errorLog (${describeSource(loaded.sources.errorLog)}) cannot be opened: ${firstLine(err)}`);
  }
  try {
    await runServe(target, loaded.options as SupervisorOptions, log, `error: ${subject('bind', loaded.sources.bind)}`);
  } catch (err) {
    // What was logged before the failure reaches the file before exit.
    log.file.flushSync();
    throw err;
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
    const help = `${s.help} (default ${formatDefault(s)}; ${s.env})`;
    const names = `${s.short ? `${s.short}, ` : ''}${s.flag}`;
    if (s.type === 'boolean') serveCommand.option(names, help);
    else if (s.list) serveCommand.option(`${names} <${valueName(s)}>`, help, collect, []);
    else serveCommand.option(`${names} <${valueName(s)}>`, help);
  }
  serveCommand.action(async (target: string, opts: ServeFlags) => {
    try {
      await serveCommandAction(target, opts);
    } catch (err) {
      if (err instanceof AppLoadError || err instanceof BindError || err instanceof UsageError || err instanceof Done) throw err;
      throw new RuntimeError(firstLine(err));
    }
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
    if (err instanceof UsageError || err instanceof AppLoadError) {
      process.stderr.write(`tsgi: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof BindError) {
      process.stderr.write(`tsgi: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`tsgi: ${firstLine(err)}\n`);
    process.exit(1);
  }
}
