// validate.ts: the TSGI counterpart of Python's wsgiref.validate. It sits
// between a server and an application and checks both sides of the contract
// of src/types.ts at run time: the environ and the `tsgi.*` objects the
// server provides, and the status, headers, body and `close()` handling of
// the application. Any violation throws a ValidationError with a message
// that names the rule and the offending value.
import type {
  Application,
  Chunk,
  Environ,
  ErrorStream,
  Header,
  ResponseBody,
  StartResponse,
  WriteFunction,
} from '../types.js';
import { FileBody } from '../gateway/file-wrapper.js';
import {
  bodilessStatus,
  fieldValueProblem,
  HeaderRole,
  isToken,
  listTokens,
  OWNED_HEADERS,
  parseContentLength,
  statusProblem,
} from '../gateway/http-rules.js';

const PREFIX = 'tsgi.validate: ';

/**
 * Thrown by {@link validate} when the server or the application breaks the
 * TSGI contract. The message always starts with `tsgi.validate: `.
 *
 * @example
 * ```ts
 * import { ValidationError } from 'tsgi';
 * try {
 *   await handle();
 * } catch (err) {
 *   if (err instanceof ValidationError) console.error(err.message);
 * }
 * ```
 */
export class ValidationError extends Error {
  constructor(message: string) {
    super(PREFIX + message);
    this.name = 'ValidationError';
  }
}

/** Options of {@link validate}. */
export interface ValidateOptions {
  /**
   * Report, on the request's `tsgi.errors`, every response body that is
   * garbage-collected without the server having called its `close()`
   * (default true). The report comes whenever the garbage collector runs,
   * so it is a diagnostic, not an exception.
   */
  trackClose?: boolean;
}

/** The string environ keys every server must provide. */
const REQUIRED_STRINGS = [
  'REQUEST_METHOD',
  'SCRIPT_NAME',
  'PATH_INFO',
  'QUERY_STRING',
  'REQUEST_URI',
  'SERVER_NAME',
  'SERVER_PORT',
  'SERVER_PROTOCOL',
  'REMOTE_ADDR',
  'REMOTE_PORT',
] as const;

const BOOLEAN_KEYS = ['tsgi.multithread', 'tsgi.multiprocess', 'tsgi.run_once'] as const;

const DIGITS = /^\d+$/;

/** Describes a value for an error message: strings quoted, objects by kind. */
function show(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (value instanceof Uint8Array) return `a ${value.constructor.name} of ${value.length} bytes`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name && name !== 'Object' ? `a ${name}` : 'an object';
  }
  if (typeof value === 'bigint') return `${value}n`;
  return String(value);
}

function isObject(value: unknown): value is Record<PropertyKey, unknown> {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

function isChunk(value: unknown): value is Chunk {
  return typeof value === 'string' || value instanceof Uint8Array;
}

/** Checks the environ the server built. */
function checkEnviron(environ: unknown): asserts environ is Environ {
  if (typeof environ !== 'object' || environ === null || Array.isArray(environ)) {
    throw new ValidationError(`environ must be a plain object, got ${show(environ)}`);
  }
  const proto = Object.getPrototypeOf(environ);
  if (proto !== Object.prototype && proto !== null) {
    throw new ValidationError(`environ must be a plain object, got ${show(environ)}`);
  }
  const env = environ as Record<string, unknown>;
  for (const key of REQUIRED_STRINGS) {
    if (!(key in env)) throw new ValidationError(`environ is missing the required key ${key}`);
    if (typeof env[key] !== 'string') {
      throw new ValidationError(`environ.${key} must be a string, got ${show(env[key])}`);
    }
  }
  const method = env.REQUEST_METHOD as string;
  if (!isToken(method)) {
    throw new ValidationError(`environ.REQUEST_METHOD must be a token, got ${show(method)}`);
  }
  for (const key of ['SCRIPT_NAME', 'PATH_INFO'] as const) {
    const value = env[key] as string;
    if (value !== '' && !value.startsWith('/')) {
      throw new ValidationError(`environ.${key} must be empty or start with "/", got ${show(value)}`);
    }
  }
  if (env.SCRIPT_NAME === '/') {
    throw new ValidationError('environ.SCRIPT_NAME must not be "/" (the root is "", with PATH_INFO "/")');
  }
  const query = env.QUERY_STRING as string;
  if (query.startsWith('?')) {
    throw new ValidationError(`environ.QUERY_STRING must not start with "?", got ${show(query)}`);
  }
  if (!DIGITS.test(env.SERVER_PORT as string)) {
    throw new ValidationError(`environ.SERVER_PORT must be decimal digits, got ${show(env.SERVER_PORT)}`);
  }
  if (!/^HTTP\/\d\.\d$/.test(env.SERVER_PROTOCOL as string)) {
    throw new ValidationError(
      `environ.SERVER_PROTOCOL must look like "HTTP/1.1", got ${show(env.SERVER_PROTOCOL)}`,
    );
  }
  if ('CONTENT_LENGTH' in env) {
    const length = env.CONTENT_LENGTH;
    if (typeof length !== 'string' || !DIGITS.test(length)) {
      throw new ValidationError(
        `environ.CONTENT_LENGTH must be decimal digits when present, got ${show(length)}`,
      );
    }
  }
  if ('CONTENT_TYPE' in env && typeof env.CONTENT_TYPE !== 'string') {
    throw new ValidationError(`environ.CONTENT_TYPE must be a string when present, got ${show(env.CONTENT_TYPE)}`);
  }
  for (const key of ['HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH']) {
    if (key in env) {
      throw new ValidationError(
        `environ must not contain ${key} (use ${key.slice(5)}), got ${show(env[key])}`,
      );
    }
  }
  for (const key of Object.keys(env)) {
    if (key.startsWith('HTTP_') && env[key] !== undefined && typeof env[key] !== 'string') {
      throw new ValidationError(`environ.${key} must be a string, got ${show(env[key])}`);
    }
  }

  const version = env['tsgi.version'];
  if (!Array.isArray(version) || version.length !== 2 || version[0] !== 1 || version[1] !== 0) {
    throw new ValidationError(`environ["tsgi.version"] must be [1, 0], got ${show(version)}`);
  }
  const scheme = env['tsgi.url_scheme'];
  if (scheme !== 'http' && scheme !== 'https') {
    throw new ValidationError(`environ["tsgi.url_scheme"] must be "http" or "https", got ${show(scheme)}`);
  }
  const input = env['tsgi.input'];
  if (!isObject(input) || typeof input[Symbol.asyncIterator] !== 'function') {
    throw new ValidationError(`environ["tsgi.input"] must be an async iterable, got ${show(input)}`);
  }
  if (typeof input.read !== 'function') {
    throw new ValidationError('environ["tsgi.input"] must have a read() method');
  }
  const errors = env['tsgi.errors'];
  if (!isObject(errors) || typeof errors.write !== 'function' || typeof errors.flush !== 'function') {
    throw new ValidationError(
      `environ["tsgi.errors"] must have write() and flush() methods, got ${show(errors)}`,
    );
  }
  for (const key of BOOLEAN_KEYS) {
    if (typeof env[key] !== 'boolean') {
      throw new ValidationError(`environ["${key}"] must be a boolean, got ${show(env[key])}`);
    }
  }
  if (typeof env['tsgi.file_wrapper'] !== 'function') {
    throw new ValidationError(
      `environ["tsgi.file_wrapper"] must be a function, got ${show(env['tsgi.file_wrapper'])}`,
    );
  }
}

/** Checks the arguments of one startResponse call against the rules of
 * src/gateway/http-rules.ts; returns the status code. Headers the server
 * owns are refused unless the server honours them (Content-Length, and
 * Connection: close): the driver would drop them silently. */
function checkStartResponse(status: unknown, headers: unknown): number {
  if (typeof status !== 'string') {
    throw new ValidationError(`status must be a string, got ${show(status)}`);
  }
  const problem = statusProblem(status);
  if (problem !== null) throw new ValidationError(`status ${problem}, got ${show(status)}`);
  if (!Array.isArray(headers)) {
    throw new ValidationError(`headers must be an array of [name, value] pairs, got ${show(headers)}`);
  }
  headers.forEach((header: unknown, i: number) => {
    if (!Array.isArray(header) || header.length !== 2) {
      throw new ValidationError(`headers[${i}] must be a [name, value] pair, got ${show(header)}`);
    }
    const [name, value] = header as unknown[];
    if (typeof name !== 'string') {
      throw new ValidationError(`headers[${i}] name must be a string, got ${show(name)}`);
    }
    if (typeof value !== 'string') {
      throw new ValidationError(`headers[${i}] (${name}) value must be a string, got ${show(value)}`);
    }
    if (!isToken(name)) {
      throw new ValidationError(`headers[${i}] name must be a token (RFC 9110), got ${show(name)}`);
    }
    const lower = name.toLowerCase();
    if (lower === 'status') {
      throw new ValidationError(
        `headers[${i}] must not be a Status header (the status is the first argument of startResponse)`,
      );
    }
    const owned = OWNED_HEADERS.get(lower);
    if (owned?.role === HeaderRole.Drop) {
      throw new ValidationError(`headers[${i}] must not be ${show(name)}: the server owns it (${owned.why})`);
    }
    const bad = fieldValueProblem(value);
    if (bad !== null) {
      throw new ValidationError(`headers[${i}] (${name}) value ${bad}, got ${show(value)}`);
    }
    if (owned?.role === HeaderRole.ContentLength && parseContentLength(value) < 0) {
      throw new ValidationError(`headers[${i}] (Content-Length) must be decimal digits, got ${show(value)}`);
    }
    if (owned?.role === HeaderRole.Connection && listTokens(value).some((t) => t !== 'close')) {
      throw new ValidationError(
        `headers[${i}] (Connection) may only be "close": the server owns the rest (${owned.why}), got ${show(value)}`,
      );
    }
  });
  return Number(status.slice(0, 3));
}

/** What one request's wrapper knows about the response so far. */
interface ResponseState {
  /** Status code of the latest startResponse call; 0 before the first. */
  code: number;
  /** Set when the server calls the body's close(). Read by the
   * FinalizationRegistry after the body itself is gone. */
  closed: boolean;
  /** `GET /path`, for reports. */
  label: string;
  errors: ErrorStream;
}

function checkBodyChunk(state: ResponseState, chunk: unknown, where: string): void {
  if (!isChunk(chunk)) {
    throw new ValidationError(`${where} must be a string or Uint8Array, got ${show(chunk)}`);
  }
  if (chunk.length > 0 && bodilessStatus(state.code)) {
    throw new ValidationError(
      `a ${state.code} response must have no body, but ${where} is ${show(chunk)}`,
    );
  }
}

const unclosed =
  typeof FinalizationRegistry === 'function'
    ? new FinalizationRegistry<ResponseState>((state) => {
        if (state.closed) return;
        try {
          state.errors.write(
            `${PREFIX}the server never called close() on the response body of ${state.label}\n`,
          );
        } catch {
          // The stream is gone too; nothing is left to tell.
        }
      })
    : undefined;

/** Wraps the body so that every step of its consumption is checked. */
function wrapBody(body: unknown, state: ResponseState, trackClose: boolean): ResponseBody {
  if (typeof body === 'string' || body instanceof Uint8Array) {
    throw new ValidationError(
      `the application must return an iterable of chunks, not a single ${typeof body === 'string' ? 'string' : 'Uint8Array'} (wrap it in an array)`,
    );
  }
  if (!isObject(body)) {
    throw new ValidationError(
      `the application must return an iterable or async iterable of chunks, got ${show(body)}`,
    );
  }
  const syncIter = typeof body[Symbol.iterator] === 'function';
  const asyncIter = typeof body[Symbol.asyncIterator] === 'function';
  if (!syncIter && !asyncIter) {
    throw new ValidationError(
      `the application must return an iterable or async iterable of chunks, got ${show(body)}`,
    );
  }
  if (body.close !== undefined && typeof body.close !== 'function') {
    throw new ValidationError(`the response body's close must be a function, got ${show(body.close)}`);
  }
  const source = body as ResponseBody & Record<PropertyKey, unknown>;
  // Arrays and file wrappers stay what they are, so that servers keep their
  // fast paths (one write with a Content-Length; sendfile); their chunks
  // are checked now and only their close() is wrapped.
  if (Array.isArray(body)) return wrapArray(body, state, trackClose);
  if (body instanceof FileBody) return wrapFile(body, state, trackClose);

  let iterated = false;
  let finished = false;
  let returned = false;
  let inner: Iterator<unknown> | AsyncIterator<unknown> | undefined;
  let chunks = 0;

  const begin = (method: 'iterator' | 'asyncIterator'): void => {
    if (state.closed) throw new ValidationError('the server iterated the response body after close()');
    if (iterated) throw new ValidationError('the server iterated the response body twice');
    iterated = true;
    inner =
      method === 'iterator'
        ? (source as Iterable<unknown>)[Symbol.iterator]()
        : (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    if (!isObject(inner) || typeof inner.next !== 'function') {
      throw new ValidationError(`the response body's [Symbol.${method}]() must return an iterator, got ${show(inner)}`);
    }
  };

  const check = (result: unknown): IteratorResult<Chunk> => {
    if (!isObject(result)) {
      throw new ValidationError(`the response body's iterator returned ${show(result)} instead of a result object`);
    }
    if (result.done) {
      finished = true;
      if (state.code === 0) {
        throw new ValidationError('the response body ended before startResponse was called');
      }
      return { done: true, value: undefined };
    }
    if (state.code === 0) {
      throw new ValidationError('startResponse must be called before the first body chunk is produced');
    }
    checkBodyChunk(state, result.value, `body chunk ${chunks}`);
    chunks++;
    return { done: false, value: result.value as Chunk };
  };

  const beforeNext = (): void => {
    if (state.closed) throw new ValidationError('the server asked for a body chunk after close()');
    if (returned) throw new ValidationError('the server asked for a body chunk after return()');
  };

  const finishEarly = (): unknown => {
    if (returned || finished || inner === undefined) return undefined;
    returned = true;
    return inner.return?.();
  };

  const wrapper: Record<PropertyKey, unknown> = {
    close(): void | Promise<void> {
      if (state.closed) throw new ValidationError('the server called close() on the response body twice');
      state.closed = true;
      unclosed?.unregister(wrapper);
      // An abandoned iterator is ended here too, so that a generator's
      // finally blocks run even if the server called only close().
      const ended = finishEarly();
      const closing = source.close?.call(source);
      if (isThenable(ended) || isThenable(closing)) {
        return Promise.all([ended, closing]).then(() => undefined);
      }
    },
  };

  if (syncIter) {
    wrapper[Symbol.iterator] = (): Iterator<Chunk> => {
      begin('iterator');
      const it = inner as Iterator<unknown>;
      return {
        next: () => {
          beforeNext();
          return check(it.next());
        },
        return: (value?: unknown) => {
          finishEarly();
          return { done: true, value: value as Chunk };
        },
      };
    };
  }
  if (asyncIter) {
    wrapper[Symbol.asyncIterator] = (): AsyncIterator<Chunk> => {
      begin('asyncIterator');
      const it = inner as AsyncIterator<unknown>;
      return {
        next: async () => {
          beforeNext();
          return check(await it.next());
        },
        return: async (value?: unknown) => {
          await finishEarly();
          return { done: true, value: value as Chunk };
        },
      };
    };
  }
  if (trackClose) unclosed?.register(wrapper, state, wrapper);
  return wrapper as unknown as ResponseBody;
}

/** A close() that checks it is called once, then calls the original. */
function checkedClose(state: ResponseState, target: object, original: (() => unknown) | undefined) {
  return (): void | Promise<void> => {
    if (state.closed) throw new ValidationError('the server called close() on the response body twice');
    state.closed = true;
    unclosed?.unregister(target);
    const closing = original?.call(target);
    if (isThenable(closing)) return Promise.resolve(closing).then(() => undefined);
  };
}

function wrapArray(body: unknown[], state: ResponseState, trackClose: boolean): ResponseBody {
  if (state.code === 0) {
    throw new ValidationError(
      body.length === 0
        ? 'the response body ended before startResponse was called'
        : 'startResponse must be called before the first body chunk is produced',
    );
  }
  body.forEach((chunk, i) => checkBodyChunk(state, chunk, `body chunk ${i}`));
  const original = (body as { close?: () => unknown }).close;
  const copy = body.slice() as unknown[] & { close?: () => void | Promise<void> };
  copy.close = checkedClose(state, copy, original);
  if (trackClose) unclosed?.register(copy, state, copy);
  return copy as unknown as ResponseBody;
}

function wrapFile(body: FileBody, state: ResponseState, trackClose: boolean): ResponseBody {
  if (state.code === 0) throw new ValidationError('startResponse must be called before the first body chunk is produced');
  if (bodilessStatus(state.code)) {
    throw new ValidationError(`a ${state.code} response must have no body, but the application returned a file`);
  }
  const original = FileBody.prototype.close;
  Object.defineProperty(body, 'close', { value: checkedClose(state, body, original), configurable: true, writable: true });
  if (trackClose) unclosed?.register(body, state, body);
  return body;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return isObject(value) && typeof value.then === 'function';
}

/** Replaces `tsgi.input` with a wrapper that checks what the server yields
 * and that the application reads it one way at a time. */
function wrapInput(environ: Environ): void {
  const input = environ['tsgi.input'];
  let active = false;
  const checked = async function* (where: string): AsyncGenerator<Uint8Array> {
    let i = 0;
    for await (const chunk of input as AsyncIterable<unknown>) {
      if (!(chunk instanceof Uint8Array)) {
        throw new ValidationError(`tsgi.input ${where} chunk ${i} must be a Uint8Array, got ${show(chunk)}`);
      }
      i++;
      yield chunk;
    }
  };
  const enter = (how: string): void => {
    if (active) {
      throw new ValidationError(`tsgi.input ${how} while another read of it is in progress`);
    }
    active = true;
  };
  environ['tsgi.input'] = {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      enter('iterated');
      const gen = checked('iteration');
      let ended = false;
      const end = (): void => {
        if (!ended) {
          ended = true;
          active = false;
        }
      };
      return {
        async next() {
          try {
            const result = await gen.next();
            if (result.done) end();
            return result;
          } catch (err) {
            end();
            throw err;
          }
        },
        async return(value?: unknown) {
          end();
          return gen.return(value as undefined);
        },
      };
    },
    async read(): Promise<Uint8Array> {
      enter('read()');
      try {
        const data = await input.read();
        if (!(data instanceof Uint8Array)) {
          throw new ValidationError(`tsgi.input.read() must resolve to a Uint8Array, got ${show(data)}`);
        }
        return data;
      } finally {
        active = false;
      }
    },
  };
}

/** Replaces `tsgi.errors` with a wrapper that checks how the application
 * writes to it. */
function wrapErrors(environ: Environ): ErrorStream {
  const errors = environ['tsgi.errors'];
  const wrapped: ErrorStream = {
    write(message: string): void {
      if (typeof message !== 'string') {
        throw new ValidationError(`tsgi.errors.write() must be called with a string, got ${show(message)}`);
      }
      errors.write(message);
    },
    flush(): void {
      errors.flush();
    },
  };
  environ['tsgi.errors'] = wrapped;
  return errors;
}

/**
 * Wraps an application so that both sides of the TSGI contract are checked
 * while it runs: the environ and `tsgi.*` objects the server passes in, and
 * the status, headers, body, `write()` calls and `close()` handling of the
 * response. A violation throws a {@link ValidationError} (from the wrapped
 * application, from `startResponse`, or from the body's iterator, wherever
 * it is detected), which the server reports like any application error.
 *
 * The returned body keeps its kind: a sync iterable stays sync (arrays become
 * a sync iterable object), an async iterable stays async. It always carries a
 * `close()`, which the server must call exactly once; `close()` forwards to
 * the application body's own `close()` and ends an abandoned iterator.
 * Wrapping hides a `tsgi.file_wrapper` body from the server's sendfile path,
 * as wsgiref.validate does in Python: the file is then sent by iteration.
 *
 * Meant for development and tests: every request pays for the checks.
 *
 * @example
 * ```ts
 * import { serve, validate } from 'tsgi';
 * const app = (environ, startResponse) => {
 *   startResponse('200 OK', [['Content-Type', 'text/plain']]);
 *   return ['Hello, World!\n'];
 * };
 * await serve(validate(app), { port: 8000 });
 * ```
 */
export function validate(app: Application, options: ValidateOptions = {}): Application {
  if (typeof app !== 'function') {
    throw new ValidationError(`validate() needs an application function, got ${show(app)}`);
  }
  const trackClose = options.trackClose ?? true;

  return function validated(environ: Environ, startResponse: StartResponse) {
    if (arguments.length !== 2) {
      throw new ValidationError(`the application must be called with 2 arguments, got ${arguments.length}`);
    }
    checkEnviron(environ);
    if (typeof startResponse !== 'function') {
      throw new ValidationError(`startResponse must be a function, got ${show(startResponse)}`);
    }
    const rawErrors = wrapErrors(environ);
    wrapInput(environ);
    const state: ResponseState = {
      code: 0,
      closed: false,
      label: `${environ.REQUEST_METHOD} ${environ.REQUEST_URI}`,
      errors: rawErrors,
    };

    const checkedStart: StartResponse = (status: string, headers: Header[], excInfo?: unknown) => {
      if (state.code !== 0 && !excInfo) {
        throw new ValidationError(
          `startResponse was called a second time without excInfo (first status ${state.code}, now ${show(status)})`,
        );
      }
      const code = checkStartResponse(status, headers);
      const write = excInfo === undefined
        ? startResponse(status, headers)
        : startResponse(status, headers, excInfo);
      if (typeof write !== 'function') {
        throw new ValidationError(`the server's startResponse must return a write function, got ${show(write)}`);
      }
      state.code = code;
      let writes = 0;
      const checkedWrite: WriteFunction = (chunk: Chunk) => {
        checkBodyChunk(state, chunk, `write() argument ${writes}`);
        writes++;
        write(chunk);
      };
      return checkedWrite;
    };

    const result = app(environ, checkedStart);
    if (isThenable(result)) {
      return Promise.resolve(result).then((body) => wrapBody(body, state, trackClose));
    }
    return wrapBody(result, state, trackClose);
  };
}
