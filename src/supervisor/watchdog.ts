// watchdog.ts: gunicorn's --timeout, for threads. Each worker's event loop
// bumps a heartbeat word of its control block from an unreferenced timer;
// the supervisor checks every heartbeat and calls a worker stuck when its
// word has not moved for `timeout`. It then reads, without the worker's
// help, the requests the native server recorded as in flight (the ring of
// native/inflight.h, in the same SharedArrayBuffer), so the log says what
// the loop was doing.
import { INFLIGHT_ENTRIES, INFLIGHT_TARGET_OFFSET, INFLIGHT_WORDS } from '../native/binding.js';
import { CONTROL_HEADER_WORDS, HEARTBEAT_WORD } from './protocol.js';

/** A request a worker had been given and had not answered. */
export interface InflightRequest {
  method: string;
  /** The request target, cut at 40 bytes (`…` then). */
  target: string;
  /** Pipelined behind another request of its connection. */
  queued: boolean;
}

/** How often a worker bumps its heartbeat for a timeout of `timeoutS`:
 * often enough that a stuck loop is seen within a tenth of the timeout. */
export function heartbeatMs(timeoutS: number): number {
  if (timeoutS <= 0) return 0;
  return Math.max(10, Math.min(1000, Math.floor((timeoutS * 1000) / 10)));
}

/** Worker side: bumps the heartbeat while the loop turns. The timer is
 * unreferenced: it never keeps a worker alive. */
export function startHeartbeat(control: SharedArrayBuffer, everyMs: number): void {
  if (everyMs <= 0) return;
  const words = new Int32Array(control, 0, CONTROL_HEADER_WORDS);
  setInterval(() => Atomics.add(words, HEARTBEAT_WORD, 1), everyMs).unref();
}

/** The in-flight ring of a control block (the native server writes it). */
export function inflightView(control: SharedArrayBuffer): Int32Array {
  return new Int32Array(control, CONTROL_HEADER_WORDS * 4, INFLIGHT_ENTRIES * INFLIGHT_WORDS);
}

/** The requests recorded in flight, oldest first: those being answered,
 * then those queued behind them. Read only while the worker is stuck or
 * gone (the native server writes with plain stores). */
export function readInflight(control: SharedArrayBuffer, methods: readonly string[]): InflightRequest[] {
  const ring = inflightView(control);
  const bytes = new Uint8Array(control, CONTROL_HEADER_WORDS * 4, INFLIGHT_ENTRIES * INFLIGHT_WORDS * 4);
  const found: { seq: number; req: InflightRequest }[] = [];
  for (let i = 0; i < INFLIGHT_ENTRIES; i++) {
    const at = i * INFLIGHT_WORDS;
    const state = Atomics.load(ring, at);
    if (state === 0) continue;
    const length = ring[at + 5]!;
    const start = (at + INFLIGHT_TARGET_OFFSET) * 4;
    const room = (INFLIGHT_WORDS - INFLIGHT_TARGET_OFFSET) * 4;
    const shown = Buffer.from(bytes.subarray(start, start + Math.min(length, room))).toString('latin1');
    found.push({
      seq: ring[at + 1]! >>> 0,
      req: { method: methods[ring[at + 3]!] ?? '?', target: length > room ? `${shown}…` : shown, queued: state === 2 },
    });
  }
  found.sort((a, b) => Number(a.req.queued) - Number(b.req.queued) || a.seq - b.seq);
  return found.map((f) => f.req);
}

/** Supervisor side: one timer checks every watched worker. */
export class Watchdog<W> {
  private readonly watched = new Map<W, { words: Int32Array; value: number; since: number }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly timeoutMs: number,
    private readonly onStuck: (worker: W, stuckMs: number) => void,
  ) {}

  /** Starts watching `worker` (its heartbeat starts counting now). */
  watch(worker: W, control: SharedArrayBuffer): void {
    if (this.timeoutMs <= 0) return;
    const words = new Int32Array(control, 0, CONTROL_HEADER_WORDS);
    this.watched.set(worker, { words, value: Atomics.load(words, HEARTBEAT_WORD), since: Date.now() });
    this.timer ??= setInterval(() => this.check(), Math.max(10, Math.min(1000, this.timeoutMs / 10)));
    this.timer.unref();
  }

  unwatch(worker: W): void {
    this.watched.delete(worker);
    if (this.watched.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private check(): void {
    const now = Date.now();
    for (const [worker, w] of this.watched) {
      const value = Atomics.load(w.words, HEARTBEAT_WORD);
      if (value !== w.value) {
        w.value = value;
        w.since = now;
      } else if (now - w.since >= this.timeoutMs) {
        this.unwatch(worker);
        this.onStuck(worker, now - w.since);
      }
    }
  }
}
