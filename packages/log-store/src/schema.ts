/**
 * The on-disk format of raft.db (DESIGN.md §4), version SCHEMA_VERSION, kept in `PRAGMA user_version`.
 *
 *   raft_log_<group>  one table per group: "index" INTEGER PRIMARY KEY, term, kind, payload BLOB, crc32c;
 *                     holds exactly the entries (offset_index, last index] of its group
 *   raft_state        one row per group: term, vote, commit_index, offset_index, offset_term (the last
 *                     compacted entry, so the first index is offset_index + 1), snapshot_index, snapshot_term,
 *                     recovering (1 while the node rebuilds a lost log, format 2), crc32c over all of them
 *   raft_snapshot     at most one row per group: the newest snapshot ("index", term, data BLOB, crc32c, file):
 *                     its bytes in `data`, or (format 3) in the file named by `file` in the snapshots folder
 *                     beside raft.db, `data` then empty and crc32c that of the file's bytes (snapshot-file.ts);
 *                     (format 4) `conf` and `conf_index`: the configuration the snapshot carries (SnapshotMeta),
 *                     NULL for a snapshot without one
 *   raft_conf         (format 4) at most one row per group: the configuration in force (ConfState as JSON,
 *                     confchange.ts) and the index of the conf entry it comes from, crc32c over both; no row:
 *                     the group's founding voters (every group before membership changes existed)
 *
 * Tables are STRICT, so SQLite itself refuses a value of the wrong type. A snapshot and the state row that
 * names it are always written in one transaction.
 */
import type { EntryKind } from '@kalam/raft';
import { assert } from '@kalam/raft';

import { limits } from './limits.js';

export const SCHEMA_VERSION = 4;

/** Format 1 → 2: the `recovering` column, 0 in every existing row. */
export const MIGRATE_1_TO_2_SQL = `ALTER TABLE raft_state ADD COLUMN recovering INTEGER NOT NULL DEFAULT 0`;

/** Format 2 → 3: the `file` column, NULL (the bytes are in `data`) in every existing row. */
export const MIGRATE_2_TO_3_SQL = `ALTER TABLE raft_snapshot ADD COLUMN file TEXT`;

/**
 * Format 3 → 4: the snapshot's configuration columns, NULL in every existing row; raft_conf is created by
 * SHARED_TABLES_SQL, empty: every existing group keeps its founding voters.
 */
export const MIGRATE_3_TO_4_SQL = `
  ALTER TABLE raft_snapshot ADD COLUMN conf TEXT;
  ALTER TABLE raft_snapshot ADD COLUMN conf_index INTEGER;
`;

export const SHARED_TABLES_SQL = `
  CREATE TABLE IF NOT EXISTS raft_state (
    group_id INTEGER PRIMARY KEY,
    term INTEGER NOT NULL,
    vote INTEGER NOT NULL,
    commit_index INTEGER NOT NULL,
    offset_index INTEGER NOT NULL,
    offset_term INTEGER NOT NULL,
    snapshot_index INTEGER NOT NULL,
    snapshot_term INTEGER NOT NULL,
    crc32c INTEGER NOT NULL,
    recovering INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE TABLE IF NOT EXISTS raft_snapshot (
    group_id INTEGER PRIMARY KEY,
    "index" INTEGER NOT NULL,
    term INTEGER NOT NULL,
    data BLOB NOT NULL,
    crc32c INTEGER NOT NULL,
    file TEXT,
    conf TEXT,
    conf_index INTEGER
  ) STRICT;
  CREATE TABLE IF NOT EXISTS raft_conf (
    group_id INTEGER PRIMARY KEY,
    conf_index INTEGER NOT NULL,
    conf TEXT NOT NULL,
    crc32c INTEGER NOT NULL
  ) STRICT;
`;

/** The table of one group's log. The id is checked before it becomes part of SQL text. */
export function logTableName(groupId: number): string {
  assertGroupId(groupId);
  return `raft_log_${groupId}`;
}

export function logTableSql(groupId: number): string {
  return `CREATE TABLE IF NOT EXISTS ${logTableName(groupId)} (
    "index" INTEGER PRIMARY KEY,
    term INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    payload BLOB NOT NULL,
    crc32c INTEGER NOT NULL
  ) STRICT`;
}

export function assertGroupId(groupId: number): void {
  assert(
    Number.isSafeInteger(groupId) && groupId >= 0 && groupId <= limits.groupIdMax,
    () => `group id must be an integer in [0, ${limits.groupIdMax}], got ${groupId}`,
  );
}

/** Entry kinds as stored: small integers that never change meaning. */
export const KIND_CODE: Readonly<Record<EntryKind, number>> = { command: 0, noop: 1, conf: 2 };

const KIND_OF_CODE: readonly EntryKind[] = ['command', 'noop', 'conf'];

/** The kind a stored code stands for, or undefined for a code no version ever wrote. */
export function kindOfCode(code: number): EntryKind | undefined {
  return KIND_OF_CODE[code];
}
