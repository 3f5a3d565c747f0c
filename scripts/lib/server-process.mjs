// server-process.mjs: a server (or any helper) in a child process, started
// and stopped one way for the benchmark, the scripts and the tests. A
// server is ready when it prints where it listens, either as `tsgi serve`
// and the benchmark's servers do:
//
//   listening on http://127.0.0.1:PORT (TAG)
//
// or as one JSON object with a numeric `port` (test/fixtures/fault-server.mjs:
// `{"port":N,"pid":P,"kind":"native"}`). Every wait is bounded, every
// child is tracked and killed when this process exits. Plain JavaScript.
import { spawn } from 'node:child_process';
import { comm } from './proc.mjs';

/** @typedef {{ code: number | null, signal: NodeJS.Signals | null }} Exit */

/**
 * @typedef {object} SpawnOptions
 * @property {string} [cwd]
 * @property {NodeJS.ProcessEnv} [env]
 * @property {number} [nofile] the child's soft descriptor limit: set to this, or to the hard
 *   limit when this is above it (sh's `ulimit -n`); lowering always works
 * @property {string} [pin] a CPU list for `taskset -c` (e.g. "1")
 * @property {'ignore' | 'pipe' | 'inherit'} [stdin] default "ignore"
 * @property {'pipe' | 'inherit'} [stderr] default "pipe"
 * @property {number} [keepChars] startServer: how much of stdout and stderr to keep (the
 *   last 8,000 characters; Infinity: all)
 */

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();
/** Descendants started by a child (nginx's workers): pid -> command name. */
const adopted = new Map();
let hooked = false;

/**
 * Spawns `command` with a descriptor limit and a CPU pin when asked; the
 * wrappers `exec`, so the child's pid is the command's. Tracked: killed by
 * killAll() and when this process exits.
 * @param {string} command
 * @param {string[]} args
 * @param {SpawnOptions} [options]
 */
export function spawnTracked(command, args, options = {}) {
  let argv = [command, ...args];
  if (options.pin) argv = ['taskset', '-c', options.pin, ...argv];
  if (options.nofile) {
    const script = `ulimit -n ${Math.floor(options.nofile)} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`;
    argv = ['sh', '-c', script, 'sh', ...argv];
  }
  const child = spawn(argv[0], argv.slice(1), {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.stdin ?? 'ignore', 'pipe', options.stderr ?? 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  if (!hooked) {
    hooked = true;
    process.on('exit', () => killAll('SIGKILL'));
  }
  return child;
}

/**
 * Tracks a descendant that a child started (and will not outlive it
 * normally): killAll() kills it too while the pid still names the same
 * command.
 * @param {number} pid
 */
export function adopt(pid) {
  const name = comm(pid);
  if (name) adopted.set(pid, name);
  return () => adopted.delete(pid);
}

/**
 * Sends `signal` to every tracked child and adopted descendant still running.
 * @param {NodeJS.Signals} [signal]
 */
export function killAll(signal = 'SIGKILL') {
  for (const child of children) {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
  for (const [pid, name] of adopted) {
    if (comm(pid) !== name) continue;
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

/**
 * Where a ready line says the server listens: `{ host, port, tag }` from a
 * `listening on http://HOST:PORT (TAG)` line (brackets of an IPv6 host
 * removed), the object of a JSON line with a numeric `port`, or null.
 * @param {string} line
 * @returns {{ host: string, port: number, tag?: string, [key: string]: unknown } | null}
 */
export function readyLine(line) {
  const m = /^listening on http:\/\/(\[[^\]]*\]|[^\s:/]+):(\d+)(?: \(([^)]*)\))?\s*$/.exec(line);
  if (m) return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]), tag: m[3] };
  if (line.startsWith('{')) {
    try {
      const o = JSON.parse(line);
      if (o && Number.isInteger(o.port)) return { host: '127.0.0.1', ...o };
    } catch {
      // not a ready line
    }
  }
  return null;
}

/**
 * Stopping a child one way: `signal` (SIGTERM), then SIGKILL when it has
 * not exited within `timeoutMs` (5 s), each wait bounded. Resolves how it
 * ended: graceful when it exited 0 or by that signal; early when it had
 * exited before it was asked to; timedOut when it had to be killed.
 * @param {import('node:child_process').ChildProcess} child
 * @param {Promise<Exit>} exit resolves when the child has exited
 * @param {() => Exit | null} exited how it exited, or null while it runs
 */
export function supervise(child, exit, exited) {
  const wait = (ms) => Promise.race([exit, new Promise((r) => setTimeout(() => r(null), ms).unref())]);
  /** @param {{ signal?: NodeJS.Signals, timeoutMs?: number }} [options] */
  const stop = async ({ signal = 'SIGTERM', timeoutMs = 5000 } = {}) => {
    const before = exited();
    if (before) return { ...before, graceful: false, early: true };
    child.kill(signal);
    const res = await wait(timeoutMs);
    if (res) return { ...res, graceful: res.code === 0 || res.signal === signal };
    child.kill('SIGKILL');
    const killed = await wait(timeoutMs);
    return { ...(killed ?? { code: null, signal: 'SIGKILL' }), graceful: false, timedOut: true };
  };
  return { stop };
}

/**
 * The exit of a child: `exited()` says how once it has exited; `exit`
 * resolves the same once its stdout and stderr are also closed (so that
 * what it printed last has been read).
 * @param {import('node:child_process').ChildProcess} child
 * @returns {{ exit: Promise<Exit>, exited: () => Exit | null }}
 */
export function exitOf(child) {
  /** @type {Exit | null} */
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const exit = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      exited ??= { code, signal };
      resolve(exited);
    });
  });
  return { exit, exited: () => exited };
}

/** The last `n` characters of `s`. */
const tail = (s, n) => (s.length > n ? `...${s.slice(-n)}` : s);

/**
 * @typedef {object} ServerProcess
 * @property {import('node:child_process').ChildProcess} child
 * @property {number} pid
 * @property {string} host
 * @property {number} port
 * @property {string | undefined} tag the "(TAG)" of a listening line
 * @property {string} line the ready line
 * @property {Record<string, unknown>} info what the ready line said
 * @property {Promise<Exit>} exit resolves when the process has exited
 * @property {() => Exit | null} exited
 * @property {() => string} stdout what it printed (the last `keepChars` characters)
 * @property {() => string} stderr
 * @property {(options?: { signal?: NodeJS.Signals, timeoutMs?: number }) =>
 *   Promise<Exit & { graceful: boolean, early?: boolean, timedOut?: boolean }>} stop
 *   the signal (SIGTERM), then SIGKILL after `timeoutMs` (5 s); graceful: exit 0 or by
 *   that signal; early: it had exited before
 */

/**
 * Starts a server and resolves once it printed its ready line (see
 * readyLine), rejecting, with what it printed, when it exits first or stays
 * silent for `timeoutMs` (the child is then stopped).
 * @param {string} command
 * @param {string[]} args
 * @param {SpawnOptions & { timeoutMs?: number }} [options]
 * @returns {Promise<ServerProcess>}
 * @example
 *   const srv = await startServer(process.execPath, ['bin/tsgi.js', 'serve', 'app.mjs', '--bind', '127.0.0.1:0']);
 *   // ... srv.port, srv.pid ...
 *   await srv.stop();
 */
export function startServer(command, args, options = {}) {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const keep = options.keepChars ?? 8000;
  const child = spawnTracked(command, args, options);
  let out = '';
  let err = '';
  const { exit, exited } = exitOf(child);
  child.stderr?.setEncoding('utf8').on('data', (d) => {
    err = tail(err + d, keep);
  });

  const { stop } = supervise(child, exit, exited);

  const ready = new Promise((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => {
      reject(new Error(`no listening line within ${timeoutMs / 1000} s\n${tail(out + err, 2000)}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out = tail(out + d, keep);
      pending += d;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const info = readyLine(line);
        if (info) {
          clearTimeout(timer);
          resolve({ line, info });
          return;
        }
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (${signal ?? `code ${code}`}) before listening\n${tail(out + err, 2000)}`));
    });
  });

  return ready.then(
    ({ line, info }) => ({
      child,
      pid: /** @type {number} */ (child.pid),
      host: info.host,
      port: info.port,
      tag: info.tag,
      line,
      info,
      exit,
      exited,
      stdout: () => out,
      stderr: () => err,
      stop,
    }),
    async (e) => {
      await stop({ timeoutMs: 2000 });
      throw e;
    },
  );
}
