#!/usr/bin/env node
// bench/multiraft: three real node processes on loopback, 36 groups each, fsync on (SQLite WAL,
// synchronous=FULL), 100-byte key-value commands spread over the groups.
//
// Measures, in this order: idle CPU % and RSS per node with all 36 groups idle; commits/s and latency
// p50/p99 at 1, 16 and 64 concurrent proposers (closed loop, inside the node processes, each proposer
// sending to the groups its node leads, as a leader-aware client would); fsyncs/s and commands per fsync;
// leader changes during a steady load; failover after SIGKILL of the node leading the most groups (time
// from the kill until every group it led has a new leader that acknowledged a write), over several kills.
//
// Usage: node bench/multiraft/run.mjs [--json] [--quick]
// --quick shortens every phase (a smoke run: 2 s loads, 10 s steady, 2 kills). Writes
// bench/results/multiraft.json unless --quick. Needs `make build` (it runs the test harness's kv-node).
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { formatCell, machine, printTable, writeResults } from '../lib.mjs';

const BENCH = 'multiraft';
const { values } = parseArgs({
  options: { json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } },
});
const quick = values.quick;
const PHASE = {
  idleMs: quick ? 2_000 : 10_000,
  loadMs: quick ? 2_000 : 10_000,
  steadyMs: quick ? 10_000 : 60_000,
  steadyProposers: 16,
  kills: quick ? 2 : 5,
  proposers: [1, 16, 64],
};

let TestCluster;
try {
  ({ TestCluster } = await import('../../packages/multiraft/dist/test/support/cluster.js'));
} catch (error) {
  process.stderr.write(
    `bench ${BENCH}: the multiraft test harness is not built (${error.message}): run \`make build\`\n`,
  );
  process.exit(2);
}

const progress = (s) => process.stderr.write(`bench ${BENCH}: ${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function statuses(c) {
  const ids = c.ids().filter((id) => c.isRunning(id));
  return new Map(await Promise.all(ids.map(async (id) => [id, await c.status(id)])));
}

async function idle(c) {
  const before = await statuses(c);
  const t0 = process.hrtime.bigint();
  await sleep(PHASE.idleMs);
  const after = await statuses(c);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1e3;
  const perNode = [...after].map(([id, s]) => {
    const b = before.get(id).cpu;
    const usedUs = s.cpu.user - b.user + (s.cpu.system - b.system);
    return { node: id, cpuPct: (100 * usedUs) / wallUs, rssMb: s.memory.rss / 2 ** 20 };
  });
  return perNode;
}

/** Runs `total` proposers spread over the nodes, each proposing to the groups its node leads. */
async function load(c, total, durationMs) {
  const ids = c.ids();
  const share = ids.map((_, i) => Math.floor(total / ids.length) + (i < total % ids.length ? 1 : 0));
  const before = await statuses(c);
  const t0 = Date.now();
  const results = await Promise.all(
    ids.map((id, i) =>
      share[i] === 0
        ? null
        : c.api(
            id,
            '/bench',
            { proposers: share[i], durationMs, valueBytes: 100, onlyLocal: true },
            durationMs + 30_000,
          ),
    ),
  );
  const elapsedMs = Date.now() - t0;
  const after = await statuses(c);
  const latencies = results.flatMap((r) => (r === null ? [] : r.latenciesMs)).sort((a, b) => a - b);
  const errors = results.reduce((n, r) => n + (r?.errors ?? 0), 0);
  let writes = 0;
  let entries = 0;
  let leaderChanges = 0;
  for (const [id, s] of after) {
    const b = before.get(id);
    writes += s.logStore.transactions - b.logStore.transactions;
    entries += s.logStore.entriesWritten - b.logStore.entriesWritten;
    leaderChanges += s.stats.leaderChanges - b.stats.leaderChanges;
  }
  const seconds = elapsedMs / 1000;
  return {
    proposers: total,
    commits: latencies.length,
    errors,
    commitsPerSec: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    fsyncsPerSec: writes / seconds,
    commandsPerFsync: writes === 0 ? 0 : entries / writes,
    leaderChanges,
  };
}

async function failover(c) {
  const samples = [];
  for (let k = 0; k < PHASE.kills; k++) {
    const leaders = await c.waitAllLeaders(30_000);
    const counts = new Map();
    for (const l of leaders.values()) counts.set(l, (counts.get(l) ?? 0) + 1);
    const victim = [...counts].sort((a, b) => b[1] - a[1])[0][0];
    const led = [...leaders].filter(([, l]) => l === victim).map(([g]) => g);
    const survivor = c.ids().find((id) => id !== victim);
    progress(`kill ${k + 1}/${PHASE.kills}: SIGKILL node ${victim}, which leads ${led.length} groups`);
    const t0 = performance.now();
    await c.kill(victim, 'SIGKILL');
    const perGroup = await Promise.all(
      led.map(async (group) => {
        for (let i = 0; i < 400; i++) {
          const r = await c.api(survivor, '/propose', { group, key: `failover-${k}`, value: 'x', timeoutMs: 1000 });
          if (r.ok) return performance.now() - t0;
          await sleep(5);
        }
        return Infinity;
      }),
    );
    samples.push({ victim, groups: led.length, allGroupsMs: Math.max(...perGroup) });
    await c.startNode(victim);
    await sleep(2_000); // let it catch up before the next kill
  }
  const all = samples.map((s) => s.allGroupsMs).sort((a, b) => a - b);
  return { kills: samples.length, p50Ms: percentile(all, 50), maxMs: all[all.length - 1], samples };
}

progress('starting 3 nodes × 36 groups');
const c = await TestCluster.start({ nodes: 3 });
let result;
try {
  await c.waitAllLeaders(30_000);
  await sleep(quick ? 1_000 : 5_000); // let start-up work (module loading, JIT) settle before measuring idle
  progress(`idle for ${PHASE.idleMs} ms`);
  const idleNodes = await idle(c);
  const throughput = [];
  for (const p of PHASE.proposers) {
    progress(`${p} proposers for ${PHASE.loadMs} ms`);
    throughput.push(await load(c, p, PHASE.loadMs));
  }
  progress(`steady load: ${PHASE.steadyProposers} proposers for ${PHASE.steadyMs} ms`);
  const steady = await load(c, PHASE.steadyProposers, PHASE.steadyMs);
  const peak = await statuses(c);
  const fo = await failover(c);
  result = {
    bench: BENCH,
    title: '3 real nodes on loopback, 36 groups, fsync on, 100-byte commands',
    startedAt: new Date().toISOString(),
    machine: machine(),
    config: { ...PHASE, quick },
    columns: [
      { key: 'proposers', title: 'proposers' },
      { key: 'commitsPerSec', title: 'commits/s' },
      { key: 'p50Ms', title: 'p50 ms' },
      { key: 'p99Ms', title: 'p99 ms' },
      { key: 'fsyncsPerSec', title: 'fsyncs/s' },
      { key: 'commandsPerFsync', title: 'cmds/fsync' },
      { key: 'errors', title: 'errors' },
    ],
    rows: throughput,
    throughput: throughput.map(({ proposers, commitsPerSec, p50Ms, p99Ms }) => ({
      proposers,
      commitsPerSec,
      p50Ms,
      p99Ms,
    })),
    fsync: throughput.map(({ proposers, fsyncsPerSec, commandsPerFsync }) => ({
      proposers,
      fsyncsPerSec,
      commandsPerFsync,
    })),
    steady: {
      proposers: PHASE.steadyProposers,
      durationMs: PHASE.steadyMs,
      commitsPerSec: steady.commitsPerSec,
      errors: steady.errors,
    },
    leaderChangesSteady: steady.leaderChanges,
    failover: fo,
    idleCpuPct: Math.max(...idleNodes.map((n) => n.cpuPct)),
    idle: idleNodes,
    idleRssMb: Math.max(...idleNodes.map((n) => n.rssMb)),
    // Peak RSS includes the in-process load generators of the 64-proposer phase.
    rssMb: Math.max(...[...peak.values()].map((s) => s.memory.rss / 2 ** 20)),
    resultsFile: quick ? null : 'bench/results/multiraft.json',
  };
} finally {
  await c.close();
}

if (!quick) {
  writeResults(BENCH, result);
}
if (values.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`${BENCH}: ${result.title}`);
  printTable(result.columns, result.rows);
  console.log(`leader changes during ${PHASE.steadyMs / 1000} s of steady load: ${result.leaderChangesSteady}`);
  console.log(
    `failover after SIGKILL of a leader: p50 ${formatCell(result.failover.p50Ms)} ms, max ${formatCell(result.failover.maxMs)} ms over ${result.failover.kills} kills`,
  );
  console.log(`idle CPU per node: ${result.idle.map((n) => `node ${n.node} ${n.cpuPct.toFixed(2)} %`).join(', ')}`);
  console.log(
    `RSS per node: ${result.idleRssMb.toFixed(0)} MB idle, ${result.rssMb.toFixed(0)} MB at peak (max over nodes)`,
  );
  if (!quick) console.log(`\nwritten to ${result.resultsFile}`);
}
