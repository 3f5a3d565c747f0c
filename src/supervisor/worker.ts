// worker.ts: a worker thread's entry: bumps its heartbeat, imports the
// application itself, serves it on the listeners the supervisor hands it
// (duplicates of the supervisor's descriptors), and does what the
// supervisor says: listen on other sockets, stop, reopen logs.
import { parentPort, workerData } from 'node:worker_threads';
import type { Application, ErrorStream } from '../types.js';
import { openAccessLog, proxyTrustOf, startServing } from '../serve.js';
import type { AccessLog } from '../log/access-log.js';
import { newMetricsBlock } from '../metrics/layout.js';
import { watchLoopLag } from '../metrics/loop-lag.js';
import type { ListenTarget, ServingServer } from './binds.js';
import { onReopenLogs, publish, reopenLogs } from './hooks.js';
import { AppLoadError, loadApplication } from './load-app.js';
import { METRICS_BUFFER, type FromWorker, type ToWorker, type WorkerStart } from './protocol.js';
import { inflightView, startHeartbeat } from './watchdog.js';

const start = workerData as WorkerStart;
const port = parentPort!;
const send = (m: FromWorker): void => port.postMessage(m);

startHeartbeat(start.control, start.heartbeatMs);

/** tsgi.errors of this worker: each write goes to the supervisor's logger,
 * as do its server's events (error(), warning(): logged at their level,
 * as an ErrorLog's in one thread). */
const errors: ErrorStream & { error(message: string): void; warning(message: string): void } = {
  write(message: string) {
    send({ type: 'log', text: String(message) });
  },
  flush() {},
  error(message: string) {
    send({ type: 'log', text: message, level: 'error' });
  },
  warning(message: string) {
    send({ type: 'log', text: message, level: 'warning' });
  },
};

/** Counts requests and asks to be replaced once past maxRequests. */
function counted(app: Application, limit: number): Application {
  if (limit <= 0) return app;
  let served = 0;
  return (environ, startResponse) => {
    if (++served === limit) send({ type: 'retire', requests: served });
    return app(environ, startResponse);
  };
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const line = err.message.split('\n').find((l) => l.trim() !== '')?.trim() ?? err.message;
  return err.name && err.name !== 'Error' ? `${err.name}: ${line}` : line;
}

let server: ServingServer;
let accessLog: AccessLog | null = null;
try {
  // Every worker appends whole lines to the same file with O_APPEND (one
  // write(2) per batch: the kernel appends each whole), so the supervisor's
  // one access log needs no hop between threads per request; SIGUSR1
  // reaches each worker's reopen hook.
  accessLog = openAccessLog(start.observe, errors);
  if (accessLog !== null) onReopenLogs(() => accessLog!.reopen());
  const metrics = start.observe.metrics ? newMetricsBlock() : null;
  if (metrics !== null) {
    publish(METRICS_BUFFER, metrics.buffer as SharedArrayBuffer);
    watchLoopLag(metrics);
  }
  const app = await loadApplication(start.target, start.cwd);
  server = await startServing(counted(app, start.maxRequests), {
    server: start.server,
    listeners: start.listeners,
    backlog: start.backlog,
    errors,
    multiprocess: start.multiprocess,
    limits: start.limits,
    inflight: inflightView(start.control),
    accessLog,
    trust: proxyTrustOf(start.observe),
    metrics,
    proxyProtocol: start.observe.proxyProtocol,
  });
} catch (err) {
  send({ type: 'failed', message: err instanceof AppLoadError ? err.message : describe(err), usage: err instanceof AppLoadError });
  // The supervisor terminates this worker on `failed` (whatever the
  // module left running).
  await new Promise(() => {});
  throw err;
}

/** The descriptor of each listener index (fd targets only). */
const byFd = new Map<number, number>();
start.listeners.forEach((t, i) => t.kind === 'fd' && byFd.set(t.fd, i));

/** Listens on exactly `targets`: the new ones first, then the others go,
 * so a socket moving here from another worker is never without one. */
function listen(targets: ListenTarget[]): void {
  const wanted = new Set<number>();
  for (const t of targets) {
    if (t.kind !== 'fd') continue;
    wanted.add(t.fd);
    if (!byFd.has(t.fd)) byFd.set(t.fd, server.adopt(t));
  }
  for (const [fd, index] of byFd) {
    if (!wanted.has(fd)) {
      server.release(index);
      byFd.delete(fd);
    }
  }
}

let stopping = false;
port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'listen':
      if (!stopping) listen(m.targets);
      send({ type: 'listening' });
      break;
    case 'stop':
      if (stopping) return;
      stopping = true;
      void (m.drain ? server.drain() : server.close()).then(async () => {
        // The lines of the last responses reach the file before the exit.
        await accessLog?.close();
        send({ type: 'closed' });
        // Whatever the application left (timers, sockets) ends with it.
        process.exit(0);
      });
      break;
    case 'reopen':
      reopenLogs();
      break;
    case 'multiprocess':
      server.setMultiprocess(m.value);
      break;
  }
});
send({ type: 'ready', kind: server.kind });
