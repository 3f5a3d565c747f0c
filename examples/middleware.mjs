// middleware.mjs: the middleware onion of the WSGI literature. A logging
// layer wraps a router; the router sends requests that carry the header
// `Role: ADMIN` to the admin application and everyone else to the user
// application.
//
//   tsgi serve examples/middleware.mjs
//   curl http://127.0.0.1:8000/                  -> Hello, user.
//   curl -H 'Role: ADMIN' http://127.0.0.1:8000/ -> Hello, administrator.

function text(body) {
  return (environ, startResponse) => {
    startResponse('200 OK', [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Content-Length', String(Buffer.byteLength(body))],
    ]);
    return [body];
  };
}

/** The application for administrators. */
export const admin = text('Hello, administrator.\n');

/** The application for everyone else. */
export const user = text('Hello, user.\n');

/** Sends requests with `Role: ADMIN` to `adminApp`, the rest to `userApp`.
 * A router is itself an application: it only picks whom to call. */
export function router(adminApp, userApp) {
  return (environ, startResponse) =>
    environ.HTTP_ROLE === 'ADMIN' ? adminApp(environ, startResponse) : userApp(environ, startResponse);
}

/**
 * Logs `METHOD PATH STATUS DURATION` to `tsgi.errors` when each response
 * ends. It sees the status by wrapping startResponse, and the end of the
 * response by wrapping the body: the server calls the body's close() once
 * the response is over, whether it completed or the client went away.
 *
 * @example
 * const app = logging(router(admin, user));
 */
export function logging(app) {
  return (environ, startResponse) => {
    const began = performance.now();
    let status = '-';
    const logged = (s, headers, excInfo) => {
      status = s.slice(0, 3);
      return startResponse(s, headers, excInfo);
    };
    const done = () => {
      const ms = (performance.now() - began).toFixed(2);
      environ['tsgi.errors'].write(
        `${environ.REQUEST_METHOD} ${environ.SCRIPT_NAME}${environ.PATH_INFO} ${status} ${ms}ms\n`,
      );
    };
    const result = app(environ, logged);
    // Stay synchronous when the inner application is: servers answer
    // synchronous bodies without an extra turn of the event loop.
    return typeof result?.then === 'function'
      ? result.then((body) => closing(body, done))
      : closing(result, done);
  };
}

/** Forwards iteration to `body` (keeping it sync or async) and runs
 * `after` when the server closes the response. */
function closing(body, after) {
  const wrapped = {
    close() {
      try {
        return body.close?.();
      } finally {
        after();
      }
    },
  };
  if (typeof body[Symbol.iterator] === 'function') {
    wrapped[Symbol.iterator] = () => body[Symbol.iterator]();
  } else {
    wrapped[Symbol.asyncIterator] = () => body[Symbol.asyncIterator]();
  }
  return wrapped;
}

export default logging(router(admin, user));
