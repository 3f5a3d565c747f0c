// server.ts: the native server's TypeScript half: decodes the event records
// the addon writes, keeps each slot's peer, builds environs, and hands
// responses back to C++ as primitives (prepared heads, the response queue).
// Each connection's requests and responses are connection.ts's.
import { markAsUntransferable } from 'node:worker_threads';
import type { Application, BoundAddress, Chunk, ErrorStream } from '../types.js';
import type { ListenTarget, ServingServer } from '../supervisor/binds.js';
import { maxChunkExtensionSize, timerTickMs, type Limits } from '../settings.js';
import { bodyError, BodyFailure } from '../gateway/body-error.js';
import {
  addHeader,
  createEnviron,
  environKey,
  finishEnviron,
  rootShape,
  shapeValues,
  type EnvironBase,
  type HeaderShape,
} from '../gateway/environ.js';
import { emptyInput, Input } from '../gateway/input.js';
import { NATIVE_REFUSALS, refusalParts } from '../gateway/refusals.js';
import type { SinkWrapper } from '../gateway/response.js';
import type { ResponseHead } from '../gateway/response-head.js';
import { fileWrapper } from '../gateway/file-wrapper.js';
import type { ProxyTrust } from '../gateway/forwarded.js';
import { parseErrorSlot } from '../metrics/layout.js';
import {
  EV_SIZE,
  Ev,
  HEAD_WORDS_PER_HEADER,
  MIN_BYTES,
  MIN_EVENT_WORDS,
  MAX_PREPARED_HEADS,
  MIN_QUEUE_BYTES,
  MIN_QUEUE_WORDS,
  ProxyMode,
  RQ,
  RQ_HEADER_WORDS,
  RQ_RECORD_WORDS,
  Rf,
  SLOT_MASK,
  type NativeBinding,
  type NativeServer,
} from './binding.js';
import { Connection, Request } from './connection.js';

export interface NativeServerStartOptions {
  /** What to listen on: addresses to bind, or descriptors to adopt. */
  listeners: readonly ListenTarget[];
  backlog: number;
  errors: ErrorStream;
  multiprocess: boolean;
  /** Limits and timeouts, defaults filled in. */
  limits: Limits;
  /** The access log, or null. */
  accessLog: SinkWrapper | null;
  /** The trusted front-ends (forwardedAllowIps). */
  trust: ProxyTrust;
  /** The metrics block C++ counts into, or null. */
  metrics: Float64Array | null;
  /** The PROXY header expected from trusted front-ends, or 'off'. */
  proxyProtocol: 'off' | keyof typeof ProxyMode;
  /** The watchdog's ring (src/supervisor/watchdog.ts), in a worker. */
  inflight?: Int32Array;
}

// Record sizes (binding.ts), read once.
const kOpenWords = EV_SIZE[Ev.Open];
const kHeadWords = EV_SIZE[Ev.Head];
const kBodyWords = EV_SIZE[Ev.Body];
const kBodyEndWords = EV_SIZE[Ev.BodyEnd];
const kDrainWords = EV_SIZE[Ev.Drain];
const kCloseWords = EV_SIZE[Ev.Close];
const kFileDoneWords = EV_SIZE[Ev.FileDone];
const kBodyErrorWords = EV_SIZE[Ev.BodyError];
const kClosedWords = EV_SIZE[Ev.Closed];
const kProxyWords = EV_SIZE[Ev.Proxy];
// Record types, read once: onEvents switches on these. A case label of
// `Ev.X` is a property load evaluated only when the labels before it did
// not match, so an event type first seen after onEvents was optimized
// (the first connection to close) found a load without feedback there
// and deoptimized it (--trace-deopt: "Insufficient type feedback for
// generic named access"); a constant needs none.
const kEvOpen = Ev.Open;
const kEvHead = Ev.Head;
const kEvBody = Ev.Body;
const kEvBodyEnd = Ev.BodyEnd;
const kEvDrain = Ev.Drain;
const kEvClose = Ev.Close;
const kEvFileDone = Ev.FileDone;
const kEvClosed = Ev.Closed;
const kEvBodyError = Ev.BodyError;
const kEvProxy = Ev.Proxy;

interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
}
interface Utf8Buffer extends Buffer {
  /** Buffer#write for UTF-8 without its argument juggling. */
  utf8Write(text: string, offset: number, length: number): number;
}

// A queued body is copied twice (into the queue, then the output buffer);
// a larger one goes with respondHead(), copied once.
const kQueuedBodyMax = 8 * 1024;

// Body chunks of at most BODY_AREA_CHUNK_MAX bytes are copied by C++ into
// the body area, a larger ArrayBuffer of the server's (bodyArea()), and
// handed out as views of it: one copy, and no ArrayBuffer (its allocation,
// its tracking by the GC, its sweeping) per chunk. An area is written front
// to back, each byte once, and never reused, so no chunk is ever
// overwritten; a chunk the application keeps keeps its whole area
// (kBodyAreaSize) alive, as a slice of Node's Buffer pool does, and its
// `.buffer` is the whole area (other requests' bytes too), which is why it
// is marked untransferable. Larger chunks, and small ones that found the
// area full, get a buffer of their own. See ARCHITECTURE.md, the ownership
// table.
const kBodyAreaSize = 64 * 1024;

/** The JS half of one native server. */
export class NativeHttpServer {
  readonly native: NativeServer;
  readonly events: Int32Array;
  readonly bytes: Latin1Buffer;
  /** The response queue (RQ in binding.ts) and its bodies. */
  private readonly responses: Int32Array;
  private readonly responseBytes: Utf8Buffer;
  /** The head in each prepared slot, and the slot to take next. */
  private readonly prepared: (ResponseHead | undefined)[] = [];
  private nextSlot = 0;
  /** The Connection of each slot that has a request (else undefined), and
   * the peer and listener of each open slot, from its Open record (or its
   * PROXY header's, which comes before any Head): the address (one string
   * per address, shared), the port, the environ base, SERVER_PORT when a
   * PROXY header gave one (else null), and the server's ProxyTrust when
   * the peer is a trusted front-end (else null). An idle connection thus
   * costs five array entries in JS. */
  private readonly conns: (Connection | undefined)[] = [];
  private readonly peerAddrs: (string | undefined)[] = [];
  private readonly peerPorts: number[] = [];
  private readonly peerBases: (EnvironBase | undefined)[] = [];
  private readonly peerServerPorts: (string | null)[] = [];
  private readonly peerTrust: (ProxyTrust | null)[] = [];
  private readonly addrStrings = new Map<string, string>();
  /** The body area C++ copies small chunks into (C++ alone counts its
   * used bytes, and asks for a new one with each batch). */
  private bodyArea: ArrayBuffer | null = null;
  /** The Closed record came: the addon's server is gone. */
  private closed = false;
  /** The environ base of each listener, by index (Open records name it). */
  readonly bases: EnvironBase[] = [];
  private readonly methods: string[];
  /** Environ key of each known header id (null: dropped or no id). */
  private readonly knownKeys: (string | null)[];
  private inBatch = false;
  private flushQueued = false;
  private onClosed: (() => void) | null = null;
  private readonly gracefulMs: number;
  private readonly limits: Limits;
  private readonly flushTask = () => {
    this.flushQueued = false;
    // A response started outside an event batch queued this tick before
    // its first write() queued the hand-over: hand its chunks over first,
    // so that its head and body leave in one write.
    if (this.deferred.length > 0) this.handOverTask();
    this.native.flush();
  };
  /** Connections whose written chunks wait for the tick after the turn
   * (Connection.handOver), in the order they first wrote. */
  private deferred: Connection[] = [];
  private readonly handOverTask = () => {
    const conns = this.deferred;
    this.deferred = [];
    for (let i = 0; i < conns.length; i++) {
      // Outside the driver's try: a throw (a chunk C++ refuses, worker
      // termination) cuts that response, not the others or the process.
      try {
        conns[i]!.handOver(false);
      } catch (err) {
        // handOver cut that response; the others go on.
        this.errors.write(`tsgi: a response's chunks could not be written, so its connection was cut: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  };

  constructor(
    binding: NativeBinding,
    readonly app: Application,
    readonly errors: ErrorStream,
    limits: Limits,
    readonly accessLog: SinkWrapper | null,
    readonly trust: ProxyTrust,
    metrics: Float64Array | null,
    private readonly proxyMode: ProxyMode | 0,
    inflight: Int32Array | undefined,
  ) {
    this.methods = binding.methods;
    this.knownKeys = binding.knownHeaders.map((name) => (name === null ? null : environKey(name)));
    this.gracefulMs = limits.gracefulTimeout * 1000;
    this.limits = limits;
    // The addon needs the largest head (and its record) to fit in half of
    // the shared arrays; the rest holds the other records of a batch.
    const headWords = EV_SIZE[Ev.Head] + HEAD_WORDS_PER_HEADER * limits.maxHeaderCount;
    const headBytes = limits.maxUrlSize + limits.maxHeaderSize + 4 * limits.maxHeaderCount;
    this.events = new Int32Array(Math.max(4 * MIN_EVENT_WORDS, 2 * headWords + MIN_EVENT_WORDS));
    this.bytes = Buffer.alloc(Math.max(4 * MIN_BYTES, 2 * headBytes + MIN_BYTES)) as Latin1Buffer;
    // Each parse error's ready-made response, at the index of its value.
    const refusals: { head: string; tail: string }[] = [];
    const nameOf: string[] = [];
    for (const [name, value] of Object.entries(binding.contract.httpErrors)) {
      refusals[value] = refusalParts(NATIVE_REFUSALS[name]!);
      nameOf[value] = name;
    }
    const timeoutsMs = {
      headersTimeoutMs: limits.headersTimeout * 1000,
      requestTimeoutMs: limits.requestTimeout * 1000,
      keepAliveTimeoutMs: limits.keepAliveTimeout * 1000,
      sendTimeoutMs: limits.sendTimeout * 1000,
    };
    this.responses = new Int32Array(Math.max(MIN_QUEUE_WORDS, 64 * RQ_RECORD_WORDS + RQ_HEADER_WORDS));
    this.responseBytes = Buffer.alloc(Math.max(MIN_QUEUE_BYTES, 8 * kQueuedBodyMax)) as Utf8Buffer;
    this.native = new binding.Server({
      onEvents: (words, wantsArea) => this.onEvents(words, wantsArea),
      events: this.events,
      bytes: this.bytes,
      responses: this.responses,
      responseBytes: this.responseBytes,
      maxUrlSize: limits.maxUrlSize,
      maxHeaderSize: limits.maxHeaderSize,
      maxHeaderCount: limits.maxHeaderCount,
      maxBodySize: limits.maxBodySize,
      maxChunkExtensionSize: maxChunkExtensionSize(limits),
      refusals,
      inflight,
      tickMs: timerTickMs(Object.values(timeoutsMs)),
      ...timeoutsMs,
      ...(metrics === null
        ? {}
        : {
            metrics,
            // The slot of each parse error: that of its refusal's status.
            parseErrorSlots: refusals.map((_, value) => parseErrorSlot(NATIVE_REFUSALS[nameOf[value]!]!)),
          }),
    });
    this.giveBodyArea();
  }

  /** The slot where `head` is prepared, preparing it when it is sent a
   * second time; -1 while it has been sent once only (as text). Throws as
   * respond() does for a head C++ refuses. */
  slotOf(head: ResponseHead): number {
    if (head.owner === this) return head.slot;
    if (head.hits === 0) return -1;
    const slot = this.nextSlot;
    this.native.prepareHead(slot, head.status, head.lines);
    this.nextSlot = slot + 1 === MAX_PREPARED_HEADS ? 0 : slot + 1;
    const old = this.prepared[slot];
    if (old !== undefined && old.owner === this && old.slot === slot) {
      old.owner = null;
      old.slot = -1;
    }
    head.owner = this;
    head.slot = slot;
    this.prepared[slot] = head;
    return slot;
  }

  /** Queues a complete response with a prepared head (RQ); false when it
   * must be sent with a call: a body too large to copy twice, or a length
   * beyond an int32. */
  enqueue(conn: number, flags: number, slot: number, contentLength: number, body: Chunk | null, rflags: number): boolean {
    if (contentLength > 0x7fffffff) return false;
    const q = this.responses;
    let size = 0;
    if (body !== null) {
      // A string: at most 3 UTF-8 bytes per UTF-16 unit.
      size = typeof body === 'string' ? 3 * body.length : body.byteLength;
      if (size > kQueuedBodyMax) return false;
    }
    if (q[0]! + RQ_RECORD_WORDS > q.length || q[1]! + size > this.responseBytes.length) {
      this.native.flush(); // applies and empties the queue
    }
    const w = q[0]!;
    const off = q[1]!;
    let len = -1;
    if (body !== null) {
      if (typeof body === 'string') len = this.responseBytes.utf8Write(body, off, size);
      else {
        this.responseBytes.set(body, off);
        len = size;
      }
      q[1] = off + len;
    }
    q[w + RQ.Conn] = conn;
    q[w + RQ.ReqFlags] = flags;
    q[w + RQ.Head] = slot;
    q[w + RQ.Rflags] = rflags;
    q[w + RQ.ContentLength] = contentLength;
    q[w + RQ.BodyOff] = off;
    q[w + RQ.BodyLen] = len;
    q[0] = w + RQ_RECORD_WORDS;
    return true;
  }

  /** The body chunk of a Body record, owned by the caller: a view of the
   * body area when C++ put it there (`off` < 0: at ~off), else a copy of
   * `len` bytes at `off` in `bytes`; an Error when the area was detached
   * (the bytes are gone). */
  bodyChunk(off: number, len: number): Buffer | Error {
    if (off < 0) {
      const area = this.bodyArea!;
      const at = ~off;
      if (area.byteLength === 0) {
        return new Error(
          'tsgi: request body bytes were lost: the application detached the ArrayBuffer of an ' +
            'earlier body chunk (it holds other chunks too; copy a chunk instead of transferring its buffer)',
        );
      }
      // A view straight on the ArrayBuffer: subarray() looks up the species
      // constructor for each chunk.
      return Buffer.from(area, at, len);
    }
    const own = Buffer.allocUnsafe(len);
    this.bytes.copy(own, 0, off, off + len);
    return own;
  }

  /** Hands C++ a new body area (between batches only: the records of a
   * batch refer to the area they were written to). */
  private giveBodyArea(): void {
    // Not zero-filled (new ArrayBuffer() would be): C++ writes every byte
    // before a view shows it.
    const next = Buffer.allocUnsafeSlow(kBodyAreaSize).buffer as ArrayBuffer;
    markAsUntransferable(next);
    this.native.bodyArea(next);
    this.bodyArea = next;
  }

  /** The one string for a peer address (bounded: past it, each its own). */
  private addrString(addr: string): string {
    const known = this.addrStrings.get(addr);
    if (known !== undefined) return known;
    if (this.addrStrings.size < 4096) this.addrStrings.set(addr, addr);
    return addr;
  }

  /** `conn` has nothing left to do: an idle connection keeps no object. */
  idle(conn: Connection): void {
    const slot = conn.id & SLOT_MASK;
    if (this.conns[slot] === conn) this.conns[slot] = undefined;
  }

  /** The Error a failed body throws. */
  bodyError(failure: BodyFailure): Error {
    return bodyError(failure, this.limits, maxChunkExtensionSize(this.limits));
  }

  /** `conn` has written chunks and holds them: unless its response ends
   * (or it does anything else) first, they go to C++ on the tick queued
   * here. A tick queued from a microtask runs once the microtask queue has
   * drained, inside an event batch too (onEvents runs in a callback
   * scope), so every chunk an async generator yields without waiting for
   * I/O goes over in one call, before C++ writes. */
  defer(conn: Connection): void {
    if (this.deferred.push(conn) === 1) process.nextTick(this.handOverTask);
  }

  /** Output was produced: outside an event batch, flush once the microtask
   * queue has drained (a tick queued from a microtask runs after the last
   * one), so that everything written in this turn, such as every chunk an
   * async generator yields without waiting for I/O, leaves in one write.
   * Inside one of the addon's callbacks the flush is the addon's own, at
   * the callback's end, and this one does nothing. */
  touched(): void {
    if (this.inBatch || this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(this.flushTask);
  }

  /**
   * Stops accepting and waits for every connection to close, at most the
   * graceful timeout: then the connections still open are cut (their
   * bodies' close() runs on the Close events) and Closed follows. Once the
   * listener is closed, a connection whose application awaits something
   * that holds no handle (a bare promise) would not keep the loop alive:
   * the ref'd timer does, until the Closed event.
   */
  close(drain = false): Promise<void> {
    return new Promise((resolve) => {
      const timer =
        this.gracefulMs > 0
          ? setTimeout(() => this.native.closeAll(), this.gracefulMs)
          : setInterval(() => {}, 1 << 30);
      this.onClosed = () => {
        clearTimeout(timer);
        resolve();
      };
      if (drain) this.native.drain();
      else this.native.close();
    });
  }

  private onEvents(words: number, wantsArea: boolean): void {
    const ev = this.events;
    const bytes = this.bytes;
    const log = this.accessLog;
    this.inBatch = true;
    if (log !== null) log.turnStart();
    try {
      let i = 0;
      while (i < words) {
        const type = ev[i]!;
        const id = ev[i + 1]!;
        switch (type) {
          case kEvHead: {
            const n = ev[i + 6]!;
            this.head(id, ev[i + 2]!, ev[i + 3]!, n, i + kHeadWords);
            i += kHeadWords + HEAD_WORDS_PER_HEADER * n;
            break;
          }
          case kEvBody: {
            const off = ev[i + 2]!;
            const len = ev[i + 3]!;
            const input = this.conns[id & SLOT_MASK]?.newest?.input;
            if (input) {
              const chunk = this.bodyChunk(off, len);
              if (chunk instanceof Error) input.fail(chunk);
              else input.push(chunk);
            }
            i += kBodyWords;
            break;
          }
          case kEvBodyEnd:
            this.conns[id & SLOT_MASK]?.newest?.input?.end();
            i += kBodyEndWords;
            break;
          case kEvDrain:
            this.conns[id & SLOT_MASK]?.wake();
            i += kDrainWords;
            break;
          default:
            // Connections opening and closing, files sent, the server
            // closed: out of line, so that a kind first seen after this
            // function was optimized deoptimizes lifecycle(), not it
            // (this call has its feedback from the first Open).
            i = this.lifecycle(type, id, i);
        }
      }
    } finally {
      this.inBatch = false;
      // In finally: a batch cut short by an exception must not leave C++
      // without room. A view's buffer the application transferred detaches
      // the area; C++ drops it at its next write, so give a new one now.
      if (!this.closed && (wantsArea || this.bodyArea?.byteLength === 0)) this.giveBodyArea();
      if (log !== null) log.turnEnd();
    }
  }

  /** The record at `ev[i]` of a kind onEvents does not handle inline;
   * returns the index of the next record. */
  private lifecycle(type: number, id: number, i: number): number {
    const ev = this.events;
    const bytes = this.bytes;
    switch (type) {
      case kEvOpen: {
        const off = ev[i + 2]!;
        const slot = id & SLOT_MASK;
        const addr = this.addrString(bytes.latin1Slice(off, off + ev[i + 3]!));
        const trusted = this.trust.trusts(addr);
        this.peerAddrs[slot] = addr;
        this.peerPorts[slot] = ev[i + 4]!;
        this.peerBases[slot] = this.bases[ev[i + 6]!] ?? this.bases[0]!;
        this.peerServerPorts[slot] = null;
        this.peerTrust[slot] = trusted ? this.trust : null;
        this.conns[slot] = undefined;
        // From a trusted front-end, a PROXY header comes first.
        if (this.proxyMode !== 0 && trusted) this.native.proxyHeader(id, this.proxyMode);
        i += kOpenWords;
        break;
      }
      case kEvProxy: {
        // Before any Head of the connection (C++ parses HTTP only once
        // the header is complete), so no Connection exists yet: the
        // slot's peer is replaced and the next Head makes it.
        const slot = id & SLOT_MASK;
        if (this.peerAddrs[slot] !== undefined && ev[i + 2] === 1) {
          const src = ev[i + 3]!;
          const addr = this.addrString(bytes.latin1Slice(src, src + ev[i + 4]!));
          this.peerAddrs[slot] = addr;
          this.peerPorts[slot] = ev[i + 5]!;
          this.peerServerPorts[slot] = String(ev[i + 8]!);
          // The client, not the balancer, now decides what is trusted.
          this.peerTrust[slot] = this.trust.trusts(addr) ? this.trust : null;
        }
        i += kProxyWords;
        break;
      }
      case kEvClose: {
        const slot = id & SLOT_MASK;
        const conn = this.conns[slot];
        this.peerAddrs[slot] = undefined;
        this.peerBases[slot] = undefined;
        this.peerServerPorts[slot] = null;
        this.peerTrust[slot] = null;
        if (conn !== undefined && conn.id === id) {
          this.conns[slot] = undefined;
          conn.closed();
        }
        i += kCloseWords;
        break;
      }
      case kEvFileDone:
        this.conns[id & SLOT_MASK]?.fileSent(ev[i + 2]!);
        i += kFileDoneWords;
        break;
      case kEvBodyError:
        this.conns[id & SLOT_MASK]?.newest?.input?.fail(this.bodyError(ev[i + 2]!));
        i += kBodyErrorWords;
        break;
      case kEvClosed:
        this.closed = true;
        this.onClosed?.();
        this.onClosed = null;
        i += kClosedWords;
        break;
      default:
        throw new Error(`tsgi: unknown native event ${type} at word ${i}`);
    }
    return i;
  }

  /**
   * A Head record at `ev[at - kHeadWords]`: builds the environ straight from the
   * records. The URL, names and values of a head are contiguous in `bytes`,
   * so one latin1Slice makes one string of it and the pieces are substrings
   * (V8 makes long ones as slices, without copying); known header names
   * come as ids and make no string at all.
   */
  private head(id: number, methodId: number, flags: number, n: number, at: number): void {
    const slot = id & SLOT_MASK;
    let conn = this.conns[slot];
    if (conn === undefined) {
      const addr = this.peerAddrs[slot];
      if (addr === undefined) return;
      const port = this.peerPorts[slot]!;
      const base = this.peerBases[slot]!;
      conn = this.conns[slot] = new Connection(
        this,
        id,
        addr,
        port < 0 ? '' : String(port),
        base,
        this.peerServerPorts[slot] ?? base.serverPort,
        this.peerTrust[slot] ?? null,
      );
    }
    const ev = this.events;
    const start = ev[at - 3]!;
    const urlLen = ev[at - 2]!;
    let end = start + urlLen;
    if (n > 0) {
      const last = at + HEAD_WORDS_PER_HEADER * (n - 1);
      end = ev[last + 2]! + ev[last + 3]!;
    }
    const text = this.bytes.latin1Slice(start, end);
    const req = new Request(conn, flags);
    if (flags & Rf.HasBody) req.input = new Input(req);
    const method = this.methods[methodId] ?? 'GET';
    const target = urlLen === text.length ? text : text.slice(0, urlLen);
    const protocol = flags & Rf.Http10 ? 'HTTP/1.0' : 'HTTP/1.1';
    const input = req.input ?? emptyInput;
    // The header names walk the shape trie (gateway/environ.ts): known
    // names by id, the others by their text.
    const known = this.knownKeys;
    const values = shapeValues;
    let shape: HeaderShape | null = rootShape;
    const stop = at + HEAD_WORDS_PER_HEADER * n;
    for (let p = at; p < stop; p += HEAD_WORDS_PER_HEADER) {
      const nameLen = ev[p + 1]!;
      let next: HeaderShape | null;
      if (nameLen < 0) {
        next = shape.known(-nameLen, known);
      } else {
        const nameOff = ev[p]! - start;
        next = shape.named(text.slice(nameOff, nameOff + nameLen));
      }
      if (next === null) {
        shape = null;
        break;
      }
      shape = next;
      const slot = next.slot;
      if (slot < 0) continue;
      const valueOff = ev[p + 2]! - start;
      const value = text.slice(valueOff, valueOff + ev[p + 3]!);
      values[slot] = next.join === null ? value : values[slot] + next.join + value;
    }
    if (shape !== null) {
      const environ = shape.make(conn.base, method, target, protocol, conn.remoteAddr, conn.remotePort, input, values, conn.serverPort);
      // What finishEnviron does after SERVER_NAME, which make() set.
      if (conn.trust !== null) conn.trust.apply(environ);
      req.environ = environ;
    } else {
      // The shape trie is full: one keyed store per header.
      const environ = createEnviron(conn.base, method, target, protocol, conn.remoteAddr, conn.remotePort, input);
      environ.SERVER_PORT = conn.serverPort;
      for (let p = at; p < stop; p += HEAD_WORDS_PER_HEADER) {
        const nameLen = ev[p + 1]!;
        let key: string | null;
        if (nameLen < 0) {
          key = known[-nameLen]!;
        } else {
          const nameOff = ev[p]! - start;
          key = environKey(text.slice(nameOff, nameOff + nameLen));
        }
        if (key === null) continue;
        const valueOff = ev[p + 2]! - start;
        addHeader(environ, key, text.slice(valueOff, valueOff + ev[p + 3]!));
      }
      req.environ = finishEnviron(environ, conn.trust);
    }
    conn.receive(req);
  }
}

/** Starts the native server on `options.listeners`; throws if the addon
 * cannot listen on one (those already open are closed). */
export function startNativeServer(binding: NativeBinding, app: Application, options: NativeServerStartOptions): ServingServer {
  const server = new NativeHttpServer(
    binding,
    app,
    options.errors,
    options.limits,
    options.accessLog,
    options.trust,
    options.metrics,
    options.proxyProtocol === 'off' ? 0 : ProxyMode[options.proxyProtocol],
    options.inflight,
  );
  const addresses: BoundAddress[] = [];
  const baseOf = (serverName: string, serverPort: string): EnvironBase => ({
    serverName,
    serverPort,
    errors: options.errors,
    multiprocess: options.multiprocess,
    fileWrapper,
  });
  /** Listens on one target; returns its listener index. */
  const open = (target: ListenTarget): number => {
    if (target.kind === 'tcp') {
      const port = server.native.listen(target.host, target.port, options.backlog);
      const index = server.bases.length;
      server.bases[index] = baseOf(target.host, String(port));
      addresses[index] = tcpAddress(target.host, port);
      return index;
    }
    if (target.kind === 'unix') throw new Error('tsgi: the native server listens on unix sockets it is given as descriptors');
    const index = server.native.adopt(target.fd, options.backlog);
    server.bases[index] = baseOf(target.serverName, target.serverPort);
    addresses[index] = target.address;
    return index;
  };
  try {
    for (const target of options.listeners) open(target);
  } catch (err) {
    server.native.close();
    throw err;
  }
  const first = addresses[0]!;
  let closed: Promise<void> | null = null;
  return {
    kind: 'native',
    host: first.host,
    port: first.port,
    url: first.url,
    get addresses() {
      return addresses.filter((a) => a !== undefined);
    },
    close() {
      closed ??= server.close();
      return closed;
    },
    drain() {
      closed ??= server.close(true);
      return closed;
    },
    adopt: open,
    release(index: number) {
      if (server.native.release(index)) delete addresses[index];
    },
    setMultiprocess(value: boolean) {
      for (const base of server.bases) if (base) base.multiprocess = value;
    },
  };
}

/** A TCP address as `Server.addresses` shows it. */
export function tcpAddress(host: string, port: number): BoundAddress {
  return { kind: 'tcp', host, port, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}` };
}
