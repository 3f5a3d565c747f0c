// report.mjs: what the benchmark prints: one line per measurement as it
// happens, then per scenario a table of the medians with their ratios to
// the reference server and to uWS and the targets of each row, then the
// list of targets.
import { fmtInt, fmtMiB, fmtMs, fmtRatio, fmtUs } from './format.mjs';
import { REFERENCE, UWS } from './servers/index.mjs';
import { metricsOf } from './stats.mjs';
import { mark } from './targets.mjs';

/** The line of one wrk measurement. */
export function wrkLine(r) {
  const e = r.errors;
  const errs = e.connect + e.read + e.write + e.timeout;
  return (
    `${fmtInt(r.rps).padStart(9)} req/s  p50 ${fmtMs(r.p50).padStart(7)}  ` +
    `p99 ${(r.p99 == null && r.wrkZero.includes('p99') ? '0?' : fmtMs(r.p99)).padStart(7)}  ` +
    `cpu ${fmtUs(r.cpuUs).padStart(7)}/req  RSS ${fmtMiB(r.rssMiB)} MiB  wrk ${Math.round(r.client.busy * 100)}%` +
    (errs ? `  socket errors ${errs}` : '') +
    (e.status ? `  STATUS>=400 ${e.status}` : '')
  );
}

/** The line of one idle measurement. */
export function idleLine(r) {
  return (
    `${fmtInt(r.bytesPerConn).padStart(7)} bytes/conn  (${fmtInt(r.coldBytesPerConn)} cold; ${fmtInt(r.open)} open, ` +
    `RSS ${fmtMiB(r.rssColdMiB)} -> ${fmtMiB(r.rssBeforeMiB)} warm -> ${fmtMiB(r.rssAfterMiB)} MiB, opened in ${fmtInt(r.openMs)} ms` +
    `${r.failed ? `, ${r.failed} FAILED: ${r.firstError}` : ''})`
  );
}

/** Columns padded: `left(i)` says which are text (left-aligned). */
function table(head, rows, left) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    cells
      .map((c, i) => (left(i) ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/**
 * Prints the tables of a summary and the targets.
 * @param {ReturnType<import('./stats.mjs').summarize>} summary
 * @param {Array<{ id: string, what: string, kind: string }>} scenarios
 * @param {Array<{ id: string, label: string, short: string }>} servers
 * @param {ReturnType<import('./targets.mjs').evaluateTargets>} targets
 * @param {{ rounds: number }} opts
 */
export function printTables(summary, scenarios, servers, targets, opts) {
  const short = (id) => servers.find((s) => s.id === id)?.short ?? id;
  for (const s of summary) {
    const sc = scenarios.find((x) => x.id === s.scenario);
    const present = servers.filter((d) => s.servers[d.id]);
    if (!sc || present.length === 0) continue;
    const bases = [REFERENCE, UWS].filter((b) => s.servers[b]);
    const metrics = metricsOf(sc);
    const head = ['server'];
    for (const m of metrics) {
      head.push(m.head);
      if (m.ratios) for (const b of bases) head.push(b === REFERENCE ? '/ref' : `/${short(b)}`);
    }
    const mine = targets.filter((t) => t.scenario === s.scenario);
    if (mine.length) head.push('target');
    const rows = present.map((d) => {
      const p = s.servers[d.id];
      const row = [d.label];
      for (const m of metrics) {
        row.push(m.fmt(p.median[m.key]));
        if (m.ratios) for (const b of bases) row.push(fmtRatio(p.ratios[b]?.[m.key]));
      }
      if (mine.length) {
        row.push(
          mine
            .filter((t) => t.server === d.id)
            .map((t) => `${t.short}: ${t.shown} ${mark(t.pass)}`)
            .join('; '),
        );
      }
      return row;
    });
    console.log('');
    console.log(`${s.label}: ${sc.what}`);
    for (const l of table(head, rows, (i) => i === 0 || (mine.length > 0 && i === head.length - 1))) console.log(l);
    const zero = present.filter((d) => s.servers[d.id].wrkReportedZero);
    if (zero.length) {
      console.log(
        `  (wrk reported 0 for ${[...new Set(zero.flatMap((d) => s.servers[d.id].wrkReportedZero))].join('/')} of ` +
          `${zero.map((d) => d.short).join(', ')} in some round: shown as the median of the other rounds, or -)`,
      );
    }
    if (sc.kind === 'wrk') {
      if (opts.rounds > 1) {
        const cells = present.map(
          (d) => `${d.short} ${fmtInt(s.servers[d.id].rpsRange.min)}-${fmtInt(s.servers[d.id].rpsRange.max)}`,
        );
        console.log(`  req/s range over rounds: ${cells.join('   ')}`);
      }
      const busy = present.filter((d) => s.servers[d.id].clientBusy >= 0.9);
      if (busy.length) {
        console.log(
          `  (wrk used >= 90% of its CPU against ${busy.map((d) => d.short).join(', ')}: ` +
            'the load generator may have set that pace)',
        );
      }
    }
  }
  console.log('');
  console.log('targets (medians)');
  const rows = targets.map((t) => [
    summary.find((s) => s.scenario === t.scenario)?.label ?? t.scenario,
    short(t.server),
    t.text,
    t.shown,
    t.note ? `n/a (${t.note})` : mark(t.pass),
  ]);
  const lines = table(['scenario', 'server', 'target', 'measured', 'result'], rows, (i) => i !== 3);
  for (const l of lines) console.log(l);
}
