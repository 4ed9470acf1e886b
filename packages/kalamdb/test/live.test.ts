// What this proves: the replicated half of live queries. `_seq` is assigned in apply, strictly increasing in commit
// order per data group even when proposers stamp lower bases than earlier commands (two nodes, two clocks); each
// write is a RowChange (old values with the previous `_seq`) reported to the ChangeFeed only after its transaction
// commits — never for a refused command — and kept in the group's change log, which answers "every change after
// _seq S" exactly and refuses once S is older than the window; a snapshot carries the log and the restore is
// announced; RegisterLiveQuery enforces the per-user limit on every replica; CleanupNodeSubscriptions removes one
// node's registrations and announces them. How: state machines over in-memory data.db, hand-made log entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AppliedEntry } from '@kalam/multiraft';
import {
  ChangeFeed,
  DataStore,
  LIVE_LIMITS,
  ShardRouter,
  SystemStateMachine,
  UserDataStateMachine,
  encodeCommand,
} from '../src/index.js';
import type { AnyCommand, FeedEvent, RowChange, SystemCommand, UserDataCommand } from '../src/index.js';

const router = new ShardRouter();
const ALICE = 'alice';
/** app.notes as DDL below creates it: its CreateTable is meta:system entry 2. */
const NOTES = { tableId: 'app.notes', incarnation: 2 };

function entries(start: number, cmds: readonly AnyCommand[]): AppliedEntry[] {
  return cmds.map((c, i) => ({ index: start + i, term: 1, kind: 'command', data: encodeCommand(c) }));
}

const DDL: SystemCommand[] = [
  { type: 'CreateNamespace', namespaceId: 'app', createdBy: 'root', createdAt: 1 },
  {
    type: 'CreateTable',
    tableId: 'app.notes',
    tableType: 'USER',
    schema: {
      columns: [
        { name: 'id', type: 'BIGINT', notNull: true, default: null },
        { name: 'body', type: 'TEXT', notNull: false, default: null },
      ],
      primaryKey: 'id',
      options: {},
    },
    createdAt: 2,
  },
];

function node(): { store: DataStore; shard: UserDataStateMachine; feed: ChangeFeed; events: FeedEvent[] } {
  const store = DataStore.open(':memory:');
  new SystemStateMachine(store).apply(entries(1, DDL));
  const feed = new ChangeFeed();
  const events: FeedEvent[] = [];
  feed.subscribe((e) => events.push(e));
  return { store, shard: new UserDataStateMachine(store, router.userShard(ALICE), router, feed), feed, events };
}

const insert = (id: number, seqBase: number, body = `n${id}`): UserDataCommand => ({
  type: 'Insert',
  tableId: 'app.notes',
  userId: ALICE,
  rows: [{ id, body }],
  seqBase,
  at: 1,
  metaIndex: 2,
});

const update = (id: number, body: string, seqBase: number): UserDataCommand => ({
  type: 'Update',
  tableId: 'app.notes',
  userId: ALICE,
  updates: { body },
  filter: {
    kind: 'binary',
    op: '=',
    left: { kind: 'column', table: null, name: 'id' },
    right: { kind: 'literal', value: id },
  },
  seqBase,
  at: 1,
  metaIndex: 2,
});

const changesOf = (events: readonly FeedEvent[]): RowChange[] =>
  events.flatMap((e) => (e.kind === 'changes' ? e.changes : []));

test('_seq increases in commit order even when a later command proposes a lower base', () => {
  const n = node();
  // Node A proposes 5_000; node B, whose clock is behind, proposes 1_000 and commits after it.
  n.shard.apply(entries(1, [insert(1, 5_000), insert(2, 1_000), update(1, 'x', 10), insert(3, 9_000)]));
  const seqs = changesOf(n.events).map((c) => c.seq);
  assert.deepEqual(seqs, [5_000, 5_001, 5_002, 9_000]);
  assert.deepEqual(
    n.shard.userRows('app.notes', ALICE).map((r) => [r['id'], r['_seq']]),
    [
      [1, 5_002],
      [2, 5_001],
      [3, 9_000],
    ],
  );
  assert.equal(n.shard.lastSeq(), 9_000);
});

test('changes carry old values, reach the feed only after commit, never for a refused command', () => {
  const n = node();
  n.shard.apply(entries(1, [insert(1, 100)]));
  const dup = n.shard.apply(entries(2, [insert(1, 200)]));
  assert.equal((dup[0] as { type: string }).type, 'Error');
  n.shard.apply(
    entries(3, [
      update(1, 'edited', 300),
      { type: 'Delete', tableId: 'app.notes', userId: ALICE, filter: null, seqBase: 400, at: 1, metaIndex: 2 },
    ]),
  );
  assert.deepEqual(
    changesOf(n.events).map((c) => [c.changeType, c.seq, c.row, c.old]),
    [
      ['insert', 100, { id: 1, body: 'n1' }, null],
      ['update', 300, { id: 1, body: 'edited' }, { id: 1, body: 'n1', _seq: 100 }],
      ['delete', 400, { id: 1, body: 'edited' }, { id: 1, body: 'edited', _seq: 300 }],
    ],
  );
  // A replay of applied entries reports nothing again.
  const before = n.events.length;
  n.shard.apply(entries(1, [insert(1, 100)]));
  assert.equal(n.events.length, before);
});

test('the change log answers every change after a _seq, refuses beyond its window, and travels in snapshots', () => {
  const n = node();
  n.shard.apply(entries(1, [insert(1, 10), insert(2, 20), update(1, 'b', 30)]));
  const after10 = n.shard.changesAfter(NOTES, ALICE, 10);
  assert.ok(after10 !== 'trimmed');
  assert.deepEqual(
    after10.map((c) => [c.changeType, c.seq]),
    [
      ['insert', 20],
      ['update', 30],
    ],
  );
  assert.deepEqual(n.shard.changesAfter(NOTES, 'someone-else', 0), []);

  // A snapshot restores the log (and the high-water mark) on another node, and the restore is announced.
  const other = node();
  other.shard.restore({ index: 1, term: 1, data: n.shard.snapshot() });
  assert.deepEqual(other.shard.changesAfter(NOTES, ALICE, 10), after10);
  assert.equal(other.shard.lastSeq(), 30);
  assert.deepEqual(other.events, [{ kind: 'restored', groupId: other.shard.groupId }]);

  // Past the window: the oldest changes are trimmed and a resume from before them is refused.
  const extra = 5;
  const rows = Array.from({ length: LIVE_LIMITS.changeLogEntriesPerGroupMax + extra }, (_, i) => ({ id: 100 + i }));
  const bulk: UserDataCommand = {
    type: 'Insert',
    tableId: 'app.notes',
    userId: ALICE,
    rows,
    seqBase: 1_000,
    at: 1,
    metaIndex: 2,
  };
  n.shard.apply(entries(4, [bulk]));
  // 3 + window + 5 changes in all: the first 8 are gone (seqs 10, 20, 30, 1000 … 1004).
  assert.equal(n.shard.changesAfter(NOTES, ALICE, 1_003), 'trimmed');
  const kept = n.shard.changesAfter(NOTES, ALICE, 1_004);
  assert.ok(kept !== 'trimmed');
  assert.equal(kept.length, LIVE_LIMITS.changeLogEntriesPerGroupMax);
});

test('RegisterLiveQuery: the per-user limit on every replica; cleanup removes one node and is announced', () => {
  const n = node();
  const register = (i: number, nodeId: number): UserDataCommand => ({
    type: 'RegisterLiveQuery',
    subscriptionId: `c${nodeId}-s${i}`,
    userId: ALICE,
    queryHash: 'h',
    tableId: 'app.notes',
    filter: null,
    nodeId,
    createdAt: 1,
    metaIndex: 2,
  });
  const cmds = Array.from({ length: LIVE_LIMITS.subscriptionsPerUserMax }, (_, i) => register(i, i % 2 === 0 ? 1 : 2));
  const ok = n.shard.apply(entries(1, cmds));
  assert.ok(ok.every((r) => (r as { type: string }).type === 'Subscribed'));
  const [again, over] = n.shard.apply(entries(ok.length + 1, [register(0, 1), register(99, 1)]));
  assert.deepEqual(again, { type: 'Subscribed', subscriptionId: 'c1-s0' }, 're-registering the same id is no new one');
  assert.equal((over as { code?: string }).code, 'LIMIT_EXCEEDED');
  const cleanup: UserDataCommand = { type: 'CleanupNodeSubscriptions', userId: ALICE, failedNodeId: 2, metaIndex: 0 };
  const [removed] = n.shard.apply(entries(ok.length + 3, [cleanup]));
  assert.deepEqual(removed, { type: 'RowsAffected', count: LIVE_LIMITS.subscriptionsPerUserMax / 2 });
  assert.ok(n.shard.liveQueries().every((q) => q['node_id'] === 1));
  const announced = n.events.filter((e) => e.kind === 'unregistered');
  assert.equal(announced.length, 1);
  assert.equal(announced[0]?.kind === 'unregistered' && announced[0].cause, 'cleanup');

  // One PingLiveQueries refreshes several registrations and answers which are still there (node 2's were removed);
  // another user's id is not touched.
  const ping: UserDataCommand = {
    type: 'PingLiveQueries',
    userId: ALICE,
    subscriptionIds: ['c1-s0', 'c1-s1', 'c1-s2', 'not-registered'],
    pingedAt: 777,
    metaIndex: 0,
  };
  const [pinged] = n.shard.apply(entries(ok.length + 4, [ping]));
  assert.deepEqual(pinged, { type: 'LiveQueriesPinged', subscriptionIds: ['c1-s0', 'c1-s2'] });
  const pingedAt = new Map(n.shard.liveQueries().map((q) => [q['subscription_id'], q['last_ping_at']]));
  assert.equal(pingedAt.get('c1-s0'), 777);
  assert.equal(pingedAt.get('c1-s2'), 777);
  assert.equal(pingedAt.get('c1-s4'), 1, 'not in the ping: unchanged');
  const [other] = n.shard.apply(entries(ok.length + 5, [{ ...ping, userId: 'mallory' }]));
  assert.deepEqual(other, { type: 'LiveQueriesPinged', subscriptionIds: [] });
});

test('a restore replaces the high-water mark: a shard that had gone further continues from the snapshot', () => {
  const behind = node();
  behind.shard.apply(entries(1, [insert(1, 10)]));
  const snap = behind.shard.snapshot();
  const ahead = node();
  ahead.shard.apply(entries(1, [insert(1, 10), insert(2, 500)]));
  assert.equal(ahead.shard.lastSeq(), 500);
  ahead.shard.restore({ index: 1, term: 1, data: snap });
  assert.equal(ahead.shard.lastSeq(), 10, 'the high-water mark of the restored state, not the one before it');
  ahead.shard.apply(entries(2, [insert(3, 5)]));
  assert.equal(ahead.shard.lastSeq(), 11);
  assert.deepEqual(
    ahead.shard.changesAfter(NOTES, ALICE, 0),
    behind.shard.apply(entries(2, [insert(3, 5)])) && behind.shard.changesAfter(NOTES, ALICE, 0),
  );
});
