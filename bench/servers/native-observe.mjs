// native-observe.mjs: the native server with the access log or the metrics
// on, for their cost against plain native in one run (issue 9's targets:
// the access log to a file at most 10 % fewer requests/s on hello; the
// metrics within noise). The log is a file in the work dir, appended to
// for the whole run, gunicorn's default format or json.
import { join } from 'node:path';
import { variant } from './define.mjs';
import native from './native.mjs';

export const nativeLog = variant(native, {
  id: 'native-log',
  label: 'tsgi native, --access-log FILE',
  short: 'native-log',
  flags: (ctx) => ['--access-log', join(ctx.workDir, 'access.log')],
});

export const nativeLogJson = variant(native, {
  id: 'native-log-json',
  label: 'tsgi native, --access-log FILE json',
  short: 'native-log-json',
  flags: (ctx) => ['--access-log', join(ctx.workDir, 'access.json.log'), '--access-log-format', 'json'],
});

export const nativeMetrics = variant(native, {
  id: 'native-metrics',
  label: 'tsgi native, --stats-bind',
  short: 'native-metrics',
  flags: ['--stats-bind', '127.0.0.1:0'],
});
