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

/** An error stream that also keeps events (src/log/error-log.ts). */
interface EventStream extends ErrorStream {
  error(message: string): void;
}

function isEventStream(errors: ErrorStream): errors is EventStream {
  return typeof (errors as Partial<EventStream>).error === 'function';
}

/** Logs an application error with its stack: one ERROR event of the error
 * log, or one block on any other stream. */
export function logError(errors: ErrorStream, what: string, err: unknown): void {
  const detail =
    err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `non-Error value thrown: ${String(err)}`;
  try {
    if (isEventStream(errors)) errors.error(`${what}: ${detail}`);
    else errors.write(`tsgi: ${what}\n${detail}\n`);
  } catch {
    // A broken error stream must not take the server down with it.
  }
}
