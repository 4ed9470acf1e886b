// What the cluster benchmarks (bench/bulk-load, bench/data-size, bench/scale) share: the test harness that runs real
// `kalam serve` processes, JSON calls to a node's HTTP API, the cluster status of every node (elections seen as the
// growth of the term sum, leaders, applied indexes, the driver's timing), setup and counts through @kalam/client
// (bench/app.mjs), and one client's bulk load of ~1 KB rows by multi-row INSERTs (raw HTTP: it is what is measured).
/* global fetch, AbortController, AbortSignal */
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { credentialsOf, rowArrays, withAppClient } from './app.mjs';

/** No call of a benchmark's client waits longer than this; a timed-out call counts as a failure. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Between two looks at the cluster while waiting for it to settle or catch up. */
const POLL_MS = 200;

/**
 * The harness (packages/server/test/support/nodes.ts, compiled): `KalamNodes` and the root password of its nodes.
 * Exits 2 with one line when the repository is not built, as every benchmark does.
 */
export async function loadHarness(bench) {
  try {
    return await import('../packages/server/dist/test/support/nodes.js');
  } catch (error) {
    process.stderr.write(`bench ${bench}: not built (${error.message}): run \`make build\`\n`);
    process.exit(2);
  }
}

export function basicAuth(user, password) {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** One JSON call; resolves with the HTTP status and the JSON reply, rejects on a network error or a timeout. */
export async function call(url, path, { body, auth, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, body: await res.json() };
}

/**
 * A statement's outcome by code: 'ok', the server's error code, `HTTP <status>`, or `client: <error name>`. Raw HTTP,
 * one request: the measured writers (loadRows, bench/data-size's side writer) time and tally exactly this call.
 */
export async function sqlOutcome(url, auth, sql) {
  try {
    const r = await call(url, '/v1/api/sql', { auth, body: { sql } });
    if (r.status === 200) return { code: 'ok', body: r.body };
    return { code: r.body?.error?.code ?? `HTTP ${r.status}`, body: r.body };
  } catch (error) {
    return { code: `client: ${error.name}`, body: null };
  }
}

/** Runs setup `sql` (DDL, users) through @kalam/client on `url`; throws the client's error (with its code) on failure. */
export async function sqlExecute(url, auth, sql) {
  await withAppClient([url], credentialsOf(auth), (client) => client.execute(sql));
}

/** Runs the read `sql` through @kalam/client on `url`; returns its last statement's rows as arrays in column order. */
export async function sqlRows(url, auth, sql) {
  return withAppClient([url], credentialsOf(auth), async (client) => rowArrays(await client.query(sql)));
}

/**
 * Logs `user` in on `url`; returns its Bearer header. Raw HTTP: the header is for the measured raw loop (loadRows),
 * and the client keeps its own token to itself.
 */
export async function login(url, username, password) {
  const r = await call(url, '/v1/api/auth/login', { body: { username, password } });
  if (typeof r.body?.access_token !== 'string') throw new Error(`login of ${username} failed: ${JSON.stringify(r)}`);
  return `Bearer ${r.body.access_token}`;
}

/** GET /v1/api/cluster/status of one node (groups: name, role, leader, term, applied_index, …; driver timing). */
export async function clusterStatus(url, auth) {
  return (await call(url, '/v1/api/cluster/status', { auth })).body;
}

/** Every node's status; a node that does not answer shows no groups and no driver. */
export async function allStatuses(urls, auth) {
  return Promise.all(urls.map((u) => clusterStatus(u, auth).catch(() => ({ groups: [], driver: null }))));
}

/** The sum over groups of the highest term any node reports: it grows by one or more with every election. */
export function termSum(statuses) {
  const best = new Map();
  for (const s of statuses) for (const g of s.groups ?? []) best.set(g.name, Math.max(best.get(g.name) ?? 0, g.term));
  return [...best.values()].reduce((a, b) => a + b, 0);
}

/**
 * Leadership transfers the nodes' leader balance started, summed over `statuses` (a restarted node counts from 0).
 * Each raises its group's term as an election does, so termSum's growth counts them too.
 */
export function balanceTransfers(statuses) {
  return statuses.reduce((n, s) => n + (s.leader_balance?.transfers ?? 0), 0);
}

const allLed = (statuses) => statuses.every((s) => s.groups.length > 0 && s.groups.every((g) => g.leader !== null));

/** Waits until every node knows a leader of every group; throws at `deadlineMs` (Date.now() time). */
export async function waitAllLeaders(urls, auth, deadlineMs) {
  for (;;) {
    if (allLed(await allStatuses(urls, auth))) return;
    if (Date.now() > deadlineMs) throw new Error('the cluster did not elect every leader in time');
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Waits until every node knows a leader of every group and the term sum has held still for `quietMs` (the leader
 * balance's transfers are elections too, and they follow the start and the DDL); returns that sum. Throws at
 * `deadlineMs` (Date.now() time), or once `signal` (optional) has aborted.
 */
export async function settledTermSum(urls, auth, { quietMs, deadlineMs, signal }) {
  let sum = -1;
  let since = Date.now();
  for (;;) {
    signal?.throwIfAborted();
    const statuses = await allStatuses(urls, auth);
    const now = Date.now();
    const next = termSum(statuses);
    if (!allLed(statuses) || next !== sum) {
      sum = allLed(statuses) ? next : -1;
      since = now;
    } else if (now - since >= quietMs) {
      return sum;
    }
    if (now > deadlineMs) throw new Error('the cluster did not settle (every group led, no election) in time');
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Each node's worst driver timing over the polls folded in (GET /v1/api/cluster/status `driver`: tick lateness,
 * ticks late by a heartbeat or more, the heaviest turn, apply and log write).
 */
export class DriverWorst {
  constructor(count) {
    this.nodes = Array.from({ length: count }, () => ({
      tickLateMsMax: 0,
      lateTicks: 0,
      turnMsMax: 0,
      applyMsMax: 0,
      persistMsMax: 0,
      tickLateMsMaxEver: null,
    }));
  }

  fold(statuses) {
    statuses.forEach((s, i) => {
      const d = s.driver;
      const w = this.nodes[i];
      if (d === null || d === undefined || w === undefined) return;
      w.tickLateMsMax = Math.max(w.tickLateMsMax, d.tick_late_ms_max);
      w.lateTicks = Math.max(w.lateTicks, d.ticks_late_over_heartbeat);
      w.turnMsMax = Math.max(w.turnMsMax, d.turn_ms_max);
      w.applyMsMax = Math.max(w.applyMsMax, d.apply_ms_max);
      w.persistMsMax = Math.max(w.persistMsMax, d.persist_ms_max);
      w.tickLateMsMaxEver = d.tick_late_ms_max_ever;
    });
  }
}

/** Polls every node's status each `everyMs` until stopped, handing each round to `onStatuses`. */
export function pollStatuses(urls, auth, everyMs, onStatuses) {
  let polling = true;
  const done = (async () => {
    while (polling) {
      await new Promise((r) => setTimeout(r, everyMs));
      if (polling) onStatuses(await allStatuses(urls, auth));
    }
  })();
  return async () => {
    polling = false;
    await done;
  };
}

/** One multi-row INSERT of ids [from, from + count) into `table` (id BIGINT PRIMARY KEY, v TEXT). */
export function multiRowInsertSql(table, from, count, value) {
  const rows = [];
  for (let id = from; id < from + count; id++) rows.push(`(${id}, '${value}')`);
  return `INSERT INTO ${table} (id, v) VALUES ${rows.join(', ')}`;
}

/**
 * One client loads `rows` rows of `bytes` bytes into `table` through `url`, `batch` rows per INSERT, one INSERT after
 * another, until done or `signal` (optional) aborts. Returns the rows acknowledged, the failed INSERTs by code, each
 * INSERT's latency (ascending) and the time.
 */
export async function loadRows({ url, auth, table, rows, batch, bytes, onProgress, signal }) {
  const value = 'x'.repeat(bytes);
  const failures = {};
  let acknowledged = 0;
  const latenciesMs = [];
  const startedAt = performance.now();
  for (let from = 0; from < rows && signal?.aborted !== true; from += batch) {
    // Raw HTTP (sqlOutcome), not @kalam/client: each INSERT's time is one request to the node, as etcd's are.
    const count = Math.min(batch, rows - from);
    const t0 = performance.now();
    const { code } = await sqlOutcome(url, auth, multiRowInsertSql(table, from, count, value));
    latenciesMs.push(performance.now() - t0);
    if (code === 'ok') acknowledged += count;
    else failures[code] = (failures[code] ?? 0) + 1;
    if ((from / batch) % 20 === 19) onProgress?.(`${from + count} rows sent, ${acknowledged} acknowledged`);
  }
  const seconds = (performance.now() - startedAt) / 1000;
  latenciesMs.sort((a, b) => a - b);
  return { acknowledged, failures, latenciesMs, seconds };
}

/** The number of failures in a by-code tally. */
export function failureCount(failures) {
  return Object.values(failures).reduce((a, b) => a + b, 0);
}

/**
 * An AbortController that SIGINT and SIGTERM abort, saying once what stopping means (`what`), so a benchmark's
 * `finally` blocks stop its nodes and remove their data on Ctrl-C.
 */
export function abortOnSignals(progress, what) {
  const abort = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (!abort.signal.aborted) progress(`${signal}: ${what}`);
      abort.abort();
    });
  }
  return abort;
}

/**
 * Runs a benchmark's `run()`; after an interruption (whatever `run` threw then: its nodes got the signal too) it
 * says so and exits 130 with no results, otherwise it returns what `run` measured or rethrows.
 */
export async function runUnlessInterrupted(run, abort, progress) {
  let measured;
  try {
    measured = await run();
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  }
  if (abort.signal.aborted) {
    progress('interrupted: no results');
    process.exit(130);
  }
  return measured;
}
