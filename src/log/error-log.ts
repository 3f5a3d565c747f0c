// error-log.ts: ErrorLog, the server's own events and tsgi.errors, one line
// per event: `[2024-05-01 10:00:00 +0200] [1234] [INFO] message`, as
// gunicorn's error log writes them (its error_fmt and datefmt). A message
// with line breaks (a stack trace, a client-controlled path) stays on its
// line: control characters are written as \n, \r, \t or \xHH.
import type { ErrorStream } from '../types.js';
import { zoneOffset } from './access-format.js';
import { LogFile } from './log-file.js';

/** The levels of `logLevel`, least severe first. */
export const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const kLabels: Record<LogLevel, string> = {
  debug: 'DEBUG',
  info: 'INFO',
  warning: 'WARNING',
  error: 'ERROR',
  critical: 'CRITICAL',
};

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;

/** `[2024-05-01 10:00:00 +0200]`, local time. */
function timestamp(d: Date): string {
  return `[${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${zoneOffset(d)}]`;
}

/** One line of `message`: control characters escaped, a trailing line
 * break dropped. */
export function oneLine(message: string): string {
  const text = message.endsWith('\n') ? message.slice(0, -1) : message;
  if (!/[\x00-\x1f\x7f]/.test(text)) return text;
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0');
  });
}

/**
 * The error log. It is also an ErrorStream, tsgi.errors: what an
 * application writes there goes to the log as it is written (as gunicorn's
 * wsgi.errors does: the application's own lines), while the server's
 * reports of its failures are ERROR events (logError, gateway/errors.ts).
 *
 * @example
 * ```ts
 * const log = ErrorLog.open('-', 'info');
 * log.info('listening on http://127.0.0.1:8000 (native)');
 * ```
 */
export class ErrorLog implements ErrorStream {
  private readonly least: number;

  constructor(
    readonly file: LogFile,
    readonly level: LogLevel,
  ) {
    this.least = LOG_LEVELS.indexOf(level);
  }

  /** Opens `target` (a path, or `-` for stderr). */
  static open(target: string, level: LogLevel): ErrorLog {
    return new ErrorLog(new LogFile(target, 'stderr'), level);
  }

  /** Whether events of `level` are kept. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.least;
  }

  log(level: LogLevel, message: string): void {
    if (!this.enabled(level)) return;
    this.file.write(`${timestamp(new Date())} [${process.pid}] [${kLabels[level]}] ${oneLine(message)}\n`);
  }

  debug(message: string): void {
    this.log('debug', message);
  }
  info(message: string): void {
    this.log('info', message);
  }
  warning(message: string): void {
    this.log('warning', message);
  }
  error(message: string): void {
    this.log('error', message);
  }
  critical(message: string): void {
    this.log('critical', message);
  }

  /** ErrorStream: the application's text, as it is. */
  write(message: string): void {
    this.file.write(String(message));
  }
  flush(): void {}

  reopen(): void {
    this.file.reopen();
  }
  close(): Promise<void> {
    return this.file.close();
  }
}
