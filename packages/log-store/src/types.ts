/** The shapes the log store takes and returns. */
import type { ConfState, Entry, HardState, Snapshot } from '@kalam/raft';

/** What a group recovers at startup: RaftRestoreState without `applied` (the state machine knows that). */
export interface GroupLogState {
  hardState: HardState;
  /** Index and term of the last compacted entry; `entries` start right after it. (0, 0) if never compacted. */
  offsetIndex: number;
  offsetTerm: number;
  entries: Entry[];
  snapshot: Snapshot | undefined;
  /** The configuration last persisted (raft_conf) and the index of its conf entry; absent: the founding voters. */
  conf: { readonly state: ConfState; readonly index: number } | undefined;
}

/** One group's part of a driver turn: what its Ready asks to persist. */
export interface GroupWrite {
  groupId: number;
  /** Replaces the state row's term, vote and commit. */
  hardState?: HardState;
  /**
   * Appended after the snapshot (if any). The first entry may overwrite an uncommitted suffix: every entry at
   * or after entries[0].index is deleted first.
   */
  entries: readonly Entry[];
  /**
   * A snapshot received from the leader: stored, the whole log deleted, offset = (snapshot.index,
   * snapshot.term). Applied before `entries`.
   */
  snapshot?: Snapshot;
  /** The configuration in force (Ready.confState): replaces the group's raft_conf row. */
  confState?: { readonly state: ConfState; readonly index: number };
}

export interface LogStoreOptions {
  /** The raft.db file; its folder is created if missing. ':memory:': a store without a file (simulator, tests). */
  path: string;
  /** Every group this node hosts. Their tables and state rows are created on open when missing. */
  groupIds: readonly number[];
  /** The slow-disk fault at open (see LogStore.setFsyncDelayMs); 0 by default. */
  fsyncDelayMs?: number;
}

export interface LogStoreStats {
  /** Committed transactions: one per write() that had something to write, one per compact(). */
  transactions: number;
  /** Entries appended by write(). */
  entriesWritten: number;
  /** Entry payload bytes plus snapshot bytes written (rows, not SQLite pages). */
  bytesWritten: number;
}
