/**
 * A simulated Kalam node process: one RawNode per group of the Kalam layout over a simulated raft.db (per
 * group: hard state, entries, snapshot; durable only once its fsync completes), and every group's real
 * kalamdb state machine over one in-memory data.db. A crash loses data.db entirely: a restart opens a fresh
 * ':memory:' store, restores each group's durable snapshot, and the Raft core replays the committed entries
 * after it — which is why apply must be idempotent and snapshots must carry every row.
 */
import type { Entry, NodeId, Prng } from '@kalam/raft';
import { StateRole } from '@kalam/raft';
import type { GroupId, KalamStateMachine, ShardingConfig } from '@kalam/kalamdb';
import { DataStore, StateMachines, allGroups, groupName } from '@kalam/kalamdb';
import { SIM_LIMITS } from '../options.js';
import type { DurableLog, ProcessGroup } from '../process.js';
import { SimProcess, emptyDurableLog, newCore } from '../process.js';

export interface KalamGroup extends ProcessGroup {
  readonly id: GroupId;
  readonly name: string;
  /** canApply: only the data groups pause (StateMachine.canApply of multiraft). */
  sm: KalamStateMachine<{ readonly type: string }, unknown> & { canApply?(entry: Entry): boolean };
  /** Committed entries not applied yet: a data entry waits here for its metaIndex (DESIGN.md §6). */
  applyQueue: Entry[];
}

export class KalamNode extends SimProcess<KalamGroup> {
  machines!: StateMachines;
  private store: DataStore | undefined;
  private readonly layout: GroupId[];
  private readonly durable: DurableLog[];

  constructor(
    id: NodeId,
    private readonly voters: readonly NodeId[],
    private readonly sharding: ShardingConfig,
    private readonly prng: Prng,
    private readonly msgEntriesMax: number,
    /** False only under the planted bug `skipRestoreOnBoot`. */
    private readonly restoreOnBoot: boolean,
  ) {
    super(id);
    this.layout = allGroups(sharding);
    this.durable = this.layout.map(() => emptyDurableLog());
    this.boot();
  }

  /** (Re)creates the process from raft.db alone: a fresh data.db, snapshots restored, the cores restored. */
  boot(): void {
    this.store = DataStore.open(':memory:');
    this.machines = new StateMachines(this.store, this.sharding);
    // meta:system comes first in the layout, so a data shard restores after the catalog it depends on.
    this.groups = this.layout.map((id, i) => {
      const d = this.durable[i]!;
      const sm = this.machines.of(id);
      if (d.snapshot !== undefined && this.restoreOnBoot) sm.restore(d.snapshot);
      return {
        id,
        name: groupName(id),
        raw: newCore({
          id: this.id,
          voters: this.voters,
          prng: this.prng,
          msgEntriesMax: this.msgEntriesMax,
          snapshotChunkBytes: SIM_LIMITS.snapshotChunkBytes * 16,
          plantedBugs: undefined,
          durable: d,
          // The fresh data.db holds exactly the snapshot: everything after it is replayed.
          applied: d.snapshot?.index ?? 0,
        }),
        sm,
        durable: d,
        role: StateRole.Follower,
        lastSnapshotIndex: d.snapshot?.index ?? 0,
        applyQueue: [],
      };
    });
    this.forgetVolatile();
  }

  /** The process dies: the write in flight never reaches raft.db, and data.db (in memory) is gone. */
  override crash(): void {
    super.crash();
    this.close();
  }

  /** Closes data.db at the end of a run. */
  close(): void {
    this.store?.close();
    this.store = undefined;
  }
}
