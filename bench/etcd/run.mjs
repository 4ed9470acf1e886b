#!/usr/bin/env node
// bench/etcd: Kalam beside etcd on the same machine, under the same closed-loop load, with their windows
// interleaved so that both see the same background load within seconds of each other.
//
// - etcd: a 3-member cluster of the system's `etcd` (Debian: `apt-get install -y etcd-server`) on loopback ports
//   picked at run time, its defaults otherwise (fsync on). Puts and linearizable ranges of one key through the v3
//   HTTP JSON gateway, every client sending to the leader; bulk: a txn of 128 puts (etcd's most per txn).
// - Kalam: a 3-node cluster and a standalone node (the test harness, as bench/sql), single-row INSERT and point
//   SELECT through /v1/api/sql, client c as user b<c> on node c mod n; bulk: one INSERT of 1,000 rows.
// - Both: 80-byte values; each client its own keep-alive connection (one socket); 1, 16 and 64 clients; every
//   measured window after a warm-up on the same connections; bulk by one client, request after request. Windows run
//   etcd, Kalam cluster, Kalam standalone in turn (the order rotating each repetition); the table gives the median
//   over repetitions of throughput, p50 and p99, and Kalam's throughput over etcd's.
//
// Usage: node bench/etcd/run.mjs [--quick] [--reps N] [--duration S] [--clients 1,16,64] [--json]
//   (also `kalam bench sql --vs etcd`; needs `make build`; writes bench/results/etcd.json unless --quick).
//   Exit 2 with one line on stderr when etcd is not installed or the options are bad; KALAM_BENCH_ETCD_BIN names
//   another etcd binary. The etcd members (stopped by PID), the Kalam nodes and every data folder are removed on
//   success, on failure and on Ctrl-C.
// Memory: every Kalam node's and etcd member's RSS (VmRSS, sampled every 250 ms from the start of the first window to
// the end of the last), its peak and its last sample, in the JSON (`rssMb`) and in a line under the table.
// CPU: each side's server processes' CPU time (every thread) over each measured window, per op (or row/key) and as
// cores kept busy — on a machine whose cores are all busy, the side that needs less CPU per op does more ops.
/* global AbortController */
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machine, printTable, writeResults } from '../lib.mjs';
import { cpuMsOf } from '../cpu.mjs';
import { RssSampler, rssText } from '../rss.mjs';
import {
  INSERT_SQL,
  ROW_VALUE,
  SELECT_SQL,
  basicAuth,
  bulkInsertSql,
  prepareKalam,
  sqlReplyRows,
} from '../sql/kalam.mjs';
import { EtcdCluster, etcdVersion } from './cluster.mjs';
import {
  COLUMNS,
  KALAM_ROWS_PER_BULK,
  OPS,
  comparisonRows,
  interleavedPlan,
  parseClients,
  summarize,
  windowStats,
} from './compare.mjs';
import {
  TXN_OPS_MAX,
  parsePutReply,
  parseRangeReply,
  parseTxnPutsReply,
  putRequest,
  rangeRequest,
  txnPutsRequest,
} from './gateway.mjs';
import { Connection, runWindow } from './load.mjs';

const BENCH = 'etcd';
const progress = (s) => process.stderr.write(`bench ${BENCH}: ${s}\n`);
/** Bad options, no etcd, no build: one line on stderr and exit 2 (usage), as the other benchmarks do. */
function cannotRun(message) {
  process.stderr.write(`bench ${BENCH}: ${message}\n`);
  process.exit(2);
}

/** Each client is a Kalam user created before the first window, so the count is bounded. */
const CLIENTS_MAX = 256;
const REPS_MAX = 20;
const DURATION_S_MAX = 600;

let values;
try {
  ({ values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      reps: { type: 'string' },
      duration: { type: 'string' },
      clients: { type: 'string', default: '1,16,64' },
    },
  }));
} catch (error) {
  cannotRun(error.message);
}
const quick = values.quick;
const reps = Number(values.reps ?? (quick ? 1 : 3));
if (!Number.isInteger(reps) || reps < 1 || reps > REPS_MAX)
  cannotRun(`--reps takes 1 to ${REPS_MAX}, not ${values.reps}`);
const durationS = Number(values.duration ?? (quick ? 1 : 5));
if (!(durationS > 0 && durationS <= DURATION_S_MAX)) {
  cannotRun(`--duration takes seconds in (0, ${DURATION_S_MAX}], not ${values.duration}`);
}
let clients;
try {
  clients = parseClients(values.clients, CLIENTS_MAX);
} catch (error) {
  cannotRun(error.message);
}
const DURATION_MS = durationS * 1000;
/** Long enough to open every connection and get past the first, slower requests on each. */
const WARMUP_MS = quick ? 300 : 1_000;
/** A 1,000-row INSERT can take a few hundred ms on a loaded machine: a bulk window holds several even when short. */
const BULK_WINDOW_MS_MIN = 2_000;

const etcdBin = process.env.KALAM_BENCH_ETCD_BIN ?? 'etcd';
const etcdVersionText = etcdVersion(etcdBin);
if (etcdVersionText === null) {
  cannotRun(`etcd is not installed (\`${etcdBin}\` cannot be run): apt-get install -y etcd-server, then run again`);
}

let harness;
try {
  harness = await import('../../packages/server/dist/test/support/nodes.js');
} catch (error) {
  cannotRun(`not built (${error.message}): run \`make build\``);
}
const { KalamNodes, ROOT_PASSWORD } = harness;

const dir = mkdtempSync(join(tmpdir(), 'kalam-bench-etcd-'));
const running = { etcd: null, kalam: [] };
const rss = new RssSampler();
// The last resort when the process ends some other way (an uncaught error): members die with it, data goes.
process.on('exit', () => {
  running.etcd?.killNow();
  rmSync(dir, { recursive: true, force: true });
});
const abort = new AbortController();
// Every client's request in flight listens to the signal: up to CLIENTS_MAX at once, more than Node's default 10.
setMaxListeners(CLIENTS_MAX + 10, abort.signal);
for (const name of ['SIGINT', 'SIGTERM']) {
  process.on(name, () => {
    if (!abort.signal.aborted) progress(`${name}: stopping the windows, the clusters and removing their data`);
    abort.abort();
  });
}

/**
 * The etcd side, every window's clients connected to the member that leads at its start. `written[c]`: the keys client c
 * has put so far (bench/c<c>/0, 1, …); its reads pick among them and must find what they pick.
 */
function etcdSide(cluster) {
  const written = [];
  let bulkKeys = 0;
  return {
    pids: () => cluster.members.map((m) => m.proc.pid),
    async open(op, count, signal) {
      const leader = await cluster.leader();
      const conns = Array.from({ length: count }, () => new Connection(leader.clientUrl));
      const send = async (c, { path, body }) => conns[c].post(path, body, { signal });
      const steps = {
        write: async (c) => {
          const n = written[c] ?? 0;
          const reply = await send(c, putRequest(`bench/c${c}/${n}`, ROW_VALUE));
          parsePutReply(reply.status, reply.text);
          written[c] = n + 1;
          return 1;
        },
        read: async (c) => {
          const have = written[c] ?? 0;
          const reply = await send(c, rangeRequest(`bench/c${c}/${Math.floor(Math.random() * Math.max(1, have))}`));
          const { count: found } = parseRangeReply(reply.status, reply.text);
          if (have > 0 && found !== 1) throw new Error(`etcd: a range of a written key found ${found} keys`);
          return 1;
        },
        bulk: async (c) => {
          const first = bulkKeys;
          bulkKeys += TXN_OPS_MAX;
          const pairs = Array.from({ length: TXN_OPS_MAX }, (_, i) => [`bench/bulk/${first + i}`, ROW_VALUE]);
          const reply = await send(c, txnPutsRequest(pairs));
          return parseTxnPutsReply(reply.status, reply.text, TXN_OPS_MAX).puts;
        },
      };
      return { step: steps[op], close: () => conns.forEach((conn) => conn.close()) };
    },
  };
}

/**
 * The Kalam side. `tokens`: one Bearer header per client, and one more for the bulk loader (its own user, its own ids).
 * `nextId[u]`: the rows user u has inserted so far (ids 0, 1, …); its reads pick among them and must find one row.
 */
function kalamSide(urls, tokens, pids) {
  const nextId = tokens.map(() => 0);
  const bulkUser = tokens.length - 1;
  return {
    pids: () => pids,
    async open(op, count, signal) {
      const users = op === 'bulk' ? [bulkUser] : Array.from({ length: count }, (_, c) => c);
      const conns = users.map((u) => new Connection(urls[u % urls.length]));
      const sql = async (c, text, params) => {
        const headers = { authorization: tokens[users[c]] };
        const reply = await conns[c].post('/v1/api/sql', JSON.stringify({ sql: text, params }), { headers, signal });
        return sqlReplyRows(reply.status, reply.text);
      };
      const steps = {
        write: async (c) => {
          await sql(c, INSERT_SQL, [nextId[users[c]], ROW_VALUE]);
          nextId[users[c]]++;
          return 1;
        },
        read: async (c) => {
          const have = nextId[users[c]];
          const rows = await sql(c, SELECT_SQL, [Math.floor(Math.random() * Math.max(1, have))]);
          if (have > 0 && rows.length !== 1) throw new Error(`kalam: a SELECT of a written row found ${rows.length}`);
          return 1;
        },
        bulk: async (c) => {
          const first = nextId[bulkUser];
          nextId[bulkUser] += KALAM_ROWS_PER_BULK;
          await sql(c, bulkInsertSql(first, KALAM_ROWS_PER_BULK), []);
          return KALAM_ROWS_PER_BULK;
        },
      };
      return { step: steps[op], close: () => conns.forEach((conn) => conn.close()) };
    },
  };
}

/** The names under which the processes' RSS is reported: 'kalam-cluster node 1', …, 'etcd m1', …. */
const rssName = (system, node) => `${system} ${node}`;

/** Starts Kalam nodes and registers them for the cleanup (and their memory for sampling) before anything can fail. */
async function startKalam(members, signal) {
  const nodes = await KalamNodes.start({ members });
  running.kalam.push(nodes);
  const system = members > 0 ? 'kalam-cluster' : 'kalam-standalone';
  for (const id of nodes.ids()) rss.track(rssName(system, `node ${id}`), nodes.pid(id));
  const urls = nodes.ids().map((id) => nodes.url(id));
  const tokens = await prepareKalam(urls, Math.max(...clients) + 1, basicAuth('root', ROOT_PASSWORD), signal);
  return kalamSide(
    urls,
    tokens,
    nodes.ids().map((id) => nodes.pid(id)),
  );
}

async function measure(sides, signal) {
  const windows = [];
  const plan = interleavedPlan({ reps, clients });
  for (const [i, w] of plan.entries()) {
    if (signal.aborted) break;
    const what = `${w.system} ${w.op} × ${w.clients}`;
    progress(`[${i + 1}/${plan.length}] rep ${w.rep}: ${what}`);
    const { step, close } = await sides[w.system].open(w.op, w.clients, signal);
    let window;
    try {
      const durationMs = w.op === 'bulk' ? Math.max(DURATION_MS, BULK_WINDOW_MS_MIN) : DURATION_MS;
      const pids = sides[w.system].pids();
      const cpuMs = () => cpuMsOf(pids);
      window = await runWindow({ clients: w.clients, warmupMs: WARMUP_MS, durationMs, step, signal, cpuMs });
    } finally {
      close();
    }
    if (signal.aborted) break;
    const stats = windowStats(window);
    if (stats.requests === 0) {
      throw new Error(`${what}: no request succeeded (${window.firstError ?? 'none ended in time'})`);
    }
    if (window.errors > 0) progress(`${what}: ${window.errors} failed requests, the first: ${window.firstError}`);
    windows.push({ ...w, ...stats });
  }
  return windows;
}

const startedAt = new Date().toISOString();
const loadStart = loadavg();
let windows = [];
let rssReport = {};
try {
  progress(`starting etcd ${etcdVersionText} (3 members), a 3-node Kalam cluster and a standalone Kalam node`);
  running.etcd = await EtcdCluster.start({ bin: etcdBin, dir: join(dir, 'etcd') });
  for (const m of running.etcd.members) rss.track(rssName('etcd', m.name), m.proc.pid);
  const sides = {
    etcd: etcdSide(running.etcd),
    'kalam-cluster': await startKalam(3, abort.signal),
    'kalam-standalone': await startKalam(0, abort.signal),
  };
  // The peaks are those of the measured load, not of the setup (users created, logins).
  rss.resetPeaks();
  windows = await measure(sides, abort.signal);
  rssReport = rss.report();
} catch (error) {
  // After Ctrl-C a setup step may fail because its nodes got the signal too: that is the interruption, not a bug.
  if (!abort.signal.aborted) throw error;
} finally {
  rss.stop();
  await Promise.all(running.kalam.map((nodes) => nodes.close()));
  await running.etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
}
if (abort.signal.aborted) {
  progress('interrupted: no results');
  process.exit(130);
}

const rows = comparisonRows(summarize(windows), { clients });
const loadEnd = loadavg();
const version = running.etcd.version ?? etcdVersionText;
const loadText = (l) => l.map((x) => x.toFixed(2)).join(' ');
const rssLine = (field) =>
  `Kalam cluster nodes 1 / 2 / 3: ${rssText(
    rssReport,
    [1, 2, 3].map((id) => rssName('kalam-cluster', `node ${id}`)),
    field,
  )}; ` +
  `Kalam standalone: ${rssText(rssReport, [rssName('kalam-standalone', 'node 1')], field)}; ` +
  `etcd members: ${rssText(
    rssReport,
    ['m1', 'm2', 'm3'].map((m) => rssName('etcd', m)),
    field,
  )}`;
const result = {
  bench: BENCH,
  title: `Kalam beside etcd ${version} (3 members): medians over ${reps} interleaved repetitions`,
  startedAt,
  machine: { ...machine(), etcd: version },
  loadAverage: { start: loadStart, end: loadEnd },
  config: {
    reps,
    durationMs: DURATION_MS,
    bulkDurationMsMin: BULK_WINDOW_MS_MIN,
    warmupMs: WARMUP_MS,
    clients,
    valueBytes: ROW_VALUE.length,
    quick,
  },
  ops: OPS,
  columns: COLUMNS,
  rows,
  notes: [
    `write: Kalam ${OPS.write.kalam} beside etcd ${OPS.write.etcd}; read: ${OPS.read.kalam} beside ${OPS.read.etcd};`,
    `bulk: ${OPS.bulk.kalam} (rows/s) beside ${OPS.bulk.etcd} (keys/s), one client; kalam/etcd: throughput ratio.`,
    `load average (1, 5, 15 min): ${loadText(loadStart)} at the start, ${loadText(loadEnd)} at the end.`,
    `peak RSS MB over the windows: ${rssLine('peakMb')}; at the end: ${rssLine('lastMb')}.`,
  ],
  rssMb: rssReport,
  windows,
  resultsFile: quick ? null : `bench/results/${BENCH}.json`,
};
if (!quick) writeResults(BENCH, result);
if (values.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(`${BENCH}: ${result.title}`);
  printTable(COLUMNS, rows);
  for (const note of result.notes) console.log(note);
  if (!quick) console.log(`\nwritten to ${result.resultsFile}`);
}
