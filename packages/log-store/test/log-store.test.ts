// Unit tests of LogStore: what one write() persists for several groups, overwriting an uncommitted suffix,
// installing a received snapshot, compaction behind our own snapshot, reopening, the contiguity and Raft
// assertions that guard every write (and leave nothing written when they fire), the transaction count of
// stats(), and the slow-disk fault. Each test opens a store in its own temp folder and reloads what it
// wrote, mostly after a close and reopen, so what is checked is what reached raft.db.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { AssertionError, applyChange, confState, nodeId } from '@kalam/raft';
import type { ConfState, NodeId } from '@kalam/raft';
import Database from 'better-sqlite3';

import {
  LogCorruptionError,
  LogIoError,
  LogSchemaError,
  LogStore,
  SCHEMA_VERSION,
  SnapshotFiles,
  snapshotFileOf,
} from '../src/index.js';
import type { LogStoreOptions } from '../src/index.js';
import { comparable, entries, expectEntries, hardState, noop, snapshot, tempDir } from './support/fixtures.js';

const GROUPS = [0, 1, 2, 100, 131, 200];

function withStore(fn: (ctx: { store: LogStore; reopen: () => LogStore; dbPath: string }) => void): void {
  const { dbPath, cleanup } = tempDir();
  const opts: LogStoreOptions = { path: dbPath, groupIds: GROUPS };
  let store = LogStore.open(opts);
  try {
    fn({
      get store() {
        return store;
      },
      reopen: () => {
        store.close();
        store = LogStore.open(opts);
        return store;
      },
      dbPath,
    });
  } finally {
    store.close();
    cleanup();
  }
}

test('a fresh store recovers an empty log for every group', () => {
  withStore(({ store }) => {
    for (const g of GROUPS) {
      assert.deepEqual(comparable(store.load(g)), {
        hardState: hardState(0, 0, 0),
        offset: [0, 0],
        entries: [],
        snapshot: undefined,
      });
    }
  });
});

test('hard state and entries of several groups round-trip through one write', () => {
  withStore(({ store, reopen }) => {
    const a = [...entries([1, 1, 2], 1, 'a'), noop(4, 2)];
    const b = entries([3], 1, 'b');
    store.write([
      { groupId: 0, hardState: hardState(2, 1, 3), entries: a },
      { groupId: 100, hardState: hardState(3, 2, 0), entries: b },
      { groupId: 200, hardState: hardState(5, 0, 0), entries: [] },
    ]);
    const reopened = reopen();
    assert.deepEqual(comparable(reopened.load(0)), {
      hardState: hardState(2, 1, 3),
      offset: [0, 0],
      entries: expectEntries(a),
      snapshot: undefined,
    });
    assert.deepEqual(comparable(reopened.load(100)).entries, expectEntries(b));
    assert.deepEqual(reopened.load(200).hardState, hardState(5, 0, 0));
    assert.deepEqual(reopened.load(1).entries, []);
    // Appending continues after the recovered tail.
    reopened.write([{ groupId: 0, entries: entries([2], 5, 'a') }]);
    assert.equal(reopened.load(0).entries.length, 5);
  });
});

test('entries without a hard state leave the state row alone', () => {
  withStore(({ store, reopen }) => {
    store.write([{ groupId: 1, hardState: hardState(1, 1, 0), entries: entries([1], 1) }]);
    store.write([{ groupId: 1, entries: entries([1, 1], 2) }]);
    const s = reopen().load(1);
    assert.deepEqual(s.hardState, hardState(1, 1, 0));
    assert.deepEqual(
      s.entries.map((e) => e.index),
      [1, 2, 3],
    );
  });
});

test('a write whose first entry is inside the log truncates the uncommitted suffix (Raft §5.3)', () => {
  withStore(({ store, reopen }) => {
    store.write([{ groupId: 2, hardState: hardState(1, 1, 2), entries: entries([1, 1, 1, 1, 1], 1, 'old') }]);
    const replacement = entries([2, 2], 3, 'new');
    store.write([{ groupId: 2, hardState: hardState(2, 2, 2), entries: replacement }]);
    const reopened = reopen();
    assert.deepEqual(comparable(reopened.load(2)).entries, [
      ...expectEntries(entries([1, 1], 1, 'old')),
      ...expectEntries(replacement),
    ]);
    // The next append continues after the new, shorter tail.
    reopened.write([{ groupId: 2, entries: entries([2], 5, 'new') }]);
    assert.equal(reopened.load(2).entries.at(-1)?.index, 5);
  });
});

test('overwriting the suffix right after the last entry, or the whole log, works at both ends', () => {
  withStore(({ store }) => {
    store.write([{ groupId: 0, hardState: hardState(1, 0, 0), entries: entries([1, 1], 1) }]);
    store.write([{ groupId: 0, hardState: hardState(3, 0, 0), entries: entries([3], 1, 'x') }]);
    assert.deepEqual(comparable(store.load(0)).entries, expectEntries(entries([3], 1, 'x')));
  });
});

test('a received snapshot replaces the whole log and moves the offset to it', () => {
  withStore(({ store, reopen }) => {
    store.write([{ groupId: 100, hardState: hardState(1, 1, 2), entries: entries([1, 1, 1], 1) }]);
    const snap = snapshot(10, 3);
    const after = entries([3, 3], 11, 'after');
    store.write([{ groupId: 100, hardState: hardState(3, 0, 10), snapshot: snap, entries: after }]);
    const expected = {
      hardState: hardState(3, 0, 10),
      offset: [10, 3],
      entries: expectEntries(after),
      snapshot: [10, 3, 'snap@10'],
    };
    assert.deepEqual(comparable(store.load(100)), expected);
    assert.deepEqual(comparable(reopen().load(100)), expected);
  });
});

test('a received snapshot without a hard state still records the commit it implies', () => {
  withStore(({ store, reopen }) => {
    store.write([{ groupId: 100, hardState: hardState(2, 0, 0), entries: [] }]);
    store.write([{ groupId: 100, snapshot: snapshot(5, 2), entries: [] }]);
    const s = reopen().load(100);
    assert.deepEqual(s.hardState, hardState(2, 0, 5));
    assert.deepEqual([s.offsetIndex, s.offsetTerm], [5, 2]);
  });
});

test('compaction stores our snapshot, drops the entries behind it and keeps a tail; a reload sees it', () => {
  withStore(({ store, reopen }) => {
    const log = entries([1, 1, 2, 2, 2, 3, 3, 3], 1);
    store.write([{ groupId: 1, hardState: hardState(3, 1, 7), entries: log }]);
    store.compact(1, snapshot(6, 3), 4, 2);
    const expected = {
      hardState: hardState(3, 1, 7),
      offset: [4, 2],
      entries: expectEntries(log.slice(4)),
      snapshot: [6, 3, 'snap@6'],
    };
    assert.deepEqual(comparable(store.load(1)), expected);
    assert.deepEqual(comparable(reopen().load(1)), expected);
    // A newer compaction replaces the snapshot and moves the offset again; appends continue.
    const s = reopen();
    s.compact(1, snapshot(7, 3, 'second'), 7, 3);
    s.write([{ groupId: 1, hardState: hardState(3, 1, 9), entries: entries([3], 9) }]);
    assert.deepEqual(comparable(reopen().load(1)), {
      hardState: hardState(3, 1, 9),
      offset: [7, 3],
      entries: expectEntries([...log.slice(7), ...entries([3], 9)]),
      snapshot: [7, 3, 'second'],
    });
  });
});

test('compacting to or behind the offset only replaces the snapshot', () => {
  withStore(({ store }) => {
    store.write([{ groupId: 0, hardState: hardState(1, 1, 4), entries: entries([1, 1, 1, 1], 1) }]);
    store.compact(0, snapshot(3, 1), 3, 1);
    store.compact(0, snapshot(4, 1, 'newer'), 2, 1);
    const s = comparable(store.load(0));
    assert.deepEqual(s.offset, [3, 1]);
    assert.deepEqual(s.snapshot, [4, 1, 'newer']);
    assert.deepEqual(
      s.entries.map((e) => e[0]),
      [4],
    );
  });
});

test('compactLog drops the entries behind it and stores no snapshot; it keeps a received one until passing it', () => {
  withStore((ctx) => {
    const { reopen } = ctx;
    // A received snapshot at 3 (stored, as the driver stores one before installing it), then entries 4..8.
    ctx.store.write([{ groupId: 1, hardState: hardState(2, 1, 3), snapshot: snapshot(3, 1), entries: [] }]);
    ctx.store.write([{ groupId: 1, hardState: hardState(2, 1, 6), entries: entries([1, 2, 2, 2, 2], 4) }]);
    ctx.store.compactLog(1, 2, 1); // behind the offset: nothing changes
    ctx.store.compactLog(1, 3, 1);
    assert.deepEqual(comparable(reopen().load(1)).snapshot, [3, 1, 'snap@3'], 'at the snapshot: kept');
    reopen().compactLog(1, 5, 2);
    const expected = {
      hardState: hardState(2, 1, 6),
      offset: [5, 2],
      entries: expectEntries(entries([2, 2, 2], 6)),
      snapshot: undefined,
    };
    assert.deepEqual(comparable(ctx.store.load(1)), expected, 'past it: dropped with the entries');
    assert.deepEqual(comparable(reopen().load(1)), expected, 'and a reload agrees (the row relations hold)');
    // Compacting past the durable commit raises it (only applied, hence committed, entries are compacted).
    reopen().compactLog(1, 7, 2);
    assert.deepEqual(reopen().load(1).hardState, hardState(2, 1, 7));
    assert.throws(() => ctx.store.compactLog(1, 9, 2), AssertionError, 'not beyond the last entry');
    assert.throws(() => ctx.store.compactLog(1, 8, 1), AssertionError, 'not with a term the log does not have there');
  });
});

test('compaction raises a durable commit that lagged behind the snapshot', () => {
  withStore(({ store, reopen }) => {
    store.write([{ groupId: 0, hardState: hardState(1, 1, 1), entries: entries([1, 1, 1], 1) }]);
    store.compact(0, snapshot(2, 1), 2, 1);
    assert.deepEqual(reopen().load(0).hardState, hardState(1, 1, 2));
  });
});

test('open is idempotent, and a reopen with more groups adds their tables', () => {
  const { dbPath, cleanup } = tempDir();
  try {
    const first = LogStore.open({ path: dbPath, groupIds: [0] });
    first.write([{ groupId: 0, hardState: hardState(1, 1, 1), entries: entries([1], 1) }]);
    first.close();
    first.close(); // closing twice is allowed
    const second = LogStore.open({ path: dbPath, groupIds: [0, 7] });
    assert.equal(second.load(0).entries.length, 1);
    assert.deepEqual(second.load(7).entries, []);
    second.close();
  } finally {
    cleanup();
  }
});

test('a second store on the same file is refused while the first is open', () => {
  withStore(({ dbPath }) => {
    assert.throws(() => LogStore.open({ path: dbPath, groupIds: GROUPS }), LogIoError);
  });
});

test('a raft.db of an unknown schema version is refused', () => {
  const { dbPath, cleanup } = tempDir();
  try {
    LogStore.open({ path: dbPath, groupIds: [0] }).close();
    const raw = new Database(dbPath);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(() => LogStore.open({ path: dbPath, groupIds: [0] }), LogSchemaError);
  } finally {
    cleanup();
  }
});

test('the recovering flag of the hard state is stored, cleared and reloaded', () => {
  withStore((ctx) => {
    const recovering = { term: 0, vote: 0 as NodeId, commit: 0, recovering: true as const };
    ctx.store.write([{ groupId: 0, hardState: recovering, entries: [] }]);
    assert.equal(ctx.reopen().load(0).hardState.recovering, true);
    assert.equal(ctx.store.durableView(0).recovering, 1);
    ctx.store.write([{ groupId: 0, hardState: { ...hardState(1, 0, 1), recovering: true }, entries: entries([1], 1) }]);
    assert.equal(ctx.reopen().load(0).hardState.recovering, true, 'kept while entries arrive');
    ctx.store.write([{ groupId: 0, hardState: hardState(1, 2, 1), entries: [] }]);
    const back = ctx.reopen().load(0).hardState;
    assert.equal(back.recovering, undefined, 'cleared');
    assert.equal(back.vote, 2);
    assert.equal(ctx.store.load(1).hardState.recovering, undefined, 'other groups never had it');
  });
});

test('a raft.db of format 1 (no recovering column) opens as the current format with its rows intact', () => {
  const { dbPath, cleanup } = tempDir();
  try {
    const first = LogStore.open({ path: dbPath, groupIds: [0, 1] });
    first.write([{ groupId: 0, hardState: hardState(3, 2, 2), entries: entries([1, 3], 1) }]);
    first.close();
    // Turn the file back into format 1: the column did not exist and the version said 1.
    const raw = new Database(dbPath);
    raw.exec('ALTER TABLE raft_state DROP COLUMN recovering');
    raw.exec('ALTER TABLE raft_snapshot DROP COLUMN file');
    backToFormat3(raw);
    raw.pragma('user_version = 1');
    raw.close();
    const store = LogStore.open({ path: dbPath, groupIds: [0, 1] });
    try {
      const g0 = store.load(0);
      assert.deepEqual(g0.hardState, hardState(3, 2, 2), 'checksums of format-1 rows still verify');
      assert.equal(g0.entries.length, 2);
      store.write([
        { groupId: 1, hardState: { term: 0, vote: 0 as NodeId, commit: 0, recovering: true }, entries: [] },
      ]);
    } finally {
      store.close();
    }
    const raw2 = new Database(dbPath);
    assert.equal(raw2.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    raw2.close();
    const again = LogStore.open({ path: dbPath, groupIds: [0, 1] });
    assert.equal(again.load(1).hardState.recovering, true);
    again.close();
  } finally {
    cleanup();
  }
});

test('writes that would break the log are assertion errors and write nothing at all', () => {
  withStore(({ store, reopen }) => {
    store.write([{ groupId: 0, hardState: hardState(2, 1, 2), entries: entries([1, 1, 2], 1) }]);
    store.compact(0, snapshot(1, 1), 1, 1);
    const cases: [string, () => void][] = [
      ['a gap after the last entry', () => store.write([{ groupId: 0, entries: entries([2], 5) }])],
      ['an append below the offset', () => store.write([{ groupId: 0, entries: entries([1], 1) }])],
      [
        'a batch that is not contiguous',
        () => store.write([{ groupId: 0, entries: [...entries([2], 4), ...entries([2], 6)] }]),
      ],
      ['a term below the previous entry', () => store.write([{ groupId: 0, entries: entries([1], 4) }])],
      ['terms that decrease in a batch', () => store.write([{ groupId: 0, entries: entries([2, 1], 4) }])],
      ['overwriting a committed entry', () => store.write([{ groupId: 0, entries: entries([2], 2) }])],
      ['a term going back', () => store.write([{ groupId: 0, hardState: hardState(1, 1, 2), entries: [] }])],
      ['a second vote in one term', () => store.write([{ groupId: 0, hardState: hardState(2, 3, 2), entries: [] }])],
      ['the commit going back', () => store.write([{ groupId: 0, hardState: hardState(2, 1, 1), entries: [] }])],
      ['a commit beyond the log', () => store.write([{ groupId: 0, hardState: hardState(2, 1, 9), entries: [] }])],
      ['an entry from a future term', () => store.write([{ groupId: 0, entries: entries([3], 4) }])],
      ['a snapshot behind the commit', () => store.write([{ groupId: 0, snapshot: snapshot(2, 1), entries: [] }])],
      ['an unknown group', () => store.write([{ groupId: 55, entries: entries([1], 1) }])],
      [
        'a group twice in one write',
        () =>
          store.write([
            { groupId: 1, entries: [] },
            { groupId: 1, entries: [] },
          ]),
      ],
      ['compaction past the snapshot', () => store.compact(0, snapshot(2, 1), 3, 2)],
      ['compaction with the wrong term', () => store.compact(0, snapshot(2, 1), 2, 2)],
      ['a snapshot older than the stored one', () => store.compact(0, snapshot(0, 1), 0, 0)],
    ];
    for (const [what, fn] of cases) assert.throws(fn, AssertionError, what);

    // Atomic across groups: a valid write to group 1 next to an invalid one to group 0 is not written either.
    assert.throws(
      () =>
        store.write([
          { groupId: 1, hardState: hardState(1, 1, 0), entries: entries([1], 1) },
          { groupId: 0, entries: entries([2], 9) },
        ]),
      AssertionError,
    );
    const s = reopen();
    assert.deepEqual(s.load(1).entries, []);
    assert.deepEqual(comparable(s.load(0)).offset, [1, 1]);
    assert.deepEqual(
      s.load(0).entries.map((e) => e.index),
      [2, 3],
    );
    assert.equal(s.stats().transactions, 0);
  });
});

test('a closed store refuses every call', () => {
  withStore(({ store }) => {
    store.close();
    assert.throws(() => store.load(0), AssertionError);
    assert.throws(() => store.write([{ groupId: 0, entries: entries([1], 1) }]), AssertionError);
  });
});

test('stats count one transaction per write() call, whatever the number of groups', () => {
  withStore(({ store }) => {
    const turns = 20;
    for (let t = 1; t <= turns; t++) {
      store.write(GROUPS.map((groupId) => ({ groupId, hardState: hardState(1, 1, t - 1), entries: entries([1], t) })));
    }
    store.write([]); // nothing to write: no transaction
    store.write([{ groupId: 0, entries: [] }]);
    const stats = store.stats();
    assert.equal(stats.transactions, turns);
    assert.equal(stats.entriesWritten, turns * GROUPS.length);
    const payloadBytes = GROUPS.length * entries(Array(turns).fill(1), 1).reduce((n, e) => n + e.data.length, 0);
    assert.equal(stats.bytesWritten, payloadBytes);
    store.compact(0, snapshot(5, 1), 5, 1);
    assert.equal(store.stats().transactions, turns + 1);
  });
});

test('the slow-disk fault blocks each write for about the delay', () => {
  const { dbPath, cleanup } = tempDir();
  const delayMs = 60;
  const store = LogStore.open({ path: dbPath, groupIds: [0], fsyncDelayMs: delayMs });
  try {
    for (let i = 1; i <= 3; i++) {
      const started = process.hrtime.bigint();
      store.write([{ groupId: 0, hardState: hardState(1, 1, 0), entries: entries([1], i) }]);
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      assert.ok(elapsedMs >= 0.8 * delayMs, `write took ${elapsedMs} ms, expected at least ${0.8 * delayMs}`);
    }
    store.setFsyncDelayMs(0);
    assert.throws(() => store.setFsyncDelayMs(-1), AssertionError);
  } finally {
    store.close();
    cleanup();
  }
});

test('a raft.db of format 2 (snapshots only as blobs) opens as format 3 with its snapshot intact', () => {
  const { dbPath, cleanup } = tempDir();
  try {
    const first = LogStore.open({ path: dbPath, groupIds: [0] });
    first.write([{ groupId: 0, hardState: hardState(1, 1, 3), entries: entries([1, 1, 1], 1) }]);
    first.compact(0, { index: 3, term: 1, data: new TextEncoder().encode('state at 3') }, 3, 1);
    first.close();
    const raw = new Database(dbPath);
    raw.exec('ALTER TABLE raft_snapshot DROP COLUMN file');
    backToFormat3(raw);
    raw.pragma('user_version = 2');
    raw.close();
    const store = LogStore.open({ path: dbPath, groupIds: [0] });
    try {
      const snap = store.load(0).snapshot;
      assert.equal(snap?.index, 3);
      assert.equal(new TextDecoder().decode(snap.data as Uint8Array), 'state at 3');
    } finally {
      store.close();
    }
    const raw2 = new Database(dbPath);
    assert.equal(raw2.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.deepEqual(raw2.prepare('SELECT file FROM raft_snapshot').raw().all(), [[null]]);
    raw2.close();
  } finally {
    cleanup();
  }
});

test('a snapshot built into a file: written through a bounded buffer, readable a range at a time, dropped on abort', async () => {
  const { dbPath, cleanup } = tempDir();
  try {
    const files = new SnapshotFiles(join(dirname(dbPath), 'snapshots'));
    const records = Array.from({ length: 3000 }, (_, i) =>
      new TextEncoder().encode(`{"record":${i},"pad":"${'x'.repeat(i % 900)}"}\n`),
    );
    records.push(new Uint8Array(3 * 1024 * 1024).fill(0x61)); // one record larger than the buffer
    const out = files.output(7);
    for (const r of records) out.write(r);
    assert.deepEqual(readdirSync(files.dir).filter((n) => n.endsWith('.part')).length, 1, 'written as it goes');
    const data = out.finish();
    const expected = Buffer.concat(records);
    assert.equal(data.byteLength, expected.length);
    assert.deepEqual(Buffer.from(data.subarray(1000, 5000)), expected.subarray(1000, 5000));
    assert.deepEqual(Buffer.from(data.subarray(0, data.byteLength)), expected);
    files.release(data);
    assert.ok(!existsSync(snapshotFileOf(data)!.path), 'released: the file is gone at once');
    // Unlinked on the thread pool: wait (bounded) for it.
    for (let i = 0; i < 500 && files.pendingDeletions() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(files.pendingDeletions(), 0);
    assert.deepEqual(readdirSync(files.dir), [], 'and unlinked');

    const dropped = files.output(7);
    for (const r of records.slice(0, 2000)) dropped.write(r);
    dropped.abort();
    assert.deepEqual(readdirSync(files.dir), [], 'aborted: the partial file is gone');
  } finally {
    cleanup();
  }
});

test("raft.db's page cache is limits.pageCacheKib, not better-sqlite3's 16 MiB", () => {
  withStore(({ store }) => {
    // The connection is private; the pragma is per connection, so only the store's own handle can show it.
    const db = (store as unknown as { db: Database.Database }).db;
    assert.equal(db.pragma('cache_size', { simple: true }), -2048);
  });
});

/** Undoes format 4 in a raw raft.db: no configuration table, no configuration columns on snapshots. */
function backToFormat3(raw: Database.Database): void {
  raw.exec('DROP TABLE raft_conf');
  raw.exec('ALTER TABLE raft_snapshot DROP COLUMN conf');
  raw.exec('ALTER TABLE raft_snapshot DROP COLUMN conf_index');
}

const joint: ConfState = applyChange(confState([1, 2, 3].map(nodeId)), {
  transition: 'explicit',
  changes: [
    { type: 'addVoter', node: nodeId(4) },
    { type: 'remove', node: nodeId(3) },
  ],
});

test('the configuration in force is stored with a write and reloaded; none stored means the founding voters', () => {
  withStore((ctx) => {
    assert.equal(ctx.store.load(1).conf, undefined, 'a fresh group has no stored configuration');
    ctx.store.write([{ groupId: 1, hardState: hardState(1, 1, 2), entries: entries([1, 1], 1) }]);
    ctx.store.write([{ groupId: 1, entries: [], confState: { state: joint, index: 2 } }]);
    assert.deepEqual(ctx.reopen().load(1).conf, { state: joint, index: 2 });
    const left = applyChange(joint, { transition: 'auto', changes: [] });
    ctx.store.write([{ groupId: 1, entries: entries([1], 3), confState: { state: left, index: 3 } }]);
    assert.deepEqual(ctx.reopen().load(1).conf, { state: left, index: 3 });
    assert.equal(ctx.store.load(0).conf, undefined, 'other groups keep theirs');
  });
});

test('a snapshot keeps the configuration it carries, received or our own', () => {
  withStore((ctx) => {
    ctx.store.write([
      {
        groupId: 2,
        hardState: hardState(2, 1, 5),
        snapshot: { ...snapshot(5, 2), confState: joint, confIndex: 4 },
        entries: [],
      },
    ]);
    const snap = ctx.reopen().load(2).snapshot;
    assert.deepEqual([snap?.confState, snap?.confIndex], [joint, 4]);
    ctx.store.write([{ groupId: 0, hardState: hardState(1, 1, 3), entries: entries([1, 1, 1], 1) }]);
    ctx.store.compact(0, { ...snapshot(3, 1), confState: joint, confIndex: 2 }, 3, 1);
    assert.deepEqual(ctx.reopen().load(0).snapshot?.confState, joint);
  });
});

test('a corrupted configuration row is reported as corruption of its group', () => {
  withStore(({ store, reopen, dbPath }) => {
    store.write([
      { groupId: 1, hardState: hardState(1, 1, 1), entries: entries([1], 1), confState: { state: joint, index: 1 } },
    ]);
    store.close();
    const raw = new Database(dbPath);
    raw.prepare('UPDATE raft_conf SET conf_index = 7 WHERE group_id = 1').run();
    raw.close();
    assert.throws(
      () => reopen().load(1),
      (err: unknown) => err instanceof LogCorruptionError && err.groupId === 1,
    );
  });
});

test('a raft.db of format 3 (no configurations) opens as format 4: every group keeps its founding voters', () => {
  const { dbPath, cleanup } = tempDir();
  try {
    const first = LogStore.open({ path: dbPath, groupIds: [0] });
    first.write([{ groupId: 0, hardState: hardState(1, 1, 3), entries: entries([1, 1, 1], 1) }]);
    first.compact(0, snapshot(3, 1), 3, 1);
    first.close();
    const raw = new Database(dbPath);
    backToFormat3(raw);
    raw.pragma('user_version = 3');
    raw.close();
    const store = LogStore.open({ path: dbPath, groupIds: [0] });
    try {
      const g0 = store.load(0);
      assert.equal(g0.conf, undefined);
      assert.equal(g0.snapshot?.index, 3);
      assert.equal(g0.snapshot?.confState, undefined);
      store.write([{ groupId: 0, entries: [], confState: { state: joint, index: 3 } }]);
      assert.deepEqual(store.load(0).conf?.state, joint);
    } finally {
      store.close();
    }
    const raw2 = new Database(dbPath);
    assert.equal(raw2.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(SCHEMA_VERSION, 4);
    raw2.close();
  } finally {
    cleanup();
  }
});
