// write-batch.ts: the reference server's pipelined responses go out in one
// writev per batch (ARCHITECTURE.md, "The reference server").
//
// node:http hands a socket to a pipelined response only when the response
// before it has finished, and a response finishes when its write has
// completed: each of 16 pipelined responses is its own writev(2), one loop
// tick after the other. The native server writes the whole batch at once.
// While a socket has a batch (batchWrites, called when a request arrives
// with another response of the connection still in flight), its writes are
// collected instead of written, and complete at once, so that node:http
// moves on to the next response; in the check phase (setImmediate), after
// the loop's I/O and every tick of it, the whole batch goes out as one
// writev, in the order node:http wrote it.
//
// Ownership: a collected chunk (a string, or bytes node:http or the
// application handed to the socket) is held by the batch from its write
// until the writev is dispatched; libuv then holds it (node's WriteWrap
// keeps the chunks) until the write completes. Bounds: once a batch holds
// kBatchBytes, the write that crosses the mark completes only with the
// writev (its callback is held), so the Writable's own backpressure holds
// again: a batch never keeps more than kBatchBytes plus one chunk.
//
// The bytes of a batch are counted by the socket (bytesWritten) from its
// writev on, not from their write. While a batch's writev is queued in
// libuv (a client that reads slowly or not at all), writes are the
// socket's own again: their callbacks wait, so the Writable's backpressure
// and node:http's pause of a socket whose output waits hold across
// batches, and the send timeout watches the handle's queue (SendWatch in
// sink.ts). A batch still collecting when the socket ends goes out before
// the shutdown (_final); one when it is destroyed without an error
// (server.close()'s closeIdleConnections) goes out before the handle
// closes, so the kernel keeps what it takes, as it would have at each
// write; one destroyed with an error is dropped.
import { Socket } from 'node:net';
import { OUTPUT_HIGH_WATER } from '../native/binding.js';
import { kQueuedWrites, watchSend } from './sink.js';

/** A chunk as a Writable hands it to `_writev`. */
interface Entry {
  chunk: Buffer | string;
  encoding: BufferEncoding | 'buffer';
}

type Callback = (err?: Error | null) => void;

interface Batch {
  /** Whether writes are collected now: from batchWrites() to the writev. */
  on: boolean;
  entries: Entry[];
  bytes: number;
  /** The callbacks of writes that crossed kBatchBytes: they complete with
   * the writev. */
  held: Callback[];
  /** The send timeout of the socket's server, in ms (0: none). */
  sendMs: number;
}

/** The size a batch collects before its writes wait for the writev: the
 * sockets' high-water mark (one source with the native server's), so that
 * a large body is not held by it. Counted as the Writable counts, in
 * string length for strings (UTF-8 text may be up to 3 times as many
 * bytes). */
const kBatchBytes = OUTPUT_HIGH_WATER;

const kBatch = Symbol('tsgi.writeBatch');

type BatchedSocket = Socket & {
  [kBatch]?: Batch;
  /** Writevs of its batches dispatched and not completed (libuv queued
   * them: the client reads slowly, or not at all). While one is, writes
   * are the socket's own again, so that its backpressure (and node:http's
   * pause of a socket whose output waits) holds across batches; the send
   * timeout reads it too (sink.ts). */
  [kQueuedWrites]?: number;
  _write(chunk: Buffer | string, encoding: BufferEncoding | 'buffer', cb: Callback): void;
  _writev(entries: Entry[], cb: Callback): void;
  _final(cb: Callback): void;
  _handle: unknown;
};

const proto = Socket.prototype as unknown as BatchedSocket;
const socketWrite = proto._write;
const socketWritev = proto._writev;
const socketFinal = proto._final;
const socketDestroy = (proto as unknown as { _destroy: (err: Error | null, cb: Callback) => void })._destroy;

function size(chunk: Buffer | string): number {
  return typeof chunk === 'string' ? chunk.length : chunk.byteLength;
}

/** Adds `bytes` to the batch of writes already pushed to its entries:
 * the write completes now, or, past kBatchBytes, with the writev. */
function collected(batch: Batch, bytes: number, cb: Callback): void {
  batch.bytes += bytes;
  if (batch.bytes < kBatchBytes) cb();
  else batch.held.push(cb);
}

function batchedWrite(this: BatchedSocket, chunk: Buffer | string, encoding: BufferEncoding | 'buffer', cb: Callback): void {
  const batch = this[kBatch]!;
  if (!batch.on || this[kQueuedWrites]! > 0) {
    socketWrite.call(this, chunk, encoding, cb);
    return;
  }
  batch.entries.push({ chunk, encoding });
  collected(batch, size(chunk), cb);
}

function batchedWritev(this: BatchedSocket, entries: Entry[], cb: Callback): void {
  const batch = this[kBatch]!;
  if (!batch.on || this[kQueuedWrites]! > 0) {
    socketWritev.call(this, entries, cb);
    return;
  }
  let bytes = 0;
  for (let i = 0; i < entries.length; i++) {
    batch.entries.push(entries[i]!);
    bytes += size(entries[i]!.chunk);
  }
  collected(batch, bytes, cb);
}

/** The end of the output: the batch first, then the shutdown (libuv
 * completes queued writes before a shutdown). */
function batchedFinal(this: BatchedSocket, cb: Callback): void {
  flush(this);
  socketFinal.call(this, cb);
}

/** The batch's entries and held callbacks, leaving it empty. */
function take(batch: Batch): { entries: Entry[]; held: Callback[] } {
  const { entries, held } = batch;
  batch.entries = [];
  batch.bytes = 0;
  batch.held = [];
  return { entries, held };
}

/** Dispatches the batch of `socket` as one writev, and collects no more. */
function flush(socket: BatchedSocket): void {
  const batch = socket[kBatch]!;
  batch.on = false;
  if (batch.entries.length === 0) return;
  if (socket.destroyed) {
    const { held } = take(batch);
    const gone = new Error('the socket was destroyed before its batch was written');
    for (let i = 0; i < held.length; i++) held[i]!(gone);
    return;
  }
  dispatch(socket, batch);
}

function dispatch(socket: BatchedSocket, batch: Batch): void {
  const { entries, held } = take(batch);
  socket[kQueuedWrites]!++;
  socketWritev.call(socket, entries, (err) => {
    socket[kQueuedWrites]!--;
    if (err) socket.destroy(err);
    for (let i = 0; i < held.length; i++) held[i]!(err);
  });
  // Queued in libuv, with the writes' callbacks called: the send timeout
  // watches the handle's queue (SendWatch).
  if (socket[kQueuedWrites]! > 0) watchSend(socket, batch.sendMs);
}

/** A destroy without an error (server.close()'s closeIdleConnections, a
 * timeout) keeps what node:http has finished: the batch is dispatched
 * before the handle closes, so the kernel takes what it can, as it would
 * have at each write without the batch. */
function batchedDestroy(this: BatchedSocket, err: Error | null, cb: Callback): void {
  const batch = this[kBatch]!;
  batch.on = false;
  if (err == null && batch.entries.length > 0 && this._handle) dispatch(this, batch);
  socketDestroy.call(this, err, cb);
}

/** Collects the writes of `socket` until the check phase of this loop
 * turn, then writes them as one writev (see the top of this file). */
export function batchWrites(socket: Socket, sendMs: number): void {
  const s = socket as BatchedSocket;
  let batch = s[kBatch];
  if (batch === undefined) {
    batch = s[kBatch] = { on: false, entries: [], bytes: 0, held: [], sendMs };
    s[kQueuedWrites] = 0;
    s._write = batchedWrite;
    s._writev = batchedWritev;
    s._final = batchedFinal;
    (s as unknown as { _destroy: typeof batchedDestroy })._destroy = batchedDestroy;
  }
  if (batch.on || socket.destroyed) return;
  batch.on = true;
  setImmediate(flush, s);
}
