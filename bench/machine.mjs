// machine.mjs: what the benchmark runs on and with: the commands it finds
// (which), the machine and software versions printed and saved with every
// run, and where the server and the load generator are pinned.
import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsc, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';
import { allowedCpus } from '../scripts/lib/proc.mjs';
import { cliMissing } from './servers/define.mjs';
import { CLI, ROOT } from './settings.mjs';

/** The path of an executable on PATH (and in the sbin directories, where
 * nginx lives and a non-root PATH may not look), or null. */
export function which(cmd) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), fsc.X_OK);
      return join(dir, cmd);
    } catch {
      // next
    }
  }
  return null;
}

/** The load averages, rounded to two decimals. */
export const load = () => loadavg().map((x) => Math.round(x * 100) / 100);

/** The machine and the versions of everything measured. */
export function machineInfo() {
  let cpu = 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux
  }
  const wrk = spawnSync('wrk', ['-v'], { encoding: 'utf8', timeout: 5000 });
  const wrkVersion = /wrk\s+(\S+)/.exec(`${wrk.stdout ?? ''}${wrk.stderr ?? ''}`)?.[1] ?? 'unknown';
  let tsgi = 'unknown';
  if (!cliMissing()) {
    const v = spawnSync(process.execPath, [CLI, '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 10000 });
    if (v.status === 0 && v.stdout.trim()) tsgi = v.stdout.trim().split('\n')[0];
  }
  let nginx = null;
  const nginxBin = which('nginx');
  if (nginxBin) {
    const v = spawnSync(nginxBin, ['-v'], { encoding: 'utf8', timeout: 5000 });
    nginx = /nginx\/(\S+)/.exec(`${v.stderr ?? ''}${v.stdout ?? ''}`)?.[1] ?? 'unknown';
  }
  let uws = null;
  try {
    uws = JSON.parse(readFileSync(join(ROOT, 'node_modules/@trufflesuite/uws-js-unofficial/package.json'), 'utf8'))
      .version;
  } catch {
    // not installed
  }
  return {
    nproc: availableParallelism(),
    cpu,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    wrk: wrkVersion,
    tsgi,
    nginx,
    uws,
    loadavg: load(),
  };
}

/**
 * With two or more usable CPUs and taskset: the server on one, wrk and the
 * idle client on another. Returns the CPU lists (null: not pinned) and a
 * line saying what was done and why.
 * @param {boolean} wanted --pin (default) or --no-pin
 * @returns {{ server: string | null, wrk: string | null, note: string }}
 */
export function planPinning(wanted) {
  const cpus = allowedCpus();
  const off = (why) => ({ server: null, wrk: null, note: `off (${why})` });
  if (!wanted) return off('--no-pin');
  if (!which('taskset')) return off('taskset not found; it is in util-linux');
  if (cpus.length < 2) return off(`only ${cpus.length || 'unknown'} usable CPU`);
  if (spawnSync('taskset', ['-c', `${cpus[0]},${cpus[1]}`, 'true'], { timeout: 5000 }).status !== 0) {
    return off('taskset failed here');
  }
  const [server, wrk] = [String(cpus[0]), String(cpus[1])];
  return { server, wrk, note: `taskset: server on CPU ${server}, wrk and the idle client on CPU ${wrk}` };
}
