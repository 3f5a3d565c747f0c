// proc.mjs: what Linux's /proc says about a process, read one way for the
// benchmark (bench/), the scripts (soak, connections-10k) and the tests
// that measure a server from outside: CPU time (all threads), resident
// memory, open descriptors, children, the descriptor limit, the CPUs this
// process may run on. proc(5) names the fields. Plain JavaScript.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** @typedef {number | 'self'} Pid */

let ticks;

/** Clock ticks per second (`getconf CLK_TCK`; 100 if it cannot say), the
 * unit of /proc/PID/stat's CPU times. */
export function clockTicks() {
  if (ticks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
    ticks = r.status === 0 && Number(r.stdout) > 0 ? Number(r.stdout) : 100;
  }
  return ticks;
}

/**
 * The fields of /proc/PID/stat after the command name, so that [0] is the
 * state (field 3 of proc(5)): [1] ppid, [11] utime, [12] stime. The name
 * may hold spaces and parentheses, hence the last ")".
 * @param {Pid} pid
 */
export function statFields(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

/** @param {Pid | Pid[]} pids */
const list = (pids) => (Array.isArray(pids) ? pids : [pids]);

/**
 * utime + stime of every thread of the processes, in clock ticks.
 * @param {Pid | Pid[]} pids
 */
export function cpuTicks(pids) {
  let t = 0;
  for (const pid of list(pids)) {
    const f = statFields(pid);
    t += Number(f[11]) + Number(f[12]);
  }
  return t;
}

/**
 * utime + stime of every thread of the processes, in milliseconds
 * (clock-tick resolution: 10 ms at 100 Hz).
 * @param {Pid | Pid[]} pids
 */
export function cpuMs(pids) {
  return (cpuTicks(pids) * 1000) / clockTicks();
}

/**
 * VmRSS summed over the processes, in KiB.
 * @param {Pid | Pid[]} pids
 */
export function rssKiB(pids) {
  let kib = 0;
  for (const pid of list(pids)) {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (!m) throw new Error(`no VmRSS for pid ${pid} (a zombie?)`);
    kib += Number(m[1]);
  }
  return kib;
}

/**
 * The number of open descriptors of a process.
 * @param {Pid} [pid]
 */
export function fdCount(pid = 'self') {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * The descriptors of a process that are open on `path` (as their
 * /proc/PID/fd links name it).
 * @param {string} path
 * @param {Pid} [pid]
 */
export function fdsOpenOn(path, pid = 'self') {
  const out = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === path) out.push(Number(fd));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * The command name of a process (/proc/PID/comm), or null once it is gone.
 * @param {Pid} pid
 */
export function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * The children of a process (one bounded scan of /proc).
 * @param {number} ppid
 * @returns {number[]}
 */
export function childPids(ppid) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (Number(statFields(name)[1]) === ppid) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * A process and all its descendants (for a server that forks workers).
 * @param {number} pid
 * @returns {number[]}
 */
export function processTree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length && out.length < 4096; i++) out.push(...childPids(out[i]));
  return out;
}

/**
 * The soft limit on open descriptors of a process ("unlimited" as
 * Infinity), or null where /proc does not say.
 * @param {Pid} [pid]
 */
export function openFileLimit(pid = 'self') {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : null;
  } catch {
    return null;
  }
}

/** The CPUs this process may run on, from /proc/self/status ("0-3,6"). */
export function allowedCpus() {
  try {
    const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (!m) return [];
    const cpus = [];
    for (const part of m[1].trim().split(',')) {
      const [a, b] = part.split('-').map(Number);
      for (let c = a; c <= (b ?? a) && cpus.length < 4096; c++) cpus.push(c);
    }
    return cpus;
  } catch {
    return [];
  }
}
