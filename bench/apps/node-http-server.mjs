#!/usr/bin/env node
// node-http-server.mjs: a plain node:http server with the benchmark's
// routes (see common.mjs), the baseline column of the benchmark. No tsgi
// code: it shows what node:http costs by itself, so the tsgi node server's
// own overhead can be read off.
//
//   node bench/apps/node-http-server.mjs [--bind HOST:PORT] [--keep-alive-timeout SECONDS]
//
// Prints `listening on http://HOST:PORT (node:http)` once ready, like
// `tsgi serve`, and closes on SIGTERM/SIGINT.
import { createReadStream } from 'node:fs';
import { createServer } from 'node:http';
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
  serverArgs,
} from './common.mjs';

const args = serverArgs('node-http-server.mjs', process.argv.slice(2), { 'keep-alive-timeout': true });
const { host, port } = args;
const keepAlive = args['keep-alive-timeout'] === undefined ? 5 : Number(args['keep-alive-timeout']);

const NOT_FOUND = Buffer.from('Not Found\n');

function hello(req, res) {
  res.writeHead(200, { 'Content-Type': TEXT, 'Content-Length': HELLO.length });
  res.end(HELLO);
}

function browser(req, res, url, path) {
  const q = url.indexOf('?');
  const h = req.headers;
  const body = Buffer.from(
    browserBody(
      path,
      q < 0 ? '' : url.slice(q + 1),
      h['user-agent'] ?? '',
      h['accept-language'] ?? '',
      h.cookie ?? '',
    ),
    'latin1',
  );
  res.writeHead(200, { 'Content-Type': TEXT, 'Content-Length': body.length });
  res.end(body);
}

function echo(req, res) {
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => {
    const body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    res.writeHead(200, { 'Content-Type': BINARY, 'Content-Length': body.length });
    res.end(body);
  });
}

function file(req, res) {
  res.writeHead(200, { 'Content-Type': BINARY, 'Content-Length': FILE_SIZE });
  const s = createReadStream(FILE);
  s.on('error', () => res.destroy());
  res.on('close', () => s.destroy());
  s.pipe(res);
}

function stream(req, res) {
  res.writeHead(200, { 'Content-Type': TEXT });
  for (let i = 0; i < STREAM_CHUNKS; i++) res.write(STREAM_CHUNK);
  res.end();
}

const server = createServer((req, res) => {
  const url = req.url;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  switch (path) {
    case '/':
      return hello(req, res);
    case '/browser':
      return browser(req, res, url, path);
    case '/echo':
      return echo(req, res);
    case '/file':
      if (FILE) return file(req, res);
      break;
    case '/stream':
      return stream(req, res);
    default:
      if (path.startsWith(ITEMS)) return browser(req, res, url, path);
      break;
  }
  res.writeHead(404, { 'Content-Type': TEXT, 'Content-Length': NOT_FOUND.length });
  res.end(NOT_FOUND);
});
server.keepAliveTimeout = keepAlive * 1000;

server.on('error', (err) => {
  process.stderr.write(`node-http-server.mjs: ${err.message}\n`);
  process.exit(1);
});

server.listen({ host, port }, () => {
  const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  process.stdout.write(`listening on http://${shown}:${addr.port} (node:http)\n`);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  // Bounded: whatever is still open after 5 s is cut.
  setTimeout(() => {
    server.closeAllConnections();
    process.exit(0);
  }, 5000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
