// file-wrapper.ts: `tsgi.file_wrapper`, a file a server may send with
// sendfile(2), and which any other code may simply iterate.
import { closeSync, fstatSync, open, read } from 'node:fs';
import { promisify } from 'node:util';
import type { FileWrapper, FileWrapperOptions } from '../types.js';

const openAsync = promisify(open);
const readAsync = promisify(read);

// Thread pool round trips: each fs call through libuv's pool costs two
// thread wake-ups and a loop wake-up (strace: 11 context switches per file
// response with open, fstat and close all there). Only open(2) goes there:
// it looks a path up, which may wait on a slow or remote file system.
// fstat(2) of the descriptor just opened is answered from the inode the
// open loaded, and close(2) of a read-only descriptor writes nothing back:
// both are made on the loop thread, as nginx makes all three.

const kDefaultBlock = 64 * 1024;

/** The file wrapper made by `tsgi.file_wrapper`. */
export class FileBody implements FileWrapper {
  private descriptor: number;
  private readonly path: string | null;
  private size = -1;
  private closed = false;
  /** The read in flight, if any: close() waits for it, so that the
   * descriptor is never closed (and its number reused) under a read. */
  private reading: Promise<unknown> | null = null;
  readonly offset: number;
  private readonly requested: number;
  private readonly blockSize: number;

  constructor(pathOrFd: string | number, options: FileWrapperOptions = {}) {
    if (typeof pathOrFd === 'number') {
      if (!Number.isInteger(pathOrFd) || pathOrFd < 0) {
        throw new TypeError(`tsgi.file_wrapper: fd must be a non-negative integer, got ${pathOrFd}`);
      }
      this.descriptor = pathOrFd;
      this.path = null;
    } else if (typeof pathOrFd === 'string' && pathOrFd.length > 0) {
      this.descriptor = -1;
      this.path = pathOrFd;
    } else {
      throw new TypeError('tsgi.file_wrapper: expected a path or a file descriptor');
    }
    const { offset = 0, length = -1, blockSize = kDefaultBlock } = options;
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new RangeError(`tsgi.file_wrapper: offset must be a non-negative integer, got ${offset}`);
    }
    if (!Number.isSafeInteger(length) || length < -1) {
      throw new RangeError(`tsgi.file_wrapper: length must be a non-negative integer, got ${length}`);
    }
    if (!Number.isSafeInteger(blockSize) || blockSize <= 0) {
      throw new RangeError(`tsgi.file_wrapper: blockSize must be a positive integer, got ${blockSize}`);
    }
    this.offset = offset;
    this.requested = length;
    this.blockSize = blockSize;
  }

  get fd(): number {
    return this.descriptor;
  }

  /** Bytes that will be sent: known after `open()`. */
  get length(): number {
    return this.size;
  }

  /** Opens the path (if any) and computes the length from fstat. */
  async open(): Promise<void> {
    if (this.size >= 0) return;
    if (this.closed) throw new Error('tsgi.file_wrapper: file already closed');
    if (this.descriptor < 0) this.descriptor = await openAsync(this.path!, 'r');
    const stat = fstatSync(this.descriptor);
    if (!stat.isFile()) throw new Error(`tsgi.file_wrapper: ${this.path ?? `fd ${this.descriptor}`} is not a regular file`);
    const available = Math.max(0, stat.size - this.offset);
    this.size = this.requested < 0 ? available : Math.min(this.requested, available);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    await this.open();
    let position = this.offset;
    let left = this.size;
    while (left > 0 && !this.closed) {
      const block = Buffer.allocUnsafe(Math.min(this.blockSize, left));
      const read = readAsync(this.descriptor, block, 0, block.length, position);
      this.reading = read;
      let bytesRead: number;
      try {
        ({ bytesRead } = await read);
      } finally {
        this.reading = null;
      }
      if (bytesRead === 0) break;
      position += bytesRead;
      left -= bytesRead;
      yield bytesRead === block.length ? block : block.subarray(0, bytesRead);
    }
  }

  close(): Promise<void> {
    // (The server closes a body whose client left while its next block
    // was being read: the read ends first.)
    const reading = this.reading;
    if (reading !== null && !this.closed) {
      return reading.then(
        () => this.close(),
        () => this.close(),
      );
    }
    if (!this.closed && this.descriptor >= 0) {
      try {
        closeSync(this.descriptor);
      } catch {
        // EBADF (the application closed an fd it handed over) or EIO: the
        // descriptor is released either way; nothing to report to anyone.
      }
    }
    this.closed = true;
    return Promise.resolve();
  }
}

/** `tsgi.file_wrapper(pathOrFd, options?)`.
 *
 * @example
 * ```ts
 * const app: Application = (environ, startResponse) => {
 *   startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
 *   return environ['tsgi.file_wrapper']('/srv/data.bin');
 * };
 * ```
 */
export function fileWrapper(pathOrFd: string | number, options?: FileWrapperOptions): FileWrapper {
  return new FileBody(pathOrFd, options);
}
