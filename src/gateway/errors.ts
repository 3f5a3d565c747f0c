// errors.ts: the default `tsgi.errors` stream and the one place that formats
// what the server logs about an application's failure.
import type { ErrorStream } from '../types.js';

/** `tsgi.errors` writing to the process's stderr. */
export const stderrStream: ErrorStream = {
  write(message: string): void {
    process.stderr.write(message);
  },
  flush(): void {},
};

/** Logs an application error with its stack, one block per failure. */
export function logError(errors: ErrorStream, what: string, err: unknown): void {
  const detail =
    err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `non-Error value thrown: ${String(err)}`;
  try {
    errors.write(`tsgi: ${what}\n${detail}\n`);
  } catch {
    // A broken error stream must not take the server down with it.
  }
}
