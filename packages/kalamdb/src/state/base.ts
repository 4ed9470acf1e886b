/**
 * What every Kalam state machine shares: apply a batch in ONE data.db transaction, skipping entries at or
 * below the group's stored applied index (a replay after a crash), each command inside its own savepoint so
 * that it applies whole or not at all; snapshot = the group's whole state as a stream of bounded records
 * (snapshot-format.ts); restore = replace it a piece of records at a time, each piece one data.db transaction
 * (`installer`, driven a piece per driver turn), the install marked in data.db from its first piece to its last so
 * that a crash between two is redone at boot, and no read served from the first piece to the last.
 *
 * Apply is total. Whatever an entry holds — bytes that do not decode, a command an older version or a planner bug let
 * through (validate.ts decides, with the same rules the planner used), a row the table refuses — every replica
 * answers the same deterministic refusal, `{type: 'Error', code, message}`, leaves the state as it was and moves on:
 * a command that reached the log can never stop the cluster. Only two things stop a node, with an ApplyFatalError
 * that says which: its own storage failing (disk full, I/O error, corruption, a flushed file gone), or an internal
 * invariant broken (a bug: an error of no kind apply expects). Skipping such an entry instead would let this replica
 * diverge from the others for good.
 */
import Database from 'better-sqlite3';

import { MultiRaftError } from '@kalam/multiraft';
import type { AppliedEntry, SnapshotInstall, StateMachine } from '@kalam/multiraft';
import { SqlError } from '@kalam/sql';
import { CommandCodecError, decodeCommand } from '../codec.js';
import { ColdStoreError } from '../cold/store.js';
import type { ErrorResponse } from '../commands.js';
import type { DataStore } from '../store.js';
import { TableNameError } from '../tables.js';
import { SnapshotFormatError, SnapshotReader, SnapshotWriter } from './snapshot-format.js';
import type { SnapshotSource } from './snapshot-format.js';

/** A deterministic refusal: becomes `{type: 'Error', code, message}` on every node. */
export class ApplyError extends Error {
  override readonly name = 'ApplyError';
  constructor(
    readonly code:
      | 'TABLE_NOT_FOUND'
      | 'NAMESPACE_NOT_FOUND'
      | 'ALREADY_EXISTS'
      | 'NOT_FOUND'
      | 'INVALID'
      | 'CONFLICT'
      | 'LIMIT_EXCEEDED',
    message: string,
  ) {
    super(message);
  }
}

/** Why a node stops in apply: its own storage failed, or the code broke one of its own invariants. */
export type FatalReason = 'local-storage' | 'internal-invariant';

/** An entry this node cannot apply for a reason of its own; the node stops rather than skip it. */
export class ApplyFatalError extends Error {
  override readonly name = 'ApplyFatalError';
  readonly code = 'APPLY_FATAL';
  constructor(
    readonly groupId: number,
    readonly index: number,
    readonly commandType: string,
    readonly reason: FatalReason,
    cause: unknown,
  ) {
    const what = reason === 'local-storage' ? "this node's storage failed" : 'an internal invariant broke (a bug)';
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`group ${groupId}, entry ${index} (${commandType}): ${what}: ${detail}`, { cause });
  }
}

/** SQLite codes that are a verdict on the command and the replicated state, the same on every replica. */
const DETERMINISTIC_SQLITE = /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH|RANGE)/;
/** SQLite codes that are this node's storage failing. */
const LOCAL_SQLITE = /^SQLITE_(IOERR|CORRUPT|FULL|NOMEM|BUSY|LOCKED|CANTOPEN|READONLY|NOTADB|PERM|AUTH|PROTOCOL|NOLFS)/;

/** The refusal an error thrown by apply stands for, or null when it is not one. */
export function refusalOf(err: unknown): ErrorResponse | null {
  if (err instanceof ApplyError) return { type: 'Error', code: err.code, message: err.message };
  if (err instanceof CommandCodecError || err instanceof SqlError || err instanceof TableNameError) {
    return { type: 'Error', code: 'INVALID', message: err.message };
  }
  if (err instanceof Database.SqliteError && DETERMINISTIC_SQLITE.test(err.code)) {
    return { type: 'Error', code: 'INVALID', message: `the store refused the command: ${err.message}` };
  }
  return null;
}

function fatalReason(err: unknown): FatalReason {
  if (err instanceof Database.SqliteError) return LOCAL_SQLITE.test(err.code) ? 'local-storage' : 'internal-invariant';
  if (err instanceof ColdStoreError) return 'local-storage';
  const code = err instanceof Error && 'code' in err ? (err as { code: unknown }).code : undefined;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? 'local-storage' : 'internal-invariant';
}

/** A decoded, checked command, or the refusal its bytes earn. */
type Decoded<C> = { readonly cmd: C } | { readonly refusal: ErrorResponse };

export interface StateMachineOptions {
  /**
   * TEST ONLY (the planted bug `unchecked-commands`): apply as Kalam did before commands were checked at apply and
   * apply was total — no validation, and anything but an ApplyError stops the node. Used to write logs that hold the
   * entries which used to stop every node, so a test can show the fixed code starts and serves over them.
   */
  readonly uncheckedCommands?: boolean;
  /**
   * TEST ONLY (the planted bug `restoreDropsOtherTables`, simulator): a data group's restore drops the physical
   * tables it has rows in instead of deleting its own rows from them — and with them the rows the other user
   * shards keep in the same tables, as a restore that clears more than its own group's state did (issue M6 §2).
   */
  readonly restoreDropsOtherTables?: boolean;
  /**
   * TEST ONLY (the planted bug `ignoreClientSessions`): a data group applies a row write without looking at its
   * client session, so a retried write applies again — what exactly-once writes exist to prevent.
   */
  readonly ignoreClientSessions?: boolean;
}

export { SNAPSHOT_VERSION, SnapshotFormatError } from './snapshot-format.js';

/** Where an install sends the records after the state record (a data group's pages), each inside its piece. */
export interface SnapshotImport {
  record(r: Record<string, unknown>): void;
  /** Every record was handed over: checks they were all the state record announced, and finishes. */
  finish(): void;
}

/**
 * How much more of a snapshot one install step verifies than it installs: the first pass only hashes (hundreds of
 * MB/s), the second inserts rows.
 */
const VERIFY_BYTES_PER_INSTALL_BYTE = 16;

export abstract class KalamStateMachine<C extends { readonly type: string }, R> implements StateMachine {
  /**
   * Decoded commands by entry bytes: canApply and apply look at the same entry, decoding it once. apply drops its
   * entry's: the driver's in-memory Raft log keeps the bytes (the WeakMap's key) alive until compaction, and with
   * them the decoded rows — as much again as the log itself under a bulk load (issue [M8] §3).
   */
  private readonly decodedCache = new WeakMap<Uint8Array, Decoded<C>>();

  constructor(
    protected readonly store: DataStore,
    readonly groupId: number,
    protected readonly options: StateMachineOptions = {},
  ) {
    this.installing = this.installPending() !== undefined;
  }

  /**
   * Reads of the group's state call this first: refused (SNAPSHOT_INSTALLING) while a snapshot is being installed.
   * The driver's reads and proposals wait for the install, so only a read whose barrier passed before it began sees
   * this (a request that read the group, then waited on another group, then reads again).
   */
  protected checkReadable(): void {
    if (!this.installing) return;
    throw new MultiRaftError(
      'SNAPSHOT_INSTALLING',
      `group ${this.groupId} is installing a snapshot from its leader; try again once it is in`,
      { groupId: this.groupId },
    );
  }

  /** The command of this group kind that `value` is (validate.ts), or an ApplyError('INVALID'). */
  protected abstract check(value: unknown): C;
  protected abstract applyCommand(cmd: C, entry: AppliedEntry): R;
  /** The group's state as plain data (the first record of its snapshot; a data group's rows follow it in pages). */
  protected abstract exportState(): unknown;
  /** Replaces the group's whole state by the state record's (inside the install's first piece). */
  protected abstract importState(state: unknown): void;

  /**
   * Deletes up to `rowsMax` more of what a snapshot install replaces that grows with the data (a data group's rows);
   * true once nothing is left. The install calls it in its first pieces, before it loads the snapshot's state record:
   * a follower holding a gigabyte of a shard deleted it in one transaction, on the driver's turn, before. `cursor` is
   * the install's own, kept between its pieces (where each table's walk stopped). Default: nothing of that kind (the
   * metadata groups' state is small and replaced whole by importState).
   */
  protected clearForInstall(_rowsMax: number, _cursor: Map<string, bigint | 'done'>): boolean {
    return true;
  }

  /**
   * Begins replacing the group's whole state by a snapshot's, inside the install's piece after clearForInstall is
   * done: takes the state record, and returns where the records that follow go (a data group's pages) — each handed
   * over in the piece that reads it. By default the state record is all there is.
   */
  protected beginImport(state: unknown): SnapshotImport {
    this.importState(state);
    return {
      record: () => {
        throw new SnapshotFormatError(
          `the snapshot of group ${this.groupId} has records its state machine does not read`,
        );
      },
      finish: () => undefined,
    };
  }

  /** After each piece of an install, committed or rolled back: what the subclass cached of the state is stale. */
  protected afterInstallPiece(_committed: boolean): void {}

  /** The install's last piece committed: the state is the snapshot's. */
  protected afterInstall(): void {}

  /**
   * A snapshot install is under way (from the first piece to the last, or cut short by a crash): the state is part
   * old, part new, and no read may see it. Read from data.db's mark at start.
   */
  private installing: boolean;

  /** The snapshot's records after the state record (a data group's row pages); none by default. */
  protected exportMoreRecords(_w: SnapshotWriter): void {}

  /**
   * Work a valid command causes before it applies, kept even when the command itself is then refused (outside its
   * savepoint): a data group's meta horizon. It must not fail for anything the command holds.
   */
  protected prepare(_cmd: C, _entry: AppliedEntry): void {}

  /** Optional in the StateMachine contract: the data groups pause on it (DESIGN.md §6). */
  canApply?(entry: AppliedEntry): boolean;

  apply(entries: readonly AppliedEntry[]): unknown[] {
    return this.store.transaction(() =>
      entries.map((e) => {
        if (e.index <= this.store.appliedIndex(this.groupId)) return undefined;
        const response = e.kind === 'command' ? this.applyOne(e) : undefined;
        this.store.markApplied(this.groupId, e.index, e.term);
        return response;
      }),
    );
  }

  /** The entry's command, decoded and checked once (cached by its bytes). */
  protected decoded(e: AppliedEntry): Decoded<C> {
    const known = this.decodedCache.get(e.data);
    if (known !== undefined) return known;
    let d: Decoded<C>;
    try {
      const raw = decodeCommand<C>(e.data);
      d = { cmd: this.options.uncheckedCommands === true ? raw : this.check(raw) };
    } catch (err) {
      const refusal = refusalOf(err);
      if (refusal === null) throw err;
      d = { refusal };
    }
    this.decodedCache.set(e.data, d);
    return d;
  }

  private applyOne(e: AppliedEntry): R | ErrorResponse {
    const d = this.decoded(e);
    this.decodedCache.delete(e.data);
    if ('refusal' in d) return d.refusal;
    const cmd = d.cmd;
    if (this.options.uncheckedCommands === true) return this.applyUnchecked(cmd, e);
    try {
      this.prepare(cmd, e);
    } catch (err) {
      throw new ApplyFatalError(this.groupId, e.index, cmd.type, fatalReason(err), err);
    }
    const run = (): R | ErrorResponse => {
      try {
        // A nested better-sqlite3 transaction is a savepoint: a refused command leaves nothing behind.
        return this.store.db.transaction(() => this.applyCommand(cmd, e))();
      } catch (err) {
        const refusal = refusalOf(err);
        if (refusal === null) throw new ApplyFatalError(this.groupId, e.index, cmd.type, fatalReason(err), err);
        this.store.physical.forget(); // the savepoint may have made or dropped physical tables
        this.afterRefusal();
        return refusal;
      }
    };
    try {
      return this.applyInSession(cmd, run);
    } catch (err) {
      if (err instanceof ApplyFatalError) throw err;
      throw new ApplyFatalError(this.groupId, e.index, cmd.type, fatalReason(err), err);
    }
  }

  /**
   * Runs the command (`run`: in its savepoint, a refusal answered) under whatever the group keeps beside it — a data
   * group's client sessions (state/sessions.ts), outside the savepoint so that a refused write's answer is remembered
   * too. By default: just runs it.
   */
  protected applyInSession(_cmd: C, run: () => R | ErrorResponse): R | ErrorResponse {
    return run();
  }

  /** The planted bug's apply: only an ApplyError is a refusal; anything else escapes and stops the node. */
  private applyUnchecked(cmd: C, e: AppliedEntry): R | ErrorResponse {
    this.prepare(cmd, e);
    // Client sessions stay on: this bug is about checks, and a retried write applying twice would be another one.
    return this.applyInSession(cmd, () => {
      try {
        return this.store.db.transaction(() => this.applyCommand(cmd, e))();
      } catch (err) {
        if (!(err instanceof ApplyError)) throw err;
        this.store.physical.forget();
        this.afterRefusal();
        return { type: 'Error', code: err.code, message: err.message };
      }
    });
  }

  /** A command's savepoint rolled back: forget what the subclass cached of it. */
  protected afterRefusal(): void {}

  appliedIndex(): number {
    return this.store.appliedIndex(this.groupId);
  }

  /** data.db made durable (DataStore.sync: one fsync for every group of the node). */
  sync(): number {
    this.store.sync();
    return this.appliedIndex();
  }

  /** The snapshot: the state record, then the group's other records (snapshot-format.ts). */
  snapshot(): Uint8Array {
    const w = new SnapshotWriter(this.groupId);
    w.record({ kind: 'state', state: this.exportState() });
    this.exportMoreRecords(w);
    return w.finishInMemory();
  }

  /** The install begun and not finished, from data.db's mark (StateMachine.installPending). */
  installPending(): { index: number; term: number } | undefined {
    const row = this.store
      .prepare<[number], { snapshot_index: number; snapshot_term: number }>(
        'SELECT snapshot_index, snapshot_term FROM group_installing WHERE group_id = ?',
      )
      .get(this.groupId);
    return row === undefined ? undefined : { index: row.snapshot_index, term: row.snapshot_term };
  }

  /** Installs a snapshot at once: every piece of `installer` in this call (boot, tests, the in-memory stores). */
  restore(snapshot: { index: number; term: number; data: SnapshotSource }): void {
    const install = this.installer(snapshot);
    while (!install.step(Infinity));
  }

  /**
   * Installs a snapshot a piece at a time (StateMachine.installer). The first pass verifies the whole snapshot (a
   * corrupt, truncated or foreign one is refused with SnapshotFormatError before anything changes); then each piece
   * is one data.db transaction: the first marks the install in `group_installing` (index, term, the snapshot's
   * checksum) and starts clearing the group's old rows (clearForInstall, a bounded number per piece); the piece that
   * finishes clearing loads the state record; the following ones load the records after it; the last checks that nothing is left over and, in the same transaction, marks the snapshot's index applied
   * and removes the mark. The group serves no read from the first piece to the last (checkReadable), and its applied
   * index is the old state's until the last piece commits.
   */
  installer(snapshot: { index: number; term: number; data: SnapshotSource }): SnapshotInstall {
    const reader = new SnapshotReader(snapshot.data, this.groupId);
    let records: Generator<{ value: Record<string, unknown>; bytes: number }> | undefined;
    let importer: SnapshotImport | undefined;
    let state: { value: Record<string, unknown>; bytes: number } | undefined;
    let cleared = false;
    const clearCursor = new Map<string, bigint | 'done'>();
    const piece = (next: Generator<{ value: Record<string, unknown>; bytes: number }>, bytesMax: number): boolean =>
      this.store.transaction(() => {
        let bytes = 0;
        if (importer === undefined) {
          if (state === undefined) {
            const first = next.next();
            if (first.done === true || first.value.value['kind'] !== 'state') {
              throw new SnapshotFormatError(
                `the snapshot of group ${this.groupId} does not start with its state record`,
              );
            }
            state = first.value;
            this.store
              .prepare(
                'INSERT OR REPLACE INTO group_installing (group_id, snapshot_index, snapshot_term, snapshot_crc) VALUES (?, ?, ?, ?)',
              )
              .run(this.groupId, snapshot.index, snapshot.term, reader.crc);
          }
          // The old rows first, a bounded number per piece; the mark above covers a crash in between.
          if (!cleared) {
            const rowsMax = bytesMax === Infinity ? Infinity : Math.max(1, Math.floor(bytesMax / 1024));
            cleared = this.clearForInstall(rowsMax, clearCursor);
            if (!cleared) return false;
          }
          importer = this.beginImport(state.value['state']);
          bytes += state.bytes;
        }
        while (bytes < bytesMax) {
          const r = next.next();
          if (r.done === true) {
            importer.finish();
            this.store.markApplied(this.groupId, snapshot.index, snapshot.term);
            this.store.prepare('DELETE FROM group_installing WHERE group_id = ?').run(this.groupId);
            return true;
          }
          importer.record(r.value.value);
          bytes += r.value.bytes;
        }
        return false;
      });
    return {
      index: snapshot.index,
      step: (bytesMax) => {
        if (records === undefined) {
          if (!reader.verify(bytesMax * VERIFY_BYTES_PER_INSTALL_BYTE)) return false;
          records = reader.records();
        }
        this.installing = true; // until the last piece: the old state is going, the snapshot's not all in
        let done: boolean;
        try {
          done = piece(records, bytesMax);
        } catch (err) {
          this.afterInstallPiece(false);
          throw err;
        }
        this.afterInstallPiece(true);
        if (done) {
          this.installing = false;
          this.afterInstall();
        }
        return done;
      },
      close: () => {
        records?.return(undefined);
      },
    };
  }
}
