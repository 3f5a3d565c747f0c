// targets.mjs: the targets of issue 11 ("the fastest server on Node.js")
// and the costs issue 9 allows the access log and the metrics (run them
// with --servers native,native-log,native-metrics), each a ratio of
// medians from the same run against another server, or an absolute bound,
// on one server's row. Shown as a `target` column and a
// met/MISSED list; they never change the exit status.
import { fmtInt, fmtRatio } from './format.mjs';

/** The wrk scenarios on which the reference server must match node:http. */
const REFERENCE_SCENARIOS = ['hello', 'pipelined', 'browser-unpipelined', 'browser', 'browser-varied', 'echo', 'file', 'stream'];

/**
 * @typedef {{ server: string, scenario: string, metric: string, vs?: string, min?: number, max?: number }} Target
 * @type {Target[]}
 */
export const TARGETS = [
  { server: 'native', scenario: 'pipelined', metric: 'rps', vs: 'uws', min: 1.0 },
  { server: 'native', scenario: 'hello', metric: 'rps', vs: 'uws', min: 1.0 },
  { server: 'native', scenario: 'browser', metric: 'rps', vs: 'uws', min: 0.8 },
  { server: 'native', scenario: 'browser-unpipelined', metric: 'rps', vs: 'uws', min: 1.0 },
  { server: 'native', scenario: 'browser-varied', metric: 'rps', vs: 'uws', min: 0.7 },
  { server: 'native', scenario: 'stream', metric: 'rps', vs: 'node-http', min: 1.5 },
  { server: 'native', scenario: 'echo', metric: 'rps', vs: 'uws', min: 0.9 },
  { server: 'native', scenario: 'file', metric: 'rps', vs: 'nginx', min: 1.0 },
  { server: 'native', scenario: 'idle', metric: 'bytesPerConn', max: 1000 },
  // The access log to a file: at most 10 % fewer requests/s on hello; the
  // metrics within noise (5 %).
  { server: 'native-log', scenario: 'hello', metric: 'rps', vs: 'native', min: 0.9 },
  { server: 'native-metrics', scenario: 'hello', metric: 'rps', vs: 'native', min: 0.95 },
  ...REFERENCE_SCENARIOS.map((scenario) => ({ server: 'node', scenario, metric: 'rps', vs: 'node-http', min: 1.0 })),
];

/**
 * Each target whose scenario ran, with what was measured: `measured` (a
 * ratio or the figure), `pass` (null when it could not be measured, with
 * the reason in `note`), and the texts the tables show.
 * @param {Array<{ scenario: string, servers: Record<string, any> }>} summary
 * @param {Map<string, { short: string, label: string }>} serversById
 */
export function evaluateTargets(summary, serversById) {
  const name = (id) => serversById.get(id)?.short ?? id;
  // In the order of the tables.
  const ran = summary.flatMap((s) => TARGETS.filter((t) => t.scenario === s.scenario));
  return ran.map((t) => {
    const s = summary.find((x) => x.scenario === t.scenario);
    const vsLabel = t.vs ? name(t.vs) : null;
    const text = t.vs
      ? `${t.metric === 'rps' ? 'req/s' : t.metric} >= ${t.min.toFixed(2)}x ${vsLabel}`
      : `<= ${fmtInt(t.max)} bytes/conn`;
    let measured = null;
    let note = null;
    const mine = s.servers[t.server];
    if (!mine) note = `${name(t.server)} not measured`;
    else if (t.vs) {
      const other = s.servers[t.vs];
      if (!other) note = `${vsLabel} not measured`;
      else if (mine.median[t.metric] != null && other.median[t.metric]) {
        measured = mine.median[t.metric] / other.median[t.metric];
      }
    } else measured = mine.median[t.metric];
    const pass = measured == null ? null : t.vs ? measured >= t.min : measured <= t.max;
    const shown = measured == null ? '-' : t.vs ? fmtRatio(measured) : fmtInt(measured);
    const short = t.vs ? `>=${t.min.toFixed(2)}x ${vsLabel}` : `<=${t.max}B`;
    return { ...t, text, short, measured, shown, pass, note };
  });
}

/** @param {boolean | null} pass */
export const mark = (pass) => (pass == null ? 'n/a' : pass ? 'met' : 'MISSED');
