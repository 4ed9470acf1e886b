/**
 * A simulated node process: the shipped driver (RaftDriver of @kalam/multiraft) over the shipped log store (LogStore
 * of @kalam/log-store, in memory: its validation of every write and its checksums run here too) — and the process's
 * life around them. A write the driver hands over reaches the store only when its fsync completes; a crash before
 * that loses it, stops the driver (its promises fail, its timers never fire) and bumps the epoch, so that events of
 * the earlier life are ignored. A restart builds a new driver from the store alone, as `kalam serve` does from
 * raft.db; a lost disk (`wipe`) replaces the store with an empty one.
 */
import { LogStore } from '@kalam/log-store';
import type { GroupWrite } from '@kalam/log-store';
import type { GroupSpec, RaftDriver } from '@kalam/multiraft';
import type { NodeId } from '@kalam/raft';

export abstract class SimProcess {
  up = true;
  /** Bumped at every crash: events scheduled for an earlier life are ignored. */
  epoch = 0;
  fsyncMs = 1;
  downUntil = 0;
  /** The driver of the current life (undefined while down). */
  driver: RaftDriver | undefined;
  /** A write in progress: the node is blocked (as an event loop inside fsync) until it completes. */
  pendingWrite: { readonly writes: readonly GroupWrite[]; readonly done: () => void } | undefined;
  /** The driver's timers of this life, by id. */
  readonly timers = new Map<number, () => void>();
  /** Forwarded requests this node sent and waits an answer for, by id. */
  readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();

  /** raft.db: survives crashes, not a lost disk. */
  disk: LogStore;

  constructor(
    readonly id: NodeId,
    readonly groupIds: readonly number[],
  ) {
    this.disk = LogStore.open({ path: ':memory:', groupIds });
  }

  /** The groups of a fresh life: each id, name and state machine (as a process opens data.db). */
  abstract groupSpecs(): GroupSpec[];

  /** The disk is lost (the node is down): raft.db comes back empty. */
  wipeDisk(): void {
    this.disk.close();
    this.disk = LogStore.open({ path: ':memory:', groupIds: this.groupIds });
  }

  /** Not blocked in a write and up: a client can reach it. */
  reachable(): boolean {
    return this.up && this.pendingWrite === undefined;
  }

  /** The process dies: the write in flight never reaches the disk, and everything in memory is gone. */
  crash(): void {
    this.up = false;
    this.epoch++;
    this.driver?.stop();
    this.driver = undefined;
    this.pendingWrite = undefined;
    this.timers.clear();
    this.calls.clear();
  }
}
