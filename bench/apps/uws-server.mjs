#!/usr/bin/env node
// uws-server.mjs: the benchmark's routes (see common.mjs) on
// uWebSockets.js, from the npm package @trufflesuite/uws-js-unofficial
// (uWS.js v20.30 with its binaries inside the package).
//
//   node bench/apps/uws-server.mjs [--bind HOST:PORT] [--probe]
//
// Prints `listening on http://HOST:PORT (uws)` once ready and stops on
// SIGTERM/SIGINT. The package's own entry point falls back silently to a
// pure-JavaScript imitation when its binary does not load; this server
// loads the binary itself and exits with code 3 and the reason instead, so
// the benchmark never reports the imitation as uWebSockets.js.
//
// uWS has no keep-alive timeout option: idle HTTP connections close after
// its built-in 10 s.
import { read, open, close } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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

const { host, port, probe = false } = serverArgs('uws-server.mjs', process.argv.slice(2), { probe: false });

let uWS;
const require = createRequire(import.meta.url);
try {
  const pkg = dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
  const bin = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  uWS = require(join(pkg, 'binaries', bin));
  if (typeof uWS.App !== 'function') throw new Error(`${bin} has no App()`);
} catch (e) {
  process.stderr.write(`uws-server.mjs: cannot load the uWebSockets.js binary: ${String(e?.message ?? e).split('\n')[0]}\n`);
  process.exit(3);
}
if (probe) {
  process.stdout.write('uws binary loads\n');
  process.exit(0);
}

const NOT_FOUND = Buffer.from('Not Found\n');
const FILE_BLOCK = 64 * 1024; // as tsgi.file_wrapper's default block

/** Streams the file from disk with fs.read in 64 KiB blocks; a block that
 * the socket does not take at once waits for onWritable (backpressure). */
function file(res) {
  const state = { aborted: false, fd: -1 };
  const finish = () => {
    if (state.fd >= 0) close(state.fd, () => {});
    state.fd = -1;
  };
  res.onAborted(() => {
    state.aborted = true;
    finish();
  });
  open(FILE, 'r', (err, fd) => {
    if (state.aborted) {
      if (!err) close(fd, () => {});
      return;
    }
    if (err) {
      res.cork(() => res.writeStatus('500 Internal Server Error').end());
      return;
    }
    state.fd = fd;
    let position = 0;
    let first = true;
    const next = () => {
      const block = Buffer.allocUnsafe(Math.min(FILE_BLOCK, FILE_SIZE - position));
      read(fd, block, 0, block.length, position, (err2, n) => {
        if (state.aborted) return;
        if (err2 || n === 0) {
          finish();
          res.close();
          return;
        }
        position += n;
        const chunk = n === block.length ? block : block.subarray(0, n);
        let ok = false;
        let done = false;
        const start = res.getWriteOffset();
        res.cork(() => {
          if (first) {
            res.writeStatus('200 OK').writeHeader('Content-Type', BINARY);
            first = false;
          }
          [ok, done] = res.tryEnd(chunk, FILE_SIZE);
        });
        if (done) return finish();
        if (ok) return next();
        res.onWritable((offset) => {
          const [ok2, done2] = res.tryEnd(chunk.subarray(offset - start), FILE_SIZE);
          if (done2) finish();
          else if (ok2) next();
          return ok2;
        });
      });
    };
    next();
  });
}

function browser(res, req) {
  const body = Buffer.from(
    browserBody(
      req.getUrl(),
      req.getQuery() ?? '',
      req.getHeader('user-agent'),
      req.getHeader('accept-language'),
      req.getHeader('cookie'),
    ),
    'latin1',
  );
  res.writeStatus('200 OK').writeHeader('Content-Type', TEXT).end(body);
}

const app = uWS
  .App()
  .get('/', (res) => {
    res.writeStatus('200 OK').writeHeader('Content-Type', TEXT).end(HELLO);
  })
  .get('/browser', browser)
  .get(`${ITEMS}*`, browser)
  .post('/echo', (res) => {
    const parts = [];
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    res.onData((chunk, isLast) => {
      // The ArrayBuffer is reused after this call returns: copy it.
      parts.push(Buffer.from(Buffer.from(chunk)));
      if (!isLast || aborted) return;
      const body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('Content-Type', BINARY).end(body);
      });
    });
  })
  .get('/file', (res) => {
    if (!FILE) {
      res.writeStatus('404 Not Found').writeHeader('Content-Type', TEXT).end(NOT_FOUND);
      return;
    }
    file(res);
  })
  .get('/stream', (res) => {
    res.writeStatus('200 OK').writeHeader('Content-Type', TEXT);
    for (let i = 0; i < STREAM_CHUNKS; i++) res.write(STREAM_CHUNK);
    res.end();
  })
  .any('/*', (res) => {
    res.writeStatus('404 Not Found').writeHeader('Content-Type', TEXT).end(NOT_FOUND);
  });

let listenSocket = null;
app.listen(host, port, (token) => {
  if (!token) {
    process.stderr.write(`uws-server.mjs: cannot listen on ${host}:${port}\n`);
    process.exit(1);
  }
  listenSocket = token;
  process.stdout.write(`listening on http://${host}:${uWS.us_socket_local_port(token)} (uws)\n`);
});

function stop() {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  listenSocket = null;
  // uWS keeps open connections going; nothing here needs a graceful end.
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
