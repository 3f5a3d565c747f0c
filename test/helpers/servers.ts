// servers.ts: which servers the conformance suite runs against, and how a
// test starts one (always through validate(), always on 127.0.0.1:0, with
// the error stream captured so tests can assert on logged stack traces).
import { afterEach, describe, it } from 'vitest';
import { serve, validate } from '../../src/index.js';
import { loadBinding } from '../../src/native/loader.js';
import type { Application, ErrorStream, Server, ServeOptions, ServerKind } from '../../src/types.js';
import { destroyAllClients } from './http.js';

const binding = loadBinding();

/** Why the native addon did not load, or undefined when it did. */
export const nativeLoadError: Error | undefined = binding instanceof Error ? binding : undefined;

/** The servers to test: 'native' only when the addon loads. */
export const SERVERS: ServerKind[] = nativeLoadError ? ['node'] : ['native', 'node'];

export interface CaptureStream extends ErrorStream {
  readonly messages: string[];
  flushes: number;
  text(): string;
}

/** An ErrorStream that keeps everything written to it. */
export function captureStream(): CaptureStream {
  const messages: string[] = [];
  return {
    messages,
    flushes: 0,
    write(message: string) {
      messages.push(String(message));
    },
    flush() {
      this.flushes++;
    },
    text() {
      return messages.join('');
    },
  };
}

export interface Started {
  server: Server;
  port: number;
  errors: CaptureStream;
}

const running = new Set<Server>();

/** Starts `validate(app)` on 127.0.0.1 with a free port. The server is
 * closed after the test (see forEachServer). */
export async function start(
  kind: ServerKind,
  app: Application,
  options: Partial<ServeOptions> & { validate?: boolean } = {},
): Promise<Started> {
  const errors = captureStream();
  const { validate: useValidate = true, ...serveOptions } = options;
  // validate() wraps the body, so the server cannot see an array or a
  // file wrapper through it: the few tests of those fast paths pass
  // `validate: false`.
  const server = await serve(useValidate ? validate(app) : app, {
    host: '127.0.0.1',
    port: 0,
    server: kind,
    errors,
    ...serveOptions,
  });
  running.add(server);
  return { server, port: server.port, errors };
}

/** Closes a server, failing if close() does not resolve in time. */
export async function closeServer(server: Server, timeoutMs = 8_000): Promise<void> {
  running.delete(server);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`server.close() (${server.kind}) did not resolve within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([server.close(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function closeAll(): Promise<void> {
  const servers = [...running];
  running.clear();
  const results = await Promise.allSettled(servers.map((s) => closeServer(s)));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * Declares the same tests for every server: `describe(kind, ...)` for each
 * of SERVERS, closing the servers a test started after it. When the native
 * addon does not load, a 'native' test says so: skipped locally, failing
 * in CI (process.env.CI), where the addon must be there.
 */
export function forEachServer(body: (kind: ServerKind) => void): void {
  if (nativeLoadError) {
    describe('native', () => {
      if (process.env.CI) {
        it('loads the native addon (required in CI)', () => {
          throw new Error(`native addon failed to load in CI: ${nativeLoadError!.message}`);
        });
      } else {
        it.skip(`native addon not built (${nativeLoadError!.message.split('\n')[0]})`, () => {});
      }
    });
  }
  for (const kind of SERVERS) {
    describe(kind, () => {
      afterEach(async () => {
        destroyAllClients();
        await closeAll();
      });
      body(kind);
    });
  }
}
