#!/usr/bin/env node
// run.mjs: the benchmark harness (`npm run bench`): the order of a run and
// its outcome. Serves the same application with every server (bench/servers/),
// checks its answers, loads it with wrk from another core and reports per
// server and scenario (bench/scenarios.mjs) the median over rounds of
// requests/s, p50/p99 latency, server CPU time per request and resident
// memory, each also as a ratio to the reference server (tsgi node) and to
// uWebSockets.js from the same run, with the targets marked met or MISSED.
//
//   npm run bench                        3 rounds x (2 s warm-up + 5 s) per measurement
//   npm run bench -- --smoke             1 round x 1 s, a subset (CI: keeps the harness working)
//   npm run bench -- --servers native,uws --scenarios hello,pipelined --rounds 5
//   npm run bench -- --list              the scenarios and servers
//
// For each round, for each scenario, each server in turn is started afresh,
// checked, warmed up, measured and stopped, so the servers alternate and a
// slow minute of the (shared) machine hits them all; each round starts one
// server further along the list. Everything targets 127.0.0.1, every wait
// is bounded, and every child is killed when this process exits. The
// modules: bench/README.md.
import { resolve } from 'node:path';
import { clockTicks } from '../scripts/lib/proc.mjs';
import { killAll } from '../scripts/lib/server-process.mjs';
import { writeChart } from './chart.mjs';
import { checkServer } from './check.mjs';
import { fmtInt, tail } from './format.mjs';
import { measureIdle } from './idle.mjs';
import { load, machineInfo, planPinning, which } from './machine.mjs';
import { given, parseOptions, printList, select } from './options.mjs';
import { idleLine, printTables, wrkLine } from './report.mjs';
import { readResult, resultOf, writeAtomically } from './results.mjs';
import { SCENARIOS } from './scenarios.mjs';
import { REFERENCE, SERVERS, UWS } from './servers/index.mjs';
import { APP, CLIENT_BUSY, STOP_TIMEOUT_MS } from './settings.mjs';
import { summarize } from './stats.mjs';
import { evaluateTargets } from './targets.mjs';
import { makeWorkDir } from './workdir.mjs';
import { measureWrk } from './wrk.mjs';

const serversById = new Map(SERVERS.map((s) => [s.id, s]));
const chartMeta = (rounds, m, date) => ({
  rounds,
  machine: `${m.nproc} CPUs ${m.cpu}, node ${m.node}, ${date.slice(0, 16)}Z`,
});

// A closed stdout (`npm run bench | head`) must not stop the run halfway.
process.stdout.on('error', (e) => {
  if (e.code !== 'EPIPE') throw e;
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping\n`);
    killAll('SIGTERM');
    process.exit(130);
  });
}

/** --report: the tables (and chart) of a saved run, measuring nothing. */
async function reprint(opts) {
  const saved = readResult(resolve(process.cwd(), opts.report));
  const ids = new Set(saved.servers.map((s) => s.id));
  const servers = SERVERS.filter((s) => ids.has(s.id));
  const scIds = new Set(saved.summary.map((s) => s.scenario));
  const scenarios = SCENARIOS.filter((s) => scIds.has(s.id));
  const targets = evaluateTargets(saved.summary, serversById);
  console.log(`${opts.report}: ${saved.date}, ${saved.options.rounds} round(s), node ${saved.machine.node}`);
  printTables(saved.summary, scenarios, servers, targets, saved.options);
  for (const n of saved.notes ?? []) console.log(`note: ${n}`);
  for (const w of saved.warnings ?? []) console.log(`warning: ${w}`);
  for (const f of saved.failures ?? []) console.log(`FAILED: ${f}`);
  if (opts.svg && given('svg')) {
    const why = await writeChart(
      resolve(process.cwd(), opts.svg),
      saved.summary,
      servers,
      chartMeta(saved.options.rounds, saved.machine, saved.date),
    );
    console.log(why ? `note: ${why}` : `chart written to ${opts.svg}`);
  }
}

/**
 * One measurement: start, check, measure, stop. Pushes its run, or what
 * went wrong, into `out`.
 */
async function measureOne(desc, sc, round, ctx, out) {
  const { opts } = ctx;
  const label = sc.label(opts);
  const where = `${desc.label} ${label} (round ${round})`;
  const tagline = `round ${round}/${opts.rounds}  ${label.padEnd(24)} ${desc.label.padEnd(16)}`;
  let srv;
  try {
    srv = await desc.start(ctx);
  } catch (e) {
    out.failures.push(`${where}: failed to start: ${e.message}`);
    console.log(`${tagline}  FAILED to start: ${e.message.split('\n')[0]}`);
    return;
  }
  try {
    const head = await checkServer(srv, sc, ctx);
    (out.heads[desc.id] ??= {})[sc.id] ??= head;
    if (sc.kind === 'idle') {
      const r = await measureIdle(srv, sc, ctx);
      out.runs.push({ round, server: desc.id, scenario: sc.id, ...r });
      console.log(`${tagline}  ${idleLine(r)}`);
      if (r.failed) out.failures.push(`${where}: ${r.failed} connections failed (${r.firstError})`);
      if (r.open < r.ok) {
        out.warnings.push(
          `${where}: ${r.ok - r.open} connections closed by the server before the measurement ` +
            '(divided by those still open)',
        );
      }
    } else {
      const r = await measureWrk(srv, sc, ctx);
      out.runs.push({ round, server: desc.id, scenario: sc.id, ...r });
      console.log(`${tagline}  ${wrkLine(r)}`);
      const e = r.errors;
      if (r.requests === 0) out.failures.push(`${where}: no responses`);
      if (e.status) out.failures.push(`${where}: ${e.status} responses with a status of 400 or more`);
      if (e.connect + e.read + e.write + e.timeout) {
        out.warnings.push(
          `${where}: socket errors connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}`,
        );
      }
      if (r.client.busy >= CLIENT_BUSY) {
        out.warnings.push(`${where}: wrk used ${Math.round(r.client.busy * 100)}% of its CPU (it may have set the pace)`);
      }
    }
  } catch (e) {
    out.failures.push(`${where}: ${e.message}`);
    console.log(`${tagline}  FAILED: ${e.message.split('\n')[0]}`);
  } finally {
    const st = await srv.stop();
    if (!st.graceful) {
      out.warnings.push(
        `${where}: ` +
          (st.early
            ? `had exited during the run (${st.signal ?? `code ${st.code}`})`
            : st.timedOut
              ? `did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM (killed)`
              : `exited with ${st.signal ?? `code ${st.code}`} on SIGTERM`),
      );
      if (st.early) out.failures.push(`${where}: server died during the run`);
    }
    const stderr = srv.stderr().trim();
    if (stderr) out.warnings.push(`${where} stderr: ${tail(stderr, 600)}`);
  }
}

async function main() {
  const opts = parseOptions();
  if (opts.list) return printList(opts);
  if (opts.report) return reprint(opts);
  const servers = select(SERVERS, opts.servers, 'server');
  const scenarios = select(SCENARIOS, opts.scenarios, 'scenario');

  if (!which('wrk')) {
    console.error('bench: wrk is not on PATH. Install it (Debian/Ubuntu):');
    console.error('  apt-get install -y wrk');
    process.exit(1);
  }
  const pin = planPinning(opts.pin);
  const ctx = {
    opts,
    pin,
    nofile: Math.max(4096, opts.idleConnections + 1024),
    ...makeWorkDir(SCENARIOS),
  };

  const machine = machineInfo();
  const startedAt = new Date();
  console.log('tsgi benchmark');
  console.log(`  machine   ${machine.nproc} CPUs, ${machine.cpu}, ${machine.memGiB} GiB, Linux ${machine.kernel}`);
  console.log(
    `  software  node ${machine.node}, wrk ${machine.wrk}, ${machine.tsgi}, ` +
      `uWS.js ${machine.uws ?? '-'}, nginx ${machine.nginx ?? '-'}`,
  );
  console.log(
    `  load      ${machine.loadavg.join(' ')} (1/5/15 min, before the run)` +
      (machine.loadavg[0] >= 0.5 ? '  -- the machine is busy: expect noisy figures' : ''),
  );
  console.log(`  pinning   ${pin.note}`);
  console.log(`  apps      ${APP} (tsgi), bench/apps/node-http-server.mjs, bench/apps/uws-server.mjs, nginx-conf.mjs`);
  console.log(
    `  method    ${opts.rounds} round(s); per round, per scenario, each server in turn: start, check, ` +
      `${opts.warmup} s warm-up, ${opts.duration} s wrk -t1 -c${opts.connections}, stop; medians over rounds` +
      (opts.smoke ? '  [smoke]' : ''),
  );
  console.log(`  scenarios ${scenarios.map((s) => s.label(opts)).join('; ')}`);
  console.log('');

  const out = { runs: [], failures: [], warnings: [], notes: [], heads: {} };
  const skipped = new Map();
  for (const desc of servers) {
    const why = desc.unavailable(ctx);
    if (why) {
      skipped.set(desc.id, why);
      out.notes.push(`${desc.label}: skipped: ${why}`);
    }
  }
  for (const sc of scenarios) {
    for (const desc of servers) {
      const why = desc.skip(sc.id);
      if (why && !skipped.has(desc.id)) out.notes.push(`${desc.label}: ${sc.label(opts)} skipped: ${why}`);
    }
  }
  const runnable = servers.filter((d) => !skipped.has(d.id));
  for (let round = 1; round <= opts.rounds; round++) {
    const k = (round - 1) % Math.max(1, runnable.length);
    const order = [...runnable.slice(k), ...runnable.slice(0, k)];
    for (const sc of scenarios) {
      for (const desc of order) {
        if (!desc.skip(sc.id)) await measureOne(desc, sc, round, ctx, out);
      }
    }
  }

  const summary = summarize(scenarios, servers, out.runs, opts, [REFERENCE, UWS]);
  const targets = evaluateTargets(summary, serversById);
  console.log('');
  console.log(
    `medians over ${opts.rounds} round(s); /ref (= ${serversById.get(REFERENCE).label}) and ` +
      `/${serversById.get(UWS).short}: ratio of the medians (server / base) for every figure; cpu/req: server ` +
      'utime+stime per request (nginx: master+worker); RSS: VmRSS after the run (nginx: worker)',
  );
  printTables(summary, scenarios, servers, targets, opts);

  const loadAfter = load();
  console.log(`\nload after the run: ${loadAfter.join(' ')}`);
  for (const n of out.notes) console.log(`note: ${n}`);
  for (const w of out.warnings) console.log(`warning: ${w}`);
  for (const f of out.failures) console.log(`FAILED: ${f}`);

  if (opts.json) {
    const result = resultOf({
      ...out,
      opts,
      startedAt,
      machine: {
        ...machine,
        loadavgAfter: loadAfter,
        pinning: pin.server ? { server: pin.server, wrk: pin.wrk } : null,
        clockTicks: clockTicks(),
      },
      servers,
      scenarios,
      skipped,
      summary,
      targets,
    });
    writeAtomically(resolve(process.cwd(), opts.json), `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\nresults written to ${opts.json}`);
  }
  if (opts.svg) {
    try {
      const file = resolve(process.cwd(), opts.svg);
      const why = await writeChart(file, summary, servers, chartMeta(opts.rounds, machine, startedAt.toISOString()));
      console.log(why ? `note: ${why}` : `chart written to ${opts.svg}`);
    } catch (e) {
      console.log(`warning: chart not written: ${e.message}`);
    }
  }
  console.log(`\n${fmtInt(out.runs.length)} measurements in ${fmtInt((Date.now() - startedAt.getTime()) / 1000)} s`);
  process.exitCode = out.failures.length ? 1 : 0;
}

main().catch((e) => {
  console.error(`bench: ${e?.stack ?? e}`);
  killAll('SIGKILL');
  process.exit(1);
});
