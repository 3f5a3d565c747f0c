// main.ts: the `tsgi` command.
//
//   tsgi serve MODULE[:EXPORT] [--bind ADDRESS]... [--workers N] [--server native|node]  (serve.ts)
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
import { Command, CommanderError } from 'commander';
import { NativeUnavailableError } from '../native/loader.js';
import { registerCgi } from './cgi.js';
import { formatDefault, SETTINGS, settingProblem, type Setting } from '../settings.js';
import type { ServeOptions, SupervisorOptions } from '../types.js';
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
  if (s.key === 'bind') return 'address';
  if (s.auto) return 'n|auto';
  if (s.type === 'mode') return 'octal';
  if (s.type === 'size') return 'bytes';
  if (s.type === 'seconds') return 'seconds';
  if (s.type === 'choice') return s.choices!.join('|');
  return 'n';
}

/** `007`, `0o027`: a umask, in octal. */
export function parseMode(flag: string, value: string): number {
  const m = /^(?:0o)?([0-7]{1,4})$/i.exec(value.trim());
  if (!m) throw new UsageError(`error: option '${flag}' must be an octal mode mask (e.g. 007, 0o027), got ${JSON.stringify(value)}`);
  return parseInt(m[1]!, 8);
}

/** Parses a flag's value and checks it against the table. */
function parseFlag(s: Setting, value: string): ServeOptions[keyof ServeOptions] | 'auto' {
  const flag = s.flag!;
  const parsed =
    s.auto && value === 'auto'
      ? 'auto'
      : s.type === 'seconds'
        ? parseSeconds(flag, value)
        : s.type === 'choice' || s.type === 'string'
          ? value
          : s.type === 'mode'
            ? parseMode(flag, value)
            : parseSize(flag, value);
  const problem = settingProblem(s, parsed);
  if (problem !== null) throw new UsageError(`error: option '${flag}' ${problem}, got ${JSON.stringify(value)}`);
  return parsed as ServeOptions[keyof ServeOptions];
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Commander's camel-cased option name for a flag: `--max-url-size` -> `maxUrlSize`. */
function optionName(flag: string): string {
  return flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The options of `tsgi serve` from its flags, each checked by the table. */
function serveOptions(opts: Record<string, string | string[] | boolean | undefined>): SupervisorOptions {
  const options: Record<string, unknown> = {};
  for (const s of kFlagSettings) {
    const value = opts[optionName(s.flag!)];
    if (value === undefined) continue;
    if (s.list) {
      const list = value as string[];
      if (list.length > 0) options[s.key] = list;
    } else if (s.type === 'boolean') {
      options[s.key] = value === true;
    } else {
      options[s.key] = parseFlag(s, value as string);
    }
  }
  return options as SupervisorOptions;
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
    .argument('<module>', 'MODULE[:EXPORT]: an ES or CommonJS module file; EXPORT defaults to the default export, then "app", then "application"');
  const serveCommand = program.commands.find((c) => c.name() === 'serve')!;
  for (const s of kFlagSettings) {
    const help = `${s.help} (default ${formatDefault(s)})`;
    const names = `${s.short ? `${s.short}, ` : ''}${s.flag}`;
    if (s.type === 'boolean') serveCommand.option(names, help);
    else if (s.list) serveCommand.option(`${names} <${valueName(s)}>`, help, collect, []);
    else serveCommand.option(`${names} <${valueName(s)}>`, help);
  }
  serveCommand.action(async (target: string, opts: Record<string, string | string[] | boolean | undefined>) => {
    try {
      await runServe(target, serveOptions(opts));
    } catch (err) {
      if (err instanceof AppLoadError || err instanceof BindError || err instanceof UsageError) throw err;
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
