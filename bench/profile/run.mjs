#!/usr/bin/env node
// bench/profile: where a node's time goes under the SQL benchmark's load. Starts a 3-node cluster (or a standalone
// node) with `--cpu-prof`, drives single-row INSERTs or point SELECTs from closed-loop clients for a while, stops
// the nodes gracefully (so each writes its profile), and prints per node the functions with the most self time and
// the same time summed by source file — the figures the README's performance notes quote.
//
// Usage: node bench/profile/run.mjs [--op insert|select] [--clients 16] [--seconds 10] [--standalone] [--top 20]
//        [--keep DIR] [--log-writes worker|sync] [--json] [--quick]   (also `kalam bench profile`; needs `make build`;
//        profiles are deleted unless --keep names a folder to write them to; --json prints one result object — a row
//        per profiled thread: its busy share and top entries — and sends the text report to stderr; --quick: 4
//        clients for 2 s)
/* global fetch, AbortSignal */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { credentialsOf, withAppClient } from '../app.mjs';
import { INSERT_SQL, ROW_VALUE, SELECT_SQL, basicAuth, prepareKalam } from '../sql/kalam.mjs';

const { values } = parseArgs({
  options: {
    op: { type: 'string', default: 'insert' },
    clients: { type: 'string' },
    seconds: { type: 'string' },
    standalone: { type: 'boolean', default: false },
    top: { type: 'string', default: '20' },
    keep: { type: 'string' },
    'log-writes': { type: 'string', default: 'worker' },
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
  },
});
const op = values.op;
const clients = Number(values.clients ?? (values.quick ? 4 : 16));
const seconds = Number(values.seconds ?? (values.quick ? 2 : 10));
// With --json stdout carries only the result object (`kalam bench` reads its last line); the report goes to stderr.
const report = (text) => (values.json ? process.stderr : process.stdout).write(text);
const top = Number(values.top);
if (!['insert', 'select'].includes(op) || !(clients >= 1 && clients <= 256) || !(seconds > 0 && seconds <= 600)) {
  process.stderr.write('bench profile: --op insert|select, --clients 1..256, --seconds 1..600\n');
  process.exit(2);
}
let harness;
try {
  harness = await import('../../packages/server/dist/test/support/nodes.js');
} catch (error) {
  process.stderr.write(`bench profile: not built (${error.message}): run \`make build\`\n`);
  process.exit(2);
}
const { KalamNodes, ROOT_PASSWORD } = harness;

const profDir = values.keep ?? mkdtempSync(join(tmpdir(), 'kalam-profile-'));
mkdirSync(profDir, { recursive: true });
// The harness passes these flags to every node it spawns (packages/server/test/support/nodes.ts).
process.env.KALAM_TEST_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${profDir}`;

/** One raw request, as the measured closed-loop clients send it (not @kalam/client: an op is one request's time). */
async function post(url, body, auth) {
  const res = await fetch(`${url}/v1/api/sql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: auth },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return res.json();
}

/** Each node's driver counters (GET /v1/api/cluster/status → driver; null on a standalone node). */
async function driverCounters(urls) {
  const auth = basicAuth('root', ROOT_PASSWORD);
  return Promise.all(
    urls.map(async (url) => {
      const res = await fetch(`${url}/v1/api/cluster/status`, {
        headers: { authorization: auth },
        signal: AbortSignal.timeout(20_000),
      });
      return (await res.json()).driver ?? null;
    }),
  );
}

// Who writes raft.db: the log worker thread (the default) or the event loop (`[cluster.raft] log_writer_thread`).
if (!['worker', 'sync'].includes(values['log-writes'])) {
  process.stderr.write('bench profile: --log-writes worker|sync\n');
  process.exit(2);
}
const nodes = await KalamNodes.start({
  members: values.standalone ? 0 : 3,
  // A standalone node has no Raft log: its config refuses cluster.* variables.
  env: values.standalone ? {} : { KALAM_CLUSTER_RAFT_LOG_WRITER_THREAD: String(values['log-writes'] === 'worker') },
});
let done = 0;
let errors = 0;
let firstError = '';
let before = [];
let after = [];
// Which node each profile came from: its file name holds the process id.
const nodeOfPid = new Map(nodes.ids().map((id) => [nodes.pid(id), id]));
try {
  const urls = nodes.ids().map((id) => nodes.url(id));
  const tokens = await prepareKalam(urls, clients, basicAuth('root', ROOT_PASSWORD));
  const nextId = tokens.map(() => 0);
  if (op === 'select') {
    // Rows to read: 100 per client, written as each user's application would, through @kalam/client.
    await Promise.all(
      tokens.map((auth, c) =>
        withAppClient([urls[c % urls.length]], credentialsOf(auth), async (client) => {
          for (; nextId[c] < 100; nextId[c]++) await client.execute(INSERT_SQL, [nextId[c], ROW_VALUE]);
        }),
      ),
    );
  }
  before = await driverCounters(urls);
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    tokens.map(async (auth, c) => {
      let k = 0;
      while (performance.now() < end) {
        const body =
          op === 'insert'
            ? { sql: INSERT_SQL, params: [nextId[c]++, ROW_VALUE] }
            : { sql: SELECT_SQL, params: [k++ % 100] };
        const r = await post(urls[c % urls.length], body, auth).catch((e) => ({ status: 'error', error: e.message }));
        if (r.status === 'success') done++;
        else if (errors++ === 0) firstError = JSON.stringify(r.error ?? r).slice(0, 300);
      }
    }),
  );
  after = await driverCounters(urls);
} finally {
  await nodes.close();
}
report(
  `${values.standalone ? 'standalone' : 'cluster'} (log writes: ${values['log-writes']}) ${op} × ${clients} clients: ${(done / seconds).toFixed(0)} ops/s over ${seconds} s, ${errors} errors${errors > 0 ? ` (first: ${firstError})` : ''}\n`,
);
// Per node over the load window: raft.db writes and transactions (fsyncs) per second, the time of one write
// (mean over the window from the counters; p99 over the node's last writes), driver turns per second, and
// transactions per client operation (on each node: a leader's and a follower's writes both count).
after.forEach((a, i) => {
  const b = before[i];
  if (a === null || b === null || b === undefined) return;
  const d = (k) => a[k] - b[k];
  const meanMs = d('log_writes') > 0 ? d('log_write_ms_total') / d('log_writes') : 0;
  report(
    `node ${i + 1}: ${(d('log_writes') / seconds).toFixed(0)} log writes/s, ` +
      `${(d('log_transactions') / seconds).toFixed(0)} raft.db transactions/s, ` +
      `write mean ${meanMs.toFixed(2)} ms p99 ${a.log_write_ms_p99.toFixed(2)} ms max ${a.log_write_ms_max.toFixed(1)} ms, ` +
      `${(d('turns') / seconds).toFixed(0)} turns/s, ` +
      `${done > 0 ? (d('log_transactions') / done).toFixed(2) : '-'} transactions per op, ` +
      `${(d('log_entries_written') / seconds).toFixed(0)} entries/s\n`,
  );
});

/** Self time per function and per file of one .cpuprofile. */
function summarize(file) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fn = new Map();
  const byFile = new Map();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const us = p.timeDeltas[i] ?? 0;
    const cf = byId.get(p.samples[i]).callFrame;
    const where = cf.url
      .replace(/^file:\/\/.*\/packages\/([^/]+)\/dist\/src\//, '$1/')
      .replace(/^file:\/\/.*\/node_modules\/([^/]+)\/.*$/, 'npm:$1')
      .replace(/^file:\/\//, '');
    const key = `${cf.functionName || '(anonymous)'} ${where}${cf.url === '' ? '' : `:${cf.lineNumber + 1}`}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const f = where === '' ? cf.functionName : where;
    byFile.set(f, (byFile.get(f) ?? 0) + us);
    total += us;
  }
  return { total, fn, byFile };
}

const show = (m, total) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => `  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`)
    .join('\n');
const rows = [];
for (const f of readdirSync(profDir)
  .filter((n) => n.endsWith('.cpuprofile'))
  .sort()) {
  const s = summarize(join(profDir, f));
  report(`\n== ${f}: ${(s.total / 1e6).toFixed(1)} s sampled\n-- self time by function\n`);
  report(`${show(s.fn, s.total)}\n-- self time by file\n${show(s.byFile, s.total)}\n`);
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread, the others worker threads.
  const [, , , pid, thread] = f.split('.');
  const busiest = (m) => [...m].filter(([name]) => !name.startsWith('(idle)')).sort((a, b) => b[1] - a[1])[0];
  const fn = busiest(s.fn);
  const file = busiest(s.byFile);
  const idle = s.fn.get('(idle) ') ?? 0;
  rows.push({
    thread: `node ${nodeOfPid.get(Number(pid)) ?? pid} ${thread === '0' ? 'main' : `worker ${thread}`}`,
    sampledS: s.total / 1e6,
    busyPct: s.total > 0 ? (100 * (s.total - idle)) / s.total : null,
    topFunction: fn === undefined ? '-' : `${fn[0]} ${((100 * fn[1]) / s.total).toFixed(1)}%`,
    topFile: file === undefined ? '-' : `${file[0]} ${((100 * file[1]) / s.total).toFixed(1)}%`,
  });
}
if (values.keep === undefined) rmSync(profDir, { recursive: true, force: true });
if (values.json) {
  const result = {
    bench: 'profile',
    title: `Where a node's time goes: ${values.standalone ? 'standalone' : 'cluster'} ${op} × ${clients} clients`,
    config: { op, clients, seconds, standalone: values.standalone, logWrites: values['log-writes'] },
    opsPerS: done / seconds,
    errors,
    columns: [
      { key: 'thread', title: 'thread' },
      { key: 'sampledS', title: 'sampled s' },
      { key: 'busyPct', title: 'busy %' },
      { key: 'topFunction', title: 'top function (self)' },
      { key: 'topFile', title: 'top file (self)' },
    ],
    rows,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
