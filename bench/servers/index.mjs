// index.mjs: the servers of the benchmark, in the order of the tables, and
// the two every figure is also compared with. Adding a server: a file in
// this folder (see define.mjs) and a line here; optional ones (variants,
// the Hono servers) run only when --servers names them.
import { honoBun, honoNative, honoNode, honoNodeServer } from './hono.mjs';
import native from './native.mjs';
import nativeWorkers from './native-workers.mjs';
import { nativeLog, nativeLogJson, nativeMetrics } from './native-observe.mjs';
import nginx from './nginx.mjs';
import nodeHttp from './node-http.mjs';
import tsgiNode from './tsgi-node.mjs';
import uws from './uws.mjs';

/** @type {import('./define.mjs').Server[]} */
export const SERVERS = [native, tsgiNode, nodeHttp, uws, nginx, nativeWorkers, nativeLog, nativeLogJson, nativeMetrics, honoNative, honoNode, honoNodeServer, honoBun];

/** The reference server of the /ref ratios (tsgi node). */
export const REFERENCE = 'node';
/** The other base of the ratios, and of the chart. */
export const UWS = 'uws';
