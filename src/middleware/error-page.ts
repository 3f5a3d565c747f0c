// error-page.ts: errorPage({ debug }), an HTML 500 page for an application
// that fails before its headers are sent. After they are sent nothing can
// be said: the error goes on to the server, which cuts the connection.
import type { Chunk, Header, Middleware, ResponseBody } from '../types.js';
import { logError } from '../gateway/errors.js';
import { FileBody } from '../gateway/file-wrapper.js';

/** Options of {@link errorPage}. */
export interface ErrorPageOptions {
  /** Show the error's message and stack (HTML-escaped) in the page
   * (default false: a page that says nothing about the cause). Never on a
   * server the public can reach. */
  debug?: boolean;
}

const kEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Escapes text for HTML element content and attribute values.
 *
 * @example
 * ```ts
 * import { escapeHtml } from 'tsgi/middleware';
 * escapeHtml('<b title="x">&</b>'); // '&lt;b title=&quot;x&quot;&gt;&amp;&lt;/b&gt;'
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => kEscapes[c]!);
}

function page(err: unknown, debug: boolean): string {
  let detail = '';
  if (debug) {
    const message = err instanceof Error ? `${err.name}: ${err.message}` : `non-Error value thrown: ${String(err)}`;
    const stack = err instanceof Error && err.stack ? err.stack : '';
    detail = `<p>${escapeHtml(message)}</p>\n${stack ? `<pre>${escapeHtml(stack)}</pre>\n` : ''}`;
  }
  return (
    '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>500 Internal Server Error</title></head>\n' +
    `<body>\n<h1>Internal Server Error</h1>\n${detail}</body>\n</html>\n`
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Answers an application's failure with a `500` `text/html` page when it
 * happens before the first body byte is sent: a throw, a rejected promise,
 * or an error from the body iterator before its first chunk. The error is
 * logged on `tsgi.errors` with its stack. With `debug`, the page shows the
 * message and the stack, HTML-escaped. After the first chunk the error goes
 * on to the server (which cuts the connection, as PEP 3333 says).
 *
 * @example
 * ```ts
 * import { errorPage } from 'tsgi/middleware';
 * const app = errorPage({ debug: process.env.NODE_ENV === 'development' })(router);
 * ```
 */
export function errorPage(options: ErrorPageOptions = {}): Middleware {
  const debug = options.debug ?? false;
  return (app) => (environ, startResponse) => {
    let sent = false;
    const fail = (err: unknown): Chunk[] => {
      if (sent) throw err;
      logError(environ['tsgi.errors'], `error in application (${environ.REQUEST_METHOD} ${environ.REQUEST_URI})`, err);
      const body = Buffer.from(page(err, debug));
      const headers: Header[] = [
        ['Content-Type', 'text/html; charset=utf-8'],
        ['Content-Length', String(body.length)],
        ['Cache-Control', 'no-store'],
      ];
      // excInfo: replaces whatever the application had started.
      startResponse('500 Internal Server Error', headers, err ?? new Error('error'));
      return [body];
    };
    const start: typeof startResponse = (status, headers, excInfo) => {
      const write = startResponse(status, headers, excInfo);
      return (chunk) => {
        if ((typeof chunk === 'string' ? chunk.length : chunk.byteLength) > 0) sent = true;
        write(chunk);
      };
    };
    const wrap = (body: ResponseBody): ResponseBody => {
      // An array has no errors left to throw; a file wrapper stays one, so
      // that the server may still send it with sendfile(2).
      if (Array.isArray(body) || body instanceof FileBody || sent) return body;
      return guard(body, fail, () => (sent = true));
    };
    let result: ReturnType<typeof app>;
    try {
      result = app(environ, start);
    } catch (err) {
      return fail(err);
    }
    if (isThenable(result)) return Promise.resolve(result).then(wrap, fail);
    return wrap(result);
  };
}

/** The body, iterated through: an error before the first non-empty chunk
 * becomes the error page; `close()` goes to the body, once. */
function guard(body: ResponseBody, fail: (err: unknown) => Chunk[], onSent: () => void): ResponseBody {
  let closed = false;
  const closeBody = () => {
    if (closed) return;
    closed = true;
    return (body as { close?: () => void | Promise<void> }).close?.();
  };
  const wrapped = {
    async *[Symbol.asyncIterator](): AsyncGenerator<Chunk> {
      let it: Iterator<Chunk> | AsyncIterator<Chunk>;
      let first = true;
      try {
        const sync = (body as Iterable<Chunk>)[Symbol.iterator];
        it = typeof sync === 'function' ? sync.call(body) : (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]();
      } catch (err) {
        yield* fail(err);
        return;
      }
      let finished = false;
      try {
        for (;;) {
          let step: IteratorResult<Chunk>;
          try {
            step = await it.next();
          } catch (err) {
            finished = true;
            if (!first) throw err;
            yield* fail(err);
            return;
          }
          if (step.done) {
            finished = true;
            return;
          }
          const chunk = step.value;
          if (first && (typeof chunk === 'string' ? chunk.length : chunk?.byteLength) > 0) {
            first = false;
            onSent();
          }
          yield chunk;
        }
      } finally {
        if (!finished) await it.return?.();
      }
    },
    close: closeBody,
  };
  return wrapped;
}
