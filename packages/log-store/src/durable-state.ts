/**
 * What is durable for one group, mirrored in memory so that a write is validated without reading raft.db.
 * The mirror is loaded when the store opens and replaced only after a transaction has committed.
 *
 * Invariants (asserted on write, checked as corruption on read):
 *   offsetIndex ≤ commit ≤ lastIndex; when a snapshot is stored, offsetIndex ≤ snapshotIndex ≤ commit. A log
 *   compacted without a snapshot (compactLog: the state machine's own durable state covers the offset) stores
 *   none: snapshotIndex = 0 = snapshotTerm with any offset;
 *   the log holds exactly the entries (offsetIndex, lastIndex], their terms never decrease and never exceed
 *   `term`.
 */

/** The `raft_state` row of one group. */
export interface StateRow {
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
  /** Index and term of the last compacted entry: the log starts at offsetIndex + 1. */
  readonly offsetIndex: number;
  readonly offsetTerm: number;
  /** The stored snapshot's index and term; (0, 0) when there is none. */
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  /** 1 while the node rebuilds a log it lost (HardState.recovering), else 0. */
  readonly recovering: number;
}

/** The state row plus the tail of the log. */
export interface DurableState extends StateRow {
  /** Index and term of the last entry; (offsetIndex, offsetTerm) when the log is empty. */
  readonly lastIndex: number;
  readonly lastTerm: number;
}

export const EMPTY_STATE_ROW: StateRow = {
  term: 0,
  vote: 0,
  commit: 0,
  offsetIndex: 0,
  offsetTerm: 0,
  snapshotIndex: 0,
  snapshotTerm: 0,
  recovering: 0,
};

export function stateRowOf(s: DurableState): StateRow {
  return {
    term: s.term,
    vote: s.vote,
    commit: s.commit,
    offsetIndex: s.offsetIndex,
    offsetTerm: s.offsetTerm,
    snapshotIndex: s.snapshotIndex,
    snapshotTerm: s.snapshotTerm,
    recovering: s.recovering,
  };
}
