#!/usr/bin/env node
// callgrind.mjs: instructions per request of a server under valgrind's
// callgrind, for a bounded load of a scenario's requests: deterministic
// where a timed run on a shared machine is not, and split by component
// (tsgi.node, node, libc, V8's generated code).
//
//   node bench/callgrind.mjs [--server native|node|node-http|uws] [--scenarios hello,pipelined,...]
//                            [--requests N] [--connections C] [--keep DIR] [--perf-map]
//
// --server node-http counts the benchmark's plain node:http server, the
// baseline of the reference server; --server uws counts the benchmark's
// uWebSockets.js server (bench/apps/uws-server.mjs). --perf-map (with --keep) runs node
// with --perf-basic-prof and keeps its map next to each dump, which names
// V8's generated code (JIT) by address.
//
// For each scenario: the server starts under callgrind (collection off),
// the same requests as the benchmark's (the wrk script's own dump; for
// browser-varied, N distinct requests) warm it up, collection goes on,
// exactly N more requests are sent (C connections, `depth` per batch,
// every response read before the next batch), collection goes off, and
// the counts of that stretch alone are read from its dump. The client runs
// in this process, outside valgrind: only the server's instructions count.
// Kernel time is not counted (valgrind cannot see it).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ResponseParser } from '../scripts/lib/http-response.mjs';
import { startServer } from '../scripts/lib/server-process.mjs';
import { splitRequests } from './check.mjs';
import { SCENARIOS } from './scenarios.mjs';
import { APP, CLI, HOST, ROOT } from './settings.mjs';
import { dumpBatch } from './wrk.mjs';
import { makeWorkDir } from './workdir.mjs';

const NODE_HTTP_APP = join(ROOT, 'bench', 'apps', 'node-http-server.mjs');
const UWS_APP = join(ROOT, 'bench', 'apps', 'uws-server.mjs');

const { values: args } = parseArgs({
  options: {
    server: { type: 'string', default: 'native' },
    scenarios: { type: 'string', default: 'hello,pipelined,browser-unpipelined,browser,browser-varied,echo' },
    requests: { type: 'string', default: '20000' },
    warmup: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '16' },
    keep: { type: 'string' },
    'perf-map': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('\nimport ')[0] + '\n');
  process.exit(0);
}
const total = Number(args.requests);
const warmup = Number(args.warmup);
const connections = Number(args.connections);
const opts = { pipeline: 16, connections };

/** Sends `requests` (latin1 strings, cycled from `offset`) on `connections`
 * sockets, `depth` per batch, until `count` responses were read. */
async function load(port, requests, depth, count, offset = 0) {
  let next = offset;
  let sent = 0;
  let done = 0;
  const one = () =>
    new Promise((resolve, reject) => {
      const sock = connect({ host: HOST, port });
      sock.setNoDelay(true);
      let parser;
      let want = 0;
      const batch = () => {
        want = Math.min(depth, count - sent);
        if (want <= 0) {
          sock.end();
          return;
        }
        sent += want;
        parser = new ResponseParser([]);
        let bytes = '';
        for (let i = 0; i < want; i++) {
          bytes += requests[next++ % requests.length];
          parser.methods.push('POST');
        }
        sock.write(Buffer.from(bytes, 'latin1'));
      };
      sock.on('connect', batch);
      sock.on('data', (d) => {
        parser.feed(d);
        if (parser.error) reject(new Error(parser.error));
        const complete = parser.responses.filter((r) => r.complete);
        if (complete.length < want) return;
        for (const r of complete) if (r.status !== 200) reject(new Error(`status ${r.status}`));
        done += want;
        batch();
      });
      sock.on('error', reject);
      sock.on('close', () => resolve());
    });
  await Promise.all(Array.from({ length: connections }, one));
  if (done !== count) throw new Error(`load: ${done} responses, wanted ${count}`);
  return next;
}

/** Self cost (Ir) per object file of a callgrind out file; code valgrind
 * cannot attribute to a file (V8's generated code) is "JIT". */
function costByObject(file) {
  const names = new Map();
  const byObject = new Map();
  let ob = 'JIT';
  let skip = false;
  const resolveName = (kind, rest) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(rest);
    if (!m) return rest;
    const key = kind + m[1];
    if (m[2] !== undefined) names.set(key, m[2]);
    return names.get(key) ?? rest;
  };
  let totalIr = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('ob=')) {
      const name = resolveName('ob', line.slice(3));
      ob = name === '???' || name === '' ? 'JIT' : name.split('/').pop();
    } else if (line.startsWith('cob=') || line.startsWith('cfn=') || line.startsWith('cfi=') || line.startsWith('cfl=')) {
      if (line.startsWith('cob=')) resolveName('ob', line.slice(4));
      else if (line.startsWith('cfn=')) resolveName('fn', line.slice(4));
    } else if (line.startsWith('fn=')) {
      resolveName('fn', line.slice(3));
    } else if (line.startsWith('calls=')) {
      skip = true; // the next cost line is the call's inclusive cost
    } else if (/^[+\-*0-9]/.test(line)) {
      if (skip) {
        skip = false;
        continue;
      }
      const parts = line.trim().split(/\s+/);
      const ir = Number(parts[1] ?? 0);
      if (!Number.isFinite(ir)) continue;
      byObject.set(ob, (byObject.get(ob) ?? 0) + ir);
      totalIr += ir;
    }
  }
  return { totalIr, byObject };
}

async function measure(sc, ctx) {
  const outDir = mkdtempSync(join(tmpdir(), 'tsgi-callgrind-'));
  const out = join(outDir, 'callgrind.out.%p');
  const srv = await startServer(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      `--callgrind-out-file=${out}`,
      process.execPath,
      ...(args['perf-map'] ? ['--perf-basic-prof'] : []),
      // node-http: the plain node:http peer of the benchmark, for the
      // instructions the reference server adds to node:http's own.
      ...(args.server === 'node-http'
        ? [NODE_HTTP_APP]
        : args.server === 'uws'
          ? [UWS_APP]
          : [CLI, 'serve', APP, '--server', args.server]),
      '--bind',
      `${HOST}:0`,
      // uWS has no keep-alive option (its idle connections close after 10 s).
      ...(args.server === 'uws' ? [] : ['--keep-alive-timeout', '60']),
    ],
    { cwd: ROOT, timeoutMs: 120_000 },
  );
  try {
    const depth = sc.depth(opts);
    let requests;
    if (sc.distinct) {
      const batch = await dumpBatch(srv.port, sc, ctx, warmup + total);
      requests = splitRequests(batch);
    } else {
      requests = splitRequests(await dumpBatch(srv.port, sc, ctx, depth)).slice(0, 1);
    }
    let at = await load(srv.port, requests, depth, warmup);
    execFileSync('callgrind_control', ['--instr=on', String(srv.pid)], { stdio: 'ignore' });
    at = await load(srv.port, requests, depth, total, at);
    execFileSync('callgrind_control', ['--instr=off', String(srv.pid)], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['--dump', String(srv.pid)], { stdio: 'ignore' });
    // V8's generated code has no symbols for valgrind: its perf map names it.
    if (args.keep && args['perf-map']) {
      mkdirSync(args.keep, { recursive: true });
      copyFileSync(`/tmp/perf-${srv.pid}.map`, join(args.keep, `${sc.id}.perf.map`));
    }
  } finally {
    await srv.stop({ timeoutMs: 30_000 });
  }
  // The explicit dump holds the measured stretch; the exit dump (later,
  // with collection off) holds nothing more.
  const dumps = readdirSync(outDir)
    .filter((f) => f.startsWith('callgrind.out'))
    .map((f) => join(outDir, f))
    .sort();
  const stats = dumps.map(costByObject).reduce(
    (acc, s) => {
      acc.totalIr += s.totalIr;
      for (const [k, v] of s.byObject) acc.byObject.set(k, (acc.byObject.get(k) ?? 0) + v);
      return acc;
    },
    { totalIr: 0, byObject: new Map() },
  );
  if (args.keep) {
    mkdirSync(args.keep, { recursive: true });
    for (const f of dumps) execFileSync('cp', [f, join(args.keep, `${sc.id}.${f.split('/').pop()}`)]);
  }
  rmSync(outDir, { recursive: true, force: true });
  return stats;
}

const wanted = args.scenarios.split(',');
const chosen = wanted.map((id) => {
  const sc = SCENARIOS.find((s) => s.id === id || s.aliases?.includes(id));
  if (!sc || sc.kind !== 'wrk') throw new Error(`callgrind: unknown wrk scenario ${id}`);
  return sc;
});
if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('callgrind: valgrind is not installed');
const work = makeWorkDir(chosen);
const ctx = { opts, workDir: work.workDir, requestFiles: work.requestFiles, nofile: 65536, pin: {} };
for (const sc of chosen) {
  const { totalIr, byObject } = await measure(sc, ctx);
  const parts = [...byObject.entries()]
    .sort((a, b) => b[1] - a[1])
    .filter(([, v]) => v / totalIr >= 0.005)
    .map(([k, v]) => `${k} ${(v / total).toFixed(0)}`)
    .join(', ');
  console.log(`${sc.id.padEnd(20)} ${(totalIr / total).toFixed(0).padStart(7)} Ir/request  (${parts})`);
}
