// tsgi-app.mjs: the TSGI application of the benchmark, routed on PATH_INFO.
// Both tsgi servers serve it:
//
//   node bin/tsgi.js serve bench/apps/tsgi-app.mjs --bind 127.0.0.1:0 --server native|node
//
// The routes and bodies are those of common.mjs, which the node:http and
// uWebSockets.js servers share, so every server runs the same application
// logic. The file route needs TSGI_BENCH_FILE (set by the
// harness).
import {
  BINARY,
  FILE,
  FILE_SIZE,
  HELLO,
  ITEMS,
  STREAM_CHUNK,
  STREAM_CHUNKS,
  TEXT,
  browserBody,
} from './common.mjs';

const HELLO_HEADERS = [
  ['Content-Type', TEXT],
  ['Content-Length', String(HELLO.length)],
];
const HELLO_BODY = [HELLO];
const TEXT_ONLY = [['Content-Type', TEXT]];
const NOT_FOUND = Buffer.from('Not Found\n');

async function* stream() {
  for (let i = 0; i < STREAM_CHUNKS; i++) yield STREAM_CHUNK;
}

async function echo(environ, startResponse) {
  const body = await environ['tsgi.input'].read();
  startResponse('200 OK', [
    ['Content-Type', BINARY],
    ['Content-Length', String(body.length)],
  ]);
  return [body];
}

function browser(environ, startResponse) {
  const body = Buffer.from(
    browserBody(
      environ.PATH_INFO,
      environ.QUERY_STRING,
      environ.HTTP_USER_AGENT ?? '',
      environ.HTTP_ACCEPT_LANGUAGE ?? '',
      environ.HTTP_COOKIE ?? '',
    ),
    'latin1',
  );
  startResponse('200 OK', [
    ['Content-Type', TEXT],
    ['Content-Length', String(body.length)],
  ]);
  return [body];
}

export default function app(environ, startResponse) {
  const path = environ.PATH_INFO;
  switch (path) {
    case '/':
      startResponse('200 OK', HELLO_HEADERS);
      return HELLO_BODY;
    case '/browser':
      return browser(environ, startResponse);
    case '/echo':
      return echo(environ, startResponse);
    case '/file':
      if (!FILE) break;
      startResponse('200 OK', [
        ['Content-Type', BINARY],
        ['Content-Length', String(FILE_SIZE)],
      ]);
      return environ['tsgi.file_wrapper'](FILE);
    case '/stream':
      startResponse('200 OK', TEXT_ONLY);
      return stream();
    default:
      if (path.startsWith(ITEMS)) return browser(environ, startResponse);
      break;
  }
  startResponse('404 Not Found', [
    ['Content-Type', TEXT],
    ['Content-Length', String(NOT_FOUND.length)],
  ]);
  return [NOT_FOUND];
}
