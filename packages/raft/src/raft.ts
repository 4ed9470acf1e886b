/**
 * The Raft protocol for one group, as a pure state machine (etcd-io/raft's raft.go). It never touches a
 * disk, a socket or a clock: inputs are `tick()`, `step(msg)` and the local requests; outputs accumulate
 * in `msgs`, `msgsAfterPersist`, `readStates` and the log, and RawNode turns them into a Ready.
 *
 * `step` validates and handles the term (Raft §5.1), then hands off to the function of the current role.
 */
import { assert, assertNever } from './assert.js';
import {
  LEAVE_JOINT,
  allMembers,
  allVoters,
  applyChange,
  committedIndex,
  confState,
  decodeConfChange,
  encodeConfChange,
  hasQuorum,
  isJoint,
  isVoter,
  majorityIndex,
  voteResult,
} from './confchange.js';
import { ConfChangeInvalidError, LimitExceededError, NotLeaderError, RaftError } from './errors.js';
import type { RaftLimits } from './limits.js';
import { resolveLimits } from './limits.js';
import { RaftLog } from './log.js';
import type { RandomSource } from './prng.js';
import { Progress, ProgressState } from './progress.js';
import type {
  ConfChangeV2,
  ConfState,
  Entry,
  HardState,
  Message,
  MsgApp,
  MsgAppResp,
  MsgHeartbeat,
  MsgHeartbeatResp,
  MsgSnap,
  MsgSnapResp,
  MsgVote,
  NodeId,
  ReadState,
  Snapshot,
  SnapshotData,
  SnapshotMeta,
  SnapshotSink,
  SnapshotSinkFactory,
} from './types.js';
import { EntryKind, NONE, StateRole, entrySizeBytes, memorySnapshotSink } from './types.js';

/**
 * Known-bad behaviours that tests switch on to prove the simulator and the checkers catch them. Never set
 * outside tests.
 */
export interface PlantedBugs {
  /** Commit an entry of an earlier term by counting its replicas (violates Raft §5.4.2, Figure 8). */
  readonly commitOldTermByCount?: boolean;
  /** Grant a vote even after voting for another candidate in the same term (violates §5.2). */
  readonly grantSecondVote?: boolean;
  /** Grant votes without the (lastTerm, lastIndex) up-to-date check (violates §5.4.1). */
  readonly skipUpToDateCheck?: boolean;
  /** Acknowledge appends and votes, and count the leader's own entries, before they are durable. */
  readonly ackBeforePersist?: boolean;
  /** While joint, commit by a majority of the incoming voters alone (violates joint consensus, thesis §4.3). */
  readonly jointCommitIncomingOnly?: boolean;
}

export const PLANTED_BUGS = [
  'commitOldTermByCount',
  'grantSecondVote',
  'skipUpToDateCheck',
  'ackBeforePersist',
  'jointCommitIncomingOnly',
] as const;
export type PlantedBugName = (typeof PLANTED_BUGS)[number];

/** What a node recovers from its durable storage after a restart. */
export interface RaftRestoreState {
  readonly hardState: HardState;
  /** The newest durable snapshot, if any. */
  readonly snapshot?: Snapshot;
  /** Index and term of the last compacted entry (0, 0 for a log that was never compacted). */
  readonly offsetIndex: number;
  readonly offsetTerm: number;
  readonly entries: readonly Entry[];
  /** The state machine's durable applied index: entries after it are applied again. */
  readonly applied: number;
  /**
   * The configuration as of the conf entry at `confIndex` (raft.db's): conf entries at or below `confIndex` are in
   * it and are not applied again. Absent: the group's founding voters (RaftConfig.voters) as of index 0.
   */
  readonly confState?: ConfState;
  readonly confIndex?: number;
}

export interface RaftConfig {
  readonly id: NodeId;
  /**
   * The group's founding voters: its configuration before any conf entry, used when the restored state carries
   * none. This node need not be one of them: a node added later starts as a learner-in-waiting (no vote, no
   * campaign) and takes the configuration from the log or a snapshot its leader sends.
   */
  readonly voters: readonly NodeId[];
  /** Ticks without hearing from a leader before a follower campaigns (randomized in [t, 2t)). */
  readonly electionTick: number;
  /** Upper bound (exclusive) of the randomized election timeout in ticks; default 2 × electionTick. */
  readonly electionTickMax?: number;
  /** Ticks between leader heartbeats. */
  readonly heartbeatTick: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly random: RandomSource;
  readonly limits?: Partial<RaftLimits>;
  readonly restore?: RaftRestoreState;
  readonly plantedBugs?: PlantedBugs;
  /**
   * Ticks during which a node that starts with no durable state at all grants no votes. A node whose data
   * folder was wiped forgot whom it voted for; abstaining for longer than any election in progress can
   * last keeps it from voting twice in one term. 0 (the default) turns this off.
   */
  readonly freshStartVoteAbstainTicks?: number;
  /**
   * A node of a multi-member group that starts with no durable state at all may be a member whose disk was lost,
   * not one of a new cluster: it cannot tell from what it holds. With this set it starts `recovering` (see
   * Raft.recovering) instead of voting at once. Off by default in the core; the driver sets it when the node's
   * whole disk is empty (one quiet group without state on a disk that holds others' is not a lost disk).
   */
  readonly recoverWhenEmpty?: boolean;
  /** Where an incoming snapshot's chunks are written (default: one buffer in memory, memorySnapshotSink). */
  readonly snapshotSink?: SnapshotSinkFactory;
}

interface PendingRead {
  readonly context: string;
  readonly index: number;
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

interface IncomingSnapshot {
  readonly index: number;
  readonly term: number;
  readonly totalBytes: number;
  /** Where the chunks go, in order (the application's: in memory or a file); the core keeps no bytes. */
  readonly sink: SnapshotSink;
  received: number;
}

export class Raft {
  readonly id: NodeId;
  /** The configuration in force: that of the last conf entry applied (as etcd: on apply, see applyConfChange). */
  conf: ConfState;
  /** The index of the conf entry (or snapshot) `conf` comes from; conf entries at or below it are already in it. */
  confIndex: number;
  /**
   * On a leader: the index of the newest conf entry in its log. While it is above confIndex a change is in flight,
   * and no other may be proposed (thesis §4.1: one change at a time).
   */
  pendingConfIndex = 0;
  /** leavesVotersWithPendingConf's last answer, for (term, confIndex, pendingConfIndex). */
  private leavingChecked: { key: string; leaves: boolean } | undefined;
  /** The newest index at which a conf entry was appended to this log (an upper bound: a truncation may drop it). */
  private lastConfInLog = 0;
  readonly limits: RaftLimits;
  readonly log: RaftLog;
  readonly prs = new Map<NodeId, Progress>();

  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: StateRole = StateRole.Follower;

  /** Messages that may leave before this turn's writes are durable. */
  msgs: Message[] = [];
  /** Acknowledgements that may leave only after this turn's writes are durable. */
  msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: NodeId = NONE;
  uncommittedBytes = 0;

  private readonly electionTick: number;
  private readonly electionTickMax: number;
  private readonly heartbeatTick: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly random: RandomSource;
  private readonly bugs: PlantedBugs;
  private votes = new Map<NodeId, boolean>();
  private voteAbstainTicks: number;
  /**
   * This node lost its log (it started with none, and is not known to be part of a new cluster): it grants no
   * vote, campaigns for nothing and takes no leadership transfer. A node whose disk was wiped may have been part
   * of the quorum that committed an entry; voting before it holds that entry again could elect a leader without
   * it (a stale node and the wiped one are a majority of three). It stops recovering
   *   - when a leader of its term caught it up: an append succeeded up to the leader's commit index, and that
   *     index is of the leader's own term, so every entry committed before (in any term) is in our log; or
   *   - when every other member said, since we started, that its log is empty too (their pre-votes carry their
   *     last index): no entry was ever committed, this is a new cluster.
   * Meanwhile it still appends and acknowledges what a leader sends (an acknowledgement only says the entry is
   * durable here, which is true), and announces itself by pre-vote messages when its election timeout passes.
   */
  recovering: boolean;
  /** While recovering: the members that told us their log is empty, and whether any told us otherwise. */
  private readonly emptyPeers = new Set<NodeId>();
  private clusterSeen = false;
  private pendingReads: PendingRead[] = [];
  private incomingSnapshot: IncomingSnapshot | undefined;
  private readonly snapshotSink: SnapshotSinkFactory;
  /**
   * A follower is behind the log's offset and no snapshot is held to send it: the application should build one
   * (RawNode.snapshotWanted) and hand it in with `compact`.
   */
  snapshotWanted = false;

  constructor(config: RaftConfig) {
    assert(config.voters.length > 0, 'a group has at least one founding voter');
    assert(new Set(config.voters).size === config.voters.length, 'voters must be distinct');
    assert(config.heartbeatTick > 0, 'heartbeatTick must be positive');
    assert(config.electionTick > config.heartbeatTick, 'electionTick must exceed heartbeatTick');
    this.id = config.id;
    this.limits = resolveLimits(config.limits);
    this.electionTick = config.electionTick;
    this.electionTickMax = config.electionTickMax ?? 2 * config.electionTick;
    assert(this.electionTickMax > this.electionTick, 'electionTickMax must exceed electionTick');
    this.heartbeatTick = config.heartbeatTick;
    this.preVote = config.preVote;
    this.checkQuorum = config.checkQuorum;
    this.random = config.random;
    this.bugs = config.plantedBugs ?? {};
    this.snapshotSink = config.snapshotSink ?? memorySnapshotSink;
    const r = config.restore;
    this.log = new RaftLog({
      offsetIndex: r?.offsetIndex ?? 0,
      offsetTerm: r?.offsetTerm ?? 0,
      entries: r?.entries ?? [],
      committed: r?.hardState.commit ?? 0,
      applied: r?.applied ?? 0,
      snapshot: r?.snapshot,
    });
    if (r !== undefined) {
      this.term = r.hardState.term;
      this.vote = r.hardState.vote;
    }
    const restored = this.restoredConf(config);
    this.conf = restored.conf;
    this.confIndex = restored.confIndex;
    const fresh = this.term === 0 && this.log.lastIndex() === 0 && this.log.snapshot === undefined;
    this.voteAbstainTicks = fresh ? (config.freshStartVoteAbstainTicks ?? 0) : 0;
    this.recovering =
      r?.hardState.recovering === true ||
      (fresh && allVoters(this.conf).length > 1 && config.recoverWhenEmpty === true);
    this.becomeFollower(this.term, NONE);
  }

  /**
   * The configuration to boot with: raft.db's (or the founding voters), superseded by a newer snapshot's, then every
   * conf entry the state machine applied after it and raft.db did not record (the configuration is written with
   * the Ready after the apply, so a crash in between loses it; the entries are still in the log, since the log is
   * never compacted past what is applied). Conf entries committed but not applied come out again in a Ready and go
   * through applyConfChange like any other.
   */
  private restoredConf(config: RaftConfig): { conf: ConfState; confIndex: number } {
    const r = config.restore;
    let conf = r?.confState ?? confState(config.voters);
    let confIndex = r?.confIndex ?? 0;
    const snap = r?.snapshot;
    if (snap?.confState !== undefined && (snap.confIndex ?? snap.index) > confIndex) {
      conf = snap.confState;
      confIndex = snap.confIndex ?? snap.index;
    }
    const from = Math.max(confIndex + 1, this.log.firstIndex());
    for (const e of this.log.slice(from, Math.max(from, this.log.applied + 1)) ?? []) {
      if (e.kind !== EntryKind.Conf) continue;
      conf = applyChange(conf, decodeConfChange(e.data));
      confIndex = e.index;
    }
    for (const e of this.log.slice(this.log.firstIndex(), this.log.lastIndex() + 1) ?? []) {
      if (e.kind === EntryKind.Conf) this.lastConfInLog = e.index;
    }
    return { conf, confIndex };
  }
  hardState(): HardState {
    const hs = { term: this.term, vote: this.vote, commit: this.log.committed };
    return this.recovering ? { ...hs, recovering: true } : hs;
  }

  /** Every voting member of the configuration in force (both halves while joint). */
  get voters(): readonly NodeId[] {
    return allVoters(this.conf);
  }

  /** May this node campaign: a voter of its configuration (a learner or a node in waiting never does). */
  promotable(): boolean {
    return isVoter(this.conf, this.id);
  }

  // ---------------------------------------------------------------------------------------------------
  // Role transitions

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.votes = new Map();
    this.prs.clear();
    for (const id of allMembers(this.conf)) this.addProgress(id);
    this.uncommittedBytes = 0;
    this.snapshotWanted = false;
  }

  private addProgress(id: NodeId): Progress {
    const pr = new Progress(this.log.lastIndex() + 1, this.limits.inflightMsgsMax, this.limits.inflightBytesMax);
    if (id === this.id) pr.match = this.log.stableIndex;
    this.prs.set(id, pr);
    return pr;
  }

  private resetRandomizedElectionTimeout(): void {
    // Uniform in [electionTick, electionTickMax) (Raft §5.2: randomized to make split votes rare).
    this.randomizedElectionTimeout = this.electionTick + this.random.int(this.electionTickMax - this.electionTick);
  }

  becomeFollower(term: number, lead: NodeId): void {
    const reads = this.takePendingReads();
    this.reset(term);
    this.lead = lead;
    this.role = StateRole.Follower;
    // Refused in the new term, so that a follower already in it does not drop the answer as stale.
    for (const r of reads)
      this.answerRead(r.from, { context: r.context, status: 'rejected', reason: 'LEADERSHIP_LOST' });
  }

  /**
   * The transport lost its link to the leader (its process died, say). Forget it, so that this follower
   * grants pre-votes again (the CheckQuorum lease no longer holds), and campaign after a fresh random delay
   * in [1, electionTick] ticks instead of a whole election timeout (etcd's ForgetLeader, plus the shortened
   * wait). Only liveness changes: safety never depends on timing.
   */
  forgetLeader(): void {
    if (this.role !== StateRole.Follower || this.lead === NONE) return;
    this.lead = NONE;
    const remaining = 1 + this.random.int(this.electionTick);
    this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTimeout - remaining);
  }

  private becomePreCandidate(): void {
    assert(this.role !== StateRole.Leader, 'a leader cannot become a pre-candidate');
    // A pre-candidate keeps its term and vote: nothing changes unless the real election starts.
    this.votes = new Map();
    this.lead = NONE;
    this.role = StateRole.PreCandidate;
  }

  private becomeCandidate(): void {
    assert(this.role !== StateRole.Leader, 'a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = StateRole.Candidate;
  }

  private becomeLeader(): void {
    assert(this.role === StateRole.Candidate, 'only a candidate becomes leader');
    this.reset(this.term);
    this.lead = this.id;
    this.role = StateRole.Leader;
    // Conf entries of earlier terms in our log may not be applied yet: they count as pending (etcd sets this to
    // the last index; we know where the newest conf entry is).
    this.lastConfInLog = this.newestConfEntry(this.confIndex + 1, this.log.lastIndex());
    this.pendingConfIndex = this.lastConfInLog;
    // reset() left every follower in Probe with next = lastIndex + 1: the first append probes the end of our
    // log (§5.3). Probing from match + 1 = 1 instead would resend the whole log, or a snapshot once compacted.
    // The no-op lets the leader commit in its own term, and so learn the commit index (Raft §5.4.2, §8); it
    // goes out at once rather than at the next heartbeat.
    this.appendEntries([{ term: this.term, index: this.log.lastIndex() + 1, kind: EntryKind.Noop, data: EMPTY }]);
    this.bcastAppend();
  }

  // ---------------------------------------------------------------------------------------------------
  // Ticks

  tick(): void {
    if (this.voteAbstainTicks > 0) this.voteAbstainTicks--;
    if (this.role === StateRole.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      if (this.recovering) this.announceRecovering();
      else if (this.promotable()) this.hup(false);
      else {
        // A learner or a node outside the configuration never campaigns; but a leader silent for an election
        // timeout is gone for it too, so that it stops refusing votes in that leader's lease (stepHigherTerm).
        this.lead = NONE;
        this.resetRandomizedElectionTimeout();
      }
    }
  }

  /**
   * A recovering node's pre-votes: they carry its last index, which is how the others learn that it holds
   * nothing (a new cluster forming). It collects no answers: it will not lead before it recovered.
   */
  private announceRecovering(): void {
    this.resetRandomizedElectionTimeout();
    for (const to of allVoters(this.conf)) {
      if (to === this.id) continue;
      this.send({
        type: 'MsgPreVote',
        from: this.id,
        to,
        term: this.term + 1,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        transfer: false,
      });
    }
  }

  /** What a message tells a recovering node about the cluster (see `recovering`). */
  private noteWhileRecovering(m: Message): void {
    if (m.type === 'MsgPreVote' || m.type === 'MsgVote') {
      if (m.index === 0) this.emptyPeers.add(m.from);
      else this.clusterSeen = true;
    } else if (m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap') {
      this.clusterSeen = true;
    }
    const empty = this.log.lastIndex() === 0 && this.log.snapshot === undefined;
    const voters = allVoters(this.conf);
    if (!this.clusterSeen && empty && voters.every((id) => id === this.id || this.emptyPeers.has(id))) {
      this.stopRecovering(); // a new cluster: nobody ever committed anything
    }
  }

  private stopRecovering(): void {
    this.recovering = false;
    this.emptyPeers.clear();
    this.clusterSeen = false;
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTick) {
      this.electionElapsed = 0;
      if (this.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, NONE);
        return;
      }
      // A transfer that did not finish within an election timeout is abandoned (Raft thesis §3.10); a leader outside
      // its configuration tries the next heir.
      this.abortLeaderTransfer();
      if (!isVoter(this.conf, this.id)) this.handOver();
    }
    this.tickSnapshotTransfers();
    if (this.heartbeatElapsed >= this.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /** CheckQuorum: did a quorum (this node included) talk to us since the last round? Resets the marks. */
  private quorumActive(): boolean {
    const active = hasQuorum(this.conf, (id) => id === this.id || this.prs.get(id)?.recentActive === true);
    for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
    return active;
  }

  private tickSnapshotTransfers(): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id || pr.state !== ProgressState.Snapshot) continue;
      pr.snapshotTicks++;
      if (pr.snapshotTicks >= this.limits.snapshotChunkResendTicks) this.sendSnapshotChunk(id, pr);
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Elections

  /** Start an election (after PreVote unless this is a transfer). */
  hup(transfer: boolean): void {
    if (this.role === StateRole.Leader || this.recovering || !this.promotable()) return;
    // A committed conf entry not applied yet may change who votes: campaign only once it is in force (etcd).
    if (this.hasUnappliedConfChanges()) return;
    if (this.preVote && !transfer) this.campaign('pre', false);
    else this.campaign('real', transfer);
  }

  private campaign(kind: 'pre' | 'real', transfer: boolean): void {
    let term: number;
    if (kind === 'pre') {
      this.becomePreCandidate();
      term = this.term + 1; // Pre-votes ask about the term a real election would use.
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      if (kind === 'pre') this.campaign('real', false);
      else this.becomeLeader();
      return;
    }
    for (const to of allVoters(this.conf)) {
      if (to === this.id) continue;
      this.send({
        type: kind === 'pre' ? 'MsgPreVote' : 'MsgVote',
        from: this.id,
        to,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        transfer,
      });
    }
  }

  /** Records a vote; the election is won only with a majority of each half of the configuration (§4.3). */
  private poll(from: NodeId, granted: boolean): 'pending' | 'won' | 'lost' {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    return voteResult(this.conf, this.votes);
  }

  private handleVoteRequest(m: MsgVote): void {
    const isPre = m.type === 'MsgPreVote';
    // Raft §5.2 one vote per term; a pre-vote for a future term promises nothing.
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (isPre && m.term > this.term) ||
      (this.bugs.grantSecondVote === true && !isPre);
    const upToDate = this.bugs.skipUpToDateCheck === true || this.log.isUpToDate(m.index, m.logTerm);
    const abstaining = this.voteAbstainTicks > 0 || this.recovering;
    const respType = isPre ? 'MsgPreVoteResp' : 'MsgVoteResp';
    if (canVote && upToDate && !abstaining) {
      // A granted vote is a promise that must survive a crash: it leaves only once the vote is durable.
      this.sendAck({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (!isPre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Step

  step(m: Message): void {
    assert(m.to === this.id, () => `message for ${m.to} stepped into ${this.id}`);
    if (m.from === this.id) return;
    // A node in no configuration we know is not heard, except as a leader: a leader's term proves a quorum elected
    // it, and a node added to the group (or one lagging behind a change) learns its configuration only from it.
    if (!this.prs.has(m.from) && !isLeaderMessage(m)) return;
    const bytes = messageBytes(m);
    if (bytes > this.limits.msgBytesMax) {
      // Refused before it touches any state; the transport counts and drops it.
      throw new LimitExceededError('MESSAGE_TOO_LARGE', this.limits.msgBytesMax, bytes);
    }
    if (this.recovering) this.noteWhileRecovering(m);
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case StateRole.Leader:
        this.stepLeader(m);
        return;
      case StateRole.Candidate:
      case StateRole.PreCandidate:
        this.stepCandidate(m);
        return;
      case StateRole.Follower:
        this.stepFollower(m);
        return;
      default:
        assertNever(this.role, 'role');
    }
  }

  /** Returns false when the message is to be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
      // Followers that hear from a live leader refuse to be disrupted (CheckQuorum lease, thesis §4.2.3).
      const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTick;
      if (inLease && !m.transfer) return false;
    }
    if (m.type === 'MsgPreVote') return true; // never changes our term
    if (m.type === 'MsgPreVoteResp' && !m.reject) return true; // granted pre-votes carry the future term
    const fromLeader = m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap';
    this.becomeFollower(m.term, fromLeader ? m.from : NONE);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if ((this.checkQuorum || this.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
      // A leader cut off and deposed must learn of the new term, or it never steps down (with PreVote
      // nobody would ever bump its term for it).
      this.send({
        type: 'MsgAppResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index: 0,
        reject: false,
        rejectHint: 0,
        logTerm: 0,
      });
    } else if (m.type === 'MsgPreVote') {
      this.send({ type: 'MsgPreVoteResp', from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'MsgAppResp':
        this.handleAppendResponse(m);
        return;
      case 'MsgHeartbeatResp':
        this.handleHeartbeatResponse(m);
        return;
      case 'MsgSnapResp':
        this.handleSnapshotResponse(m);
        return;
      case 'MsgReadIndex':
        this.leaderReadIndex(m.context, m.from);
        return;
      case 'MsgTransferLeader':
        this.tryTransferLeader(m.transferee);
        return;
      case 'MsgApp':
      case 'MsgHeartbeat':
      case 'MsgSnap':
        // Two leaders in one term would break Election Safety (§5.2).
        assert(false, () => `leader ${this.id} got ${m.type} from ${m.from} in its own term ${this.term}`);
        return;
      case 'MsgVote':
      case 'MsgPreVote':
      case 'MsgVoteResp':
      case 'MsgPreVoteResp':
      case 'MsgTimeoutNow':
      case 'MsgReadIndexResp':
        return;
      default:
        assertNever(m, 'message');
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === StateRole.PreCandidate ? 'MsgPreVoteResp' : 'MsgVoteResp';
    switch (m.type) {
      case 'MsgApp':
        this.becomeFollower(m.term, m.from); // §5.2: a leader of ≥ our term exists.
        this.handleAppendEntries(m);
        return;
      case 'MsgHeartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'MsgSnap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'MsgVoteResp':
      case 'MsgPreVoteResp': {
        if (m.type !== myResp) return;
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === StateRole.PreCandidate) {
            this.campaign('real', false);
          } else {
            this.becomeLeader();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      case 'MsgAppResp':
      case 'MsgHeartbeatResp':
      case 'MsgSnapResp':
      case 'MsgTimeoutNow':
      case 'MsgTransferLeader':
      case 'MsgReadIndex':
      case 'MsgReadIndexResp':
      case 'MsgVote':
      case 'MsgPreVote':
        return;
      default:
        assertNever(m, 'message');
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'MsgApp':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case 'MsgHeartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'MsgSnap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'MsgTimeoutNow':
        // The leader asked us to take over: skip PreVote and the lease (thesis §3.10).
        this.hup(true);
        return;
      case 'MsgReadIndexResp':
        this.readStates.push(
          m.reject
            ? { context: m.context, status: 'rejected', reason: m.reason ?? 'NOT_LEADER' }
            : { context: m.context, status: 'ok', index: m.index },
        );
        return;
      case 'MsgReadIndex':
        this.answerRead(m.from, { context: m.context, status: 'rejected', reason: 'NOT_LEADER' });
        return;
      case 'MsgTransferLeader':
        if (this.lead !== NONE) this.send({ ...m, from: this.id, to: this.lead, term: this.term });
        return;
      case 'MsgAppResp':
      case 'MsgHeartbeatResp':
      case 'MsgSnapResp':
      case 'MsgVote':
      case 'MsgPreVote':
      case 'MsgVoteResp':
      case 'MsgPreVoteResp':
        return;
      default:
        assertNever(m, 'message');
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Follower side of replication

  private handleAppendEntries(m: MsgApp): void {
    if (m.index < this.log.committed) {
      // Everything up to our commit index is already ours: the leader may resume after it (A6).
      this.sendAck({
        type: 'MsgAppResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index: this.log.committed,
        reject: false,
        rejectHint: 0,
        logTerm: 0,
      });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) this.noteConfEntries(m.entries);
    if (lastNew !== undefined && this.recovering && lastNew >= m.commit && this.log.term(m.commit) === this.term) {
      // Caught up by the leader of our term past an entry of its own term: we hold every committed entry.
      // The vote we may have cast in this term before losing our disk is forgotten; our vote is its leader's.
      this.stopRecovering();
      if (this.vote === NONE) this.vote = m.from;
    }
    if (lastNew !== undefined) {
      this.sendAck({
        type: 'MsgAppResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index: lastNew,
        reject: false,
        rejectHint: 0,
        logTerm: 0,
      });
      return;
    }
    // Reject with a hint: the largest index ≤ the probe whose term is ≤ the leader's term there.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.sendAck({
      type: 'MsgAppResp',
      from: this.id,
      to: m.from,
      term: this.term,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  private handleHeartbeat(m: MsgHeartbeat): void {
    // The leader never sends a commit beyond what it knows we hold, unless we lost our log (a wiped data
    // folder). Then commit nothing from it, and tell the leader where our log really ends.
    if (m.commit <= this.log.lastIndex()) {
      this.log.commitTo(m.commit);
    } else {
      this.send({
        type: 'MsgAppResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index: m.commit,
        reject: true,
        rejectHint: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
      });
    }
    this.send({ type: 'MsgHeartbeatResp', from: this.id, to: m.from, term: this.term, context: m.context });
  }

  private handleSnapshot(m: MsgSnap): void {
    const meta = m.snapshot;
    if (meta.index <= this.log.committed) {
      // Older than what we already have committed: say where we are and ignore it (A12).
      this.abortIncomingSnapshot();
      this.sendAck({
        type: 'MsgAppResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index: this.log.committed,
        reject: false,
        rejectHint: 0,
        logTerm: 0,
      });
      return;
    }
    if (m.offset === 0) {
      this.abortIncomingSnapshot();
      const sink = this.snapshotSink(meta, m.totalBytes);
      this.incomingSnapshot = { index: meta.index, term: meta.term, totalBytes: m.totalBytes, sink, received: 0 };
    }
    const inc = this.incomingSnapshot;
    const matches = inc !== undefined && inc.index === meta.index && inc.term === meta.term;
    if (!matches || m.offset !== inc.received) {
      // A lost, duplicated or reordered chunk: tell the leader where to resume.
      const offset = matches ? inc.received : 0;
      this.send({ type: 'MsgSnapResp', from: this.id, to: m.from, term: this.term, index: meta.index, offset });
      return;
    }
    assert(inc.received + m.data.length <= inc.totalBytes, 'snapshot chunks overran the announced size');
    inc.sink.write(inc.received, m.data);
    inc.received += m.data.length;
    if (inc.received < inc.totalBytes) {
      this.send({
        type: 'MsgSnapResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index: meta.index,
        offset: inc.received,
      });
      return;
    }
    this.incomingSnapshot = undefined;
    const snapshot: Snapshot = { ...meta, data: inc.sink.finish() };
    let acked: number;
    if (this.log.matchTerm(snapshot.index, snapshot.term)) {
      // Our log already has the snapshot's last entry: keep the log, only move the commit index. Entries
      // after it may be stale, so acknowledge only the commit index.
      this.log.commitTo(snapshot.index);
      acked = this.log.committed;
    } else {
      this.log.restore(snapshot);
      acked = snapshot.index;
      this.restoreConf(meta);
    }
    this.sendAck({
      type: 'MsgAppResp',
      from: this.id,
      to: m.from,
      term: this.term,
      index: acked,
      reject: false,
      rejectHint: 0,
      logTerm: 0,
    });
  }

  /** Gives up the transfer in progress, if any: its sink drops what it holds. */
  private abortIncomingSnapshot(): void {
    this.incomingSnapshot?.sink.abort();
    this.incomingSnapshot = undefined;
  }

  // ---------------------------------------------------------------------------------------------------
  // Leader side of replication

  private handleAppendResponse(m: MsgAppResp): void {
    const pr = this.prs.get(m.from);
    assert(pr !== undefined, 'response from a voter');
    pr.recentActive = true;
    if (m.reject && m.rejectHint < pr.match) {
      // The follower's log ends below what it acknowledged before (see Progress.forgetMatch).
      pr.forgetMatch(m.rejectHint);
      this.sendAppend(m.from, true);
      return;
    }
    if (m.reject) {
      let hint = m.rejectHint;
      if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return; // stale or duplicate
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from, true);
    }
    // Fill the window while there is something to send.
    while (this.sendAppend(m.from, false)) {
      /* keep streaming */
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'MsgTimeoutNow', from: this.id, to: m.from, term: this.term });
    }
  }

  private handleHeartbeatResponse(m: MsgHeartbeatResp): void {
    const pr = this.prs.get(m.from);
    assert(pr !== undefined, 'response from a voter');
    pr.recentActive = true;
    pr.probeSent = false;
    // A full window after lost appends would never drain: free one slot so the next append can probe the
    // follower, whose rejection then resets the window (etcd's FreeFirstOne).
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
    if (m.context !== null) this.ackRead(m.from, m.context);
  }

  private handleSnapshotResponse(m: MsgSnapResp): void {
    const pr = this.prs.get(m.from);
    assert(pr !== undefined, 'response from a voter');
    pr.recentActive = true;
    if (pr.state !== ProgressState.Snapshot || m.index !== pr.pendingSnapshot) return;
    // An equal offset is a duplicate answer: the resend timer covers a lost chunk, so duplicates do not
    // multiply chunks. A smaller one means the follower lost its partial transfer.
    if (m.offset === pr.snapshotOffset) return;
    pr.snapshotOffset = m.offset;
    this.sendSnapshotChunk(m.from, pr);
  }

  /**
   * Sends one append (or starts a snapshot) to `to`. With `sendIfEmpty` false nothing is sent unless there
   * are entries. Returns whether a message was sent.
   */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    assert(pr !== undefined, 'append to a voter');
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = this.log.slice(pr.next, this.log.lastIndex() + 1, this.limits.msgBytesMax, this.limits.msgEntriesMax);
    if (prevTerm === undefined || ents === undefined) {
      this.startSnapshot(to, pr);
      return true;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: 'MsgApp',
      from: this.id,
      to,
      term: this.term,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    });
    const last = ents[ents.length - 1];
    if (last !== undefined) {
      if (pr.state === ProgressState.Replicate) {
        pr.optimisticUpdate(last.index);
        pr.inflights.add(
          last.index,
          ents.reduce((n, e) => n + entrySizeBytes(e), 0),
        );
      } else {
        pr.probeSent = true;
      }
    } else if (pr.state === ProgressState.Probe) {
      pr.probeSent = true;
    }
    return true;
  }

  private startSnapshot(to: NodeId, pr: Progress): void {
    if (!this.sendableSnapshot()) {
      // Compaction keeps no snapshot: the follower waits (paused in Snapshot, pending 0) until the application
      // hands one in (`compact`, asked by `snapshotWanted`), and the transfer starts then.
      pr.becomeSnapshot(0);
      this.snapshotWanted = true;
      return;
    }
    pr.becomeSnapshot(this.log.snapshot!.index);
    this.sendSnapshotChunk(to, pr);
  }

  /** The held snapshot can catch a follower up: the log goes on right after it (it is not behind the offset). */
  private sendableSnapshot(): boolean {
    const snap = this.log.snapshot;
    return snap !== undefined && snap.index >= this.log.offset().index;
  }

  /** Sends the chunk at the follower's acknowledged offset (from the start once every byte was sent). */
  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    const snap = this.log.snapshot;
    if (snap === undefined || !this.sendableSnapshot()) {
      // Released, or left behind by a compaction: wait for the application to build a fresh one.
      pr.becomeSnapshot(0);
      this.snapshotWanted = true;
      return;
    }
    if (snap.index !== pr.pendingSnapshot) {
      // We compacted again while the transfer ran, or the awaited snapshot arrived: start over with it (A12).
      pr.becomeSnapshot(snap.index);
    }
    // A follower that holds every byte is installing; if its answer was lost, a fresh first chunk makes it
    // answer again (with its commit index once installed, or by restarting the transfer after a crash).
    if (pr.snapshotOffset >= snap.data.byteLength) pr.snapshotOffset = 0;
    pr.snapshotTicks = 0;
    this.send(this.snapChunk(to, snap, pr.snapshotOffset));
  }

  private snapChunk(to: NodeId, snap: Snapshot, offset: number): MsgSnap {
    const data = snap.data.subarray(offset, Math.min(offset + this.limits.snapshotChunkBytes, snap.data.byteLength));
    return {
      type: 'MsgSnap',
      from: this.id,
      to,
      term: this.term,
      snapshot: snapshotMeta(snap),
      offset,
      totalBytes: snap.data.byteLength,
      data,
    };
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private bcastHeartbeat(): void {
    const last = this.pendingReads[this.pendingReads.length - 1];
    this.bcastHeartbeatWithContext(last?.context ?? null);
  }

  private bcastHeartbeatWithContext(context: string | null): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: 'MsgHeartbeat', from: this.id, to: id, term: this.term, commit, context });
    }
  }

  /** Commits the quorum-replicated index, but only through an entry of this term (§5.4.2, Figure 8). */
  maybeCommit(): boolean {
    // Joint consensus (§4.3): what a majority of each half holds, the lower of the two.
    const matchOf = (id: NodeId): number => this.prs.get(id)?.match ?? 0;
    const quorumIndex =
      this.bugs.jointCommitIncomingOnly === true
        ? majorityIndex(this.conf.voters, matchOf)
        : committedIndex(this.conf, matchOf);
    if (quorumIndex <= this.log.committed || !Number.isFinite(quorumIndex)) return false;
    if (this.log.term(quorumIndex) !== this.term && this.bugs.commitOldTermByCount !== true) return false;
    const before = this.log.committed;
    this.log.commitTo(quorumIndex);
    this.releaseUncommitted(before, quorumIndex);
    return true;
  }

  private releaseUncommitted(from: number, to: number): void {
    const ents = this.log.slice(from + 1, to + 1) ?? [];
    for (const e of ents) {
      if (e.term === this.term) this.uncommittedBytes = Math.max(0, this.uncommittedBytes - e.data.length);
    }
  }

  private appendEntries(ents: Entry[]): void {
    this.log.append(ents);
    this.noteConfEntries(ents);
    if (this.bugs.ackBeforePersist === true) {
      this.prs.get(this.id)?.maybeUpdate(this.log.lastIndex());
      this.maybeCommit();
    }
  }

  /** Called once this node's entries up to `index` are durable. */
  persistedTo(index: number): void {
    if (this.role !== StateRole.Leader) return;
    // A leader outside its configuration (handing over, see handOver) does not track, nor count, itself.
    const self = this.prs.get(this.id);
    if (self?.maybeUpdate(index) === true && this.maybeCommit()) this.bcastAppend();
  }

  // ---------------------------------------------------------------------------------------------------
  // Local requests

  /** Appends a command; returns its index and term. Throws a typed error when it cannot be accepted. */
  propose(data: Uint8Array): { index: number; term: number } {
    if (this.role !== StateRole.Leader) throw new NotLeaderError(this.lead);
    if (this.leadTransferee !== NONE) {
      throw new RaftError('LEADER_TRANSFER_IN_PROGRESS', `leadership is moving to node ${this.leadTransferee}`);
    }
    if (this.leavesVotersWithPendingConf()) {
      throw new RaftError(
        'LEADER_TRANSFER_IN_PROGRESS',
        `this leader leaves the voters with the conf change at index ${this.pendingConfIndex}; it hands over once that is applied`,
      );
    }
    if (data.length > this.limits.entryBytesMax) {
      throw new LimitExceededError('ENTRY_TOO_LARGE', this.limits.entryBytesMax, data.length);
    }
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.length > this.limits.uncommittedBytesMax) {
      throw new LimitExceededError(
        'UNCOMMITTED_LIMIT',
        this.limits.uncommittedBytesMax,
        this.uncommittedBytes + data.length,
      );
    }
    // Backpressure: when so many followers have a full inflight window that no quorum can take new
    // entries now, a proposal would only queue; refuse it instead.
    if (!hasQuorum(this.conf, (id) => !this.windowFull(id))) {
      const voters = this.conf.voters.length;
      const full = this.conf.voters.filter((id) => this.windowFull(id)).length;
      throw new LimitExceededError('INFLIGHT_LIMIT', voters - (Math.floor(voters / 2) + 1), full);
    }
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, kind: EntryKind.Command, data };
    this.uncommittedBytes += data.length;
    this.appendEntries([entry]);
    this.bcastAppend();
    return { index: entry.index, term: entry.term };
  }

  private windowFull(id: NodeId): boolean {
    const pr = this.prs.get(id);
    return id !== this.id && pr !== undefined && pr.state === ProgressState.Replicate && pr.inflights.full();
  }

  /**
   * Asks for a linearizable read point (Raft thesis §6.4). The answer arrives as a ReadState carrying
   * `context`; each call gets its own confirmation round, so an index is never reused across retries.
   */
  readIndex(context: string): void {
    if (this.pendingReads.some((r) => r.context === context)) {
      throw new RaftError('READ_CONTEXT_IN_USE', `read context ${context} is already pending`);
    }
    if (this.role === StateRole.Leader) {
      this.leaderReadIndex(context, this.id);
      return;
    }
    if (this.lead === NONE) throw new NotLeaderError(NONE);
    this.send({ type: 'MsgReadIndex', from: this.id, to: this.lead, term: this.term, context });
  }

  private leaderReadIndex(context: string, from: NodeId): void {
    if (this.log.term(this.log.committed) !== this.term) {
      // Until an entry of this term commits, the leader's commit index may be stale (thesis §6.4 step 1).
      this.answerRead(from, { context, status: 'rejected', reason: 'NOT_COMMITTED_IN_TERM' });
      return;
    }
    if (hasQuorum(this.conf, (id) => id === this.id)) {
      this.answerRead(from, { context, status: 'ok', index: this.log.committed });
      return;
    }
    this.pendingReads.push({ context, index: this.log.committed, from, acks: new Set([this.id]) });
    this.bcastHeartbeatWithContext(context);
  }

  private ackRead(from: NodeId, context: string): void {
    const at = this.pendingReads.findIndex((r) => r.context === context);
    if (at < 0) return;
    const req = this.pendingReads[at];
    assert(req !== undefined, 'pending read exists');
    req.acks.add(from);
    if (!hasQuorum(this.conf, (id) => req.acks.has(id))) return;
    // The heartbeat for this request went out after every earlier one: a quorum confirms them all.
    const released = this.pendingReads.splice(0, at + 1);
    for (const r of released) this.answerRead(r.from, { context: r.context, status: 'ok', index: r.index });
  }

  private answerRead(to: NodeId, state: ReadState): void {
    if (to === this.id) {
      this.readStates.push(state);
      return;
    }
    this.send({
      type: 'MsgReadIndexResp',
      from: this.id,
      to,
      term: this.term,
      context: state.context,
      index: state.status === 'ok' ? state.index : 0,
      reject: state.status !== 'ok',
      reason: state.status === 'ok' ? null : state.reason,
    });
  }

  private takePendingReads(): PendingRead[] {
    const pending = this.pendingReads;
    this.pendingReads = [];
    return pending;
  }

  /** Moves leadership to `to` (thesis §3.10). On a follower the request is forwarded to the leader. */
  transferLeader(to: NodeId): void {
    if (this.role !== StateRole.Leader) {
      if (this.lead === NONE) throw new NotLeaderError(NONE);
      this.send({ type: 'MsgTransferLeader', from: this.id, to: this.lead, term: this.term, transferee: to });
      return;
    }
    if (to === this.id) throw new RaftError('TRANSFER_REFUSED', 'cannot transfer leadership to itself');
    if (!this.prs.has(to)) throw new RaftError('TRANSFER_REFUSED', `node ${to} is not a member of this group`);
    if (!isVoter(this.conf, to)) throw new RaftError('TRANSFER_REFUSED', `node ${to} is a learner, not a voter`);
    this.tryTransferLeader(to);
  }

  private tryTransferLeader(to: NodeId): void {
    const pr = this.prs.get(to);
    if (to === this.id || pr === undefined || !isVoter(this.conf, to)) return;
    if (this.leadTransferee === to) return;
    this.abortLeaderTransfer();
    this.leadTransferee = to;
    this.electionElapsed = 0; // the transfer must finish within one election timeout
    if (pr.match === this.log.lastIndex()) {
      this.send({ type: 'MsgTimeoutNow', from: this.id, to, term: this.term });
    } else {
      this.sendAppend(to, true); // catch the target up first
    }
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ---------------------------------------------------------------------------------------------------
  // Membership (thesis ch. 4, etcd's ConfChangeV2). A change takes effect when the application applies its entry,
  // not when it is appended (etcd's choice, not the thesis's): the configuration in force is always a committed one,
  // so a leader that loses its term never leaves a half-made configuration behind, and a snapshot carries a
  // configuration that no truncation can undo. What makes this safe is that one change is in flight at a time
  // (pendingConfIndex) and a node does not campaign while a committed change is not applied yet (hup).

  /** Appends a conf entry; throws CONF_CHANGE_PENDING while one is in flight, CONF_CHANGE_INVALID for a bad change. */
  proposeConfChange(cc: ConfChangeV2): { index: number; term: number } {
    if (this.role !== StateRole.Leader) throw new NotLeaderError(this.lead);
    if (this.leadTransferee !== NONE) {
      throw new RaftError('LEADER_TRANSFER_IN_PROGRESS', `leadership is moving to node ${this.leadTransferee}`);
    }
    // Until this leader commits an entry of its term its commit index may lag what earlier leaders committed (a
    // new cluster's first leader has committed nothing), so "caught up" below would count an empty follower.
    if (this.log.term(this.log.committed) !== this.term) {
      throw new RaftError(
        'CONF_CHANGE_PENDING',
        `leader of term ${this.term} has not committed an entry of its term yet (commit ${this.log.committed})`,
      );
    }
    if (this.pendingConfIndex > this.confIndex) {
      throw new RaftError(
        'CONF_CHANGE_PENDING',
        `the conf change at index ${this.pendingConfIndex} is not applied yet (applied up to ${this.confIndex})`,
      );
    }
    // Validated against the configuration it will follow (throws ConfChangeInvalidError).
    const next = applyChange(this.conf, cc);
    // A configuration whose voters hold no caught-up majority could not commit anything until laggards (a node
    // partitioned away, one rebuilding a lost disk) catch up, perhaps never: refused (thesis §4.2.1's concern, and
    // the "a change that would leave a group unable to reach quorum"). Leaving a joint state needs no check:
    // its incoming half was checked when it was entered.
    if (cc.changes.length > 0 && !hasQuorum(next, (id) => this.caughtUp(id))) {
      const voters = [...next.voters, ...next.votersOutgoing].filter((id, i, all) => all.indexOf(id) === i);
      const behind = voters.filter((id) => !this.caughtUp(id));
      throw new ConfChangeInvalidError(
        `the new configuration could not reach a quorum: voters ${behind.join(', ')} are not caught up`,
      );
    }
    return this.appendConfEntry(cc);
  }

  /**
   * This leader, or a member whose log holds every committed entry (its acknowledged match). Strict on purpose: a
   * looser rule (any member streamed to and heard this round) let the simulator shrink a group onto a voter that
   * then could not be elected (README, known limits); a caller refused for a lag of a few entries tries again.
   */
  private caughtUp(id: NodeId): boolean {
    if (id === this.id) return true;
    const pr = this.prs.get(id);
    return pr !== undefined && pr.match >= this.log.committed;
  }

  private appendConfEntry(cc: ConfChangeV2): { index: number; term: number } {
    const data = encodeConfChange(cc);
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, kind: EntryKind.Conf, data };
    this.uncommittedBytes += data.length;
    this.appendEntries([entry]);
    this.pendingConfIndex = entry.index;
    this.bcastAppend();
    return { index: entry.index, term: entry.term };
  }

  /**
   * The application applied the committed conf entry at `index`: the configuration switches. Idempotent for an
   * entry already in the configuration (index ≤ confIndex: replayed after a restart, or covered by a snapshot).
   */
  applyConfChange(cc: ConfChangeV2, index: number): ConfState {
    if (index <= this.confIndex) return this.conf;
    assert(index <= this.log.committed, () => `conf entry ${index} applied beyond commit ${this.log.committed}`);
    // Validated when proposed against this same configuration (every node applies the same log prefix).
    this.switchToConfig(applyChange(this.conf, cc), index);
    return this.conf;
  }

  private switchToConfig(next: ConfState, index: number): void {
    this.conf = next;
    this.confIndex = index;
    const members = new Set(allMembers(next));
    const added: NodeId[] = [];
    for (const id of members) {
      if (this.prs.has(id)) continue;
      this.addProgress(id).recentActive = true; // not counted inactive by CheckQuorum before it could answer
      added.push(id);
    }
    for (const id of [...this.prs.keys()]) if (!members.has(id)) this.prs.delete(id);
    this.votes = new Map([...this.votes].filter(([id]) => members.has(id)));
    if (this.role !== StateRole.Leader) return;
    if (this.leadTransferee !== NONE && !isVoter(next, this.leadTransferee)) this.abortLeaderTransfer();
    // A smaller or different quorum may commit more at once (a shrink), and new members need their first append.
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of added) if (id !== this.id) this.sendAppend(id, true);
    if (!isVoter(next, this.id)) this.handOver();
  }

  /**
   * A leader outside the configuration it just applied leaves office (thesis §4.2.2: it managed the group until the
   * change committed) by handing leadership to the most caught-up voter of the new configuration, as a transfer
   * (§3.10): it takes no more proposals, keeps replicating until the heir holds its whole log, then tells it to
   * campaign, and becomes a follower when the heir's term arrives. Stepping down at once could strand the group:
   * entries it appended after the change, which no voter holds, would make every voter's log look stale to it, and
   * the voters that have not learned the change is committed still need its vote. Retried each election timeout
   * (tickHeartbeat) until a heir takes over; with no voter left to hear it, CheckQuorum ends it.
   */
  private handOver(): void {
    let heir: NodeId = NONE;
    let best = -1;
    for (const id of this.conf.voters) {
      const match = this.prs.get(id)?.match ?? 0;
      if (id !== this.id && match > best) [heir, best] = [id, match];
    }
    if (heir === NONE) {
      this.becomeFollower(this.term, NONE);
      return;
    }
    this.abortLeaderTransfer();
    this.tryTransferLeader(heir);
  }

  /**
   * An automatic joint configuration (ConfChangeV2 'auto' with several changes) is left by the leader as soon as it
   * is applied, and no change is pending (etcd's appliedTo). Called after every apply.
   */
  maybeAutoLeave(): void {
    if (this.role !== StateRole.Leader || !this.conf.autoLeave || !isJoint(this.conf)) return;
    if (this.pendingConfIndex > this.confIndex) return;
    this.appendConfEntry(LEAVE_JOINT);
  }

  /** A snapshot replaced our log: its configuration (if it carries one) replaces ours. */
  private restoreConf(meta: SnapshotMeta): void {
    this.lastConfInLog = 0;
    if (meta.confState === undefined) return;
    this.switchToConfig(meta.confState, Math.max(meta.confIndex ?? meta.index, this.confIndex));
  }

  private noteConfEntries(ents: readonly Entry[]): void {
    for (const e of ents) if (e.kind === EntryKind.Conf) this.lastConfInLog = Math.max(this.lastConfInLog, e.index);
  }

  /** The index of the newest conf entry in [lo, hi] of the log (entries compacted away are applied), or 0. */
  private newestConfEntry(lo: number, hi: number): number {
    if (this.lastConfInLog < lo) return 0;
    const ents = this.log.slice(Math.max(lo, this.log.firstIndex()), Math.min(hi, this.log.lastIndex()) + 1) ?? [];
    let newest = 0;
    for (const e of ents) if (e.kind === EntryKind.Conf) newest = e.index;
    return newest;
  }

  /**
   * Whether the conf entries of our log not applied yet take this leader out of the voters. It then appends no
   * command after them: its log must not outgrow the new voters', or once it applied the change and its hand-over
   * was lost, a new voter that has not learnt the change committed (and so still needs this node's vote) would be
   * refused by this longer log while this node, now a learner, never campaigns (etcd issue 12359's family).
   */
  private leavesVotersWithPendingConf(): boolean {
    if (this.pendingConfIndex <= this.confIndex) return false;
    const key = `${this.term}:${this.confIndex}:${this.pendingConfIndex}`;
    if (this.leavingChecked?.key === key) return this.leavingChecked.leaves;
    let conf = this.conf;
    const lo = Math.max(this.confIndex + 1, this.log.firstIndex());
    for (const e of this.log.slice(lo, this.pendingConfIndex + 1) ?? []) {
      if (e.kind === EntryKind.Conf) conf = applyChange(conf, decodeConfChange(e.data));
    }
    const leaves = !isVoter(conf, this.id);
    this.leavingChecked = { key, leaves };
    return leaves;
  }

  private hasUnappliedConfChanges(): boolean {
    return this.newestConfEntry(this.confIndex + 1, this.log.committed) > 0;
  }

  // ---------------------------------------------------------------------------------------------------
  // Snapshots handed in by the application

  /**
   * The application took a snapshot of its state machine at `index` (≤ applied). The log is compacted up to
   * `compactTo` (≤ index), keeping a tail for followers that are only slightly behind. Followers waiting for a
   * snapshot (see `snapshotWanted`) start receiving this one.
   */
  compact(index: number, data: SnapshotData, compactTo: number): Snapshot {
    assert(index <= this.log.applied, () => `snapshot at ${index} beyond applied ${this.log.applied}`);
    assert(compactTo <= index, 'compaction must stay behind the snapshot');
    const term = this.log.term(index);
    assert(term !== undefined, () => `snapshot index ${index} is not in the log`);
    // The configuration in force goes with it: that of the newest applied conf entry, which may be past `index`
    // (a snapshot built from an older read view); its confIndex says so, and the receiver skips that entry.
    const snapshot: Snapshot = { index, term, data, confState: this.conf, confIndex: this.confIndex };
    if (this.log.snapshot === undefined || this.log.snapshot.index < index) this.log.snapshot = snapshot;
    this.log.compact(compactTo);
    this.snapshotWanted = false;
    if (this.role === StateRole.Leader) {
      for (const [id, pr] of this.prs) {
        if (id !== this.id && pr.state === ProgressState.Snapshot && pr.pendingSnapshot === 0)
          this.sendSnapshotChunk(id, pr);
      }
    }
    return snapshot;
  }

  /**
   * Compacts the log up to `compactTo` (≤ applied) without a snapshot: the application's durable state at or
   * past `compactTo` is the snapshot, built only when a follower needs one. A held snapshot left behind the
   * new offset could no longer catch anyone up, and is dropped.
   */
  compactLog(compactTo: number): void {
    this.log.compact(compactTo);
    if (this.log.snapshot !== undefined && !this.sendableSnapshot()) this.log.snapshot = undefined;
  }

  /**
   * The lowest index a compaction may reach without overtaking a snapshot transfer in progress: compacting past
   * it would leave the follower, once installed, behind the log again, and so on for ever under load.
   */
  compactionFloor(): number {
    let floor = Infinity;
    if (this.role !== StateRole.Leader) return floor;
    for (const [id, pr] of this.prs) {
      if (id !== this.id && pr.state === ProgressState.Snapshot && pr.pendingSnapshot > 0)
        floor = Math.min(floor, pr.pendingSnapshot);
    }
    return floor;
  }

  /** Drops the held snapshot's bytes when no transfer uses them (they are rebuilt if a follower needs them). */
  releaseSnapshot(): boolean {
    if (this.log.snapshot === undefined) return false;
    if (this.role === StateRole.Leader) {
      for (const [id, pr] of this.prs) if (id !== this.id && pr.state === ProgressState.Snapshot) return false;
    }
    this.log.snapshot = undefined;
    return true;
  }

  // ---------------------------------------------------------------------------------------------------

  private send(m: Message): void {
    this.msgs.push(m);
  }

  /** Acknowledgements must wait until what they acknowledge is durable. */
  private sendAck(m: Message): void {
    if (this.bugs.ackBeforePersist === true) this.msgs.push(m);
    else this.msgsAfterPersist.push(m);
  }
}

const EMPTY = new Uint8Array(0);

/** Messages only a leader sends: heard even from a node outside our configuration (see step). */
function isLeaderMessage(m: Message): boolean {
  return m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap' || m.type === 'MsgTimeoutNow';
}

function snapshotMeta(snap: Snapshot): SnapshotMeta {
  const meta = { index: snap.index, term: snap.term };
  if (snap.confState === undefined) return meta;
  return { ...meta, confState: snap.confState, confIndex: snap.confIndex ?? snap.index };
}

/** Payload bytes a message carries, as the message-size limit counts them. */
function messageBytes(m: Message): number {
  if (m.type === 'MsgApp') return m.entries.reduce((n, e) => n + entrySizeBytes(e), 0);
  if (m.type === 'MsgSnap') return m.data.length;
  return 0;
}
