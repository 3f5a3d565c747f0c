// serve.ts: `serve()`, the one entry point that starts either server in
// one thread, with what goes around it (the logs, the trusted front-ends,
// the metrics block and the stats endpoint); and startServing(), which the
// supervisor's workers use too.
import type { Application, ErrorStream, Server, ServeOptions } from './types.js';
import { limitsOf, SETTINGS, toList, type Limits, type ResolvedSettings } from './settings.js';
import { validateSettings } from './config/checks.js';
import { ProxyTrust } from './gateway/forwarded.js';
import { AccessLog } from './log/access-log.js';
import { ErrorLog } from './log/error-log.js';
import { loadNative, NativeUnavailableError, warnNoNative } from './native/loader.js';
import { startNativeServer } from './native/server.js';
import { startNodeServer } from './node/server.js';
import { metricsBlockProblem, newMetricsBlock } from './metrics/layout.js';
import { watchLoopLag } from './metrics/loop-lag.js';
import { startStatsServer, type StatsServer } from './metrics/stats-server.js';
import { parseBind, resolveBinds, type Bind, type ListenTarget, type ServingServer } from './supervisor/binds.js';
import { ListenerSet } from './supervisor/listeners.js';

/** What startServing() needs besides the application. */
export interface ServingOptions {
  server: 'native' | 'node' | undefined;
  listeners: readonly ListenTarget[];
  backlog: number;
  errors: ErrorStream;
  multiprocess: boolean;
  limits: Limits;
  /** The watchdog's ring of requests in flight (a worker's). */
  inflight?: Int32Array;
  /** The access log, or null (nothing of it runs). */
  accessLog: AccessLog | null;
  /** The trusted front-ends (forwardedAllowIps). */
  trust: ProxyTrust;
  /** The metrics block to count into, or null. */
  metrics: Float64Array | null;
  proxyProtocol: ResolvedSettings['proxyProtocol'];
}

/** Starts the server `options.server` asks for (native when the addon
 * loads, unless 'node') on `options.listeners`. */
export async function startServing(app: Application, options: ServingOptions): Promise<ServingServer> {
  const native = loadNative();
  const common = {
    listeners: options.listeners,
    backlog: options.backlog,
    errors: options.errors,
    multiprocess: options.multiprocess,
    limits: options.limits,
    inflight: options.inflight,
    accessLog: options.accessLog,
    trust: options.trust,
    metrics: options.metrics,
    proxyProtocol: options.proxyProtocol,
  };
  if (options.server === 'node') {
    return startNodeServer(app, { ...common, dup: native.ok ? native.binding.sockets.dup : undefined });
  }
  if (native.ok) return startNativeServer(native.binding, app, common);
  // No binary fits this platform, or it did not load (native/loader.ts).
  if (options.server === 'native') throw new NativeUnavailableError(native);
  warnNoNative(native);
  return startNodeServer(app, common);
}

/** The trusted front-ends of checked settings. */
export function proxyTrustOf(settings: Pick<ResolvedSettings, 'forwardedAllowIps'>): ProxyTrust {
  return ProxyTrust.parse(toList(settings.forwardedAllowIps));
}

/** A checked statsBind, parsed (checks.ts refused fd://). */
export function statsBindOf(text: string): Exclude<Bind, { kind: 'fd' }> {
  return parseBind(text, 'statsBind') as Exclude<Bind, { kind: 'fd' }>;
}

/** Says `message` as a warning on `errors` (an ErrorLog, or any stream). */
function warn(errors: ErrorStream & { warning?: (message: string) => void }, message: string): void {
  if (typeof errors.warning === 'function') errors.warning(message);
  else errors.write(`tsgi: ${message}\n`);
}

/** Opens the access log of `settings`, or null; its write problems are
 * warnings on `errors`. */
export function openAccessLog(settings: Pick<ResolvedSettings, 'accessLog' | 'accessLogFormat'>, errors: ErrorStream): AccessLog | null {
  if (settings.accessLog === undefined) return null;
  const log = AccessLog.open(settings.accessLog, settings.accessLogFormat);
  log.file.onProblem = (message) => warn(errors, message);
  return log;
}

/**
 * Serves a TSGI application in this thread. Uses the native server unless
 * `server: 'node'` is asked for or the addon cannot load: then the
 * reference server, after one `TSGI_NO_NATIVE` warning naming the platform
 * and the shipped binaries. With `server: 'native'`, a missing addon is a
 * `NativeUnavailableError` (code `TSGI_NO_NATIVE`) that says how to build
 * it. `bind` (one or a list of `HOST:PORT`, `[IPv6]:PORT`, `unix:PATH`,
 * `fd://N`) overrides `host` and `port`. Several workers, a watchdog and
 * reloads are `supervise()`'s (and `tsgi serve`'s).
 *
 * Every option is a setting of src/settings.ts (README, "Settings"), but
 * `errors` (the stream of tsgi.errors and of the server's own events; by
 * default the `errorLog`) and `metrics` (a block to count into; with
 * `statsBind` and no block serve() makes its own).
 *
 * @example
 * ```ts
 * import { serve } from 'tsgi';
 * const server = await serve((environ, startResponse) => {
 *   startResponse('200 OK', [['Content-Type', 'text/plain']]);
 *   return ['Hello, World!\n'];
 * }, { port: 8000, accessLog: '-' });
 * console.log(`listening on ${server.url}`);
 * process.on('SIGTERM', () => server.close());
 * process.on('SIGUSR1', () => server.reopenLogs());
 * ```
 */
export async function serve(app: Application, options: ServeOptions = {}): Promise<Server> {
  if (typeof app !== 'function') {
    throw new TypeError(`serve: the application must be a function, got ${app === null ? 'null' : typeof app}`);
  }
  for (const s of SETTINGS) {
    if (s.supervisor && (options as Record<string, unknown>)[s.key] !== undefined) {
      throw new TypeError(`serve: ${s.key} is an option of supervise() and tsgi serve, which load the application in worker threads`);
    }
  }
  const settings = validateSettings(options as Record<string, unknown>);
  if (options.metrics !== undefined) {
    const problem = metricsBlockProblem(options.metrics);
    if (problem !== null) throw new TypeError(`serve: metrics ${problem}`);
  }
  const trust = proxyTrustOf(settings);
  const statsBind = settings.statsBind === undefined ? null : statsBindOf(settings.statsBind);
  const host = settings.host;
  const fallback = `${host.includes(':') ? `[${host}]` : host}:${settings.port}`;
  // serve() takes only the binds it is given (the supervisor also takes
  // the sockets systemd passes).
  const binds = resolveBinds(settings.bind, 'serve: bind', fallback, {});
  const native = loadNative();

  // What serve() opens, it closes: on failure here, or in close().
  const owned: { close(): Promise<void> | void }[] = [];
  const closeOwned = async () => {
    for (const o of owned.splice(0).reverse()) await o.close();
  };
  try {
    const needSockets = binds.filter((b) => b.kind !== 'tcp');
    let set: ListenerSet | null = null;
    if (needSockets.length > 0 && native.ok) {
      set = await ListenerSet.open(native.binding.sockets, needSockets, {
        backlog: settings.backlog,
        umask: settings.umask ?? -1,
        reusePort: false,
      });
      const sockets = set;
      owned.push({ close: () => sockets.close() });
    } else if (binds.some((b) => b.kind === 'fd')) {
      throw new TypeError('serve: bind fd://N needs the native addon (it inspects the descriptor)');
    }
    const opened = set?.targets(0, [0]) ?? [];
    const listeners = binds.map((b): ListenTarget => {
      if (b.kind === 'tcp') return { kind: 'tcp', host: b.host, port: b.port };
      if (set === null && b.kind === 'unix') return { kind: 'unix', path: b.path, umask: settings.umask ?? -1 };
      return opened.shift()!;
    });

    const ownErrorLog = options.errors === undefined ? ErrorLog.open(settings.errorLog, settings.logLevel) : null;
    if (ownErrorLog !== null) {
      owned.push(ownErrorLog);
      ownErrorLog.file.onProblem = (message) => process.stderr.write(`tsgi: ${message}\n`);
    }
    const errors = options.errors ?? ownErrorLog!;
    const accessLog = openAccessLog(settings, errors);
    if (accessLog !== null) owned.push(accessLog);
    const metrics = options.metrics ?? (statsBind === null ? null : newMetricsBlock());

    const server = await startServing(app, {
      server: settings.server,
      listeners,
      backlog: settings.backlog,
      errors,
      multiprocess: settings.multiprocess,
      limits: limitsOf(settings),
      accessLog,
      trust,
      metrics,
      proxyProtocol: settings.proxyProtocol,
    });
    const closeServer = server.close.bind(server);
    owned.push({ close: closeServer });
    if (metrics !== null) {
      const stop = watchLoopLag(metrics);
      owned.push({ close: stop });
    }
    let stats: StatsServer | null = null;
    if (statsBind !== null) {
      stats = await startStatsServer(statsBind, () => [{ worker: '0', block: metrics! }]);
      owned.push(stats);
    }
    let closed: Promise<void> | null = null;
    return Object.assign(server, {
      stats: stats === null ? null : stats.address,
      close() {
        closed ??= closeOwned();
        return closed;
      },
      reopenLogs() {
        accessLog?.reopen();
        ownErrorLog?.reopen();
      },
    });
  } catch (err) {
    await closeOwned();
    throw err;
  }
}
