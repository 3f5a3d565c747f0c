// scenarios.mjs: the benchmark's scenarios, one entry each: the request
// bytes (or the wrk script that makes them), how many go in one batch, and
// the body every server must answer with, byte for byte. What each
// measures exactly is in bench/README.md. Adding a scenario: an entry here
// (and a route in bench/apps/ if it needs a new one).
//
// A wrk scenario runs `bench/wrk/<script>.lua`: pipeline.lua sends
// `request` (written to a file in the work dir) `depth` times per batch;
// varied.lua makes every request afresh. The answer check sends the batch
// the script itself dumps (bench/check.mjs), so it checks the very bytes
// the measurement sends.
import { HOST } from './settings.mjs';

const BROWSER_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const BROWSER_LANG = 'en-US,en;q=0.9,de;q=0.8';
const BROWSER_REQUEST =
  'GET /browser?q=tsgi&page=2&sort=desc HTTP/1.1\r\n' +
  `Host: ${HOST}\r\n` +
  `User-Agent: ${BROWSER_UA}\r\n` +
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n' +
  `Accept-Language: ${BROWSER_LANG}\r\n` +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Cookie: theme=dark; session=3f2a9c4e1b7d; _ga=GA1.1.123456789.1700000000\r\n' +
  `Referer: http://${HOST}/search?q=tsgi\r\n` +
  'Cache-Control: no-cache\r\n' +
  'Sec-Fetch-Dest: document\r\n' +
  'Sec-Fetch-Mode: navigate\r\n' +
  'Sec-Fetch-Site: same-origin\r\n' +
  '\r\n';
// Written out by hand (not computed by bench/apps/common.mjs) so that the
// check also tests the apps' logic; browserAnswer() must agree (below).
const BROWSER_BODY = `path=/browser q=tsgi session=3f2a9c4e1b7d\nlang=${BROWSER_LANG}\nua=${BROWSER_UA}\n`;

/**
 * What the browser route answers to one request (head as latin1 text):
 * the path, the raw `q` query parameter and `session` cookie, and the
 * Accept-Language and User-Agent values, as nginx's $uri, $arg_q,
 * $cookie_session and $http_* give them. Written apart from the apps'
 * param() on purpose: the check tests their logic.
 * @param {string} request
 */
function browserAnswer(request) {
  const [line, ...fields] = request.slice(0, request.indexOf('\r\n\r\n')).split('\r\n');
  const target = line.split(' ')[1];
  const cut = target.indexOf('?');
  const path = cut < 0 ? target : target.slice(0, cut);
  const query = cut < 0 ? '' : target.slice(cut + 1);
  const field = (name) => {
    const f = fields.find((x) => x.toLowerCase().startsWith(`${name}:`));
    return f ? f.slice(name.length + 1).trim() : '';
  };
  const q = /(?:^|&)q=([^&]*)/.exec(query)?.[1] ?? '';
  const session = /(?:^|;) *session=([^;]*)/.exec(field('cookie'))?.[1] ?? '';
  return Buffer.from(
    `path=${path} q=${q} session=${session}\nlang=${field('accept-language')}\nua=${field('user-agent')}\n`,
    'latin1',
  );
}
if (!browserAnswer(BROWSER_REQUEST).equals(Buffer.from(BROWSER_BODY, 'latin1'))) {
  throw new Error('scenarios.mjs: browserAnswer() disagrees with the hand-written browser body');
}

const HELLO_REQUEST = `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;
const HELLO_BODY = Buffer.from('Hello, World!\n');
const ECHO_SIZE = 16 * 1024;
const ECHO_BODY = Buffer.alloc(ECHO_SIZE, 'tsgi echo 0123456789 ');
// The servers send the same 4 KiB chunk 16 times.
const STREAM_BODY = Buffer.concat(Array(16).fill(Buffer.alloc(4096, 'abcdefghijklmnopqrstuvwxyz0123456789\n')));

/** The size of the file scenario's file (made by workdir.mjs). */
export const FILE_SIZE = 1024 * 1024;

/**
 * @typedef {object} Scenario
 * @property {string} id
 * @property {string[]} [aliases]
 * @property {(o: Record<string, any>) => string} label the table's name for it
 * @property {string} what one line: what is sent and answered
 * @property {'wrk' | 'idle'} kind wrk: wrk -t1 -c<connections>; idle: bench/idle.mjs
 * @property {(o: Record<string, any>) => number} depth requests per batch
 * @property {'pipeline' | 'varied'} script the wrk script (bench/wrk/<script>.lua); idle: the check's
 * @property {string} [request] pipeline.lua's request, raw (latin1)
 * @property {(request: string, ctx: Record<string, any>) => Buffer} expect the body that answers `request`
 * @property {boolean} [distinct] the check fails unless every request of its batch differs
 * @property {boolean} smoke part of --smoke
 */

/** @type {Scenario[]} */
export const SCENARIOS = [
  {
    id: 'hello',
    aliases: ['A'],
    kind: 'wrk',
    label: (o) => `hello -c${o.connections}`,
    what: 'GET / -> "Hello, World!\\n", one request per connection at a time',
    depth: () => 1,
    script: 'pipeline',
    request: HELLO_REQUEST,
    expect: () => HELLO_BODY,
    smoke: true,
  },
  {
    id: 'pipelined',
    aliases: ['B'],
    kind: 'wrk',
    label: (o) => `hello pipelined x${o.pipeline}`,
    what: 'GET / -> "Hello, World!\\n", 16 requests written per batch',
    depth: (o) => o.pipeline,
    script: 'pipeline',
    request: HELLO_REQUEST,
    expect: () => HELLO_BODY,
    smoke: true,
  },
  {
    id: 'browser-unpipelined',
    aliases: ['browser1'],
    kind: 'wrk',
    label: (o) => `browser-like -c${o.connections}`,
    what:
      'the browser-like request (11 headers, cookie, query; the app reads 3 headers and the query), ' +
      'one request per connection at a time',
    depth: () => 1,
    script: 'pipeline',
    request: BROWSER_REQUEST,
    expect: () => Buffer.from(BROWSER_BODY, 'latin1'),
    smoke: false,
  },
  {
    id: 'browser',
    kind: 'wrk',
    label: (o) => `browser-like x${o.pipeline}`,
    what:
      'GET /browser?q=... with 11 browser headers; the app reads the path, the query (q), ' +
      'User-Agent, Accept-Language and Cookie (session) and echoes them; 16 per batch',
    depth: (o) => o.pipeline,
    script: 'pipeline',
    request: BROWSER_REQUEST,
    expect: () => Buffer.from(BROWSER_BODY, 'latin1'),
    smoke: true,
  },
  {
    id: 'browser-varied',
    aliases: ['varied'],
    kind: 'wrk',
    label: (o) => `browser-like varied x${o.pipeline}`,
    what:
      'the browser-like request with path /items/<n>, query, session cookie, Referer, User-Agent and ' +
      'Accept-Language varied per request (bench/wrk/varied.lua: no two alike); the app does the same ' +
      'work as for /browser; 16 per batch',
    depth: (o) => o.pipeline,
    script: 'varied',
    expect: (request) => browserAnswer(request),
    distinct: true,
    smoke: true,
  },
  {
    id: 'echo',
    kind: 'wrk',
    label: () => 'POST 16 KiB echo',
    what: 'POST /echo with a 16 KiB body (Content-Length); the app reads it all and sends it back',
    depth: () => 1,
    script: 'pipeline',
    request:
      `POST /echo HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: application/octet-stream\r\n` +
      `Content-Length: ${ECHO_SIZE}\r\n\r\n${ECHO_BODY.toString('latin1')}`,
    expect: () => ECHO_BODY,
    smoke: true,
  },
  {
    id: 'file',
    kind: 'wrk',
    label: () => '1 MiB file',
    what:
      'GET /file -> a 1 MiB file from disk: tsgi.file_wrapper (tsgi), fs.createReadStream().pipe (node:http), ' +
      'fs.read in 64 KiB blocks with tryEnd/onWritable backpressure (uWS), sendfile (nginx)',
    depth: () => 1,
    script: 'pipeline',
    request: `GET /file HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
    expect: (request, ctx) => ctx.fileBytes,
    smoke: false,
  },
  {
    id: 'stream',
    kind: 'wrk',
    label: () => '64 KiB in 16 chunks',
    what:
      'GET /stream -> 64 KiB as 16 chunks of 4 KiB, chunked encoding: an async generator (tsgi), ' +
      '16 res.write() and end() (node:http, uWS)',
    depth: () => 1,
    script: 'pipeline',
    request: `GET /stream HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
    expect: () => STREAM_BODY,
    smoke: false,
  },
  {
    id: 'idle',
    kind: 'idle',
    label: (o) => `idle x${o.idleConnections}`,
    what:
      'server VmRSS after opening N keep-alive connections that each made one GET / and stay idle, ' +
      'minus VmRSS after the warm-up (wrk GET /), divided by the connections still open (nginx: its worker); ' +
      '"cold": minus VmRSS before the warm-up',
    depth: () => 1,
    script: 'pipeline',
    request: HELLO_REQUEST,
    expect: () => HELLO_BODY,
    smoke: true,
  },
];
