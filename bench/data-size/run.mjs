#!/usr/bin/env node
// bench/data-size (issue [M8] §3): what a node's memory and a follower's catch-up cost as one user shard grows. One
// client loads rows of ~1 KB by 500-row INSERTs (default 100,000 rows, one INSERT after another, through node 1)
// into a USER table of a 3-node cluster of real `kalam serve` processes (the test harness). Then one follower of the
// loaded shard is stopped, its data folder deleted and the node restarted with the same id and address, while a
// client keeps writing small rows into the same shard; the node has caught up when, in every group, its applied
// index reaches the one the group's leader reported just before. It reports:
// - the load: time, rows/s, failed INSERTs by code, elections (growth of the sum over groups of the highest term;
//   how many of them were the leader balance's transfers, which raise a term too),
//   each node's peak RSS (VmRSS of every node process, sampled every 250 ms) and worst driver timing;
// - the catch-up: time from the restart (and per GB of rows loaded), the rejoined node's peak RSS (and the others'),
//   the slowest write of the client during it, elections during it, how late the rejoined node's timer fired at
//   worst (its driver's tick_late_ms_max_ever: the longest its event loop was held), the loaded shard's snapshot index;
// - a count of the rows on the rejoined node, which must equal the rows acknowledged (exit 1 if it does not).
//
// Usage: node bench/data-size/run.mjs [--rows N] [--bytes N] [--batch N] [--snapshot-threshold N] [--label NAME]
//   [--catch-up-timeout S] [--json] [--quick]   (also `kalam bench data-size`; needs `make build`). Writes
//   bench/results/data-size[-NAME].json; --quick: 2,000 rows by default and no results file. --snapshot-threshold
//   sets every node's `cluster.raft.snapshot_threshold` (default: the config's default). Every node process and the
//   data folders are removed on success, on failure and on Ctrl-C.
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  DriverWorst,
  allStatuses,
  balanceTransfers,
  basicAuth,
  clusterStatus,
  failureCount,
  loadHarness,
  loadRows,
  login,
  pollStatuses,
  settledTermSum,
  sqlOutcome,
  sqlExecute,
  sqlRows,
  termSum,
  abortOnSignals,
  runUnlessInterrupted,
} from '../cluster.mjs';
import { machine, percentile, printTable, writeResults } from '../lib.mjs';
import { RSS_SAMPLE_MS, RssSampler, rssText } from '../rss.mjs';

const BENCH = 'data-size';
const progress = (s) => process.stderr.write(`bench ${BENCH}: ${s}\n`);
function cannotRun(message) {
  process.stderr.write(`bench ${BENCH}: ${message}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      rows: { type: 'string' },
      bytes: { type: 'string', default: '1000' },
      batch: { type: 'string', default: '500' },
      'snapshot-threshold': { type: 'string' },
      'catch-up-timeout': { type: 'string', default: '600' },
      label: { type: 'string' },
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  cannotRun(error.message);
}
const quick = values.quick;
function integerOption(name, text, min, max) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    cannotRun(`--${name} takes an integer in [${min}, ${max}], not ${text}`);
  return n;
}
const ROWS = integerOption('rows', values.rows ?? (quick ? '2000' : '100000'), 1, 100_000_000);
const BYTES = integerOption('bytes', values.bytes, 1, 1_000_000);
const BATCH = integerOption('batch', values.batch, 1, 10_000);
const CATCH_UP_TIMEOUT_MS = integerOption('catch-up-timeout', values['catch-up-timeout'], 1, 7_200) * 1000;
const threshold = values['snapshot-threshold'];
const SNAPSHOT_THRESHOLD = threshold === undefined ? undefined : integerOption('snapshot-threshold', threshold, 1, 1e9);
/** The small rows a client writes into the loaded shard during the catch-up. */
const SIDE_VALUE = 's'.repeat(100);
/** Start and settle bounds: the harness's own start bound is 40 s per node. */
const SETTLE_QUIET_MS = 2_000;
const SETTLE_TIMEOUT_MS = 90_000;
const POLL_MS = 2_000;
const CATCH_UP_POLL_MS = 200;

const { KalamNodes, ROOT_PASSWORD } = await loadHarness(BENCH);
const { configDefaults } = await import('@kalam/server');
const root = basicAuth('root', ROOT_PASSWORD);
const names = [1, 2, 3].map((id) => `node ${id}`);

const abort = abortOnSignals(progress, 'stopping the nodes and removing their data');
let nodes;
// The last resort when the process ends some other way (an uncaught error): the nodes die with it, the data goes.
process.on('exit', () => {
  if (nodes === undefined) return;
  for (const id of nodes.ids()) {
    try {
      if (nodes.isRunning(id)) process.kill(nodes.pid(id), 'SIGKILL');
    } catch {
      // Already gone: nothing to stop.
    }
  }
  rmSync(nodes.dir, { recursive: true, force: true });
});
const throwIfAborted = () => abort.signal.throwIfAborted();

/**
 * The user shard that grew most between two statuses of the same node: the loader's. Only user shards compete: in a
 * tiny load (a few 500-row entries) a metadata group's elections on a busy machine can add more entries than that.
 */
function loadedGroup(before, after) {
  const applied = new Map(before.groups.map((g) => [g.name, g.applied_index]));
  let best = null;
  for (const g of after.groups) {
    if (!g.name.startsWith('data:user:')) continue;
    const grew = g.applied_index - (applied.get(g.name) ?? 0);
    if (best === null || grew > best.grew) best = { name: g.name, leader: g.leader, grew };
  }
  return best;
}

/**
 * Whether node `rejoined` has applied, in every group, what the group's leader had applied when asked just before
 * it (`others`: the statuses of the other nodes, asked first). A group whose leader the others do not know, or
 * whose leader did not answer, is not caught up yet.
 */
function caughtUp(others, rejoined, rejoinedId) {
  // A node still starting may answer with an error body (no `groups`): not caught up yet.
  const has = (s) => Array.isArray(s?.groups) && s.groups.length > 0;
  if (!has(rejoined)) return false;
  const byNode = new Map(others.filter(has).map((s) => [s.node_id, s]));
  const mine = new Map(rejoined.groups.map((g) => [g.name, g.applied_index]));
  const anyView = others.find(has);
  if (anyView === undefined) return false;
  return anyView.groups.every((g) => {
    if (g.leader === rejoinedId) return true;
    const leaderGroup = byNode.get(g.leader)?.groups.find((x) => x.name === g.name);
    return leaderGroup !== undefined && (mine.get(g.name) ?? -1) >= leaderGroup.applied_index;
  });
}

/** One client writing small rows into bench.side through `url` until stopped: every write's latency and outcome. */
function sideWriter(url, auth) {
  const latenciesMs = [];
  const failures = {};
  let acknowledged = 0;
  let sent = 0;
  let writing = true;
  const done = (async () => {
    while (writing && !abort.signal.aborted) {
      // Raw HTTP (sqlOutcome), not @kalam/client: a write's latency and outcome are one request's, never a retry's.
      const t0 = performance.now();
      const { code } = await sqlOutcome(url, auth, `INSERT INTO bench.side (id, v) VALUES (${sent}, '${SIDE_VALUE}')`);
      sent++;
      latenciesMs.push(performance.now() - t0);
      if (code === 'ok') acknowledged++;
      else failures[code] = (failures[code] ?? 0) + 1;
    }
  })();
  return async () => {
    writing = false;
    await done;
    latenciesMs.sort((a, b) => a - b);
    return { sent, acknowledged, failures, latenciesMs };
  };
}

/** Rows counted on `url` fit what was acknowledged: exactly when nothing failed, else between acknowledged and sent. */
function countFits(counted, acknowledged, sent, failed) {
  return failed === 0 ? counted === acknowledged : counted >= acknowledged && counted <= sent;
}

/** The count check as a cell: 'yes', or what was counted beside what was acknowledged and left unanswered. */
function countCell(c, unanswered) {
  const counted = c.bulkCounted + c.sideCounted;
  const acknowledged = c.bulkAcknowledged + c.sideAcknowledged;
  if (!c.matches) return `NO: ${counted}, acknowledged ${acknowledged}`;
  if (counted === acknowledged) return `${counted} = acknowledged`;
  return `${counted}: ${acknowledged} acknowledged, the rest from ${unanswered} failed request(s)`;
}

const round1 = (x) => Math.round(x * 10) / 10;

async function run() {
  const sampler = new RssSampler();
  try {
    nodes = await KalamNodes.start({
      members: 3,
      ...(SNAPSHOT_THRESHOLD === undefined ? {} : { snapshotThreshold: SNAPSHOT_THRESHOLD }),
    });
    const urls = nodes.ids().map((id) => nodes.url(id));
    nodes.ids().forEach((id, i) => sampler.track(names[i], nodes.pid(id)));
    throwIfAborted();
    await settledTermSum(urls, root, {
      quietMs: SETTLE_QUIET_MS,
      deadlineMs: Date.now() + SETTLE_TIMEOUT_MS,
      signal: abort.signal,
    });
    await sqlExecute(
      urls[0],
      root,
      'CREATE NAMESPACE bench; CREATE USER TABLE bench.bulk (id BIGINT PRIMARY KEY, v TEXT); ' +
        "CREATE USER TABLE bench.side (id BIGINT PRIMARY KEY, v TEXT); CREATE USER 'loader' WITH PASSWORD 'loader-pw' ROLE user",
    );
    const auth = await login(urls[0], 'loader', 'loader-pw');
    throwIfAborted();
    const termsBefore = await settledTermSum(urls, root, {
      quietMs: SETTLE_QUIET_MS,
      deadlineMs: Date.now() + SETTLE_TIMEOUT_MS,
      signal: abort.signal,
    });
    const node1Before = await clusterStatus(urls[0], root);
    const transfersBefore = balanceTransfers(await allStatuses(urls, root));

    // The load.
    progress(`loading ${ROWS} rows of ${BYTES} bytes, ${BATCH} per INSERT, through node 1`);
    sampler.resetPeaks();
    const worst = new DriverWorst(urls.length);
    const stopPolling = pollStatuses(urls, root, POLL_MS, (statuses) => worst.fold(statuses));
    const load = await loadRows({
      url: urls[0],
      auth,
      table: 'bench.bulk',
      rows: ROWS,
      batch: BATCH,
      bytes: BYTES,
      onProgress: progress,
      signal: abort.signal,
    });
    await stopPolling();
    throwIfAborted();
    const loadRss = sampler.report();
    const afterLoad = await allStatuses(urls, root);
    worst.fold(afterLoad);
    const termsAfterLoad = termSum(afterLoad);
    const transfersDuringLoad = balanceTransfers(afterLoad) - transfersBefore;
    const shard = loadedGroup(node1Before, afterLoad[0]);
    const shardLeaderBefore = node1Before.groups.find((g) => g.name === shard.name)?.leader ?? null;
    progress(
      `loaded ${load.acknowledged} rows in ${round1(load.seconds)} s; ${termsAfterLoad - termsBefore} elections ` +
        `(${transfersDuringLoad} of them leader-balance transfers; the shard led by node ${shardLeaderBefore} before); ` +
        `peak RSS ${rssText(loadRss, names)} MB; the shard is ${shard.name}, led by node ${shard.leader}`,
    );

    // The wipe: a follower of the loaded shard, not node 1 (the side writer's node).
    const rejoinedId = nodes
      .ids()
      .filter((id) => id !== shard.leader && id !== 1)
      .at(-1);
    const rejoined = `node ${rejoinedId}`;
    const others = nodes.ids().filter((id) => id !== rejoinedId);
    progress(`stopping node ${rejoinedId} (pid ${nodes.pid(rejoinedId)}), deleting its data folder, restarting it`);
    const beforeWipe = await allStatuses(urls, root);
    const termsBeforeWipe = termSum(beforeWipe);
    // The restarted node's counter starts again from 0: only the others' count before.
    const transfersBeforeWipe = balanceTransfers(beforeWipe.filter((_, i) => nodes.ids()[i] !== rejoinedId));
    await nodes.kill(rejoinedId, 'SIGTERM');
    nodes.wipe(rejoinedId);
    sampler.untrack(rejoined);
    throwIfAborted();

    // The catch-up, timed from the restart, with a client writing into the loaded shard all along.
    sampler.resetPeaks();
    const stopWriter = sideWriter(urls[0], auth);
    const restartedAt = performance.now();
    const starting = nodes.startNode(rejoinedId);
    sampler.track(rejoined, nodes.pid(rejoinedId));
    await starting;
    const readyS = (performance.now() - restartedAt) / 1000;
    const deadline = performance.now() + CATCH_UP_TIMEOUT_MS;
    let catchUpS = null;
    let lastRejoined = null;
    while (catchUpS === null) {
      throwIfAborted();
      const seen = await allStatuses(
        others.map((id) => nodes.url(id)),
        root,
      );
      lastRejoined = await clusterStatus(nodes.url(rejoinedId), root).catch(() => ({ groups: [] }));
      if (caughtUp(seen, lastRejoined, rejoinedId)) catchUpS = (performance.now() - restartedAt) / 1000;
      else if (performance.now() > deadline) {
        throw new Error(`node ${rejoinedId} did not catch up within ${CATCH_UP_TIMEOUT_MS / 1000} s`);
      } else await new Promise((r) => setTimeout(r, CATCH_UP_POLL_MS));
    }
    const catchUpRss = sampler.report();
    const side = await stopWriter();
    const afterCatchUp = await allStatuses(urls, root);
    const termsAfterCatchUp = termSum(afterCatchUp);
    const transfersDuringCatchUp = balanceTransfers(afterCatchUp) - transfersBeforeWipe;
    // How long the rejoined node's event loop was held at worst since it started (its timer's lateness): a snapshot
    // installed in one turn holds it for the whole install.
    const rejoinedTickLateMsMax = afterCatchUp[rejoinedId - 1]?.driver?.tick_late_ms_max_ever ?? null;
    const shardOf = (s) => s.groups.find((g) => g.name === shard.name) ?? null;
    progress(
      `node ${rejoinedId} caught up in ${round1(catchUpS)} s (ready after ${round1(readyS)} s); ` +
        `peak RSS ${catchUpRss[rejoined]?.peakMb ?? '-'} MB; slowest write ${Math.round(side.latenciesMs.at(-1) ?? 0)} ms; ` +
        `its timer ${rejoinedTickLateMsMax ?? '-'} ms late at worst`,
    );

    // The rows, counted on the rejoined node (a linearizable read, served there once it has applied the read point).
    const url = nodes.url(rejoinedId);
    const [[bulkCounted]] = await sqlRows(url, auth, 'SELECT COUNT(*) FROM bench.bulk');
    const [[sideCounted]] = await sqlRows(url, auth, 'SELECT COUNT(*) FROM bench.side');
    const count = {
      node: rejoinedId,
      bulkAcknowledged: load.acknowledged,
      bulkSent: ROWS,
      bulkCounted,
      sideAcknowledged: side.acknowledged,
      sideSent: side.sent,
      sideCounted,
      matches:
        countFits(bulkCounted, load.acknowledged, ROWS, failureCount(load.failures)) &&
        countFits(sideCounted, side.acknowledged, side.sent, failureCount(side.failures)),
    };
    const dataGB = (load.acknowledged * BYTES) / 1e9;
    return {
      load: {
        rowsAcknowledged: load.acknowledged,
        seconds: round1(load.seconds),
        rowsPerSecond: Math.round(load.acknowledged / load.seconds),
        insertsFailed: failureCount(load.failures),
        failures: load.failures,
        insertMsP50: Math.round(percentile(load.latenciesMs, 50)),
        insertMsP99: Math.round(percentile(load.latenciesMs, 99)),
        insertMsMax: Math.round(load.latenciesMs.at(-1)),
        elections: termsAfterLoad - termsBefore,
        balanceTransfers: transfersDuringLoad,
        shardLeaderBefore,
        termSumBefore: termsBefore,
        termSumAfter: termsAfterLoad,
        shard: shard.name,
        shardLeader: shard.leader,
        rssMb: loadRss,
        driver: worst.nodes.map((w, i) => ({ node: names[i], ...w })),
      },
      catchUp: {
        node: rejoinedId,
        seconds: round1(catchUpS),
        readySeconds: round1(readyS),
        dataGB: Math.round(dataGB * 1000) / 1000,
        secondsPerGB: dataGB > 0 ? round1(catchUpS / dataGB) : null,
        rssMb: catchUpRss,
        elections: termsAfterCatchUp - termsBeforeWipe,
        balanceTransfers: transfersDuringCatchUp,
        writes: side.sent,
        writesFailed: failureCount(side.failures),
        writeFailures: side.failures,
        writeMsP50: side.latenciesMs.length === 0 ? null : Math.round(percentile(side.latenciesMs, 50)),
        writeMsMax: side.latenciesMs.length === 0 ? null : Math.round(side.latenciesMs.at(-1)),
        rejoinedTickLateMsMax,
        shardSnapshotIndex: {
          leader: shardOf(afterCatchUp[shard.leader - 1] ?? { groups: [] })?.snapshot_index ?? null,
          rejoined: shardOf(lastRejoined)?.snapshot_index ?? null,
        },
      },
      count,
    };
  } finally {
    sampler.stop();
    await nodes?.close();
  }
}

const startedAt = new Date().toISOString();
const loadStart = loadavg();
const measured = await runUnlessInterrupted(run, abort, progress);

const { load, catchUp, count } = measured;
const rejoined = `node ${catchUp.node}`;
const snapshotThreshold = SNAPSHOT_THRESHOLD ?? configDefaults.snapshotThreshold;
const COLUMNS = [
  { key: 'rows', title: 'rows' },
  { key: 'snapshotThreshold', title: 'snapshot_threshold' },
  { key: 'loadS', title: 'load s' },
  { key: 'rowsPerSecond', title: 'rows/s' },
  { key: 'loadRss', title: 'peak RSS MB, load (n1 / n2 / n3)' },
  { key: 'elections', title: 'elections (load; of them leader-balance transfers)' },
  { key: 'insertsFailed', title: 'INSERTs failed' },
  { key: 'rejoined', title: 'rejoined' },
  { key: 'catchUpS', title: 'catch-up s' },
  { key: 'catchUpSPerGB', title: 'catch-up s/GB' },
  { key: 'rejoinedRss', title: 'peak RSS MB, catch-up (rejoined)' },
  { key: 'slowestWriteMs', title: 'slowest write ms' },
  { key: 'count', title: 'rejoined count (load + small rows)' },
];
const row = {
  rows: ROWS,
  snapshotThreshold: SNAPSHOT_THRESHOLD === undefined ? `${snapshotThreshold} (default)` : snapshotThreshold,
  loadS: load.seconds,
  rowsPerSecond: load.rowsPerSecond,
  loadRss: rssText(load.rssMb, names),
  elections: `${load.elections} (${load.balanceTransfers} transfers)`,
  insertsFailed:
    load.insertsFailed === 0 ? 0 : `${load.insertsFailed} ${JSON.stringify(load.failures).replace(/"/g, '')}`,
  rejoined,
  catchUpS: catchUp.seconds,
  catchUpSPerGB: catchUp.secondsPerGB,
  rejoinedRss: catchUp.rssMb[rejoined]?.peakMb ?? null,
  slowestWriteMs: catchUp.writeMsMax,
  count: countCell(count, load.insertsFailed + catchUp.writesFailed),
};
const loadEnd = loadavg();
const loadText = (l) => l.map((x) => x.toFixed(2)).join(' ');
const result = {
  bench: BENCH,
  title: `one shard loaded with ${ROWS} rows of ${BYTES} bytes by ${BATCH}-row INSERTs, then a follower wiped and restarted`,
  label: values.label ?? null,
  startedAt,
  machine: machine(),
  loadAverage: { start: loadStart, end: loadEnd },
  settings: {
    rows: ROWS,
    bytes: BYTES,
    batch: BATCH,
    snapshotThreshold,
    snapshotThresholdGiven: SNAPSHOT_THRESHOLD !== undefined,
    via: 'node 1',
    table: 'USER',
    nodes: 'test harness, 3 members',
    rssSampleMs: RSS_SAMPLE_MS,
    quick,
  },
  columns: COLUMNS,
  rows: [row],
  notes: [
    `catch-up: from the restart of ${rejoined} (ready after ${catchUp.readySeconds} s) until it applied, in every group, what the leader had; ${catchUp.dataGB} GB of rows loaded.`,
    `during the catch-up: ${catchUp.writes} small writes into the shard (${catchUp.writesFailed} failed), ${catchUp.elections} elections (${catchUp.balanceTransfers} of them leader-balance transfers), peak RSS ${rssText(catchUp.rssMb, names)} MB (n1 / n2 / n3); the rejoined node's timer ${catchUp.rejoinedTickLateMsMax ?? '-'} ms late at worst.`,
    `count on ${rejoined}: ${count.bulkCounted} rows loaded (acknowledged ${count.bulkAcknowledged}), ${count.sideCounted} small rows (acknowledged ${count.sideAcknowledged}).`,
    `load average (1, 5, 15 min): ${loadText(loadStart)} at the start, ${loadText(loadEnd)} at the end.`,
  ],
  ...measured,
  resultsFile: quick ? null : `bench/results/${values.label === undefined ? BENCH : `${BENCH}-${values.label}`}.json`,
};
if (!quick) writeResults(values.label === undefined ? BENCH : `${BENCH}-${values.label}`, result);
if (values.json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  process.stdout.write(`${BENCH}: ${result.title}\n`);
  printTable(COLUMNS, [row], 1);
  for (const note of result.notes) process.stdout.write(`${note}\n`);
  if (result.resultsFile !== null) process.stdout.write(`\nwritten to ${result.resultsFile}\n`);
}
if (!count.matches) {
  progress(`the rejoined node's count does not match what was acknowledged: ${JSON.stringify(count)}`);
  process.exitCode = 1;
}
