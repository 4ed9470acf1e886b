/**
 * RaftLog: the in-memory view of one group's log. Entries (offsetIndex, lastIndex] are held here; the ones
 * at or below `stableIndex` are durable, the rest are waiting in the next Ready. Compaction moves
 * offsetIndex forward behind a snapshot.
 *
 * Invariants: offsetIndex ≤ applied ≤ committed ≤ lastIndex; a committed entry is never truncated;
 * entries[i].index === offsetIndex + 1 + i; `bytes` is the entrySizeBytes sum of the entries held (what the
 * driver bounds by compacting: the log held in memory is bounded in bytes as well as in entries).
 */
import { assert } from './assert.js';
import type { Entry, Snapshot } from './types.js';
import { entrySizeBytes } from './types.js';

export interface LogRestoreState {
  /** Index and term of the last compacted entry: entries start right after it. */
  readonly offsetIndex: number;
  readonly offsetTerm: number;
  readonly entries: readonly Entry[];
  readonly committed: number;
  readonly applied: number;
  readonly snapshot: Snapshot | undefined;
}

export class RaftLog {
  private offsetIndex: number;
  private offsetTerm: number;
  private entries: Entry[];
  /** entrySizeBytes of every entry held. */
  private bytes: number;
  committed: number;
  applied: number;
  /** Entries with index ≤ stableIndex are durable. */
  stableIndex: number;
  /**
   * A snapshot with its bytes that this node can send to lagging followers, if it holds one. Compaction needs
   * none (the state machine is the snapshot): the application builds one when a follower needs it, and the
   * driver releases it once no transfer uses it, so it is not held in memory for nothing.
   */
  snapshot: Snapshot | undefined;
  /** A snapshot received from the leader that the application has not installed yet. */
  pendingSnapshot: Snapshot | undefined;

  constructor(state: LogRestoreState) {
    this.offsetIndex = state.offsetIndex;
    this.offsetTerm = state.offsetTerm;
    this.entries = [...state.entries];
    this.bytes = sizeOf(this.entries);
    this.stableIndex = this.lastIndex();
    this.committed = state.committed;
    this.applied = Math.max(state.applied, state.offsetIndex);
    this.snapshot = state.snapshot;
    this.pendingSnapshot = undefined;
    this.entries.forEach((e, i) => assert(e.index === this.offsetIndex + 1 + i, 'restored entries are not contiguous'));
    assert(this.committed <= this.lastIndex(), `restored commit ${this.committed} beyond last ${this.lastIndex()}`);
    assert(this.applied <= this.committed, `restored applied ${this.applied} beyond commit ${this.committed}`);
  }

  firstIndex(): number {
    return this.offsetIndex + 1;
  }

  lastIndex(): number {
    return this.offsetIndex + this.entries.length;
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'the last term is always known');
    return t;
  }

  /** The term of entry `index`, or undefined when it is compacted or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.offsetIndex) return this.offsetTerm;
    if (index < this.offsetIndex || index > this.lastIndex()) return undefined;
    return this.at(index).term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: a log with a later last term, or the same last term and at least as long, is up to date. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Bytes of the entries held in memory (payloads plus the per-entry header allowance). */
  byteSize(): number {
    return this.bytes;
  }

  /** Bytes the entries after `index` hold (all of them at or below the offset). */
  byteSizeAfter(index: number): number {
    let bytes = this.bytes;
    for (const e of this.entries) {
      if (e.index > index) break;
      bytes -= entrySizeBytes(e);
    }
    return bytes;
  }

  /**
   * The lowest index to compact to so that the entries left, (index, lastIndex], hold at most `maxBytes` (the
   * offset itself when they already do).
   */
  compactIndexForBytes(maxBytes: number): number {
    let bytes = this.bytes;
    let index = this.offsetIndex;
    for (const e of this.entries) {
      if (bytes <= maxBytes) break;
      bytes -= entrySizeBytes(e);
      index = e.index;
    }
    return index;
  }

  private at(index: number): Entry {
    const e = this.entries[index - this.offsetIndex - 1];
    assert(e !== undefined && e.index === index, () => `entry ${index} missing (offset ${this.offsetIndex})`);
    return e;
  }

  /**
   * Entries [lo, hi) limited to `maxBytes` and `maxCount` (at least one entry is returned when the range is
   * not empty). Undefined when lo is compacted.
   */
  slice(lo: number, hi: number, maxBytes = Infinity, maxCount = Infinity): Entry[] | undefined {
    if (lo <= this.offsetIndex) return undefined;
    assert(hi <= this.lastIndex() + 1, () => `slice [${lo}, ${hi}) beyond last ${this.lastIndex()}`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi && out.length < maxCount; i++) {
      const e = this.at(i);
      bytes += entrySizeBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  hasUnstableEntries(): boolean {
    return this.stableIndex < this.lastIndex();
  }

  hasNextCommittedEntries(): boolean {
    return this.pendingSnapshot === undefined && this.applied < Math.min(this.committed, this.lastIndex());
  }

  /** Entries not yet durable, in order. */
  unstableEntries(): Entry[] {
    if (this.stableIndex >= this.lastIndex()) return [];
    return this.entries.slice(this.stableIndex - this.offsetIndex);
  }

  /** Committed entries not yet applied; only ever entries this Ready makes durable or that already are. */
  nextCommittedEntries(): Entry[] {
    if (this.pendingSnapshot !== undefined) return [];
    const lo = this.applied + 1;
    const hi = Math.min(this.committed, this.lastIndex());
    if (lo > hi) return [];
    const ents = this.slice(lo, hi + 1);
    assert(ents !== undefined, () => `committed entries from ${lo} were compacted before being applied`);
    return ents;
  }

  /**
   * The first index in `ents` whose term differs from ours (or that we do not have), or 0 when every entry
   * is already present.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (e.index <= this.offsetIndex) continue; // compacted, hence committed, hence matching.
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index ≤ `index` whose term is ≤ `term`, with that term. Used by both the
   * rejecting follower and the leader to skip a whole conflicting term at once.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
      i--;
    }
  }

  /**
   * The follower side of AppendEntries (Raft §5.3). Returns the last new index when (prevIndex, prevTerm)
   * matches, otherwise undefined.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      assert(conflict > this.committed, () => `conflict at ${conflict} would truncate committed ${this.committed}`);
      this.append(ents.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Appends entries, truncating any suffix from the first new index on. */
  append(ents: readonly Entry[]): void {
    const first = ents[0];
    if (first === undefined) return;
    assert(first.index > this.committed, () => `append at ${first.index} would truncate committed ${this.committed}`);
    assert(first.index > this.offsetIndex, () => `append at ${first.index} into compacted log`);
    assert(
      first.index <= this.lastIndex() + 1,
      () => `append at ${first.index} leaves a gap after ${this.lastIndex()}`,
    );
    ents.forEach((e, i) => assert(e.index === first.index + i, 'appended entries are not contiguous'));
    const keep = first.index - this.offsetIndex - 1;
    if (keep < this.entries.length) this.bytes -= sizeOf(this.entries.slice(keep));
    this.entries.length = keep;
    for (const e of ents) this.entries.push(e);
    this.bytes += sizeOf(ents);
    this.stableIndex = Math.min(this.stableIndex, first.index - 1);
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), () => `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    assert(index <= this.committed, () => `applied ${index} beyond commit ${this.committed}`);
    assert(index >= this.applied, () => `applied ${index} goes back from ${this.applied}`);
    this.applied = index;
  }

  stableTo(index: number): void {
    if (index > this.stableIndex) this.stableIndex = Math.min(index, this.lastIndex());
  }

  /** Replaces the whole log by a snapshot received from the leader; the application installs it next. */
  restore(snapshot: Snapshot): void {
    assert(snapshot.index > this.committed, 'a restored snapshot must be ahead of the commit index');
    this.offsetIndex = snapshot.index;
    this.offsetTerm = snapshot.term;
    this.entries = [];
    this.bytes = 0;
    this.committed = snapshot.index;
    this.stableIndex = snapshot.index;
    this.snapshot = snapshot;
    this.pendingSnapshot = snapshot;
  }

  /** Called once the application has made the pending snapshot durable and installed it. */
  snapshotInstalled(index: number): void {
    assert(this.pendingSnapshot?.index === index, 'installed snapshot does not match the pending one');
    this.pendingSnapshot = undefined;
    this.applied = Math.max(this.applied, index);
  }

  /** Drops entries ≤ index; the application keeps a snapshot covering them. */
  compact(index: number): void {
    if (index <= this.offsetIndex) return;
    assert(index <= this.applied, () => `compact ${index} beyond applied ${this.applied}`);
    assert(index <= this.stableIndex, () => `compact ${index} beyond stable ${this.stableIndex}`);
    const term = this.term(index);
    assert(term !== undefined, 'compacted index has a term');
    const dropped = index - this.offsetIndex;
    this.bytes -= sizeOf(this.entries.slice(0, dropped));
    this.entries = this.entries.slice(dropped);
    this.offsetIndex = index;
    this.offsetTerm = term;
  }

  /** Index and term of the last compacted entry. */
  offset(): { index: number; term: number } {
    return { index: this.offsetIndex, term: this.offsetTerm };
  }
}

function sizeOf(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += entrySizeBytes(e);
  return n;
}
