// workdir.mjs: the benchmark's temporary directory: the 1 MiB file of the
// file scenario (its path reaches the apps as TSGI_BENCH_FILE), the raw
// request of every pipeline.lua scenario, the scripts' dumps and nginx's
// configs. Removed when the process exits.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FILE_SIZE } from './scenarios.mjs';

/**
 * @param {Array<{ id: string, request?: string }>} scenarios
 * @returns {{ workDir: string, file: string, fileBytes: Buffer, requestFiles: Record<string, string> }}
 */
export function makeWorkDir(scenarios) {
  const workDir = mkdtempSync(join(tmpdir(), 'tsgi-bench-'));
  process.on('exit', () => rmSync(workDir, { recursive: true, force: true }));
  chmodSync(workDir, 0o755); // nginx's worker runs as nobody
  const file = join(workDir, 'file-1m.bin');
  const fileBytes = Buffer.alloc(FILE_SIZE);
  for (let i = 0; i < FILE_SIZE; i++) fileBytes[i] = 32 + ((i * 7 + (i >> 10)) % 95);
  writeFileSync(file, fileBytes, { mode: 0o644 });
  process.env.TSGI_BENCH_FILE = file;
  /** @type {Record<string, string>} */
  const requestFiles = {};
  for (const sc of scenarios) {
    if (!sc.request) continue;
    requestFiles[sc.id] = join(workDir, `${sc.id}.http`);
    writeFileSync(requestFiles[sc.id], Buffer.from(sc.request, 'latin1'), { mode: 0o644 });
  }
  return { workDir, file, fileBytes, requestFiles };
}
