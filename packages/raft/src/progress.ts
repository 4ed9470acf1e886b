/**
 * The leader's view of each follower (etcd-io/raft tracker): Probe sends one append at a time until a
 * match is found, Replicate streams optimistically inside an inflight window, Snapshot waits for an
 * InstallSnapshot transfer to finish.
 */
import { assert } from './assert.js';

export const ProgressState = {
  Probe: 'probe',
  Replicate: 'replicate',
  Snapshot: 'snapshot',
} as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/** A bounded window of in-flight appends, by the last index each carried and its bytes. */
export class Inflights {
  private readonly items: { index: number; bytes: number }[] = [];
  private bytes = 0;

  constructor(
    private readonly countMax: number,
    private readonly bytesMax: number,
  ) {}

  add(index: number, bytes: number): void {
    assert(!this.full(), 'inflights added while full');
    const last = this.items[this.items.length - 1];
    assert(last === undefined || index > last.index, 'inflight indexes must increase');
    this.items.push({ index, bytes });
    this.bytes += bytes;
  }

  /** Frees every inflight append whose last index is ≤ index. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.items.length && this.items[n]!.index <= index) {
      this.bytes -= this.items[n]!.bytes;
      n++;
    }
    this.items.splice(0, n);
  }

  /** Frees the oldest inflight append (its ack was probably lost). */
  freeFirstOne(): void {
    const first = this.items.shift();
    if (first !== undefined) this.bytes -= first.bytes;
  }

  full(): boolean {
    return this.items.length >= this.countMax || this.bytes >= this.bytesMax;
  }

  count(): number {
    return this.items.length;
  }

  reset(): void {
    this.items.length = 0;
    this.bytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** In Probe: an append was sent and not answered yet. */
  probeSent = false;
  /** In Snapshot: the index of the snapshot being transferred. */
  pendingSnapshot = 0;
  /** In Snapshot: bytes of the snapshot the follower has acknowledged. */
  snapshotOffset = 0;
  /** In Snapshot: ticks since the last chunk went out. */
  snapshotTicks = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(next: number, inflightMsgsMax: number, inflightBytesMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightMsgsMax, inflightBytesMax);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotOffset = 0;
    this.snapshotTicks = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** An accepted append up to n. Returns whether match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * The follower says its log ends at `lastIndex`, below what it once acknowledged: its log was lost (a
   * wiped data folder), or this is a stale rejection. Either way forget the old match and probe from
   * there: lowering match only ever delays commits and resends entries, it never makes a commit unsafe.
   */
  forgetMatch(lastIndex: number): void {
    if (lastIndex >= this.match) return;
    this.match = lastIndex;
    if (this.state === ProgressState.Snapshot) this.resetState(ProgressState.Probe);
    if (this.state === ProgressState.Replicate) this.resetState(ProgressState.Probe);
    this.next = lastIndex + 1;
    this.probeSent = false;
  }

  /** In Replicate, entries up to n were sent optimistically. */
  optimisticUpdate(n: number): void {
    this.next = n + 1;
  }

  /**
   * A rejected append at `rejected`, with the follower's (leader-refined) hint `matchHint`. Returns false
   * when the rejection is stale (a duplicate or reordered response).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }
}
