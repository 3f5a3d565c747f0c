// check.mjs: before every measurement, the server must answer the
// scenario's requests right. The batch is the one the scenario's wrk
// script itself produces (dumpBatch), capped at 16 requests, written in one
// send on one connection; every response must be a complete 200 whose body
// is, byte for byte, the scenario's expected body for that request.
import { connect } from 'node:net';
import { exchange } from '../scripts/lib/http-response.mjs';
import { CHECK_TIMEOUT_MS, HOST } from './settings.mjs';
import { dumpBatch } from './wrk.mjs';

/**
 * The requests of a batch, each as latin1 text: a head up to its blank
 * line and a Content-Length body (the only framing the scripts send).
 * @param {Buffer} batch
 */
export function splitRequests(batch) {
  const out = [];
  let pos = 0;
  for (let guard = 0; pos < batch.length && guard < 4096; guard++) {
    const end = batch.indexOf('\r\n\r\n', pos);
    if (end < 0) throw new Error(`check: the script's batch ends inside a request head`);
    const head = batch.subarray(pos, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    const next = end + 4 + length;
    out.push(batch.subarray(pos, next).toString('latin1'));
    pos = next;
  }
  return out;
}

const show = (b) => JSON.stringify(b.subarray(0, 80).toString('latin1'));

/**
 * Checks the server's answers; resolves the first response's head.
 * @param {{ port: number }} srv
 * @param {import('./scenarios.mjs').Scenario} sc
 * @param {Record<string, any>} ctx
 */
export async function checkServer(srv, sc, ctx) {
  const depth = Math.min(sc.depth(ctx.opts), 16);
  const batch = await dumpBatch(srv.port, sc, ctx, depth);
  const requests = splitRequests(batch);
  if (requests.length !== depth) throw new Error(`check: the script made ${requests.length} requests, not ${depth}`);
  if (sc.distinct && new Set(requests).size !== requests.length) {
    throw new Error(`check: ${sc.script}.lua repeats requests within a batch`);
  }
  const sock = connect({ host: HOST, port: srv.port });
  try {
    const { outcome, responses, error } = await exchange(sock, batch, {
      count: depth,
      timeoutMs: CHECK_TIMEOUT_MS,
    });
    if (outcome === 'error') throw new Error(`check: response ${responses.length + 1}: ${error}`);
    if (outcome !== 'done') {
      throw new Error(
        outcome === 'timeout'
          ? `check: ${responses.length}/${depth} responses within ${CHECK_TIMEOUT_MS / 1000} s`
          : `check: connection closed after ${responses.length}/${depth} responses`,
      );
    }
    for (const [i, r] of responses.entries()) {
      if (r.status !== 200) throw new Error(`check: response ${i + 1}: status ${r.status}`);
      const expected = sc.expect(requests[i], ctx);
      if (!r.body.equals(expected)) {
        throw new Error(
          `check: response ${i + 1}: body of ${r.body.length} bytes ${show(r.body)}, ` +
            `expected ${expected.length} bytes ${show(expected)}`,
        );
      }
    }
    return responses[0].rawHead.slice(0, -4);
  } finally {
    sock.destroy();
  }
}
