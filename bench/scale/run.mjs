#!/usr/bin/env node
// bench/scale (issue [M8] §3): many concurrent clients against a 3-node cluster — by default 256 closed-loop clients
// for 30 s, each its own user (so the rows spread over the user shards) on its own keep-alive connection to node
// c mod 3, each sending single-row INSERTs (--op write), point SELECTs of rows it wrote (--op read, after a first
// pass of writes) or both in turn (--op mixed). The goal: no errors, memory bounded. It reports requests/s, p50, p99
// and the slowest request, every failed request by error code (warm-up included), elections (growth of the term
// sum), and every node's RSS (VmRSS sampled every 250 ms over the warm-up and the window): its peak and at the end.
//
// Usage: node bench/scale/run.mjs [--clients N] [--duration S] [--op write|read|mixed] [--label NAME] [--json]
//   [--quick]   (also `kalam bench scale`; needs `make build`; writes bench/results/scale[-NAME].json; --quick: 16
//   clients for 3 s, no results file). The nodes and their folders are removed on success, failure and Ctrl-C.
import { setMaxListeners } from 'node:events';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import {
  abortOnSignals,
  allStatuses,
  basicAuth,
  loadHarness,
  runUnlessInterrupted,
  settledTermSum,
  termSum,
} from '../cluster.mjs';
import { Connection, runWindow } from '../etcd/load.mjs';
import { machine, percentile, printTable, writeResults } from '../lib.mjs';
import { RSS_SAMPLE_MS, RssSampler, rssText } from '../rss.mjs';
import { INSERT_SQL, ROW_VALUE, SELECT_SQL, prepareKalam, sqlReplyRows } from '../sql/kalam.mjs';

const BENCH = 'scale';
const progress = (s) => process.stderr.write(`bench ${BENCH}: ${s}\n`);
function cannotRun(message) {
  process.stderr.write(`bench ${BENCH}: ${message}\n`);
  process.exit(2);
}

/** Each client is a Kalam user created (and logged in) before the window, one after another: a bound on the setup. */
const CLIENTS_MAX = 1_024;
const DURATION_S_MAX = 3_600;
const OPS = ['write', 'read', 'mixed'];

let values;
try {
  ({ values } = parseArgs({
    options: {
      clients: { type: 'string' },
      duration: { type: 'string' },
      op: { type: 'string', default: 'write' },
      label: { type: 'string' },
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  cannotRun(error.message);
}
const quick = values.quick;
const CLIENTS = Number(values.clients ?? (quick ? 16 : 256));
if (!Number.isInteger(CLIENTS) || CLIENTS < 1 || CLIENTS > CLIENTS_MAX) {
  cannotRun(`--clients takes an integer in [1, ${CLIENTS_MAX}], not ${values.clients}`);
}
const DURATION_S = Number(values.duration ?? (quick ? 3 : 30));
if (!(DURATION_S > 0 && DURATION_S <= DURATION_S_MAX)) {
  cannotRun(`--duration takes seconds in (0, ${DURATION_S_MAX}], not ${values.duration}`);
}
const OP = values.op;
if (!OPS.includes(OP)) cannotRun(`--op takes ${OPS.join(', ')}, not ${OP}`);
const WARMUP_MS = quick ? 300 : 2_000;
/** The cluster settles (every group led, leaders balanced, no election for this long) before the users are made. */
const SETTLE_QUIET_MS = 2_000;
const SETTLE_TIMEOUT_MS = 90_000;

const { KalamNodes, ROOT_PASSWORD } = await loadHarness(BENCH);
const root = basicAuth('root', ROOT_PASSWORD);
const names = [1, 2, 3].map((id) => `node ${id}`);

const abort = abortOnSignals(progress, 'stopping the clients and the nodes, removing their data');
setMaxListeners(CLIENTS + 10, abort.signal);

/** An error's code: the server's (KalamReplyError), the socket's (ECONNRESET, …), or `client: <message>`. */
function codeOf(error) {
  if (typeof error?.code === 'string') return error.code;
  return `client: ${String(error?.message ?? error).slice(0, 60)}`;
}

/**
 * The clients' steps on their connections. `nextId[c]`: the rows client c has written (ids 0, 1, …); its reads pick
 * among them and must find one row. Every failure is tallied by code in `failures` before it is rethrown.
 */
function clientSteps(urls, tokens, failures) {
  const conns = tokens.map((_, c) => new Connection(urls[c % urls.length]));
  const nextId = tokens.map(() => 0);
  const sql = async (c, text, params) => {
    const headers = { authorization: tokens[c] };
    const body = JSON.stringify({ sql: text, params });
    const reply = await conns[c].post('/v1/api/sql', body, { headers, signal: abort.signal });
    return sqlReplyRows(reply.status, reply.text);
  };
  const write = async (c) => {
    await sql(c, INSERT_SQL, [nextId[c], ROW_VALUE]);
    nextId[c]++;
  };
  const read = async (c) => {
    const have = nextId[c];
    const rows = await sql(c, SELECT_SQL, [Math.floor(Math.random() * Math.max(1, have))]);
    if (have > 0 && rows.length !== 1) throw new Error(`a SELECT of a written row found ${rows.length}`);
  };
  const turns = tokens.map(() => 0);
  const pick = { write: () => write, read: () => read, mixed: (c) => (turns[c]++ % 2 === 0 ? write : read) };
  return {
    step: async (c) => {
      try {
        await pick[OP](c)(c);
        return 1;
      } catch (error) {
        if (!abort.signal.aborted) {
          const code = codeOf(error);
          failures[code] = (failures[code] ?? 0) + 1;
        }
        throw error;
      }
    },
    // Reads need rows to find: each client writes a few first.
    prefill: async (rows) => {
      for (let k = 0; k < rows; k++) await Promise.all(tokens.map((_, c) => write(c)));
    },
    close: () => conns.forEach((conn) => conn.close()),
  };
}

async function run() {
  const sampler = new RssSampler();
  const nodes = await KalamNodes.start({ members: 3 });
  try {
    const urls = nodes.ids().map((id) => nodes.url(id));
    nodes.ids().forEach((id, i) => sampler.track(names[i], nodes.pid(id)));
    const settle = { quietMs: SETTLE_QUIET_MS, deadlineMs: Date.now() + SETTLE_TIMEOUT_MS, signal: abort.signal };
    await settledTermSum(urls, root, settle);
    progress(`creating ${CLIENTS} users and logging each in`);
    const tokens = await prepareKalam(urls, CLIENTS, root, abort.signal);
    const before = await settledTermSum(urls, root, { ...settle, deadlineMs: Date.now() + SETTLE_TIMEOUT_MS });
    const failures = {};
    const steps = clientSteps(urls, tokens, failures);
    try {
      if (OP !== 'write') await steps.prefill(3);
      progress(`${CLIENTS} clients, ${OP}, ${DURATION_S} s after a ${WARMUP_MS} ms warm-up`);
      sampler.resetPeaks();
      const window = await runWindow({
        clients: CLIENTS,
        warmupMs: WARMUP_MS,
        durationMs: DURATION_S * 1000,
        step: steps.step,
        signal: abort.signal,
      });
      const rss = sampler.report();
      const after = termSum(await allStatuses(urls, root));
      return { window, failures, rss, elections: after - before };
    } finally {
      steps.close();
    }
  } finally {
    sampler.stop();
    await nodes.close();
  }
}

const startedAt = new Date().toISOString();
const loadStart = loadavg();
const measured = await runUnlessInterrupted(run, abort, progress);

const { window, failures, rss, elections } = measured;
const sorted = [...window.latenciesMs].sort((a, b) => a - b);
const errors = Object.values(failures).reduce((a, b) => a + b, 0);
const COLUMNS = [
  { key: 'clients', title: 'clients' },
  { key: 'op', title: 'op' },
  { key: 'seconds', title: 's' },
  { key: 'perSec', title: 'requests/s' },
  { key: 'p50Ms', title: 'p50 ms' },
  { key: 'p99Ms', title: 'p99 ms' },
  { key: 'maxMs', title: 'max ms' },
  { key: 'errors', title: 'errors' },
  { key: 'elections', title: 'elections' },
  { key: 'peakRss', title: 'peak RSS MB (n1 / n2 / n3)' },
  { key: 'endRss', title: 'RSS MB at the end' },
];
const row = {
  clients: CLIENTS,
  op: OP,
  seconds: DURATION_S,
  perSec: Math.round(sorted.length / window.seconds),
  p50Ms: percentile(sorted, 50),
  p99Ms: percentile(sorted, 99),
  maxMs: sorted.at(-1) ?? null,
  errors: errors === 0 ? 0 : `${errors} ${JSON.stringify(failures).replace(/"/g, '')}`,
  elections,
  peakRss: rssText(rss, names, 'peakMb'),
  endRss: rssText(rss, names, 'lastMb'),
};
const loadEnd = loadavg();
const loadText = (l) => l.map((x) => x.toFixed(2)).join(' ');
const name = values.label === undefined ? BENCH : `${BENCH}-${values.label}`;
const result = {
  bench: BENCH,
  title: `${CLIENTS} concurrent clients against a 3-node cluster for ${DURATION_S} s (${OP})`,
  label: values.label ?? null,
  startedAt,
  machine: machine(),
  loadAverage: { start: loadStart, end: loadEnd },
  config: { clients: CLIENTS, durationS: DURATION_S, warmupMs: WARMUP_MS, op: OP, rssSampleMs: RSS_SAMPLE_MS, quick },
  columns: COLUMNS,
  rows: [row],
  requests: sorted.length,
  errors,
  failures,
  firstError: window.firstError,
  rssMb: rss,
  notes: [
    `errors: every failed request by code, warm-up included; RSS: sampled over the warm-up and the window.`,
    `load average (1, 5, 15 min): ${loadText(loadStart)} at the start, ${loadText(loadEnd)} at the end.`,
  ],
  resultsFile: quick ? null : `bench/results/${name}.json`,
};
if (!quick) writeResults(name, result);
if (values.json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  process.stdout.write(`${BENCH}: ${result.title}\n`);
  printTable(COLUMNS, [row], 1);
  for (const note of result.notes) process.stdout.write(`${note}\n`);
  if (result.resultsFile !== null) process.stdout.write(`\nwritten to ${result.resultsFile}\n`);
}
