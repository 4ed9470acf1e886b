/**
 * RawNode: the driver-facing API (etcd-io/raft rawnode.go). The driver calls tick/step/propose, and when
 * `hasReady()` takes one `ready()`, then, in this order: persists hardState, entries and snapshot; sends
 * `messages` (they may leave before the write) and then `persistedMessages` (only after it); applies
 * `committedEntries`; and calls `advance(ready)`. Nothing may be stepped between ready() and advance().
 *
 * Invariants are checked after every tick, step, proposal and advance; a violation throws AssertionError.
 */
import { assert } from './assert.js';
import type { RaftConfig } from './raft.js';
import { Raft } from './raft.js';
import type {
  ConfChangeV2,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  ReadState,
  Snapshot,
  SnapshotData,
  SoftState,
} from './types.js';
import { StateRole } from './types.js';
import type { ProgressState } from './progress.js';

export interface Ready {
  /** Set when leader or role changed since the last Ready. */
  readonly softState: SoftState | undefined;
  /** Set when term, vote or commit changed since the last Ready: persist it. */
  readonly hardState: HardState | undefined;
  /** Entries to append durably; the first may overwrite (truncate) an existing suffix. */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: install it into the state machine and persist it. */
  readonly snapshot: Snapshot | undefined;
  /** Entries to apply to the state machine, in order. */
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Messages that may be sent before this Ready's writes are durable. */
  readonly messages: readonly Message[];
  /** Messages that may be sent only after this Ready's writes are durable. */
  readonly persistedMessages: readonly Message[];
  /** Whether the write must be fsynced (term, vote or entries changed). */
  readonly mustSync: boolean;
  /**
   * Set when the configuration changed since the last Ready: persist it with this write (raft.db). Losing it in a
   * crash is harmless: the conf entries after the persisted one are applied again at boot (Raft.restoredConf).
   */
  readonly confState: { readonly state: ConfState; readonly index: number } | undefined;
}

export interface GroupStatus {
  readonly id: NodeId;
  readonly role: StateRole;
  readonly term: number;
  readonly vote: NodeId;
  readonly lead: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  /** The newest index a snapshot covers: the held snapshot's, or the log's offset (the state machine's state). */
  readonly snapshotIndex: number;
  readonly firstIndex: number;
  readonly leadTransferee: NodeId;
  /** The configuration in force (ConfState) and the index of the conf entry it comes from. */
  readonly conf: ConfState;
  readonly confIndex: number;
  /** Only on a leader: each peer's replication progress. */
  readonly progress: ReadonlyMap<
    NodeId,
    { readonly match: number; readonly next: number; readonly state: ProgressState }
  >;
}

export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private readyOutstanding = false;
  private durableTerm: number;
  private durableCommit: number;
  /** The confIndex of the configuration last handed out in a Ready (or restored). */
  private prevConfIndex: number;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoft = { lead: this.raft.lead, role: this.raft.role };
    // What is durable: the restored hard state. A node that starts recovering from an empty disk differs from it
    // at once, so its first Ready writes the flag (else a crash before anything else is written, with other
    // groups' state on the disk by then, would restart this group as if its empty log were all it ever had).
    const hard = this.raft.hardState();
    this.prevHard =
      hard.recovering === true && config.restore?.hardState.recovering !== true
        ? { term: hard.term, vote: hard.vote, commit: hard.commit }
        : hard;
    this.durableTerm = this.prevHard.term;
    this.durableCommit = this.prevHard.commit;
    this.prevConfIndex = config.restore?.confIndex ?? 0;
    this.checkInvariants();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  /** The leader this node knows of (NONE when it knows none). */
  leader(): NodeId {
    return this.raft.lead;
  }

  role(): StateRole {
    return this.raft.role;
  }

  /** True while this node rebuilds a log it lost and votes for nobody (Raft.recovering). */
  recovering(): boolean {
    return this.raft.recovering;
  }

  term(): number {
    return this.raft.term;
  }

  /** Index and term of the entry just before the first one the log holds (the last compacted one). */
  logOffset(): { index: number; term: number } {
    return this.raft.log.offset();
  }

  tick(): void {
    this.mutate(() => this.raft.tick());
  }

  step(m: Message): void {
    this.mutate(() => this.raft.step(m));
  }

  /** Campaign now (used by tests and by a single-member group that wants to lead at once). */
  campaign(): void {
    this.mutate(() => this.raft.hup(false));
  }

  /** See Raft.forgetLeader: the link to the leader is gone. */
  forgetLeader(): void {
    this.mutate(() => this.raft.forgetLeader());
  }

  propose(data: Uint8Array): { index: number; term: number } {
    return this.mutate(() => this.raft.propose(data));
  }

  /** See Raft.proposeConfChange: one membership change at a time, validated against the configuration in force. */
  proposeConfChange(cc: ConfChangeV2): { index: number; term: number } {
    return this.mutate(() => this.raft.proposeConfChange(cc));
  }

  /**
   * The application applied the committed conf entry at `index` (it decodes it with decodeConfChange): the
   * configuration switches and is returned. Allowed while a Ready is outstanding, since entries are applied between
   * ready() and advance(): what it changes (commit, role, messages) comes out in the next Ready. An automatic joint
   * configuration is left from the next advance (or at once when no Ready is outstanding).
   */
  applyConfChange(cc: ConfChangeV2, index: number): ConfState {
    const termBefore = this.raft.term;
    const commitBefore = this.raft.log.committed;
    const conf = this.raft.applyConfChange(cc, index);
    if (!this.readyOutstanding) this.raft.maybeAutoLeave();
    this.checkInvariants();
    assert(this.raft.term === termBefore, 'a conf change does not change the term');
    assert(this.raft.log.committed >= commitBefore, 'a conf change does not lower the commit index');
    return conf;
  }

  /** The configuration in force. */
  confState(): ConfState {
    return this.raft.conf;
  }

  /** The configuration changed since the last Ready: no Ready has handed it out to be persisted yet. */
  confUnsaved(): boolean {
    return this.raft.confIndex !== this.prevConfIndex;
  }

  readIndex(context: string): void {
    this.mutate(() => this.raft.readIndex(context));
  }

  transferLeader(to: NodeId): void {
    this.mutate(() => this.raft.transferLeader(to));
  }

  /** See Raft.compact: the application hands in a snapshot of its state at `index`. */
  compact(index: number, data: SnapshotData, compactTo: number = index): Snapshot {
    return this.mutate(() => this.raft.compact(index, data, compactTo));
  }

  /** See Raft.compactLog: compaction without a snapshot (the application's durable state covers `compactTo`). */
  compactLog(compactTo: number): void {
    this.mutate(() => this.raft.compactLog(compactTo));
  }

  /** A follower waits for a snapshot that this node does not hold: build one and hand it in with `compact`. */
  snapshotWanted(): boolean {
    return this.raft.snapshotWanted;
  }

  /** See Raft.compactionFloor: no compaction past a snapshot being transferred. */
  compactionFloor(): number {
    return this.raft.compactionFloor();
  }

  /** The snapshot the core holds (to send to followers), if any: the application owns its bytes' lifetime. */
  heldSnapshot(): Snapshot | undefined {
    return this.raft.log.snapshot;
  }

  /** See Raft.releaseSnapshot: forget the held snapshot's bytes when no transfer uses them. */
  releaseSnapshot(): boolean {
    return this.raft.releaseSnapshot();
  }

  /** The index the core handed out for applying up to (the state machine may be ahead after a restart). */
  appliedIndex(): number {
    return this.raft.log.applied;
  }

  /** Bytes of the log held in memory (RaftLog.byteSize). */
  logBytes(): number {
    return this.raft.log.byteSize();
  }

  /** See RaftLog.byteSizeAfter. */
  logBytesAfter(index: number): number {
    return this.raft.log.byteSizeAfter(index);
  }

  /** See RaftLog.compactIndexForBytes. */
  compactIndexForBytes(maxBytes: number): number {
    return this.raft.log.compactIndexForBytes(maxBytes);
  }

  hasReady(): boolean {
    assert(!this.readyOutstanding, 'hasReady called while a Ready is outstanding');
    const r = this.raft;
    if (r.msgs.length > 0 || r.msgsAfterPersist.length > 0 || r.readStates.length > 0) return true;
    if (r.log.pendingSnapshot !== undefined) return true;
    if (r.log.hasUnstableEntries()) return true;
    if (r.log.hasNextCommittedEntries()) return true;
    if (r.lead !== this.prevSoft.lead || r.role !== this.prevSoft.role) return true;
    if (r.confIndex !== this.prevConfIndex) return true;
    return !sameHardState(r.hardState(), this.prevHard);
  }

  ready(): Ready {
    assert(!this.readyOutstanding, 'ready called twice without advance');
    const r = this.raft;
    const soft: SoftState = { lead: r.lead, role: r.role };
    const hard = r.hardState();
    const hardChanged = !sameHardState(hard, this.prevHard);
    const entries = r.log.unstableEntries();
    const rd: Ready = {
      softState: soft.lead !== this.prevSoft.lead || soft.role !== this.prevSoft.role ? soft : undefined,
      hardState: hardChanged ? hard : undefined,
      entries,
      snapshot: r.log.pendingSnapshot,
      committedEntries: r.log.nextCommittedEntries(),
      readStates: r.readStates,
      messages: r.msgs,
      persistedMessages: r.msgsAfterPersist,
      mustSync:
        entries.length > 0 ||
        hard.term !== this.prevHard.term ||
        hard.vote !== this.prevHard.vote ||
        hard.recovering !== this.prevHard.recovering ||
        r.log.pendingSnapshot !== undefined,
      confState: r.confIndex !== this.prevConfIndex ? { state: r.conf, index: r.confIndex } : undefined,
    };
    this.prevConfIndex = r.confIndex;
    r.msgs = [];
    r.msgsAfterPersist = [];
    r.readStates = [];
    this.prevSoft = soft;
    this.readyOutstanding = true;
    return rd;
  }

  /** The driver persisted, sent and applied `rd`. */
  advance(rd: Ready): void {
    assert(this.readyOutstanding, 'advance without an outstanding Ready');
    this.readyOutstanding = false;
    const r = this.raft;
    if (rd.hardState !== undefined) {
      assert(rd.hardState.term >= this.durableTerm, 'durable term went back');
      assert(rd.hardState.commit >= this.durableCommit, 'durable commit went back');
      this.durableTerm = rd.hardState.term;
      this.durableCommit = rd.hardState.commit;
      this.prevHard = rd.hardState;
    }
    if (rd.snapshot !== undefined) r.log.snapshotInstalled(rd.snapshot.index);
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) r.log.stableTo(lastEntry.index);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) r.log.appliedTo(lastApplied.index);
    this.mutate(() => {
      r.persistedTo(r.log.stableIndex);
      r.maybeAutoLeave();
    });
  }

  status(): GroupStatus {
    const r = this.raft;
    const progress = new Map<NodeId, { match: number; next: number; state: ProgressState }>();
    if (r.role === StateRole.Leader) {
      for (const [id, pr] of r.prs) progress.set(id, { match: pr.match, next: pr.next, state: pr.state });
    }
    return {
      id: r.id,
      role: r.role,
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      // The last compacted entry: what a follower behind it needs a snapshot for (none is held in between).
      snapshotIndex: Math.max(r.log.snapshot?.index ?? 0, r.log.offset().index),
      firstIndex: r.log.firstIndex(),
      leadTransferee: r.leadTransferee,
      conf: r.conf,
      confIndex: r.confIndex,
      progress,
    };
  }

  private mutate<T>(fn: () => T): T {
    assert(!this.readyOutstanding, 'the node was changed between ready() and advance()');
    const termBefore = this.raft.term;
    const commitBefore = this.raft.log.committed;
    const result = fn();
    this.checkInvariants();
    assert(this.raft.term >= termBefore, () => `term went back from ${termBefore} to ${this.raft.term}`);
    assert(
      this.raft.log.committed >= commitBefore,
      () => `commit went back from ${commitBefore} to ${this.raft.log.committed}`,
    );
    return result;
  }

  private checkInvariants(): void {
    const log = this.raft.log;
    assert(log.applied <= log.committed, () => `applied ${log.applied} > committed ${log.committed}`);
    assert(log.committed <= log.lastIndex(), () => `committed ${log.committed} > last index ${log.lastIndex()}`);
    assert(log.firstIndex() - 1 <= log.applied || log.pendingSnapshot !== undefined, 'compacted past applied');
    if (this.raft.role === StateRole.Leader) assert(this.raft.lead === this.raft.id, 'a leader leads');
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit && a.recovering === b.recovering;
}
