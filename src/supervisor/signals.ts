// signals.ts: the signals of `tsgi serve`, as gunicorn's arbiter has them:
// SIGTERM and SIGINT stop gracefully (a second one exits at once), SIGHUP
// reloads, SIGTTIN and SIGTTOU add and remove a worker, SIGUSR1 reopens
// the log files.
import type { Supervisor } from './supervisor.js';

/** What a signal handler needs of a server: a Supervisor, or the one
 * server of `tsgi serve` without the addon (close only). */
type Target = Pick<Supervisor, 'close'> & Partial<Pick<Supervisor, 'reload' | 'addWorker' | 'removeWorker' | 'reopenLogs'>>;

/**
 * Installs the handlers; `onStop(signal)` is told before stopping (the
 * logger's `stop` event), `warn` of a second signal (the error log's
 * warning; stderr by default). Exits 0 after a graceful stop, 1 when
 * closing failed.
 */
export function handleSignals(
  target: Target,
  onStop: (signal: NodeJS.Signals) => void = () => {},
  warn: (message: string) => void = (message) => process.stderr.write(`tsgi: ${message}\n`),
): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      warn(`${signal} again, exiting without waiting for open connections`);
      process.exit(0);
    }
    stopping = true;
    onStop(signal);
    target.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`tsgi: error while closing the server: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (target.reload) process.on('SIGHUP', () => !stopping && void target.reload!('SIGHUP'));
  if (target.addWorker) process.on('SIGTTIN', () => !stopping && void target.addWorker!());
  if (target.removeWorker) process.on('SIGTTOU', () => !stopping && void target.removeWorker!());
  if (target.reopenLogs) process.on('SIGUSR1', () => target.reopenLogs!());
}
