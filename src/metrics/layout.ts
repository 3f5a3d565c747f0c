// layout.ts: the metrics block of one server (one worker): which slot of
// the Float64Array holds what, the method labels and the duration buckets.
// The native server counts into it from C++ (native/metrics.h, the other
// half of this layout, checked against it when the addon loads: binding.ts
// checkContract), the node server from JS (count.ts); the renderer
// (render.ts) reads any number of blocks, from any thread.
import { REFUSALS } from '../gateway/refusals.js';

/** Bumped whenever a slot moves; slot 0 of every block holds it. */
export const METRICS_LAYOUT_VERSION = 1;

/** The method labels; the last counts every other method. */
export const METRIC_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'other'] as const;

/** Status classes of the request counters (final statuses only). */
export const METRIC_CLASSES = ['2xx', '3xx', '4xx', '5xx'] as const;

/** Upper bounds of the request-duration buckets, in seconds (+Inf follows). */
export const DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/** Parse-error slots reserved in a block. */
export const PARSE_ERROR_SLOTS = 16;

/** The statuses of the refusals (src/gateway/refusals.ts), one parse-error
 * slot each, in this order. */
export const PARSE_ERROR_STATUSES: readonly number[] = Object.freeze([...REFUSALS.keys()].sort((a, b) => a - b));
if (PARSE_ERROR_STATUSES.length > PARSE_ERROR_SLOTS) throw new Error('tsgi: more refusal statuses than parse-error slots');

/** The parse-error slot counting a refusal with `status` (0 for 400). */
export function parseErrorSlot(status: number): number {
  const i = PARSE_ERROR_STATUSES.indexOf(status);
  return i < 0 ? PARSE_ERROR_STATUSES.indexOf(400) : i;
}

/** `[first slot, number of slots]` of each part of a block. */
export const METRIC_SLOTS = {
  layout: [0, 1],
  /** By method (row, METRIC_METHODS) and status class (column). */
  requests: [1, METRIC_METHODS.length * METRIC_CLASSES.length],
  /** A count per bucket (not cumulative), then +Inf. */
  durationBuckets: [33, DURATION_BUCKETS.length + 1],
  /** Seconds. */
  durationSum: [50, 1],
  connectionsAccepted: [51, 1],
  /** A gauge. */
  connectionsOpen: [52, 1],
  bytesIn: [53, 1],
  bytesOut: [54, 1],
  parseErrors: [55, PARSE_ERROR_SLOTS],
  /** Seconds: the 99th percentile and the most of the last interval. */
  loopLag: [71, 1],
  loopLagMax: [72, 1],
  /** When the loop last wrote its lag (ms since the epoch). */
  loopTick: [73, 1],
  /** Written by a supervisor. */
  workerRestarts: [74, 1],
  workerTimeouts: [75, 1],
} as const satisfies Record<string, readonly [number, number]>;

/** Doubles in a block. */
export const METRICS_SIZE = 76;

/** The first slot of each part. */
export const Mx = Object.freeze(
  Object.fromEntries(Object.entries(METRIC_SLOTS).map(([name, [first]]) => [name, first])) as {
    [K in keyof typeof METRIC_SLOTS]: number;
  },
);

/** One server's (one worker's) counters. */
export type MetricsBlock = Float64Array;

/**
 * A new block, zeroed but for its layout version: over a SharedArrayBuffer,
 * so that it can be handed to a worker thread and read by the supervisor
 * while the worker counts.
 *
 * @example
 * ```ts
 * const block = newMetricsBlock();
 * const server = await serve(app, { metrics: block });
 * ```
 */
export function newMetricsBlock(): MetricsBlock {
  const block = new Float64Array(new SharedArrayBuffer(METRICS_SIZE * Float64Array.BYTES_PER_ELEMENT));
  block[Mx.layout] = METRICS_LAYOUT_VERSION;
  return block;
}

/** Why `block` is not a metrics block of this layout, or null. */
export function metricsBlockProblem(block: unknown): string | null {
  if (!(block instanceof Float64Array) || block.length !== METRICS_SIZE) {
    return `must be a Float64Array of ${METRICS_SIZE} (newMetricsBlock())`;
  }
  if (block[Mx.layout] !== METRICS_LAYOUT_VERSION) return `was made for another layout (version ${block[Mx.layout]})`;
  return null;
}

/** The layout as the addon exports it (contract.metrics). */
export interface NativeMetricsLayout {
  slots: Record<string, [number, number]>;
  size: number;
  version: number;
  methods: string[];
  buckets: number[];
  parseErrorSlots: number;
}

/** The differences between the addon's layout and this one, as messages. */
export function metricsLayoutProblems(native: NativeMetricsLayout | undefined): string[] {
  if (native === undefined) return ['the addon has no metrics layout'];
  const problems: string[] = [];
  const same = (name: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) problems.push(`metrics ${name} is ${JSON.stringify(a)} in C++ but ${JSON.stringify(b)} in TypeScript`);
  };
  same('size', native.size, METRICS_SIZE);
  same('version', native.version, METRICS_LAYOUT_VERSION);
  same('methods', native.methods, METRIC_METHODS);
  same('buckets', native.buckets, DURATION_BUCKETS);
  same('parseErrorSlots', native.parseErrorSlots, PARSE_ERROR_SLOTS);
  for (const name of new Set([...Object.keys(native.slots ?? {}), ...Object.keys(METRIC_SLOTS)])) {
    same(`slot ${name}`, native.slots?.[name], METRIC_SLOTS[name as keyof typeof METRIC_SLOTS]);
  }
  return problems;
}
