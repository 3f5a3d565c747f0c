// http-response.mjs: the one HTTP/1.x response reader of the repository's
// tooling: an incremental parser of raw response bytes, and `exchange()`,
// which writes request bytes on a socket and collects the responses. Used
// by the conformance suite (test/helpers/http.ts), the benchmark's answer
// check (bench/check.mjs), its idle client, scripts/soak.mjs,
// scripts/connections-10k.mjs and the overload tests. Plain JavaScript, so
// that node scripts and vitest tests import the same file.
//
// It parses what a test must be able to assert on: framing by
// Content-Length, chunked (with trailers) or close, interim 1xx responses,
// bodiless responses to HEAD and 204/304 (RFC 9112 section 6.3), header
// lines in wire order. It is a client for servers under test, strict where
// a wrong answer must not pass unseen (a bad status line, a bad header
// line, a bad chunk size, conflicting Content-Length values).

/**
 * @typedef {'length' | 'chunked' | 'close' | 'none'} Framing
 *
 * @typedef {object} HttpResponse
 * @property {string} version `HTTP/1.1`
 * @property {number} status
 * @property {string} reason
 * @property {string} statusLine
 * @property {[string, string][]} headers header lines in wire order, names as sent
 * @property {string} rawHead the head as received (latin1), up to and including the blank line
 * @property {Buffer} body
 * @property {Framing} framing
 * @property {number[]} chunkSizes sizes of the chunks of a chunked body, in order (without the 0 chunk)
 * @property {[string, string][]} trailers
 * @property {boolean} complete true when the body was completely framed (terminator seen, all
 *   Content-Length bytes received, or close-delimited and the peer closed)
 * @property {string} method the method of the request this response answers (for finals)
 */

const MAX_HEAD = 256 * 1024;
const MAX_CHUNK_LINE = 1024;

/** Every value of a header of `res` (case-insensitive), in order. */
function valuesOf(res, name) {
  const out = [];
  for (const [k, v] of res.headers) if (k.toLowerCase() === name) out.push(v);
  return out;
}

/**
 * Incremental HTTP/1.x response parser. `methods` lists the methods of the
 * requests sent, in order (a HEAD request's response has no body); the
 * caller may push to it as it sends more.
 *
 * `responses` (finals, status >= 200) and `all` (interim 1xx included) are
 * output queues: a response is pushed when its head is parsed and marked
 * `complete` when its body is; a reader may take responses out of them
 * (the parser counts finals itself and never reads the queues back).
 *
 * @example
 *   const parser = new ResponseParser(['GET']);
 *   socket.on('data', (d) => parser.feed(d));
 *   socket.on('close', () => parser.end());
 *   // later: parser.responses[0]?.complete, parser.error
 */
export class ResponseParser {
  /** @param {string[]} [methods] */
  constructor(methods = []) {
    this.methods = methods;
    /** @type {HttpResponse[]} */
    this.responses = [];
    /** @type {HttpResponse[]} */
    this.all = [];
    /** @type {string | undefined} */
    this.error = undefined;
    this.buf = Buffer.alloc(0);
    /** @type {'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close' | 'error'} */
    this.state = 'head';
    /** @type {HttpResponse | undefined} */
    this.cur = undefined;
    /** @type {Buffer[]} */
    this.parts = [];
    this.remaining = 0;
    this.finals = 0;
  }

  /** Bytes received for the current (unfinished) response body. */
  get pendingBodyBytes() {
    let n = 0;
    for (const p of this.parts) n += p.length;
    return n;
  }

  /** @param {Buffer} data */
  feed(data) {
    if (this.state === 'error') return;
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    this.run();
  }

  /** The peer closed: a close-delimited body ends here; anything else
   * unfinished is recorded as incomplete. */
  end() {
    if (this.cur) {
      this.finish(this.state === 'close');
    } else if (this.buf.length > 0 && this.state === 'head' && !this.error) {
      this.error = `truncated head: ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))}`;
    }
  }

  /** @param {string} msg */
  fail(msg) {
    this.state = 'error';
    this.error = msg;
  }

  /** @param {boolean} complete */
  finish(complete) {
    const cur = /** @type {HttpResponse} */ (this.cur);
    cur.body = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    cur.complete = complete;
    this.parts = [];
    this.cur = undefined;
    this.state = 'head';
  }

  run() {
    for (;;) {
      switch (this.state) {
        case 'head': {
          const idx = this.buf.indexOf('\r\n\r\n');
          if (idx < 0) {
            if (this.buf.length > MAX_HEAD) this.fail('head too large');
            return;
          }
          const rawHead = this.buf.subarray(0, idx + 4).toString('latin1');
          this.buf = this.buf.subarray(idx + 4);
          const lines = rawHead.slice(0, -4).split('\r\n');
          const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
          if (!m) {
            this.fail(`bad status line: ${JSON.stringify(lines[0])}`);
            return;
          }
          /** @type {[string, string][]} */
          const headers = [];
          for (const line of lines.slice(1)) {
            const c = line.indexOf(':');
            if (c <= 0) {
              this.fail(`bad header line: ${JSON.stringify(line)}`);
              return;
            }
            headers.push([line.slice(0, c), line.slice(c + 1).trim()]);
          }
          const status = Number(m[2]);
          const interim = status >= 100 && status < 200;
          const method = interim ? '' : (this.methods[this.finals] ?? 'GET');
          /** @type {HttpResponse} */
          const res = {
            version: m[1],
            status,
            reason: m[3] ?? '',
            statusLine: lines[0],
            headers,
            rawHead,
            body: Buffer.alloc(0),
            framing: 'none',
            chunkSizes: [],
            trailers: [],
            complete: false,
            method,
          };
          this.all.push(res);
          if (interim) {
            res.complete = true;
            continue;
          }
          this.finals++;
          this.responses.push(res);
          this.cur = res;
          const te = valuesOf(res, 'transfer-encoding').join(',').toLowerCase();
          const cl = valuesOf(res, 'content-length');
          if (method === 'HEAD' || status === 204 || status === 304) {
            res.framing = 'none';
            this.finish(true);
          } else if (te.split(',').map((s) => s.trim()).includes('chunked')) {
            res.framing = 'chunked';
            this.state = 'chunk-size';
          } else if (cl.length > 0) {
            if (new Set(cl).size !== 1 || !/^\d+$/.test(cl[0])) {
              this.fail(`bad Content-Length: ${JSON.stringify(cl)}`);
              return;
            }
            res.framing = 'length';
            this.remaining = Number(cl[0]);
            this.state = 'length';
            if (this.remaining === 0) this.finish(true);
          } else {
            res.framing = 'close';
            this.state = 'close';
          }
          continue;
        }
        case 'length': {
          if (this.buf.length === 0) return;
          const n = Math.min(this.remaining, this.buf.length);
          this.parts.push(this.buf.subarray(0, n));
          this.buf = this.buf.subarray(n);
          this.remaining -= n;
          if (this.remaining === 0) this.finish(true);
          continue;
        }
        case 'close': {
          if (this.buf.length === 0) return;
          this.parts.push(this.buf);
          this.buf = Buffer.alloc(0);
          return;
        }
        case 'chunk-size': {
          const idx = this.buf.indexOf('\r\n');
          if (idx < 0) {
            if (this.buf.length > MAX_CHUNK_LINE) this.fail('chunk size line too long');
            return;
          }
          const line = this.buf.subarray(0, idx).toString('latin1');
          this.buf = this.buf.subarray(idx + 2);
          const m = /^([0-9a-fA-F]+)(;.*)?$/.exec(line);
          if (!m) {
            this.fail(`bad chunk size line: ${JSON.stringify(line)}`);
            return;
          }
          const size = parseInt(m[1], 16);
          if (size === 0) {
            this.state = 'trailers';
          } else {
            /** @type {HttpResponse} */ (this.cur).chunkSizes.push(size);
            this.remaining = size;
            this.state = 'chunk-data';
          }
          continue;
        }
        case 'chunk-data': {
          if (this.buf.length === 0) return;
          const n = Math.min(this.remaining, this.buf.length);
          this.parts.push(this.buf.subarray(0, n));
          this.buf = this.buf.subarray(n);
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'chunk-crlf';
          continue;
        }
        case 'chunk-crlf': {
          if (this.buf.length < 2) return;
          if (this.buf[0] !== 13 || this.buf[1] !== 10) {
            this.fail('missing CRLF after chunk data');
            return;
          }
          this.buf = this.buf.subarray(2);
          this.state = 'chunk-size';
          continue;
        }
        case 'trailers': {
          const idx = this.buf.indexOf('\r\n');
          if (idx < 0) return;
          const line = this.buf.subarray(0, idx).toString('latin1');
          this.buf = this.buf.subarray(idx + 2);
          if (line === '') {
            this.finish(true);
          } else {
            const c = line.indexOf(':');
            /** @type {HttpResponse} */ (this.cur).trailers.push([line.slice(0, c), line.slice(c + 1).trim()]);
          }
          continue;
        }
        case 'error':
          return;
      }
    }
  }
}

/**
 * @typedef {object} Exchange
 * @property {HttpResponse[]} responses the complete final responses, in order
 * @property {'done' | 'closed' | 'timeout' | 'error'} outcome why it returned
 * @property {string} [error] the parse error (outcome "error")
 * @property {ResponseParser} parser for a partial response (`cur`, `pendingBodyBytes`)
 */

/**
 * Writes `data` on a connected socket and resolves once `count` complete
 * final responses were read (outcome "done"), or the socket closed, the
 * responses did not parse, or `timeoutMs` passed: it never rejects, the
 * caller judges the outcome. The socket stays open; the listeners this
 * call added are removed. `until(parser)` replaces the "`count` responses"
 * test (e.g. "so many bytes of a body have arrived").
 *
 * @param {import('node:net').Socket} socket
 * @param {string | Buffer | null} data written as latin1 when a string; null writes nothing
 * @param {{ count?: number, methods?: string[], timeoutMs?: number,
 *           until?: (parser: ResponseParser) => boolean }} [options]
 * @returns {Promise<Exchange>}
 * @example
 *   const { outcome, responses } = await exchange(socket, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
 *   if (outcome !== 'done' || responses[0].status !== 200) fail();
 */
export function exchange(socket, data, options = {}) {
  const count = options.count ?? 1;
  const parser = new ResponseParser(options.methods ?? []);
  const complete = () => parser.responses.filter((r) => r.complete);
  const enough =
    options.until ?? ((p) => p.responses.length >= count && p.responses[count - 1].complete);
  return new Promise((resolve) => {
    let timer;
    const finish = (outcome) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      resolve({ responses: complete(), outcome, error: parser.error, parser });
    };
    const onData = (d) => {
      parser.feed(d);
      if (parser.error) finish('error');
      else if (enough(parser)) finish('done');
    };
    const onClose = () => {
      parser.end();
      finish(parser.error ? 'error' : enough(parser) ? 'done' : 'closed');
    };
    // A reset is followed by 'close', which decides.
    const onError = () => {};
    timer = setTimeout(() => finish('timeout'), options.timeoutMs ?? 10_000);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
    if (socket.destroyed) {
      onClose();
      return;
    }
    if (data != null) socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  });
}
