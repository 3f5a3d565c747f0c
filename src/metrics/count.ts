// count.ts: the node server's counters, written by JS into the same block
// layout the native server's C++ writes (layout.ts): the same meaning for
// every slot, so that one renderer serves both.
import { Mx, METRIC_CLASSES, METRIC_METHODS, parseErrorSlot, type MetricsBlock } from './layout.js';
import { DURATION_BUCKETS } from './layout.js';

const kOther = METRIC_METHODS.length - 1;
const kMethodRow: Record<string, number> = Object.fromEntries(METRIC_METHODS.slice(0, kOther).map((m, i) => [m, i]));

/** The bucket of a duration in seconds, as native/metrics.h picks it. */
export function durationBucket(seconds: number): number {
  const us = Math.round(seconds * 1e6);
  let i = 0;
  while (i < DURATION_BUCKETS.length && us > Math.round(DURATION_BUCKETS[i]! * 1e6)) i++;
  return i;
}

/**
 * Counts into a block from JS (the node server).
 *
 * @example
 * ```ts
 * const count = new MetricsCounter(newMetricsBlock());
 * count.response('GET', 200, 0.002);
 * ```
 */
export class MetricsCounter {
  constructor(readonly block: MetricsBlock) {
    block[Mx.connectionsOpen] = 0;
  }

  accepted(open: number): void {
    this.block[Mx.connectionsAccepted]! += 1;
    this.block[Mx.connectionsOpen] = open;
  }

  closed(open: number): void {
    this.block[Mx.connectionsOpen] = open;
  }

  /** A response ended (or was cut) with `status`, `seconds` after its
   * request was taken up. */
  response(method: string, status: number, seconds: number): void {
    const b = this.block;
    if (status >= 200 && status <= 599) {
      const row = kMethodRow[method] ?? kOther;
      b[Mx.requests + row * METRIC_CLASSES.length + (Math.floor(status / 100) - 2)]! += 1;
    }
    b[Mx.durationBuckets + durationBucket(seconds)]! += 1;
    b[Mx.durationSum]! += seconds;
  }

  /** A request refused with a ready-made response of `status`. */
  parseError(status: number): void {
    this.block[Mx.parseErrors + parseErrorSlot(status)]! += 1;
  }

  bytes(received: number, sent: number): void {
    this.block[Mx.bytesIn]! += received;
    this.block[Mx.bytesOut]! += sent;
  }
}
