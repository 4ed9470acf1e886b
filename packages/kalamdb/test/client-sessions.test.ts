// What this proves: client sessions (state/sessions.ts) make a retried row write apply exactly once in its data
// group. A write retried under the same (user, client id, seq) — a new log entry, as a retry through another node is —
// applies nothing and answers the remembered answer, a refusal included; acknowledged answers are forgotten; a seq at
// or below the watermark is SESSION_STALE; the unacknowledged window is bounded; idle sessions expire by the commands'
// `at` and the longest idle is evicted at the bound, and a dropped session's late retry is refused SESSION_EXPIRED,
// never applied (the horizon); a snapshot carries the sessions to another store; two stores fed the same log agree
// byte for byte. The planted bug `ignoreClientSessions` makes the first test's retry apply twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppliedEntry } from '@kalam/multiraft';
import type { Expr } from '@kalam/sql';
import {
  CLIENT_SESSION_LIMITS,
  DataStore,
  ShardRouter,
  canonicalJson,
  snapshotRecords,
  SharedDataStateMachine,
  SystemStateMachine,
  UserDataStateMachine,
  encodeCommand,
} from '../src/index.js';
import type {
  AnyCommand,
  ClientStamp,
  DataResponse,
  SharedDataCommand,
  SystemCommand,
  TableSchema,
  UserDataCommand,
} from '../src/index.js';

const router = new ShardRouter();
const ALICE = 'alice';
const T0 = 1_700_000_000_000;
const TTL = CLIENT_SESSION_LIMITS.ttlMs;

const counters: TableSchema = {
  columns: [
    { name: 'k', type: 'BIGINT', notNull: true, default: null },
    { name: 'n', type: 'BIGINT', notNull: false, default: null },
  ],
  primaryKey: 'k',
  options: {},
};

const DDL: SystemCommand[] = [
  { type: 'CreateNamespace', namespaceId: 'app', createdBy: 'root', createdAt: 1 },
  { type: 'CreateTable', tableId: 'app.c', tableType: 'USER', schema: counters, createdAt: 2 },
  { type: 'CreateTable', tableId: 'app.s', tableType: 'SHARED', schema: counters, createdAt: 3 },
];

const col = (name: string): Expr => ({ kind: 'column', table: null, name });
const lit = (value: number): Expr => ({ kind: 'literal', value });
const kEq = (k: number): Expr => ({ kind: 'binary', op: '=', left: col('k'), right: lit(k) });

interface Node {
  store: DataStore;
  system: SystemStateMachine;
  alice: UserDataStateMachine;
  shared: SharedDataStateMachine;
  next: number;
}

function node(opts: { ignoreClientSessions?: boolean; path?: string } = {}): Node {
  const store = DataStore.open(opts.path ?? ':memory:');
  const system = new SystemStateMachine(store);
  system.apply(DDL.map((c, i) => entry(i + 1, c)));
  return {
    store,
    system,
    alice: new UserDataStateMachine(store, router.userShard(ALICE), router, null, undefined, opts),
    shared: new SharedDataStateMachine(store, 0, null, undefined, opts),
    next: 1,
  };
}

function entry(index: number, c: AnyCommand): AppliedEntry {
  return { index, term: 1, kind: 'command', data: encodeCommand(c) };
}

/** Applies one command as the next entry of alice's shard. */
function apply(n: Node, c: UserDataCommand): DataResponse {
  return n.alice.apply([entry(n.next++, c)])[0] as DataResponse;
}

const stamp = (clientId: string, seq: number, acked = 0, createdMs = T0, userId = ALICE): ClientStamp => ({
  userId,
  clientId,
  createdMs,
  seq,
  acked,
});

const put = (k: number, n: number, client: ClientStamp | undefined, at = T0): UserDataCommand => ({
  type: 'Insert',
  tableId: 'app.c',
  userId: ALICE,
  rows: [{ k, n }],
  seqBase: 0,
  at,
  metaIndex: 3,
  ...(client === undefined ? {} : { client }),
});

/** `UPDATE app.c SET n = n + 1 WHERE k = …`: not idempotent, so a second apply shows. */
const bump = (k: number, client: ClientStamp | undefined, at = T0): UserDataCommand => ({
  type: 'Update',
  tableId: 'app.c',
  userId: ALICE,
  updates: {},
  computed: [{ column: 'n', expr: { kind: 'binary', op: '+', left: col('n'), right: lit(1) } }],
  filter: kEq(k),
  seqBase: 0,
  at,
  metaIndex: 3,
  ...(client === undefined ? {} : { client }),
});

const remove = (k: number, client?: ClientStamp, at = T0): UserDataCommand => ({
  type: 'Delete',
  tableId: 'app.c',
  userId: ALICE,
  filter: kEq(k),
  seqBase: 0,
  at,
  metaIndex: 3,
  ...(client === undefined ? {} : { client }),
});

function valueOf(n: Node, k: number): number | undefined {
  const row = n.alice.userRowByKey('app.c', ALICE, k);
  return row === undefined ? undefined : (row['n'] as number);
}

test('a write retried with the same seq applies once and answers the same, marked replayed', () => {
  const n = node();
  apply(n, put(1, 0, undefined));
  const first = apply(n, bump(1, stamp('c1', 1)));
  const retry = apply(n, bump(1, stamp('c1', 1), T0 + 5));
  assert.deepEqual(first, { type: 'RowsAffected', count: 1 });
  assert.deepEqual(retry, { type: 'RowsAffected', count: 1, replayed: true });
  assert.equal(valueOf(n, 1), 1, 'the retry applied nothing');
  // The next seq is a new write.
  assert.deepEqual(apply(n, bump(1, stamp('c1', 2, 1))), { type: 'RowsAffected', count: 1 });
  assert.equal(valueOf(n, 1), 2);
  // The same write without a session applies every time (sessions change nothing else).
  apply(n, bump(1, undefined));
  apply(n, bump(1, undefined));
  assert.equal(valueOf(n, 1), 4);
});

test('the planted bug ignoreClientSessions: the retry applies twice', () => {
  const n = node({ ignoreClientSessions: true });
  apply(n, put(1, 0, undefined));
  apply(n, bump(1, stamp('c1', 1)));
  const retry = apply(n, bump(1, stamp('c1', 1)));
  assert.deepEqual(retry, { type: 'RowsAffected', count: 1 });
  assert.equal(valueOf(n, 1), 2, 'without sessions the retry is applied again');
});

test('a refusal is remembered: the retry gets it again even when it would now succeed', () => {
  const n = node();
  assert.deepEqual(apply(n, put(1, 10, stamp('c1', 1))), { type: 'RowsAffected', count: 1 });
  const refused = apply(n, put(1, 20, stamp('c1', 2)));
  assert.equal(refused.type, 'Error');
  assert.equal((refused as { code: string }).code, 'CONFLICT');
  apply(n, remove(1)); // the key is free now: a fresh apply of seq 2 would insert
  assert.deepEqual(apply(n, put(1, 20, stamp('c1', 2))), refused, 'the same refusal');
  assert.equal(valueOf(n, 1), undefined, 'and nothing inserted');
});

test('acked answers are forgotten; a seq at or below the watermark is SESSION_STALE and applies nothing', () => {
  const n = node();
  apply(n, put(1, 0, undefined));
  for (let seq = 1; seq <= 3; seq++) apply(n, bump(1, stamp('c1', seq)));
  assert.deepEqual(n.alice.clientSessionCounts(), { sessions: 1, answers: 3 });
  apply(n, bump(1, stamp('c1', 4, 3)));
  assert.deepEqual(n.alice.clientSessionCounts(), { sessions: 1, answers: 1 }, 'answers 1…3 forgotten');
  assert.equal(valueOf(n, 1), 4);
  const stale = apply(n, bump(1, stamp('c1', 2, 1)));
  assert.equal((stale as { code: string }).code, 'SESSION_STALE');
  assert.equal(valueOf(n, 1), 4, 'a stale seq applied nothing');
});

test('at most answersPerSessionMax unacknowledged answers: past it SESSION_WINDOW_FULL, nothing applied', () => {
  const n = node();
  apply(n, put(1, 0, undefined));
  const max = CLIENT_SESSION_LIMITS.answersPerSessionMax;
  const cmds = Array.from({ length: max }, (_, i) => entry(n.next + i, bump(1, stamp('c1', i + 1))));
  n.next += max;
  n.alice.apply(cmds);
  assert.equal(valueOf(n, 1), max);
  const full = apply(n, bump(1, stamp('c1', max + 1)));
  assert.equal((full as { code: string }).code, 'SESSION_WINDOW_FULL');
  assert.equal(valueOf(n, 1), max);
  // Acknowledging frees the window.
  assert.deepEqual(apply(n, bump(1, stamp('c1', max + 1, max))), { type: 'RowsAffected', count: 1 });
  assert.equal(valueOf(n, 1), max + 1);
});

test('an idle session expires by the commands’ `at`; its late retry is SESSION_EXPIRED and applies nothing', () => {
  const n = node();
  apply(n, put(1, 0, undefined));
  apply(n, bump(1, stamp('old', 1), T0));
  // Another client writes after the TTL: the group's clock passes it and the sweep drops `old`.
  apply(n, bump(1, stamp('new', 1, 0, T0 + TTL), T0 + TTL + 1));
  assert.deepEqual(n.alice.clientSessionCounts(), { sessions: 1, answers: 1 });
  assert.equal(valueOf(n, 1), 2);
  const late = apply(n, bump(1, stamp('old', 1), T0 + TTL + 2));
  assert.equal((late as { code: string }).code, 'SESSION_EXPIRED');
  assert.equal(valueOf(n, 1), 2, 'the late retry did not apply');
  // A session idle past the TTL that the sweep has not reached is expired too, at its own retry.
  const m = node();
  apply(m, put(1, 0, undefined));
  apply(m, bump(1, stamp('a', 1), T0));
  const retry = apply(m, bump(1, stamp('a', 1), T0 + TTL + 1));
  assert.equal((retry as { code: string }).code, 'SESSION_EXPIRED');
  assert.equal(valueOf(m, 1), 1);
});

test('at the session bound the longest idle is evicted, and its retry is refused (the horizon), never applied', () => {
  const n = node();
  apply(n, put(1, 0, undefined));
  const max = CLIENT_SESSION_LIMITS.sessionsPerGroupMax;
  // Session i made at T0 + i and used at T0 + i: `c0` is the longest idle. Its write bumps k = 1.
  const cmds: AppliedEntry[] = [entry(n.next++, bump(1, stamp('c0', 1, 0, T0), T0))];
  for (let i = 1; i < max; i++) {
    cmds.push(entry(n.next++, bump(2, stamp(`c${i}`, 1, 0, T0 + i), T0 + i)));
  }
  n.alice.apply(cmds);
  assert.equal(n.alice.clientSessionCounts().sessions, max);
  apply(n, bump(2, stamp('fresh', 1, 0, T0 + max), T0 + max));
  assert.equal(n.alice.clientSessionCounts().sessions, max, 'one in, one out');
  assert.equal(valueOf(n, 1), 1);
  const late = apply(n, bump(1, stamp('c0', 1, 0, T0), T0 + max + 1));
  assert.equal((late as { code: string }).code, 'SESSION_EXPIRED', 'an evicted session does not look new');
  assert.equal(valueOf(n, 1), 1, 'the evicted session’s retry applied nothing');
  // A client id made after the horizon is new and applies.
  assert.deepEqual(apply(n, bump(1, stamp('later', 1, 0, T0 + max + 1), T0 + max + 1)), {
    type: 'RowsAffected',
    count: 0 + 1,
  });
});

test('a client id made again (a newer created_ms) starts afresh; the older incarnation is refused, never applied', () => {
  const n = node();
  apply(n, put(1, 0, undefined));
  apply(n, bump(1, stamp('c1', 1, 0, T0)));
  assert.deepEqual(apply(n, bump(1, stamp('c1', 1, 0, T0 + 10), T0 + 10)), { type: 'RowsAffected', count: 1 });
  assert.equal(valueOf(n, 1), 2, 'the new incarnation’s seq 1 is a new write');
  const old = apply(n, bump(1, stamp('c1', 1, 0, T0), T0 + 11));
  assert.equal((old as { code: string }).code, 'SESSION_EXPIRED');
  assert.deepEqual(apply(n, bump(1, stamp('c1', 1, 0, T0 + 10), T0 + 12)), {
    type: 'RowsAffected',
    count: 1,
    replayed: true,
  });
  assert.equal(valueOf(n, 1), 2);
});

test('sessions are per user and per group: the same client id of another scope is its own session', () => {
  const n = node();
  apply(n, put(1, 0, undefined));
  apply(n, bump(1, stamp('c1', 1)));
  // Another user's session with the same client id and seq (as the engine stamps it): not a replay of alice's.
  const other = bump(1, stamp('c1', 1, 0, T0, 'bob'));
  assert.deepEqual(apply(n, other), { type: 'RowsAffected', count: 1 });
  assert.equal(valueOf(n, 1), 2);
  // The shared shard keeps its own sessions.
  const shared: SharedDataCommand = {
    type: 'Insert',
    tableId: 'app.s',
    rows: [{ k: 1, n: 0 }],
    seqBase: 0,
    at: T0,
    metaIndex: 3,
    client: stamp('c1', 1),
  };
  assert.deepEqual(n.shared.apply([entry(1, shared)]), [{ type: 'RowsAffected', count: 1 }]);
  assert.deepEqual(n.shared.apply([entry(2, shared)]), [{ type: 'RowsAffected', count: 1, replayed: true }]);
  assert.equal(n.shared.rowsOf('app.s').length, 1);
});

test('a malformed client session is refused by apply like any bad field', () => {
  const n = node();
  apply(n, put(1, 0, undefined));
  for (const bad of [
    { ...stamp('c1', 1), seq: 0 },
    { ...stamp('c1', 2), acked: 2 },
    { ...stamp('no spaces', 1) },
    { ...stamp('x'.repeat(65), 1) },
    { ...stamp('c1', 1), extra: 1 },
  ]) {
    const r = apply(n, bump(1, bad));
    assert.equal((r as { code: string }).code, 'INVALID', JSON.stringify(bad));
  }
  assert.equal(valueOf(n, 1), 0);
});

test('a snapshot carries the sessions: the retry on the restored store is replayed, not applied', () => {
  const a = node();
  apply(a, put(1, 0, undefined));
  const first = apply(a, bump(1, stamp('c1', 1)));
  apply(a, bump(1, stamp('old', 1, 0, T0 - 10), T0));
  apply(a, bump(1, stamp('new', 1, 0, T0 + TTL), T0 + TTL + 1)); // drops `old`: the horizon moves
  const b = node();
  b.alice.restore({ index: a.alice.appliedIndex(), term: 1, data: a.alice.snapshot() });
  b.next = a.next;
  assert.deepEqual(b.alice.clientSessionCounts(), a.alice.clientSessionCounts());
  assert.equal(valueOf(b, 1), 3);
  // c1 expired along the way too (idle past the TTL at the last write): sessions kept are `new` only.
  const replay = apply(b, bump(1, stamp('new', 1, 0, T0 + TTL), T0 + TTL + 2));
  assert.deepEqual(replay, { type: 'RowsAffected', count: 1, replayed: true });
  const late = apply(b, bump(1, stamp('old', 1, 0, T0 - 10), T0 + TTL + 2));
  assert.equal((late as { code: string }).code, 'SESSION_EXPIRED', 'the horizon came with the snapshot');
  assert.equal(valueOf(b, 1), 3);
  assert.deepEqual(first, { type: 'RowsAffected', count: 1 });
});

test('two stores fed the same log hold the same sessions, byte for byte', () => {
  const log: UserDataCommand[] = [put(1, 0, undefined)];
  for (let i = 0; i < 40; i++) {
    const client = `c${i % 7}`;
    const seq = Math.floor(i / 7) + 1;
    log.push(bump(1, stamp(client, seq, Math.max(0, seq - 2), T0 + (i % 7)), T0 + i * 600_000));
    if (i % 5 === 0) log.push(bump(1, stamp(client, seq, Math.max(0, seq - 2), T0 + (i % 7)), T0 + i * 600_000 + 1));
  }
  const digests = [node(), node()].map((n) => {
    for (const c of log) apply(n, c);
    return createHash('sha256').update(n.alice.snapshot()).digest('hex');
  });
  assert.equal(digests[0], digests[1]);
  // And the digest covers sessions: a write that changes no row, only the sessions, changes it.
  const n = node();
  for (const c of log) apply(n, c);
  const digest = (): string => createHash('sha256').update(n.alice.snapshot()).digest('hex');
  const before = digest();
  apply(n, remove(99)); // no row, no session: the snapshot's bytes stay as they were
  assert.equal(digest(), before);
  apply(n, remove(99, stamp('z', 1, 0, T0 + 40 * 600_000), T0 + 40 * 600_000));
  assert.notEqual(digest(), before);
});

test('a snapshot built beside the applies (a read view of data.db) carries the sessions as of when it began', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-sessions-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = node({ path: join(dir, 'a.db') });
  t.after(() => a.store.close());
  apply(a, put(1, 0, undefined));
  apply(a, bump(1, stamp('c1', 1)));
  const expected = a.alice.snapshot();
  const build = a.alice.snapshotBuilder();
  assert.ok(build !== undefined, 'data.db is a file: the snapshot is built from a read view');
  apply(a, bump(1, stamp('c1', 2, 1))); // after the build began: not in it
  let data: ReturnType<typeof build.step>;
  for (let i = 0; i < 1000 && data === undefined; i++) data = build.step(1);
  build.close();
  assert.deepEqual(data, expected);
  const b = node();
  b.alice.restore({ index: 2, term: 1, data: data });
  b.next = 3;
  assert.deepEqual(apply(b, bump(1, stamp('c1', 1))), { type: 'RowsAffected', count: 1, replayed: true });
  assert.deepEqual(apply(b, bump(1, stamp('c1', 2, 1))), { type: 'RowsAffected', count: 1 }, 'seq 2 is new there');
  assert.equal(valueOf(b, 1), 2);
});

test('a version 4 snapshot (before client sessions) installs with none, and replaces the sessions held', () => {
  const a = node();
  apply(a, put(1, 0, undefined));
  const recs = [...snapshotRecords(a.alice.snapshot(), a.alice.groupId)];
  const state = structuredClone(recs[0]!) as { kind: string; state: Record<string, unknown> };
  delete state.state['clientSessions'];
  const lines = [
    { format: 'kalam-snapshot', groupId: a.alice.groupId, version: 4 },
    state,
    ...recs.slice(1).filter((r) => r['kind'] !== 'client-sessions'),
  ].map((r) => `${canonicalJson(r)}\n`);
  const crc = createHash('sha256').update(lines.join('')).digest('hex');
  const v4 = new TextEncoder().encode(
    lines.join('') + `${canonicalJson({ crc, end: true, records: lines.length - 1 })}\n`,
  );
  const b = node();
  apply(b, put(1, 0, undefined));
  apply(b, bump(1, stamp('c1', 1)));
  b.alice.restore({ index: a.alice.appliedIndex(), term: 1, data: v4 });
  assert.deepEqual(b.alice.clientSessionCounts(), { sessions: 0, answers: 0 });
  assert.equal(valueOf(b, 1), 0);
  assert.deepEqual(b.alice.snapshot(), a.alice.snapshot(), 'the same state as from the version 5 snapshot');
});
