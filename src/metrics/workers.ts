// workers.ts: the supervisor's view of its workers' metrics blocks. Each
// worker counts into a block of its own (a SharedArrayBuffer it publishes,
// supervisor/hooks.ts) and the supervisor serves them on /metrics, one
// series per worker number and their total. A worker that exits leaves its
// counters here (they stay monotonic across replacements, as Prometheus
// expects of a counter); its gauges go with it. Restarts and timeouts are
// counted here, by the supervisor. Plain loads of the live blocks while
// their servers count: see "Concurrency" in native/metrics.h.
import { Mx, METRICS_LAYOUT_VERSION, METRICS_SIZE, type MetricsBlock } from './layout.js';
import type { MetricsSource } from './render.js';

/** Slots that are not counters: not kept when a worker exits; of two live
 * blocks of one worker number (a reload), the loop's is the larger. */
const kGauges = new Set<number>([Mx.layout, Mx.connectionsOpen, Mx.loopLag, Mx.loopLagMax, Mx.loopTick]);
const kMaxed = [Mx.loopLag, Mx.loopLagMax, Mx.loopTick] as const;

/** What a worker number has left behind: counters of exited workers,
 * restarts and timeouts. */
function emptyBlock(): Float64Array {
  const block = new Float64Array(METRICS_SIZE);
  block[Mx.layout] = METRICS_LAYOUT_VERSION;
  return block;
}

export class WorkerMetrics {
  private readonly retired = new Map<number, Float64Array>();

  private of(worker: number): Float64Array {
    let block = this.retired.get(worker);
    if (!block) this.retired.set(worker, (block = emptyBlock()));
    return block;
  }

  /** Worker `worker` exited; `block` is what it counted, if it published. */
  exited(worker: number, block: MetricsBlock | undefined): void {
    const into = this.of(worker);
    if (block === undefined) return;
    for (let i = 0; i < METRICS_SIZE; i++) if (!kGauges.has(i)) into[i]! += block[i]!;
  }

  restarted(worker: number): void {
    this.of(worker)[Mx.workerRestarts]!++;
  }

  timedOut(worker: number): void {
    this.of(worker)[Mx.workerTimeouts]!++;
  }

  /** One block per worker number, `live` (the blocks of its running
   * workers) added to what it left behind, at the time of the call. */
  sources(live: readonly { worker: number; block: MetricsBlock }[]): MetricsSource[] {
    const workers = new Set([...this.retired.keys(), ...live.map((l) => l.worker)]);
    return [...workers]
      .sort((a, b) => a - b)
      .map((worker) => {
        const sum = emptyBlock();
        const left = this.retired.get(worker);
        if (left) for (let i = 1; i < METRICS_SIZE; i++) sum[i] = left[i]!;
        for (const l of live) {
          if (l.worker !== worker) continue;
          for (let i = 1; i < METRICS_SIZE; i++) if (!kMaxed.includes(i as never)) sum[i]! += l.block[i]!;
          for (const i of kMaxed) sum[i] = Math.max(sum[i]!, l.block[i]!);
        }
        return { worker: String(worker), block: sum };
      });
  }
}
