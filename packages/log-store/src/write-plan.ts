/**
 * Validating one group's write against what is durable, before any SQL runs. Every check here is a
 * precondition the Raft core already guarantees, so a failure is a programmer error (AssertionError) and
 * nothing of the whole write() is written.
 *
 * This runs for every group of every driver turn, so the checks are plain `if (broken) fail(…)` guards: the
 * message is only built when a check fails.
 */
import type { Entry, HardState, Snapshot } from '@kalam/raft';
import { AssertionError } from '@kalam/raft';

import type { DurableState } from './durable-state.js';
import { limits } from './limits.js';
import { snapshotFileOf } from './snapshot-file.js';
import { KIND_CODE } from './schema.js';
import type { GroupWrite } from './types.js';

export interface WritePlan {
  readonly groupId: number;
  /** A received snapshot: stored, and the whole log deleted before `entries` are inserted. */
  readonly snapshot: Snapshot | undefined;
  /** Delete the suffix [truncateFrom, ∞) before inserting `entries`; undefined when nothing is overwritten. */
  readonly truncateFrom: number | undefined;
  readonly entries: readonly Entry[];
  /** Whether the state row changes (hard state or snapshot). */
  readonly stateChanged: boolean;
  /** The durable state once the transaction commits. */
  readonly next: DurableState;
  /** Payload and snapshot bytes this plan writes. */
  readonly bytes: number;
  /** The configuration to store (raft_conf), if the write carries one. */
  readonly conf: GroupWrite['confState'];
}

/** Reads the term of a stored entry; only called when a write overwrites a suffix or compacts (rare). */
export type TermAt = (index: number) => number | undefined;

function fail(g: number, message: string): never {
  throw new AssertionError(`group ${g}: ${message}`);
}

export function planWrite(write: GroupWrite, cur: DurableState, termAt: TermAt): WritePlan {
  const g = write.groupId;
  const { snapshot, hardState, entries } = write;
  // The durable state after the write, field by field: first the snapshot, then the entries, then the hard state.
  let { term, vote, commit, offsetIndex, offsetTerm, snapshotIndex, snapshotTerm, lastIndex, lastTerm, recovering } =
    cur;
  let bytes = 0;
  if (snapshot !== undefined) {
    assertSnapshotShape(g, snapshot);
    if (snapshot.index <= cur.commit)
      fail(g, `received snapshot ${snapshot.index} is not ahead of commit ${cur.commit}`);
    commit = offsetIndex = snapshotIndex = lastIndex = snapshot.index;
    offsetTerm = snapshotTerm = lastTerm = snapshot.term;
    bytes += snapshot.data.byteLength;
  }
  let truncateFrom: number | undefined;
  const first = entries[0];
  if (first !== undefined) {
    const index = first.index;
    if (!Number.isSafeInteger(index)) fail(g, `entry index ${index} is not an integer`);
    if (index <= offsetIndex) fail(g, `append at ${index} into the compacted log (offset ${offsetIndex})`);
    if (index > lastIndex + 1) fail(g, `append at ${index} leaves a gap after ${lastIndex}`);
    if (index <= cur.commit) fail(g, `append at ${index} overwrites committed entries (commit ${cur.commit})`);
    const prevTerm = index - 1 === lastIndex ? lastTerm : index - 1 === offsetIndex ? offsetTerm : termAt(index - 1);
    if (prevTerm === undefined) fail(g, `entry ${index - 1} is missing from the store`);
    bytes += assertEntries(g, entries, prevTerm);
    if (snapshot === undefined && index <= lastIndex) truncateFrom = index;
    const last = entries[entries.length - 1] ?? first;
    lastIndex = last.index;
    lastTerm = last.term;
  }
  if (hardState !== undefined) {
    assertHardState(g, { term, vote, commit }, hardState);
    ({ term, vote, commit } = hardState);
    recovering = hardState.recovering === true ? 1 : 0;
  }
  if (commit > lastIndex) fail(g, `commit ${commit} beyond the last index ${lastIndex}`);
  if (lastTerm > term) fail(g, `last entry term ${lastTerm} beyond the current term ${term}`);
  if (snapshotTerm > term) fail(g, `snapshot term ${snapshotTerm} beyond the current term ${term}`);
  const next = {
    term,
    vote,
    commit,
    offsetIndex,
    offsetTerm,
    snapshotIndex,
    snapshotTerm,
    recovering,
    lastIndex,
    lastTerm,
  };
  const stateChanged = hardState !== undefined || snapshot !== undefined;
  const conf = write.confState;
  if (conf !== undefined && (!Number.isSafeInteger(conf.index) || conf.index < 0)) {
    fail(g, `configuration index ${conf.index} is not an index`);
  }
  return { groupId: g, snapshot, truncateFrom, entries, stateChanged, next, bytes, conf };
}

/** Contiguous indexes, non-decreasing terms ≥ 1, known kinds, bounded payloads. Returns the payload bytes. */
function assertEntries(g: number, entries: readonly Entry[], prevTerm: number): number {
  let index = -1;
  let term = Math.max(prevTerm, 1);
  let bytes = 0;
  for (const e of entries) {
    if (index !== -1 && e.index !== index + 1) fail(g, `entry ${e.index} breaks contiguity after ${index}`);
    if (!Number.isSafeInteger(e.term) || e.term < term) fail(g, `entry ${e.index} has term ${e.term} < ${term}`);
    if (KIND_CODE[e.kind] === undefined) fail(g, `entry ${e.index} has unknown kind ${String(e.kind)}`);
    if (e.data.length > limits.entryBytesMax) fail(g, `entry ${e.index} exceeds ${limits.entryBytesMax} bytes`);
    index = e.index;
    term = e.term;
    bytes += e.data.length;
  }
  return bytes;
}

function assertSnapshotShape(g: number, snapshot: Snapshot): void {
  if (!Number.isSafeInteger(snapshot.index) || snapshot.index <= 0) fail(g, `bad snapshot index ${snapshot.index}`);
  if (!Number.isSafeInteger(snapshot.term) || snapshot.term <= 0) fail(g, `bad snapshot term ${snapshot.term}`);
  // A snapshot in a file (snapshot-file.ts) is not a blob: only a blob must fit SQLite.
  const blob = snapshotFileOf(snapshot.data) === undefined;
  if (blob && snapshot.data.byteLength > limits.snapshotBytesMax)
    fail(g, `snapshot exceeds ${limits.snapshotBytesMax} bytes`);
}

/** Raft §5.1 and §5.2: terms never go back, one vote per term, and the commit index never goes back. */
function assertHardState(g: number, cur: { term: number; vote: number; commit: number }, hs: HardState): void {
  if (!Number.isSafeInteger(hs.term) || !Number.isSafeInteger(hs.vote) || !Number.isSafeInteger(hs.commit)) {
    fail(g, `hard state fields must be integers: ${JSON.stringify(hs)}`);
  }
  if (hs.vote < 0) fail(g, `vote ${hs.vote} is negative`);
  if (hs.term < cur.term) fail(g, `term goes back from ${cur.term} to ${hs.term}`);
  if (hs.term === cur.term && cur.vote !== 0 && hs.vote !== cur.vote) {
    fail(g, `vote changes from ${cur.vote} to ${hs.vote} within term ${hs.term}`);
  }
  if (hs.commit < cur.commit) fail(g, `commit goes back from ${cur.commit} to ${hs.commit}`);
}

/** Validates a compaction (our own snapshot, log kept from compactTo + 1) and returns the next state. */
export function planCompact(
  g: number,
  cur: DurableState,
  snapshot: Snapshot,
  compact: { to: number; toTerm: number },
  termAt: TermAt,
): DurableState {
  assertSnapshotShape(g, snapshot);
  if (!Number.isSafeInteger(compact.to) || compact.to < 0) fail(g, `compactTo ${compact.to} is not an index`);
  if (snapshot.index > cur.lastIndex) fail(g, `snapshot ${snapshot.index} beyond the last index ${cur.lastIndex}`);
  if (snapshot.index < cur.snapshotIndex) fail(g, `snapshot ${snapshot.index} older than ${cur.snapshotIndex}`);
  if (snapshot.term > cur.term) fail(g, `snapshot term ${snapshot.term} beyond the current term ${cur.term}`);
  if (compact.to > snapshot.index) fail(g, `compaction to ${compact.to} passes the snapshot ${snapshot.index}`);
  if (storedTerm(cur, snapshot.index, termAt) !== snapshot.term) {
    fail(g, `snapshot term ${snapshot.term} differs from the log's term at ${snapshot.index}`);
  }
  // Compacting to or behind the offset leaves the log as it is (as RaftLog.compact does).
  const moves = compact.to > cur.offsetIndex;
  if (moves && storedTerm(cur, compact.to, termAt) !== compact.toTerm) {
    fail(g, `compactToTerm ${compact.toTerm} differs from the log's term at ${compact.to}`);
  }
  return {
    ...cur,
    // A snapshot only covers applied, hence committed, entries: raising the durable commit to it keeps
    // offset ≤ snapshot ≤ commit, which recovery needs (RaftLog asserts applied ≤ committed).
    commit: Math.max(cur.commit, snapshot.index),
    offsetIndex: moves ? compact.to : cur.offsetIndex,
    offsetTerm: moves ? compact.toTerm : cur.offsetTerm,
    snapshotIndex: snapshot.index,
    snapshotTerm: snapshot.term,
  };
}

/** The term of entry `index` ≥ offsetIndex of the durable log. */
function storedTerm(s: DurableState, index: number, termAt: TermAt): number | undefined {
  if (index === s.offsetIndex) return s.offsetTerm;
  if (index === s.lastIndex) return s.lastTerm;
  if (index < s.offsetIndex) return undefined;
  return termAt(index);
}

/**
 * Validates a compaction without a snapshot (the state machine's durable state covers `to`) and returns the next
 * state. A stored snapshot at or behind `to` is no longer needed (dropSnapshot).
 */
export function planCompactLog(
  g: number,
  cur: DurableState,
  compact: { to: number; toTerm: number },
  termAt: TermAt,
): { next: DurableState; dropSnapshot: boolean } {
  if (!Number.isSafeInteger(compact.to) || compact.to < 0) fail(g, `compactTo ${compact.to} is not an index`);
  if (compact.to > cur.lastIndex) fail(g, `compaction to ${compact.to} beyond the last index ${cur.lastIndex}`);
  if (compact.to <= cur.offsetIndex) return { next: cur, dropSnapshot: false };
  if (storedTerm(cur, compact.to, termAt) !== compact.toTerm) {
    fail(g, `compactToTerm ${compact.toTerm} differs from the log's term at ${compact.to}`);
  }
  const dropSnapshot = cur.snapshotIndex !== 0 && cur.snapshotIndex <= compact.to;
  return {
    next: {
      ...cur,
      // Only applied, hence committed, entries are compacted: raising the durable commit keeps offset ≤ commit.
      commit: Math.max(cur.commit, compact.to),
      offsetIndex: compact.to,
      offsetTerm: compact.toTerm,
      snapshotIndex: dropSnapshot ? 0 : cur.snapshotIndex,
      snapshotTerm: dropSnapshot ? 0 : cur.snapshotTerm,
    },
    dropSnapshot,
  };
}
