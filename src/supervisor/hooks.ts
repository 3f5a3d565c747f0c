// hooks.ts: what code running in a worker thread may plug into the
// supervisor: run something when log files are to be reopened (SIGUSR1),
// and publish a SharedArrayBuffer (counters) the supervisor can read while
// the worker runs, and after. Outside a worker (serve() in one thread)
// nothing is published and reopen hooks run on reopenLogs().
import { isMainThread, parentPort } from 'node:worker_threads';
import type { FromWorker } from './protocol.js';

const reopenHooks = new Set<() => void>();

/**
 * Runs `hook` whenever the supervisor is told to reopen log files (SIGUSR1,
 * as logrotate sends). Returns a function that removes it.
 *
 * @example
 * ```ts
 * const off = onReopenLogs(() => accessLog.reopen());
 * ```
 */
export function onReopenLogs(hook: () => void): () => void {
  reopenHooks.add(hook);
  return () => reopenHooks.delete(hook);
}

/** Runs every reopen hook (the worker does on the supervisor's `reopen`). */
export function reopenLogs(): void {
  for (const hook of reopenHooks) {
    try {
      hook();
    } catch (err) {
      process.stderr.write(`tsgi: a reopen hook failed: ${String(err)}\n`);
    }
  }
}

/**
 * Publishes `buffer` under `name` to the supervisor, which keeps it for
 * this worker (`Supervisor.published(name)`): the place for counters the
 * supervisor serves (/metrics). Returns false outside a worker.
 */
export function publish(name: string, buffer: SharedArrayBuffer): boolean {
  if (isMainThread || parentPort === null) return false;
  parentPort.postMessage({ type: 'publish', name, buffer } satisfies FromWorker);
  return true;
}
