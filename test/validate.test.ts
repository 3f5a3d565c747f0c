import { describe, it, expect } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { validate, ValidationError } from '../src/middleware/validate.js';
import type { Application, Chunk, Environ, Header, ResponseBody, StartResponse } from '../src/types.js';

/** A valid environ as a server would build it; `overrides` replace keys and
 * `undefined` removes one. */
function makeEnviron(overrides: Record<string, unknown> = {}, body: Uint8Array[] = []): Environ {
  const logged: string[] = [];
  const environ: Record<string, unknown> = {
    REQUEST_METHOD: 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: '/hello',
    QUERY_STRING: 'a=1',
    REQUEST_URI: '/hello?a=1',
    SERVER_NAME: 'localhost',
    SERVER_PORT: '8000',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '127.0.0.1',
    REMOTE_PORT: '50000',
    HTTP_HOST: 'localhost:8000',
    'tsgi.version': [1, 0],
    'tsgi.url_scheme': 'http',
    'tsgi.input': {
      async *[Symbol.asyncIterator]() {
        for (const chunk of body) yield chunk;
      },
      async read() {
        return new Uint8Array(Buffer.concat(body));
      },
    },
    'tsgi.errors': { write: (s: string) => void logged.push(s), flush: () => {}, logged },
    'tsgi.multithread': true,
    'tsgi.multiprocess': false,
    'tsgi.run_once': false,
    'tsgi.file_wrapper': () => {
      throw new Error('not used');
    },
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete environ[key];
    else environ[key] = value;
  }
  return environ as Environ;
}

/** A recording startResponse, as a server's. */
function makeStart() {
  const calls: { status: string; headers: Header[]; excInfo: unknown }[] = [];
  const written: Chunk[] = [];
  const startResponse: StartResponse = (status, headers, excInfo) => {
    calls.push({ status, headers, excInfo });
    return (chunk) => void written.push(chunk);
  };
  return { calls, written, startResponse };
}

function ok(headers: Header[] = [['Content-Type', 'text/plain']], status = '200 OK'): Application {
  return (_environ, startResponse) => {
    startResponse(status, headers);
    return ['hi'];
  };
}

/** Drives a body as a server would: iterate, then close(). */
async function drain(body: ResponseBody): Promise<Chunk[]> {
  const out: Chunk[] = [];
  try {
    if (typeof (body as Iterable<Chunk>)[Symbol.iterator] === 'function') {
      for (const chunk of body as Iterable<Chunk>) out.push(chunk);
    } else {
      for await (const chunk of body as AsyncIterable<Chunk>) out.push(chunk);
    }
  } finally {
    await body.close?.();
  }
  return out;
}

function call(app: Application, environ = makeEnviron(), start = makeStart()) {
  return validate(app)(environ, start.startResponse) as ResponseBody;
}

function rejects(fn: () => unknown, message: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ValidationError);
  if (typeof message === 'string') expect((caught as Error).message).toBe(message);
  else expect((caught as Error).message).toMatch(message);
}

describe('validate: valid applications pass untouched', () => {
  it('passes status, headers and chunks of a sync body through, and keeps it sync', async () => {
    const start = makeStart();
    const bytes = new Uint8Array([1, 2, 3]);
    const app: Application = (_e, sr) => {
      sr('201 Created', [['Content-Type', 'text/plain'], ['X-A', 'b\tc']]);
      return ['a', bytes, ''];
    };
    const body = validate(app)(makeEnviron(), start.startResponse) as ResponseBody;
    expect(typeof (body as Iterable<Chunk>)[Symbol.iterator]).toBe('function');
    expect((body as Partial<AsyncIterable<Chunk>>)[Symbol.asyncIterator]).toBeUndefined();
    expect(typeof body.close).toBe('function');
    expect(start.calls).toEqual([
      { status: '201 Created', headers: [['Content-Type', 'text/plain'], ['X-A', 'b\tc']], excInfo: undefined },
    ]);
    const chunks = await drain(body);
    expect(chunks).toEqual(['a', bytes, '']);
    expect(chunks[1]).toBe(bytes);
  });

  it('keeps async bodies async and awaits a Promise of a body', async () => {
    const app: Application = async (_e, sr) => {
      sr('200 OK', []);
      return (async function* () {
        yield 'x';
        yield 'y';
      })();
    };
    const result = validate(app)(makeEnviron(), makeStart().startResponse);
    expect(result).toBeInstanceOf(Promise);
    const body = await result;
    expect((body as Partial<Iterable<Chunk>>)[Symbol.iterator]).toBeUndefined();
    expect(typeof (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]).toBe('function');
    expect(await drain(body)).toEqual(['x', 'y']);
  });

  it('allows startResponse inside a generator, before the first chunk', async () => {
    const app: Application = (_e, sr) =>
      (function* () {
        sr('200 OK', []);
        yield 'late';
      })();
    expect(await drain(call(app))).toEqual(['late']);
  });

  it('forwards close() to the body exactly once', async () => {
    let closes = 0;
    const app: Application = (_e, sr) => {
      sr('200 OK', []);
      return Object.assign(['a'], { close: () => void closes++ });
    };
    const body = call(app);
    await drain(body);
    expect(closes).toBe(1);
  });

  it('ends an abandoned generator when only close() is called', async () => {
    let cleaned = false;
    const app: Application = (_e, sr) => {
      sr('200 OK', []);
      return (function* () {
        try {
          yield 'a';
          yield 'b';
        } finally {
          cleaned = true;
        }
      })();
    };
    const body = call(app);
    const it = (body as Iterable<Chunk>)[Symbol.iterator]();
    expect(it.next()).toEqual({ done: false, value: 'a' });
    body.close!();
    expect(cleaned).toBe(true);
  });

  it('lets a second startResponse through when it carries excInfo', async () => {
    const start = makeStart();
    const app: Application = (_e, sr) => {
      sr('200 OK', []);
      const err = new Error('boom');
      sr('500 Internal Server Error', [], err);
      return ['failed'];
    };
    await drain(validate(app)(makeEnviron(), start.startResponse) as ResponseBody);
    expect(start.calls.map((c) => c.status)).toEqual(['200 OK', '500 Internal Server Error']);
    expect(start.calls[1]!.excInfo).toBeInstanceOf(Error);
  });

  it('passes write() chunks to the server', async () => {
    const start = makeStart();
    const app: Application = (_e, sr) => {
      const write = sr('200 OK', []);
      write('one');
      write(new Uint8Array([2]));
      return [];
    };
    await drain(validate(app)(makeEnviron(), start.startResponse) as ResponseBody);
    expect(start.written).toEqual(['one', new Uint8Array([2])]);
  });

  it('lets a 204 yield empty chunks', async () => {
    expect(await drain(call((_e, sr) => (sr('204 No Content', []), ['', new Uint8Array(0)])))).toHaveLength(2);
  });

  it('passes tsgi.input chunks and read() through', async () => {
    const environ = makeEnviron({}, [new Uint8Array([1]), new Uint8Array([2])]);
    let seen: number[] = [];
    let all: Uint8Array | undefined;
    const app: Application = async (env, sr) => {
      for await (const chunk of env['tsgi.input']) seen = seen.concat([...chunk]);
      all = await env['tsgi.input'].read();
      sr('200 OK', []);
      return [];
    };
    await drain(await validate(app)(environ, makeStart().startResponse));
    expect(seen).toEqual([1, 2]);
    expect([...all!]).toEqual([1, 2]);
  });
});

describe('validate: environ checks', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['a missing key', { PATH_INFO: undefined }, 'tsgi.validate: environ is missing the required key PATH_INFO'],
    ['a non-string key', { SERVER_PORT: 8000 }, 'tsgi.validate: environ.SERVER_PORT must be a string, got 8000'],
    ['a non-string REMOTE_PORT', { REMOTE_PORT: 5 }, 'tsgi.validate: environ.REMOTE_PORT must be a string, got 5'],
    ['CONTENT_LENGTH not digits', { CONTENT_LENGTH: '12a' }, 'tsgi.validate: environ.CONTENT_LENGTH must be decimal digits when present, got "12a"'],
    ['SCRIPT_NAME without /', { SCRIPT_NAME: 'app' }, 'tsgi.validate: environ.SCRIPT_NAME must be empty or start with "/", got "app"'],
    ['PATH_INFO without /', { PATH_INFO: 'x' }, 'tsgi.validate: environ.PATH_INFO must be empty or start with "/", got "x"'],
    ['HTTP_CONTENT_TYPE', { HTTP_CONTENT_TYPE: 'text/plain' }, 'tsgi.validate: environ must not contain HTTP_CONTENT_TYPE (use CONTENT_TYPE), got "text/plain"'],
    ['HTTP_CONTENT_LENGTH', { HTTP_CONTENT_LENGTH: '1' }, 'tsgi.validate: environ must not contain HTTP_CONTENT_LENGTH (use CONTENT_LENGTH), got "1"'],
    ['QUERY_STRING with ?', { QUERY_STRING: '?a=1' }, 'tsgi.validate: environ.QUERY_STRING must not start with "?", got "?a=1"'],
    ['a wrong version', { 'tsgi.version': [1, 1] }, 'tsgi.validate: environ["tsgi.version"] must be [1, 0], got an array of length 2'],
    ['a wrong scheme', { 'tsgi.url_scheme': 'ftp' }, 'tsgi.validate: environ["tsgi.url_scheme"] must be "http" or "https", got "ftp"'],
    ['a sync input', { 'tsgi.input': [new Uint8Array(1)] }, 'tsgi.validate: environ["tsgi.input"] must be an async iterable, got an array of length 1'],
    ['errors without flush', { 'tsgi.errors': { write() {} } }, 'tsgi.validate: environ["tsgi.errors"] must have write() and flush() methods, got an object'],
    ['a non-boolean flag', { 'tsgi.run_once': 0 }, 'tsgi.validate: environ["tsgi.run_once"] must be a boolean, got 0'],
    ['a missing multithread', { 'tsgi.multithread': undefined }, 'tsgi.validate: environ["tsgi.multithread"] must be a boolean, got undefined'],
    ['a missing file_wrapper', { 'tsgi.file_wrapper': undefined }, 'tsgi.validate: environ["tsgi.file_wrapper"] must be a function, got undefined'],
    ['a non-string header', { HTTP_X_A: 1 }, 'tsgi.validate: environ.HTTP_X_A must be a string, got 1'],
  ];
  for (const [what, overrides, message] of cases) {
    it(`rejects ${what}`, () => {
      let ran = false;
      rejects(() => call(() => ((ran = true), []), makeEnviron(overrides)), message);
      expect(ran).toBe(false);
    });
  }

  it('rejects an environ that is not a plain object', () => {
    const environ = Object.assign(new Map(), makeEnviron()) as unknown as Environ;
    rejects(() => call(ok(), environ), 'tsgi.validate: environ must be a plain object, got a Map');
  });

  it('accepts a CONTENT_LENGTH of digits and an empty PATH_INFO under a SCRIPT_NAME', async () => {
    const environ = makeEnviron({ CONTENT_LENGTH: '0', SCRIPT_NAME: '/app', PATH_INFO: '' });
    expect(await drain(call(ok(), environ))).toEqual(['hi']);
  });
});

describe('validate: startResponse checks', () => {
  const statuses: [unknown, string][] = [
    ['200', 'tsgi.validate: status must be "NNN Reason", got "200"'],
    ['OK 200', 'tsgi.validate: status must be "NNN Reason", got "OK 200"'],
    ['099 Low', 'tsgi.validate: status code must be between 200 and 599 (1xx are interim responses, sent by the server), got "099 Low"'],
    ['600 High', 'tsgi.validate: status code must be between 200 and 599 (1xx are interim responses, sent by the server), got "600 High"'],
    // The driver refuses an interim status as the response's status: so does validate().
    ['103 Early Hints', 'tsgi.validate: status code must be between 200 and 599 (1xx are interim responses, sent by the server), got "103 Early Hints"'],
    ['20 OK', 'tsgi.validate: status must be "NNN Reason", got "20 OK"'],
    ['200 OK\r\nX: y', 'tsgi.validate: status must not contain control or non-latin1 characters (found U+000D), got "200 OK\\r\\nX: y"'],
    [200, 'tsgi.validate: status must be a string, got 200'],
  ];
  for (const [status, message] of statuses) {
    it(`rejects the status ${JSON.stringify(status)}`, () => {
      const start = makeStart();
      rejects(() => call(ok([], status as string), makeEnviron(), start), message);
      expect(start.calls).toEqual([]);
    });
  }

  const headers: [unknown, string][] = [
    [{ 'Content-Type': 'text/plain' }, 'tsgi.validate: headers must be an array of [name, value] pairs, got an object'],
    [[['Content-Type']], 'tsgi.validate: headers[0] must be a [name, value] pair, got an array of length 1'],
    [[['X-A', 1]], 'tsgi.validate: headers[0] (X-A) value must be a string, got 1'],
    [[[1, 'a']], 'tsgi.validate: headers[0] name must be a string, got 1'],
    [[['X-Ok', 'a'], ['Bad Name', 'a']], 'tsgi.validate: headers[1] name must be a token (RFC 9110), got "Bad Name"'],
    [[['X-A', 'a\r\nSet-Cookie: x=1']], 'tsgi.validate: headers[0] (X-A) value must not contain control or non-latin1 characters (found U+000D), got "a\\r\\nSet-Cookie: x=1"'],
    [[['X-A', 'a\nb']], 'tsgi.validate: headers[0] (X-A) value must not contain control or non-latin1 characters (found U+000A), got "a\\nb"'],
    [[['X-A', 'a\0b']], 'tsgi.validate: headers[0] (X-A) value must not contain control or non-latin1 characters (found U+0000), got "a\\u0000b"'],
    [[['X-A', 'a\x7fb']], 'tsgi.validate: headers[0] (X-A) value must not contain control or non-latin1 characters (found U+007F), got "a\x7fb"'],
    [[['X-A', 'snow \u2603']], 'tsgi.validate: headers[0] (X-A) value must not contain control or non-latin1 characters (found U+2603), got "snow \u2603"'],
    [[['Status', '200 OK']], 'tsgi.validate: headers[0] must not be a Status header (the status is the first argument of startResponse)'],
    [[['Content-Length', '1e3']], 'tsgi.validate: headers[0] (Content-Length) must be decimal digits, got "1e3"'],
  ];
  for (const [list, message] of headers) {
    it(`rejects the headers ${JSON.stringify(list)}`, () => {
      rejects(() => call(ok(list as Header[])), message);
    });
  }

  // The headers the server would drop (src/gateway/http-rules.ts): an
  // application that sets one expects something that will not happen.
  const dropped: [string, string][] = [
    ['keep-alive', 'hop-by-hop, RFC 9110 §7.6.1: persistence is the server\'s'],
    ['Proxy-Connection', 'hop-by-hop, RFC 9110 §7.6.1'],
    ['TE', 'hop-by-hop, RFC 9110 §10.1.4: a request field'],
    ['Trailer', 'RFC 9110 §6.6.2: the server sends no trailer section'],
    ['Transfer-Encoding', 'framing, RFC 9112 §6.1: the server chooses chunked or a length'],
    ['UPGRADE', 'hop-by-hop, RFC 9110 §7.8: the server does not switch protocols'],
    ['Date', 'RFC 9110 §6.6.1: the server writes one Date per response from its clock'],
  ];
  for (const [name, why] of dropped) {
    it(`rejects the header ${name}, which the server owns`, () => {
      rejects(
        () => call(ok([['X-Ok', '1'], [name, 'x']])),
        `tsgi.validate: headers[1] must not be "${name}": the server owns it (${why})`,
      );
    });
  }

  it('rejects a Connection header other than "close"', () => {
    rejects(
      () => call(ok([['Connection', 'keep-alive']])),
      'tsgi.validate: headers[0] (Connection) may only be "close": the server owns the rest (hop-by-hop, RFC 9110 §7.6.1: only "close" is honoured), got "keep-alive"',
    );
  });

  it('accepts what the server honours or passes on: Connection: close, Content-Length, Proxy-Authenticate', async () => {
    const headers: Header[] = [
      ['Connection', 'Close'],
      ['Content-Length', '2'],
      ['Proxy-Authenticate', 'Basic realm="proxy"'],
    ];
    expect(await drain(call(ok(headers, '407 Proxy Authentication Required')))).toEqual(['hi']);
  });

  it('rejects a second startResponse without excInfo', () => {
    const start = makeStart();
    const app: Application = (_e, sr) => {
      sr('200 OK', []);
      sr('404 Not Found', []);
      return [];
    };
    rejects(
      () => call(app, makeEnviron(), start),
      'tsgi.validate: startResponse was called a second time without excInfo (first status 200, now "404 Not Found")',
    );
    expect(start.calls).toHaveLength(1);
  });

  it('rejects a body chunk produced before startResponse', () => {
    const body = call(() =>
      (function* () {
        yield 'early';
      })(),
    );
    const it = (body as Iterable<Chunk>)[Symbol.iterator]();
    rejects(() => it.next(), 'tsgi.validate: startResponse must be called before the first body chunk is produced');
  });

  it('rejects an array body returned before startResponse, when it is returned', () => {
    rejects(() => call(() => ['early']), 'tsgi.validate: startResponse must be called before the first body chunk is produced');
  });

  it('rejects a body that ends without startResponse', async () => {
    const body = call(() =>
      (async function* () {
        // never starts the response
      })(),
    );
    await expect(drain(body)).rejects.toThrow(
      new ValidationError('the response body ended before startResponse was called'),
    );
  });

  it('rejects a write() of a non-chunk', () => {
    const app: Application = (_e, sr) => {
      sr('200 OK', [])(42 as unknown as Chunk);
      return [];
    };
    rejects(() => call(app), 'tsgi.validate: write() argument 0 must be a string or Uint8Array, got 42');
  });

  it('rejects a server whose startResponse returns no write function', () => {
    const start: StartResponse = () => undefined as unknown as (chunk: Chunk) => void;
    rejects(
      () => validate(ok())(makeEnviron(), start),
      "tsgi.validate: the server's startResponse must return a write function, got undefined",
    );
  });
});

describe('validate: body checks', () => {
  it('rejects a string returned as the body', () => {
    rejects(
      () => call((_e, sr) => (sr('200 OK', []), 'hello' as unknown as ResponseBody)),
      'tsgi.validate: the application must return an iterable of chunks, not a single string (wrap it in an array)',
    );
  });

  it('rejects a non-iterable body', () => {
    rejects(
      () => call((_e, sr) => (sr('200 OK', []), 42 as unknown as ResponseBody)),
      'tsgi.validate: the application must return an iterable or async iterable of chunks, got 42',
    );
    rejects(
      () => call((_e, sr) => (sr('200 OK', []), {} as unknown as ResponseBody)),
      'tsgi.validate: the application must return an iterable or async iterable of chunks, got an object',
    );
  });

  it('rejects a Promise of a non-iterable', async () => {
    const app: Application = async (_e, sr) => (sr('200 OK', []), null as unknown as ResponseBody);
    await expect(validate(app)(makeEnviron(), makeStart().startResponse)).rejects.toThrow(
      'tsgi.validate: the application must return an iterable or async iterable of chunks, got null',
    );
  });

  it('rejects a chunk that is neither a string nor a Uint8Array', () => {
    const body = call((_e, sr) => (
      sr('200 OK', []),
      (function* () {
        yield 'ok';
        yield 7 as unknown as Chunk;
      })()
    ));
    const it = (body as Iterable<Chunk>)[Symbol.iterator]();
    expect(it.next()).toEqual({ done: false, value: 'ok' });
    rejects(() => it.next(), 'tsgi.validate: body chunk 1 must be a string or Uint8Array, got 7');
  });

  it('rejects a bad chunk in an array body when it is returned', () => {
    rejects(
      () => call((_e, sr) => (sr('200 OK', []), ['ok', 7 as unknown as Chunk])),
      'tsgi.validate: body chunk 1 must be a string or Uint8Array, got 7',
    );
  });

  it('keeps an array body an array (servers send it with a Content-Length)', () => {
    const body = call(ok());
    expect(Array.isArray(body)).toBe(true);
    expect([...(body as Iterable<Chunk>)]).toEqual(['hi']);
  });

  it('rejects a bad chunk from an async body', async () => {
    const app: Application = (_e, sr) => {
      sr('200 OK', []);
      return (async function* () {
        yield { not: 'a chunk' } as unknown as Chunk;
      })();
    };
    await expect(drain(call(app))).rejects.toThrow(
      'tsgi.validate: body chunk 0 must be a string or Uint8Array, got an object',
    );
  });

  for (const status of ['204 No Content', '304 Not Modified']) {
    it(`rejects a non-empty body chunk in a ${status.slice(0, 3)} response`, async () => {
      const code = status.slice(0, 3);
      await expect(
        drain(
          call((_e, sr) => (
            sr(status, []),
            (function* () {
              yield '';
              yield 'x';
            })()
          )),
        ),
      ).rejects.toThrow(`tsgi.validate: a ${code} response must have no body, but body chunk 1 is "x"`);
      rejects(
        () => call((_e, sr) => (sr(status, []), ['', 'x'])),
        `tsgi.validate: a ${code} response must have no body, but body chunk 1 is "x"`,
      );
    });
  }

  it('rejects a non-empty write() in a 204 response', () => {
    const app: Application = (_e, sr) => {
      sr('204 No Content', [])(new Uint8Array(2));
      return [];
    };
    rejects(() => call(app), 'tsgi.validate: a 204 response must have no body, but write() argument 0 is a Uint8Array of 2 bytes');
  });

  it('rejects a close() that is not a function', () => {
    rejects(
      () => call((_e, sr) => (sr('200 OK', []), Object.assign(['a'], { close: 1 }) as unknown as ResponseBody)),
      "tsgi.validate: the response body's close must be a function, got 1",
    );
  });
});

describe('validate: server-side body handling', () => {
  it('rejects a second close()', async () => {
    const body = call(ok());
    await drain(body);
    rejects(() => body.close!(), 'tsgi.validate: the server called close() on the response body twice');
  });

  const generated = (): Application => (_e, sr) => (
    sr('200 OK', []),
    (function* () {
      yield 'hi';
    })()
  );

  it('rejects iterating the body twice', () => {
    const body = call(generated()) as Iterable<Chunk>;
    body[Symbol.iterator]();
    rejects(() => body[Symbol.iterator](), 'tsgi.validate: the server iterated the response body twice');
  });

  it('rejects next() after close()', () => {
    const body = call(generated());
    const it = (body as Iterable<Chunk>)[Symbol.iterator]();
    body.close!();
    rejects(() => it.next(), 'tsgi.validate: the server asked for a body chunk after close()');
  });

  it('calls the body iterator return() once when abandoned', async () => {
    let returns = 0;
    const app: Application = (_e, sr) => {
      sr('200 OK', []);
      const inner = ['a', 'b'][Symbol.iterator]();
      return {
        [Symbol.iterator]: () => ({
          next: () => inner.next(),
          return: () => (returns++, { done: true as const, value: undefined }),
        }),
      };
    };
    const body = call(app);
    for (const chunk of body as Iterable<Chunk>) {
      expect(chunk).toBe('a');
      break;
    }
    body.close!();
    expect(returns).toBe(1);
  });
});

describe('validate: bodies the server never closes', () => {
  // The garbage collector, reachable without --expose-gc.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;

  /** Makes a response body for `path`, closes it or not, and drops it. */
  function respond(environ: Environ, close: boolean, trackClose?: boolean): void {
    const body = validate(ok(), trackClose === undefined ? {} : { trackClose })(environ, makeStart().startResponse) as ResponseBody;
    if (close) body.close!();
  }

  async function collect(logged: string[], want: number): Promise<void> {
    for (let i = 0; i < 50 && logged.length < want; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('reports an unclosed body on the original tsgi.errors', async () => {
    const environ = makeEnviron({ REQUEST_URI: '/leak' });
    const logged = (environ['tsgi.errors'] as unknown as { logged: string[] }).logged;
    respond(environ, false);
    await collect(logged, 1);
    expect(logged).toEqual(['tsgi.validate: the server never called close() on the response body of GET /leak\n']);
  });

  it('reports nothing for a closed body, or with trackClose: false', async () => {
    const logs = (environ: Environ) => (environ['tsgi.errors'] as unknown as { logged: string[] }).logged;
    const closed = makeEnviron({ REQUEST_URI: '/closed' });
    const untracked = makeEnviron({ REQUEST_URI: '/untracked' });
    const leaked = makeEnviron({ REQUEST_URI: '/leaked' });
    // validate() replaces tsgi.errors with its checking wrapper: keep the
    // server's streams.
    const [closedLog, untrackedLog, leakedLog] = [logs(closed), logs(untracked), logs(leaked)];
    respond(closed, true);
    respond(untracked, false, false);
    respond(leaked, false);
    // The leaked body's report shows that collection did happen.
    await collect(leakedLog, 1);
    expect(leakedLog).toHaveLength(1);
    expect(closedLog).toEqual([]);
    expect(untrackedLog).toEqual([]);
  });
});

describe('validate: tsgi.input and tsgi.errors', () => {
  it('rejects input chunks that are not Uint8Array', async () => {
    const environ = makeEnviron({}, ['text' as unknown as Uint8Array]);
    const app: Application = async (env, sr) => {
      for await (const _chunk of env['tsgi.input']) void _chunk;
      sr('200 OK', []);
      return [];
    };
    await expect(validate(app)(environ, makeStart().startResponse)).rejects.toThrow(
      'tsgi.validate: tsgi.input iteration chunk 0 must be a Uint8Array, got "text"',
    );
  });

  it('rejects two concurrent iterations of the input', async () => {
    const environ = makeEnviron({}, [new Uint8Array([1])]);
    const app: Application = (env, sr) => {
      env['tsgi.input'][Symbol.asyncIterator]();
      env['tsgi.input'][Symbol.asyncIterator]();
      sr('200 OK', []);
      return [];
    };
    rejects(() => call(app, environ), 'tsgi.validate: tsgi.input iterated while another read of it is in progress');
  });

  it('rejects read() during an iteration, and allows it after', async () => {
    const environ = makeEnviron({}, [new Uint8Array([1])]);
    const errors: string[] = [];
    const app: Application = async (env, sr) => {
      const it = env['tsgi.input'][Symbol.asyncIterator]();
      await it.next();
      await env['tsgi.input'].read().catch((err: Error) => errors.push(err.message));
      await it.next();
      await env['tsgi.input'].read();
      sr('200 OK', []);
      return [];
    };
    await drain(await validate(app)(environ, makeStart().startResponse));
    expect(errors).toEqual(['tsgi.validate: tsgi.input read() while another read of it is in progress']);
  });

  it('rejects a non-string write to tsgi.errors', () => {
    const app: Application = (env, sr) => {
      env['tsgi.errors'].write(new Uint8Array(1) as unknown as string);
      sr('200 OK', []);
      return [];
    };
    rejects(() => call(app), 'tsgi.validate: tsgi.errors.write() must be called with a string, got a Uint8Array of 1 bytes');
  });

  it('passes tsgi.errors writes to the server stream', async () => {
    const environ = makeEnviron();
    const logged = (environ['tsgi.errors'] as unknown as { logged: string[] }).logged;
    await drain(call((env, sr) => (env['tsgi.errors'].write('note\n'), sr('200 OK', []), []), environ));
    expect(logged).toEqual(['note\n']);
  });
});

describe('validate: arguments', () => {
  it('rejects a non-function application', () => {
    expect(() => validate(null as unknown as Application)).toThrow(
      new ValidationError('validate() needs an application function, got null'),
    );
  });

  it('ValidationError is an Error named ValidationError', () => {
    const err = new ValidationError('x');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ValidationError');
    expect(err.message).toBe('tsgi.validate: x');
  });
});
