/**
 * The contract between RaftManager and a group's state machine. [M3] plugs KalamDB's five state machines
 * in here; tests use a key-value one.
 *
 * The state machine's durable state IS the group's snapshot (as in CockroachDB): the driver compacts the Raft log
 * up to what `sync` says is durable, keeping no snapshot bytes, and asks for `snapshot()` only when a follower is
 * behind the log's first entry. After a restart the state machine must hold at least what `sync` last returned
 * (otherwise the node refuses to start the group: STATE_BEHIND_LOG).
 */
import type { EntryKind, SnapshotData } from '@kalam/raft';

export interface AppliedEntry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  /** Empty for no-ops. */
  readonly data: Uint8Array;
}

export interface StateMachine {
  /**
   * Applies entries in order, deterministically, and returns one response per entry (undefined for
   * no-ops). Entries at or below `appliedIndex()` must be skipped (a replay after a crash), and the
   * applied index must be made durable together with the data it covers.
   */
  apply(entries: readonly AppliedEntry[]): unknown[];
  /** The last applied index, as durable as the state itself. */
  appliedIndex(): number;
  /**
   * Makes everything applied so far durable — it survives a crash of the process and of the machine — and returns
   * the applied index durable now: the log is compacted up to it, never past it. Should be cheap when nothing was
   * applied since the last call (a store shared by every group makes them all durable at once).
   */
  sync(): number;
  /**
   * The whole state at `appliedIndex()`. Built only when a follower needs it (it is behind the compacted log), and
   * sent from memory; nothing stores it.
   */
  snapshot(): Uint8Array;
  /**
   * Optional: a snapshot built a slice at a time across driver turns, from a read view of the state as applied when
   * it was asked for — applies go on meanwhile, so building a large state never holds the driver's turn for long.
   * Undefined (or no method): the driver calls `snapshot()` within one turn. `output`, when given, is where the
   * snapshot's bytes go as they are built (a node: a file), so that a large state is never whole in memory.
   */
  snapshotBuilder?(output?: SnapshotOutput): SnapshotBuilder | undefined;
  /**
   * Replaces the whole state by a snapshot's, atomically (received from the leader; the driver has stored it in
   * raft.db first, and keeps it there until a later `sync` covers its index). `data` may be a file read a range at
   * a time: read it in pieces rather than whole.
   */
  restore(snapshot: { index: number; term: number; data: SnapshotData }): void;
  /**
   * Optional: the same install a piece at a time, so that a large state never holds the driver's turn (issue [M8]
   * §3). Each piece is durable by itself; the state machine must not serve reads of the group from the first piece
   * until the last (its applied index stays where it was until then), and must remember that an install is under way
   * (installPending) until the last piece, so that a crash between pieces is redone at boot. Undefined (or no
   * method): the driver calls `restore` within one turn.
   */
  installer?(snapshot: { index: number; term: number; data: SnapshotData }): SnapshotInstall | undefined;
  /**
   * Optional: the install begun and not finished (a crash between two pieces), or undefined. At boot the driver
   * restores again from the snapshot raft.db names, and refuses to start the group when raft.db names none that
   * recent (LOG_CORRUPT): a half-installed state is never served.
   */
  installPending?(): { readonly index: number; readonly term: number } | undefined;
  /**
   * May the entry be applied now? Returning false pauses the group (it never skips): used for the
   * cross-group order of DESIGN.md §6, where a data entry waits for a meta:system index. Once true for an
   * entry it must stay true (what the entry waits for only grows): the driver asks about each entry once.
   */
  canApply?(entry: AppliedEntry): boolean;
}

/** A snapshot being installed in pieces (StateMachine.installer). */
export interface SnapshotInstall {
  /** The index the snapshot is of. */
  readonly index: number;
  /**
   * Installs the next piece — about `bytesMax` of the snapshot, at least one record — in one transaction of its own;
   * true once the last piece is in (the state is the snapshot's, applied at `index`). Throws what `restore` would.
   */
  step(bytesMax: number): boolean;
  /** Gives up (a newer snapshot replaces it, the node stops): the state stays marked as being installed. */
  close(): void;
}

/** A snapshot being built in slices (StateMachine.snapshotBuilder). */
export interface SnapshotBuilder {
  /** The applied index the snapshot is of: its read view's. */
  readonly index: number;
  /** Does about `budgetMs` of work; the snapshot's bytes once it is complete, undefined until then. */
  step(budgetMs: number): SnapshotData | undefined;
  /** Gives up (releases the read view); also called after the last step. */
  close(): void;
}

/**
 * Where a snapshot being built goes, in order (StateMachine.snapshotBuilder): a node's is a file. `finish` returns
 * the bytes written, readable a range at a time; `abort` drops them. After either, no more calls.
 */
export interface SnapshotOutput {
  write(bytes: Uint8Array): void;
  finish(): SnapshotData;
  abort(): void;
}
