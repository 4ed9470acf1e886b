#!/usr/bin/env node
// bench/bulk-load: one client loads rows of ~1 KB by multi-row INSERTs (default 100,000 rows, 500 per INSERT, one
// after another, default settings, no fault) into a USER table of a 3-node cluster of real `kalam serve`
// processes, through node 1. It reports what the load costs the cluster's Raft clock: elections (the sum over the
// 36 groups of each group's highest term, after minus before), failed INSERTs by error code, rows/s, and every
// node's driver-timing figures from /v1/api/cluster/status (worst tick lateness, ticks late by a heartbeat or more,
// heaviest turn, apply and log write). Issue [M6] §3: this load once caused 807 elections and CLUSTER_UNAVAILABLE.
//
// Usage: node bench/bulk-load/run.mjs [--rows N] [--batch N] [--bytes N] [--cluster-up] [--label NAME] [--json]
//   [--quick] (needs `make build`; writes bench/results/bulk-load[-NAME].json; --quick: 5,000 rows, no file). The
//   nodes are started by the test harness (packages/server/test/support/nodes.ts), or with --cluster-up by `kalam
//   cluster up --nodes 3` (a supervisor, a free base port found at run time; `cluster down --wipe` at the end,
//   whatever happened). The load, the status polls and the term sum live in bench/cluster.mjs.
// Profiling: KALAM_TEST_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node bench/bulk-load/run.mjs … — the nodes
// are stopped with SIGTERM at the end, so each writes its profile.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DriverWorst,
  allStatuses,
  basicAuth,
  failureCount,
  loadHarness,
  loadRows,
  login,
  pollStatuses,
  sqlExecute,
  termSum,
  waitAllLeaders,
} from '../cluster.mjs';
import { machine, percentile, printTable, writeResults } from '../lib.mjs';

const BENCH = 'bulk-load';
const { values } = parseArgs({
  options: {
    rows: { type: 'string' },
    batch: { type: 'string', default: '500' },
    bytes: { type: 'string', default: '1000' },
    label: { type: 'string' },
    urls: { type: 'string' },
    'cluster-up': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const ROWS = Number(values.rows ?? (quick ? 5_000 : 100_000));
const BATCH = Number(values.batch);
const BYTES = Number(values.bytes);
/** How often every node's status is polled during the load (the driver window covers the last 600 ticks). */
const POLL_MS = 2_000;
const progress = (s) => process.stderr.write(`bench ${BENCH}: ${s}\n`);

const { KalamNodes, ROOT_PASSWORD } = await loadHarness(BENCH);
let basicRoot = basicAuth('root', process.env.KALAM_BENCH_ROOT_PASSWORD ?? ROOT_PASSWORD);

const KALAM = fileURLToPath(new URL('../../bin/kalam', import.meta.url));

function portFree(port) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** `kalam cluster up --nodes 3` on a base port whose API and Raft ports are free; returns its folder and URLs. */
async function clusterUp() {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-bulk-load-'));
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = [0, 1, 2].flatMap((i) => [base + i, base + 100 + i]);
    if (!(await Promise.all(ports.map(portFree))).every(Boolean)) continue;
    try {
      execFileSync(
        process.execPath,
        [KALAM, 'cluster', 'up', '--nodes', '3', '--dir', dir, '--base-port', String(base)],
        {
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      );
    } catch {
      continue;
    }
    const password = JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')).password;
    return { dir, password, urls: [0, 1, 2].map((i) => `http://127.0.0.1:${base + i}`) };
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error('no free base port for kalam cluster up');
}

function clusterDown(dir) {
  try {
    execFileSync(process.execPath, [KALAM, 'cluster', 'down', '--dir', dir, '--wipe'], { stdio: 'ignore' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --urls A,B,C: a cluster started elsewhere (root password given by KALAM_BENCH_ROOT_PASSWORD).
const up = values['cluster-up'] ? await clusterUp() : undefined;
const nodes = values.urls === undefined && up === undefined ? await KalamNodes.start({ members: 3 }) : undefined;
const urls = up?.urls ?? (nodes === undefined ? values.urls.split(',') : nodes.ids().map((id) => nodes.url(id)));
if (up !== undefined) basicRoot = basicAuth('root', up.password);
let result;
try {
  await waitAllLeaders(urls, basicRoot, Date.now() + 30_000);
  await sqlExecute(
    urls[0],
    basicRoot,
    "CREATE NAMESPACE bench; CREATE USER TABLE bench.bulk (id BIGINT PRIMARY KEY, v TEXT); CREATE USER 'loader' WITH PASSWORD 'loader-pw' ROLE user",
  );
  const auth = await login(urls[0], 'loader', 'loader-pw');
  // A quiet moment after the DDL, so that the baseline terms are settled.
  await new Promise((r) => setTimeout(r, 1_000));
  const before = termSum(await allStatuses(urls, basicRoot));

  const worst = new DriverWorst(urls.length);
  const stopPolling = pollStatuses(urls, basicRoot, POLL_MS, (statuses) => worst.fold(statuses));
  const load = await loadRows({
    url: urls[0],
    auth,
    table: 'bench.bulk',
    rows: ROWS,
    batch: BATCH,
    bytes: BYTES,
    onProgress: progress,
  });
  await stopPolling();
  const afterStatuses = await allStatuses(urls, basicRoot);
  worst.fold(afterStatuses);
  const after = termSum(afterStatuses);
  const { latenciesMs } = load;
  result = {
    bench: BENCH,
    title: `one client loads ${ROWS} rows of ${BYTES} bytes by ${BATCH}-row INSERTs into a 3-node cluster`,
    label: values.label ?? null,
    at: new Date().toISOString(),
    machine: machine(),
    loadavg: loadavg(),
    settings: {
      rows: ROWS,
      batch: BATCH,
      bytes: BYTES,
      via: 'node 1',
      user: 'loader',
      table: 'USER',
      nodes: up !== undefined ? 'kalam cluster up' : nodes !== undefined ? 'test harness' : 'given --urls',
    },
    elections: after - before,
    termSumBefore: before,
    termSumAfter: after,
    insertsFailed: failureCount(load.failures),
    failures: load.failures,
    rowsAcknowledged: load.acknowledged,
    seconds: Math.round(load.seconds * 10) / 10,
    rowsPerSecond: Math.round(load.acknowledged / load.seconds),
    insertMsP50: Math.round(percentile(latenciesMs, 50)),
    insertMsP99: Math.round(percentile(latenciesMs, 99)),
    insertMsMax: Math.round(latenciesMs[latenciesMs.length - 1]),
    nodes: worst.nodes.map((w, i) => ({ node: `node ${i + 1}`, ...w })),
  };
  // SIGTERM, so that a node run with --cpu-prof writes its profile.
  for (const id of nodes?.ids() ?? []) await nodes.kill(id, 'SIGTERM');
} finally {
  await nodes?.close();
  if (up !== undefined) clusterDown(up.dir);
}

const summary = [
  { what: 'rows × bytes, per INSERT', value: `${ROWS} × ${BYTES}, ${BATCH}` },
  { what: 'elections (term sum growth)', value: result.elections },
  { what: 'INSERTs failed', value: `${result.insertsFailed} ${JSON.stringify(result.failures)}` },
  { what: 'rows/s', value: result.rowsPerSecond },
  { what: 'INSERT ms p50 / p99 / max', value: `${result.insertMsP50} / ${result.insertMsP99} / ${result.insertMsMax}` },
  { what: 'load average (1, 5, 15 min)', value: result.loadavg.map((x) => x.toFixed(2)).join(' ') },
];
// `kalam bench bulk-load` renders `columns` over `rows`: the summary above, one line per figure.
result.columns = [
  { key: 'what', title: 'bulk load' },
  { key: 'value', title: 'value' },
];
result.rows = summary;
if (values.json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  printTable(result.columns, summary);
  process.stdout.write('\n');
  printTable(
    [
      { key: 'node', title: 'node' },
      { key: 'tickLateMsMaxEver', title: 'tick late ms max' },
      { key: 'lateTicks', title: 'ticks late ≥ heartbeat (worst 60 s)' },
      { key: 'turnMsMax', title: 'turn ms max' },
      { key: 'applyMsMax', title: 'apply ms max' },
      { key: 'persistMsMax', title: 'log write ms max' },
    ],
    result.nodes,
    1,
  );
}
if (!quick) {
  const name = values.label === undefined ? BENCH : `${BENCH}-${values.label}`;
  progress(`results in ${writeResults(name, result)}`);
}
