/**
 * A simulated Kalam node process: one RawNode per group of the Kalam layout over a simulated raft.db (per
 * group: hard state, entries, snapshot; durable only once its fsync completes), and every group's real
 * kalamdb state machine over one in-memory data.db. A crash loses data.db entirely: a restart opens a fresh
 * ':memory:' store, restores each group's durable snapshot, and the Raft core replays the committed entries
 * after it — which is why apply must be idempotent and snapshots must carry every row.
 */
import type { Entry, HardState, Message, NodeId, Prng, Ready, Snapshot } from '@kalam/raft';
import { RawNode, StateRole } from '@kalam/raft';
import type { GroupId, KalamStateMachine, ShardingConfig } from '@kalam/kalamdb';
import { DataStore, StateMachines, allGroups, groupName } from '@kalam/kalamdb';
import { SIM_LIMITS } from '../options.js';

/** What raft.db keeps of one group. */
export interface DurableLog {
  hardState: HardState;
  entries: Entry[];
  offsetIndex: number;
  offsetTerm: number;
  snapshot: Snapshot | undefined;
}

export interface KalamGroup {
  readonly id: GroupId;
  readonly name: string;
  raw: RawNode;
  /** canApply: only the data groups pause (StateMachine.canApply of multiraft). */
  sm: KalamStateMachine<{ readonly type: string }, unknown> & { canApply?(entry: Entry): boolean };
  readonly durable: DurableLog;
  role: string;
  lastSnapshotIndex: number;
  /** Committed entries not applied yet: a data entry waits here for its metaIndex (DESIGN.md §6). */
  applyQueue: Entry[];
}

export interface KalamEnvelope {
  readonly group: number;
  readonly msg: Message;
}

export class KalamNode {
  up = true;
  /** Bumped at every crash: events scheduled for an earlier life are ignored. */
  epoch = 0;
  groups: KalamGroup[] = [];
  machines!: StateMachines;
  inbox: KalamEnvelope[] = [];
  /** A write in progress: the node is blocked (as an event loop inside fsync) until it completes. */
  pending: { readies: [number, Ready][] } | undefined;
  turnScheduled = false;
  fsyncMs = 1;
  downUntil = 0;
  private store: DataStore | undefined;
  private readonly layout: GroupId[];
  private readonly durable: DurableLog[];

  constructor(
    readonly id: NodeId,
    private readonly voters: readonly NodeId[],
    private readonly sharding: ShardingConfig,
    private readonly prng: Prng,
    private readonly msgEntriesMax: number,
    /** False only under the planted bug `skipRestoreOnBoot`. */
    private readonly restoreOnBoot: boolean,
  ) {
    this.layout = allGroups(sharding);
    this.durable = this.layout.map(() => ({
      hardState: { term: 0, vote: 0 as NodeId, commit: 0 },
      entries: [],
      offsetIndex: 0,
      offsetTerm: 0,
      snapshot: undefined,
    }));
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
        raw: this.newRawNode(d),
        sm,
        durable: d,
        role: StateRole.Follower,
        lastSnapshotIndex: d.snapshot?.index ?? 0,
        applyQueue: [],
      };
    });
    this.inbox = [];
    this.pending = undefined;
    this.turnScheduled = false;
  }

  private newRawNode(d: DurableLog): RawNode {
    return new RawNode({
      id: this.id,
      voters: this.voters,
      electionTick: SIM_LIMITS.electionTick,
      heartbeatTick: SIM_LIMITS.heartbeatTick,
      preVote: true,
      checkQuorum: true,
      random: this.prng.fork(),
      limits: {
        snapshotChunkBytes: SIM_LIMITS.snapshotChunkBytes * 16,
        msgEntriesMax: this.msgEntriesMax,
        inflightMsgsMax: 16,
      },
      restore: {
        hardState: d.hardState,
        ...(d.snapshot !== undefined ? { snapshot: d.snapshot } : {}),
        offsetIndex: d.offsetIndex,
        offsetTerm: d.offsetTerm,
        entries: d.entries,
        // The fresh data.db holds exactly the snapshot: everything after it is replayed.
        applied: d.snapshot?.index ?? 0,
      },
    });
  }

  /** The process dies: the write in flight never reaches raft.db, and data.db (in memory) is gone. */
  crash(): void {
    this.up = false;
    this.epoch++;
    this.pending = undefined;
    this.inbox = [];
    this.turnScheduled = false;
    this.store?.close();
    this.store = undefined;
  }

  /** Closes data.db at the end of a run. */
  close(): void {
    this.store?.close();
    this.store = undefined;
  }
}
