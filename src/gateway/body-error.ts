// body-error.ts: why a request body could not be read to its end, and the
// one message for each: the Error that `tsgi.input` throws, the same on
// both servers for the same cause.
import type { Limits } from '../settings.js';

/**
 * Why a body failed. The native addon sends the same numbers in its
 * BodyError records (`BodyFailure` in native/bridge.h); `Lost` is what a
 * Close means by itself.
 */
export enum BodyFailure {
  /** The client closed the connection (or it was cut) mid-body. */
  Lost = 0,
  /** The chunked framing broke a rule of RFC 9112 §7.1 (the client got 400). */
  Malformed = 1,
  /** The body grew past maxBodySize (the client got 413). */
  TooLarge = 2,
  /** A chunk-size line carried more extension bytes than allowed (413). */
  ExtensionTooLarge = 3,
  /** requestTimeout ran out before the body was complete (408). */
  Timeout = 4,
  /** The trailer section broke maxHeaderSize or maxHeaderCount (431). */
  TrailersTooLarge = 5,
}

/**
 * The Error for a failed body. `extensionBound` is the chunk-extension
 * bound the server applied (the native server's `maxChunkExtensionSize`,
 * node:http's own on the reference server).
 *
 * @example
 * ```ts
 * input.fail(bodyError(BodyFailure.TooLarge, limits, 16384));
 * ```
 */
export function bodyError(failure: BodyFailure, limits: Limits, extensionBound: number): Error {
  switch (failure) {
    case BodyFailure.Malformed:
      return new Error('tsgi: the request body breaks the chunked framing of RFC 9112 section 7.1 (the client got 400)');
    case BodyFailure.TooLarge:
      return new Error(`tsgi: the request body is larger than maxBodySize (${limits.maxBodySize} bytes)`);
    case BodyFailure.ExtensionTooLarge:
      return new Error(`tsgi: a chunk of the request body carries more than ${extensionBound} bytes of chunk extensions`);
    case BodyFailure.Timeout:
      return new Error(`tsgi: the request body was not complete within requestTimeout (${limits.requestTimeout} s)`);
    case BodyFailure.TrailersTooLarge:
      return new Error(
        `tsgi: the request's trailer section is larger than maxHeaderSize (${limits.maxHeaderSize} bytes) or maxHeaderCount (${limits.maxHeaderCount}) allows`,
      );
    default:
      return new Error('tsgi: the client closed the connection before the body was complete');
  }
}
