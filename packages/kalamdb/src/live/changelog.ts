/**
 * ChangeLog: per data group, the high-water mark of `_seq` and the last LIVE_LIMITS.changeLogEntriesPerGroupMax row
 * changes, in data.db, written inside the apply transaction (so replay, snapshot and restore keep them exact).
 *
 * `_seq` assignment: a command proposes `seqBase`; apply gives its rows `max(seqBase, lastSeq + 1) + i`. Proposers
 * on different nodes stamp from different clocks, so proposed bases are not in commit order; the assigned ones are,
 * strictly increasing per group in commit order, and identical on every replica (a function of the log alone).
 *
 * The high-water state of each group is cached in memory (every write reads it twice): `record` and `load` keep it,
 * and the owner calls `forget()` whenever a transaction that may have written it rolls back.
 *
 * The log is what a resume (`from_seq_id`) reads: every change of one table (and one user) after a `_seq`, in commit
 * order, with old values. `trimmedSeq` is the highest `_seq` trimmed away: a resume from below it may have lost
 * changes and is refused.
 */
import type { Database as Db, Statement } from 'better-sqlite3';

import type { Value } from '../commands.js';
import type { TableRef } from '../tables.js';
import { LIVE_LIMITS } from './limits.js';
import type { ChangeType, RowChange } from './types.js';

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS live_seq (group_id INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL,
     change_count INTEGER NOT NULL, trimmed_seq INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS live_changes (group_id INTEGER NOT NULL, change_no INTEGER NOT NULL, seq INTEGER NOT NULL,
     table_id TEXT NOT NULL, incarnation INTEGER NOT NULL, user_id TEXT, change_type TEXT NOT NULL,
     row_json TEXT NOT NULL, old_json TEXT, PRIMARY KEY (group_id, change_no))`,
  `CREATE INDEX IF NOT EXISTS live_changes_by_seq ON live_changes (group_id, table_id, incarnation, user_id, seq)`,
];

export interface SeqState {
  readonly lastSeq: number;
  readonly changeCount: number;
  readonly trimmedSeq: number;
}

/**
 * A group's change log in a snapshot's state record. Up to snapshot version 5 its entries came inline — up to
 * LIVE_LIMITS.changeLogEntriesPerGroupMax rows' JSON in one record, 20 MB for rows of 1 KB; since version 6 they
 * follow in `{kind: 'changes'}` pages of their own (CHANGELOG_SNAPSHOT_QUERY, importPage) and `entries` is absent.
 */
export interface ChangeLogDump extends SeqState {
  readonly entries?: readonly (readonly [
    number,
    number,
    string,
    number,
    string | null,
    ChangeType,
    string,
    string | null,
  ])[];
}

/** A group's kept changes, in order, as a snapshot's `changes` pages carry them (one array per change). */
export const CHANGELOG_SNAPSHOT_QUERY =
  'SELECT change_no, seq, table_id, incarnation, user_id, change_type, row_json, old_json FROM live_changes ' +
  'WHERE group_id = ? ORDER BY change_no';

interface ChangeRowDb {
  change_no: number;
  seq: number;
  table_id: string;
  incarnation: number;
  user_id: string | null;
  change_type: ChangeType;
  row_json: string;
  old_json: string | null;
}

/**
 * A row as the log keeps it: NULL columns left out. A column added by ALTER TABLE may or may not be in a replica's
 * schema when it applies an earlier write (meta:system may be ahead of the data group), always NULL in that row;
 * leaving NULLs out keeps the log byte-equal on every replica. Readers fill absent columns with NULL (plan.ts).
 */
function withoutNulls(row: Readonly<Record<string, Value>>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null)));
}

const ZERO: SeqState = { lastSeq: 0, changeCount: 0, trimmedSeq: 0 };

export class ChangeLog {
  private readonly getState: Statement<[number], { last_seq: number; change_count: number; trimmed_seq: number }>;
  private readonly putState: Statement<[number, number, number, number]>;
  private readonly append: Statement<
    [number, number, number, string, number, string | null, string, string, string | null]
  >;
  private readonly trimTo: Statement<[number, number]>;
  private readonly lastTrimmed: Statement<[number, number], { seq: number | null }>;
  private readonly since: Statement<[number, string, number, string | null, number], ChangeRowDb>;
  /** group id → its live_seq row, as last read or written in this process. */
  private readonly cached = new Map<number, SeqState>();

  constructor(private readonly db: Db) {
    for (const sql of SCHEMA) db.exec(sql);
    this.getState = db.prepare('SELECT last_seq, change_count, trimmed_seq FROM live_seq WHERE group_id = ?');
    this.putState = db.prepare(
      'INSERT INTO live_seq (group_id, last_seq, change_count, trimmed_seq) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (group_id) DO UPDATE SET last_seq = excluded.last_seq, change_count = excluded.change_count, ' +
        'trimmed_seq = excluded.trimmed_seq',
    );
    this.append = db.prepare(
      'INSERT INTO live_changes (group_id, change_no, seq, table_id, incarnation, user_id, change_type, row_json, ' +
        'old_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    // Entries of a purged table leave gaps in change_no: the highest seq among what is trimmed, not one entry's.
    this.lastTrimmed = db.prepare('SELECT MAX(seq) AS seq FROM live_changes WHERE group_id = ? AND change_no <= ?');
    this.trimTo = db.prepare('DELETE FROM live_changes WHERE group_id = ? AND change_no <= ?');
    this.since = db.prepare(
      'SELECT change_no, seq, table_id, incarnation, user_id, change_type, row_json, old_json FROM live_changes ' +
        'WHERE group_id = ? AND table_id = ? AND incarnation = ? AND user_id IS ? AND seq > ? ORDER BY seq',
    );
  }

  state(groupId: number): SeqState {
    const known = this.cached.get(groupId);
    if (known !== undefined) return known;
    const r = this.getState.get(groupId);
    const s = r === undefined ? ZERO : { lastSeq: r.last_seq, changeCount: r.change_count, trimmedSeq: r.trimmed_seq };
    this.cached.set(groupId, s);
    return s;
  }

  /** Drops the cached states: a transaction that may have written live_seq rolled back. */
  forget(): void {
    this.cached.clear();
  }

  /** The `_seq` of the first row a command writes: its proposed base, or past the group's high-water mark. */
  seqBase(groupId: number, proposed: number): number {
    return Math.max(proposed, this.state(groupId).lastSeq + 1);
  }

  /** Appends a command's changes (in `_seq` order), advances the high-water mark and trims the oldest entries. */
  record(groupId: number, changes: readonly RowChange[]): void {
    if (changes.length === 0) return;
    const s = this.state(groupId);
    let count = s.changeCount;
    let lastSeq = s.lastSeq;
    for (const c of changes) {
      if (c.seq <= lastSeq) throw new Error(`ChangeLog: _seq ${c.seq} of group ${groupId} is not above ${lastSeq}`);
      lastSeq = c.seq;
      count++;
      const old = c.old === null ? null : withoutNulls(c.old);
      this.append.run(
        groupId,
        count,
        c.seq,
        c.tableId,
        c.incarnation,
        c.userId,
        c.changeType,
        withoutNulls(c.row),
        old,
      );
    }
    let trimmedSeq = s.trimmedSeq;
    const keepFrom = count - LIVE_LIMITS.changeLogEntriesPerGroupMax; // entries with change_no <= keepFrom go
    if (keepFrom > 0) {
      const last = this.lastTrimmed.get(groupId, keepFrom)?.seq ?? null;
      if (last !== null) {
        trimmedSeq = Math.max(trimmedSeq, last);
        this.trimTo.run(groupId, keepFrom);
      }
    }
    this.putState.run(groupId, lastSeq, count, trimmedSeq);
    this.cached.set(groupId, { lastSeq, changeCount: count, trimmedSeq });
  }

  /**
   * Every kept change of the table incarnation (and `userId`; null for a SHARED table) with `_seq` > `afterSeq`, in
   * commit order; or 'trimmed' when changes after `afterSeq` may have been trimmed away.
   */
  changesAfter(groupId: number, t: TableRef, userId: string | null, afterSeq: number): RowChange[] | 'trimmed' {
    if (afterSeq < this.state(groupId).trimmedSeq) return 'trimmed';
    return this.since.all(groupId, t.tableId, t.incarnation, userId, afterSeq).map((r) => ({
      seq: r.seq,
      tableId: r.table_id,
      incarnation: r.incarnation,
      userId: r.user_id,
      changeType: r.change_type,
      row: JSON.parse(r.row_json) as Record<string, Value>,
      old: r.old_json === null ? null : (JSON.parse(r.old_json) as Record<string, Value>),
    }));
  }

  /** Forgets the changes of a purged table incarnation (its data group's horizon passed its DropTable). */
  purge(groupId: number, t: TableRef): void {
    this.db
      .prepare('DELETE FROM live_changes WHERE group_id = ? AND table_id = ? AND incarnation = ?')
      .run(groupId, t.tableId, t.incarnation);
  }

  /** The state a snapshot's state record carries; the entries follow in pages (CHANGELOG_SNAPSHOT_QUERY). */
  dump(groupId: number): ChangeLogDump {
    return { ...this.state(groupId) };
  }

  /**
   * Replaces a group's log by a snapshot's: its state, and its entries when they came inline (version 5 and before);
   * a later snapshot's entries come by importPage.
   */
  load(groupId: number, dump: ChangeLogDump): void {
    this.cached.delete(groupId);
    this.db.prepare('DELETE FROM live_changes WHERE group_id = ?').run(groupId);
    for (const [no, seq, table, incarnation, user, type, row, old] of dump.entries ?? []) {
      this.append.run(groupId, no, seq, table, incarnation, user, type, row, old);
    }
    this.putState.run(groupId, dump.lastSeq, dump.changeCount, dump.trimmedSeq);
  }

  /**
   * One `changes` page of a snapshot: rows of CHANGELOG_SNAPSHOT_QUERY as arrays of its columns (the tuples format 5
   * carried inline); false when a row is not such a change.
   */
  importPage(groupId: number, rows: readonly unknown[]): boolean {
    for (const row of rows) {
      if (!isChangeTuple(row)) return false;
      const [no, seq, table, incarnation, user, type, json, old] = row;
      this.append.run(groupId, no, seq, table, incarnation, user, type, json, old);
    }
    return true;
  }
}

type ChangeTuple = NonNullable<ChangeLogDump['entries']>[number];

function isChangeTuple(v: unknown): v is ChangeTuple {
  if (!Array.isArray(v) || v.length !== 8) return false;
  const [no, seq, table, incarnation, user, type, json, old] = v as unknown[];
  return (
    Number.isSafeInteger(no) &&
    Number.isSafeInteger(seq) &&
    typeof table === 'string' &&
    Number.isSafeInteger(incarnation) &&
    (user === null || typeof user === 'string') &&
    (type === 'insert' || type === 'update' || type === 'delete') &&
    typeof json === 'string' &&
    (old === null || typeof old === 'string')
  );
}
