/**
 * A simulated node process: one RawNode per group over a simulated disk. The disk keeps, per group, what a
 * real log store keeps (hard state, entries, snapshot) and the state machine (applied index and digest).
 * A write is durable only when its fsync completes; a crash before that loses it (process.ts).
 */
import type { Entry, NodeId, PlantedBugs, Prng } from '@kalam/raft';
import { EntryKind, StateRole } from '@kalam/raft';
import { SIM_LIMITS } from './options.js';
import type { DurableLog, ProcessGroup } from './process.js';
import { SimProcess, emptyDurableLog, newCore } from './process.js';
import { FNV_OFFSET, fnv1a } from './trace.js';

export interface DurableGroup extends DurableLog {
  /** The state machine, applied atomically with its index (as data.db does). */
  appliedIndex: number;
  digest: number;
  commands: number;
}

export interface SimGroup extends ProcessGroup {
  readonly durable: DurableGroup;
}

export class SimNode extends SimProcess<SimGroup> {
  private readonly durable: DurableGroup[];

  constructor(
    id: NodeId,
    private readonly voters: readonly NodeId[],
    groupCount: number,
    private readonly prng: Prng,
    private readonly bugs: PlantedBugs | undefined,
    private readonly msgEntriesMax: number,
  ) {
    super(id);
    this.durable = Array.from({ length: groupCount }, () => ({
      ...emptyDurableLog(),
      appliedIndex: 0,
      digest: FNV_OFFSET,
      commands: 0,
    }));
    this.boot();
  }

  boot(): void {
    this.groups = this.durable.map((d) => ({
      raw: newCore({
        id: this.id,
        voters: this.voters,
        prng: this.prng,
        msgEntriesMax: this.msgEntriesMax,
        snapshotChunkBytes: SIM_LIMITS.snapshotChunkBytes,
        plantedBugs: this.bugs,
        durable: d,
        applied: d.appliedIndex,
      }),
      durable: d,
      role: StateRole.Follower,
      lastSnapshotIndex: d.snapshot?.index ?? 0,
    }));
    this.forgetVolatile();
  }
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
