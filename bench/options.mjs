// options.mjs: the benchmark's flags (commander), what --smoke changes,
// and the selection of servers and scenarios they name. An unknown flag,
// value or id exits 2 with a line naming it.
import { Command, InvalidArgumentError, Option } from 'commander';
import { SCENARIOS } from './scenarios.mjs';
import { SERVERS } from './servers/index.mjs';

function intIn(min, max) {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    }
    return n;
  };
}

/** "5", "5s", "2m" -> whole seconds (wrk takes whole seconds). */
function seconds(min) {
  return (v) => {
    const m = /^(\d+)(s|m)?$/.exec(String(v).trim());
    if (!m) throw new InvalidArgumentError('expected seconds, e.g. 5s or 1m');
    const n = Number(m[1]) * (m[2] === 'm' ? 60 : 1);
    if (n < min || n > 600) throw new InvalidArgumentError(`expected ${min}s..10m`);
    return n;
  };
}

const list = (v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const SMOKE = SCENARIOS.filter((s) => s.smoke).map((s) => s.id);

export const program = new Command()
  .name('npm run bench --')
  .description('Benchmark the tsgi servers against node:http, uWebSockets.js and nginx, with wrk on 127.0.0.1.')
  .addOption(new Option('--duration <time>', 'length of each measurement').argParser(seconds(1)).default(5, '5s'))
  .addOption(
    new Option('--warmup <time>', 'warm-up before each measurement (not recorded)')
      .argParser(seconds(0))
      .default(2, '2s'),
  )
  .option('--rounds <n>', 'rounds; each round runs every scenario on every server once', intIn(1, 50), 3)
  .option('--connections <n>', 'wrk connections (-c)', intIn(1, 10000), 64)
  .option('--pipeline <n>', 'requests per batch in the pipelined scenarios', intIn(2, 256), 16)
  .option('--idle-connections <n>', 'connections of the idle scenario', intIn(10, 50000), 8000)
  .option('--idle-concurrency <n>', 'connections being opened at once in the idle scenario', intIn(1, 4096), 256)
  .option('--servers <ids>', `servers to run (default: ${SERVERS.filter((s) => !s.optional).map((s) => s.id).join(',')})`, list)
  .option('--scenarios <ids>', `scenarios to run (default: all; --list shows them)`, list)
  .option('--smoke', `1 round, 1 s, no warm-up, scenarios ${SMOKE.join(',')} with 300 idle connections (for CI)`)
  .option('--list', 'print the scenarios and servers, and exit')
  .option('--json <file>', 'also write the results as JSON', 'bench/results/latest.json')
  .option('--no-json', 'do not write JSON')
  .option('--svg <file>', 'also write a chart of the ratios to uWS as SVG', 'bench/results/latest.svg')
  .option('--no-svg', 'do not write the chart')
  .option('--no-pin', 'do not pin server and wrk to separate cores')
  .option('--report <json>', 'measure nothing: print the tables of a saved JSON (and write --svg if named)')
  .showHelpAfterError();

/** Was the flag given on the command line (not defaulted)? */
export const given = (name) => program.getOptionValueSource(name) === 'cli';

/** The descriptors `ids` name (ids or aliases, any case), in the registry's
 * order; all non-optional ones when `ids` is not given. */
export function select(all, ids, what) {
  if (!ids) return all.filter((d) => !d.optional);
  const out = [];
  for (const id of ids) {
    const d = all.find((x) => [x.id, ...(x.aliases ?? [])].some((n) => n.toLowerCase() === id.toLowerCase()));
    if (!d) program.error(`bench: unknown ${what} "${id}" (known: ${all.map((x) => x.id).join(', ')})`, { exitCode: 2 });
    if (!out.includes(d)) out.push(d);
  }
  return all.filter((d) => out.includes(d));
}

/** Parses process.argv; applies --smoke. */
export function parseOptions(argv = process.argv) {
  program.parse(argv);
  const opts = program.opts();
  if (opts.smoke) {
    opts.rounds = 1;
    opts.duration = 1;
    if (!given('warmup')) opts.warmup = 0;
    if (!given('idleConnections')) opts.idleConnections = 300;
    if (!given('scenarios')) opts.scenarios = SMOKE;
    // A smoke run proves the harness works; it must not replace the
    // recorded figures unless a file is named explicitly.
    if (program.getOptionValueSource('json') === 'default') opts.json = false;
    if (program.getOptionValueSource('svg') === 'default') opts.svg = false;
  }
  return opts;
}

/** --list: the scenarios and servers, with what each is. */
export function printList(opts) {
  console.log('scenarios (--scenarios; * = in --smoke)');
  for (const s of SCENARIOS) {
    const names = [s.id, ...(s.aliases ?? [])].join(', ');
    console.log(`  ${s.smoke ? '*' : ' '} ${names.padEnd(30)} ${s.label(opts).padEnd(24)} ${s.what}`);
  }
  console.log('servers (--servers; optional ones run only when named)');
  for (const d of SERVERS) {
    const why = d.unavailable({});
    const not = SCENARIOS.filter((s) => d.skip(s.id)).map((s) => s.id);
    const scope = d.only ? ` only ${d.only.join(', ')};` : not.length ? ` not in ${not.join(', ')};` : '';
    console.log(
      `    ${d.id.padEnd(30)} ${d.label.padEnd(24)}${d.optional ? ' optional;' : ''}${scope}` +
        ` ${why ? `unavailable here: ${why}` : 'available'}`,
    );
  }
}
