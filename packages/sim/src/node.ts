/**
 * A simulated node process: one RawNode per group over a simulated disk. The disk keeps, per group, what a
 * real log store keeps (hard state, entries, snapshot) and the state machine (applied index and digest).
 * A write is durable only when its fsync completes; a crash before that loses it.
 */
import type { Entry, HardState, Message, NodeId, PlantedBugs, Ready, Snapshot, Prng } from '@kalam/raft';
import { EntryKind, RawNode, StateRole } from '@kalam/raft';
import { SIM_LIMITS } from './options.js';
import { FNV_OFFSET, fnv1a } from './trace.js';

export interface DurableGroup {
  hardState: HardState;
  entries: Entry[];
  offsetIndex: number;
  offsetTerm: number;
  snapshot: Snapshot | undefined;
  /** The state machine, applied atomically with its index (as data.db does). */
  appliedIndex: number;
  digest: number;
  commands: number;
}

export interface SimGroup {
  raw: RawNode;
  readonly durable: DurableGroup;
  role: string;
  lastSnapshotIndex: number;
}

export interface InboundEnvelope {
  readonly group: number;
  readonly msg: Message;
}

export class SimNode {
  up = true;
  /** Bumped at every crash: events scheduled for an earlier life are ignored. */
  epoch = 0;
  groups: SimGroup[] = [];
  inbox: InboundEnvelope[] = [];
  /** A write in progress: the node is blocked (as an event loop inside fsync) until it completes. */
  pending: { readies: [number, Ready][] } | undefined;
  turnScheduled = false;
  fsyncMs = 1;
  downUntil = 0;
  private readonly durable: DurableGroup[];

  constructor(
    readonly id: NodeId,
    private readonly voters: readonly NodeId[],
    groupCount: number,
    private readonly prng: Prng,
    private readonly bugs: PlantedBugs | undefined,
    private readonly msgEntriesMax: number,
  ) {
    this.durable = Array.from({ length: groupCount }, () => ({
      hardState: { term: 0, vote: 0 as NodeId, commit: 0 },
      entries: [],
      offsetIndex: 0,
      offsetTerm: 0,
      snapshot: undefined,
      appliedIndex: 0,
      digest: FNV_OFFSET,
      commands: 0,
    }));
    this.boot();
  }

  /** (Re)creates the in-memory state from the disk, as a process start does. */
  boot(): void {
    this.groups = this.durable.map((d) => ({
      raw: new RawNode({
        id: this.id,
        voters: this.voters,
        electionTick: SIM_LIMITS.electionTick,
        heartbeatTick: SIM_LIMITS.heartbeatTick,
        preVote: true,
        checkQuorum: true,
        random: this.prng.fork(),
        limits: {
          snapshotChunkBytes: SIM_LIMITS.snapshotChunkBytes,
          msgEntriesMax: this.msgEntriesMax,
          inflightMsgsMax: 16,
        },
        ...(this.bugs !== undefined ? { plantedBugs: this.bugs } : {}),
        restore: {
          hardState: d.hardState,
          ...(d.snapshot !== undefined ? { snapshot: d.snapshot } : {}),
          offsetIndex: d.offsetIndex,
          offsetTerm: d.offsetTerm,
          entries: d.entries,
          applied: d.appliedIndex,
        },
      }),
      durable: d,
      role: StateRole.Follower,
      lastSnapshotIndex: d.snapshot?.index ?? 0,
    }));
    this.inbox = [];
    this.pending = undefined;
    this.turnScheduled = false;
  }

  crash(): void {
    this.up = false;
    this.epoch++;
    this.pending = undefined; // the write in flight never reached the disk
    this.inbox = [];
    this.turnScheduled = false;
  }
}

/** Makes a Ready's writes durable in the group's disk image. */
export function writeDurable(
  d: Pick<DurableGroup, 'hardState' | 'entries' | 'offsetIndex' | 'offsetTerm' | 'snapshot'>,
  rd: Ready,
): void {
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

const decoder = new TextDecoder();

/** The command key of an entry as the checkers compare it. */
export function entryKey(e: Entry): string {
  return e.kind === EntryKind.Noop ? `noop@${e.term}` : decoder.decode(e.data);
}

/** Applies one entry to the group's state machine; returns the new digest. */
export function applyEntry(d: DurableGroup, e: Entry): number {
  d.digest = fnv1a(d.digest, `${e.index}:${e.term}:${entryKey(e)}`);
  d.appliedIndex = e.index;
  if (e.kind === EntryKind.Command) d.commands++;
  return d.digest;
}

export interface SnapshotState {
  readonly index: number;
  readonly digest: number;
  readonly commands: number;
  /** Filler so that snapshots span several chunks. */
  readonly pad: string;
}

export function encodeSnapshot(s: SnapshotState): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(s));
}

export function decodeSnapshot(data: Uint8Array): SnapshotState {
  return JSON.parse(decoder.decode(data)) as SnapshotState;
}
