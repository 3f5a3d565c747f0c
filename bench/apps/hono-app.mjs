// hono-app.mjs: the Hono application of the benchmark, one app for every
// server that runs fetch handlers: tsgi (through fromFetchHandler, see
// hono-tsgi-server.mjs), @hono/node-server (hono-node-server.mjs) and
// Bun.serve (hono-bun-server.mjs); bench/servers/hono-*.mjs start them.
//
// Routes (exact paths; anything else is Hono's 404):
//   GET /      "Hello, World!\n", text/plain; charset=utf-8   (hello, as common.mjs)
//   GET /json  {"message":"Hello, World!"}, application/json  (a JSON route)
import { Hono } from 'hono';

export const TEXT = 'text/plain; charset=utf-8';
export const HELLO_TEXT = 'Hello, World!\n';
/** The JSON route's answer, serialised by Hono per request. */
export const JSON_BODY = '{"message":"Hello, World!"}';

export const app = new Hono();
app.get('/', (c) => c.body(HELLO_TEXT, 200, { 'Content-Type': TEXT }));
app.get('/json', (c) => c.json({ message: 'Hello, World!' }));

export default app;
