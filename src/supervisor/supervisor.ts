// supervisor.ts: the main thread of `tsgi serve`. It owns the listening
// sockets (listeners.ts) and runs the workers: worker threads that each
// import the application and serve it on their own loop. It replaces a
// worker that dies (with back-off when they die young), one the watchdog
// finds stuck, and one past --max-requests; reloads all of them without
// closing a socket (SIGHUP); adds and removes one (SIGTTIN, SIGTTOU); and
// stops them gracefully (SIGTERM); serves their metrics (--stats-bind).
// ARCHITECTURE.md, "Listeners and workers".
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { BoundAddress, SupervisorOptions } from '../types.js';
import { limitsOf, type ResolvedSettings } from '../settings.js';
import { validateSettings } from '../config/checks.js';
import { loadNative, NativeUnavailableError } from '../native/loader.js';
import type { NativeBinding } from '../native/binding.js';
import { resolveBinds, type ListenTarget } from './binds.js';
import { stderrLogger, type ExitReason, type LifecycleEvent, type SupervisorLogger } from './events.js';
import { ListenerSet } from './listeners.js';
import { AppLoadError } from './load-app.js';
import { CONTROL_WORDS, METRICS_BUFFER, type FromWorker, type ToWorker, type WorkerStart } from './protocol.js';
import { heartbeatMs, readInflight, Watchdog } from './watchdog.js';
import { startStatsServer, type StatsServer } from '../metrics/stats-server.js';
import { WorkerMetrics } from '../metrics/workers.js';
import { ErrorLog } from '../log/error-log.js';
import { errorLogLogger } from '../log/supervisor-log.js';
import { statsBindOf } from '../serve.js';

const kWorkerEntry = new URL('./worker.js', import.meta.url);
/** A worker that dies sooner than this after it started counts as dying
 * young: replacements then back off, 0.1 s doubling up to 10 s. */
const kYoungMs = 5_000;
const kMaxBackoffMs = 10_000;
/** How much longer than the graceful timeout a stopping worker gets
 * before it is terminated. */
const kStopMarginMs = 2_000;

/** A worker thread and what the supervisor knows of it. */
class WorkerHandle {
  state: 'starting' | 'ready' | 'stopping' | 'gone' = 'starting';
  readonly startedAt = Date.now();
  /** What it listens on now. */
  targets: ListenTarget[];
  error: Error | null = null;
  failure: { message: string; usage: boolean } | null = null;
  timedOut = 0;
  /** Buffers it published (hooks.ts publish()). */
  readonly published = new Map<string, SharedArrayBuffer>();
  readonly ready: Promise<void>;
  readonly exited: Promise<number>;
  /** Its thread id (the Worker's reads -1 once it has exited). */
  readonly threadId: number;
  private acks: (() => void)[] = [];

  constructor(
    readonly slot: number,
    readonly worker: Worker,
    readonly control: SharedArrayBuffer,
    start: WorkerStart,
    onMessage: (h: WorkerHandle, m: FromWorker) => void,
  ) {
    this.targets = start.listeners;
    this.threadId = worker.threadId;
    this.exited = new Promise((resolve) => worker.once('exit', resolve));
    this.ready = new Promise((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'failed') {
          this.failure = { message: m.message, usage: m.usage };
          reject(m.usage ? new AppLoadError(m.message) : new Error(m.message));
        } else if (m.type === 'listening') this.acks.shift()?.();
        onMessage(this, m);
      });
      worker.on('error', (err) => {
        this.error = err;
        reject(err);
      });
      void this.exited.then((code) => {
        reject(new Error(`the worker exited with code ${code} before it was ready`));
        for (const ack of this.acks.splice(0)) ack();
      });
    });
    this.ready.catch(() => {});
  }

  get id(): number {
    return this.slot + 1;
  }

  send(m: ToWorker): void {
    if (this.state !== 'gone') this.worker.postMessage(m);
  }

  /** Tells it to listen on `targets`; resolves when it has (or is gone). */
  listen(targets: ListenTarget[]): Promise<void> {
    this.targets = targets;
    if (this.state === 'gone') return Promise.resolve();
    return new Promise((resolve) => {
      this.acks.push(resolve);
      this.send({ type: 'listen', targets });
    });
  }
}

/** The fds of a target list, for comparing. */
function fds(targets: readonly ListenTarget[]): Set<number> {
  return new Set(targets.flatMap((t) => (t.kind === 'fd' ? [t.fd] : [])));
}

/** A running supervisor, as supervise() returns it. */
export interface Supervisor {
  /** Every address it listens on, in the order of `bind`. */
  readonly addresses: readonly BoundAddress[];
  /** `"native"` or `"node"`: what the workers run. */
  readonly kind: string;
  /** Workers asked for now. */
  readonly workers: number;
  /** Starts a new worker for every slot with the module loaded afresh; once
   * all are serving, the old ones stop accepting and finish their requests.
   * Resolves true when done, false when a new worker failed (the old ones
   * then go on; the failure is logged). */
  reload(why?: string): Promise<boolean>;
  /** One worker more (SIGTTIN). */
  addWorker(): Promise<void>;
  /** One worker fewer, never below one (SIGTTOU). */
  removeWorker(): Promise<void>;
  /** Reopens log files (SIGUSR1): the logger's, and every worker's hooks. */
  reopenLogs(): void;
  /** The buffers the live workers published under `name` (hooks.ts). */
  published(name: string): SharedArrayBuffer[];
  /** Where `/metrics` is served (`127.0.0.1:9100`, `unix:/path`), or null
   * without `statsBind`. */
  readonly stats: string | null;
  /** Stops every worker gracefully (gracefulTimeout), closes the sockets,
   * removes the unix socket files it made; resolves when done. */
  close(): Promise<void>;
}

interface Options {
  logger?: SupervisorLogger;
  /** The environment (LISTEN_FDS...); process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** How messages name the bind setting (`error: option '--bind'`). */
  bindSource?: string;
}

class SupervisorImpl implements Supervisor {
  private readonly handles = new Set<WorkerHandle>();
  private readonly young = new Map<number, number>();
  private readonly restartTimers = new Map<number, NodeJS.Timeout>();
  private readonly watchdog: Watchdog<WorkerHandle>;
  private serial: Promise<unknown> = Promise.resolve();
  private state: 'starting' | 'running' | 'stopping' = 'starting';
  private closed: Promise<void> | null = null;
  kind = 'native';
  workers: number;
  /** The counters workers left, their restarts and timeouts (statsBind). */
  readonly metrics = new WorkerMetrics();
  statsServer: StatsServer | null = null;

  constructor(
    private readonly target: string,
    private readonly cwd: string,
    private readonly settings: ResolvedSettings,
    private readonly set: ListenerSet,
    private readonly binding: NativeBinding,
    private readonly logger: SupervisorLogger,
    workers: number,
  ) {
    this.workers = workers;
    this.watchdog = new Watchdog(settings.timeout * 1000, (h, stuckMs) => this.stuck(h, stuckMs));
  }

  get addresses(): BoundAddress[] {
    return this.set.addresses;
  }

  private log(e: LifecycleEvent): void {
    try {
      this.logger.event(e);
    } catch {
      // a logger must not take the supervisor down
    }
  }

  /** Runs `job` after every job before it (reloads, scaling). */
  private queue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.serial.then(job, job);
    this.serial = run.catch(() => {});
    return run;
  }

  private get multiprocess(): boolean {
    return this.settings.multiprocess || this.workers > 1;
  }

  /** Slots with a worker serving (ready, not stopping). */
  private live(): number[] {
    const slots = new Set<number>();
    for (const h of this.handles) if (h.state === 'ready') slots.add(h.slot);
    return [...slots];
  }

  private spawn(slot: number): WorkerHandle {
    this.set.ensureSlots(slot + 1);
    const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
    const jitter = this.settings.maxRequestsJitter;
    const start: WorkerStart = {
      target: this.target,
      cwd: this.cwd,
      id: slot + 1,
      server: this.settings.server,
      listeners: this.set.targets(slot, this.live()),
      backlog: this.settings.backlog,
      multiprocess: this.multiprocess,
      limits: limitsOf(this.settings),
      control,
      heartbeatMs: heartbeatMs(this.settings.timeout),
      maxRequests: this.settings.maxRequests > 0 ? this.settings.maxRequests + Math.floor(Math.random() * (jitter + 1)) : 0,
      observe: {
        accessLog: this.settings.accessLog,
        accessLogFormat: this.settings.accessLogFormat,
        forwardedAllowIps: this.settings.forwardedAllowIps,
        proxyProtocol: this.settings.proxyProtocol,
        metrics: this.settings.statsBind !== undefined,
      },
    };
    const worker = new Worker(kWorkerEntry, { workerData: start });
    const h = new WorkerHandle(slot, worker, control, start, (handle, m) => this.onMessage(handle, m));
    this.handles.add(h);
    this.log({ type: 'worker-start', worker: h.id, threadId: worker.threadId });
    h.ready.then(
      () => {
        if (h.state !== 'starting') return;
        h.state = 'ready';
        this.watchdog.watch(h, control);
        this.log({ type: 'worker-ready', worker: h.id, threadId: worker.threadId, kind: this.kind });
      },
      () => {
        if (h.failure) void worker.terminate();
      },
    );
    void h.exited.then((code) => this.onExit(h, code));
    return h;
  }

  private onMessage(h: WorkerHandle, m: FromWorker): void {
    switch (m.type) {
      case 'ready':
        this.kind = m.kind;
        break;
      case 'log':
        this.log({ type: 'worker-log', worker: h.id, text: m.text, level: m.level });
        break;
      case 'publish':
        h.published.set(m.name, m.buffer);
        break;
      case 'retire':
        if (h.state !== 'ready' || this.state !== 'running') return;
        this.log({ type: 'worker-retire', worker: h.id, threadId: h.threadId, requests: m.requests });
        void this.queue(() => this.replace([h], 'max-requests'));
        break;
    }
  }

  private stuck(h: WorkerHandle, stuckMs: number): void {
    if (h.state === 'gone') return;
    h.timedOut = stuckMs;
    this.metrics.timedOut(h.id);
    this.log({ type: 'worker-timeout', worker: h.id, threadId: h.threadId, stuckMs, inflight: readInflight(h.control, this.binding.methods) });
    // terminate() stops the JS that runs, even a loop that never yields.
    void h.worker.terminate();
  }

  private onExit(h: WorkerHandle, code: number): void {
    const expected = h.state === 'stopping' || this.state === 'stopping';
    const wasLive = h.state === 'ready';
    h.state = 'gone';
    this.handles.delete(h);
    this.watchdog.unwatch(h);
    const buffer = h.published.get(METRICS_BUFFER);
    this.metrics.exited(h.id, buffer === undefined ? undefined : new Float64Array(buffer));
    const reason: ExitReason = expected
      ? { kind: 'stopped' }
      : h.timedOut
        ? { kind: 'timeout', stuckMs: h.timedOut }
        : h.failure
          ? { kind: 'failed', message: h.failure.message }
          : h.error
            ? { kind: 'exception', error: h.error }
            : { kind: 'exit', code };
    const inflight = expected || h.timedOut ? [] : readInflight(h.control, this.binding.methods);
    this.log({ type: 'worker-exit', worker: h.id, threadId: h.threadId, reason, uptimeMs: Date.now() - h.startedAt, inflight });
    if (expected || this.state !== 'running') return;
    // Its sockets go to the workers still serving until a new one is up.
    if (wasLive) void this.queue(() => this.apply());
    if (h.slot >= this.workers || [...this.handles].some((o) => o.slot === h.slot)) return;
    const young = Date.now() - h.startedAt < kYoungMs ? (this.young.get(h.slot) ?? 0) + 1 : 0;
    this.young.set(h.slot, young);
    const delayMs = young === 0 ? 0 : Math.min(kMaxBackoffMs, 100 * 2 ** (young - 1));
    this.log({ type: 'worker-restart', worker: h.id, delayMs, fastDeaths: young });
    this.metrics.restarted(h.id);
    const timer = setTimeout(() => {
      this.restartTimers.delete(h.slot);
      if (this.state !== 'running' || h.slot >= this.workers) return;
      void this.queue(() => this.bringUp(h.slot));
    }, delayMs);
    this.restartTimers.set(h.slot, timer);
  }

  /** Starts a worker for `slot` and lets the others hand over. */
  private async bringUp(slot: number): Promise<void> {
    const h = this.spawn(slot);
    try {
      await h.ready;
    } catch {
      return; // onExit logs it and schedules the next try
    }
    await this.apply();
  }

  /**
   * Moves sockets to where targets() says they belong now: every worker
   * first listens on what it gains, and only then does any worker give
   * up what it loses, so no socket is ever without a worker.
   */
  private async apply(): Promise<void> {
    const live = this.live();
    const ready = [...this.handles].filter((h) => h.state === 'ready');
    const wants = new Map(ready.map((h) => [h, this.set.targets(h.slot, live)]));
    await Promise.all(
      ready.map((h) => {
        const have = fds(h.targets);
        const gain = wants.get(h)!.filter((t) => t.kind === 'fd' && !have.has(t.fd));
        return gain.length > 0 ? h.listen([...h.targets, ...gain]) : undefined;
      }),
    );
    await Promise.all(
      ready.map((h) => {
        const want = wants.get(h)!;
        const have = fds(h.targets);
        const same = have.size === fds(want).size && [...fds(want)].every((fd) => have.has(fd));
        return same ? undefined : h.listen(want);
      }),
    );
  }

  /** Stops `h` gracefully: it stops accepting, finishes, exits. */
  private stopWorker(h: WorkerHandle, drain = true): Promise<void> {
    if (h.state === 'gone') return Promise.resolve();
    h.state = 'stopping';
    this.watchdog.unwatch(h);
    h.send({ type: 'stop', drain });
    const limit = setTimeout(() => void h.worker.terminate(), this.settings.gracefulTimeout * 1000 + kStopMarginMs);
    return h.exited.then(() => clearTimeout(limit));
  }

  /** New workers for the slots of `old`; once every one serves, `old`
   * stop. When a new one fails, they are terminated and `old` go on. */
  private async replace(old: WorkerHandle[], why: string): Promise<boolean> {
    if (this.state !== 'running') return false;
    const fresh = old.map((h) => this.spawn(h.slot));
    try {
      await Promise.all(fresh.map((h) => h.ready));
    } catch (err) {
      for (const h of fresh) {
        h.state = 'stopping';
        void h.worker.terminate();
      }
      this.log({ type: 'reload', phase: 'failed', why, error: err instanceof Error ? err.message : String(err) });
      return false;
    }
    // Wait for the readiness callbacks above to have run.
    await Promise.resolve();
    await this.apply();
    await Promise.all(old.filter((h) => h.state !== 'gone').map((h) => this.stopWorker(h)));
    return true;
  }

  /** Starts the first workers; rejects (and stops them) when one fails. */
  async start(): Promise<void> {
    const first = Array.from({ length: this.workers }, (_, slot) => this.spawn(slot));
    try {
      await Promise.all(first.map((h) => h.ready));
    } catch (err) {
      this.state = 'stopping';
      await Promise.all(first.map((h) => h.worker.terminate()));
      this.set.close();
      const failed = first.find((h) => h.failure?.usage);
      throw failed ? new AppLoadError(failed.failure!.message) : err;
    }
    await Promise.resolve();
    this.state = 'running';
  }

  reload(why = 'SIGHUP'): Promise<boolean> {
    return this.queue(async () => {
      this.log({ type: 'reload', phase: 'start', why });
      const old = [...this.handles].filter((h) => h.state === 'ready' || h.state === 'starting');
      const slots = new Set(old.map((h) => h.slot));
      // Slots whose worker is dead and waiting for its back-off get one too.
      for (let slot = 0; slot < this.workers; slot++) {
        if (!slots.has(slot)) {
          clearTimeout(this.restartTimers.get(slot));
          this.restartTimers.delete(slot);
          this.young.delete(slot);
          old.push({ slot, state: 'gone' } as WorkerHandle);
        }
      }
      const ok = await this.replace(old, why);
      if (ok) this.log({ type: 'reload', phase: 'done', why });
      return ok;
    });
  }

  addWorker(): Promise<void> {
    return this.queue(async () => {
      if (this.state !== 'running') return;
      this.workers++;
      this.broadcastMultiprocess();
      this.log({ type: 'workers', count: this.workers, why: 'SIGTTIN' });
      await this.bringUp(this.workers - 1);
    });
  }

  removeWorker(): Promise<void> {
    return this.queue(async () => {
      if (this.state !== 'running' || this.workers <= 1) return;
      this.workers--;
      const slot = this.workers;
      clearTimeout(this.restartTimers.get(slot));
      this.restartTimers.delete(slot);
      this.log({ type: 'workers', count: this.workers, why: 'SIGTTOU' });
      const leaving = [...this.handles].filter((h) => h.slot === slot);
      for (const h of leaving) if (h.state === 'ready') h.state = 'stopping';
      // Its sockets (and their queues) go to the others before it stops.
      await this.apply();
      await Promise.all(leaving.map((h) => this.stopWorker(h)));
      this.broadcastMultiprocess();
    });
  }

  private broadcastMultiprocess(): void {
    for (const h of this.handles) h.send({ type: 'multiprocess', value: this.multiprocess });
  }

  reopenLogs(): void {
    try {
      this.logger.reopen?.();
    } catch {
      // the logger says why itself
    }
    // In the reopened file.
    this.log({ type: 'reopen' });
    for (const h of this.handles) h.send({ type: 'reopen' });
  }

  published(name: string): SharedArrayBuffer[] {
    return [...this.handles].flatMap((h) => (h.state === 'gone' ? [] : [h.published.get(name)].filter((b): b is SharedArrayBuffer => !!b)));
  }

  get stats(): string | null {
    return this.statsServer?.address ?? null;
  }

  /** Starts the `/metrics` endpoint on `bind`: every worker's counters. */
  async serveStats(bind: string): Promise<void> {
    this.statsServer = await startStatsServer(statsBindOf(bind), () =>
      this.metrics.sources(
        [...this.handles].flatMap((h) => {
          const buffer = h.state === 'gone' ? undefined : h.published.get(METRICS_BUFFER);
          return buffer === undefined ? [] : [{ worker: h.id, block: new Float64Array(buffer) }];
        }),
      ),
    );
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.state = 'stopping';
      await this.statsServer?.close();
      for (const t of this.restartTimers.values()) clearTimeout(t);
      this.restartTimers.clear();
      await Promise.all([...this.handles].map((h) => this.stopWorker(h, false)));
      this.set.close();
    })();
    return this.closed;
  }
}

/** `auto`: the CPUs this process may use. */
export function workerCount(value: number | 'auto'): number {
  return value === 'auto' ? Math.max(1, availableParallelism()) : value;
}

/**
 * Serves the application of `target` (`MODULE[:EXPORT]`, as `tsgi serve`
 * takes it) from worker threads, each of which imports it and runs a server
 * of its own on sockets this thread owns. Resolves once every worker
 * serves; rejects with an AppLoadError when the module cannot be loaded,
 * with an Error when a bind cannot be opened. Signals are the caller's
 * (signals.ts maps them as `tsgi serve` does). Events go to `extra.logger`;
 * without one, to the error log when `errorLog` or `logLevel` is given,
 * else warnings and errors to stderr. With `statsBind` it serves
 * `/metrics` for every worker (`supervisor.stats` says where).
 *
 * @example
 * ```ts
 * import { supervise } from 'tsgi';
 * const supervisor = await supervise('app.mjs', { workers: 4, bind: ['127.0.0.1:8000', 'unix:/run/app.sock'] });
 * process.on('SIGHUP', () => void supervisor.reload());
 * process.on('SIGTERM', () => void supervisor.close().then(() => process.exit(0)));
 * ```
 */
export async function supervise(target: string, options: SupervisorOptions = {}, extra: Options = {}): Promise<Supervisor> {
  const settings = validateSettings(options as Record<string, unknown>, 'supervise: ');
  const native = loadNative();
  if (!native.ok) throw new NativeUnavailableError(native);
  const host = settings.host;
  const fallback = `${host.includes(':') ? `[${host}]` : host}:${settings.port}`;
  const binds = resolveBinds(settings.bind, extra.bindSource ?? 'supervise: bind', fallback, extra.env ?? process.env);
  const workers = workerCount(settings.workers);
  const set = await ListenerSet.open(native.binding.sockets, binds, {
    backlog: settings.backlog,
    umask: settings.umask ?? -1,
    reusePort: true,
  });
  // Without a logger of the caller's: the error log when one is asked for.
  const own = options.errorLog !== undefined || options.logLevel !== undefined;
  const logger = extra.logger ?? (own ? errorLogLogger(ErrorLog.open(settings.errorLog, settings.logLevel)) : stderrLogger());
  const supervisor = new SupervisorImpl(target, process.cwd(), settings, set, native.binding, logger, workers);
  await supervisor.start();
  if (settings.statsBind !== undefined) {
    try {
      await supervisor.serveStats(settings.statsBind);
    } catch (err) {
      await supervisor.close();
      throw new Error(`cannot serve the metrics on ${settings.statsBind}: ${(err as Error).message}`);
    }
  }
  return supervisor;
}
