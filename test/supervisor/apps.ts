// apps.ts: the application modules the supervisor's tests serve, as text
// (written to a temporary directory per test file).
import { root } from '../helpers/tsgi.js';

/** An application that says its version and thread, and misbehaves on
 * request: /spin never returns, /crash throws outside the request,
 * /exit calls process.exit, /block/MS holds its loop for MS. */
export function app(version: string): string {
  return `import { threadId } from 'node:worker_threads';
import { onReopenLogs } from ${JSON.stringify(`${root}dist/index.js`)};
onReopenLogs(() => process.stderr.write('reopened in thread ' + threadId + '\\n'));
export default (env, sr) => {
  const p = env.PATH_INFO;
  if (p === '/spin') { while (true) {} }
  if (p === '/crash') setTimeout(() => { throw new Error('boom outside a request'); });
  if (p === '/exit') setTimeout(() => process.exit(7));
  if (p.startsWith('/block/')) { const end = Date.now() + Number(p.slice(7)); while (Date.now() < end); }
  if (p === '/environ') {
    sr('200 OK', [['Content-Type', 'application/json']]);
    return [JSON.stringify({ SERVER_NAME: env.SERVER_NAME, SERVER_PORT: env.SERVER_PORT, REMOTE_ADDR: env.REMOTE_ADDR, REMOTE_PORT: env.REMOTE_PORT, mp: env['tsgi.multiprocess'], mt: env['tsgi.multithread'] })];
  }
  sr('200 OK', [['Content-Type', 'text/plain']]);
  return [${JSON.stringify(version)} + ' thread=' + threadId + ' mp=' + env['tsgi.multiprocess']];
};
`;
}

/** The thread of an app() body. */
export function threadOf(body: string): string {
  return /thread=(\d+)/.exec(body)?.[1] ?? '?';
}
