// load.ts: the settings of `tsgi serve`, from their four sources in order
// of precedence: flag > environment variable (TSGI_*) > config file
// (tsgi.config.mjs or tsgi.config.json: `--config FILE`, or the one in the
// working directory) > default. Each value is checked where it is read,
// and a bad one refused with a message naming the setting, where it came
// from (the flag, the variable, or the key and the file's path) and what is
// accepted. The names of each setting come from src/settings.ts.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatDefault, SETTINGS, showValue, type Setting, type SettingKey } from '../settings.js';
import { valueProblem } from './checks.js';

/** Where a setting's value came from. */
export type SettingSource =
  | { kind: 'default' }
  | { kind: 'flag'; flag: string }
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string; key: string };

/** A bad value, a bad config file: `tsgi serve` exits 2 with the message. */
export class ConfigError extends Error {}

/** The config files looked for in the working directory, in this order. */
export const CONFIG_FILES = ['tsgi.config.mjs', 'tsgi.config.json'] as const;

/** The settings as loaded: the options for serve(), and each one's source. */
export interface LoadedSettings {
  /** The values given by a flag, a variable or the file (serve() fills in
   * the defaults). */
  options: Record<string, unknown>;
  sources: Record<SettingKey, SettingSource>;
  /** The config file read, or null. */
  file: string | null;
}

const kSizeUnits: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `16M`, `8k`, `1048576`: a whole number with an optional binary unit;
 * NaN when it is not one. */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  const bytes = m ? Number(m[1]) * kSizeUnits[m[2]!.toLowerCase()]! : NaN;
  return Number.isSafeInteger(bytes) ? bytes : NaN;
}

/** `30`, `0.5`: a number of seconds; NaN when it is not one. */
export function parseSeconds(text: string): number {
  return /^\d+(?:\.\d+)?$/.test(text.trim()) ? Number(text) : NaN;
}

/** `007`, `0o027`: a file mode mask in octal; NaN when it is not one. */
export function parseMode(text: string): number {
  const m = /^(?:0o)?([0-7]{1,4})$/i.exec(text.trim());
  return m ? parseInt(m[1]!, 8) : NaN;
}

/** How a setting's text must look, when it does not. */
function syntaxProblem(s: Setting): string {
  if (s.type === 'mode') return 'must be an octal mode mask (e.g. 007, 0o027)';
  if (s.type === 'size' || s.type === 'count' || s.type === 'integer') {
    return 'must be a whole number, with k, M or G for sizes (e.g. 16384, 16k, 16M)';
  }
  if (s.type === 'seconds') return 'must be a number of seconds (e.g. 30, 0.5)';
  return 'must be true or false';
}

/** A setting's value from text (a flag, a variable, a string in a config
 * file), or `{ problem }`. */
export function parseText(s: Setting, text: string | readonly string[]): unknown | { problem: string } {
  if (s.list) return typeof text === 'string' ? text : text.length === 1 ? text[0]! : [...text];
  const one = typeof text === 'string' ? text : text[text.length - 1]!;
  if (s.auto && one.trim() === 'auto') return 'auto';
  switch (s.type) {
    case 'mode': {
      const n = parseMode(one);
      return Number.isNaN(n) ? { problem: syntaxProblem(s) } : n;
    }
    case 'size':
    case 'count':
    case 'integer': {
      const n = parseSize(one);
      return Number.isNaN(n) ? { problem: syntaxProblem(s) } : n;
    }
    case 'seconds': {
      const n = parseSeconds(one);
      return Number.isNaN(n) ? { problem: syntaxProblem(s) } : n;
    }
    case 'boolean': {
      const t = one.trim().toLowerCase();
      if (t === 'true' || t === '1' || t === 'yes') return true;
      if (t === 'false' || t === '0' || t === 'no') return false;
      return { problem: syntaxProblem(s) };
    }
    default:
      return one;
  }
}

function isProblem(v: unknown): v is { problem: string } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'problem' in v;
}

/** Where a value came from, as the messages and --print-config say it. */
export function describeSource(source: SettingSource): string {
  switch (source.kind) {
    case 'default':
      return 'default';
    case 'flag':
      return `flag ${source.flag}`;
    case 'env':
      return `environment ${source.name}`;
    case 'file':
      return `file ${source.path}`;
  }
}

/** The subject of a message about a value from `source`: `option
 * '--bind'`, `environment variable TSGI_BIND`, `bind in FILE`. */
export function subject(key: SettingKey, source: SettingSource): string {
  switch (source.kind) {
    case 'flag':
      return `option '${source.flag}'`;
    case 'env':
      return `environment variable ${source.name}`;
    case 'file':
      return `${source.key} in ${source.path}`;
    default:
      return key;
  }
}

/** Checks `value` of `key` from `source`; throws a ConfigError. */
function check(key: SettingKey, value: unknown, source: SettingSource, shown: unknown): void {
  const problem = valueProblem(key, value);
  if (problem !== null) throw new ConfigError(`error: ${subject(key, source)} ${problem}, got ${showValue(shown)}`);
}

/** The edit distance of two short strings (for "did you mean"). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}

/** The config file to read: `explicit` (relative to `cwd`), else the one of
 * CONFIG_FILES in `cwd`, else null. */
export function findConfigFile(explicit: string | undefined, cwd: string): string | null {
  if (explicit !== undefined) {
    const path = isAbsolute(explicit) ? explicit : resolve(cwd, explicit);
    let isFile = false;
    try {
      isFile = statSync(path).isFile();
    } catch {
      throw new ConfigError(`error: option '--config' names ${JSON.stringify(explicit)}, which does not exist`);
    }
    if (!isFile) throw new ConfigError(`error: option '--config' names ${JSON.stringify(explicit)}, which is not a file`);
    return path;
  }
  const found = CONFIG_FILES.map((name) => join(cwd, name)).filter((path) => existsSync(path));
  if (found.length > 1) {
    throw new ConfigError(`error: both ${CONFIG_FILES.join(' and ')} are in ${cwd}: keep one, or name one with --config`);
  }
  return found[0] ?? null;
}

/** The object a config file holds: JSON, or a module's default export. */
async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  const ext = extname(path);
  let value: unknown;
  if (ext === '.json') {
    try {
      value = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ConfigError(`error: cannot read the config file ${path}: ${(err as Error).message}`);
    }
  } else if (ext === '.mjs' || ext === '.js' || ext === '.cjs') {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (err) {
      const e = err as Error;
      throw new ConfigError(`error: cannot import the config file ${path}: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message.split('\n')[0]}`);
    }
    value = mod.default;
  } else {
    throw new ConfigError(`error: the config file ${path} must be .mjs, .js, .cjs or .json`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`error: the config file ${path} must ${ext === '.json' ? 'hold' : 'export by default'} an object of settings, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

/** A value from a config file: numbers and booleans as they are, strings
 * as on the command line (`16M`, `0.5`), lists as lists. */
function fileValue(s: Setting, value: unknown): unknown {
  if (typeof value === 'string' && s.type !== 'string' && s.type !== 'choice' && !(s.auto && value === 'auto')) {
    const parsed = parseText(s, value);
    return isProblem(parsed) ? value : parsed;
  }
  return value;
}

/**
 * Loads the settings. `flags` are the raw texts of the flags given (by
 * setting key; a repeated list flag is an array), `env` the environment.
 *
 * @example
 * ```ts
 * const { options, sources } = await loadSettings({ flags: { bind: ['127.0.0.1:0'] }, env: process.env, cwd: process.cwd() });
 * const server = await serve(app, options);
 * ```
 */
export async function loadSettings(input: {
  flags: Partial<Record<SettingKey, string | readonly string[]>>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  configFile?: string;
}): Promise<LoadedSettings> {
  const file = findConfigFile(input.configFile, input.cwd);
  const fromFile = file === null ? {} : await readConfigFile(file);
  const keys = new Set(SETTINGS.map((s) => s.key));
  for (const key of Object.keys(fromFile)) {
    if (keys.has(key)) continue;
    const near = SETTINGS.map((s) => s.key).find((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
    throw new ConfigError(`error: ${JSON.stringify(key)} in ${file} is not a setting${near ? ` (did you mean ${near}?)` : ''}; the settings are listed by tsgi serve --help and in the README`);
  }
  const options: Record<string, unknown> = {};
  const sources = {} as Record<SettingKey, SettingSource>;
  for (const s of SETTINGS) {
    const key = s.key as SettingKey;
    const flagText = input.flags[key];
    const envText = input.env[s.env];
    let source: SettingSource;
    let value: unknown;
    let shown: unknown;
    if (flagText !== undefined && s.flag !== null) {
      source = { kind: 'flag', flag: s.flag };
      shown = typeof flagText === 'string' ? flagText : flagText.length === 1 ? flagText[0] : flagText;
      value = parseText(s, flagText);
    } else if (envText !== undefined) {
      source = { kind: 'env', name: s.env };
      shown = envText;
      value = parseText(s, envText);
    } else if (s.key in fromFile && fromFile[s.key] !== undefined) {
      source = { kind: 'file', path: file!, key: s.key };
      shown = fromFile[s.key];
      value = fileValue(s, shown);
    } else {
      sources[key] = { kind: 'default' };
      continue;
    }
    if (isProblem(value)) throw new ConfigError(`error: ${subject(key, source)} ${value.problem}, got ${showValue(shown)}`);
    check(key, value, source, shown);
    options[s.key] = value;
    sources[key] = source;
  }
  return { options, sources, file };
}

/** `--print-config`: every setting, its effective value and its source,
 * one per line, in the table's order. */
export function formatSettings(loaded: LoadedSettings, effective: Record<string, unknown>): string {
  const width = Math.max(...SETTINGS.map((s) => s.key.length));
  const lines: string[] = [];
  for (const s of SETTINGS) {
    const value = effective[s.key];
    const shown = value === undefined ? formatDefault(s) : typeof value === 'string' || Array.isArray(value) ? JSON.stringify(value) : String(value);
    lines.push(`${s.key.padEnd(width)}  ${shown}  (${describeSource(loaded.sources[s.key as SettingKey])})`);
  }
  if (loaded.file !== null) lines.push(`# config file: ${loaded.file}`);
  return lines.join('\n') + '\n';
}
