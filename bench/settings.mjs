// settings.mjs: the benchmark's fixed settings in one place: where it runs
// from, the one address everything uses, the keep-alive timeout every
// server gets, and the bounds on every wait. The flags (options.mjs) are
// what a user may change; these are not.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: every child runs there, every path is relative to it. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Everything listens and connects here: load only ever targets loopback. */
export const HOST = '127.0.0.1';
/** The tsgi command and the TSGI application both tsgi servers run. */
export const CLI = 'bin/tsgi.js';
export const APP = 'bench/apps/tsgi-app.mjs';
/** Seconds an idle keep-alive connection stays open, for every server that
 * has the setting (uWS: fixed 10 s), so that the idle scenario's
 * connections outlive its measurement. */
export const KEEP_ALIVE_S = 60;

export const START_TIMEOUT_MS = 20_000;
export const STOP_TIMEOUT_MS = 5_000;
export const CHECK_TIMEOUT_MS = 10_000;
/** On top of a wrk run's duration. */
export const WRK_GRACE_MS = 20_000;
/** The idle client's whole run. */
export const IDLE_TIMEOUT_S = 120;
/** Before reading resident memory. */
export const SETTLE_MS = 500;
/** wrk's own CPU time over a run's duration from which the run is flagged:
 * the load generator, not the server, may have set the pace. */
export const CLIENT_BUSY = 0.9;
