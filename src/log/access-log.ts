// access-log.ts: AccessLog, one line per response, for both servers. The
// response driver (gateway/response.ts) keeps the record of a response
// (AccessRecord: status, headers, bytes, duration) only when the server
// has an access log, and gives it here once the response is over (ended,
// cut, or its client gone): with no log, nothing here runs and nothing is
// measured; with one, nothing is allocated per request.
import type { ResponseLog } from '../gateway/response.js';
import { compileAccessFormat, type AccessRecord, type LineFormatter } from './access-format.js';
import { LogFile } from './log-file.js';

/**
 * The access log of a server: `target` is a file (appended to) or `-`
 * (stdout), `format` gunicorn's format string or `json`.
 *
 * @example
 * ```ts
 * const log = AccessLog.open('access.log', GUNICORN_FORMAT);
 * const server = await serve(app, { accessLog: 'access.log' }); // the same, from serve()
 * ```
 */
export class AccessLog implements ResponseLog {
  readonly timed: boolean;

  constructor(
    readonly file: LogFile,
    private readonly line: LineFormatter,
  ) {
    this.timed = line.timed;
  }

  static open(target: string, format: string): AccessLog {
    return new AccessLog(new LogFile(target, 'stdout'), compileAccessFormat(format));
  }

  /** Date.now() at turnStart(), or 0 outside a batch of events. */
  private turnNow = 0;

  /** Writes the line of a finished response; `now` in ms since the epoch,
   * or 0 for the log's clock. */
  log(record: AccessRecord, now: number): void {
    const file = this.file;
    if (file.begin()) this.line(record, now !== 0 ? now : this.turnNow !== 0 ? this.turnNow : Date.now(), file);
  }

  turnStart(): void {
    this.turnNow = Date.now();
  }

  turnEnd(): void {
    this.turnNow = 0;
  }

  reopen(): void {
    this.file.reopen();
  }
  close(): Promise<void> {
    return this.file.close();
  }
}
