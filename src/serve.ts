// serve.ts: `serve()`, the one entry point that starts either server, and
// startServing(), which the supervisor's workers use too.
import type { Application, ErrorStream, Server, ServeOptions } from './types.js';
import { limitsOf, resolveSettings, SETTINGS, type Limits } from './settings.js';
import { stderrStream } from './gateway/errors.js';
import { loadNative, NativeUnavailableError, warnNoNative } from './native/loader.js';
import { startNativeServer } from './native/server.js';
import { startNodeServer } from './node/server.js';
import { resolveBinds, type ListenTarget, type ServingServer } from './supervisor/binds.js';
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
 * @example
 * ```ts
 * import { serve } from 'tsgi';
 * const server = await serve((environ, startResponse) => {
 *   startResponse('200 OK', [['Content-Type', 'text/plain']]);
 *   return ['Hello, World!\n'];
 * }, { port: 8000 });
 * console.log(`listening on ${server.url}`);
 * process.on('SIGTERM', () => server.close());
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
  const settings = resolveSettings(options as Record<string, unknown>);
  const host = settings.host;
  const fallback = `${host.includes(':') ? `[${host}]` : host}:${settings.port}`;
  // serve() takes only the binds it is given (the supervisor also takes
  // the sockets systemd passes).
  const binds = resolveBinds(settings.bind, 'serve: bind', fallback, {});
  const native = loadNative();
  const needSockets = binds.filter((b) => b.kind !== 'tcp');
  let set: ListenerSet | null = null;
  if (needSockets.length > 0 && native.ok) {
    set = await ListenerSet.open(native.binding.sockets, needSockets, {
      backlog: settings.backlog,
      umask: settings.umask ?? -1,
      reusePort: false,
    });
  } else if (binds.some((b) => b.kind === 'fd')) {
    throw new TypeError('serve: bind fd://N needs the native addon (it inspects the descriptor)');
  }
  const opened = set?.targets(0, [0]) ?? [];
  const listeners = binds.map((b): ListenTarget => {
    if (b.kind === 'tcp') return { kind: 'tcp', host: b.host, port: b.port };
    if (set === null && b.kind === 'unix') return { kind: 'unix', path: b.path, umask: settings.umask ?? -1 };
    return opened.shift()!;
  });
  let server: ServingServer;
  try {
    server = await startServing(app, {
      server: settings.server,
      listeners,
      backlog: settings.backlog,
      errors: options.errors ?? stderrStream,
      multiprocess: settings.multiprocess,
      limits: limitsOf(settings),
    });
  } catch (err) {
    set?.close();
    throw err;
  }
  if (set === null) return server;
  const sockets = set;
  const close = server.close.bind(server);
  let closed: Promise<void> | null = null;
  return Object.assign(server, {
    close() {
      closed ??= close().finally(() => sockets.close());
      return closed;
    },
  });
}
