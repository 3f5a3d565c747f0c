// listeners.ts: the listening sockets of a supervisor (or of one serve()),
// as descriptors it owns until it stops: per TCP bind one socket per
// worker slot, each with SO_REUSEPORT (one accept queue per worker, the
// kernel spreading connections); per unix or inherited bind one socket
// every worker shares. Workers listen on duplicates (NativeServer.adopt),
// so no socket with connections in its queue is ever closed while the
// server runs (ARCHITECTURE.md, "Listeners and workers").
import { lookup } from 'node:dns/promises';
import { lstatSync, unlinkSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect } from 'node:net';
import type { NativeSockets } from '../native/binding.js';
import { tcpAddress } from '../native/server.js';
import type { BoundAddress } from '../types.js';
import type { Bind, ListenTarget } from './binds.js';

/** A bind that could not be opened (in use, no permission, not a
 * listening socket...): exit code 1. */
export class ListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListenError';
  }
}

/** One bind's sockets. */
interface OpenBind {
  readonly bind: Bind;
  /** TCP binds made here: one socket per slot; others: one, shared. */
  readonly perSlot: boolean;
  /** The descriptors, by slot (perSlot) or [the shared one]. */
  readonly fds: number[];
  readonly host: string;
  readonly port: number;
  readonly serverName: string;
  readonly serverPort: string;
  readonly address: BoundAddress;
  /** A unix socket file made here, removed when the set closes. */
  readonly unlinkPath: string | null;
}

/** Is a live server listening at `path`? A refused connect means a stale
 * socket file (its server died without removing it). */
function probeUnix(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Removes a stale socket file at `path`; throws a ListenError when a live
 * server listens there or the path is something else. */
export async function clearUnixPath(path: string, text: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new ListenError(`cannot listen on ${text}: ${path} exists and is not a socket`);
  if (await probeUnix(path)) {
    throw new ListenError(`cannot listen on ${text}: another server is listening on ${path}`);
  }
  unlinkSync(path);
}

/** The error of a socket call, as one line naming the bind. */
function listenError(text: string, err: unknown): ListenError {
  const e = err as NodeJS.ErrnoException;
  const why = e.code === 'EADDRINUSE' ? 'EADDRINUSE (address already in use)' : e.message ?? String(err);
  return new ListenError(`cannot listen on ${text}: ${why.replace(/^listen [^:]*: /, '')}`);
}

export interface ListenerOptions {
  backlog: number;
  /** The umask of unix socket files, or -1. */
  umask: number;
  /** Per-slot TCP sockets with SO_REUSEPORT (the supervisor); false: one
   * socket per bind (serve() in one thread). */
  reusePort: boolean;
}

/**
 * The sockets of every bind. `targets(host)` says what a worker listens on;
 * `close()` closes every descriptor and removes the unix socket files made
 * here, once no worker listens any more.
 */
export class ListenerSet {
  private constructor(
    private readonly sockets: NativeSockets,
    private readonly binds: OpenBind[],
    private readonly options: ListenerOptions,
  ) {}

  /** Opens the first socket of each bind (later slots: ensureSlots). On
   * failure every socket opened so far is closed. */
  static async open(sockets: NativeSockets, binds: readonly Bind[], options: ListenerOptions): Promise<ListenerSet> {
    const set = new ListenerSet(sockets, [], options);
    try {
      for (const bind of binds) set.binds.push(await set.openBind(bind));
    } catch (err) {
      set.close();
      throw err;
    }
    return set;
  }

  private async openBind(bind: Bind): Promise<OpenBind> {
    const { sockets, options } = this;
    if (bind.kind === 'tcp') {
      let host = bind.host;
      if (isIP(host) === 0) {
        try {
          host = (await lookup(host)).address;
        } catch (err) {
          throw new ListenError(`cannot listen on ${bind.text}: cannot resolve ${JSON.stringify(bind.host)} (${(err as NodeJS.ErrnoException).code})`);
        }
      }
      let fd: number;
      try {
        fd = sockets.listenTcp(host, bind.port, options.backlog, options.reusePort, options.reusePort);
      } catch (err) {
        throw listenError(bind.text, err);
      }
      const port = sockets.inspect(fd).port;
      return {
        bind,
        perSlot: options.reusePort,
        fds: [fd],
        host,
        port,
        serverName: host,
        serverPort: String(port),
        address: tcpAddress(host, port),
        unlinkPath: null,
      };
    }
    if (bind.kind === 'unix') {
      await clearUnixPath(bind.path, bind.text);
      let fd: number;
      try {
        fd = sockets.listenUnix(bind.path, options.backlog, options.umask);
      } catch (err) {
        throw listenError(bind.text, err);
      }
      return unixBind(bind, fd, bind.path, bind.path);
    }
    // An inherited descriptor: it must be a listening stream socket.
    let info: ReturnType<NativeSockets['inspect']>;
    try {
      info = sockets.inspect(bind.fd);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EBADF' ? 'it is not open' : code === 'ENOTSOCK' ? 'it is not a socket' : (err as Error).message;
      throw new ListenError(`cannot listen on ${bind.text}: descriptor ${bind.fd} is not a listening socket (${why})`);
    }
    if (info.type !== 'stream' || !info.listening || info.family === 'other') {
      const what = info.type !== 'stream' ? 'a datagram socket' : info.family === 'other' ? 'not an IP or unix socket' : 'not listening';
      throw new ListenError(`cannot listen on ${bind.text}: descriptor ${bind.fd} is not a listening socket (${what})`);
    }
    // Not handed to any child this process may start.
    sockets.closeOnExec(bind.fd);
    if (info.family === 'unix') return unixBind(bind, bind.fd, info.path, null);
    return {
      bind,
      perSlot: false,
      fds: [bind.fd],
      host: info.address,
      port: info.port,
      serverName: info.address,
      serverPort: String(info.port),
      address: tcpAddress(info.address, info.port),
      unlinkPath: null,
    };
  }

  /** Every bind's address, in order. */
  get addresses(): BoundAddress[] {
    return this.binds.map((b) => b.address);
  }

  /** Makes sure each per-slot bind has a socket for slots 0..count-1 (new
   * ones join the port's SO_REUSEPORT group). Throws a ListenError. */
  ensureSlots(count: number): void {
    for (const b of this.binds) {
      if (!b.perSlot) continue;
      while (b.fds.length < count) {
        try {
          b.fds.push(this.sockets.listenTcp(b.host, b.port, this.options.backlog, true, false));
        } catch (err) {
          throw listenError(b.bind.text, err);
        }
      }
    }
  }

  /**
   * The sockets a worker on `slot` listens on when `live` slots are
   * serving: each per-slot bind's socket of its own slot, plus those of
   * slots without a live worker (removed by SIGTTOU, or dead and not yet
   * replaced) spread over the live ones, so that no queue is left without
   * a worker to accept from it; and every shared socket.
   */
  targets(slot: number, live: readonly number[]): ListenTarget[] {
    const out: ListenTarget[] = [];
    const sorted = [...live].sort((a, b) => a - b);
    for (const b of this.binds) {
      const target = (fd: number): ListenTarget => ({
        kind: 'fd',
        fd,
        serverName: b.serverName,
        serverPort: b.serverPort,
        address: b.address,
      });
      if (!b.perSlot) {
        out.push(target(b.fds[0]!));
        continue;
      }
      const orphans: number[] = [];
      b.fds.forEach((fd, i) => {
        if (i === slot) out.push(target(fd));
        else if (!sorted.includes(i)) orphans.push(i);
      });
      if (sorted.length > 0) {
        const at = sorted.indexOf(slot);
        if (at >= 0) orphans.forEach((i, k) => k % sorted.length === at && out.push(target(b.fds[i]!)));
      }
    }
    return out;
  }

  /** Closes every descriptor and removes the socket files made here. */
  close(): void {
    for (const b of this.binds) {
      for (const fd of b.fds.splice(0)) {
        try {
          this.sockets.close(fd);
        } catch {
          // already closed
        }
      }
      if (b.unlinkPath !== null) {
        try {
          unlinkSync(b.unlinkPath);
        } catch {
          // removed by someone else
        }
      }
    }
  }
}

function unixBind(bind: Bind, fd: number, path: string, unlinkPath: string | null): OpenBind {
  return {
    bind,
    perSlot: false,
    fds: [fd],
    host: path,
    port: 0,
    serverName: path,
    serverPort: '',
    address: { kind: 'unix', host: path, port: 0, url: `unix:${path}` },
    unlinkPath,
  };
}
