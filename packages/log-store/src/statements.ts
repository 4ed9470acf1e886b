/**
 * Prepared statements, built once when the store opens: the write path never compiles SQL nor asks SQLite
 * about its schema. Rows are read in raw (array) mode, in the column order written in each statement.
 */
import type { Database, Statement } from 'better-sqlite3';

import { logTableName } from './schema.js';

/** ["index", term, kind, payload, crc32c] */
export type EntryRow = [number, number, number, Uint8Array, number];
/** [term, vote, commit_index, offset_index, offset_term, snapshot_index, snapshot_term, recovering, crc32c] */
export type StateRowRaw = [number, number, number, number, number, number, number, number, number];
/** ["index", term, data, crc32c, file, conf, conf_index] */
export type SnapshotRowRaw = [number, number, Uint8Array, number, string | null, string | null, number | null];
/** [conf_index, conf, crc32c] */
export type ConfRowRaw = [number, string, number];

/** The statements on one group's log table. */
export class GroupStatements {
  /** (index, term, kind, payload, crc32c) */
  readonly insertEntry: Statement<[number, number, number, Uint8Array, number]>;
  /** Deletes the suffix [index, ∞). */
  readonly deleteFrom: Statement<[number]>;
  /** Deletes the prefix (−∞, index]. */
  readonly deleteThrough: Statement<[number]>;
  readonly deleteAll: Statement<[]>;
  /** The term of one entry (pluck). */
  readonly termAt: Statement<[number], number>;
  /** ["index", term] of the last entry (raw). */
  readonly tail: Statement<[], [number, number]>;
  /** Every entry in index order (raw, EntryRow). */
  readonly readAll: Statement<[], EntryRow>;

  constructor(db: Database, groupId: number) {
    const t = logTableName(groupId);
    this.insertEntry = db.prepare(`INSERT INTO ${t} ("index", term, kind, payload, crc32c) VALUES (?, ?, ?, ?, ?)`);
    this.deleteFrom = db.prepare(`DELETE FROM ${t} WHERE "index" >= ?`);
    this.deleteThrough = db.prepare(`DELETE FROM ${t} WHERE "index" <= ?`);
    this.deleteAll = db.prepare(`DELETE FROM ${t}`);
    this.termAt = db.prepare<[number], number>(`SELECT term FROM ${t} WHERE "index" = ?`).pluck();
    this.tail = db.prepare<[], [number, number]>(`SELECT "index", term FROM ${t} ORDER BY "index" DESC LIMIT 1`).raw();
    this.readAll = db
      .prepare<[], EntryRow>(`SELECT "index", term, kind, payload, crc32c FROM ${t} ORDER BY "index"`)
      .raw();
  }
}

/** The statements on raft_state and raft_snapshot, keyed by group id. */
export class SharedStatements {
  /** (term, vote, commit, offset_index, offset_term, snapshot_index, snapshot_term, recovering, crc32c, group_id) */
  readonly updateState: Statement<[number, number, number, number, number, number, number, number, number, number]>;
  readonly readState: Statement<[number], StateRowRaw>;
  /** (group_id, index, term, data, crc32c, file, conf, conf_index) */
  readonly upsertSnapshot: Statement<
    [number, number, number, Uint8Array, number, string | null, string | null, number | null]
  >;
  /** (group_id, conf_index, conf, crc32c) */
  readonly upsertConf: Statement<[number, number, string, number]>;
  readonly readConf: Statement<[number], ConfRowRaw>;
  readonly readSnapshot: Statement<[number], SnapshotRowRaw>;
  readonly deleteSnapshot: Statement<[number]>;

  constructor(db: Database) {
    this.updateState = db.prepare(
      `UPDATE raft_state SET term = ?, vote = ?, commit_index = ?, offset_index = ?, offset_term = ?,
         snapshot_index = ?, snapshot_term = ?, recovering = ?, crc32c = ? WHERE group_id = ?`,
    );
    this.readState = db
      .prepare<[number], StateRowRaw>(
        `SELECT term, vote, commit_index, offset_index, offset_term, snapshot_index, snapshot_term, recovering, crc32c
           FROM raft_state WHERE group_id = ?`,
      )
      .raw();
    this.upsertSnapshot = db.prepare(
      `INSERT OR REPLACE INTO raft_snapshot (group_id, "index", term, data, crc32c, file, conf, conf_index)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.upsertConf = db.prepare(
      `INSERT OR REPLACE INTO raft_conf (group_id, conf_index, conf, crc32c) VALUES (?, ?, ?, ?)`,
    );
    this.readConf = db
      .prepare<[number], ConfRowRaw>(`SELECT conf_index, conf, crc32c FROM raft_conf WHERE group_id = ?`)
      .raw();
    this.deleteSnapshot = db.prepare(`DELETE FROM raft_snapshot WHERE group_id = ?`);
    this.readSnapshot = db
      .prepare<[number], SnapshotRowRaw>(
        `SELECT "index", term, data, crc32c, file, conf, conf_index FROM raft_snapshot WHERE group_id = ?`,
      )
      .raw();
  }
}
