// serve.ts: `serve()`, the one entry point that starts either server.
import type { Application, Server, ServeOptions } from './types.js';
import { limitsOf, resolveSettings } from './settings.js';
import { stderrStream } from './gateway/errors.js';
import { loadNative, NativeUnavailableError, warnNoNative } from './native/loader.js';
import { startNativeServer } from './native/server.js';
import { startNodeServer } from './node/server.js';

/**
 * Serves a TSGI application. Uses the native server unless `server: 'node'`
 * is asked for or the addon cannot load: then the reference server, after
 * one `TSGI_NO_NATIVE` warning naming the platform and the shipped binaries.
 * With `server: 'native'`, a missing addon is a `NativeUnavailableError`
 * (code `TSGI_NO_NATIVE`) that says how to build it.
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
  const settings = resolveSettings(options as Record<string, unknown>);
  const common = {
    host: settings.host,
    port: settings.port,
    backlog: settings.backlog,
    errors: options.errors ?? stderrStream,
    multiprocess: settings.multiprocess,
    limits: limitsOf(settings),
  };
  if (settings.server === 'node') return startNodeServer(app, common);
  const native = loadNative();
  if (native.ok) return startNativeServer(native.binding, app, common);
  // No binary fits this platform, or it did not load (native/loader.ts).
  if (settings.server === 'native') throw new NativeUnavailableError(native);
  warnNoNative(native);
  return startNodeServer(app, common);
}
