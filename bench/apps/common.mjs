// common.mjs: what every benchmark server answers, and how it is started,
// in one place, so that the tsgi app (tsgi-app.mjs), the node:http server
// (node-http-server.mjs) and the uWebSockets.js server (uws-server.mjs) run
// the same application logic and send the same bodies. The nginx config
// (nginx-conf.mjs) mirrors these by hand.
//
// Routes (exact paths, and the /items/ prefix; anything else is 404):
//   GET  /          "Hello, World!\n"                         (hello)
//   GET  /browser   a line built from the path, the query and three
//                   request headers (browserBody below)         (browser-like)
//   GET  /items/*   the same                                    (browser-varied)
//   POST /echo      the request body, echoed                    (echo)
//   GET  /file      the file named by $TSGI_BENCH_FILE          (file)
//   GET  /stream    STREAM_CHUNKS chunks of STREAM_CHUNK_SIZE bytes,
//                   without Content-Length (chunked)            (stream)
import { statSync } from 'node:fs';

export const TEXT = 'text/plain; charset=utf-8';
export const BINARY = 'application/octet-stream';

export const HELLO = Buffer.from('Hello, World!\n');

export const STREAM_CHUNKS = 16;
export const STREAM_CHUNK_SIZE = 4096;
/** One 4 KiB chunk of printable bytes (the same chunk, sent 16 times). */
export const STREAM_CHUNK = Buffer.alloc(STREAM_CHUNK_SIZE, 'abcdefghijklmnopqrstuvwxyz0123456789\n');

/** The file of the file scenario: its path and size, read once at start. */
export const FILE = process.env.TSGI_BENCH_FILE || null;
export const FILE_SIZE = FILE ? statSync(FILE).size : -1;

/** The prefix of the browser-varied scenario's paths (/items/<n>), answered
 * as /browser is. */
export const ITEMS = '/items/';

/**
 * The value of `name` in a list like `a=1&b=2` (sep "&") or
 * `a=1; b=2` (sep ";"): the first match, raw (not percent-decoded), or ""
 * if absent — what nginx's $arg_NAME and $cookie_NAME give.
 */
export function param(list, name, sep) {
  const n = name.length;
  let i = 0;
  for (let guard = 0; guard < 1000 && i <= list.length; guard++) {
    let end = list.indexOf(sep, i);
    if (end < 0) end = list.length;
    let k = i;
    while (list.charCodeAt(k) === 32) k++;
    if (list.charCodeAt(k + n) === 61 /* = */ && list.startsWith(name, k)) return list.slice(k + n + 1, end);
    i = end + 1;
  }
  return '';
}

/**
 * The browser-like response: derived from the path, the `q` query
 * parameter, the `session` cookie, Accept-Language and User-Agent. nginx
 * builds the same text with
 *   "path=$uri q=$arg_q session=$cookie_session\nlang=$http_accept_language\nua=$http_user_agent\n"
 */
export function browserBody(path, query, userAgent, acceptLanguage, cookie) {
  const q = param(query, 'q', '&');
  const session = param(cookie, 'session', ';');
  return `path=${path} q=${q} session=${session}\nlang=${acceptLanguage}\nua=${userAgent}\n`;
}

/**
 * The `--bind HOST:PORT` of a benchmark server, and its other flags:
 * `flags` maps a flag to whether it takes a value. Exits 2 with one line
 * naming the problem on anything else.
 */
export function serverArgs(name, argv, flags = {}) {
  const values = { bind: '127.0.0.1:0' };
  const fail = (message) => {
    process.stderr.write(`${name}: ${message}\n`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const key = flag.replace(/^--/, '');
    const takesValue = key === 'bind' || flags[key] === true;
    if (!flag.startsWith('--') || (key !== 'bind' && !(key in flags))) fail(`unknown argument ${argv[i]}`);
    if (!takesValue) values[key] = true;
    else if (inline !== undefined) values[key] = inline;
    else if (i + 1 < argv.length) values[key] = argv[++i];
    else fail(`${flag} wants a value`);
  }
  const m = /^(.*):(\d+)$/.exec(values.bind);
  if (!m) fail(`--bind wants HOST:PORT, got ${values.bind}`);
  return { ...values, host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
}
