// binds.ts: what `--bind` (and `serve({ bind })`) may say, parsed and
// checked before anything is opened: `HOST:PORT`, `[IPv6]:PORT`,
// `unix:PATH`, `fd://N`; and the sockets systemd passes (LISTEN_FDS,
// LISTEN_PID). Also the shapes a server is told to listen on.
import type { BoundAddress, Server } from '../types.js';

/** One bind, parsed. `text` is how it was written, for messages. */
export type Bind =
  | { kind: 'tcp'; host: string; port: number; text: string }
  | { kind: 'unix'; path: string; text: string }
  | { kind: 'fd'; fd: number; text: string };

/** What a server listens on: an address it binds itself, a descriptor it
 * adopts a duplicate of (which stays the caller's), or, for the node server
 * when the addon is missing, a unix path node:net binds. */
export type ListenTarget =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'fd'; fd: number; serverName: string; serverPort: string; address: BoundAddress }
  | { kind: 'unix'; path: string; umask: number };

/** A server as the supervisor's workers drive it: listeners come and go
 * (serve() adds the stats endpoint and reopenLogs of Server). */
export interface ServingServer extends Omit<Server, 'stats' | 'reopenLogs'> {
  /** Listens on one more target; returns its index. */
  adopt(target: ListenTarget): number;
  /** Stops listener `index` (connections it accepted stay). */
  release(index: number): void;
  /** Stops accepting and finishes, leaving idle keep-alive connections
   * open until their next response (`Connection: close`) or their
   * keep-alive timeout; close() cuts them at once. Resolves when closed. */
  drain(): Promise<void>;
  /** Sets tsgi.multiprocess for the requests to come. */
  setMultiprocess(value: boolean): void;
}

/** A bind or LISTEN_FDS that cannot be used as written: exit code 2. */
export class BindError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BindError';
  }
}

/** The bytes of sockaddr_un.sun_path (Linux: 108) less the final NUL. */
export const MAX_UNIX_PATH = 107;

const kForms = 'HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N';

/**
 * Parses one bind. `where` names its source in messages (`option
 * '--bind'`, `serve: bind`).
 *
 * @example
 * ```ts
 * parseBind('[::1]:8000', "option '--bind'"); // { kind: 'tcp', host: '::1', port: 8000, ... }
 * parseBind('unix:/run/app.sock', "option '--bind'");
 * ```
 */
export function parseBind(text: string, where: string): Bind {
  const shown = JSON.stringify(text);
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (path === '') throw new BindError(`${where} unix:PATH needs a path, got ${shown}`);
    if (path.includes('\0')) throw new BindError(`${where} unix:PATH must not contain NUL, got ${shown}`);
    const bytes = Buffer.byteLength(path);
    if (bytes > MAX_UNIX_PATH) {
      throw new BindError(
        `${where} unix:PATH is ${bytes} bytes, longer than the ${MAX_UNIX_PATH} a unix socket address holds: ${shown}`,
      );
    }
    return { kind: 'unix', path, text };
  }
  if (text.startsWith('fd://')) {
    const digits = text.slice(5);
    const fd = /^\d{1,9}$/.test(digits) ? Number(digits) : NaN;
    if (!Number.isSafeInteger(fd)) throw new BindError(`${where} fd://N needs a descriptor number, got ${shown}`);
    return { kind: 'fd', fd, text };
  }
  const m = /^(?:\[([0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]|([^:[\]\s/]+)):(\d{1,5})$/.exec(text);
  if (!m) throw new BindError(`${where} must be ${kForms}, got ${shown}`);
  const port = Number(m[3]);
  if (port > 65535) throw new BindError(`${where} port must be 0-65535, got ${shown}`);
  return { kind: 'tcp', host: (m[1] ?? m[2])!, port, text };
}

/**
 * The sockets systemd passed (sd_listen_fds(3)): with LISTEN_PID naming
 * this process, LISTEN_FDS descriptors from 3. Returns [] when none were
 * passed to this process; throws a BindError naming the variable when one
 * is not a number. The variables are removed from `env` (as
 * sd_listen_fds(1) does) so that child processes do not take them too.
 */
export function systemdBinds(env: NodeJS.ProcessEnv = process.env, pid = process.pid): Bind[] {
  const fds = env.LISTEN_FDS;
  const owner = env.LISTEN_PID;
  if (fds === undefined && owner === undefined) return [];
  if (fds === undefined || !/^\d{1,9}$/.test(fds)) {
    throw new BindError(`LISTEN_FDS must be a number of descriptors (LISTEN_PID is ${JSON.stringify(owner ?? '')}), got ${JSON.stringify(fds ?? '')}`);
  }
  if (owner === undefined || !/^\d{1,10}$/.test(owner)) {
    throw new BindError(`LISTEN_PID must be a process id (LISTEN_FDS is ${JSON.stringify(fds)}), got ${JSON.stringify(owner ?? '')}`);
  }
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (Number(owner) !== pid) return [];
  const count = Number(fds);
  if (count > 1024) throw new BindError(`LISTEN_FDS must be at most 1024, got ${JSON.stringify(fds)}`);
  return Array.from({ length: count }, (_, i) => ({ kind: 'fd', fd: 3 + i, text: `fd://${3 + i}` }) as Bind);
}

/** The binds of a configuration: `bind` (one or a list) if given, else the
 * systemd sockets, else `fallback` (host:port). */
export function resolveBinds(bind: string | readonly string[] | undefined, where: string, fallback: string, env?: NodeJS.ProcessEnv): Bind[] {
  const inherited = systemdBinds(env);
  if (bind !== undefined) {
    const list = typeof bind === 'string' ? [bind] : bind;
    if (list.length === 0) throw new BindError(`${where} needs at least one address`);
    const binds = list.map((b) => parseBind(b, where));
    const seen = new Set<string>();
    for (const b of binds) {
      const key = b.kind === 'tcp' ? `${b.host}:${b.port}` : b.kind === 'unix' ? b.path : `fd${b.fd}`;
      if (seen.has(key) && !(b.kind === 'tcp' && b.port === 0)) throw new BindError(`${where} ${JSON.stringify(b.text)} is given twice`);
      seen.add(key);
    }
    return binds;
  }
  if (inherited.length > 0) return inherited;
  return [parseBind(fallback, where)];
}
