// serve.ts: `serve()`, the one entry point that starts either server.
import { DEFAULT_LIMITS, type Application, type Limits, type Server, type ServeOptions } from './types.js';
import { stderrStream } from './gateway/errors.js';
import { loadBinding } from './native/binding.js';
import { startNativeServer } from './native/server.js';
import { startNodeServer } from './node/server.js';

/**
 * Serves a TSGI application. Uses the native server unless `server: 'node'`
 * is asked for or the addon cannot load (then the reference server).
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
  const binding = options.server === 'node' ? null : loadBinding();
  if (binding instanceof Error) {
    if (options.server === 'native') {
      throw new Error(`serve: the native server is not available (${binding.message.split('\n')[0]})`);
    }
    return startNodeServer(app, common);
  }
  if (binding === null) return startNodeServer(app, common);
  return startNativeServer(binding, app, common);
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
