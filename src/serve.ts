// serve.ts: `serve()`, the one entry point that starts either server, with
// what goes around it: the logs, the trusted front-ends, the metrics block
// and the stats endpoint.
import type { Application, ErrorStream, Server, ServeOptions } from './types.js';
import { limitsOf } from './settings.js';
import { validateSettings } from './config/checks.js';
import { parseBind, type Bind } from './config/bind.js';
import { ProxyTrust } from './gateway/forwarded.js';
import { AccessLog } from './log/access-log.js';
import { ErrorLog } from './log/error-log.js';
import { loadNative, NativeUnavailableError, warnNoNative } from './native/loader.js';
import { startNativeServer, type BaseServer } from './native/server.js';
import { startNodeServer } from './node/server.js';
import { metricsBlockProblem, newMetricsBlock } from './metrics/layout.js';
import { watchLoopLag } from './metrics/loop-lag.js';
import { startStatsServer, type StatsServer } from './metrics/stats-server.js';

/** Says `message` as a warning on `errors` (an ErrorLog, or any stream). */
function warn(errors: ErrorStream, message: string): void {
  if (errors instanceof ErrorLog) errors.warning(message);
  else errors.write(`tsgi: ${message}\n`);
}

/**
 * Serves a TSGI application. Uses the native server unless `server: 'node'`
 * is asked for or the addon cannot load: then the reference server, after
 * one `TSGI_NO_NATIVE` warning naming the platform and the shipped binaries.
 * With `server: 'native'`, a missing addon is a `NativeUnavailableError`
 * (code `TSGI_NO_NATIVE`) that says how to build it.
 *
 * Every option is a setting of src/settings.ts (README, "Settings"), but
 * `errors` (the stream of tsgi.errors and of the server's own events; by
 * default the `errorLog`) and `metrics` (a block to count into, which a
 * supervisor hands each worker; with `statsBind` serve() makes its own).
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
  const settings = validateSettings(options as Record<string, unknown>);
  let { host, port } = settings;
  if (settings.bind !== undefined) {
    if (settings.bind.length !== 1) {
      throw new TypeError(`serve: bind must be one address (several need workers), got ${JSON.stringify(settings.bind)}`);
    }
    const bind = parseBind(settings.bind[0]!, false);
    if ('problem' in bind || bind.kind !== 'tcp') throw new TypeError(`serve: bind must be HOST:PORT, got ${JSON.stringify(settings.bind[0])}`);
    ({ host, port } = bind);
  }
  if (options.metrics !== undefined) {
    const problem = metricsBlockProblem(options.metrics);
    if (problem !== null) throw new TypeError(`serve: metrics ${problem}`);
  }
  const trust = ProxyTrust.parse(settings.forwardedAllowIps);
  // Checked by validateSettings.
  const statsBind = settings.statsBind === undefined ? null : (parseBind(settings.statsBind, true) as Bind);

  // What serve() opens, it closes: on failure here, or in close().
  const owned: { close(): Promise<void> }[] = [];
  const closeOwned = async () => {
    for (const o of owned.splice(0).reverse()) await o.close();
  };
  try {
    const ownErrorLog = options.errors === undefined ? ErrorLog.open(settings.errorLog, settings.logLevel) : null;
    if (ownErrorLog !== null) owned.push(ownErrorLog);
    const errors = options.errors ?? ownErrorLog!;
    const accessLog = settings.accessLog === undefined ? null : AccessLog.open(settings.accessLog, settings.accessLogFormat);
    if (accessLog !== null) {
      owned.push(accessLog);
      accessLog.file.onProblem = (message) => warn(errors, message);
    }
    if (ownErrorLog !== null) ownErrorLog.file.onProblem = (message) => process.stderr.write(`tsgi: ${message}\n`);
    const metrics = options.metrics ?? (statsBind === null ? null : newMetricsBlock());

    const common = {
      host,
      port,
      backlog: settings.backlog,
      errors,
      multiprocess: settings.multiprocess,
      limits: limitsOf(settings),
      accessLog,
      trust,
      metrics,
      proxyProtocol: settings.proxyProtocol,
    };
    let inner: BaseServer;
    if (settings.server === 'node') {
      inner = await startNodeServer(app, common);
    } else {
      const native = loadNative();
      if (native.ok) inner = startNativeServer(native.binding, app, common);
      // No binary fits this platform, or it did not load (native/loader.ts).
      else if (settings.server === 'native') throw new NativeUnavailableError(native);
      else {
        warnNoNative(native);
        inner = await startNodeServer(app, common);
      }
    }
    owned.push(inner);
    if (metrics !== null) {
      const stop = watchLoopLag(metrics);
      owned.push({ close: async () => stop() });
    }
    let stats: StatsServer | null = null;
    if (statsBind !== null) {
      stats = await startStatsServer(statsBind, () => [{ worker: '0', block: metrics! }]);
      owned.push(stats);
    }
    let closed: Promise<void> | null = null;
    return {
      kind: inner.kind,
      host: inner.host,
      port: inner.port,
      url: inner.url,
      stats: stats === null ? null : stats.address,
      close() {
        closed ??= closeOwned();
        return closed;
      },
      reopenLogs() {
        accessLog?.reopen();
        ownErrorLog?.reopen();
      },
    };
  } catch (err) {
    await closeOwned();
    throw err;
  }
}
