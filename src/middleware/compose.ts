// compose.ts: compose(...middleware), several middleware as one.
import type { Middleware } from '../types.js';

/**
 * Composes middleware into one: the first is outermost (it sees the request
 * first and the response last), as in `compose(a, b)(app) = a(b(app))`.
 * `compose()` is the identity.
 *
 * @example
 * ```ts
 * import { compose, compress, errorPage } from 'tsgi/middleware';
 * const wrapped = compose(errorPage(), compress())(app);
 * ```
 */
export function compose(...middleware: Middleware[]): Middleware {
  middleware.forEach((m, i) => {
    if (typeof m !== 'function') {
      throw new TypeError(`compose: middleware ${i} must be a function (app) => app, got ${m === null ? 'null' : typeof m}`);
    }
  });
  return (app) => {
    let wrapped = app;
    for (let i = middleware.length - 1; i >= 0; i--) {
      wrapped = middleware[i]!(wrapped);
      if (typeof wrapped !== 'function') {
        throw new TypeError(`compose: middleware ${i} returned ${wrapped === null ? 'null' : typeof wrapped}, not an application`);
      }
    }
    return wrapped;
  };
}
