/**
 * When a group's snapshot files may be deleted (issue [M8] §3). A snapshot kept outside memory (a file: the
 * node's DriverSnapshotFiles) is in use while any of these holds it:
 *   - raft.db names it (a snapshot received from the leader, stored until a later sync covers its index);
 *   - a compaction that drops it from raft.db is not durable yet (it is, once a write that began after it is);
 *   - the core holds it (to send to a follower, or a received one not yet released).
 * A snapshot that stops being named, one built here for followers (raft.db never names those), and one received
 * that the core did not hand out in its next Ready (a newer one replaced it, or the follower's log already covered
 * it) becomes a candidate; `sweep` releases each candidate the core no longer holds. Files left behind by a crash
 * are removed at boot (the node's SnapshotFiles.removeUnreferenced).
 */
import type { RawNode, SnapshotData, SnapshotSinkFactory } from '@kalam/raft';

import type { SnapshotOutput } from './state-machine.js';

/** Where a node keeps snapshots beyond memory (log-store's SnapshotFiles in a node). */
export interface DriverSnapshotFiles {
  /** Where the group's core writes incoming snapshots. */
  sink(groupId: number): SnapshotSinkFactory;
  /** Where a snapshot built here for followers goes (StateMachine.snapshotBuilder's output). */
  output(groupId: number): SnapshotOutput;
  /** Nothing uses this snapshot any more: delete its file (nothing for one in memory). */
  release(data: SnapshotData): void;
}

export class SnapshotLifetimes {
  private named: { readonly index: number; readonly data: SnapshotData } | undefined;
  private readonly dropping: { readonly data: SnapshotData; readonly afterWrite: number }[] = [];
  private readonly candidates = new Set<SnapshotData>();
  /** Received snapshots finished since the core's last Ready. */
  private readonly received: SnapshotData[] = [];

  constructor(
    private readonly files: DriverSnapshotFiles,
    named: { readonly index: number; readonly data: SnapshotData } | undefined,
  ) {
    this.named = named;
  }

  /** The files' sink for the group's core, noting each snapshot it finishes. */
  sink(groupId: number): SnapshotSinkFactory {
    const open = this.files.sink(groupId);
    return (meta, totalBytes) => {
      const sink = open(meta, totalBytes);
      return {
        write: (offset, bytes) => sink.write(offset, bytes),
        finish: () => {
          const data = sink.finish();
          this.received.push(data);
          return data;
        },
        abort: () => sink.abort(),
      };
    };
  }

  /** The core handed out a Ready carrying `snapshot` (or none): any other snapshot received before it is unused. */
  handedOut(snapshot: SnapshotData | undefined): void {
    for (const data of this.received) if (data !== snapshot) this.candidates.add(data);
    this.received.length = 0;
  }

  /** A write that stores `snapshot` in raft.db is durable: the one named before is not named any more. */
  stored(snapshot: { readonly index: number; readonly data: SnapshotData }): void {
    if (this.named !== undefined && this.named.data !== snapshot.data) this.candidates.add(this.named.data);
    this.named = { index: snapshot.index, data: snapshot.data };
  }

  /**
   * The log was compacted up to `offsetIndex` in raft.db (the write numbered after `writeSeq` makes it durable):
   * a named snapshot at or behind it is dropped there (log-store planCompactLog).
   */
  compacted(offsetIndex: number, writeSeq: number): void {
    if (this.named === undefined || this.named.index > offsetIndex) return;
    this.dropping.push({ data: this.named.data, afterWrite: writeSeq });
    this.named = undefined;
  }

  /** A snapshot raft.db never names (built here for followers): released once the core lets go of it. */
  unnamed(data: SnapshotData): void {
    this.candidates.add(data);
  }

  /**
   * Releases what nothing uses any more, given the newest durable write's number; `installing` (a snapshot the state
   * machine is installing in pieces) is kept whatever else holds it.
   */
  sweep(raw: RawNode, durableWriteSeq: number, installing?: SnapshotData): void {
    for (let i = this.dropping.length - 1; i >= 0; i--) {
      const d = this.dropping[i]!;
      if (d.afterWrite >= durableWriteSeq) continue;
      this.dropping.splice(i, 1);
      this.candidates.add(d.data);
    }
    const held = raw.heldSnapshot()?.data;
    for (const c of this.candidates) {
      if (c === held || c === this.named?.data || c === installing) continue;
      this.candidates.delete(c);
      this.files.release(c);
    }
  }
}
