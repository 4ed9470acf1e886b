/**
 * One hosted group: its RawNode, its state machine, the committed entries waiting to be applied, and the
 * callers waiting on it (proposals by index, reads by context, and "applied ≥ index" waiters).
 *
 * The core hands committed entries out in Readys; they go into `applyQueue` and reach the state machine
 * when it may take them (`canApply`), so a paused group (cross-group order) never holds up the core. A driver
 * turn applies a bounded slice of the queue (`drainApplyQueue(bytesMax)`): the rest waits for the next turn, so
 * the driver's timer runs between slices. A slice is one `apply` call, which the state machine commits as one
 * transaction; every entry's effects and its applied index stay in the same transaction, so a slice boundary
 * is a batch boundary like any other.
 */
import type { Entry, NodeId, ReadState, RawNode, Snapshot, SnapshotData } from '@kalam/raft';
import { EntryKind, StateRole, decodeConfChange } from '@kalam/raft';
import { MultiRaftError } from './errors.js';
import { MULTIRAFT_LIMITS } from './limits.js';
import type { SnapshotLifetimes } from './snapshot-lifetimes.js';
import type { AppliedEntry, SnapshotBuilder, SnapshotInstall, StateMachine } from './state-machine.js';

interface ProposalWaiter {
  readonly term: number;
  readonly resolve: (response: unknown) => void;
  readonly reject: (err: MultiRaftError) => void;
}

interface ReadWaiter {
  readonly resolve: (index: number) => void;
  readonly reject: (err: Error) => void;
}

interface AppliedWaiter {
  readonly index: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Reads that share one ReadIndex round: every read that starts before the driver's next turn joins it. */
export interface ReadBatch {
  readonly context: string;
  readonly answer: Promise<number>;
  /** Callers still waiting for it; when the last one gives up, the round is forgotten. */
  waiters: number;
}

/** What one drainApplyQueue call did. */
export interface ApplySlice {
  readonly entries: number;
  readonly bytes: number;
}

export class GroupRuntime {
  readonly applyQueue: Entry[] = [];
  /**
   * Queued entries known applicable: canApply said yes to the first `applicableCount` of them. It stays yes (the
   * index an entry waits for only grows), so a queue applied in slices asks about each entry once.
   */
  private applicableCount = 0;
  /** The queue's head was refused by canApply in this drain round: not asked again until the next drain. */
  private headRefused = false;
  readonly proposals = new Map<number, ProposalWaiter>();
  readonly reads = new Map<string, ReadWaiter>();
  /** The batch that reads join until the next driver turn asks the core for its read index. */
  openRead: ReadBatch | undefined;
  /** The last round the core was asked for (only the planted bug joinAskedReadRound looks at it). */
  askedRead: ReadBatch | undefined;
  private appliedWaiters: AppliedWaiter[] = [];
  lastSnapshotIndex: number;
  /** When this group's snapshot files may go (a node that keeps snapshots in files; undefined in memory). */
  snapshotFiles: SnapshotLifetimes | undefined;
  /** A snapshot being installed a piece per turn (StateMachine.installer), and its bytes. */
  private install: { readonly data: SnapshotData; readonly pieces: SnapshotInstall } | undefined;
  /** A snapshot being built in slices for a follower behind the compacted log (StateMachine.snapshotBuilder). */
  snapshotBuild: SnapshotBuilder | undefined;
  /** What the last leadership event said, to emit only changes. */
  announcedLeader: NodeId | null = null;
  announcedTerm = 0;
  wasLeader = false;
  /** When this node last saw the group go from a known leader to none (the driver clock's ms). */
  leaderLostAtMs = 0;
  /** Whether this node has known a leader of the group since it started. */
  leaderSeen = false;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly raw: RawNode,
    readonly sm: StateMachine,
    snapshotIndex: number,
  ) {
    this.lastSnapshotIndex = snapshotIndex;
  }

  isLeader(): boolean {
    return this.raw.role() === StateRole.Leader;
  }

  /**
   * A snapshot from the leader was persisted: its install begins — a piece per driver turn (stepInstall) when the
   * state machine installs in pieces, else at once; queued entries it covers are dropped. A newer snapshot replaces
   * one still being installed (the new install clears whatever the old one left).
   */
  installSnapshot(snapshot: Snapshot): void {
    this.install?.pieces.close();
    this.install = undefined;
    const keep = this.applyQueue.filter((e) => e.index > snapshot.index);
    this.applyQueue.length = 0;
    this.applyQueue.push(...keep);
    this.applicableCount = 0;
    this.headRefused = false;
    this.lastSnapshotIndex = snapshot.index;
    const install = this.sm.installer?.(snapshot);
    if (install !== undefined) {
      this.install = { data: snapshot.data, pieces: install };
      return;
    }
    this.sm.restore(snapshot);
    this.releaseApplied();
  }

  /** The group is installing a snapshot: it applies nothing, and waiters on its applied index wait for the end. */
  installing(): boolean {
    return this.install !== undefined;
  }

  /** The snapshot being installed, whose bytes must outlive the install (snapshot-lifetimes.ts). */
  installingData(): SnapshotData | undefined {
    return this.install?.data;
  }

  /** One piece of the install under way (about `bytesMax` of it); true when that was the last. */
  stepInstall(bytesMax: number): boolean {
    const install = this.install;
    if (install === undefined) return true;
    if (!install.pieces.step(bytesMax)) return false;
    this.install = undefined;
    this.releaseApplied();
    return true;
  }

  /** Gives the install up (the node stops): the state machine redoes it at the next boot. */
  dropInstall(): void {
    this.install?.pieces.close();
    this.install = undefined;
  }

  /**
   * Applies, in one state-machine batch, the queued entries that may be applied now — at most applyBatchMax of
   * them and, past the first, no more than `bytesMax` of payload — and resolves their proposals and waiters.
   */
  drainApplyQueue(bytesMax: number): ApplySlice {
    if (this.install !== undefined) return { entries: 0, bytes: 0 }; // entries after the snapshot wait for it
    this.headRefused = false;
    let n = 0;
    let bytes = 0;
    while (n < this.applyQueue.length && n < MULTIRAFT_LIMITS.applyBatchMax) {
      const e = this.applyQueue[n]!;
      if (n > 0 && bytes + e.data.byteLength > bytesMax) break;
      if (!this.isApplicable(n)) break;
      bytes += e.data.byteLength;
      n++;
    }
    if (n === 0) return { entries: 0, bytes: 0 };
    const batch = this.applyQueue.splice(0, n);
    this.applicableCount -= n;
    const responses = this.sm.apply(batch.map(toApplied));
    // A conf entry is the core's: the state machine saw a no-op (its applied index moves on), the configuration
    // switches now, in log order after the entries before it, and its proposer gets the new ConfState.
    batch.forEach((e, i) => {
      const response =
        e.kind === EntryKind.Conf ? this.raw.applyConfChange(decodeConfChange(e.data), e.index) : undefined;
      this.settleProposal(e, response ?? responses[i]);
    });
    this.releaseApplied();
    return { entries: n, bytes };
  }

  /** The next queued entry exists and may be applied now: the group has work that is not waiting for another. */
  canApplyNext(): boolean {
    return this.install === undefined && this.applyQueue.length > 0 && !this.headRefused && this.isApplicable(0);
  }

  /** canApply of the n-th queued entry (n ≤ applicableCount), asked once per entry. */
  private isApplicable(n: number): boolean {
    if (n < this.applicableCount) return true;
    const e = this.applyQueue[n]!;
    if (this.sm.canApply?.(toApplied(e)) === false) {
      if (n === 0) this.headRefused = true;
      return false;
    }
    this.applicableCount = n + 1;
    return true;
  }

  private settleProposal(e: Entry, response: unknown): void {
    const w = this.proposals.get(e.index);
    if (w === undefined) return;
    this.proposals.delete(e.index);
    if (w.term === e.term) {
      w.resolve(response);
    } else {
      w.reject(
        new MultiRaftError('PROPOSAL_DROPPED', `the entry at index ${e.index} was replaced by a newer leader's`, {
          groupId: this.id,
          leaderHint: this.raw.leader() === 0 ? null : this.raw.leader(),
        }),
      );
    }
  }

  onReadState(rs: ReadState): void {
    const w = this.reads.get(rs.context);
    if (w === undefined) return;
    this.reads.delete(rs.context);
    if (rs.status === 'ok') {
      w.resolve(rs.index);
    } else {
      const lead = this.raw.leader();
      w.reject(
        new MultiRaftError('READ_REJECTED', `read refused: ${rs.reason}`, {
          groupId: this.id,
          leaderHint: lead === 0 ? null : lead,
        }),
      );
    }
  }

  /** Resolves once the state machine has applied `index`. */
  waitApplied(index: number): Promise<void> {
    // While a snapshot installs, the state is neither the old one nor the snapshot's: every waiter waits for the end.
    if (this.install === undefined && this.sm.appliedIndex() >= index) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.appliedWaiters.push({ index, resolve, reject });
    });
  }

  private releaseApplied(): void {
    if (this.appliedWaiters.length === 0 || this.install !== undefined) return;
    const applied = this.sm.appliedIndex();
    const ready = this.appliedWaiters.filter((w) => w.index <= applied);
    if (ready.length === 0) return;
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > applied);
    for (const w of ready) w.resolve();
  }

  /** Fails every waiter (shutdown): proposals, reads, and callers waiting for an index to be applied here. */
  failAll(err: MultiRaftError): void {
    for (const w of this.proposals.values()) w.reject(err);
    for (const w of this.reads.values()) w.reject(err);
    for (const w of this.appliedWaiters) w.reject(err);
    this.proposals.clear();
    this.reads.clear();
    this.appliedWaiters = [];
  }

  pendingCount(): number {
    return this.proposals.size + this.reads.size + this.appliedWaiters.length;
  }
}

const EMPTY = new Uint8Array(0);

/** What the state machine sees of an entry: a conf entry is a no-op to it (the core applies the change). */
function toApplied(e: Entry): AppliedEntry {
  if (e.kind === EntryKind.Conf) return { index: e.index, term: e.term, kind: EntryKind.Noop, data: EMPTY };
  return { index: e.index, term: e.term, kind: e.kind, data: e.data };
}
