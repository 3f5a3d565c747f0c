// stats.mjs: from the runs to the figures: the metrics of each kind of
// scenario, their medians over rounds, the range of requests/s, and every
// figure's ratio to the reference server and to uWebSockets.js (ratios of
// medians, server / base).
import { fmtInt, fmtMiB, fmtMs, fmtUs } from './format.mjs';

/**
 * @typedef {{ key: string, head: string, fmt: (x: number | null) => string, ratios?: boolean }} Metric
 */

/** @type {Metric[]} */
export const WRK_METRICS = [
  { key: 'rps', head: 'req/s', fmt: fmtInt, ratios: true },
  { key: 'p50', head: 'p50', fmt: fmtMs, ratios: true },
  { key: 'p99', head: 'p99', fmt: fmtMs, ratios: true },
  { key: 'cpuUs', head: 'cpu/req', fmt: fmtUs, ratios: true },
  { key: 'rssMiB', head: 'RSS MiB', fmt: fmtMiB, ratios: true },
];
/** @type {Metric[]} */
export const IDLE_METRICS = [
  { key: 'open', head: 'open conns', fmt: fmtInt },
  { key: 'rssColdMiB', head: 'RSS cold MiB', fmt: fmtMiB },
  { key: 'rssBeforeMiB', head: 'RSS warm MiB', fmt: fmtMiB },
  { key: 'rssAfterMiB', head: 'RSS after MiB', fmt: fmtMiB },
  { key: 'bytesPerConn', head: 'bytes/conn', fmt: fmtInt, ratios: true },
  { key: 'coldBytesPerConn', head: 'bytes/conn cold', fmt: fmtInt, ratios: true },
];

/** @param {{ kind: string }} sc */
export const metricsOf = (sc) => (sc.kind === 'idle' ? IDLE_METRICS : WRK_METRICS);

/** The median of the finite numbers of `xs`, or null. */
export function median(xs) {
  const v = xs.filter((x) => x != null && Number.isFinite(x));
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Per scenario, per server that ran: the number of rounds, the median of
 * every metric, the req/s range, the wrk percentiles reported as 0, and
 * the ratios of the medians to each base server that ran.
 * @param {Array<{ id: string, kind: string, label: (o: object) => string }>} scenarios
 * @param {Array<{ id: string }>} servers
 * @param {Array<Record<string, any>>} runs
 * @param {object} opts
 * @param {string[]} bases server ids (the reference, uWS)
 */
export function summarize(scenarios, servers, runs, opts, bases) {
  return scenarios.map((sc) => {
    /** @type {Record<string, any>} */
    const per = {};
    for (const desc of servers) {
      const rs = runs.filter((r) => r.server === desc.id && r.scenario === sc.id);
      if (rs.length === 0) continue;
      const med = {};
      for (const m of metricsOf(sc)) med[m.key] = median(rs.map((r) => r[m.key]));
      per[desc.id] = { n: rs.length, median: med };
      if (sc.kind === 'wrk') {
        const xs = rs.map((r) => r.rps);
        per[desc.id].rpsRange = { min: Math.min(...xs), max: Math.max(...xs) };
        const zero = [...new Set(rs.flatMap((r) => (r.wrkZero ?? []).filter((p) => p !== 'p90')))];
        if (zero.length) per[desc.id].wrkReportedZero = zero;
        const busy = median(rs.map((r) => r.client?.busy));
        if (busy != null) per[desc.id].clientBusy = busy;
      }
    }
    for (const id of Object.keys(per)) {
      const ratios = {};
      for (const base of bases) {
        if (!per[base]) continue;
        ratios[base] = {};
        for (const m of metricsOf(sc)) {
          if (!m.ratios) continue;
          const a = per[id].median[m.key];
          const b = per[base].median[m.key];
          ratios[base][m.key] = a != null && b ? a / b : null;
        }
      }
      per[id].ratios = ratios;
    }
    return { scenario: sc.id, label: sc.label(opts), kind: sc.kind, servers: per };
  });
}
