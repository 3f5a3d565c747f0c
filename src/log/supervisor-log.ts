// supervisor-log.ts: the error log as the supervisor's SupervisorLogger
// (src/supervisor/events.ts): each lifecycle event one line at its level,
// what a worker wrote to tsgi.errors as it was written, and SIGUSR1's
// reopen. The one error log of a supervisor: its workers' lines reach it
// through the supervisor (their `log` messages), so one thread writes it.
import { formatEvent, levelOf, type SupervisorLogger } from '../supervisor/events.js';
import type { ErrorLog } from './error-log.js';

/**
 * A SupervisorLogger that writes to `log`.
 *
 * @example
 * ```ts
 * const log = ErrorLog.open('/var/log/tsgi/error.log', 'info');
 * const supervisor = await supervise('app.mjs', { workers: 2 }, { logger: errorLogLogger(log) });
 * ```
 */
export function errorLogLogger(log: ErrorLog): SupervisorLogger & { readonly log: ErrorLog } {
  return {
    log,
    event(e) {
      if (e.type === 'worker-log' && e.level === undefined) log.write(e.text);
      else log.log(levelOf(e), formatEvent(e));
    },
    reopen() {
      log.reopen();
    },
  };
}
