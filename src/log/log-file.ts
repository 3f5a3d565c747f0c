// log-file.ts: LogFile, where log lines go: a file opened with O_APPEND, or
// the process's stdout/stderr (`-`). Lines are copied into blocks of
// bytes as they come (no string is kept, nothing is joined) and written off
// the event loop (fs.write/writev on libuv's thread pool): a batch leaves
// 100 ms after its first line, or as soon as it holds 64 KiB, in one system
// call, with at most one write in flight (a write per request would cost a
// thread-pool round trip per request); reopen() (SIGUSR1, after logrotate
// renamed the file) takes effect between writes. At exit what is pending is
// written at once.
//
// Any thread may have its own LogFile on the same path: each batch is whole
// lines in one write(2) or writev(2) with O_APPEND, so the kernel appends it
// at the end as one piece and lines of several threads (or processes) never
// mix. (A short write, only when the disk is full, writes its rest
// separately.)
import { closeSync, openSync, write, writev, writeSync } from 'node:fs';

/** Bytes held (waiting, plus the write in flight) beyond which new lines
 * are dropped (a disk that stalls must not grow memory without bound);
 * counted, and said. Dropping, not blocking: a request is never held up
 * by its log. */
const kMaxPending = 8 * 1024 * 1024;

/** Blocks kept for reuse once their write is done: with them the blocks of
 * a busy log are allocated once, not a new 64 KiB per 64 KiB of lines
 * (each freed only when the garbage collector gets to it). */
const kSpareBlocks = 4;

/** How long a line may wait for the lines after it, and how much a batch
 * holds before it is written at once; the size of a block of bytes. */
const kFlushMs = 100;
const kFlushBytes = 64 * 1024;
const kBlock = 64 * 1024;

/** Every open LogFile of this thread, flushed synchronously at exit. */
const open = new Set<LogFile>();
let exitHooked = false;

function flushAtExit(): void {
  for (const log of open) log.flushSync();
}

/** What a LogFile reports about itself (dropped lines, write errors). */
export type LogProblem = (message: string) => void;

interface WritableBuffer extends Buffer {
  utf8Write(text: string, offset: number): number;
}

/**
 * A log destination. `target` is a file path, or `-` for `stdio`. Text is
 * written as UTF-8 (write()), or made in place as bytes (openLine(): the
 * access log's lines).
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
  /** Blocks filled, oldest first, then the one being filled. */
  private full: Buffer[] = [];
  private block: WritableBuffer | null = null;
  private used = 0;
  private pending = 0;
  /** Bytes of the write in flight (they count against kMaxPending). */
  private inFlight = 0;
  /** Whole kBlock blocks written, ready to be filled again (fd only). */
  private spare: WritableBuffer[] = [];
  private writing = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private reopenWanted = false;
  private closed = false;
  private dropped = 0;
  private failed = false;
  private idle: (() => void)[] = [];
  onProblem: LogProblem | null = null;
  private readonly flushTask = () => {
    this.scheduled = false;
    this.timer = null;
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

  /** Appends `text` (whole lines, each ending in `\n`); written with the
   * lines that follow it within 100 ms (or 64 KiB). */
  write(text: string): void {
    if (!this.begin()) return;
    const block = this.room(3 * text.length);
    const n = block.utf8Write(text, this.used);
    this.used += n;
    this.pending += n;
    this.schedule();
  }

  /** Whether a line may be written now (false: dropped, and counted): the
   * access log asks before it makes its line. */
  begin(): boolean {
    if (this.closed) return false;
    if (this.pending + this.inFlight > kMaxPending) {
      this.dropped++;
      return false;
    }
    return true;
  }

  // ---- A line made in place (the access log, access-format.ts's
  // LineTarget): its bytes go straight into the block, with no copy.

  /** Where the line being made starts in the block of openLine(). */
  get lineStart(): number {
    return this.used;
  }

  /** The block, with room for `n` bytes from lineStart (the longest the
   * line can be). */
  openLine(n: number): Uint8Array {
    return this.room(n);
  }

  /** The line ends at `end` of the block (with its `\n`). */
  closeLine(end: number): void {
    this.pending += end - this.used;
    this.used = end;
    this.schedule();
  }

  /** The block, with room for `n` more bytes. A block is given to one
   * write and not used again: one allocation per 64 KiB of lines. */
  private room(n: number): WritableBuffer {
    let block = this.block;
    if (block === null || this.used + n > block.length) {
      if (block !== null && this.used > 0) this.full.push(block.subarray(0, this.used));
      block = n <= kBlock && this.spare.length > 0 ? this.spare.pop()! : (Buffer.allocUnsafe(Math.max(kBlock, n)) as WritableBuffer);
      this.block = block;
      this.used = 0;
    }
    return block;
  }

  /** Arranges the next write: at once for a full batch, else when the
   * oldest line has waited kFlushMs; a write in flight arranges it when it
   * completes. */
  private schedule(): void {
    if (this.writing || this.pending === 0) return;
    if (this.pending >= kFlushBytes || this.idle.length > 0) {
      if (this.timer !== null) {
        clearTimeout(this.timer);
        this.timer = null;
        this.scheduled = false;
      }
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flushTask);
      }
    } else if (!this.scheduled) {
      this.scheduled = true;
      // Unreferenced: a log line does not keep the process alive (at exit
      // it is written synchronously).
      this.timer = setTimeout(this.flushTask, kFlushMs);
      this.timer.unref();
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

  /** Takes the batch: every byte written so far, as blocks. */
  private take(): Buffer[] {
    const batch = this.full;
    if (this.block !== null && this.used > 0) batch.push(this.block.subarray(0, this.used));
    this.full = [];
    this.block = null;
    this.used = 0;
    this.pending = 0;
    return batch;
  }

  private flush(): void {
    if (this.writing) return;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.scheduled = false;
    }
    if (this.pending === 0) {
      this.settled();
      return;
    }
    if (this.dropped > 0) {
      const n = this.dropped;
      this.dropped = 0;
      this.problem(`${n} log line(s) for ${this.target === '-' ? this.stdio : this.target} dropped: the writes could not keep up`);
    }
    const batch = this.take();
    if (this.fd < 0) {
      // stdout/stderr: Node's own stream (synchronous for files and pipes
      // on Linux, so one write per batch; in a worker thread it goes to the
      // main thread, a batch at a time).
      const stream = this.stdio === 'stdout' ? process.stdout : process.stderr;
      stream.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch));
      this.settled();
      return;
    }
    this.writing = true;
    this.inFlight = 0;
    for (const b of batch) this.inFlight += b.length;
    this.writeBatch(batch, batch.slice());
  }

  /** Keeps the whole blocks of a written batch for reuse (a batch's pieces
   * are views of blocks from their start). */
  private recycle(written: Buffer[]): void {
    for (const piece of written) {
      if (this.spare.length >= kSpareBlocks) return;
      if (piece.byteOffset === 0 && piece.buffer.byteLength === kBlock) {
        this.spare.push(Buffer.from(piece.buffer, 0, kBlock) as WritableBuffer);
      }
    }
  }

  /** One write(2) or writev(2) of `batch`; the rest of a short write goes
   * again. */
  private writeBatch(batch: Buffer[], blocks: Buffer[]): void {
    const done = (err: NodeJS.ErrnoException | null, n: number) => {
      if (err) {
        if (!this.failed) this.problem(`cannot write to ${this.target}: ${err.message}`);
        this.failed = true;
      } else {
        let left = n;
        while (batch.length > 0 && left >= batch[0]!.length) left -= batch.shift()!.length;
        if (batch.length > 0) {
          batch[0] = batch[0]!.subarray(left);
          this.writeBatch(batch, blocks);
          return;
        }
      }
      this.writing = false;
      this.inFlight = 0;
      this.recycle(blocks);
      if (this.reopenWanted) this.doReopen();
      if (this.closed) {
        this.closeFd();
      } else if (this.pending === 0) {
        this.settled();
      } else {
        this.schedule();
      }
    };
    if (batch.length === 1) write(this.fd, batch[0]!, 0, batch[0]!.length, null, done);
    else writev(this.fd, batch, null, done);
  }

  private settled(): void {
    const idle = this.idle;
    if (idle.length === 0) return;
    this.idle = [];
    for (const resolve of idle) resolve();
  }

  /** Resolves once everything written so far is in the file. */
  flushed(): Promise<void> {
    if (!this.writing && this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle.push(resolve);
      if (!this.writing) this.flush();
    });
  }

  /** Writes what is pending now, synchronously (at exit). */
  flushSync(): void {
    if (this.pending === 0) return;
    const data = Buffer.concat(this.take());
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
