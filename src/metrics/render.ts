// render.ts: the Prometheus text exposition (format 0.0.4) of any number
// of metrics blocks: each series per worker (`worker="0"`...) and in total
// (`worker="all"`; leave it out when summing: `{worker!="all"}`). Reads the
// blocks with plain loads while their servers count (layout.ts, "Concurrency"
// in native/metrics.h): a scrape sees each slot's old or new value.
import {
  DURATION_BUCKETS,
  Mx,
  METRIC_CLASSES,
  METRIC_METHODS,
  PARSE_ERROR_STATUSES,
  type MetricsBlock,
} from './layout.js';
import { LOOP_LAG_INTERVAL_MS } from './loop-lag.js';

/** One worker's block, and the label it is shown with. */
export interface MetricsSource {
  worker: string;
  block: MetricsBlock;
}

/** The content type of the exposition. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** A label value, escaped as the format wants (`\`, `"`, line feed). */
function label(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : '\\' + c));
}

/** The lag of a worker's loop: what it last wrote, or, when it has not
 * written for two intervals (the loop is stuck), how long it has been. */
function loopLag(block: MetricsBlock, slot: number, now: number): number {
  const tick = block[Mx.loopTick]!;
  const written = block[slot]!;
  if (tick === 0) return written;
  const since = now - tick;
  return since > 2 * LOOP_LAG_INTERVAL_MS ? Math.max(written, (since - LOOP_LAG_INTERVAL_MS) / 1000) : written;
}

/**
 * The exposition of `sources`, one block per worker.
 *
 * @example
 * ```ts
 * const text = renderMetrics([{ worker: '0', block }]);
 * // # TYPE tsgi_requests_total counter
 * // tsgi_requests_total{worker="0",method="GET",code="2xx"} 12
 * ```
 */
export function renderMetrics(sources: readonly MetricsSource[], now = Date.now()): string {
  const out: string[] = [];
  const workers = sources.map((s) => ({ name: label(s.worker), block: s.block }));
  const family = (name: string, type: string, help: string) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  /** A series per worker and its total (summed, or the most for `max`). */
  const series = (name: string, labels: string, value: (b: MetricsBlock) => number, total: 'sum' | 'max' = 'sum') => {
    const extra = labels === '' ? '' : `,${labels}`;
    let all = 0;
    for (const w of workers) {
      const v = value(w.block);
      all = total === 'sum' ? all + v : Math.max(all, v);
      out.push(`${name}{worker="${w.name}"${extra}} ${num(v)}`);
    }
    out.push(`${name}{worker="all"${extra}} ${num(all)}`);
  };

  family('tsgi_requests_total', 'counter', 'Responses sent (or cut short), by request method and status class.');
  METRIC_METHODS.forEach((method, row) => {
    METRIC_CLASSES.forEach((cls, col) => {
      series('tsgi_requests_total', `method="${method}",code="${cls}"`, (b) => b[Mx.requests + row * METRIC_CLASSES.length + col]!);
    });
  });

  family('tsgi_request_duration_seconds', 'histogram', 'From taking a request up (its head complete, the response before it on the connection over) to the end of its response.');
  const cumulative = (b: MetricsBlock, upTo: number) => {
    let n = 0;
    for (let i = 0; i <= upTo; i++) n += b[Mx.durationBuckets + i]!;
    return n;
  };
  DURATION_BUCKETS.forEach((le, i) => {
    series('tsgi_request_duration_seconds_bucket', `le="${le}"`, (b) => cumulative(b, i));
  });
  series('tsgi_request_duration_seconds_bucket', 'le="+Inf"', (b) => cumulative(b, DURATION_BUCKETS.length));
  series('tsgi_request_duration_seconds_sum', '', (b) => b[Mx.durationSum]!);
  series('tsgi_request_duration_seconds_count', '', (b) => cumulative(b, DURATION_BUCKETS.length));

  family('tsgi_connections_accepted_total', 'counter', 'Connections accepted.');
  series('tsgi_connections_accepted_total', '', (b) => b[Mx.connectionsAccepted]!);
  family('tsgi_connections_open', 'gauge', 'Connections open now.');
  series('tsgi_connections_open', '', (b) => b[Mx.connectionsOpen]!);

  family('tsgi_received_bytes_total', 'counter', 'Bytes read from clients.');
  series('tsgi_received_bytes_total', '', (b) => b[Mx.bytesIn]!);
  family('tsgi_sent_bytes_total', 'counter', 'Bytes the kernel took for clients.');
  series('tsgi_sent_bytes_total', '', (b) => b[Mx.bytesOut]!);

  family('tsgi_parse_errors_total', 'counter', 'Requests refused before the application (malformed, over a limit, too slow), by the status of the refusal.');
  PARSE_ERROR_STATUSES.forEach((status, i) => {
    series('tsgi_parse_errors_total', `status="${status}"`, (b) => b[Mx.parseErrors + i]!);
  });

  family('tsgi_event_loop_lag_seconds', 'gauge', "99th percentile of the event loop's delay over the last second (grows while the loop is stuck).");
  series('tsgi_event_loop_lag_seconds', '', (b) => loopLag(b, Mx.loopLag, now), 'max');
  family('tsgi_event_loop_lag_max_seconds', 'gauge', "Longest delay of the event loop over the last second (grows while the loop is stuck).");
  series('tsgi_event_loop_lag_max_seconds', '', (b) => loopLag(b, Mx.loopLagMax, now), 'max');

  family('tsgi_worker_restarts_total', 'counter', 'Times the worker was replaced (by the supervisor).');
  series('tsgi_worker_restarts_total', '', (b) => b[Mx.workerRestarts]!);
  family('tsgi_worker_timeouts_total', 'counter', 'Times the worker was stopped by the watchdog (by the supervisor).');
  series('tsgi_worker_timeouts_total', '', (b) => b[Mx.workerTimeouts]!);

  return out.join('\n') + '\n';
}
