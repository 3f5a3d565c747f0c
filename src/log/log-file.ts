// log-file.ts: LogFile, where log lines go: a file opened with O_APPEND, or
// the process's stdout/stderr (`-`). Lines are batched and written off the
// event loop (fs.write on libuv's thread pool), one write per batch, at
// most one write in flight; reopen() (SIGUSR1, after logrotate renamed the
// file) takes effect between writes.
//
// Any thread may have its own LogFile on the same path: each batch is whole
// lines in one write(2) with O_APPEND, so the kernel appends it at the end
// as one piece and lines of several threads (or processes) never mix. (A
// short write, only when the disk is full, writes its rest separately.)
import { closeSync, openSync, write, writeSync } from 'node:fs';

/** Bytes waiting to be written beyond which new lines are dropped (a disk
 * that stalls must not grow the heap without bound); counted, and said. */
const kMaxPending = 8 * 1024 * 1024;

/** Every open LogFile of this thread, flushed synchronously at exit. */
const open = new Set<LogFile>();
let exitHooked = false;

function flushAtExit(): void {
  for (const log of open) log.flushSync();
}

/** What a LogFile reports about itself (dropped lines, write errors). */
export type LogProblem = (message: string) => void;

/**
 * A log destination. `target` is a file path, or `-` for `stdio`.
 *
 * @example
 * ```ts
 * const log = new LogFile('/var/log/tsgi/access.log', 'stdout');
 * log.write('one line\n');
 * process.on('SIGUSR1', () => log.reopen());
 * ```
 */
export class LogFile {
  /** The descriptor of the file, or -1 for stdout/stderr. */
  private fd = -1;
  private chunks: string[] = [];
  private pending = 0;
  private writing = false;
  private scheduled = false;
  private reopenWanted = false;
  private closed = false;
  private dropped = 0;
  private failed = false;
  private idle: (() => void)[] = [];
  onProblem: LogProblem | null = null;
  private readonly flushTask = () => {
    this.scheduled = false;
    this.flush();
  };

  /** Opens the file (creating it, mode 0666 less the umask); throws the
   * open error (ENOENT for a missing directory, EACCES...). */
  constructor(
    readonly target: string,
    private readonly stdio: 'stdout' | 'stderr',
  ) {
    if (target !== '-') this.fd = openSync(target, 'a');
    open.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', flushAtExit);
    }
  }

  /** Appends `text` (whole lines, each ending in `\n`); written at the end
   * of this turn of the event loop, with whatever else came meanwhile. */
  write(text: string): void {
    if (this.closed) return;
    if (this.pending + text.length > kMaxPending) {
      this.dropped++;
      return;
    }
    this.chunks.push(text);
    this.pending += text.length;
    if (!this.scheduled && !this.writing) {
      this.scheduled = true;
      setImmediate(this.flushTask);
    }
  }

  /** Reopens the file by its path (a rotated file is left to its new
   * name); for `-`, nothing. Done once the write in flight has finished. */
  reopen(): void {
    if (this.fd < 0 || this.closed) return;
    if (this.writing) {
      this.reopenWanted = true;
      return;
    }
    this.doReopen();
  }

  private doReopen(): void {
    this.reopenWanted = false;
    let fd: number;
    try {
      fd = openSync(this.target, 'a');
    } catch (err) {
      this.problem(`cannot reopen ${this.target}: ${(err as Error).message}; still writing to the old file`);
      return;
    }
    const old = this.fd;
    this.fd = fd;
    this.failed = false;
    try {
      closeSync(old);
    } catch {
      // Already gone: nothing to do.
    }
  }

  private problem(message: string): void {
    const report = this.onProblem;
    if (report !== null) report(message);
    else process.stderr.write(`tsgi: ${message}\n`);
  }

  /** Takes the batch: everything written so far, as one string. */
  private take(): string {
    const text = this.chunks.length === 1 ? this.chunks[0]! : this.chunks.join('');
    this.chunks = [];
    this.pending = 0;
    return text;
  }

  private flush(): void {
    if (this.writing) return;
    if (this.chunks.length === 0) {
      this.settled();
      return;
    }
    if (this.dropped > 0) {
      const n = this.dropped;
      this.dropped = 0;
      this.problem(`${n} log line(s) for ${this.target === '-' ? this.stdio : this.target} dropped: the writes could not keep up`);
    }
    const data = Buffer.from(this.take(), 'utf8');
    if (this.fd < 0) {
      // stdout/stderr: Node's own stream (synchronous for files and pipes
      // on Linux, so one write per batch; in a worker thread it goes to the
      // main thread, a batch at a time).
      (this.stdio === 'stdout' ? process.stdout : process.stderr).write(data);
      this.settled();
      return;
    }
    this.writing = true;
    this.writeFrom(data, 0);
  }

  private writeFrom(data: Buffer, offset: number): void {
    write(this.fd, data, offset, data.length - offset, null, (err, n) => {
      if (err) {
        if (!this.failed) this.problem(`cannot write to ${this.target}: ${err.message}`);
        this.failed = true;
      } else if (offset + n < data.length) {
        this.writeFrom(data, offset + n);
        return;
      }
      this.writing = false;
      if (this.reopenWanted) this.doReopen();
      if (this.closed) this.closeFd();
      else this.flush();
    });
  }

  private settled(): void {
    const idle = this.idle;
    if (idle.length === 0) return;
    this.idle = [];
    for (const resolve of idle) resolve();
  }

  /** Resolves once everything written so far is in the file. */
  flushed(): Promise<void> {
    if (!this.writing && this.chunks.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle.push(resolve);
      if (!this.writing && !this.scheduled) this.flush();
    });
  }

  /** Writes what is pending now, synchronously (at exit). */
  flushSync(): void {
    if (this.chunks.length === 0) return;
    const data = Buffer.from(this.take(), 'utf8');
    try {
      if (this.fd < 0) writeSync(this.stdio === 'stdout' ? 1 : 2, data);
      else writeSync(this.fd, data);
    } catch {
      // Nothing more can be done at exit.
    }
  }

  /** Flushes, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flushed();
    this.closed = true;
    open.delete(this);
    if (!this.writing) this.closeFd();
  }

  private closeFd(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
  }
}
