// file-wrapper-close.test.ts: a file body closed while its next block is
// being read (what the server does when the client leaves then) closes
// its descriptor only once that read has ended, so that the read never
// runs on a closed descriptor, nor on another file given the same number.
import { fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { fileWrapper } from '../src/gateway/file-wrapper.js';

const dir = mkdtempSync(join(tmpdir(), 'tsgi-file-close-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const isOpen = (fd: number): boolean => {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
};

it('closes the descriptor after the read in flight, and reads nothing after the close', async () => {
  const path = join(dir, 'data.bin');
  writeFileSync(path, Buffer.alloc(300_000, 7));
  const fd = openSync(path, 'r');
  const body = fileWrapper(fd, { blockSize: 65_536 }) as AsyncIterable<Uint8Array> & { close(): Promise<void> };
  const it = body[Symbol.asyncIterator]();
  const first = await it.next();
  expect(first.value?.length).toBe(65_536);
  // The second block's read is in flight when the body is closed.
  const second = it.next();
  const closed = body.close();
  expect(isOpen(fd), 'open while the read runs').toBe(true);
  const step = await second;
  expect(step.done === true || step.value?.length === 65_536, 'the read in flight ends whole').toBe(true);
  await closed;
  expect(isOpen(fd), 'closed once the read has ended').toBe(false);
  // Nothing more is read from the closed descriptor.
  expect((await it.next()).done).toBe(true);
});

it('closes at once when no read is in flight', async () => {
  const path = join(dir, 'small.bin');
  writeFileSync(path, 'abc');
  const fd = openSync(path, 'r');
  const body = fileWrapper(fd) as AsyncIterable<Uint8Array> & { close(): Promise<void> };
  await body.close();
  expect(isOpen(fd)).toBe(false);
});
