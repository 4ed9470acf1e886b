#!/usr/bin/env node
// bench/roles: the CPU one replicated INSERT costs each node, by the part the node plays in it (issue [M8] "Done
// when": the floor each part of the per-request time has). Every client writes as the same user, so every INSERT goes
// to one user shard; the leader balance is off, so no leadership moves during a window. Setups, each with closed-loop
// clients over their own keep-alive connections (the same load as `kalam bench sql --vs etcd`):
//   - leader:     the clients send to the shard's leader (no forward): the leader's CPU per op is the request (HTTP,
//                 auth, plan, the catalog barrier) plus leading (propose, replicate, log write, apply); each
//                 follower's is following (receive, log write, acknowledge, apply);
//   - follower:   the clients send to a follower, which forwards each write to the leader: the forward's cost;
//   - standalone: a standalone node (no Raft): the request and one apply, with no replication at all.
// For each node: CPU ms per op in all (user + system, every thread, /proc/<pid>/stat) and on its main thread alone
// (/proc/<pid>/task/<pid>/stat; the rest is the log worker, the SQL parser thread, V8's GC helpers and libuv's pool).
// Usage: node bench/roles/run.mjs [--clients 1,16,64] [--duration 5] [--reps 1] [--json] [--quick]
//        (also `kalam bench roles`; needs `make build`; writes bench/results/roles.json; --json prints the result
//        object instead of the table; --quick: 1 and 16 clients, 1 s windows, no results file)
/* global fetch, AbortSignal */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadHarness } from '../cluster.mjs';
import { cpuMs, threadCpuMs } from '../cpu.mjs';
import { machine, percentile, printTable, writeResults } from '../lib.mjs';
import { INSERT_SQL, ROW_VALUE, SCHEMA_SQL, basicAuth, postJson, sqlReplyRows } from '../sql/kalam.mjs';
import { Connection, runWindow } from '../etcd/load.mjs';

const BENCH = 'roles';
const progress = (s) => process.stderr.write(`bench ${BENCH}: ${s}\n`);
const { values } = parseArgs({
  options: {
    clients: { type: 'string' },
    duration: { type: 'string' },
    reps: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const clientCounts = (values.clients ?? (quick ? '1,16' : '1,16,64')).split(',').map(Number);
const durationS = Number(values.duration ?? (quick ? 1 : 5));
const reps = Number(values.reps);
if (
  !clientCounts.every((n) => Number.isInteger(n) && n >= 1 && n <= 256) ||
  !(durationS > 0 && durationS <= 120) ||
  !(Number.isInteger(reps) && reps >= 1 && reps <= 10)
) {
  process.stderr.write('bench roles: --clients takes 1..256 (comma-separated), --duration (0, 120], --reps 1..10\n');
  process.exit(2);
}
const WARMUP_MS = quick ? 300 : 1_000;
const USER = 'r0';
const PASSWORD = 'roles-pw-0';

const { KalamNodes, ROOT_PASSWORD } = await loadHarness(BENCH);

/** Every node's CPU in all and on its main thread, read together. */
function cpuOf(pids) {
  return pids.map((pid) => ({ all: cpuMs(pid), main: threadCpuMs(pid, pid) }));
}

/** Creates the schema and the one user on `url`; returns that user's Bearer header. */
async function prepare(url) {
  const root = basicAuth('root', ROOT_PASSWORD);
  const run = async (sql) => {
    const reply = await postJson(url, '/v1/api/sql', { sql }, root);
    if (reply.status !== 'success') throw new Error(`${sql}: ${JSON.stringify(reply.error)}`);
  };
  await run(SCHEMA_SQL);
  await run(`CREATE USER '${USER}' WITH PASSWORD '${PASSWORD}' ROLE user`);
  const login = await postJson(url, '/v1/api/auth/login', { username: USER, password: PASSWORD });
  if (typeof login.access_token !== 'string') throw new Error(`login failed: ${JSON.stringify(login)}`);
  return `Bearer ${login.access_token}`;
}

/** The API URL of the node leading the user's shard, as a node names it (`X-Kalam-Shard-Leader`) after a write. */
async function shardLeader(url, auth, id) {
  const res = await fetch(`${url}/v1/api/sql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: auth },
    body: JSON.stringify({ sql: INSERT_SQL, params: [id, ROW_VALUE] }),
    signal: AbortSignal.timeout(20_000),
  });
  sqlReplyRows(res.status, await res.text());
  return res.headers.get('x-kalam-shard-leader');
}

/** The node id leading group `name`, as node `url` sees it. */
async function groupLeader(url, name) {
  const res = await fetch(`${url}/v1/api/cluster/status`, {
    headers: { authorization: basicAuth('root', ROOT_PASSWORD) },
    signal: AbortSignal.timeout(20_000),
  });
  const status = await res.json();
  return status.groups.find((g) => g.name === name)?.leader ?? null;
}

let nextId = 1_000;
/** One window of `clients` INSERT loops against `url`; each node's CPU per op in all and on its main thread. */
async function measure({ setup, url, auth, nodes, clients }) {
  const conns = Array.from({ length: clients }, () => new Connection(url));
  const pids = nodes.map((n) => n.pid);
  let cpuStart = null;
  let cpuEnd = null;
  try {
    const window = await runWindow({
      clients,
      warmupMs: WARMUP_MS,
      durationMs: durationS * 1000,
      step: async (c) => {
        const reply = await conns[c].post(
          '/v1/api/sql',
          JSON.stringify({ sql: INSERT_SQL, params: [nextId++, ROW_VALUE] }),
          {
            headers: { authorization: auth },
          },
        );
        sqlReplyRows(reply.status, reply.text);
        return 1;
      },
      // runWindow reads this at the window's start and its end: keep both readings (every node, every thread).
      cpuMs: () => {
        const now = cpuOf(pids);
        if (cpuStart === null) cpuStart = now;
        else cpuEnd = now;
        return 0;
      },
    });
    if (window.errors > 0) progress(`${setup} × ${clients}: ${window.errors} failed, the first: ${window.firstError}`);
    const ops = window.latenciesMs.length;
    const sorted = [...window.latenciesMs].sort((a, b) => a - b);
    const perNode = nodes.map((n, i) => {
      const all = cpuEnd?.[i].all - cpuStart?.[i].all;
      const main = cpuEnd?.[i].main - cpuStart?.[i].main;
      return {
        node: n.id,
        role: n.role,
        cpuMsPerOp: ops > 0 && Number.isFinite(all) ? all / ops : null,
        mainMsPerOp: ops > 0 && Number.isFinite(main) ? main / ops : null,
        coresBusy: Number.isFinite(all) ? all / (durationS * 1000) : null,
      };
    });
    return {
      setup,
      clients,
      opsPerS: ops / durationS,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      errors: window.errors,
      nodes: perNode,
      cpuMsPerOpSum: perNode.every((n) => n.cpuMsPerOp !== null) ? perNode.reduce((s, n) => s + n.cpuMsPerOp, 0) : null,
    };
  } finally {
    conns.forEach((c) => c.close());
  }
}

const started = [];
const stopAll = async () => {
  for (const nodes of started.splice(0)) await nodes.close();
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(130));
  });
}

const loadStart = loadavg();
const windows = [];
let metaSystemLeader = null;
try {
  progress('starting a 3-node cluster (leader balance off) and a standalone node');
  const cluster = await KalamNodes.start({ members: 3, env: { KALAM_CLUSTER_LEADER_BALANCE_INTERVAL_MS: '0' } });
  started.push(cluster);
  const standalone = await KalamNodes.start({ members: 0 });
  started.push(standalone);

  const auth = await prepare(cluster.url(1));
  const leaderUrl = await shardLeader(cluster.url(1), auth, 1);
  const hostOf = (url) => (url === null ? null : new URL(url.includes('://') ? url : `http://${url}`).host);
  const leaderId = cluster.ids().find((id) => hostOf(cluster.url(id)) === hostOf(leaderUrl));
  if (leaderId === undefined) throw new Error(`the shard leader ${leaderUrl} is none of the nodes`);
  const followerId = cluster.ids().find((id) => id !== leaderId);
  metaSystemLeader = await groupLeader(cluster.url(1), 'meta:system');
  progress(`the user's shard is led by node ${leaderId}; meta:system by node ${metaSystemLeader}`);
  const clusterNodes = cluster.ids().map((id) => ({
    id,
    pid: cluster.pid(id),
    role: id === leaderId ? 'leader' : 'follower',
  }));
  const standaloneAuth = await prepare(standalone.url(1));
  const standaloneNodes = [{ id: 1, pid: standalone.pid(1), role: 'standalone' }];

  for (let rep = 1; rep <= reps; rep++) {
    for (const clients of clientCounts) {
      const plans = [
        { setup: 'to the leader', url: cluster.url(leaderId), auth, nodes: clusterNodes, clients },
        { setup: 'through a follower', url: cluster.url(followerId), auth, nodes: clusterNodes, clients },
        { setup: 'standalone', url: standalone.url(1), auth: standaloneAuth, nodes: standaloneNodes, clients },
      ];
      for (const plan of plans) {
        progress(`rep ${rep}: ${plan.setup} × ${clients}`);
        const t0 = performance.now();
        windows.push({ rep, ...(await measure(plan)) });
        if (performance.now() - t0 > (durationS + 60) * 1000) throw new Error('a window overran its time');
      }
      // The leadership must not have moved: a window whose roles changed would be attributed wrongly.
      const now = await groupLeader(cluster.url(leaderId), 'meta:system');
      const shardNow = await shardLeader(cluster.url(leaderId), auth, nextId++);
      if (hostOf(shardNow) !== hostOf(leaderUrl))
        throw new Error(`the shard's leader moved to ${shardNow} during the run`);
      if (now !== metaSystemLeader) progress(`meta:system's leader moved from node ${metaSystemLeader} to ${now}`);
    }
  }
} finally {
  await stopAll();
}

const rows = [];
for (const w of windows) {
  for (const n of w.nodes) {
    rows.push({
      setup: w.setup,
      clients: w.clients,
      opsPerS: Math.round(w.opsPerS),
      lat: `${w.p50Ms?.toFixed(1)} / ${w.p99Ms?.toFixed(1)}`,
      node: `${n.node} ${n.role}${n.role !== 'standalone' && n.node === metaSystemLeader ? ' (meta)' : ''}`,
      cpu: n.cpuMsPerOp,
      main: n.mainMsPerOp,
      cores: n.coresBusy,
      // The window's sum once, on its first node's line.
      sum: n === w.nodes[0] ? w.cpuMsPerOpSum : '',
    });
  }
}
const columns = [
  { key: 'setup', title: 'setup' },
  { key: 'clients', title: 'clients' },
  { key: 'opsPerS', title: 'INSERT/s' },
  { key: 'lat', title: 'p50 / p99 ms' },
  { key: 'node', title: 'node' },
  { key: 'cpu', title: 'CPU ms/op' },
  { key: 'main', title: 'main thread ms/op' },
  { key: 'cores', title: 'cores busy' },
  { key: 'sum', title: 'all nodes ms/op' },
];
const loadEnd = loadavg();
const loadText = `load average ${loadStart.map((x) => x.toFixed(2)).join(' ')} at the start, ${loadEnd.map((x) => x.toFixed(2)).join(' ')} at the end`;
const result = {
  bench: BENCH,
  title: "CPU per replicated INSERT by each node's part (one user's shard)",
  machine: machine(),
  startedLoadAvg: loadStart,
  endedLoadAvg: loadEnd,
  config: { clients: clientCounts, durationS, reps, warmupMs: WARMUP_MS, quick },
  metaSystemLeader,
  columns,
  rows,
  notes: [`${loadText}; "(meta)": meta:system's leader`],
  windows,
  resultsFile: quick ? null : `bench/results/${BENCH}.json`,
};
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  printTable(columns, rows, 3);
  process.stdout.write(`${result.notes[0]}\n`);
}
if (!quick) progress(`wrote ${writeResults(BENCH, result)}`);
