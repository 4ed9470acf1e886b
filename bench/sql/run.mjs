#!/usr/bin/env node
// bench/sql: single-row INSERT and point SELECT over the HTTP API (/v1/api/sql, Bearer tokens) against a 3-node
// cluster and against a standalone node, at 1, 16 and 64 concurrent clients (closed loop, each client a
// different user, so rows spread over the user shards; clients round-robin over the nodes); then the
// standalone executor against applying the same commands straight to the state machines.
//
// Usage: node bench/sql/run.mjs [--json] [--quick]   (needs `make build`; --quick: 1.5 s per point, no results file)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { machine, printTable, writeResults } from '../lib.mjs';
import { INSERT_SQL, ROW_VALUE, SELECT_SQL, basicAuth, postJson, prepareKalam } from './kalam.mjs';

const BENCH = 'sql';
const { values } = parseArgs({
  options: { json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } },
});
const quick = values.quick;
const POINT_MS = quick ? 1_500 : 6_000;
const CLIENTS = [1, 16, 64];
const progress = (s) => process.stderr.write(`bench ${BENCH}: ${s}\n`);

let harness;
let kalamdb;
try {
  harness = await import('../../packages/server/dist/test/support/nodes.js');
  kalamdb = await import('@kalam/kalamdb');
} catch (error) {
  process.stderr.write(`bench ${BENCH}: not built (${error.message}): run \`make build\`\n`);
  process.exit(2);
}
const { KalamNodes, ROOT_PASSWORD } = harness;

const basicRoot = basicAuth('root', ROOT_PASSWORD);

function percentile(sorted, p) {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function point(mode, op, urls, tokens, clients, nextId) {
  const latencies = [];
  let errors = 0;
  const end = performance.now() + POINT_MS;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const url = urls[c % urls.length];
      const auth = tokens[c];
      let k = 0;
      while (performance.now() < end) {
        const id = op === 'insert' ? nextId[c]++ : k++ % Math.max(1, nextId[c]);
        const sql = op === 'insert' ? INSERT_SQL : SELECT_SQL;
        const params = op === 'insert' ? [id, ROW_VALUE] : [id];
        const s = performance.now();
        const r = await postJson(url, '/v1/api/sql', { sql, params }, auth).catch(() => ({ status: 'error' }));
        if (r.status === 'success') latencies.push(performance.now() - s);
        else errors++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    mode,
    op,
    clients,
    opsPerSec: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
  };
}

async function measureMode(mode) {
  progress(`${mode}: starting`);
  const nodes = await KalamNodes.start({ members: mode === 'cluster' ? 3 : 0 });
  try {
    const urls = nodes.ids().map((id) => nodes.url(id));
    const tokens = await prepareKalam(urls, Math.max(...CLIENTS), basicRoot);
    const nextId = tokens.map(() => 0);
    const rows = [];
    for (const op of ['insert', 'select']) {
      for (const clients of CLIENTS) {
        progress(`${mode} ${op} × ${clients}`);
        rows.push(await point(mode, op, urls, tokens, clients, nextId));
      }
    }
    return rows;
  } finally {
    await nodes.close();
  }
}

/** The standalone executor against applying the same commands straight to the state machines. */
function executorOverhead() {
  const { DataStore, StateMachines, StandaloneExecutor, encodeCommand } = kalamdb;
  const N = quick ? 3_000 : 20_000;
  const schema = {
    columns: [
      { name: 'id', type: 'BIGINT', notNull: true, default: null },
      { name: 'v', type: 'TEXT', notNull: false, default: null },
    ],
    primaryKey: 'id',
    options: {},
  };
  const run = (viaExecutor) => {
    const dir = mkdtempSync(join(tmpdir(), 'kalam-bench-sql-'));
    try {
      const machines = new StateMachines(DataStore.open(join(dir, 'data.db')), {
        numUserShards: 32,
        numSharedShards: 1,
      });
      const ex = new StandaloneExecutor(machines);
      void ex.executeSystem({ type: 'CreateNamespace', namespaceId: 'b', createdBy: null, createdAt: 1 });
      void ex.executeSystem({ type: 'CreateTable', tableId: 'b.kv', tableType: 'SHARED', schema, createdAt: 1 });
      const sm = machines.sharedShards[0];
      const t0 = performance.now();
      for (let i = 0; i < N; i++) {
        const cmd = {
          type: 'Insert',
          tableId: 'b.kv',
          rows: [{ id: i, v: 'x'.repeat(80) }],
          seqBase: i,
          at: 1,
          metaIndex: 2,
        };
        if (viaExecutor) void ex.executeSharedData(cmd);
        else sm.apply([{ index: sm.appliedIndex() + 1, term: 0, kind: 'command', data: encodeCommand(cmd) }]);
      }
      return N / ((performance.now() - t0) / 1000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  // Alternate and take the best of three each, so that warm-up and noise do not decide it.
  const direct = [];
  const executor = [];
  for (let i = 0; i < 3; i++) {
    direct.push(run(false));
    executor.push(run(true));
  }
  const d = Math.max(...direct);
  const e = Math.max(...executor);
  return { commands: N, directOpsPerSec: d, executorOpsPerSec: e, standaloneOverheadPct: ((d - e) / d) * 100 };
}

const results = [...(await measureMode('standalone')), ...(await measureMode('cluster'))];
progress('executor overhead');
const overhead = executorOverhead();
const result = {
  bench: BENCH,
  title: 'single-row INSERT and point SELECT over HTTP, 3-node cluster and standalone',
  startedAt: new Date().toISOString(),
  machine: machine(),
  config: { pointMs: POINT_MS, clients: CLIENTS, quick },
  columns: [
    { key: 'mode', title: 'mode' },
    { key: 'op', title: 'op' },
    { key: 'clients', title: 'clients' },
    { key: 'opsPerSec', title: 'ops/s' },
    { key: 'p50Ms', title: 'p50 ms' },
    { key: 'p99Ms', title: 'p99 ms' },
    { key: 'errors', title: 'errors' },
  ],
  rows: results,
  results,
  standaloneOverheadPct: overhead.standaloneOverheadPct,
  executor: overhead,
  resultsFile: quick ? null : `bench/results/${BENCH}.json`,
};
if (!quick) writeResults(BENCH, result);
if (values.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`${BENCH}: ${result.title}`);
  printTable(result.columns, results);
  console.log(
    `standalone executor vs applying straight to the state machines: ${overhead.executorOpsPerSec.toFixed(0)} vs ${overhead.directOpsPerSec.toFixed(0)} commands/s (${overhead.standaloneOverheadPct.toFixed(1)} % overhead)`,
  );
  if (!quick) console.log(`\nwritten to ${result.resultsFile}`);
}
