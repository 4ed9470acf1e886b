// Corruption tests: raft.db is damaged behind the store's back through a raw better-sqlite3 connection —
// bytes of one entry's payload flipped (its crc32c left alone), a snapshot's bytes flipped, a state row
// edited, an entry deleted from the middle, an entry's term rewritten — and the store must refuse with a
// LogCorruptionError (code LOG_CORRUPT) naming the group and the index, never hand back the damaged log.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import Database from 'better-sqlite3';

import { LogCorruptionError, LogStore, logTableName } from '../src/index.js';
import { entries, hardState, tempDir } from './support/fixtures.js';

const GROUPS = [0, 1, 100];

/** Writes a healthy store (group 100 compacted behind a snapshot), closes it, and hands out its path. */
function withDamagedStore(damage: (raw: Database.Database) => void, check: (dbPath: string) => void): void {
  const { dbPath, cleanup } = tempDir();
  try {
    const store = LogStore.open({ path: dbPath, groupIds: GROUPS });
    store.write([
      { groupId: 0, hardState: hardState(2, 1, 3), entries: entries([1, 1, 2, 2, 2], 1, 'g0') },
      { groupId: 1, hardState: hardState(1, 1, 1), entries: entries([1, 1], 1, 'g1') },
      { groupId: 100, hardState: hardState(3, 2, 6), entries: entries([1, 2, 3, 3, 3, 3, 3], 1, 'g100') },
    ]);
    store.compact(100, { index: 5, term: 3, data: new Uint8Array(4096).fill(7) }, 3, 3);
    store.close();
    const raw = new Database(dbPath);
    try {
      damage(raw);
    } finally {
      raw.close();
    }
    check(dbPath);
  } finally {
    cleanup();
  }
}

function flipByte(bytes: Uint8Array, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] ?? 0) ^ 0x5a;
  return copy;
}

function expectCorrupt(fn: () => unknown, groupId: number, index: number | 'snapshot' | 'state'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LogCorruptionError, `expected LogCorruptionError, got ${String(err)}`);
    assert.equal(err.code, 'LOG_CORRUPT');
    assert.equal(err.groupId, groupId);
    assert.equal(err.index, index);
    assert.match(err.message, new RegExp(`group ${groupId}\\b`));
    if (typeof index === 'number') assert.match(err.message, new RegExp(`index ${index}\\b`));
    return true;
  });
}

test('a flipped payload byte is reported with its group and index; other groups still load', () => {
  withDamagedStore(
    (raw) => {
      const table = logTableName(0);
      const row = raw.prepare(`SELECT payload FROM ${table} WHERE "index" = 4`).get() as { payload: Buffer };
      raw.prepare(`UPDATE ${table} SET payload = ? WHERE "index" = 4`).run(flipByte(row.payload, 1));
    },
    (dbPath) => {
      const store = LogStore.open({ path: dbPath, groupIds: GROUPS });
      try {
        expectCorrupt(() => store.load(0), 0, 4);
        assert.equal(store.load(1).entries.length, 2);
      } finally {
        store.close();
      }
    },
  );
});

test("a rewritten term is caught by the entry's checksum", () => {
  withDamagedStore(
    (raw) => raw.prepare(`UPDATE ${logTableName(1)} SET term = 7 WHERE "index" = 2`).run(),
    (dbPath) => {
      const store = LogStore.open({ path: dbPath, groupIds: GROUPS });
      try {
        expectCorrupt(() => store.load(1), 1, 2);
      } finally {
        store.close();
      }
    },
  );
});

test('an entry missing from the middle of the log is reported at its index', () => {
  withDamagedStore(
    (raw) => raw.prepare(`DELETE FROM ${logTableName(0)} WHERE "index" = 3`).run(),
    (dbPath) => {
      const store = LogStore.open({ path: dbPath, groupIds: GROUPS });
      try {
        expectCorrupt(() => store.load(0), 0, 3);
      } finally {
        store.close();
      }
    },
  );
});

test("flipped snapshot bytes are reported as the group's snapshot", () => {
  withDamagedStore(
    (raw) => {
      const row = raw.prepare('SELECT data FROM raft_snapshot WHERE group_id = 100').get() as { data: Buffer };
      raw.prepare('UPDATE raft_snapshot SET data = ? WHERE group_id = 100').run(flipByte(row.data, 2048));
    },
    (dbPath) => {
      const store = LogStore.open({ path: dbPath, groupIds: GROUPS });
      try {
        expectCorrupt(() => store.load(100), 100, 'snapshot');
        assert.equal(store.load(0).entries.length, 5);
      } finally {
        store.close();
      }
    },
  );
});

test('a missing snapshot named by the state row is reported', () => {
  withDamagedStore(
    (raw) => raw.prepare('DELETE FROM raft_snapshot WHERE group_id = 100').run(),
    (dbPath) => {
      const store = LogStore.open({ path: dbPath, groupIds: GROUPS });
      try {
        expectCorrupt(() => store.load(100), 100, 'snapshot');
      } finally {
        store.close();
      }
    },
  );
});

test('an edited state row fails its checksum when the store opens', () => {
  withDamagedStore(
    (raw) => raw.prepare('UPDATE raft_state SET commit_index = 5 WHERE group_id = 1').run(),
    (dbPath) => expectCorrupt(() => LogStore.open({ path: dbPath, groupIds: GROUPS }), 1, 'state'),
  );
});

test("a state row copied onto another group's row fails its checksum (the group id is covered)", () => {
  withDamagedStore(
    (raw) => {
      raw.exec(`UPDATE raft_state SET (term, vote, commit_index, offset_index, offset_term, snapshot_index,
                  snapshot_term, crc32c) = (SELECT term, vote, commit_index, offset_index, offset_term,
                  snapshot_index, snapshot_term, crc32c FROM raft_state WHERE group_id = 0) WHERE group_id = 1`);
    },
    (dbPath) => expectCorrupt(() => LogStore.open({ path: dbPath, groupIds: GROUPS }), 1, 'state'),
  );
});

test('control: the undamaged fixture loads in full', () => {
  withDamagedStore(
    () => undefined,
    (dbPath) => {
      const store = LogStore.open({ path: dbPath, groupIds: GROUPS });
      try {
        const s = store.load(100);
        assert.deepEqual([s.offsetIndex, s.offsetTerm, s.snapshot?.index, s.entries.length], [3, 3, 5, 4]);
      } finally {
        store.close();
      }
    },
  );
});
