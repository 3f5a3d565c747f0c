// refusal.ts: how the hardening tests check a refused request. The bad
// bytes are sent between a valid request and another valid one in a single
// write: the first must be answered in full, the bad one gets the exact
// ready-made status line with Connection: close, the server closes the
// socket, and nothing after the bad request reaches the application.
import { expect } from 'vitest';
import type { Application, Environ, StartResponse } from '../../src/index.js';
import { buildRequest, connectionHas, RawClient, until } from './http.js';

// The reason phrases of the servers' own table; refusals.test.ts checks
// the whole bytes of every refusal against literals.
export { REASONS } from '../../src/gateway/http-rules.js';
import { REASONS } from '../../src/gateway/http-rules.js';

export interface Case {
  name: string;
  bytes: string | Buffer;
  status: number;
  /** Why node:http cannot meet this rule (the case is skipped for 'node'). */
  nodeSkip?: string;
}

export interface Recorder {
  app: Application;
  /** PATH_INFO of every call, in order. */
  paths: string[];
  /** Calls whose body read failed. */
  bodyErrors: number;
  /** Calls still reading their body (it ends, or its read fails). */
  inFlight: number;
}

/** An app that reads the whole request body, records the path and answers
 * "ok <path>". */
export function recorder(): Recorder {
  const state: Recorder = { paths: [], bodyErrors: 0, inFlight: 0, app: undefined as unknown as Application };
  state.app = async (environ: Environ, startResponse: StartResponse) => {
    state.paths.push(environ.PATH_INFO);
    state.inFlight++;
    try {
      for await (const _ of environ['tsgi.input']) {
        // drain
      }
    } catch {
      state.bodyErrors++;
      throw new Error('body read failed');
    } finally {
      state.inFlight--;
    }
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return [`ok ${environ.PATH_INFO}`];
  };
  return state;
}

export const before = buildRequest('GET', '/before');
export const after = buildRequest('GET', '/after');

/** Sends `before`, `bad` and `after` in one write and checks the refusal. */
export async function expectRefused(port: number, rec: Recorder, bad: string | Buffer, status: number): Promise<void> {
  const client = await RawClient.connect(port);
  const badBytes = typeof bad === 'string' ? Buffer.from(bad, 'latin1') : bad;
  await client.send(Buffer.concat([before, badBytes, after]), 'GET', 'GET', 'GET');
  const responses = await client.responses(2, 5000);
  // The event that ends the exchange: once the server has closed the
  // connection it reads no more of it, and both servers hand what they
  // parsed to the application in the callback that parsed it, before that.
  expect(await client.waitClose(5000), 'the server closes the connection').toBe(true);
  expect(responses.length, `responses: ${JSON.stringify(client.text().slice(0, 400))}`).toBe(2);
  const [first, refusal] = responses;
  expect(first!.statusLine).toBe('HTTP/1.1 200 OK');
  expect(first!.complete, 'the valid request before the bad one is answered in full').toBe(true);
  expect(first!.body.toString()).toBe('ok /before');
  expect(refusal!.statusLine).toBe(`HTTP/1.1 ${status} ${REASONS[status]}`);
  expect(connectionHas(refusal!, 'close'), 'Connection: close').toBe(true);
  expect(client.parser.responses.length, 'nothing after the refusal').toBe(2);
  // And every call the application got has ended (a call on the bad
  // request ends when its body read fails, as the server closes).
  expect(await until(() => rec.inFlight === 0), 'every application call ended').toBe(true);
  expect(rec.paths, 'nothing after the bad request reaches the application').not.toContain('/after');
}
