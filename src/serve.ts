// serve.ts: `serve()`, the one entry point that starts either server.
import { DEFAULT_LIMITS, type Application, type Limits, type Server, type ServeOptions } from './types.js';
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
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8000;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`serve: port must be an integer from 0 to 65535, got ${port}`);
  }
  const backlog = options.backlog ?? 511;
  if (!Number.isInteger(backlog) || backlog < 1) {
    throw new RangeError(`serve: backlog must be a positive integer, got ${backlog}`);
  }
  if (options.server !== undefined && options.server !== 'native' && options.server !== 'node') {
    throw new TypeError(`serve: server must be "native" or "node", got ${JSON.stringify(options.server)}`);
  }
  const common = {
    host,
    port,
    backlog,
    errors: options.errors ?? stderrStream,
    multiprocess: options.multiprocess ?? false,
    limits: resolveLimits(options),
  };
  if (options.server === 'node') return startNodeServer(app, common);
  const native = loadNative();
  if (native.ok) return startNativeServer(native.binding, app, common);
  // No binary fits this platform, or it did not load (native/loader.ts).
  if (options.server === 'native') throw new NativeUnavailableError(native);
  warnNoNative(native);
  return startNodeServer(app, common);
}

const kSizeKeys = ['maxUrlSize', 'maxHeaderSize', 'maxHeaderCount', 'maxBodySize'] as const;
const kTimeKeys = ['headersTimeout', 'requestTimeout', 'keepAliveTimeout', 'sendTimeout', 'gracefulTimeout'] as const;

/** Fills in the defaults of the limits and timeouts, and checks them. */
export function resolveLimits(options: ServeOptions): Limits {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const key of kSizeKeys) {
    const value = options[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`serve: ${key} must be a positive integer, got ${value}`);
    }
    limits[key] = value;
  }
  for (const key of kTimeKeys) {
    const value = options[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 86_400) {
      throw new RangeError(`serve: ${key} must be a number of seconds from 0 to 86400, got ${value}`);
    }
    limits[key] = value;
  }
  return limits;
}
