// node-http.mjs: plain node:http with the benchmark's routes
// (bench/apps/node-http-server.mjs), no tsgi code: what node:http costs by
// itself.
import { HOST, KEEP_ALIVE_S } from '../settings.mjs';
import { processServer } from './define.mjs';

export default processServer({
  id: 'node-http',
  label: 'node:http',
  tag: 'node:http',
  command: () => [
    process.execPath,
    ['bench/apps/node-http-server.mjs', '--bind', `${HOST}:0`, '--keep-alive-timeout', String(KEEP_ALIVE_S)],
  ],
});
