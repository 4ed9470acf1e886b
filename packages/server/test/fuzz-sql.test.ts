// Poison entries (reference/adversaries.md §1, issue M6 §1): no statement — valid or not, from any role — may stop a
// node or split the replicas. Requests generated from the grammar (support/sql-arbitrary.ts: every statement kind,
// valid and invalid names, functions, literals, types and sizes, params, batches) are sent by actors of every role,
// spread over the three nodes of a real cluster of `kalam serve` processes, by a few concurrent clients. Each answer
// must be a success or a clear 4xx in KalamDB's error shape — never a 5xx, a reset connection or a hang
// (support/fuzz-cluster.ts `judge`). A 503 for an election or a timeout under load is a clear answer too, but only a
// few are accepted (UNAVAILABLE_SHARE), and each such request is sent again once the run is over and must then be
// answered. After the run: no node has exited, every group's state digest is equal on all three nodes at one applied
// index, and the cluster still takes a fresh write that every node reads back.
//
// Groups snapshot every SNAPSHOT_THRESHOLD entries, so snapshots of whatever the statements left are taken too.
//
// On a failure the run stops (an incident) and the failing request (or, for an exit or a hang, the requests in flight)
// is tried alone on a fresh cluster; one that reproduces is shrunk by fast-check to the smallest request that still
// does, and the test prints it with its actor and the seed. One that needs what came before is printed with the last
// state-changing requests that succeeded. Environment: KALAM_FUZZ_STATEMENTS (default 20,000), KALAM_FUZZ_SEED
// (default random, always printed), KALAM_FUZZ_CLIENTS (default 6), KALAM_FUZZ_SHRINK_MS (time for reproducing and
// shrinking, default 3 minutes, less when the test file's timeout — TEST_TIMEOUT_MS of scripts/run-tests.mjs, 10
// minutes by default — leaves less), KALAM_FUZZ_KEEP_GOING=1 (after an incident, go on with the next requests on a
// fresh cluster, to find every kind of failure in one long run; the test still fails). Replay a run:
// KALAM_FUZZ_SEED=<seed> KALAM_FUZZ_STATEMENTS=<n> node scripts/run-tests.mjs fuzz-sql
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { test } from 'node:test';

import fc from 'fast-check';

import { FuzzCluster, REQUEST_TIMEOUT_MS, SNAPSHOT_THRESHOLD, type Outcome } from './support/fuzz-cluster.js';
import { fuzzRequest, type FuzzRequest } from '@kalam/sim';

function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, not ${JSON.stringify(text)}`);
  return value;
}

const STATEMENTS = envInt('KALAM_FUZZ_STATEMENTS', 20_000);
const SEED = envInt('KALAM_FUZZ_SEED', randomInt(2 ** 31));
const CLIENTS = envInt('KALAM_FUZZ_CLIENTS', 6);
const SHRINK_MS = envInt('KALAM_FUZZ_SHRINK_MS', 3 * 60_000);
const KEEP_GOING = envInt('KALAM_FUZZ_KEEP_GOING', 0) === 1;
/** Incidents after which even a keep-going run stops. */
const INCIDENTS_MAX = 20;
/** State-changing requests that succeeded, kept to print with an incident no single request reproduces. */
const HISTORY_KEPT = 25;
/** The runner's bound on this file (scripts/run-tests.mjs): the shrink must end, and report, before it. */
const FILE_TIMEOUT_MS = envInt('TEST_TIMEOUT_MS', 10 * 60_000);
const MEMBERS = 3;
/** Requests generated per fast-check sample: request `k:j` is value j of the sample with seed chunkSeed(k). */
const CHUNK = 500;
/** 503s accepted, as a share of the requests (at least UNAVAILABLE_MIN): more means the cluster is not keeping up. */
const UNAVAILABLE_SHARE = 0.01;
const UNAVAILABLE_MIN = 20;
/** How long the replicas get to agree once the load stops (flush jobs may still be running). */
const SETTLE_MS = 60_000;
/** A request re-sent alone to reproduce a failure gets this long for the cluster to apply it everywhere. */
const REPRO_SETTLE_MS = 5_000;
const SUSPECTS_MAX = 8;
/** 5xx answers recorded before the run stops (a broken connection or an exited node stops it at once). */
const FAILURES_MAX = 10;
/** The slowest answers the summary shows. */
const SLOWEST_KEPT = 5;

function chunkSeed(k: number): number {
  return (SEED ^ Math.imul(k + 1, 0x9e3779b1)) | 0;
}

interface Item {
  /** Position in the run, from 0. */
  readonly index: number;
  readonly req: FuzzRequest;
}

function* requests(): Generator<Item> {
  for (let k = 0; k * CHUNK < STATEMENTS; k++) {
    const sample = fc.sample(fuzzRequest, { seed: chunkSeed(k), numRuns: CHUNK });
    for (const [j, req] of sample.entries()) {
      const index = k * CHUNK + j;
      if (index >= STATEMENTS) return;
      yield { index, req };
    }
  }
}

/** Where a run stopped on one cluster: what failed, and what to try alone. */
interface Incident {
  /** Requests answered 5xx, with a broken connection or not at all. */
  readonly failures: Failure[];
  /** Nodes that exited, with their log. */
  readonly exits: string[];
  /**
   * What to try alone first: when a node exited, a connection broke or a request hung, the request that found it,
   * the others in flight then and the last ones answered before; otherwise the requests answered 5xx.
   */
  readonly suspects: Item[];
  /** The last state-changing requests that succeeded before (oldest first). */
  readonly history: Item[];
}

interface Failure {
  readonly item: Item;
  readonly node: number;
  readonly outcome: Outcome;
  /** For a request that got no answer: what the nodes said of their groups right then. */
  readonly groups?: string;
}

interface Run {
  sent: number;
  readonly verdicts: Record<Outcome['verdict'], number>;
  readonly codes: Map<string, number>;
  /** Refusal messages with names and numbers blanked: what the refusals were about. */
  readonly messages: Map<string, number>;
  readonly kinds: Map<string, number>;
  readonly unavailable: Item[];
  readonly incidents: Incident[];
  elapsedMs: number;
  /** Logins again after a 401: an ALTER USER of an actor's own record ended its tokens. */
  relogins: number;
  answered: number;
  /** When the run began (for progress lines). */
  readonly startedAtMs: number;
  /** The slowest answers, slowest first (SLOWEST_KEPT of them). */
  readonly slowest: { item: Item; ms: number }[];
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function kindOf(sql: string): string {
  const words = sql.trim().split(/\s+/, 2);
  const first = (words[0] ?? '').toUpperCase();
  return /^[A-Z]+$/.test(first) ? first : '(other)';
}

function newRun(): Run {
  return {
    sent: 0,
    verdicts: { ok: 0, refused: 0, unavailable: 0, failure: 0 },
    codes: new Map(),
    messages: new Map(),
    kinds: new Map(),
    unavailable: [],
    incidents: [],
    elapsedMs: 0,
    relogins: 0,
    slowest: [],
    answered: 0,
    startedAtMs: Date.now(),
  };
}

/** Requests that read only: everything else may change what later requests meet. */
const READ_ONLY_KINDS: ReadonlySet<string> = new Set(['SELECT', 'SHOW', 'DESCRIBE', 'DESC', 'USE', 'SUBSCRIBE']);

/**
 * Sends requests from `gen` through CLIENTS concurrent clients, round-robin over the nodes of `cluster`, until `gen`
 * ends or an incident: a node that exited, a connection that broke or a request that hung stops it at once; 5xx
 * answers are recorded and stop it at the end of `gen` or at FAILURES_MAX.
 */
async function segment(cluster: FuzzCluster, gen: Generator<Item>, run: Run): Promise<Incident | null> {
  const failures: Failure[] = [];
  const history: Item[] = [];
  let suspects: Item[] = [];
  const inFlight = new Map<number, Item>();
  const recent: Item[] = [];
  const started = Date.now();
  let stop = false;
  const halt = (first?: Item): void => {
    if (stop) return;
    stop = true;
    suspects = [...(first === undefined ? [] : [first]), ...inFlight.values(), ...recent.slice().reverse()];
  };
  const client = async (): Promise<void> => {
    while (!stop) {
      if ((await cluster.exited()).length > 0) return halt();
      const next = gen.next();
      if (next.done === true) return;
      const item = next.value;
      const node = cluster.ids()[item.index % MEMBERS] ?? 1;
      inFlight.set(item.index, item);
      run.sent++;
      bump(run.kinds, kindOf(item.req.sql));
      const sentAt = Date.now();
      const outcome = await cluster.send(item.req, node);
      noteSlow(run, item, Date.now() - sentAt);
      inFlight.delete(item.index);
      recent.push(item);
      if (recent.length > 20) recent.shift();
      run.verdicts[outcome.verdict]++;
      if (outcome.verdict === 'ok' && !READ_ONLY_KINDS.has(kindOf(item.req.sql))) {
        history.push(item);
        if (history.length > HISTORY_KEPT) history.shift();
      }
      if (outcome.code !== undefined) bump(run.codes, `${outcome.status} ${outcome.code}`);
      if (outcome.verdict === 'refused') bump(run.messages, shapeOf(outcome.detail));
      if (outcome.verdict === 'unavailable') run.unavailable.push(item);
      if (outcome.verdict === 'failure') {
        const groups = outcome.status === 0 ? await cluster.diagnose() : undefined;
        failures.push({ item, node, outcome, ...(groups === undefined ? {} : { groups }) });
        if (outcome.status === 0 || failures.length >= FAILURES_MAX) halt(item);
      }
      if (++run.answered % 2_000 === 0) progress(run);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  run.elapsedMs += Date.now() - started;
  run.relogins += cluster.relogins;
  const exits = (await cluster.exited()).map((e) => e.detail);
  if (exits.length === 0 && failures.length === 0) return null;
  if (suspects.length === 0) suspects = exits.length > 0 ? [...recent].reverse() : failures.map((f) => f.item);
  return { failures, exits, suspects, history };
}

function noteSlow(run: Run, item: Item, ms: number): void {
  const last = run.slowest.at(-1);
  if (run.slowest.length >= SLOWEST_KEPT && last !== undefined && last.ms >= ms) return;
  run.slowest.push({ item, ms });
  run.slowest.sort((a, b) => b.ms - a.ms);
  run.slowest.length = Math.min(run.slowest.length, SLOWEST_KEPT);
}

function progress(run: Run): void {
  const s = (Date.now() - run.startedAtMs) / 1000;
  const { ok, refused, unavailable } = run.verdicts;
  process.stderr.write(
    `fuzz-sql: ${run.answered}/${STATEMENTS} in ${s.toFixed(0)} s (${(run.answered / s).toFixed(0)}/s): ` +
      `${ok} ok, ${refused} refused, ${unavailable} unavailable\n`,
  );
}

/** A message with its particulars blanked, so that messages of one kind count together. */
function shapeOf(message: string): string {
  return message
    .replace(/^statement \d+ of \d+: /, '')
    .replace(/ at line \d+, column \d+$/, '')
    .replace(/"(?:[^"\\]|\\.)*"|'[^']*'/g, '…')
    .replace(/\d+/g, 'N')
    .slice(0, 90);
}

function describeRequest(req: FuzzRequest): string {
  const sql = req.sql.length > 1_500 ? `${req.sql.slice(0, 1_500)}… (${req.sql.length} chars)` : req.sql;
  const extra = [
    req.params === undefined ? '' : ` params ${JSON.stringify(req.params).slice(0, 300)}`,
    req.namespace === undefined ? '' : ` namespace_id ${JSON.stringify(req.namespace)}`,
  ].join('');
  return `as ${req.actor}: ${JSON.stringify(sql)}${extra}`;
}

function idOf(item: Item): string {
  return `${Math.floor(item.index / CHUNK)}:${item.index % CHUNK}`;
}

function summary(run: Run): string {
  const top = (m: Map<string, number>, n: number): string =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const { ok, refused, unavailable, failure } = run.verdicts;
  return [
    `fuzz-sql: seed ${SEED}: ${run.sent} requests in ${(run.elapsedMs / 1000).toFixed(1)} s ` +
      `(${((run.sent * 1000) / Math.max(1, run.elapsedMs)).toFixed(0)}/s, ${CLIENTS} clients, ${MEMBERS} nodes)`,
    `  answers: ${ok} ok, ${refused} refused (4xx), ${unavailable} unavailable (503), ${failure} failures ` +
      `(${run.incidents.length} incident${run.incidents.length === 1 ? '' : 's'}); ` +
      `${run.relogins} logins again after an ALTER USER ended an actor's tokens`,
    `  by kind: ${top(run.kinds, 30)}`,
    `  error codes: ${top(run.codes, 20)}`,
    `  refusals: ${top(run.messages, 25)}`,
    `  slowest answers: ${run.slowest.map((s) => `${s.ms} ms ${idOf(s.item)} ${describeRequest(s.item.req).slice(0, 160)}`).join('\n    ')}`,
  ].join('\n');
}

/**
 * A cluster for reproducing one request alone: started on first use, the pool restored before each try, started
 * again after a try that stopped a node. A try reproduces when a node exits, the answer is a failure, or the digests
 * differ once every node applied the same index.
 */
class Reproducer {
  private cluster: FuzzCluster | undefined;
  tries = 0;
  starts = 0;

  async reproduces(req: FuzzRequest): Promise<string | null> {
    this.tries++;
    const cluster = await this.fresh();
    const outcome = await cluster.send(req, 1);
    const settled = await cluster.settle(REPRO_SETTLE_MS);
    if (settled.kind === 'exited') {
      // Give the other nodes a moment to apply (and stop on) the same entry, to say how many it stopped.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const exits = await cluster.exited();
      await this.drop();
      return `${exits.length} of ${MEMBERS} nodes exited; ${exits[0]?.detail ?? settled.detail}`;
    }
    if (outcome.verdict === 'failure') return `answer: ${outcome.detail}`;
    if (settled.kind === 'diverged' && !settled.detail.startsWith('no common applied index')) return settled.detail;
    return null;
  }

  private async fresh(): Promise<FuzzCluster> {
    if (this.cluster !== undefined && (await this.cluster.exited()).length === 0) {
      try {
        await this.cluster.restorePool();
        return this.cluster;
      } catch {
        await this.drop();
      }
    }
    await this.drop();
    this.starts++;
    this.cluster = await FuzzCluster.start(MEMBERS);
    return this.cluster;
  }

  private async drop(): Promise<void> {
    const c = this.cluster;
    this.cluster = undefined;
    await c?.close();
  }

  close(): Promise<void> {
    return this.drop();
  }
}

/**
 * Tries each incident's suspects alone on a fresh cluster, the first incident's first; the first that reproduces is
 * shrunk by fast-check (replayed from its seed and path, so the shrinker starts from exactly that request). Returns
 * what to print.
 */
async function minimize(incidents: readonly Incident[], budgetMs: number): Promise<string> {
  const seen = new Set<number>();
  const suspects = incidents
    .flatMap((incident) => incident.suspects.slice(0, SUSPECTS_MAX))
    .filter((s) => !seen.has(s.index) && seen.add(s.index));
  const repro = new Reproducer();
  const started = Date.now();
  try {
    for (const suspect of suspects) {
      if (Date.now() - started > budgetMs / 2) break;
      const how = await repro.reproduces(suspect.req);
      if (how === null) continue;
      process.stderr.write(`fuzz-sql: request ${idOf(suspect)} reproduces alone (${how.split('\n')[0]}); shrinking\n`);
      let smallest: { req: FuzzRequest; how: string } = { req: suspect.req, how };
      const result = await fc.check(
        fc.asyncProperty(fuzzRequest, async (req) => {
          const failed = await repro.reproduces(req);
          if (failed !== null && req.sql.length <= smallest.req.sql.length) smallest = { req, how: failed };
          return failed === null;
        }),
        {
          seed: chunkSeed(Math.floor(suspect.index / CHUNK)),
          path: String(suspect.index % CHUNK),
          numRuns: 1,
          interruptAfterTimeLimit: Math.max(1_000, budgetMs - (Date.now() - started)),
          markInterruptAsFailure: false,
        },
      );
      const shrunk = result.counterexample?.[0] ?? smallest.req;
      const shrunkHow = result.counterexample === null ? smallest.how : ((await repro.reproduces(shrunk)) ?? how);
      return [
        `request ${idOf(suspect)} ${describeRequest(suspect.req)}`,
        `  reproduces alone on a fresh ${MEMBERS}-node cluster: ${how}`,
        `shrunk by fast-check (${result.numShrinks} steps, ${repro.tries} tries, ${repro.starts} cluster starts, ` +
          `${((Date.now() - started) / 1000).toFixed(0)} s${result.interrupted ? ', interrupted by the time limit' : ''}) to:`,
        `  ${describeRequest(shrunk)}`,
        `  → ${shrunkHow}`,
      ].join('\n');
    }
  } finally {
    await repro.close();
  }
  return [
    `none of the ${suspects.length} suspects reproduces alone on a fresh cluster; the failure needs what came before.`,
    ...suspects.map((s) => `  ${idOf(s)} ${describeRequest(s.req)}`),
    `the last state-changing requests that succeeded before the first incident, oldest first:`,
    ...(incidents[0]?.history ?? []).map((s) => `  ${idOf(s)} ${describeRequest(s.req).slice(0, 400)}`),
  ].join('\n');
}

function describeIncident(incident: Incident): string {
  return [
    ...incident.exits,
    ...incident.failures.map(
      (f) =>
        `request ${idOf(f.item)} to node ${f.node} ${describeRequest(f.item.req)}\n  → ${f.outcome.detail}` +
        (f.groups === undefined ? '' : `\n  the groups then:\n${f.groups.replace(/^/gm, '    ')}`),
    ),
  ].join('\n');
}

/** Drops every schedule the fuzz created (a frequent one would keep the replicas busy while they are compared). */
async function dropSchedules(cluster: FuzzCluster): Promise<void> {
  const rows = await cluster.rows('root', "SELECT schedule_id FROM system.schedules WHERE schedule_id != 'retention'");
  for (const [id] of rows) await cluster.rows('root', `DROP SCHEDULE IF EXISTS '${String(id).replaceAll("'", "''")}'`);
}

/** The run (at well under 50 requests/s), settling, and a shrink on failure; the runner's file timeout bounds it too. */
const TEST_TIMEOUT_MS = 10 * 60_000 + STATEMENTS * 20 + SHRINK_MS;
/** What shrinking leaves for the rest: closing clusters, printing. */
const SHRINK_MARGIN_MS = 45_000;

test(
  `fuzz-sql: ${STATEMENTS} generated statements against a 3-node cluster`,
  { timeout: TEST_TIMEOUT_MS },
  async (t) => {
    const testStarted = Date.now();
    process.stderr.write(
      `fuzz-sql: seed ${SEED}, ${STATEMENTS} statements, ${CLIENTS} clients; replay with ` +
        `KALAM_FUZZ_SEED=${SEED} KALAM_FUZZ_STATEMENTS=${STATEMENTS} node scripts/run-tests.mjs fuzz-sql ` +
        `(snapshots every ${SNAPSHOT_THRESHOLD} entries)\n`,
    );
    let cluster = await FuzzCluster.start(MEMBERS);
    t.after(() => cluster.close());

    const run = newRun();
    const gen = requests();
    for (;;) {
      const incident = await segment(cluster, gen, run);
      if (incident === null) break;
      run.incidents.push(incident);
      // Printed now: if shrinking runs out of time, this much is known.
      process.stderr.write(
        `fuzz-sql: INCIDENT ${run.incidents.length}, seed ${SEED}:\n${describeIncident(incident)}\n`,
      );
      if (!KEEP_GOING || run.incidents.length >= INCIDENTS_MAX || run.sent >= STATEMENTS) break;
      process.stderr.write('fuzz-sql: going on with the next requests on a fresh cluster (KALAM_FUZZ_KEEP_GOING=1)\n');
      await cluster.close();
      cluster = await FuzzCluster.start(MEMBERS);
    }
    process.stderr.write(`${summary(run)}\n`);

    const first = run.incidents[0];
    if (first !== undefined) {
      await cluster.close();
      const budgetMs = Math.min(SHRINK_MS, FILE_TIMEOUT_MS - (Date.now() - testStarted) - SHRINK_MARGIN_MS);
      const minimal =
        budgetMs < 30_000
          ? `no time left to reproduce and shrink (${budgetMs} ms)`
          : await minimize(run.incidents, budgetMs);
      const all = run.incidents.map((inc, i) => `incident ${i + 1}:\n${describeIncident(inc)}`).join('\n\n');
      assert.fail(
        `seed ${SEED}: ${all}\n\nreproduced alone: ${minimal}\n\n` +
          `replay: KALAM_FUZZ_SEED=${SEED} node scripts/run-tests.mjs fuzz-sql`,
      );
    }

    await t.test('503s are few, and each request answered 503 is answered once the cluster is quiet', async () => {
      const allowed = Math.max(UNAVAILABLE_MIN, Math.ceil(STATEMENTS * UNAVAILABLE_SHARE));
      assert.ok(run.unavailable.length <= allowed, `${run.unavailable.length} answers 503 (at most ${allowed})`);
      for (const item of run.unavailable) {
        const again = await cluster.send(item.req, 1);
        assert.ok(
          again.verdict === 'ok' || again.verdict === 'refused',
          `seed ${SEED}, request ${idOf(item)} ${describeRequest(item.req)}: 503 under load, then ${again.detail}`,
        );
      }
    });

    await t.test('no node exited and every group converged to equal digests', async () => {
      await dropSchedules(cluster);
      const settled = await cluster.settle(SETTLE_MS);
      assert.equal(settled.kind, 'converged', `seed ${SEED}: ${'detail' in settled ? settled.detail : ''}`);
      assert.deepEqual(await cluster.exited(), []);
    });

    await t.test('the cluster still takes a fresh write that every node reads back', async () => {
      await cluster.rows('root', 'CREATE NAMESPACE IF NOT EXISTS fz_final');
      await cluster.rows('root', 'CREATE TABLE IF NOT EXISTS fz_final.check (id BIGINT PRIMARY KEY, v TEXT)');
      const id = SEED;
      await cluster.rows('fz_user', `INSERT INTO fz_final.check (id, v) VALUES (${id}, 'after the fuzz')`, 1);
      for (const node of cluster.ids()) {
        const rows = await cluster.rows('fz_user', `SELECT v FROM fz_final.check WHERE id = ${id}`, node);
        assert.deepEqual(rows, [['after the fuzz']], `node ${node}`);
      }
    });
  },
);

// The client's own bound must leave room for the executor's (a request may wait on a proposal and a read barrier).
assert.ok(REQUEST_TIMEOUT_MS >= 20_000);
