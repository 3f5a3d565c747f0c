// chart.mjs: the SVG chart of a run: grouped bars per scenario, each
// server's figure relative to uWS (or, without uWS, to the reference
// server), higher is better: req/s ÷ base req/s, and for the idle scenario
// base bytes/conn ÷ server bytes/conn, on a log axis. Rendered by
// vega-lite + vega in Node (renderer "none", toSVG: no browser, no canvas,
// offline).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fmtRatio } from './format.mjs';
import { REFERENCE, UWS } from './servers/index.mjs';

/**
 * Writes the chart; resolves null, or why it was not written.
 * @param {string} file
 * @param {ReturnType<import('./stats.mjs').summarize>} summary
 * @param {Array<{ id: string, label: string }>} servers
 * @param {{ rounds: number, machine: string }} meta
 */
export async function writeChart(file, summary, servers, meta) {
  let vega;
  let vl;
  try {
    vega = await import('vega');
    vl = await import('vega-lite');
  } catch (e) {
    return `chart not written: vega/vega-lite not installed (${e.code ?? e.message})`;
  }
  const base = summary.some((s) => s.servers[UWS]) ? UWS : REFERENCE;
  const baseLabel = servers.find((s) => s.id === base)?.label ?? base;
  const values = [];
  for (const s of summary) {
    const b = s.servers[base];
    if (!b) continue;
    for (const d of servers) {
      const p = s.servers[d.id];
      if (!p) continue;
      const r =
        s.kind === 'idle'
          ? p.median.bytesPerConn > 0 && b.median.bytesPerConn > 0
            ? b.median.bytesPerConn / p.median.bytesPerConn
            : null
          : p.median.rps && b.median.rps
            ? p.median.rps / b.median.rps
            : null;
      if (r == null) continue;
      values.push({ scenario: s.label, server: d.label, ratio: Math.round(r * 1000) / 1000, label: fmtRatio(r) });
    }
  }
  if (values.length === 0) return 'chart not written: nothing to compare';
  const order = servers.map((s) => s.label);
  const ratios = values.map((v) => v.ratio);
  const lo = Math.min(0.5, ...ratios) / 2;
  const hi = Math.max(2, ...ratios) * 2;
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `tsgi benchmark: each server relative to ${baseLabel} (higher is better)`,
      subtitle: [
        `Bars: req/s ÷ ${baseLabel} req/s; idle keep-alive: ${baseLabel} bytes/conn ÷ server bytes/conn. Medians of ${meta.rounds} round(s).`,
        meta.machine,
      ],
    },
    width: { step: 22 },
    height: 360,
    data: { values },
    encoding: {
      x: {
        field: 'scenario',
        type: 'nominal',
        sort: summary.map((s) => s.label),
        title: null,
        axis: { labelAngle: 0, labelLimit: 160 },
      },
      xOffset: { field: 'server', sort: order },
    },
    layer: [
      {
        // Bars grow from 1 (as good as the base): up is better, down worse.
        mark: { type: 'bar' },
        encoding: {
          y: {
            field: 'ratio',
            type: 'quantitative',
            // Room beyond the longest bars for their labels.
            scale: { type: 'log', domain: [lo, hi] },
            title: `ratio to ${baseLabel} (log scale)`,
          },
          y2: { datum: 1 },
          color: { field: 'server', type: 'nominal', sort: order, title: 'server' },
          tooltip: [{ field: 'server' }, { field: 'scenario' }, { field: 'label', title: 'ratio' }],
        },
      },
      {
        mark: { type: 'text', angle: 270, align: 'left', baseline: 'middle', dx: 3, fontSize: 9 },
        transform: [{ filter: 'datum.ratio >= 1' }],
        encoding: { y: { field: 'ratio', type: 'quantitative' }, text: { field: 'label' } },
      },
      {
        mark: { type: 'text', angle: 270, align: 'right', baseline: 'middle', dx: -3, fontSize: 9 },
        transform: [{ filter: 'datum.ratio < 1' }],
        encoding: { y: { field: 'ratio', type: 'quantitative' }, text: { field: 'label' } },
      },
      {
        mark: { type: 'rule', color: 'black' },
        encoding: { x: null, xOffset: null, y: { datum: 1 } },
      },
    ],
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, svg);
    renameSync(`${file}.tmp`, file);
  } finally {
    view.finalize();
  }
  return null;
}
