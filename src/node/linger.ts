// linger.ts: the reference server's lingering close (RFC 9112 section 9.6),
// as the native server's (Connection::BeginLinger; ARCHITECTURE.md, "The
// path of a request", step 10).
//
// node:http closes a connection with `socket.destroySoon()`: FIN after the
// queued output, then close(2) at once. Input the server has not read by
// then (a pipelined request behind a `Connection: close` or a cut
// response, left in the kernel while node:http paused reading under
// backpressure) makes the kernel answer the close with a reset, and a reset makes the client's
// kernel drop the response bytes its application has not read yet: the
// client sees a response cut in the middle. So every socket of the server
// closes by lingering instead: FIN after the output, then the input is
// read and discarded, unparsed, until the client closes too, and for at
// most LINGER_MS.
import type { Socket } from 'node:net';
import { LINGER_MS } from '../native/binding.js';

const kLingering = Symbol('tsgi.lingering');

type LingeringSocket = Socket & {
  [kLingering]?: boolean;
  /** node:http's parser of the socket (lib/_http_server.js): `unconsume`
   * stops it reading the socket's handle directly, `remove` takes the
   * socket out of the server's connections list. */
  parser?: { unconsume?: () => void; remove?: () => void } | null;
  /** The libuv stream (lib/net.js): whether it reads, and how it starts. */
  _handle?: { reading?: boolean; readStart?: () => number } | null;
};

function discard(): void {}

/** Reads and discards what is left of the input, and closes the socket
 * when the client does or LINGER_MS has passed. */
function drainInput(socket: LingeringSocket): void {
  if (socket.destroyed) return;
  // From here nothing parses the input: node:http's parser is taken off
  // the handle and off 'data' (off its call stack: see lingerClose).
  socket.parser?.unconsume?.();
  // Out of node:http's connections list: server.close() destroys the
  // connections that list calls idle (closeIdleConnections), which would
  // reset this one; its request timeouts no longer apply either. The
  // linger's deadline bounds it instead.
  socket.parser?.remove?.();
  socket.removeAllListeners('data');
  socket.on('data', discard);
  // Once both directions have ended the socket closes itself (autoDestroy).
  socket.resume();
  // A handle the parser consumed may have been stopped while the stream
  // still counts itself as reading, so resume() alone would not read:
  // start it as node's own resume of a consumed socket does.
  const handle = socket._handle;
  if (handle && handle.reading === false && typeof handle.readStart === 'function') {
    handle.reading = true;
    handle.readStart();
  }
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** `destroySoon` for a server socket: the lingering close. */
function lingerClose(this: LingeringSocket): void {
  if (this.destroyed || this[kLingering]) return;
  this[kLingering] = true;
  if (this.writable) this.end();
  // 'finish' follows the completion of the shutdown request (a libuv
  // callback of its own); an output finished already waits for the check
  // phase: either way node:http's parser is not running.
  if (this.writableFinished) setImmediate(drainInput, this);
  else this.once('finish', () => drainInput(this));
}

/** Makes `socket` close by lingering wherever node:http or this server
 * asks it to close after its output (`destroySoon`). */
export function lingerOnClose(socket: Socket): void {
  (socket as LingeringSocket).destroySoon = lingerClose;
}

/** Whether `socket` is in its lingering close: nothing it still sends is
 * a request, nor an error worth answering. */
export function isLingering(socket: Socket): boolean {
  return (socket as LingeringSocket)[kLingering] === true;
}
