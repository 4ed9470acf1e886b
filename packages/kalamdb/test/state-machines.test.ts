// What this proves: the five state machines apply KalamDB's commands deterministically over data.db;
// apply is idempotent (a replay of applied entries changes nothing) and atomic per command (a refused
// command leaves nothing behind and answers the same Error everywhere); a user shard holds only its users'
// rows and a user sees only their own; a snapshot carries the group's whole state — rows included — and
// restores it on a node that never saw the table being created; data entries wait (canApply) for the
// meta:system index they were planned against.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppliedEntry } from '@kalam/multiraft';
import type { Expr } from '@kalam/sql';
import {
  DataStore,
  JobsStateMachine,
  ShardRouter,
  SharedDataStateMachine,
  SystemStateMachine,
  UserDataStateMachine,
  UsersStateMachine,
  encodeCommand,
} from '../src/index.js';
import type { AnyCommand, SharedDataCommand, SystemCommand, TableSchema, UserDataCommand } from '../src/index.js';

const router = new ShardRouter();
const ALICE = 'alice'; // shard 7 (pinned in groups.test.ts)
const BOB = 'bob'; // shard 20

function entries(start: number, cmds: readonly AnyCommand[]): AppliedEntry[] {
  return cmds.map((c, i) => ({ index: start + i, term: 1, kind: 'command', data: encodeCommand(c) }));
}

const notes: TableSchema = {
  columns: [
    { name: 'id', type: 'BIGINT', notNull: true, default: null },
    { name: 'body', type: 'TEXT', notNull: false, default: null },
    { name: 'done', type: 'BOOLEAN', notNull: false, default: { literal: false } },
  ],
  primaryKey: 'id',
  options: {},
};

const DDL: SystemCommand[] = [
  { type: 'CreateNamespace', namespaceId: 'app', createdBy: 'root', createdAt: 1 },
  { type: 'CreateTable', tableId: 'app.notes', tableType: 'USER', schema: notes, createdAt: 2 },
  { type: 'CreateTable', tableId: 'app.board', tableType: 'SHARED', schema: notes, createdAt: 3 },
];

const eq = (col: string, value: string | number | boolean): Expr => ({
  kind: 'binary',
  op: '=',
  left: { kind: 'column', table: null, name: col },
  right: { kind: 'literal', value },
});

function node(): {
  store: DataStore;
  system: SystemStateMachine;
  alice: UserDataStateMachine;
  bobShard: UserDataStateMachine;
  shared: SharedDataStateMachine;
} {
  const store = DataStore.open(':memory:');
  return {
    store,
    system: new SystemStateMachine(store),
    alice: new UserDataStateMachine(store, router.userShard(ALICE), router),
    bobShard: new UserDataStateMachine(store, router.userShard(BOB), router),
    shared: new SharedDataStateMachine(store, 0),
  };
}

const insert = (
  userId: string,
  rows: Record<string, string | number | boolean | null>[],
  seqBase: number,
): UserDataCommand => ({
  type: 'Insert',
  tableId: 'app.notes',
  userId,
  rows,
  seqBase,
  at: 10,
  metaIndex: 3,
});

test('DDL applies, refusals are deterministic Errors, and a replay is skipped', () => {
  const n = node();
  const ddl = entries(1, DDL);
  assert.deepEqual(n.system.apply(ddl), [
    { type: 'NamespaceCreated', namespaceId: 'app' },
    { type: 'TableCreated', tableId: 'app.notes' },
    { type: 'TableCreated', tableId: 'app.board' },
  ]);
  assert.deepEqual(n.system.apply(ddl), [undefined, undefined, undefined], 'entries at or below applied are skipped');
  assert.equal(n.system.appliedIndex(), 3);
  const again = n.system.apply(entries(4, [DDL[1]!]));
  assert.equal((again[0] as { type: string }).type, 'Error');
  assert.equal(n.system.appliedIndex(), 4, 'a refused command still advances the applied index');
});

test('user rows: insert, update, soft delete; each user sees only their own; a refused command leaves nothing', () => {
  const n = node();
  n.system.apply(entries(1, DDL));
  assert.deepEqual(
    n.alice.apply(
      entries(1, [
        insert(
          ALICE,
          [
            { id: 1, body: 'a' },
            { id: 2, body: 'b' },
          ],
          100,
        ),
      ]),
    ),
    [{ type: 'RowsAffected', count: 2 }],
  );
  n.bobShard.apply(entries(1, [insert(BOB, [{ id: 1, body: 'bob' }], 100)]));
  assert.deepEqual(
    n.alice.userRows('app.notes', ALICE).map((r) => [r.id, r.body, r.done, r._seq]),
    [
      [1, 'a', false, 100],
      [2, 'b', false, 101],
    ],
  );
  assert.deepEqual(
    n.bobShard.userRows('app.notes', BOB).map((r) => r.body),
    ['bob'],
  );
  // A duplicate key inside one command refuses the whole command: row 3 is not written either.
  const dup = n.alice.apply(
    entries(2, [
      insert(
        ALICE,
        [
          { id: 3, body: 'c' },
          { id: 1, body: 'again' },
        ],
        200,
      ),
    ]),
  );
  assert.equal((dup[0] as { type: string }).type, 'Error');
  assert.deepEqual(
    n.alice.userRows('app.notes', ALICE).map((r) => r.id),
    [1, 2],
  );
  const upd: UserDataCommand = {
    type: 'Update',
    tableId: 'app.notes',
    userId: ALICE,
    updates: { done: true },
    filter: eq('id', 2),
    seqBase: 300,
    at: 11,
    metaIndex: 3,
  };
  assert.deepEqual(n.alice.apply(entries(3, [upd])), [{ type: 'RowsAffected', count: 1 }]);
  const del: UserDataCommand = {
    type: 'Delete',
    tableId: 'app.notes',
    userId: ALICE,
    filter: eq('id', 1),
    seqBase: 400,
    at: 12,
    metaIndex: 3,
  };
  assert.deepEqual(n.alice.apply(entries(4, [del])), [{ type: 'RowsAffected', count: 1 }]);
  assert.deepEqual(
    n.alice.userRows('app.notes', ALICE).map((r) => [r.id, r.done, r._seq]),
    [[2, true, 300]],
  );
  assert.deepEqual(
    n.bobShard.userRows('app.notes', BOB).map((r) => r.id),
    [1],
    "alice's delete did not touch bob's row with the same key",
  );
  // A user routed to another shard is refused by this shard.
  const wrong = n.alice.apply(entries(5, [insert(BOB, [{ id: 9 }], 500)]));
  assert.equal((wrong[0] as { type: string }).type, 'Error');
});

test('a user shard snapshot carries its rows and restores on a node that never created the table', () => {
  const a = node();
  a.system.apply(entries(1, DDL));
  a.alice.apply(
    entries(1, [
      insert(
        ALICE,
        [
          { id: 1, body: 'x' },
          { id: 2, body: 'y' },
        ],
        100,
      ),
    ]),
  );
  a.bobShard.apply(entries(1, [insert(BOB, [{ id: 7, body: 'z' }], 100)]));
  const snap = { index: 1, term: 1, data: a.alice.snapshot() };
  const b = node(); // its meta:system has applied nothing
  b.alice.restore(snap);
  assert.equal(b.alice.appliedIndex(), 1);
  assert.equal(b.system.appliedIndex(), 0);
  // The rows are there (the restore created the physical table from the snapshot's schema) …
  const rows = b.store.db.prepare('SELECT id, body, _user_id FROM "kt_app__notes__2" ORDER BY id').all();
  assert.deepEqual(rows, [
    { id: 1, body: 'x', _user_id: 'alice' },
    { id: 2, body: 'y', _user_id: 'alice' },
  ]);
  // … and only this shard's: bob's row stayed behind.
  assert.equal(
    b.store.db.prepare('SELECT COUNT(*) AS n FROM "kt_app__notes__2" WHERE _user_id = ?').get('bob') !== undefined,
    true,
  );
  assert.deepEqual(b.store.db.prepare("SELECT COUNT(*) AS n FROM kt_app__notes__2 WHERE _user_id = 'bob'").get(), {
    n: 0,
  });
  // Meta catches up later; CreateTable on an existing physical table is fine.
  b.system.apply(entries(1, DDL));
  assert.deepEqual(
    b.alice.userRows('app.notes', ALICE).map((r) => r.body),
    ['x', 'y'],
  );
  // A restore replaces: rows written after the snapshot on b are gone after restoring it again.
  b.alice.apply(entries(2, [insert(ALICE, [{ id: 3, body: 'later' }], 300)]));
  b.alice.restore(snap);
  assert.deepEqual(
    b.alice.userRows('app.notes', ALICE).map((r) => r.id),
    [1, 2],
  );
});

test('system, users, jobs and shared snapshots round trip to identical snapshots', () => {
  const a = node();
  a.system.apply(entries(1, DDL));
  const shared: SharedDataCommand = {
    type: 'Insert',
    tableId: 'app.board',
    rows: [{ id: 1, body: 'hello' }],
    seqBase: 1,
    at: 1,
    metaIndex: 3,
  };
  a.shared.apply(entries(1, [shared]));
  const users = new UsersStateMachine(a.store);
  users.apply(
    entries(1, [
      {
        type: 'CreateUser',
        user: { userId: 'u1', username: 'ann', passwordHash: 'scrypt$x', role: 'user', createdAt: 1, updatedAt: 1 },
      },
    ]),
  );
  const jobs = new JobsStateMachine(a.store);
  jobs.apply(
    entries(1, [
      {
        type: 'CreateJob',
        jobId: 'j1',
        jobType: 'flush',
        namespaceId: 'app',
        tableName: 'notes',
        config: null,
        createdAt: 5,
      },
      { type: 'ClaimJob', jobId: 'j1', nodeId: 2, claimedAt: 6 },
    ]),
  );
  const b = node();
  const usersB = new UsersStateMachine(b.store);
  const jobsB = new JobsStateMachine(b.store);
  for (const [from, to] of [
    [a.system, b.system],
    [a.shared, b.shared],
    [users, usersB],
    [jobs, jobsB],
  ] as const) {
    const data = from.snapshot();
    to.restore({ index: from.appliedIndex(), term: 1, data });
    assert.deepEqual(to.snapshot(), data);
  }
  assert.deepEqual(
    b.shared.rowsOf('app.board').map((r) => r.body),
    ['hello'],
  );
  assert.equal(usersB.byName('ann')?.role, 'user');
  const claimTwice = jobsB.apply(entries(3, [{ type: 'ClaimJob', jobId: 'j1', nodeId: 3, claimedAt: 7 }]));
  assert.equal((claimTwice[0] as { type: string }).type, 'Error', 'a running job cannot be claimed again');
});

test('a data entry waits for the meta:system index it was planned against', () => {
  const n = node();
  const [entry] = entries(1, [insert(ALICE, [{ id: 1 }], 1)]); // planned against meta index 3
  assert.equal(n.alice.canApply(entry!), false, 'meta:system has applied nothing yet');
  n.system.apply(entries(1, DDL.slice(0, 2)));
  assert.equal(n.alice.canApply(entry!), false, 'index 2 < 3');
  n.system.apply(entries(3, DDL.slice(2)));
  assert.equal(n.alice.canApply(entry!), true);
  assert.deepEqual(n.alice.apply([entry!]), [{ type: 'RowsAffected', count: 1 }]);
});

test('an entry is decoded once for canApply and apply, and its decoded command is not kept once applied', () => {
  // The driver's in-memory Raft log holds an entry's bytes until compaction; a decoded command kept by them would
  // hold every row of the entry a second time (issue [M8] §3). Counted through check(), which every decode runs.
  class CountingShard extends UserDataStateMachine {
    checks = 0;
    protected override check(value: unknown): UserDataCommand {
      this.checks++;
      return super.check(value);
    }
  }
  const n = node();
  const alice = new CountingShard(n.store, router.userShard(ALICE), router);
  n.system.apply(entries(1, DDL));
  const [entry] = entries(1, [insert(ALICE, [{ id: 1 }], 1)]);
  assert.equal(alice.canApply(entry!), true);
  assert.equal(alice.canApply(entry!), true);
  assert.equal(alice.checks, 1, 'canApply decodes the entry once');
  assert.deepEqual(alice.apply([entry!]), [{ type: 'RowsAffected', count: 1 }]);
  assert.equal(alice.checks, 1, 'apply uses what canApply decoded');
  assert.equal(alice.canApply(entry!), true);
  assert.equal(alice.checks, 2, 'after apply the decoded command is gone: the same bytes are decoded again');
  assert.deepEqual(alice.apply([entry!]), [undefined], 'an applied entry is not applied again');
});

test("data.db's connections keep a 2 MiB page cache, not better-sqlite3's 16 MiB", () => {
  // A bulk load fills the page cache and the node keeps it (issue [M8] §3): every connection on the file says 2 MiB.
  const dir = mkdtempSync(join(tmpdir(), 'kalam-store-cache-'));
  try {
    const store = DataStore.open(join(dir, 'data.db'));
    const reader = store.openReader();
    assert.ok(reader !== undefined);
    assert.equal(store.db.pragma('cache_size', { simple: true }), -2048);
    assert.equal(reader.pragma('cache_size', { simple: true }), -2048);
    reader.close();
    store.db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the applied index is served from memory but never shows a rolled-back transaction's value", () => {
  const store = DataStore.open(':memory:');
  assert.equal(store.appliedIndex(3), 0);
  store.transaction(() => store.markApplied(3, 10, 1));
  assert.equal(store.appliedIndex(3), 10);
  // A reader that bypasses the cache sees the same value: the cache follows what was committed.
  const stored = () =>
    (store.db.prepare('SELECT applied_index FROM group_applied WHERE group_id = 3').get() as { applied_index: number })
      .applied_index;
  assert.equal(stored(), 10);
  assert.throws(() =>
    store.transaction(() => {
      store.markApplied(3, 11, 1);
      assert.equal(store.appliedIndex(3), 11, 'inside the transaction its own write is visible');
      throw new Error('boom');
    }),
  );
  assert.equal(store.appliedIndex(3), 10);
  assert.equal(stored(), 10);
  // A nested transaction that throws and is caught: the outer one commits what it wrote itself.
  store.transaction(() => {
    store.markApplied(3, 12, 1);
    try {
      store.transaction(() => {
        store.markApplied(3, 13, 1);
        throw new Error('inner');
      });
    } catch {
      // the savepoint rolled back to 12
    }
    assert.equal(store.appliedIndex(3), 12);
  });
  assert.equal(store.appliedIndex(3), 12);
  assert.equal(stored(), 12);
  // markApplied outside any transaction is committed at once.
  store.markApplied(4, 5, 1);
  assert.equal(store.appliedIndex(4), 5);
  store.close();
});
