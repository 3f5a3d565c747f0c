// contract.test.ts: the contract between the addon and TypeScript
// (src/native/binding.ts): checkContract() accepts the built addon and
// names every constant of a tampered one; the Server constructor wants
// every limit from JS and throws coded errors; and the Writer refuses a
// status or header block with a byte HTTP forbids even when JS validation
// is bypassed (the binding is called directly).
import { describe, expect, it } from 'vitest';
import {
  checkContract,
  EV_SIZE,
  Ev,
  HEAD_WORDS_PER_HEADER,
  MIN_QUEUE_BYTES,
  MIN_QUEUE_WORDS,
  Wr,
  type NativeBinding,
  type NativeContract,
  type NativeServerOptions,
} from '../src/native/binding.js';
import { loadBinding } from '../src/native/loader.js';
import { NATIVE_REFUSALS, refusalParts } from '../src/gateway/refusals.js';
import { RawClient, until, within } from './helpers/http.js';

const loaded = loadBinding();
const binding = loaded instanceof Error ? null : loaded;
const native = describe.skipIf(binding === null);

/** A deep copy of the addon's contract with `change` applied. */
function tampered(change: (c: NativeContract) => void): Pick<NativeBinding, 'contract'> {
  const contract = structuredClone(binding!.contract);
  change(contract);
  return { contract };
}

native('checkContract', () => {
  it('accepts the addon as built', () => {
    expect(() => checkContract(binding!)).not.toThrow();
  });

  const cases: [string, (c: NativeContract) => void, string][] = [
    ['an event type with another value', (c) => (c.events.Head = 9), 'Ev.Head is 9 in C++ but 2 in TypeScript'],
    ['an event type TypeScript does not know', (c) => (c.events.Upgrade = 10), 'Ev.Upgrade is 10 in C++ but undefined in TypeScript'],
    ['a body failure TypeScript does not know', (c) => (c.bodyFailures.Reset = 5), 'BodyFailure.Reset is 5 in C++ but undefined in TypeScript'],
    ['another target set', (c) => (c.httpRules.targetChars += '#'), 'http-rules isTargetChar is'],
    ['a record of another size', (c) => (c.eventWords.Body = 5), 'EV_SIZE.Body is 5 in C++ but 4 in TypeScript'],
    ['words per header', (c) => (c.headWordsPerHeader = 3), 'HEAD_WORDS_PER_HEADER is 3 in C++ but 4 in TypeScript'],
    ['a missing request flag', (c) => delete c.requestFlags.Chunked, 'Rf.Chunked is undefined in C++ but 8 in TypeScript'],
    ['a response flag', (c) => (c.responseFlags.Close = 2), 'Wf.Close is 2 in C++ but 1 in TypeScript'],
    ['a write result', (c) => (c.writeResults.Gone = -2), 'Wr.Gone is -2 in C++ but -1 in TypeScript'],
    ['the slot bits', (c) => (c.slotBits = 21), 'SLOT_BITS is 21 in C++ but 20 in TypeScript'],
    ['the generation bits', (c) => (c.generationBits = 10), 'GENERATION_BITS is 10 in C++ but 11 in TypeScript'],
    ['the minimum event words', (c) => (c.minEventWords = 1), 'MIN_EVENT_WORDS is 1 in C++ but 16384 in TypeScript'],
    ['the minimum bytes', (c) => (c.minBytes = 1), 'MIN_BYTES is 1 in C++ but 262144 in TypeScript'],
    ['another body-area chunk bound', (c) => (c.bodyAreaChunkMax = 8192), 'BODY_AREA_CHUNK_MAX is 8192 in C++ but 16384 in TypeScript'],
    ['a response record field elsewhere', (c) => (c.responseQueue.fields.Head = 5), 'RQ.Head is 5 in C++ but 2 in TypeScript'],
    ['response records of another size', (c) => (c.responseQueue.recordWords = 8), 'RQ_RECORD_WORDS is 8 in C++ but 7 in TypeScript'],
    ['another number of prepared heads', (c) => (c.responseQueue.maxPreparedHeads = 32), 'MAX_PREPARED_HEADS is 32 in C++ but 64 in TypeScript'],
    ['a parse error without a refusal', (c) => (c.httpErrors.tooSlow = 9), 'the parse error httpErrors.tooSlow has no refusal in NATIVE_REFUSALS'],
    ['a refusal without a parse error', (c) => delete c.httpErrors.uriTooLong, 'NATIVE_REFUSALS.uriTooLong is not a parse error of the addon'],
    ['another token set', (c) => (c.httpRules.tokenChars += '@'), 'http-rules TOKEN is'],
    ['another field-value set', (c) => (c.httpRules.fieldChars = c.httpRules.fieldChars.replace('\t', '')), 'http-rules isFieldChar is'],
    ['another bodiless rule', (c) => c.httpRules.bodilessStatuses.push(205), 'http-rules bodilessStatus is'],
    ['another status range', (c) => (c.httpRules.minStatus = 100), 'http-rules MIN_STATUS is 100 in C++ but 200 in TypeScript'],
  ];
  for (const [what, change, message] of cases) {
    it(`refuses an addon with ${what}, naming the constant`, () => {
      expect(() => checkContract(tampered(change))).toThrow(message);
    });
  }

  it('names every constant that differs, and says to rebuild', () => {
    const t = tampered((c) => {
      c.events.Drain = 50;
      c.slotBits = 1;
    });
    expect(() => checkContract(t)).toThrow(/Ev\.Drain is 50 .*; SLOT_BITS is 1 .*\(rebuild the addon\)$/);
  });

  it('refuses an addon without a contract (built from older sources)', () => {
    expect(() => checkContract({} as NativeBinding)).toThrow('exports no contract');
  });
});

/** Options for a Server made directly from the binding, as the native
 * server makes them. */
function serverOptions(onEvents: (words: number) => void): NativeServerOptions {
  const refusals: { head: string; tail: string }[] = [];
  for (const [name, value] of Object.entries(binding!.contract.httpErrors)) refusals[value] = refusalParts(NATIVE_REFUSALS[name]!);
  return {
    onEvents,
    events: new Int32Array(1 << 16),
    bytes: new Uint8Array(1 << 20),
    responses: new Int32Array(MIN_QUEUE_WORDS),
    responseBytes: new Uint8Array(MIN_QUEUE_BYTES),
    maxUrlSize: 1024,
    maxHeaderSize: 4096,
    maxHeaderCount: 20,
    maxBodySize: 1 << 20,
    maxChunkExtensionSize: 4096,
    refusals,
    tickMs: 100,
    headersTimeoutMs: 5000,
    requestTimeoutMs: 5000,
    keepAliveTimeoutMs: 5000,
    sendTimeoutMs: 5000,
  };
}

native('the Server constructor', () => {
  const required = [
    'maxUrlSize',
    'maxHeaderSize',
    'maxHeaderCount',
    'maxBodySize',
    'maxChunkExtensionSize',
    'headersTimeoutMs',
    'requestTimeoutMs',
    'keepAliveTimeoutMs',
    'sendTimeoutMs',
    'tickMs',
    'refusals',
  ] as const;
  for (const key of required) {
    it(`refuses options without ${key}: C++ keeps no defaults`, () => {
      const options: Partial<NativeServerOptions> = serverOptions(() => {});
      delete options[key];
      const make = () => new binding!.Server(options as NativeServerOptions);
      expect(make).toThrow(TypeError);
      expect(make).toThrow(expect.objectContaining({ code: 'ERR_TSGI_MISSING_OPTION', message: expect.stringContaining(`options.${key}`) }));
    });
  }

  it('refuses a limit that is not a number, with a code', () => {
    const make = () => new binding!.Server({ ...serverOptions(() => {}), maxUrlSize: '8k' as unknown as number });
    expect(make).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_TSGI_INVALID_OPTION', message: 'options.maxUrlSize must be a number' }));
  });

  it('refuses a limit its C++ field cannot hold, with a code', () => {
    const make = () => new binding!.Server({ ...serverOptions(() => {}), maxHeaderCount: 2 ** 32 });
    expect(make).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_TSGI_INVALID_OPTION' }));
  });

  it('refuses shared arrays too small for the limits, with a RangeError and a code', () => {
    const make = () => new binding!.Server({ ...serverOptions(() => {}), maxUrlSize: 1 << 20 });
    expect(make).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_TSGI_INVALID_OPTION', message: expect.stringContaining('too small') }));
  });

  it('bodyArea() takes an ArrayBuffer and refuses anything else with a TypeError', () => {
    const server = new binding!.Server(serverOptions(() => {}));
    expect(() => server.bodyArea(new ArrayBuffer(1024))).not.toThrow();
    for (const bad of [new Uint8Array(1024), new SharedArrayBuffer(1024), null, 'area']) {
      expect(() => server.bodyArea(bad as unknown as ArrayBuffer)).toThrow(
        expect.objectContaining({ name: 'TypeError', message: 'bodyArea: area must be an ArrayBuffer' }),
      );
    }
  });

  it('refuses a ready-made response that is not a valid head', () => {
    const options = serverOptions(() => {});
    options.refusals[1] = { head: 'HTTP/1.1 400 Bad\r\nX: y\r\n', tail: '\r\n' };
    expect(() => new binding!.Server(options)).toThrow(expect.objectContaining({ code: 'ERR_TSGI_INVALID_OPTION', message: expect.stringContaining('options.refusals[1]') }));
  });
});

native('Writer, reached through the binding without JS validation', () => {
  // Each is refused by C++ itself: nothing reaches the socket, and the
  // request can still be answered.
  const bad: [string, string, string][] = [
    ['LF in a header value', '200 OK', 'X-A: a\nInjected: 1\r\n'],
    ['CR in a header value', '200 OK', 'X-A: a\rInjected: 1\r\n'],
    ['NUL in a header value', '200 OK', 'X-A: a\0b\r\n'],
    ['a character above U+00FF that latin1 turns into LF (U+010A)', '200 OK', 'X-A: a\u010aInjected: 1\r\n'],
    ['DEL in a header value', '200 OK', 'X-A: a\x7fb\r\n'],
    ['a space in a header name', '200 OK', 'X A: b\r\n'],
    ['a line without a colon', '200 OK', 'X-A b\r\n'],
    ['a block not ending in CRLF', '200 OK', 'X-A: b'],
    ['CR LF in the status', '200 OK\r\nInjected: 1', ''],
    ['a bare LF in the status', '200 OK\nInjected: 1', ''],
    ['U+010D in the status (latin1 CR)', '200 O\u010dK', ''],
    ['an interim status', '100 Continue', ''],
    ['a status above 599', '600 Nope', ''],
    ['a status without a reason separator', '200', ''],
  ];

  /** A Server made straight from the binding, listening on a free port,
   * that records Head events and resolves `closed` on Closed. */
  function directServer() {
    const heads: { conn: number; flags: number }[] = [];
    let onClosed!: () => void;
    const closed = new Promise<void>((resolve) => (onClosed = resolve));
    const options = serverOptions((words) => {
      const ev = options.events;
      for (let i = 0; i < words; ) {
        const type = ev[i]! as Ev;
        if (type === Ev.Head) heads.push({ conn: ev[i + 1]!, flags: ev[i + 3]! });
        if (type === Ev.Closed) onClosed();
        i += EV_SIZE[type] + (type === Ev.Head ? HEAD_WORDS_PER_HEADER * ev[i + 6]! : 0);
      }
    });
    const server = new binding!.Server(options);
    const port = server.listen('127.0.0.1', 0, 16);
    return { server, port, heads, closed };
  }

  for (const [what, status, headers] of bad) {
    it(`refuses ${what} (ERR_TSGI_INVALID_HEAD)`, async () => {
      const { server, port, heads, closed } = directServer();
      const client = await RawClient.connect(port);
      try {
        await client.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'GET');
        expect(await until(() => heads.length === 1), 'the Head event').toBe(true);
        const { conn, flags } = heads[0]!;
        const respond = () => server.respond(conn, flags, status, headers, -1, 'body', true, 0);
        expect(respond).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_TSGI_INVALID_HEAD' }));
        // A prepared head is checked the same way, and a slot left empty
        // cannot be answered with.
        const prepare = () => server.prepareHead(3, status, headers);
        expect(prepare).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_TSGI_INVALID_HEAD' }));
        expect(() => server.respondHead(conn, flags, 3, -1, 'body', true, 0)).toThrow(expect.objectContaining({ name: 'RangeError' }));
        // Nothing was written; a valid response still goes out, alone.
        expect(server.respond(conn, flags, '200 OK', 'X-A: fine\r\n', -1, 'ok', true, 0)).toBe(Wr.Ok);
        server.flush();
        const [res] = await client.responses(1, 5000);
        expect(res!.statusLine).toBe('HTTP/1.1 200 OK');
        expect(res!.headers.map(([k]) => k)).toEqual(['X-A', 'Date', 'Content-Length']);
        expect(res!.body.toString()).toBe('ok');
        expect(client.text()).not.toContain('Injected');
        expect(client.raw().includes(0)).toBe(false);
      } finally {
        client.destroy();
        server.closeAll();
        await within(closed, 5000, 'the Closed event');
      }
    });
  }
});
