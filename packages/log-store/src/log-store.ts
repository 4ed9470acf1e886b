/**
 * LogStore: the durable log, hard state and snapshots of every group of a node, in one SQLite file
 * (raft.db, WAL, synchronous=FULL). All groups' writes of one driver turn go in ONE transaction, so one
 * fsync covers every group (group commit).
 *
 * Nothing here trusts the caller or the disk: a write is validated against an in-memory mirror of what is
 * durable (write-plan.ts) before any SQL runs, and a read verifies every checksum and the contiguity of the
 * log (read-group.ts). The mirror changes only after a transaction commits, so a failed write leaves the
 * store exactly as it was.
 */
import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import type { Snapshot } from '@kalam/raft';
import { assert, encodeConfState, snapshotBytes } from '@kalam/raft';
import Database from 'better-sqlite3';

import { confChecksum, entryChecksum, snapshotChecksum, stateChecksum } from './checksum.js';
import type { DurableState } from './durable-state.js';
import { EMPTY_STATE_ROW } from './durable-state.js';
import { LogIoError, LogSchemaError } from './errors.js';
import { limits } from './limits.js';
import { readDurableState, readGroup } from './read-group.js';
import {
  KIND_CODE,
  MIGRATE_1_TO_2_SQL,
  MIGRATE_2_TO_3_SQL,
  MIGRATE_3_TO_4_SQL,
  SCHEMA_VERSION,
  SHARED_TABLES_SQL,
  assertGroupId,
  logTableSql,
} from './schema.js';
import { blockThread } from './slow-disk.js';
import { snapshotFileOf } from './snapshot-file.js';
import { GroupStatements, SharedStatements } from './statements.js';
import type { GroupLogState, GroupWrite, LogStoreOptions, LogStoreStats } from './types.js';
import type { TermAt, WritePlan } from './write-plan.js';
import { planCompact, planCompactLog, planWrite } from './write-plan.js';

interface GroupSlot {
  readonly statements: GroupStatements;
  /** Reads one stored entry's term (only for truncation and compaction checks). */
  readonly termAt: TermAt;
  durable: DurableState;
}

export class LogStore {
  private readonly db: Database.Database;
  private readonly shared: SharedStatements;
  private readonly groups: ReadonlyMap<number, GroupSlot>;
  private readonly batchTransaction: (ops: readonly LogOp[], batch: BatchMirror) => void;
  private fsyncDelayMs = 0;
  private readonly counters: LogStoreStats = { transactions: 0, entriesWritten: 0, bytesWritten: 0 };
  private closed = false;

  private constructor(
    db: Database.Database,
    groupIds: readonly number[],
    /** Where snapshot files live (snapshot-file.ts): `snapshots` beside raft.db; none for a store in memory. */
    readonly snapshotDir: string | undefined,
  ) {
    this.db = db;
    this.shared = new SharedStatements(db);
    const groups = new Map<number, GroupSlot>();
    for (const id of groupIds) {
      const statements = new GroupStatements(db, id);
      const termAt = (index: number): number | undefined => statements.termAt.get(index);
      groups.set(id, { statements, termAt, durable: readDurableState(this.shared, statements, id) });
    }
    this.groups = groups;
    this.batchTransaction = db.transaction((ops: readonly LogOp[], batch: BatchMirror) => {
      for (const op of ops) {
        if (op.type === 'write') this.applyWrite(op.writes, batch);
        else if (op.type === 'compact') this.applyCompact(op, batch);
        else this.applyCompactLog(op, batch);
      }
    });
  }

  /**
   * Opens (creating when missing) raft.db with a log table and a state row for every group. Idempotent.
   * Throws LogIoError when SQLite cannot open the file, LogSchemaError for an unknown schema version, and
   * LogCorruptionError when a state row fails its checksum.
   */
  static open(opts: LogStoreOptions): LogStore {
    assert(opts.groupIds.length <= limits.groupsMax, () => `at most ${limits.groupsMax} groups per store`);
    opts.groupIds.forEach(assertGroupId);
    assert(new Set(opts.groupIds).size === opts.groupIds.length, 'group ids must be distinct');
    const db = openDatabase(opts.path, opts.groupIds);
    try {
      const store = wrapIo('read the state rows', () => new LogStore(db, opts.groupIds, snapshotDirOf(opts.path)));
      store.setFsyncDelayMs(opts.fsyncDelayMs ?? 0);
      return store;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Everything `groupId` recovers, verified. Throws LogCorruptionError naming the group and the index. */
  load(groupId: number): GroupLogState {
    const slot = this.slot(groupId);
    const { logState, durable } = wrapIo('read the log', () =>
      readGroup(this.shared, slot.statements, groupId, this.snapshotDir),
    );
    slot.durable = durable;
    return logState;
  }

  /**
   * Persists one driver turn: every group's hard state, snapshot and entries in ONE transaction (one fsync).
   * Each write is validated first; an invalid one throws AssertionError and nothing at all is written.
   */
  write(writes: readonly GroupWrite[]): void {
    this.writeBatch([{ type: 'write', writes }]);
  }

  /**
   * Persists several driver turns' writes and compactions, in order, in ONE transaction (one fsync): the log
   * worker's group commit (log-writer.ts). Each op is validated against the state the ops before it leave (the
   * mirror of the batch so far, and the log tables as this transaction sees them); an invalid one throws
   * AssertionError, the transaction rolls back and nothing of the batch is written.
   */
  writeBatch(ops: readonly LogOp[]): void {
    this.assertOpen();
    const batch = new BatchMirror((groupId) => this.slot(groupId).durable);
    wrapIo('write the log', () => this.batchTransaction(ops, batch));
    if (!batch.wrote) return;
    for (const [groupId, next] of batch.next) this.slot(groupId).durable = next;
    this.counters.entriesWritten += batch.entries;
    this.counters.bytesWritten += batch.bytes;
    this.afterCommit();
  }

  /**
   * What is durable of a group, for checkers that compare nodes' logs (the simulator's): the state row, the log's
   * last index and term, and the term of any entry it holds.
   */
  durableView(groupId: number): DurableState & { readonly termAt: (index: number) => number | undefined } {
    const slot = this.slot(groupId);
    return { ...slot.durable, termAt: slot.termAt };
  }

  /**
   * Stores our own snapshot (replacing the group's older one) and deletes the entries ≤ compactTo, so the log
   * starts at compactTo + 1 with offset (compactTo, compactToTerm). One transaction. Compacting to or behind
   * the current offset only stores the snapshot. The durable commit index is raised to the snapshot's index
   * if it was behind (a snapshot only covers committed entries).
   */
  compact(groupId: number, snapshot: Snapshot, compactTo: number, compactToTerm: number): void {
    this.writeBatch([{ type: 'compact', groupId, snapshot, compactTo, compactToTerm }]);
  }

  /**
   * Deletes the entries ≤ compactTo without storing a snapshot: the state machine's own durable state (data.db)
   * covers them, and a snapshot is built from it only when a follower needs one. A stored snapshot (one received
   * from a leader) at or behind compactTo is deleted with them: the state machine made its index durable. One
   * transaction; compacting to or behind the offset does nothing.
   */
  compactLog(groupId: number, compactTo: number, compactToTerm: number): void {
    this.writeBatch([{ type: 'compactLog', groupId, compactTo, compactToTerm }]);
  }

  /**
   * The slow-disk fault: from now on every committed write() (and compact()) blocks the thread for `ms`
   * milliseconds after its fsync, as a slow disk would. 0 turns it off.
   */
  setFsyncDelayMs(ms: number): void {
    assert(
      Number.isFinite(ms) && ms >= 0 && ms <= limits.fsyncDelayMsMax,
      () => `fsync delay must be in [0, ${limits.fsyncDelayMsMax}] ms, got ${ms}`,
    );
    this.fsyncDelayMs = ms;
  }

  stats(): LogStoreStats {
    return { ...this.counters };
  }

  /** Closes raft.db. Any later call is a programmer error. Closing twice is allowed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    wrapIo('close raft.db', () => this.db.close());
  }

  // ---------------------------------------------------------------------------------------------------

  /**
   * Runs inside the batch transaction: validates one turn's writes against the batch's mirror (all of them before
   * any of their SQL), then runs them.
   */
  private applyWrite(writes: readonly GroupWrite[], batch: BatchMirror): void {
    const seen = new Set<number>();
    const plans: WritePlan[] = [];
    for (const w of writes) {
      assert(!seen.has(w.groupId), () => `group ${w.groupId} appears twice in one write`);
      seen.add(w.groupId);
      const plan = planWrite(w, batch.durable(w.groupId), this.slot(w.groupId).termAt);
      if (plan.stateChanged || plan.entries.length > 0 || w.confState !== undefined) plans.push(plan);
    }
    for (const plan of plans) {
      this.applyPlan(plan);
      batch.next.set(plan.groupId, plan.next);
      batch.entries += plan.entries.length;
      batch.bytes += plan.bytes;
      batch.wrote = true;
    }
  }

  /** Runs inside the batch transaction: one validated compaction (see compact). */
  private applyCompact(op: CompactOp, batch: BatchMirror): void {
    const { groupId, snapshot } = op;
    const slot = this.slot(groupId);
    const cur = batch.durable(groupId);
    const next = planCompact(groupId, cur, snapshot, { to: op.compactTo, toTerm: op.compactToTerm }, slot.termAt);
    this.storeSnapshot(groupId, snapshot);
    if (next.offsetIndex !== cur.offsetIndex) slot.statements.deleteThrough.run(next.offsetIndex);
    this.updateStateRow(groupId, next);
    batch.next.set(groupId, next);
    batch.bytes += snapshot.data.byteLength;
    batch.wrote = true;
  }

  /**
   * Writes the group's snapshot row (replacing the older one): a snapshot in a file (SnapshotFile, fsynced by its
   * sink) by its name and checksum only, any other by its bytes as a blob.
   */
  private storeSnapshot(groupId: number, snapshot: Snapshot): void {
    const conf = snapshot.confState !== undefined ? encodeConfState(snapshot.confState) : null;
    const confIndex = snapshot.confState !== undefined ? (snapshot.confIndex ?? snapshot.index) : null;
    const { index, term } = snapshot;
    const file = snapshotFileOf(snapshot.data);
    if (file !== undefined) {
      assert(this.snapshotDir !== undefined, 'a store in memory keeps no snapshot files');
      assert(dirname(file.path) === this.snapshotDir, () => `snapshot file ${file.path} outside ${this.snapshotDir}`);
      this.shared.upsertSnapshot.run(groupId, index, term, EMPTY, file.crc32c, basename(file.path), conf, confIndex);
      return;
    }
    const data = snapshotBytes(snapshot.data);
    const crc = snapshotChecksum(index, term, data);
    this.shared.upsertSnapshot.run(groupId, index, term, data, crc, null, conf, confIndex);
  }

  /** Runs inside the batch transaction: one validated compaction without a snapshot (see compactLog). */
  private applyCompactLog(op: CompactLogOp, batch: BatchMirror): void {
    const { groupId } = op;
    const cur = batch.durable(groupId);
    const { next, dropSnapshot } = planCompactLog(
      groupId,
      cur,
      { to: op.compactTo, toTerm: op.compactToTerm },
      this.slot(groupId).termAt,
    );
    if (next === cur) return;
    if (dropSnapshot) this.shared.deleteSnapshot.run(groupId);
    this.slot(groupId).statements.deleteThrough.run(next.offsetIndex);
    this.updateStateRow(groupId, next);
    batch.next.set(groupId, next);
    batch.wrote = true;
  }

  /** Runs inside the write transaction: the SQL of one validated plan. */
  private applyPlan(plan: WritePlan): void {
    const st = this.slot(plan.groupId).statements;
    const snapshot = plan.snapshot;
    if (snapshot !== undefined) {
      this.storeSnapshot(plan.groupId, snapshot);
      st.deleteAll.run();
    } else if (plan.truncateFrom !== undefined) {
      st.deleteFrom.run(plan.truncateFrom);
    }
    for (const e of plan.entries) {
      const kind = KIND_CODE[e.kind];
      st.insertEntry.run(e.index, e.term, kind, e.data, entryChecksum(e.index, e.term, kind, e.data));
    }
    if (plan.stateChanged) this.updateStateRow(plan.groupId, plan.next);
    if (plan.conf !== undefined) {
      const text = encodeConfState(plan.conf.state);
      const crc = confChecksum(plan.groupId, plan.conf.index, text);
      this.shared.upsertConf.run(plan.groupId, plan.conf.index, text, crc);
    }
  }

  private updateStateRow(groupId: number, s: DurableState): void {
    const crc = stateChecksum(groupId, s);
    const result = this.shared.updateState.run(
      s.term,
      s.vote,
      s.commit,
      s.offsetIndex,
      s.offsetTerm,
      s.snapshotIndex,
      s.snapshotTerm,
      s.recovering,
      crc,
      groupId,
    );
    assert(result.changes === 1, () => `group ${groupId}: the state row was not updated`);
  }

  private afterCommit(): void {
    this.counters.transactions++;
    blockThread(this.fsyncDelayMs);
  }

  private slot(groupId: number): GroupSlot {
    this.assertOpen();
    const slot = this.groups.get(groupId);
    assert(slot !== undefined, () => `group ${groupId} is not hosted by this log store`);
    return slot;
  }

  private assertOpen(): void {
    assert(!this.closed, 'the log store is closed');
  }
}

/**
 * One op of a batch: a driver turn's writes, a compaction behind our own snapshot (LogStore.compact), or one behind
 * the state machine's durable state (LogStore.compactLog).
 */
export interface WriteOp {
  readonly type: 'write';
  readonly writes: readonly GroupWrite[];
}
export interface CompactOp {
  readonly type: 'compact';
  readonly groupId: number;
  readonly snapshot: Snapshot;
  readonly compactTo: number;
  readonly compactToTerm: number;
}
/** A compaction without a snapshot: the state machine's durable state covers the entries (LogStore.compactLog). */
export interface CompactLogOp {
  readonly type: 'compactLog';
  readonly groupId: number;
  readonly compactTo: number;
  readonly compactToTerm: number;
}
export type LogOp = WriteOp | CompactOp | CompactLogOp;

/**
 * What a batch has done so far inside its transaction: the next durable state of every group it touched (the
 * store's mirror changes only once the transaction has committed) and what it wrote.
 */
class BatchMirror {
  readonly next = new Map<number, DurableState>();
  entries = 0;
  bytes = 0;
  wrote = false;
  /** `committed`: a group's durable state as last committed (where the batch starts from). */
  constructor(private readonly committed: (groupId: number) => DurableState) {}

  durable(groupId: number): DurableState {
    return this.next.get(groupId) ?? this.committed(groupId);
  }
}

/** SQLite failures become LogIoError; the store's own typed errors and assertions pass through. */
function wrapIo<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Database.SqliteError) throw new LogIoError(what, err);
    throw err;
  }
}

/** Opens raft.db, sets the durability pragmas and creates the schema for `groupIds` in one transaction. */
/** ':memory:' opens a store without a file (the simulator's disks, tests): no WAL, no fsync, gone on close. */
const IN_MEMORY = ':memory:';

function openDatabase(path: string, groupIds: readonly number[]): Database.Database {
  if (path === IN_MEMORY) {
    const db = new Database(IN_MEMORY);
    createSchema(db, groupIds);
    return db;
  }
  mkdirSync(dirname(path), { recursive: true });
  const db = wrapIo(`open ${path}`, () => new Database(path, { timeout: limits.lockWaitMs }));
  try {
    wrapIo(`set up ${path}`, () => {
      // Exclusive locking: a second process (a second node on the same data folder) cannot open raft.db,
      // and the WAL index lives in process memory instead of a shared-memory file.
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma(`page_size = ${limits.pageBytes}`); // takes effect only when the file is new
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      assert(mode === 'wal', () => `raft.db refused WAL mode (journal_mode is ${String(mode)})`);
      db.pragma('synchronous = FULL');
      db.pragma(`cache_size = -${limits.pageCacheKib}`);
      db.pragma(`wal_autocheckpoint = ${limits.walAutocheckpointPages}`);
      const version = db.pragma('user_version', { simple: true });
      if (version !== 0 && version !== 1 && version !== 2 && version !== 3 && version !== SCHEMA_VERSION) {
        throw new LogSchemaError(Number(version), SCHEMA_VERSION);
      }
      createSchema(db, groupIds, Number(version));
    });
    fsyncDirectory(dirname(path));
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function createSchema(db: Database.Database, groupIds: readonly number[], version = 0): void {
  db.transaction(() => {
    // Format 1 had no `recovering` column; its rows are all 0, whose checksums format 2 computes the same way.
    if (version === 1) db.exec(MIGRATE_1_TO_2_SQL);
    if (version === 1 || version === 2) db.exec(MIGRATE_2_TO_3_SQL);
    if (version === 1 || version === 2 || version === 3) db.exec(MIGRATE_3_TO_4_SQL);
    db.exec(SHARED_TABLES_SQL);
    const insertState = db.prepare<[number, number]>(
      `INSERT OR IGNORE INTO raft_state
         (group_id, term, vote, commit_index, offset_index, offset_term, snapshot_index, snapshot_term, crc32c)
       VALUES (?, 0, 0, 0, 0, 0, 0, 0, ?)`,
    );
    for (const id of groupIds) {
      db.exec(logTableSql(id));
      insertState.run(id, stateChecksum(id, EMPTY_STATE_ROW));
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

const EMPTY = new Uint8Array(0);

/** The folder of a store's snapshot files: `snapshots` beside raft.db (none for a store in memory). */
export function snapshotDirOf(path: string): string | undefined {
  return path === ':memory:' ? undefined : join(dirname(path), 'snapshots');
}

/** Makes the creation of raft.db (and its WAL) itself durable: fsync the folder that names them. */
function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (err) {
    throw new LogIoError(`fsync the folder ${dir}`, err);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
