/**
 * What every simulated node process shares, whichever state machine it runs: one RawNode per group over a
 * simulated raft.db (per group: hard state, entries, snapshot), an inbox the network fills, and the driver
 * state of DESIGN.md §6 (a turn scheduled, a write in progress). A write is durable only once its fsync
 * completes; a crash before that loses it, and bumps the epoch so that events of the earlier life are ignored.
 */
import type { Entry, HardState, Message, NodeId, PlantedBugs, Prng, Ready, Snapshot } from '@kalam/raft';
import { RawNode } from '@kalam/raft';
import { SIM_LIMITS } from './options.js';

/** What raft.db keeps of one group. */
export interface DurableLog {
  hardState: HardState;
  entries: Entry[];
  offsetIndex: number;
  offsetTerm: number;
  snapshot: Snapshot | undefined;
}

export function emptyDurableLog(): DurableLog {
  return {
    hardState: { term: 0, vote: 0 as NodeId, commit: 0 },
    entries: [],
    offsetIndex: 0,
    offsetTerm: 0,
    snapshot: undefined,
  };
}

/** The driver's view of one group at a node. */
export interface ProcessGroup {
  raw: RawNode;
  readonly durable: DurableLog;
  role: string;
  lastSnapshotIndex: number;
}

export interface InboundEnvelope {
  readonly group: number;
  readonly msg: Message;
}

/** A message on its way out of a node, with its group. */
export interface OutboundEnvelope {
  readonly group: number;
  readonly msg: Message;
}

/** Every group's Ready of one driver round, by group number. */
export type GroupReadies = [number, Ready][];

export abstract class SimProcess<G extends ProcessGroup> {
  up = true;
  /** Bumped at every crash: events scheduled for an earlier life are ignored. */
  epoch = 0;
  groups: G[] = [];
  inbox: InboundEnvelope[] = [];
  /** A write in progress: the node is blocked (as an event loop inside fsync) until it completes. */
  pending: { readies: GroupReadies } | undefined;
  turnScheduled = false;
  /**
   * Context-free heartbeat answers waiting for the next message this node sends to the same peer, or for its next
   * tick — as RaftManager defers them (they ride with the frame going that way).
   */
  deferredAnswers: OutboundEnvelope[] = [];
  fsyncMs = 1;
  downUntil = 0;

  constructor(readonly id: NodeId) {}

  /** (Re)creates the in-memory state from the disk, as a process start does. */
  abstract boot(): void;

  /** The process dies: the write in flight never reaches the disk. */
  crash(): void {
    this.up = false;
    this.epoch++;
    this.forgetVolatile();
  }

  /** Drops what lives only in the process's memory between turns. */
  protected forgetVolatile(): void {
    this.pending = undefined;
    this.inbox = [];
    this.turnScheduled = false;
    this.deferredAnswers = [];
  }
}

export interface CoreOptions {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  /** Forked once per core. */
  readonly prng: Prng;
  readonly msgEntriesMax: number;
  readonly snapshotChunkBytes: number;
  readonly plantedBugs: PlantedBugs | undefined;
  readonly durable: DurableLog;
  /** The index the state machine holds at boot: the core replays the committed entries after it. */
  readonly applied: number;
}

/** A group's Raft core restored from raft.db, with the simulator's timing and flow-control bounds. */
export function newCore(o: CoreOptions): RawNode {
  const d = o.durable;
  return new RawNode({
    id: o.id,
    voters: o.voters,
    electionTick: SIM_LIMITS.electionTick,
    heartbeatTick: SIM_LIMITS.heartbeatTick,
    preVote: true,
    checkQuorum: true,
    random: o.prng.fork(),
    limits: {
      snapshotChunkBytes: o.snapshotChunkBytes,
      msgEntriesMax: o.msgEntriesMax,
      inflightMsgsMax: 16,
    },
    ...(o.plantedBugs !== undefined ? { plantedBugs: o.plantedBugs } : {}),
    restore: {
      hardState: d.hardState,
      ...(d.snapshot !== undefined ? { snapshot: d.snapshot } : {}),
      offsetIndex: d.offsetIndex,
      offsetTerm: d.offsetTerm,
      entries: d.entries,
      applied: o.applied,
    },
  });
}

/** Makes a Ready's writes durable in the group's disk image. */
export function writeDurable(d: DurableLog, rd: Ready): void {
  if (rd.snapshot !== undefined) {
    d.snapshot = rd.snapshot;
    d.entries = [];
    d.offsetIndex = rd.snapshot.index;
    d.offsetTerm = rd.snapshot.term;
  }
  const first = rd.entries[0];
  if (first !== undefined) {
    const keep = first.index - d.offsetIndex - 1;
    d.entries.length = Math.max(0, Math.min(d.entries.length, keep));
    d.entries.push(...rd.entries);
  }
  if (rd.hardState !== undefined) d.hardState = rd.hardState;
}

/**
 * Takes a snapshot of `g` at `appliedIndex` holding `data`, keeping the last `snapshotKeep` entries before it
 * in the log (for slow followers), and makes the compaction durable in the group's disk image.
 */
export function compactLog(g: ProcessGroup, appliedIndex: number, data: Uint8Array, snapshotKeep: number): void {
  const d = g.durable;
  const compactTo = Math.max(d.offsetIndex, appliedIndex - snapshotKeep);
  const snap = g.raw.compact(appliedIndex, data, compactTo);
  d.snapshot = snap;
  const off = g.raw.raft.log.offset();
  d.entries = d.entries.filter((e) => e.index > off.index);
  d.offsetIndex = off.index;
  d.offsetTerm = off.term;
  g.lastSnapshotIndex = snap.index;
}
