// load-app.ts: imports `MODULE[:EXPORT]` and finds the application in it:
// what `tsgi serve` (in each worker thread) and `tsgi cgi` load.
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Application } from '../types.js';

const EXPORT_NAME = /^[A-Za-z_$][\w$]*$/;

/** The module cannot be found or imported, or has no application: a usage
 * error (exit code 2). */
export class AppLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppLoadError';
  }
}

/** The first line of an error's message. */
function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').find((line) => line.trim() !== '')?.trim() ?? text;
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
export async function loadApplication(target: string, cwd = process.cwd()): Promise<Application> {
  const { file, name } = splitTarget(target);
  const shown = JSON.stringify(file);
  const path = isAbsolute(file) ? file : resolve(cwd, file);
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new AppLoadError(`cannot find module file ${shown}`);
  }
  if (!isFile) throw new AppLoadError(`module ${shown} is not a file`);

  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new AppLoadError(`cannot import ${shown}: ${describeImportError(err)}`);
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
    if (value === undefined) throw new AppLoadError(`${shown} has no export ${JSON.stringify(name)}`);
    if (typeof value !== 'function') {
      throw new AppLoadError(`export ${JSON.stringify(name)} of ${shown} is not a function, got ${describe(value)}`);
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
    throw new AppLoadError(`${shown} has no default export, "app" or "application" export`);
  }
  const key = present[0]!;
  throw new AppLoadError(
    `export ${JSON.stringify(key)} of ${shown} is not a function, got ${describe(lookup(key))}`,
  );
}

