// events.ts: what the supervisor reports (worker start, exit, restart,
// timeout, reload, scaling, stop) and to whom: a SupervisorLogger. The
// default writes warnings and errors to stderr, one line each; an error log
// (`--error-log`, `--log-level`) plugs in by passing another logger to
// supervise() (ARCHITECTURE.md, "Listeners and workers").
import type { InflightRequest } from './watchdog.js';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

/** Why a worker ended. */
export type ExitReason =
  | { kind: 'exception'; error: Error }
  | { kind: 'exit'; code: number }
  | { kind: 'timeout'; stuckMs: number }
  | { kind: 'stopped' }
  | { kind: 'failed'; message: string };

export type LifecycleEvent =
  | { type: 'worker-start'; worker: number; threadId: number }
  | { type: 'worker-ready'; worker: number; threadId: number; kind: string }
  | { type: 'worker-exit'; worker: number; threadId: number; reason: ExitReason; uptimeMs: number; inflight: InflightRequest[] }
  | { type: 'worker-restart'; worker: number; delayMs: number; fastDeaths: number }
  | { type: 'worker-timeout'; worker: number; threadId: number; stuckMs: number; inflight: InflightRequest[] }
  | { type: 'worker-retire'; worker: number; threadId: number; requests: number }
  | { type: 'reload'; phase: 'start' | 'done' | 'failed'; why: string; error?: string }
  | { type: 'workers'; count: number; why: string }
  | { type: 'stop'; signal: string }
  | { type: 'reopen' }
  /** A worker's tsgi.errors output, as written; with `level`, an event of
   * its server (an application's failure) at that level. */
  | { type: 'worker-log'; worker: number; text: string; level?: LogLevel };

/** The supervisor's one output. `reopen()` runs on SIGUSR1 (logrotate). */
export interface SupervisorLogger {
  event(e: LifecycleEvent): void;
  reopen?(): void;
}

/** The level of each event. */
export function levelOf(e: LifecycleEvent): LogLevel {
  switch (e.type) {
    case 'worker-exit':
      return e.reason.kind === 'stopped' ? 'info' : 'error';
    case 'worker-timeout':
      return 'error';
    case 'reload':
      return e.phase === 'failed' ? 'error' : 'info';
    case 'worker-restart':
      return e.fastDeaths > 1 ? 'warning' : 'info';
    case 'worker-log':
      return e.level ?? 'error';
    default:
      return 'info';
  }
}

function requests(list: InflightRequest[]): string {
  if (list.length === 0) return 'no request in flight';
  const shown = list.slice(0, 8).map((r) => `${r.method} ${r.target}${r.queued ? ' (queued)' : ''}`);
  return `in flight: ${shown.join(', ')}${list.length > 8 ? `, and ${list.length - 8} more` : ''}`;
}

function reason(r: ExitReason): string {
  switch (r.kind) {
    case 'exception':
      return `uncaught ${r.error.name}: ${r.error.message}`;
    case 'exit':
      return `process.exit(${r.code})`;
    case 'timeout':
      return `terminated by the watchdog after ${(r.stuckMs / 1000).toFixed(1)} s stuck`;
    case 'stopped':
      return 'stopped';
    case 'failed':
      return r.message;
  }
}

/** One line (without `tsgi: ` and the newline) for an event. */
export function formatEvent(e: LifecycleEvent): string {
  switch (e.type) {
    case 'worker-start':
      return `worker ${e.worker} starting (thread ${e.threadId})`;
    case 'worker-ready':
      return `worker ${e.worker} ready (thread ${e.threadId}, ${e.kind})`;
    case 'worker-exit': {
      const stack = e.reason.kind === 'exception' && e.reason.error.stack ? ` | ${e.reason.error.stack.split('\n').slice(1, 4).map((l) => l.trim()).join(' | ')}` : '';
      const inflight = e.reason.kind === 'stopped' ? '' : `; ${requests(e.inflight)}`;
      return `worker ${e.worker} exited (thread ${e.threadId}, after ${(e.uptimeMs / 1000).toFixed(1)} s): ${reason(e.reason)}${inflight}${stack}`;
    }
    case 'worker-restart':
      return `worker ${e.worker} restarting${e.delayMs > 0 ? ` in ${(e.delayMs / 1000).toFixed(1)} s (${e.fastDeaths} deaths in a row soon after start)` : ''}`;
    case 'worker-timeout':
      return `worker ${e.worker} timed out: its event loop has not turned for ${(e.stuckMs / 1000).toFixed(1)} s (thread ${e.threadId}); ${requests(e.inflight)}; terminating it`;
    case 'worker-retire':
      return `worker ${e.worker} served ${e.requests} requests (--max-requests): replacing it`;
    case 'reload':
      return e.phase === 'failed'
        ? `reload (${e.why}) failed, the running workers go on: ${e.error}`
        : `reload (${e.why}) ${e.phase === 'start' ? 'started' : 'done'}`;
    case 'workers':
      return `${e.count} worker${e.count === 1 ? '' : 's'} (${e.why})`;
    case 'stop':
      return `${e.signal}: stopping`;
    case 'reopen':
      return 'SIGUSR1: log files reopened';
    case 'worker-log':
      return e.text;
  }
}

const kRank: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3 };

/**
 * The default logger: events at `level` or above to stderr, as
 * `tsgi: <line>`; a worker's tsgi.errors output as it was written.
 *
 * @example
 * ```ts
 * const logger = stderrLogger('info'); // also worker start and ready lines
 * ```
 */
export function stderrLogger(level: LogLevel = 'warning'): SupervisorLogger {
  return {
    event(e) {
      if (e.type === 'worker-log') {
        process.stderr.write(e.level === undefined ? e.text : `tsgi: ${e.text}\n`);
        return;
      }
      if (kRank[levelOf(e)] < kRank[level]) return;
      process.stderr.write(`tsgi: ${formatEvent(e)}\n`);
    },
  };
}
