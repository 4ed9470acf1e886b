/**
 * The `[live]` part of a drill: live queries across the death of the subscribers' node (issue 6 §2).
 *
 * Setup (`LiveDrill.setup`, after the register workload's): a USER table `drill.live` and a SHARED table
 * `drill.live_shared` (both `id BIGINT PRIMARY KEY, v TEXT`), `subscribers` users `drill_lvNN`. Each user opens one
 * WebSocket to on_node and subscribes `SELECT * FROM drill.live` (its own rows); with `shared`, root subscribes
 * `SELECT * FROM drill.live_shared` too. Every subscription is followed by a LiveStream.
 *
 * Run (`start` … `stopWriters`): one writer per subscription commits a fixed script through writers_on — an insert
 * of a new id, every 5th write an update of an earlier row, every 7th a delete — and records each write with its
 * outcome (transport.ts: ok with its row_count, failed = no effect, unknown = may have applied). Values are unique.
 * When a subscriber's connection to on_node closes (the node was killed), it resumes on resume_on with
 * `from_seq_id` = its stream's cursor (LiveStream.resume), retrying while resume_on re-elects, within bounds.
 *
 * Finish (`finish`, after the final heal): each writer commits a marker insert; each stream must reach the marker's
 * `_seq`. Then the checks, one per subscription (`live-stream <name>`, `checkLiveStream`) and `live-cleanup`:
 * - live-stream: the delivered changes (across the resume) have strictly increasing `_seq` (no duplicate, no
 *   reordering); they equal, change for change, the reference stream after the first subscription's snapshot —
 *   the reference being a fresh subscription with from_seq_id 0 on writers_on (the node's change log, in commit
 *   order); the initial rows equal the reference's state at the snapshot; initial rows + changes replay to the
 *   table's final state; every acknowledged write that changed a row is in the stream exactly once, every unknown
 *   one at most once, every failed one never.
 * - live-cleanup: within cleanup_timeout_ms, system.live_queries lists no registration of on_node, and lists every
 *   open subscription with the node holding its socket.
 * Every connection is closed at the end, on success and on failure (`close`).
 */
import type { ChangeEvent, LiveAuth, LiveSubscription } from '@kalam/server';
import { LiveClient, LiveStream } from '@kalam/server';

import { trustedCa } from '../cluster/tls.js';
import type { NodeId } from '../cluster/types.js';
import type { CheckOutcome } from './checks.js';
import { DRILL_LIMITS } from './limits.js';
import type { LiveSpec } from './spec.js';
import type { Classified, DrillTransport } from './transport.js';
import { classifyFailure, classifyReply, rowCountOf, rowsOf } from './transport.js';
import type { Caller, DrillNode } from './workload.js';
import { DRILL_NAMESPACE, login, setupSql, sleep } from './workload.js';

export const LIVE_USER_TABLE = `${DRILL_NAMESPACE}.live`;
export const LIVE_SHARED_TABLE = `${DRILL_NAMESPACE}.live_shared`;
const SQL_PATH = '/v1/api/sql';
/** Writer w's ids are w * ID_STRIDE + n, so no two writers share one; the marker is past every script id. */
const ID_STRIDE = 1_000_000;
const MARKER_OFFSET = 900_000;
/** Tries of a marker insert (each with a fresh id, so an unknown first try cannot collide). */
const MARKER_TRIES = 10;
/** Most problems one check's detail names. */
const PROBLEMS_MAX = 3;

type Row = Readonly<Record<string, unknown>>;

/** One write of a live writer, as recorded. */
export interface LiveWrite {
  readonly kind: 'insert' | 'update' | 'delete';
  readonly id: number;
  /** The written value (for a delete, the value it was meant to remove: unused). */
  readonly v: string;
  readonly outcome: 'ok' | 'failed' | 'unknown';
  /** Rows the write changed, when acknowledged (an update or delete of a row an unknown insert never made: 0). */
  readonly rowCount: number;
}

/** A change as the check compares it. */
export interface StreamChange {
  readonly seq: number;
  readonly changeType: 'insert' | 'update' | 'delete';
  readonly id: number;
  readonly v: string | null;
}

/** What `checkLiveStream` judges for one subscription. */
export interface LiveStreamInput {
  readonly name: string;
  /** The initial rows of the first subscription, and the `_seq` they were read at. */
  readonly initialRows: readonly { readonly id: number; readonly v: string | null }[];
  readonly snapshotSeq: number;
  /** Every change delivered, across the resume, in arrival order. */
  readonly delivered: readonly StreamChange[];
  /** The reference stream from `_seq` 0 (or why it could not be read). */
  readonly reference: readonly StreamChange[] | { readonly error: string };
  /** The table's rows for this subscriber after the run, by id. */
  readonly finalRows: ReadonlyMap<number, string | null> | { readonly error: string };
  readonly writes: readonly LiveWrite[];
  /** Problems met on the way (a resume that never succeeded, the marker never delivered). */
  readonly errors: readonly string[];
  /** Where the stream went: e.g. "node 2, then node 3 from _seq 41". */
  readonly route: string;
}

function describe(c: StreamChange): string {
  return `${c.changeType} id ${c.id}${c.v === null ? '' : ` v ${c.v}`} at _seq ${c.seq}`;
}

function sameChange(a: StreamChange, b: StreamChange): boolean {
  return a.seq === b.seq && a.changeType === b.changeType && a.id === b.id && a.v === b.v;
}

function replay(
  start: Iterable<readonly [number, string | null]>,
  changes: readonly StreamChange[],
): Map<number, string | null> {
  const state = new Map<number, string | null>(start);
  for (const c of changes) {
    if (c.changeType === 'delete') state.delete(c.id);
    else state.set(c.id, c.v);
  }
  return state;
}

function sameState(a: ReadonlyMap<number, string | null>, b: ReadonlyMap<number, string | null>): string | null {
  for (const [id, v] of a) {
    if (!b.has(id)) return `id ${id} only in the first`;
    if (b.get(id) !== v) return `id ${id}: ${String(v)} vs ${String(b.get(id))}`;
  }
  for (const id of b.keys()) if (!a.has(id)) return `id ${id} only in the second`;
  return null;
}

/** The stream check of one subscription (see the module comment); a pure function, so a test can doctor its input. */
export function checkLiveStream(input: LiveStreamInput): CheckOutcome {
  const name = `live-stream ${input.name}`;
  const problems: string[] = [...input.errors];
  const d = input.delivered;
  // 1. Commit order, no duplicate: `_seq` strictly increases.
  for (let i = 1; i < d.length; i++) {
    const [prev, cur] = [d[i - 1] as StreamChange, d[i] as StreamChange];
    if (cur.seq === prev.seq) problems.push(`duplicate at position ${i}: ${describe(cur)}`);
    else if (cur.seq < prev.seq)
      problems.push(`out of order at position ${i}: ${describe(cur)} after _seq ${prev.seq}`);
  }
  // 2. Against the reference: the same changes after the snapshot, one for one.
  if ('error' in input.reference) {
    problems.push(`no reference stream: ${input.reference.error}`);
  } else {
    const ref = input.reference.filter((c) => c.seq > input.snapshotSeq);
    const n = Math.max(ref.length, d.length);
    for (let i = 0; i < n; i++) {
      const [want, got] = [ref[i], d[i]];
      if (want !== undefined && got !== undefined && sameChange(want, got)) continue;
      if (want === undefined)
        problems.push(
          `${d.length - ref.length} change(s) beyond the committed history, first ${describe(got as StreamChange)}`,
        );
      else if (got === undefined)
        problems.push(`gap: ${ref.length - d.length} committed change(s) never delivered, first ${describe(want)}`);
      else
        problems.push(
          `differs from the committed history at position ${i}: got ${describe(got)}, committed ${describe(want)}`,
        );
      break;
    }
    const atSnapshot = replay(
      [],
      input.reference.filter((c) => c.seq <= input.snapshotSeq),
    );
    const initial = new Map(input.initialRows.map((r) => [r.id, r.v] as const));
    const diff = sameState(initial, atSnapshot);
    if (diff !== null) problems.push(`initial rows are not the state at _seq ${input.snapshotSeq} (${diff})`);
  }
  // 3. Initial rows + changes replay to the final state.
  if ('error' in input.finalRows) {
    problems.push(`no final state: ${input.finalRows.error}`);
  } else {
    const diff = sameState(
      replay(
        input.initialRows.map((r) => [r.id, r.v] as const),
        d,
      ),
      input.finalRows,
    );
    if (diff !== null) problems.push(`replaying the stream does not give the final rows (${diff})`);
  }
  // 4. Every acknowledged write exactly once, unknown at most once, failed never.
  const count = (w: LiveWrite): number =>
    d.filter((c) => c.changeType === w.kind && c.id === w.id && (w.kind === 'delete' || c.v === w.v)).length;
  let acked = 0;
  for (const w of input.writes) {
    const seen = count(w);
    const what = `${w.outcome} ${w.kind} id ${w.id}${w.kind === 'delete' ? '' : ` v ${w.v}`}`;
    if (w.outcome === 'ok' && w.rowCount > 0) {
      acked++;
      if (seen !== 1) problems.push(`${what} delivered ${seen} time(s)`);
    } else if (w.outcome === 'failed' && seen !== 0) problems.push(`${what} delivered ${seen} time(s)`);
    else if (w.outcome === 'unknown' && seen > 1) problems.push(`${what} delivered ${seen} times`);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, PROBLEMS_MAX).join('; ');
    const more = problems.length > PROBLEMS_MAX ? `; … and ${problems.length - PROBLEMS_MAX} more` : '';
    return { name, passed: false, detail: `${shown}${more} (${input.route})` };
  }
  return {
    name,
    passed: true,
    detail: `${d.length} changes after _seq ${input.snapshotSeq}, gap-free and duplicate-free, ${acked} acknowledged write(s) each once (${input.route})`,
  };
}

/** The changes of a subscription in the check's terms. */
export function toStreamChanges(events: readonly ChangeEvent[]): StreamChange[] {
  return events.map((e) => ({
    seq: e.seq,
    changeType: e.changeType,
    id: Number(e.row['id']),
    v: e.changeType === 'delete' ? null : typeof e.row['v'] === 'string' ? e.row['v'] : null,
  }));
}

/** The script of writer `w`: its n-th write (n from 1). */
export function liveOp(w: number, n: number): { kind: LiveWrite['kind']; id: number; v: string } {
  const v = `w${w}.${n}`;
  if (n % 5 === 0 && n > 3) return { kind: 'update', id: w * ID_STRIDE + n - 3, v };
  if (n % 7 === 0 && n > 2) return { kind: 'delete', id: w * ID_STRIDE + n - 2, v };
  return { kind: 'insert', id: w * ID_STRIDE + n, v };
}

function statementOf(table: string, op: ReturnType<typeof liveOp>): { sql: string; params: unknown[] } {
  switch (op.kind) {
    case 'insert':
      return { sql: `INSERT INTO ${table} (id, v) VALUES (${op.id}, $1)`, params: [op.v] };
    case 'update':
      return { sql: `UPDATE ${table} SET v = $1 WHERE id = ${op.id}`, params: [op.v] };
    case 'delete':
      return { sql: `DELETE FROM ${table} WHERE id = ${op.id}`, params: [] };
  }
}

interface Subscriber {
  readonly index: number;
  readonly name: string;
  readonly table: string;
  readonly sql: string;
  readonly clientId: string;
  /** `Bearer …` for HTTP; the same token for the WebSocket. */
  readonly auth: string;
  readonly live: LiveAuth;
  readonly stream: LiveStream;
  readonly clients: LiveClient[];
  first: LiveSubscription | null;
  /** The node holding the current connection; null while resuming or after giving up. */
  node: NodeId | null;
  readonly writes: LiveWrite[];
  readonly errors: string[];
  readonly route: string[];
  resuming: Promise<void> | null;
}

export interface LiveDrillOptions {
  readonly spec: LiveSpec;
  readonly transport: DrillTransport;
  readonly nodes: readonly DrillNode[];
  readonly root: { readonly user: string; readonly password: string };
  readonly callTimeoutMs: number;
  readonly seed: number;
  readonly progress: (line: string) => void;
}

export class LiveDrill {
  private stopping = false;
  private closing = false;
  private loops: Promise<void>[] = [];

  private constructor(
    private readonly opts: LiveDrillOptions,
    private readonly subscribers: Subscriber[],
  ) {}

  private url(node: NodeId): string {
    const n = this.opts.nodes.find((x) => x.id === node);
    if (n === undefined) throw new Error(`no node ${node}`);
    return n.apiUrl;
  }

  /** Tables, users, and every subscription on on_node (initial load done). */
  static async setup(opts: LiveDrillOptions): Promise<LiveDrill> {
    const { spec } = opts;
    const c: Caller = { transport: opts.transport, nodes: opts.nodes, timeoutMs: DRILL_LIMITS.callTimeoutMsMax };
    const root = await login(c, opts.root.user, opts.root.password);
    const ddl = async (sql: string, what: string): Promise<void> => {
      await setupSql(c, root.auth, sql, [], what);
    };
    await ddl(`CREATE USER TABLE ${LIVE_USER_TABLE} (id BIGINT PRIMARY KEY, v TEXT)`, 'CREATE TABLE live');
    if (spec.shared)
      await ddl(`CREATE SHARED TABLE ${LIVE_SHARED_TABLE} (id BIGINT PRIMARY KEY, v TEXT)`, 'CREATE TABLE live_shared');
    const subscribers: Subscriber[] = [];
    const make = (index: number, name: string, table: string, auth: string): Subscriber => ({
      index,
      name,
      table,
      sql: `SELECT * FROM ${table}`,
      clientId: `drill-${name}`,
      auth,
      live: { token: auth.replace(/^Bearer /, '') },
      stream: new LiveStream(),
      clients: [],
      first: null,
      node: null,
      writes: [],
      errors: [],
      route: [],
      resuming: null,
    });
    const created = await Promise.all(
      Array.from({ length: spec.subscribers }, async (_, u) => {
        const username = `drill_lv${String(u).padStart(2, '0')}`;
        const password = `lv-${opts.seed.toString(36)}-${u}-pass`;
        await setupSql(
          c,
          root.auth,
          `CREATE USER '${username}' WITH PASSWORD '${password}' ROLE user`,
          [],
          `CREATE USER ${username}`,
          u,
        );
        const session = await login(c, username, password, u);
        return make(u + 1, username, LIVE_USER_TABLE, session.auth);
      }),
    );
    subscribers.push(...created);
    if (spec.shared) subscribers.push(make(spec.subscribers + 1, 'shared', LIVE_SHARED_TABLE, root.auth));
    const drill = new LiveDrill(opts, subscribers);
    try {
      await Promise.all(subscribers.map((s) => drill.subscribeFirst(s)));
    } catch (err) {
      drill.close();
      throw err;
    }
    opts.progress(
      `  live: ${spec.subscribers} subscriber(s)${spec.shared ? ' + 1 on the SHARED table' : ''} on node ${spec.onNode}, writers on node ${spec.writersOn}, resume on node ${spec.resumeOn}`,
    );
    return drill;
  }

  private async subscribeFirst(s: Subscriber): Promise<void> {
    const { onNode } = this.opts.spec;
    const client = await LiveClient.connect(this.url(onNode), s.live, DRILL_LIMITS.liveCallTimeoutMs, trustedCa());
    s.clients.push(client);
    const sub = await client.subscribe(s.clientId, s.sql, {}, DRILL_LIMITS.liveCallTimeoutMs);
    s.first = sub;
    s.stream.attach(sub);
    s.node = onNode;
    s.route.push(`node ${onNode} from its snapshot at _seq ${sub.snapshotSeq}`);
    this.watch(s, client, onNode);
  }

  /** When the connection to `node` closes while the drill runs, resume on resume_on. */
  private watch(s: Subscriber, client: LiveClient, node: NodeId): void {
    void client.closed.then(() => {
      if (this.closing || s.node !== node) return;
      s.node = null;
      if (node === this.opts.spec.resumeOn) {
        s.errors.push(`the connection to node ${node} (the resume node) closed`);
        return;
      }
      s.resuming = this.resume(s);
    });
  }

  private async resume(s: Subscriber): Promise<void> {
    const { resumeOn } = this.opts.spec;
    const from = s.stream.lastSeq;
    const startedAt = performance.now();
    let last = '';
    const deadline = startedAt + DRILL_LIMITS.liveResumeMsMax;
    for (
      let attempt = 0;
      attempt < DRILL_LIMITS.liveResumeTriesMax && !this.closing && performance.now() < deadline;
      attempt++
    ) {
      try {
        const { client } = await s.stream.resume(
          this.url(resumeOn),
          s.live,
          { id: s.clientId, sql: s.sql },
          DRILL_LIMITS.liveCallTimeoutMs,
          trustedCa(),
        );
        s.clients.push(client);
        s.node = resumeOn;
        const took = Math.round(performance.now() - startedAt);
        s.route.push(`node ${resumeOn} from _seq ${from} (${took} ms, ${attempt + 1} tries)`);
        this.opts.progress(`  live: ${s.name} resumed on node ${resumeOn} from _seq ${from} (${took} ms)`);
        this.watch(s, client, resumeOn);
        return;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
        await sleep(DRILL_LIMITS.liveResumeRetryMs);
      }
    }
    s.errors.push(`no resume on node ${resumeOn} (last: ${last})`);
  }

  /** Starts one writer per subscription. */
  start(): void {
    for (const s of this.subscribers) this.loops.push(this.writer(s));
  }

  /** Ends the writers after their current write. */
  async stopWriters(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  private async write(s: Subscriber, op: ReturnType<typeof liveOp>): Promise<LiveWrite> {
    const { sql, params } = statementOf(s.table, op);
    let result: Classified;
    try {
      const reply = await this.opts.transport.post(
        this.url(this.opts.spec.writersOn),
        SQL_PATH,
        s.auth,
        { sql, params },
        this.opts.callTimeoutMs,
      );
      result = classifyReply(reply);
    } catch (err) {
      result = classifyFailure(err);
    }
    const write: LiveWrite = {
      ...op,
      outcome: result.outcome,
      rowCount: result.outcome === 'ok' ? rowCountOf(result.body) : 0,
    };
    s.writes.push(write);
    return write;
  }

  private async writer(s: Subscriber): Promise<void> {
    for (let n = 1; n <= DRILL_LIMITS.liveWritesPerWriterMax && !this.stopping; n++) {
      const w = await this.write(s, liveOp(s.index, n));
      const pause = w.outcome === 'ok' ? this.opts.spec.writeEveryMs : Math.max(this.opts.spec.writeEveryMs, 100);
      if (pause > 0) await sleep(pause);
    }
  }

  /** Markers, the cleanup wait, the references and the checks; then every connection is closed. */
  async finish(): Promise<CheckOutcome[]> {
    try {
      const markers = await Promise.all(this.subscribers.map((s) => this.marker(s)));
      const cleanup = await this.checkCleanup();
      const outcomes: CheckOutcome[] = [];
      for (const [i, s] of this.subscribers.entries()) {
        outcomes.push(await this.checkSubscriber(s, markers[i] ?? null));
      }
      return [...outcomes, cleanup];
    } finally {
      this.close();
    }
  }

  /** Commits the marker insert; resolves with its `_seq` once the stream has it, or null (recorded as an error). */
  private async marker(s: Subscriber): Promise<number | null> {
    await s.resuming;
    for (let attempt = 0; attempt < MARKER_TRIES; attempt++) {
      const id = s.index * ID_STRIDE + MARKER_OFFSET + attempt;
      const w = await this.write(s, { kind: 'insert', id, v: `marker.${attempt}` });
      if (w.outcome !== 'ok') {
        await sleep(DRILL_LIMITS.liveResumeRetryMs);
        continue;
      }
      const rows = await this.query(s.auth, `SELECT _seq FROM ${s.table} WHERE id = ${id}`);
      const seq = Array.isArray(rows) ? Number(rows[0]?.[0]) : NaN;
      if (!Number.isFinite(seq)) {
        s.errors.push(`the marker's _seq could not be read (${Array.isArray(rows) ? 'no row' : rows.error})`);
        return null;
      }
      const sub = s.clients.at(-1)?.subscriptions.get(s.clientId);
      try {
        if (sub === undefined) throw new Error('no subscription');
        await sub.waitFor((x) => x.lastSeq >= seq || x.ended, DRILL_LIMITS.liveCallTimeoutMs);
      } catch {
        // Reported just below.
      }
      if (s.stream.lastSeq < seq)
        s.errors.push(`the marker at _seq ${seq} was not delivered (cursor ${s.stream.lastSeq})`);
      return seq;
    }
    s.errors.push(`the marker insert failed ${MARKER_TRIES} times`);
    return null;
  }

  private async query(auth: string, sql: string): Promise<unknown[][] | { error: string }> {
    let result: Classified;
    try {
      result = classifyReply(
        await this.opts.transport.post(
          this.url(this.opts.spec.writersOn),
          SQL_PATH,
          auth,
          { sql, params: [] },
          this.opts.callTimeoutMs,
        ),
      );
    } catch (err) {
      result = classifyFailure(err);
    }
    return result.outcome === 'ok' ? rowsOf(result.body) : { error: result.reason };
  }

  /** Polls system.live_queries (as root) until on_node has no registration and every open subscription is listed. */
  private async checkCleanup(): Promise<CheckOutcome> {
    const { onNode, cleanupTimeoutMs } = this.opts.spec;
    const rootAuth = this.subscribers.find((s) => s.name === 'shared')?.auth ?? (await this.rootAuth());
    const deadline = performance.now() + cleanupTimeoutMs;
    const started = performance.now();
    let last = 'not read';
    for (;;) {
      const rows = await this.query(rootAuth, 'SELECT subscription_id, node_id FROM system.live_queries');
      if (Array.isArray(rows)) {
        const mine = rows.filter((r) => typeof r[0] === 'string' && r[0].startsWith('drill-'));
        const stale = mine.filter((r) => Number(r[1]) === onNode);
        const missing = this.subscribers.filter(
          (s) => s.node !== null && !mine.some((r) => r[0] === s.clientId && Number(r[1]) === s.node),
        );
        if (stale.length === 0 && missing.length === 0) {
          const held = [...new Set(this.subscribers.map((s) => s.node))].filter((n) => n !== null).join(', ');
          return {
            name: 'live-cleanup',
            passed: true,
            detail: `no registration of node ${onNode} left after ${Math.round(performance.now() - started)} ms; ${mine.length} listed, on node ${held}`,
          };
        }
        last = [
          ...(stale.length > 0 ? [`${stale.length} registration(s) of node ${onNode} still listed`] : []),
          ...missing.map((s) => `${s.clientId} not listed with node ${String(s.node)}`),
        ].join('; ');
      } else {
        last = rows.error;
      }
      if (performance.now() + DRILL_LIMITS.liveCleanupPollMs > deadline) {
        return { name: 'live-cleanup', passed: false, detail: `after ${cleanupTimeoutMs} ms: ${last}` };
      }
      await sleep(DRILL_LIMITS.liveCleanupPollMs);
    }
  }

  private async rootAuth(): Promise<string> {
    const c: Caller = { transport: this.opts.transport, nodes: this.opts.nodes, timeoutMs: this.opts.callTimeoutMs };
    return (await login(c, this.opts.root.user, this.opts.root.password)).auth;
  }

  /** Reads the reference (from _seq 0 on writers_on) and the final rows, then judges the stream. */
  private async checkSubscriber(s: Subscriber, markerSeq: number | null): Promise<CheckOutcome> {
    let reference: StreamChange[] | { error: string };
    let refClient: LiveClient | null = null;
    try {
      refClient = await LiveClient.connect(
        this.url(this.opts.spec.writersOn),
        s.live,
        DRILL_LIMITS.liveCallTimeoutMs,
        trustedCa(),
      );
      const ref = await refClient.subscribe(
        `${s.clientId}-ref`,
        s.sql,
        { from_seq_id: 0 },
        DRILL_LIMITS.liveCallTimeoutMs,
      );
      const target = markerSeq ?? s.stream.lastSeq;
      await ref.waitFor((x) => x.lastSeq >= target || x.ended, DRILL_LIMITS.liveCallTimeoutMs);
      reference =
        ref.lastSeq >= target ? toStreamChanges(ref.changes) : { error: `it ended at _seq ${ref.lastSeq} < ${target}` };
    } catch (err) {
      reference = { error: err instanceof Error ? err.message : String(err) };
    } finally {
      refClient?.terminate();
    }
    const rows = await this.query(s.auth, `SELECT id, v FROM ${s.table}`);
    const finalRows = Array.isArray(rows)
      ? new Map(rows.map((r) => [Number(r[0]), typeof r[1] === 'string' ? r[1] : null] as const))
      : rows;
    const initial = (s.first?.initialRows ?? []) as Row[];
    return checkLiveStream({
      name: s.name,
      initialRows: initial.map((r) => ({ id: Number(r['id']), v: typeof r['v'] === 'string' ? r['v'] : null })),
      snapshotSeq: s.first?.snapshotSeq ?? 0,
      delivered: toStreamChanges(s.stream.changes),
      reference,
      finalRows,
      writes: s.writes,
      errors: s.errors,
      route: s.route.join(', then '),
    });
  }

  /** Closes every connection (idempotent). */
  close(): void {
    this.closing = true;
    this.stopping = true;
    for (const s of this.subscribers) for (const c of s.clients) c.terminate();
  }
}
