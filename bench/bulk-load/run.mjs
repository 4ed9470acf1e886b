#!/usr/bin/env node
// bench/bulk-load: one client loads rows of ~1 KB by multi-row INSERTs (default 100,000 rows, 500 per INSERT, one
// after another, default settings, no fault) into a USER table of a 3-node cluster of real `kalam serve`
// processes, through node 1. It reports what the load costs the cluster's Raft clock: elections (the sum over the
// 36 groups of each group's highest term, after minus before), failed INSERTs by error code, rows/s, and every
// node's driver-timing figures from /v1/api/cluster/status (worst tick lateness, ticks late by a heartbeat or more,
// heaviest turn, apply and log write). Issue [M6] §3: this load once caused 807 elections and CLUSTER_UNAVAILABLE.
//
// Usage: node bench/bulk-load/run.mjs [--rows N] [--batch N] [--bytes N] [--cluster-up] [--label NAME] [--json]
//   (needs `make build`; writes bench/results/bulk-load[-NAME].json). The nodes are started by the test harness
//   (packages/server/test/support/nodes.ts), or with --cluster-up by `kalam cluster up --nodes 3` (a supervisor,
//   a free base port found at run time; `cluster down --wipe` at the end, whatever happened).
// Profiling: KALAM_TEST_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node bench/bulk-load/run.mjs … — the nodes
// are stopped with SIGTERM at the end, so each writes its profile.
/* global fetch, AbortSignal */
import { execFileSync } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { machine, printTable, writeResults } from '../lib.mjs';

const BENCH = 'bulk-load';
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '500' },
    bytes: { type: 'string', default: '1000' },
    label: { type: 'string' },
    urls: { type: 'string' },
    'cluster-up': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const BATCH = Number(values.batch);
const BYTES = Number(values.bytes);
/** How often every node's status is polled during the load (the driver window covers the last 600 ticks). */
const POLL_MS = 2_000;
const REQUEST_TIMEOUT_MS = 30_000;
const progress = (s) => process.stderr.write(`bench ${BENCH}: ${s}\n`);

let harness;
try {
  harness = await import('../../packages/server/dist/test/support/nodes.js');
} catch (error) {
  process.stderr.write(`bench ${BENCH}: not built (${error.message}): run \`make build\`\n`);
  process.exit(2);
}
const { KalamNodes, ROOT_PASSWORD } = harness;
const rootPassword = process.env.KALAM_BENCH_ROOT_PASSWORD ?? ROOT_PASSWORD;
let basicRoot = `Basic ${Buffer.from(`root:${rootPassword}`).toString('base64')}`;

async function call(url, path, { body, auth, method = body === undefined ? 'GET' : 'POST' } = {}) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return { status: res.status, body: await res.json() };
}

async function status(url) {
  return (await call(url, '/v1/api/cluster/status', { auth: basicRoot })).body;
}

/** The sum over groups of the highest term any node reports: it grows by one or more with every election. */
function termSum(statuses) {
  const best = new Map();
  for (const s of statuses) for (const g of s.groups ?? []) best.set(g.name, Math.max(best.get(g.name) ?? 0, g.term));
  return [...best.values()].reduce((a, b) => a + b, 0);
}

async function allStatuses(urls) {
  return Promise.all(urls.map((u) => status(u).catch(() => ({ groups: [], driver: null }))));
}

async function waitAllLeaders(urls, deadlineMs) {
  for (;;) {
    const statuses = await allStatuses(urls);
    if (statuses.every((s) => s.groups.length > 0 && s.groups.every((g) => g.leader !== null))) return;
    if (Date.now() > deadlineMs) throw new Error('the cluster did not elect every leader in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}

function insertSql(from, count, filler) {
  const rows = [];
  for (let id = from; id < from + count; id++) rows.push(`(${id}, '${filler}')`);
  return `INSERT INTO bench.bulk (id, v) VALUES ${rows.join(', ')}`;
}

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
if (up !== undefined) basicRoot = `Basic ${Buffer.from(`root:${up.password}`).toString('base64')}`;
let result;
try {
  await waitAllLeaders(urls, Date.now() + 30_000);
  const setup = await call(urls[0], '/v1/api/sql', {
    auth: basicRoot,
    body: {
      sql: "CREATE NAMESPACE bench; CREATE USER TABLE bench.bulk (id BIGINT PRIMARY KEY, v TEXT); CREATE USER 'loader' WITH PASSWORD 'loader-pw' ROLE user",
    },
  });
  if (setup.status !== 200) throw new Error(`setup failed: ${JSON.stringify(setup.body)}`);
  const login = await call(urls[0], '/v1/api/auth/login', { body: { username: 'loader', password: 'loader-pw' } });
  const auth = `Bearer ${login.body.access_token}`;
  // A quiet moment after the DDL, so that the baseline terms are settled.
  await new Promise((r) => setTimeout(r, 1_000));
  const before = termSum(await allStatuses(urls));

  const worst = new Map(
    urls.map((u) => [u, { tickLateMsMax: 0, lateTicks: 0, turnMsMax: 0, applyMsMax: 0, persistMsMax: 0 }]),
  );
  const fold = (statuses) => {
    statuses.forEach((s, i) => {
      const d = s.driver;
      const w = worst.get(urls[i]);
      if (d === null || d === undefined || w === undefined) return;
      w.tickLateMsMax = Math.max(w.tickLateMsMax, d.tick_late_ms_max);
      w.lateTicks = Math.max(w.lateTicks, d.ticks_late_over_heartbeat);
      w.turnMsMax = Math.max(w.turnMsMax, d.turn_ms_max);
      w.applyMsMax = Math.max(w.applyMsMax, d.apply_ms_max);
      w.persistMsMax = Math.max(w.persistMsMax, d.persist_ms_max);
    });
  };
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      fold(await allStatuses(urls));
    }
  })();

  const filler = 'x'.repeat(BYTES);
  const failures = {};
  let acknowledged = 0;
  const latencies = [];
  const startedAt = performance.now();
  for (let from = 0; from < ROWS; from += BATCH) {
    const count = Math.min(BATCH, ROWS - from);
    const t0 = performance.now();
    const r = await call(urls[0], '/v1/api/sql', { auth, body: { sql: insertSql(from, count, filler) } }).catch(
      (err) => ({ status: 0, body: { error: { code: `client: ${err.name}` } } }),
    );
    latencies.push(performance.now() - t0);
    if (r.status === 200) acknowledged += count;
    else {
      const code = r.body?.error?.code ?? `HTTP ${r.status}`;
      failures[code] = (failures[code] ?? 0) + 1;
    }
    if ((from / BATCH) % 20 === 19) progress(`${from + count} rows sent, ${acknowledged} acknowledged`);
  }
  const elapsedS = (performance.now() - startedAt) / 1000;
  polling = false;
  await poller;
  const afterStatuses = await allStatuses(urls);
  fold(afterStatuses);
  const after = termSum(afterStatuses);
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  const perNode = urls.map((u, i) => ({
    node: `node ${i + 1}`,
    ...worst.get(u),
    tickLateMsMaxEver: afterStatuses[i].driver?.tick_late_ms_max_ever ?? null,
  }));
  result = {
    bench: BENCH,
    label: values.label ?? null,
    at: new Date().toISOString(),
    machine: machine(),
    loadavg: (await import('node:os')).loadavg(),
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
    insertsFailed: Object.values(failures).reduce((a, b) => a + b, 0),
    failures,
    rowsAcknowledged: acknowledged,
    seconds: Math.round(elapsedS * 10) / 10,
    rowsPerSecond: Math.round(acknowledged / elapsedS),
    insertMsP50: Math.round(pct(50)),
    insertMsP99: Math.round(pct(99)),
    insertMsMax: Math.round(latencies[latencies.length - 1]),
    nodes: perNode,
  };
  // SIGTERM, so that a node run with --cpu-prof writes its profile.
  for (const id of nodes?.ids() ?? []) await nodes.kill(id, 'SIGTERM');
} finally {
  await nodes?.close();
  if (up !== undefined) clusterDown(up.dir);
}

if (values.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  printTable(
    [
      { key: 'what', title: 'bulk load' },
      { key: 'value', title: 'value' },
    ],
    [
      { what: 'rows × bytes, per INSERT', value: `${ROWS} × ${BYTES}, ${BATCH}` },
      { what: 'elections (term sum growth)', value: result.elections },
      { what: 'INSERTs failed', value: `${result.insertsFailed} ${JSON.stringify(result.failures)}` },
      { what: 'rows/s', value: result.rowsPerSecond },
      {
        what: 'INSERT ms p50 / p99 / max',
        value: `${result.insertMsP50} / ${result.insertMsP99} / ${result.insertMsMax}`,
      },
      { what: 'load average (1, 5, 15 min)', value: result.loadavg.map((x) => x.toFixed(2)).join(' ') },
    ],
  );
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
const name = values.label === undefined ? BENCH : `${BENCH}-${values.label}`;
progress(`results in ${writeResults(name, result)}`);
