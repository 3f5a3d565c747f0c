// uws.mjs: uWebSockets.js (the @trufflesuite/uws-js-unofficial dev
// dependency) with the benchmark's routes (bench/apps/uws-server.mjs): the
// base of the /uWS columns. Skipped, never imitated, when its binary does
// not load here.
import { spawnSync } from 'node:child_process';
import { HOST, ROOT } from '../settings.mjs';
import { processServer } from './define.mjs';

const PROGRAM = 'bench/apps/uws-server.mjs';
let probe;

/** Loads the uWS binary in a child once: a reason to skip, or null. */
function uwsMissing() {
  if (probe !== undefined) return probe;
  const r = spawnSync(process.execPath, [PROGRAM, '--probe'], { cwd: ROOT, encoding: 'utf8', timeout: 15000 });
  if (r.status === 0) probe = null;
  else {
    const why = `${r.stderr ?? ''}`.trim().split('\n').pop() || `exit ${r.status ?? r.signal}`;
    probe =
      `uWebSockets.js does not load here (${why.replace(/^uws-server\.mjs: /, '')})` +
      (/cannot find/i.test(why) ? '; install it with `npm install -D @trufflesuite/uws-js-unofficial`' : '');
  }
  return probe;
}

export default processServer({
  id: 'uws',
  label: 'uWebSockets.js',
  short: 'uWS',
  tag: 'uws',
  unavailable: uwsMissing,
  command: () => [process.execPath, [PROGRAM, '--bind', `${HOST}:0`]],
});
