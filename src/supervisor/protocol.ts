// protocol.ts: what the supervisor and a worker thread say to each other
// (postMessage), what a worker is started with, and the layout of the
// control block they share (a SharedArrayBuffer per worker).
import { INFLIGHT_ENTRIES, INFLIGHT_WORDS } from '../native/binding.js';
import type { Limits, ResolvedSettings } from '../settings.js';
import type { ListenTarget } from './binds.js';

/** The control block, in int32 words: the heartbeat the worker's loop
 * bumps, then the native server's in-flight ring (native/inflight.h). */
export const HEARTBEAT_WORD = 0;
export const CONTROL_HEADER_WORDS = 4;
export const CONTROL_WORDS = CONTROL_HEADER_WORDS + INFLIGHT_ENTRIES * INFLIGHT_WORDS;

/** The name a worker publishes its metrics block under (hooks.ts). */
export const METRICS_BUFFER = 'metrics';

/** workerData of a worker thread. */
export interface WorkerStart {
  /** MODULE[:EXPORT], resolved against `cwd`. */
  target: string;
  cwd: string;
  /** 1-based, for people; the slot is `id - 1`. */
  id: number;
  server: 'native' | 'node' | undefined;
  listeners: ListenTarget[];
  backlog: number;
  multiprocess: boolean;
  limits: Limits;
  /** The control block (CONTROL_WORDS int32 words). */
  control: SharedArrayBuffer;
  /** How often the heartbeat is bumped; 0: not at all (no watchdog). */
  heartbeatMs: number;
  /** Retire after this many requests; 0: never. */
  maxRequests: number;
  /** The access log (each worker appends to the same file), the trusted
   * front-ends, and whether to count into a metrics block it publishes. */
  observe: Pick<ResolvedSettings, 'accessLog' | 'accessLogFormat' | 'forwardedAllowIps' | 'proxyProtocol'> & { metrics: boolean };
}

/** Supervisor -> worker. */
export type ToWorker =
  /** Listen on exactly these (adopt the new ones first, then release the
   * others); answered with `listening`. */
  | { type: 'listen'; targets: ListenTarget[] }
  /** Stop accepting, finish the requests in flight (graceful timeout),
   * then exit. `drain` (a reload, a replacement): idle keep-alive
   * connections stay until their next response. */
  | { type: 'stop'; drain: boolean }
  /** SIGUSR1: reopen log files (worker-side hooks, see hooks.ts). */
  | { type: 'reopen' }
  | { type: 'multiprocess'; value: boolean };

/** Worker -> supervisor. */
export type FromWorker =
  | { type: 'ready'; kind: 'native' | 'node' }
  /** The application could not be loaded or the server not started:
   * `usage` for a module problem (exit code 2 at start-up). */
  | { type: 'failed'; message: string; usage: boolean }
  | { type: 'listening' }
  /** --max-requests reached: replace me gracefully. */
  | { type: 'retire'; requests: number }
  /** A line the application wrote to tsgi.errors; with `level`, an event
   * of the worker's server (gateway/errors.ts logError) at that level. */
  | { type: 'log'; text: string; level?: 'warning' | 'error' }
  /** A SharedArrayBuffer the worker publishes under `name` (counters for
   * the supervisor's /metrics, say): hooks.ts. */
  | { type: 'publish'; name: string; buffer: SharedArrayBuffer }
  | { type: 'closed' };
