// define.mjs: how a benchmark server is declared. A server is a descriptor:
//
//   { id, label, short, optional?, skip(scenarioId), unavailable(ctx), start(ctx) }
//
// start(ctx) resolves { port, cpuPids(), rssPids(), stop(), stderr() } once
// the server listens on HOST; cpuPids are the processes whose CPU time is
// the server's (all threads of each), rssPids those whose memory is.
// skip(id) says why this server cannot take part in a scenario, or null
// (declared as `unsupported: { id: why }` and/or `only: [ids]`);
// `optional` servers (variants, peers outside issue 11's table) run only
// when --servers names them.
//
// Most servers are a process that prints `listening on http://HOST:PORT
// (TAG)` and stops on SIGTERM: processServer() declares one from its
// command line, tsgiServer() one of `tsgi serve` with the benchmark's app,
// variant() a tsgi server with extra CLI flags:
//
//   export default variant(native, { id: 'native-w2', label: 'tsgi native -w2', flags: ['--workers', '2'] });
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { processTree } from '../../scripts/lib/proc.mjs';
import { startServer } from '../../scripts/lib/server-process.mjs';
import { APP, CLI, HOST, KEEP_ALIVE_S, ROOT, START_TIMEOUT_MS, STOP_TIMEOUT_MS } from '../settings.mjs';

/**
 * @typedef {object} Started
 * @property {number} port
 * @property {() => number[]} cpuPids throws once the server has exited
 * @property {() => number[]} rssPids
 * @property {() => Promise<{ code: number | null, signal: string | null, graceful: boolean,
 *   early?: boolean, timedOut?: boolean }>} stop
 * @property {() => string} stderr
 *
 * @typedef {object} Server
 * @property {string} id
 * @property {string} label the table's row name
 * @property {string} short the ratio columns' and chart's name
 * @property {boolean} [optional] run only when --servers names it
 * @property {(scenario: string) => string | null} skip why it cannot take part in a scenario, or null
 * @property {string[]} [only] the scenarios it serves, when it serves only some
 * @property {(ctx: Record<string, any>) => string | null} unavailable why it cannot run here, or null
 * @property {(ctx: Record<string, any>) => Promise<Started>} start
 */

/**
 * skip() from the scenarios a server cannot take part in (id -> why)
 * and/or the only ones it serves.
 * @param {Record<string, string>} [unsupported]
 * @param {string[]} [only]
 * @returns {(scenario: string) => string | null}
 */
export function skipper(unsupported = {}, only) {
  return (scenario) =>
    unsupported[scenario] ?? (only && !only.includes(scenario) ? `it serves only ${only.join(', ')}` : null);
}

/**
 * A server that is one process printing a listening line.
 * @param {{ id: string, label: string, short?: string, tag?: string, optional?: boolean,
 *   unsupported?: Record<string, string>, only?: string[], unavailable?: (ctx: any) => string | null,
 *   command: (ctx: any) => [string, string[]], pids?: 'process' | 'tree' }} spec
 *   tag: the "(TAG)" it must print; pids "tree": CPU and memory of its child
 *   processes count too (a server that forks workers)
 * @returns {Server}
 */
export function processServer(spec) {
  const pidsOf = spec.pids === 'tree' ? (pid) => processTree(pid) : (pid) => [pid];
  return {
    id: spec.id,
    label: spec.label,
    short: spec.short ?? spec.label,
    optional: spec.optional ?? false,
    only: spec.only,
    skip: skipper(spec.unsupported, spec.only),
    unavailable: spec.unavailable ?? (() => null),
    async start(ctx) {
      const [command, args] = spec.command(ctx);
      const srv = await startServer(command, args, {
        cwd: ROOT,
        nofile: ctx.nofile,
        pin: ctx.pin.server ?? undefined,
        timeoutMs: START_TIMEOUT_MS,
      });
      const wrong =
        spec.tag && srv.tag !== spec.tag
          ? `started as (${srv.tag ?? '?'}), expected (${spec.tag})`
          : srv.host !== HOST
            ? `bound ${srv.host}, expected ${HOST}`
            : null;
      if (wrong) {
        await srv.stop({ timeoutMs: STOP_TIMEOUT_MS });
        throw new Error(wrong);
      }
      const pids = () => {
        const e = srv.exited();
        if (e) throw new Error(`server exited (${e.signal ?? `code ${e.code}`})`);
        return pidsOf(srv.pid);
      };
      return {
        port: srv.port,
        cpuPids: pids,
        rssPids: pids,
        stop: () => srv.stop({ timeoutMs: STOP_TIMEOUT_MS }),
        stderr: srv.stderr,
      };
    },
  };
}

/** Why `tsgi serve` cannot run from this checkout, or null. */
export function cliMissing() {
  if (!existsSync(join(ROOT, CLI))) return `${CLI} not found`;
  if (!existsSync(join(ROOT, 'dist'))) return 'dist/ not built: run `npm run build:ts`';
  return null;
}

/**
 * `tsgi serve <app> --server <server>` on HOST:0 with the benchmark's
 * keep-alive timeout, the error log at warning, and `flags` (or flags(ctx), e.g. a file in the
 * work dir) after them.
 * @param {{ id: string, label: string, short?: string, server: 'native' | 'node', app?: string,
 *   flags?: string[] | ((ctx: any) => string[]), tag?: string, optional?: boolean,
 *   unsupported?: Record<string, string>, only?: string[], unavailable?: (ctx: any) => string | null,
 *   pids?: 'process' | 'tree' }} spec
 * @returns {Server & { tsgi: typeof spec }}
 */
export function tsgiServer(spec) {
  const flags = typeof spec.flags === 'function' ? spec.flags : () => spec.flags ?? [];
  const base = processServer({
    ...spec,
    tag: spec.tag ?? spec.server,
    unavailable: (ctx) => cliMissing() ?? spec.unavailable?.(ctx) ?? null,
    command: (ctx) => [
      process.execPath,
      [
        CLI,
        'serve',
        spec.app ?? APP,
        '--bind',
        `${HOST}:0`,
        '--server',
        spec.server,
        '--keep-alive-timeout',
        String(KEEP_ALIVE_S),
        // INFO events (worker start and stop) are not a problem of the run.
        '--log-level',
        'warning',
        ...flags(ctx),
      ],
    ],
  });
  return { ...base, tsgi: spec };
}

/**
 * A tsgi server with more CLI flags: optional unless said otherwise.
 * @param {Server & { tsgi?: Parameters<typeof tsgiServer>[0] }} base a tsgiServer()
 * @param {{ id: string, label: string, short?: string, flags: string[] | ((ctx: any) => string[]),
 *   tag?: string, optional?: boolean, pids?: 'process' | 'tree' }} spec
 */
export function variant(base, spec) {
  if (!base.tsgi) throw new Error(`variant ${spec.id}: ${base.id} is not a tsgi server`);
  const more = typeof spec.flags === 'function' ? spec.flags : () => spec.flags;
  const baseFlags = typeof base.tsgi.flags === 'function' ? base.tsgi.flags : () => base.tsgi.flags ?? [];
  return tsgiServer({
    ...base.tsgi,
    optional: true,
    short: spec.short ?? spec.id,
    ...spec,
    flags: (ctx) => [...baseFlags(ctx), ...more(ctx)],
  });
}
