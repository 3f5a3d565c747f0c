// loop-lag.ts: the event-loop lag of the thread a server runs on, written
// into its metrics block once a second by that thread (its only writer of
// these slots): the 99th percentile and the most of the last second, and
// when they were written, so that a reader on another thread can tell a
// loop that has stopped turning (render.ts).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Mx, type MetricsBlock } from './layout.js';

/** How often the lag is written, in ms. */
export const LOOP_LAG_INTERVAL_MS = 1000;

/**
 * Starts measuring; returns the function that stops it. The timers do not
 * keep the process alive.
 *
 * @example
 * ```ts
 * const stop = watchLoopLag(block);
 * // ... later, when the server closes:
 * stop();
 * ```
 */
export function watchLoopLag(block: MetricsBlock): () => void {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  block[Mx.loopTick] = Date.now();
  const timer = setInterval(() => {
    // Nanoseconds; with no sample yet, both are 0 or NaN.
    const p99 = delay.percentile(99);
    const max = delay.max;
    block[Mx.loopLag] = Number.isFinite(p99) ? p99 / 1e9 : 0;
    block[Mx.loopLagMax] = Number.isFinite(max) ? max / 1e9 : 0;
    block[Mx.loopTick] = Date.now();
    delay.reset();
  }, LOOP_LAG_INTERVAL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    delay.disable();
  };
}
