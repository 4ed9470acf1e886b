/**
 * The `[exactly_once]` part of a drill: counters incremented by `@kalam/client` clients that retry every unknown
 * outcome, under SIGKILLs — every increment must be applied exactly once (issue 14 §1).
 *
 * Setup (`ExactlyOnceDrill.setup`, after the register workload's, as root): a USER table `drill.counters` and a
 * SHARED table `drill.counters_shared` (both `k TEXT PRIMARY KEY, n BIGINT`), `clients` users `drill_eoNN` (role
 * service, so that they may write the SHARED table), each with `keys_per_client` rows `k0…` at n = 0, and with
 * `shared` one row `all` of the SHARED table at n = 0 that every client increments too.
 *
 * Run (`start` … `stopWriters`): each user drives one `@kalam/client` client over EVERY node (the client picks the
 * node, fails over, and with sessions on retries an unknown outcome through the next node under the same seq). A
 * client loops `UPDATE … SET n = n + 1 WHERE k = $1` — not idempotent, so a write applied twice shows — over its
 * keys (and the shared one), one write at a time, and counts per key the increments it got an answer for. A fetch
 * wrapper sees every HTTP attempt: a write with more than one attempt was retried; `replayed` in the answer says the
 * server answered a retry from its session instead of applying it again.
 * - `drop_answer_every = N`: the wrapper drops the first success answer to every Nth write of a client after reading
 *   it, as a network losing the response would. The write is applied and its client retries it unanswered, so every
 *   run meets that case however the kills fall (they alone may miss every write in flight), and the retry's answer
 *   must be a replay.
 * - An OutcomeUnknownError that escapes the client (its deadline passed while an attempt's answer was lost) is
 *   resolved on the spot by resending the very body of the last attempt (same client id, seq and acked) until a node
 *   answers: a success means the write is applied now, once (replayed or not); SESSION_EXPIRED / SESSION_STALE leave
 *   it unknown. It must be resolved before the client's next write, whose `acked` lets the server forget the seq.
 * - `sessions = false` is the control: the client sends no session, and the drill — like a naive application —
 *   retries an increment whose outcome is unknown as a new write. Then the counters must come out doubled, and the
 *   drill fails: that is how the drill proves it can fail (also with the sessions planted bug on the nodes).
 *
 * Finish (`finish`, after the final heal, the cluster whole): every counter read as root (`EXECUTE AS USER` for the
 * USER rows; linearizable reads), then `checkExactlyOnce`:
 * - `exactly-once`: each counter == the increments answered for it (+ the unknown ones resolved as applied):
 *   not lost, not doubled;
 * - `exactly-once-outcomes`: no increment left with an unknown outcome, and the faults did hit the writes (at least
 *   one write was retried — else the run proved nothing). The details say how many writes were retried, how many
 *   answers were replays, and which node the clients used most.
 */
import type { Client } from '@kalam/client';
import { createClient, KalamError, OutcomeUnknownError, SessionExpiredError } from '@kalam/client';

import { cliFetch } from '../cluster/tls.js';
import type { NodeId } from '../cluster/types.js';
import type { CheckOutcome } from './checks.js';
import { DRILL_LIMITS } from './limits.js';
import type { ExactlyOnceSpec } from './spec.js';
import type { Classified, DrillTransport } from './transport.js';
import { classifyFailure, classifyReply, isRecord, rowsOf } from './transport.js';
import type { Caller, DrillNode } from './workload.js';
import { DRILL_NAMESPACE, SQL_PATH, login, setupSql, sleep } from './workload.js';

export const COUNTER_TABLE = `${DRILL_NAMESPACE}.counters`;
export const SHARED_COUNTER_TABLE = `${DRILL_NAMESPACE}.counters_shared`;
export const SHARED_COUNTER_KEY = 'all';
/** Most problems one check's detail names. */
const PROBLEMS_MAX = 4;

/** What one client knows of one counter at the end of the run. */
export interface CounterTally {
  /** `user/<username>/<k>` or `shared/all`. */
  readonly key: string;
  /** Increments answered with a success (one row updated). */
  answered: number;
  /** Answered increments that took more than one HTTP attempt. */
  retried: number;
  /** Answers the server gave from a client session (`replayed`: the write was not applied again). */
  replayed: number;
  /** Increments whose first success answer the drill dropped (drop_answer_every); each retried, to a replay. */
  dropped: number;
  /** Increments whose outcome escaped the client as unknown, then resolved as applied by resending their seq. */
  resolved: number;
  /** Increments whose outcome stayed unknown (the resend was refused or never answered). */
  unknown: number;
  /** Increments that failed without effect (the client says nothing was applied). */
  failed: number;
  /** sessions = false only: increments the drill sent again after an unknown outcome, as a naive application does. */
  resent: number;
}

/** What `checkExactlyOnce` judges. */
export interface ExactlyOnceInput {
  readonly sessions: boolean;
  /** Every counter's tally, summed over the clients that increment it. */
  readonly tallies: readonly CounterTally[];
  /** The counters' values read after the run, by key (or why they could not be read). */
  readonly values: ReadonlyMap<string, number> | { readonly error: string };
  /** Problems met on the way (an answer that updated no row, a resend refused). */
  readonly errors: readonly string[];
  /** HTTP attempts per node, over every client. */
  readonly attemptsByNode: ReadonlyMap<NodeId, number>;
}

/** Sums tallies of the same key (the shared counter has one per client). */
export function mergeTallies(tallies: readonly CounterTally[]): CounterTally[] {
  const byKey = new Map<string, CounterTally>();
  for (const t of tallies) {
    const sum = byKey.get(t.key) ?? emptyTally(t.key);
    sum.answered += t.answered;
    sum.retried += t.retried;
    sum.replayed += t.replayed;
    sum.dropped += t.dropped;
    sum.resolved += t.resolved;
    sum.unknown += t.unknown;
    sum.failed += t.failed;
    sum.resent += t.resent;
    byKey.set(t.key, sum);
  }
  return [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
}

export function emptyTally(key: string): CounterTally {
  return { key, answered: 0, retried: 0, replayed: 0, dropped: 0, resolved: 0, unknown: 0, failed: 0, resent: 0 };
}

function total(tallies: readonly CounterTally[], field: Exclude<keyof CounterTally, 'key'>): number {
  return tallies.reduce((sum, t) => sum + t[field], 0);
}

function listed(problems: readonly string[]): string {
  const more = problems.length > PROBLEMS_MAX ? `; … and ${problems.length - PROBLEMS_MAX} more` : '';
  return `${problems.slice(0, PROBLEMS_MAX).join('; ')}${more}`;
}

/** The two checks of the module comment; a pure function, so a test can doctor its input. */
export function checkExactlyOnce(input: ExactlyOnceInput): CheckOutcome[] {
  const { tallies } = input;
  const problems: string[] = [];
  let doubled = 0;
  let lost = 0;
  if ('error' in input.values) {
    problems.push(`the counters could not be read: ${input.values.error}`);
  } else {
    for (const t of tallies) {
      const value = input.values.get(t.key);
      // An increment whose outcome stayed unknown may count 0 or 1: that is the other check's failure, not this one's.
      const [lo, hi] = [t.answered + t.resolved, t.answered + t.resolved + t.unknown];
      if (value === undefined) {
        problems.push(`${t.key}: no row`);
      } else if (value > hi) {
        doubled += value - hi;
        problems.push(`${t.key} = ${value} but ${lo} increment(s) answered: ${value - hi} applied twice`);
      } else if (value < lo) {
        lost += lo - value;
        problems.push(`${t.key} = ${value} but ${lo} increment(s) answered: ${lo - value} lost`);
      }
    }
  }
  const answered = total(tallies, 'answered');
  const retried = total(tallies, 'retried');
  const replayed = total(tallies, 'replayed');
  const resent = total(tallies, 'resent');
  const dropped = total(tallies, 'dropped');
  const mode = input.sessions ? 'client sessions on' : `client sessions OFF, ${resent} unknown increment(s) resent`;
  const sums = `${answered} increment(s) answered, ${retried} retried, ${replayed} answer(s) were replays, ${dropped} answer(s) dropped by the drill`;
  const counters: CheckOutcome =
    problems.length === 0
      ? {
          name: 'exactly-once',
          passed: true,
          detail: `${tallies.length} counter(s), each == its answered increments: ${sums} (${mode})`,
        }
      : {
          name: 'exactly-once',
          passed: false,
          detail: `${doubled} increment(s) applied twice, ${lost} lost: ${listed(problems)} — ${sums} (${mode})`,
        };
  const unknown = total(tallies, 'unknown');
  const resolved = total(tallies, 'resolved');
  const failed = total(tallies, 'failed');
  const busiest = [...input.attemptsByNode.entries()].sort((a, b) => b[1] - a[1]);
  const usage = busiest.map(([node, n]) => `node ${node} ${n}`).join(', ');
  const outcomeProblems = [...input.errors];
  if (unknown > 0) outcomeProblems.unshift(`${unknown} increment(s) left with an unknown outcome`);
  if (retried === 0 && resent === 0) outcomeProblems.push('no write was retried: the faults never hit a write');
  const outcomes: CheckOutcome = {
    name: 'exactly-once-outcomes',
    passed: outcomeProblems.length === 0,
    detail: `${
      outcomeProblems.length === 0 ? 'no increment left unknown' : listed(outcomeProblems)
    }; ${resolved} escaped unknown and resolved by resending their seq, ${failed} failed without effect; attempts per node: ${usage}`,
  };
  return [counters, outcomes];
}

/** The counters one client increments. */
interface CounterRow {
  readonly key: string;
  readonly table: string;
  readonly k: string;
}

interface DrillClient {
  readonly index: number;
  readonly username: string;
  readonly userId: string;
  readonly password: string;
  /** `Bearer …`, for the resend of an escaped unknown outcome (renewed on a 401). */
  auth: string;
  readonly counters: readonly CounterRow[];
  readonly tallies: Map<string, CounterTally>;
  /** Set by the fetch wrapper: attempts of the current write, and the body of its last attempt. */
  attempts: number;
  lastBody: string | null;
  /** Writes started (drop_answer_every counts them). */
  writes: number;
  /** The current write's first success answer is to be dropped; then it was. */
  dropNext: boolean;
  droppedThisWrite: boolean;
  client: Client | null;
}

export interface ExactlyOnceDrillOptions {
  readonly spec: ExactlyOnceSpec;
  readonly transport: DrillTransport;
  readonly nodes: readonly DrillNode[];
  readonly root: { readonly user: string; readonly password: string };
  readonly seed: number;
  readonly progress: (line: string) => void;
}

export class ExactlyOnceDrill {
  private stopping = false;
  private loops: Promise<void>[] = [];
  private readonly errors: string[] = [];
  private readonly attemptsByNode = new Map<NodeId, number>();

  private constructor(
    private readonly opts: ExactlyOnceDrillOptions,
    private readonly clients: DrillClient[],
  ) {}

  private caller(): Caller {
    return { transport: this.opts.transport, nodes: this.opts.nodes, timeoutMs: DRILL_LIMITS.callTimeoutMsMax };
  }

  /** Tables, users, their counters at 0; then one signed-in client per user. */
  static async setup(opts: ExactlyOnceDrillOptions): Promise<ExactlyOnceDrill> {
    const { spec } = opts;
    const c: Caller = { transport: opts.transport, nodes: opts.nodes, timeoutMs: DRILL_LIMITS.callTimeoutMsMax };
    const root = await login(c, opts.root.user, opts.root.password);
    await setupSql(c, root.auth, `CREATE USER TABLE ${COUNTER_TABLE} (k TEXT PRIMARY KEY, n BIGINT)`, [], 'counters');
    if (spec.shared) {
      const create = `CREATE SHARED TABLE ${SHARED_COUNTER_TABLE} (k TEXT PRIMARY KEY, n BIGINT)`;
      await setupSql(c, root.auth, create, [], 'counters_shared');
      const insert = `INSERT INTO ${SHARED_COUNTER_TABLE} (k, n) VALUES ($1, 0)`;
      await setupSql(c, root.auth, insert, [SHARED_COUNTER_KEY], 'the shared counter');
    }
    const shared: CounterRow[] = spec.shared
      ? [{ key: `shared/${SHARED_COUNTER_KEY}`, table: SHARED_COUNTER_TABLE, k: SHARED_COUNTER_KEY }]
      : [];
    const clients = await Promise.all(
      Array.from({ length: spec.clients }, async (_, i): Promise<DrillClient> => {
        const username = `drill_eo${String(i).padStart(2, '0')}`;
        const password = `eo-${opts.seed.toString(36)}-${i}-pass`;
        const create = `CREATE USER '${username}' WITH PASSWORD '${password}' ROLE service`;
        await setupSql(c, root.auth, create, [], `CREATE USER ${username}`, i);
        const session = await login(c, username, password, i);
        const ks = Array.from({ length: spec.keysPerClient }, (_, j) => `k${j}`);
        const values = ks.map((_, j) => `($${j + 1}, 0)`).join(', ');
        await setupSql(c, session.auth, `INSERT INTO ${COUNTER_TABLE} (k, n) VALUES ${values}`, ks, username, i);
        const own = ks.map((k) => ({ key: `user/${username}/${k}`, table: COUNTER_TABLE, k }));
        const counters = [...own, ...shared];
        return {
          index: i,
          username,
          userId: session.userId,
          password,
          auth: session.auth,
          counters,
          tallies: new Map(counters.map((r) => [r.key, emptyTally(r.key)])),
          attempts: 0,
          lastBody: null,
          writes: 0,
          dropNext: false,
          droppedThisWrite: false,
          client: null,
        };
      }),
    );
    const drill = new ExactlyOnceDrill(opts, clients);
    for (const dc of clients) dc.client = drill.makeClient(dc);
    opts.progress(
      `  exactly-once: ${spec.clients} client(s) over ${opts.nodes.length} nodes, ${spec.keysPerClient} counter(s) each${spec.shared ? ' + 1 shared' : ''}, sessions ${spec.sessions ? 'on' : 'OFF'}`,
    );
    return drill;
  }

  /**
   * A client over every node whose fetch counts each attempt (per node, and for the current write), and drops the
   * success answer the current write was chosen for (drop_answer_every).
   */
  private makeClient(dc: DrillClient): Client {
    const nodeOf = new Map(this.opts.nodes.map((n) => [new URL(n.apiUrl).origin, n.id] as const));
    const counting: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (!url.endsWith(SQL_PATH)) return cliFetch(url, init ?? {});
      dc.attempts++;
      if (typeof init?.body === 'string') dc.lastBody = init.body;
      const node = nodeOf.get(new URL(url).origin);
      if (node !== undefined) this.attemptsByNode.set(node, (this.attemptsByNode.get(node) ?? 0) + 1);
      const res = await cliFetch(url, init ?? {});
      if (!dc.dropNext || res.status !== 200) return res;
      // Read to the end first: the server has answered, so the write is applied; only its answer goes missing.
      await res.text();
      dc.dropNext = false;
      dc.droppedThisWrite = true;
      throw new Error('the drill dropped this answer (drop_answer_every)');
    };
    const { spec } = this.opts;
    return createClient(
      { nodes: this.opts.nodes.map((n) => n.apiUrl), user: dc.username, password: dc.password },
      {
        sessions: spec.sessions,
        callDeadlineMs: spec.callDeadlineMs,
        attemptTimeoutMs: spec.attemptTimeoutMs,
        fetch: counting,
      },
    );
  }

  /** Starts one write loop per client. */
  start(): void {
    for (const dc of this.clients) this.loops.push(this.loop(dc));
  }

  /** Ends the loops after their current write (and its resolution). */
  async stopWriters(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    const all = mergeTallies(this.clients.flatMap((dc) => [...dc.tallies.values()]));
    this.opts.progress(
      `  exactly-once: ${total(all, 'answered')} increment(s) answered, ${total(all, 'retried')} retried, ${total(all, 'replayed')} replay(s), ${total(all, 'unknown')} unknown`,
    );
  }

  private async loop(dc: DrillClient): Promise<void> {
    for (let n = 0; n < DRILL_LIMITS.callsPerClientMax && !this.stopping; n++) {
      const row = dc.counters[n % dc.counters.length] as CounterRow;
      const ok = await this.increment(dc, row);
      const pause = ok ? this.opts.spec.writeEveryMs : Math.max(this.opts.spec.writeEveryMs, 100);
      if (pause > 0) await sleep(pause);
    }
  }

  /** One logical increment, to its end; true when it was answered. */
  private async increment(dc: DrillClient, row: CounterRow): Promise<boolean> {
    const tally = dc.tallies.get(row.key) as CounterTally;
    const sql = `UPDATE ${row.table} SET n = n + 1 WHERE k = $1`;
    const every = this.opts.spec.dropAnswerEvery;
    dc.writes++;
    dc.dropNext = every > 0 && dc.writes % every === 0;
    dc.droppedThisWrite = false;
    // sessions = false: the naive application resends an unknown increment, at most this many times.
    for (let sends = 0; sends <= DRILL_LIMITS.exactlyOnceResendsMax; sends++) {
      dc.attempts = 0;
      dc.lastBody = null;
      try {
        const result = await (dc.client as Client).execute(sql, [row.k]);
        if (result.rowCount !== 1) this.errors.push(`${row.key}: an increment answered ${result.rowCount} row(s)`);
        tally.answered++;
        // The retry a dropped answer forces is not a fault's: `retried` keeps saying whether the kills hit a write.
        if (dc.attempts > (dc.droppedThisWrite ? 2 : 1)) tally.retried++;
        if (result.replayed) tally.replayed++;
        this.settleDropped(dc, row, tally, result.replayed);
        return true;
      } catch (err) {
        if (!(err instanceof OutcomeUnknownError)) {
          // A write the client says was not applied: nothing ran (its deadline passed on refusals, an expired
          // session before any attempt got through, a refusal). The counter check holds the client to it.
          tally.failed++;
          if (!(err instanceof KalamError) || err instanceof SessionExpiredError) this.note(row, err);
          return false;
        }
        if (this.opts.spec.sessions) {
          await this.resolve(dc, row, tally);
          return true;
        }
        tally.resent++;
      }
    }
    tally.unknown++;
    return false;
  }

  /** A write whose answer the drill dropped was applied: its retry's answer must come from the session. */
  private settleDropped(dc: DrillClient, row: CounterRow, tally: CounterTally, replayed: boolean): void {
    if (!dc.droppedThisWrite) return;
    tally.dropped++;
    if (this.opts.spec.sessions && !replayed && this.errors.length < DRILL_LIMITS.exactlyOnceErrorsMax) {
      this.errors.push(`${row.key}: an increment whose answer was dropped was applied again by its retry (no replay)`);
    }
  }

  private note(row: CounterRow, err: unknown): void {
    if (this.errors.length < DRILL_LIMITS.exactlyOnceErrorsMax) {
      this.errors.push(`${row.key}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    }
  }

  /**
   * An unknown outcome escaped the client: resend the last attempt's body (same seq) until a node answers, within
   * exactlyOnceResolveMsMax. The session's answer settles it: applied (now or before), or still unknown.
   */
  private async resolve(dc: DrillClient, row: CounterRow, tally: CounterTally): Promise<void> {
    const body: unknown = dc.lastBody === null ? null : JSON.parse(dc.lastBody);
    if (!isRecord(body) || !isRecord(body['client_session'])) {
      tally.unknown++;
      this.errors.push(`${row.key}: an unknown outcome without a session body to resend`);
      return;
    }
    const deadline = performance.now() + DRILL_LIMITS.exactlyOnceResolveMsMax;
    let last = 'no answer';
    for (let attempt = 0; performance.now() < deadline; attempt++) {
      const node = this.opts.nodes[(dc.index + attempt) % this.opts.nodes.length] as DrillNode;
      let result: Classified;
      let status = 0;
      try {
        const reply = await this.opts.transport.post(
          node.apiUrl,
          SQL_PATH,
          dc.auth,
          body,
          this.opts.spec.attemptTimeoutMs,
        );
        status = reply.status;
        result = classifyReply(reply);
      } catch (err) {
        result = classifyFailure(err);
      }
      if (result.outcome === 'ok') {
        tally.resolved++;
        const session = result.body['client_session'];
        const replayed = isRecord(session) && session['replayed'] === true;
        if (replayed) tally.replayed++;
        this.settleDropped(dc, row, tally, replayed);
        return;
      }
      last = `node ${node.id}: ${result.reason}`;
      if (status === 401) {
        dc.auth = (await login(this.caller(), dc.username, dc.password, dc.index)).auth;
      } else if (status === 409 || (status >= 400 && status < 500)) {
        break;
      }
      await sleep(DRILL_LIMITS.setupRetryMs);
    }
    tally.unknown++;
    this.errors.push(`${row.key}: an unknown increment not resolved by resending its seq (${last})`);
  }

  /** Reads every counter as root, judges, and closes every client. */
  async finish(): Promise<CheckOutcome[]> {
    try {
      const values = await this.readCounters();
      return checkExactlyOnce({
        sessions: this.opts.spec.sessions,
        tallies: mergeTallies(this.clients.flatMap((dc) => [...dc.tallies.values()])),
        values,
        errors: this.errors,
        attemptsByNode: this.attemptsByNode,
      });
    } finally {
      await this.close();
    }
  }

  private async readCounters(): Promise<Map<string, number> | { error: string }> {
    const c = this.caller();
    try {
      const root = await login(c, this.opts.root.user, this.opts.root.password);
      const values = new Map<string, number>();
      const read = async (sql: string, prefix: string): Promise<void> => {
        const body = (await setupSql(c, root.auth, sql, [], sql, 0, 'exactly-once finish')) as Record<string, unknown>;
        for (const r of rowsOf(body)) values.set(`${prefix}/${String(r[0])}`, Number(r[1]));
      };
      for (const dc of this.clients) {
        await read(`EXECUTE AS USER '${dc.userId}' (SELECT k, n FROM ${COUNTER_TABLE})`, `user/${dc.username}`);
      }
      if (this.opts.spec.shared) await read(`SELECT k, n FROM ${SHARED_COUNTER_TABLE}`, 'shared');
      return values;
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Closes every client (idempotent). */
  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.clients.map(async (dc) => {
        await dc.client?.close();
      }),
    );
  }
}
