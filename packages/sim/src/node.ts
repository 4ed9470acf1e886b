/**
 * A simulated node of the Raft-level runs: every group's state machine is a rolling digest of the entries it
 * applied (what the checkers compare across nodes), kept with its applied index on the node's disk — as data.db
 * keeps a group's state and index in one transaction — so it survives a crash, like the raft.db image.
 */
import type { AppliedEntry, GroupSpec, SnapshotBuilder, SnapshotOutput, StateMachine } from '@kalam/multiraft';
import type { Entry, NodeId, SnapshotData } from '@kalam/raft';
import { snapshotBytes } from '@kalam/raft';
import { entryKey } from './cluster.js';
import { SimProcess } from './process.js';
import { FNV_OFFSET, fnv1a } from './trace.js';

/** A group's state machine as data.db would keep it: applied index, digest, commands applied. */
export interface DigestState {
  appliedIndex: number;
  digest: number;
  commands: number;
}

/** What a digest machine answers for an applied command: where it landed and what it was. */
export interface DigestResponse {
  readonly index: number;
  readonly key: string;
}

/** What the simulation sees of each apply and restore (the checkers), and how long a snapshot's filler is. */
export interface DigestObserver {
  beforeFirstApply(group: number, node: NodeId, e: Entry): void;
  onApplied(group: number, node: NodeId, e: Entry, digest: number): void;
  onRestored(group: number, node: NodeId, index: number, digest: number): void;
  snapshotPadChars(): number;
}

export interface SnapshotState {
  readonly index: number;
  readonly digest: number;
  readonly commands: number;
  /** Filler so that snapshots span several chunks. */
  readonly pad: string;
}

/** Driver turns a digest machine's snapshot takes to build (snapshotBuilder). */
const SNAPSHOT_BUILD_STEPS = 3;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeSnapshot(s: SnapshotState): Uint8Array {
  return encoder.encode(JSON.stringify(s));
}

export function decodeSnapshot(data: Uint8Array): SnapshotState {
  return JSON.parse(decoder.decode(data)) as SnapshotState;
}

/** The state machine of one group at one node (multiraft's StateMachine contract). */
export class DigestMachine implements StateMachine {
  constructor(
    private readonly group: number,
    private readonly node: NodeId,
    private readonly state: DigestState,
    private readonly observer: DigestObserver,
  ) {}

  apply(entries: readonly AppliedEntry[]): unknown[] {
    return entries.map((e) => {
      if (e.index <= this.state.appliedIndex) return undefined; // a replay after a crash
      const entry: Entry = { index: e.index, term: e.term, kind: e.kind, data: e.data };
      this.observer.beforeFirstApply(this.group, this.node, entry);
      const key = entryKey(entry);
      this.state.digest = fnv1a(this.state.digest, `${e.index}:${e.term}:${key}`);
      this.state.appliedIndex = e.index;
      if (e.kind === 'command') this.state.commands++;
      this.observer.onApplied(this.group, this.node, entry, this.state.digest);
      return e.kind === 'command' ? ({ index: e.index, key } satisfies DigestResponse) : undefined;
    });
  }

  appliedIndex(): number {
    return this.state.appliedIndex;
  }

  /** Each apply is durable at once here (the state is the node's disk image, which survives a crash). */
  sync(): number {
    return this.state.appliedIndex;
  }

  snapshot(): Uint8Array {
    const pad = 'x'.repeat(this.observer.snapshotPadChars());
    return encodeSnapshot({ ...this.state, index: this.state.appliedIndex, pad });
  }

  /**
   * The snapshot in slices, as a large state machine builds one beside its applies: the state is read as of now, and
   * the bytes come out after a few driver turns, during which the group applies on (the driver must hand in the
   * snapshot of the index it began at, and not compact past it meanwhile).
   */
  snapshotBuilder(output?: SnapshotOutput): SnapshotBuilder {
    const view = { ...this.state, index: this.state.appliedIndex };
    let steps = 0;
    let finished = false;
    const build = (): SnapshotData => {
      const bytes = encodeSnapshot({ ...view, pad: this.pad() });
      finished = true;
      if (output === undefined) return bytes;
      // Into the driver's output (a node's file) in two writes, as a builder writes record after record.
      const half = Math.floor(bytes.length / 2);
      output.write(bytes.subarray(0, half));
      output.write(bytes.subarray(half));
      return output.finish();
    };
    return {
      index: view.index,
      step: () => (++steps < SNAPSHOT_BUILD_STEPS ? undefined : build()),
      close: () => {
        if (!finished) output?.abort();
      },
    };
  }

  private pad(): string {
    return 'x'.repeat(this.observer.snapshotPadChars());
  }

  restore(snapshot: { index: number; term: number; data: SnapshotData }): void {
    const s = decodeSnapshot(snapshotBytes(snapshot.data));
    this.state.appliedIndex = s.index;
    this.state.digest = s.digest;
    this.state.commands = s.commands;
    this.observer.onRestored(this.group, this.node, snapshot.index, s.digest);
  }
}

export class SimNode extends SimProcess {
  /** data.db: each group's digest state, by group (a group id is its index here). */
  readonly states: DigestState[];

  constructor(
    id: NodeId,
    groupCount: number,
    private readonly observer: DigestObserver,
  ) {
    super(
      id,
      Array.from({ length: groupCount }, (_, g) => g),
    );
    this.states = Array.from({ length: groupCount }, () => ({ appliedIndex: 0, digest: FNV_OFFSET, commands: 0 }));
  }

  groupSpecs(): GroupSpec[] {
    return this.states.map((state, g) => ({
      id: g,
      name: `g${g}`,
      stateMachine: new DigestMachine(g, this.id, state, this.observer),
    }));
  }
}
