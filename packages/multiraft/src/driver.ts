/**
 * RaftDriver: the driver of every Raft group one node hosts — the one piece of code that runs them, in the node
 * process (RaftManager: SQLite log store, WebSocket transport, real timers) and in the simulator (packages/sim:
 * a simulated disk, network and clock) alike. Its I/O is injected (DriverIo), so it is deterministic given its
 * inputs: the same deliveries, ticks, timer firings and write completions in the same order give the same sends,
 * writes and answers.
 *
 * One timer tick (`tick`) drives every group, and one driver turn (DESIGN.md §6) does, in this order:
 *   1. ask the core for the read index of each open ReadIndex round;
 *   2. step the envelopes that arrived since the last turn (`deliver` only enqueues), in arrival order, stopping
 *      after stepBytesPerTurnMax of entries and snapshot chunks (the rest waits for the next turn, which then comes
 *      at once): what a turn must write and fsync stays bounded however far a follower is behind;
 *   3. collect every group's Ready; send the messages that may leave before the write (coalescing heartbeats per
 *      peer, deferring context-free heartbeat answers until something goes the same way);
 *   4. write all of them at once (one fsync covers every group). The write may complete later (the simulator's
 *      disk, the node's log worker): until it does the node is blocked — no tick, no turn — except that committed
 *      entries that were already durable here are applied meanwhile, so their answers need not wait for the fsync;
 *   5. send what waited for the write, install snapshots, queue committed entries, advance, answer read states;
 * and after the rounds: apply what may be applied (canApply) — in batches of applyBatchBytesMax, the groups taken
 * round robin from a different one each turn, until applyMsPerTurnMax has passed — compact logs past the entry or
 * byte threshold (up to what the state machine made durable: it is the snapshot, no bytes are kept), build a
 * snapshot for a group whose core wants one for a lagging follower, and announce leadership changes. Proposals (forwarded to the leader when this node is not it, and
 * answered only once applied here), ReadIndex reads batched per turn, and leadership transfers wait on promises
 * with deadlines on the injected clock. Beside the turn, on its own timer, the leader balance (balance.ts) hands
 * groups this node leads beyond its share to the peers that lead the fewest.
 */
import { EventEmitter } from 'node:events';
import type { Envelope } from '@kalam/transport';
import type { GroupLogState, GroupWrite } from '@kalam/log-store';
import type {
  ConfChangeV2,
  ConfState,
  Message,
  MsgSnap,
  NodeId,
  PlantedBugs,
  RaftLimits,
  Ready,
  SnapshotData,
  StateRole,
} from '@kalam/raft';
import { NONE, NotLeaderError, Prng, RaftError, RawNode, allMembers, allVoters, isJoint, isVoter } from '@kalam/raft';
import { planLeaderMoves } from './balance.js';
import type { MovableGroup } from './balance.js';
import type { GroupSpec, LeaderBalanceOptions, ResolvedTicks } from './config.js';
import { DriverTimingRecorder } from './driver-timing.js';
import type { DriverTiming } from './driver-timing.js';
import { MultiRaftError, fromRemote } from './errors.js';
import { GroupRuntime } from './group.js';
import type { ReadBatch } from './group.js';
import { MULTIRAFT_LIMITS } from './limits.js';
import { SnapshotLifetimes } from './snapshot-lifetimes.js';
import type { DriverSnapshotFiles } from './snapshot-lifetimes.js';
import { COALESCED_GROUP, coalesce, expand, validateMessage } from './wire.js';

export interface LeaderChange {
  readonly groupId: number;
  readonly name: string;
  /** The leader now known, or null. */
  readonly leader: NodeId | null;
  readonly term: number;
  /** This node leads the group now. */
  readonly isLocal: boolean;
}

export interface PeerProgress {
  readonly nodeId: NodeId;
  readonly match: number;
  readonly next: number;
  readonly state: string;
}

export interface GroupStatusReport {
  readonly groupId: number;
  readonly name: string;
  readonly role: StateRole;
  readonly term: number;
  readonly leader: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  /** This node lost its log (an empty disk) and votes for nobody until a leader has caught it up. */
  readonly recovering: boolean;
  /** Filled on the leader: each peer's match index. */
  readonly peers: readonly PeerProgress[];
  /** The configuration in force here: its voters (the incoming half while joint) and learners. */
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Only while joint: the outgoing voters (a membership change in progress). */
  readonly votersOutgoing?: readonly NodeId[];
}

export interface ManagerStats {
  turns: number;
  writes: number;
  entriesWritten: number;
  envelopesIn: number;
  envelopesDropped: number;
  /** Envelopes not sent: addressed to a node the transport does not know (DriverNetwork.knowsPeer). */
  envelopesUnroutable: number;
  proposals: number;
  forwardedProposals: number;
  reads: number;
  /** ReadIndex rounds asked of the core: concurrent reads of a group share one. */
  readRounds: number;
  /** Snapshots built for followers behind a group's compacted log, and their bytes. */
  snapshotsTaken: number;
  snapshotBytesTaken: number;
  /**
   * Snapshot transfers this node sent to the end (the last chunk handed to the network), and the bytes of every
   * chunk it sent (a chunk sent again after a lost answer counts again).
   */
  snapshotsSent: number;
  snapshotBytesSent: number;
  /** Snapshots received and installed into a state machine, and their bytes. */
  snapshotsInstalled: number;
  snapshotBytesInstalled: number;
  /** Log compactions (each up to the state machine's durable index). */
  logCompactions: number;
  leaderChanges: number;
  /** Leadership transfers the leader balance started, and those of them that failed. */
  balanceTransfers: number;
  balanceTransfersFailed: number;
}

interface Inbound {
  readonly from: NodeId;
  readonly env: Envelope;
}

export interface ProposeOptions {
  readonly timeoutMs?: number;
}

/**
 * The node's durable Raft state (raft.db in a node, a disk image in the simulator). `write` makes every group's
 * writes of one turn durable together and calls `done` once they are: a node's log store before it returns, the
 * simulator's disk when its fsync completes (a crash before that loses them).
 */
export interface DriverStorage {
  load(groupId: number): GroupLogState;
  write(writes: readonly GroupWrite[], done: () => void): void;
  /** Deletes the group's entries ≤ offsetIndex (the state machine made them durable); no snapshot is stored. */
  compactLog(groupId: number, offsetIndex: number, offsetTerm: number): void;
}

/** The links to the other nodes: envelopes out, request/response calls (forwarded proposals), link state. */
export interface DriverNetwork {
  send(env: Envelope): void;
  /** The sends of one turn phase are done (the transport writes its frames now). */
  flush(): void;
  request(to: NodeId, method: string, body: unknown, timeoutMs: number): Promise<unknown>;
  peerConnected(id: NodeId): boolean;
  /**
   * Whether the transport has `id` as a peer at all. A group's configuration may name a node the transport does
   * not know yet (a member added before its address reached this node): what would go to it is dropped, as a lost
   * message would be. Absent: every peer is known (the simulator).
   */
  knowsPeer?(id: NodeId): boolean;
}

/** Time: a monotonic clock in ms, timers, and "soon" (after the current event: setImmediate in a node). */
export interface DriverClock {
  now(): number;
  /** Calls `fn` after `ms`; returns what cancels it. */
  after(ms: number, fn: () => void): () => void;
  soon(fn: () => void): void;
}

/**
 * TEST ONLY: misbehaviours the simulator's planted-bug tests switch on (`kalam sim --list-bugs`), each to prove a
 * checker catches it. Options, never read from the environment.
 */
export interface DriverBugs {
  /** Sends the messages that must wait for the write (votes, append acks) before it is durable. */
  readonly ackBeforeWrite?: boolean;
  /** Answers a read as soon as its read index is known, without waiting until it is applied here. */
  readonly readBeforeApplied?: boolean;
  /** Boots without restoring the state machine from the stored snapshot. */
  readonly skipRestoreOnBoot?: boolean;
  /** A leader appends a forwarded proposal twice. */
  readonly applyForwardedTwice?: boolean;
  /** A read joins the round of its group even after the core was asked (its index may predate the read). */
  readonly joinAskedReadRound?: boolean;
}

export interface DriverOptions {
  readonly nodeId: NodeId;
  /**
   * The groups' founding voters: their configuration before any membership change (raft.db's stored one, if any,
   * wins). This node need not be one of them: a node added later hosts its groups as learners-in-waiting until the
   * leader's log or snapshot names it.
   */
  readonly voters: readonly NodeId[];
  readonly groups: readonly GroupSpec[];
  readonly ticks: ResolvedTicks;
  readonly storage: DriverStorage;
  readonly network: DriverNetwork;
  readonly clock: DriverClock;
  /** Compact a group's log every this many applied entries; 1000 by default. */
  readonly snapshotThreshold?: number;
  /** Entries kept in the log behind a compaction; min(200, threshold / 2) by default. */
  readonly snapshotKeepEntries?: number;
  /**
   * Bytes of log a group may hold in memory (entrySizeBytes of its entries) before it is compacted, down to half of
   * this, whatever the entry threshold; MULTIRAFT_LIMITS.logBytesMaxDefault by default. Entries not yet durable in
   * the state machine, and those a snapshot transfer still needs, are kept even past it.
   */
  readonly logBytesMax?: number;
  readonly limits?: Partial<RaftLimits>;
  /** Seeds the cores' election jitter (a fixed seed makes a test or a simulation repeatable). */
  readonly seed: number;
  /** Give a node that starts with no durable state one election-timeout range before it grants votes. */
  readonly freshStartVoteAbstain?: boolean;
  /**
   * Default true: when the whole disk is empty (no group has any durable state), every group of several members
   * recovers before it votes (Raft.recovering in @kalam/raft): a lost disk cannot make a stale node leader.
   * False only in tests.
   */
  readonly recoverWhenEmpty?: boolean;
  /** Leader balance (balance.ts); off when absent or its interval is 0. */
  readonly leaderBalance?: LeaderBalanceOptions;
  readonly bugs?: DriverBugs;
  /**
   * A tick that comes while a write is in flight is owed and runs as soon as the write is durable, before the next
   * write can begin (a node whose log worker writes most of the time would otherwise seldom tick: no heartbeats,
   * elections). Without it the tick is missed, as the simulator models a node blocked in fsync.
   */
  readonly deferTicksDuringWrite?: boolean;
  /** TEST ONLY: bugs planted in every group's core (the simulator's planted-bug tests). */
  readonly coreBugs?: PlantedBugs;
  /**
   * Bytes of a snapshot installed per driver turn (StateMachine.installer: a piece, one data.db transaction, at least
   * one record); MULTIRAFT_LIMITS.installBytesPerTurnMax by default. The simulator sets it small, so that installs
   * span many events and its crashes land between pieces.
   */
  readonly installBytesPerTurn?: number;
  /**
   * Where snapshots live beyond memory (a node: files beside raft.db, written as chunks arrive and deleted when
   * nothing uses them, snapshot-lifetimes.ts; the simulator: in-memory files). Absent: in memory (tests).
   */
  readonly snapshotFiles?: DriverSnapshotFiles;
  /**
   * Told how long each apply batch took (RaftObserver.applied: the node's metrics). Absent — the simulator — the
   * driver does not read the clock for it.
   */
  readonly onApplied?: (entries: number, ms: number) => void;
  /**
   * Runs a turn's applies, every group's, as one unit. A node whose groups share one data.db passes its store's
   * transaction: one commit per turn instead of one per group with entries (each group's slice a savepoint inside).
   * It changes no durable state a crash can reach: data.db is made durable only by the sync after the applies, and
   * anything thrown by an apply stops the node. Absent: each group's apply commits on its own.
   */
  readonly applyScope?: (applies: () => void) => void;
}

export class RaftDriver {
  readonly nodeId: NodeId;
  readonly events = new EventEmitter<{ leaderChange: [LeaderChange] }>();
  readonly stats: ManagerStats = {
    turns: 0,
    writes: 0,
    entriesWritten: 0,
    envelopesIn: 0,
    envelopesDropped: 0,
    envelopesUnroutable: 0,
    proposals: 0,
    forwardedProposals: 0,
    reads: 0,
    readRounds: 0,
    snapshotsTaken: 0,
    snapshotBytesTaken: 0,
    snapshotsSent: 0,
    snapshotBytesSent: 0,
    snapshotsInstalled: 0,
    snapshotBytesInstalled: 0,
    logCompactions: 0,
    leaderChanges: 0,
    balanceTransfers: 0,
    balanceTransfersFailed: 0,
  };
  private readonly groups = new Map<number, GroupRuntime>();
  private readonly groupList: GroupRuntime[] = [];
  private inbox: Inbound[] = [];
  /**
   * Context-free heartbeat answers wait here for the next frame this node sends to the same peer anyway
   * (its own heartbeats, appends, answers), or for the next tick at the latest. Between three nodes that
   * each lead some groups this halves the idle frames: the answers ride with the heartbeats going the other
   * way. The leader uses them only for CheckQuorum activity and to resume a paused follower, both of which
   * tolerate one tick of delay; answers that confirm a ReadIndex carry a context and are never deferred.
   */
  private deferredAnswers: { groupId: number; msg: Message }[] = [];
  /** Groups with an open ReadIndex round to ask the core for in the next turn. */
  private readBatchesToAsk: GroupRuntime[] = [];
  private turnScheduled = false;
  /** A tick that came during a write, to run once it is durable (deferTicksDuringWrite). */
  private tickOwed = false;
  /** A write of this turn's Readys not durable yet: the node is blocked until it is (no tick, no turn). */
  private writing: { readonly readies: readonly [GroupRuntime, Ready][] } | undefined;
  /** Writes begun, and the newest known durable (numbers, for SnapshotLifetimes: raft.db ops keep their order). */
  private writeSeq = 0;
  private durableWriteSeq = 0;
  /**
   * What arrived while a write was in progress and would change a core (a proposal, a transfer, a lost link): it
   * runs once the write has completed and its turn has finished, as callbacks queued behind an event loop that
   * is inside fsync run after it. (A node's log store writes synchronously, so there it never waits.)
   */
  private afterWrite: (() => void)[] = [];
  /** The group the next turn's apply starts from (round robin, so a busy group cannot starve the others). */
  private applyCursor = 0;
  private stopping = false;
  private stopped = false;
  /**
   * Handing over every group to stop (transferAllLeadership): the balance moves nothing, and this node refuses
   * leadership offered to it (MsgTimeoutNow), or a peer's balance could hand a group back to a node about to exit.
   */
  private draining = false;
  private readonly balance: LeaderBalanceOptions | undefined;
  private cancelBalanceRound: (() => void) | undefined;
  /** Balancing transfers not settled yet: a round starts none while any is. */
  private balanceInFlight = 0;
  /**
   * Group id, and peer node id, → the time before which the balance leaves it alone: a group whose transfer failed
   * stays where it is, and its target is offered nothing (it may be draining, or cut off one way).
   */
  private readonly balanceCooldownUntil = new Map<number, number>();
  private readonly balancePeerCooldownUntil = new Map<NodeId, number>();
  private readCounter = 0;
  /** Which voter a node outside a group's configuration asks next for its leader (leaderToAsk). */
  private askRotation = 0;
  private readonly ticks: ResolvedTicks;
  private readonly storage: DriverStorage;
  private readonly network: DriverNetwork;
  private readonly clock: DriverClock;
  private readonly bugs: DriverBugs;
  private readonly snapshotThreshold: number;
  private readonly snapshotKeep: number;
  private readonly logBytesMax: number;
  private readonly installBytesPerTurn: number;
  /** Cancels the timer of the next install piece's turn, while one is set. */
  private installTimer: (() => void) | undefined;
  private readonly timing: DriverTimingRecorder;
  /** Time spent applying and writing the log in the turn under way (ms), for the driver-timing figures. */
  private turnApplyMs = 0;
  private turnPersistMs = 0;
  /** How long a proposal waits for a group that just lost its leader to elect the next one. */
  private readonly electionGraceMs: number;
  /** How long a ReadIndex round may go unanswered before it is asked again: five heartbeat intervals. */
  private readonly readRetryMs: number;
  /** How long a proposal refused by a transfer in progress waits before it asks again: two heartbeat intervals. */
  private readonly transferRetryMs: number;

  constructor(private readonly opts: DriverOptions) {
    this.nodeId = opts.nodeId;
    this.ticks = opts.ticks;
    this.storage = opts.storage;
    this.network = opts.network;
    this.clock = opts.clock;
    this.bugs = opts.bugs ?? {};
    this.snapshotThreshold = opts.snapshotThreshold ?? 1000;
    this.snapshotKeep = opts.snapshotKeepEntries ?? Math.min(200, Math.floor(this.snapshotThreshold / 2));
    this.logBytesMax = opts.logBytesMax ?? MULTIRAFT_LIMITS.logBytesMaxDefault;
    this.installBytesPerTurn = opts.installBytesPerTurn ?? MULTIRAFT_LIMITS.installBytesPerTurnMax;
    if (!Number.isSafeInteger(this.installBytesPerTurn) || this.installBytesPerTurn < 1)
      throw new RangeError(`installBytesPerTurn must be a positive integer, got ${this.installBytesPerTurn}`);
    if (!Number.isSafeInteger(this.logBytesMax) || this.logBytesMax < 1)
      throw new RangeError(`logBytesMax must be a positive integer, got ${this.logBytesMax}`);
    this.electionGraceMs = 2 * opts.ticks.electionTickMax * opts.ticks.tickMs;
    this.readRetryMs = 5 * opts.ticks.heartbeatTick * opts.ticks.tickMs;
    this.transferRetryMs = 2 * opts.ticks.heartbeatTick * opts.ticks.tickMs;
    this.timing = new DriverTimingRecorder(opts.ticks.tickMs, opts.ticks.heartbeatTick * opts.ticks.tickMs);
    // Every waiting read and proposal listens for leadership changes while it waits (and stops after).
    this.events.setMaxListeners(MULTIRAFT_LIMITS.pendingProposalsMax);
    this.balance = checkBalance(opts.leaderBalance);
    this.recoverGroups();
    this.scheduleBalanceRound();
  }

  /** Every group from its durable state: the state machine restored from the stored snapshot, the core rebuilt. */
  private recoverGroups(): void {
    const voters = this.opts.voters;
    const prng = new Prng(this.opts.seed);
    const states = new Map(this.opts.groups.map((spec) => [spec.id, this.storage.load(spec.id)]));
    // A disk with nothing for any group is a new node's or a lost one (a node that ever ran holds some term in
    // its meta groups at least); a single group without state on a disk with others' is only a quiet group.
    const diskEmpty = [...states.values()].every(
      (s) => s.hardState.term === 0 && s.entries.length === 0 && s.snapshot === undefined && s.offsetIndex === 0,
    );
    for (const spec of this.opts.groups) {
      const state = states.get(spec.id)!;
      const snap = state.snapshot;
      // An install cut short by a crash is redone from the snapshot raft.db names (stored before the install began,
      // and named until a sync covers it); the state machine's applied index is then the old state's.
      const pending = spec.stateMachine.installPending?.();
      const snapshotGone = pending !== undefined && (snap === undefined || snap.index < pending.index);
      if (snapshotGone && this.bugs.skipRestoreOnBoot !== true) {
        throw new MultiRaftError(
          'LOG_CORRUPT',
          `group ${spec.name}: data.db holds a snapshot install begun at index ${pending.index} (term ${pending.term}) ` +
            `and not finished, but raft.db names ${snap === undefined ? 'no snapshot' : `only the snapshot at ${snap.index}`}` +
            ' to finish it from: the group would serve a half-installed state. ' +
            "Wipe this node's data folder (kalam node wipe) and let it rejoin the cluster by snapshot.",
          { groupId: spec.id },
        );
      }
      const restore = snap !== undefined && (pending !== undefined || spec.stateMachine.appliedIndex() < snap.index);
      if (restore && this.bugs.skipRestoreOnBoot !== true) spec.stateMachine.restore(snap);
      if (spec.stateMachine.appliedIndex() < state.offsetIndex && this.bugs.skipRestoreOnBoot !== true) {
        // The log was compacted up to what the state machine had made durable (sync), so it cannot be behind
        // unless its store lost data: the entries in between exist nowhere on this node.
        throw new MultiRaftError(
          'STATE_BEHIND_LOG',
          `group ${spec.name}: the state machine has applied up to ${spec.stateMachine.appliedIndex()}, but the ` +
            `Raft log was compacted up to ${state.offsetIndex}: the state store lost data it had made durable. ` +
            "Wipe this node's data folder (kalam node wipe) and let it rejoin the cluster by snapshot.",
          { groupId: spec.id },
        );
      }
      // The state machine applies only committed entries, and only once they are durable in this log: its applied
      // index is a durable record of a commit that raft.db may lack (a commit change alone is not fsynced). The core
      // starts committed that far — else a restarted leader whose state machine is ahead could neither build a
      // snapshot at its state (beyond the core's applied index) nor commit without followers that need one.
      const lastIndex = state.entries.at(-1)?.index ?? Math.max(state.offsetIndex, snap?.index ?? 0);
      const files = this.opts.snapshotFiles;
      const snapshotFiles = files !== undefined ? new SnapshotLifetimes(files, snap) : undefined;
      const commit = Math.max(state.hardState.commit, Math.min(spec.stateMachine.appliedIndex(), lastIndex));
      const raw = new RawNode({
        id: this.nodeId,
        voters,
        electionTick: this.ticks.electionTick,
        electionTickMax: this.ticks.electionTickMax,
        heartbeatTick: this.ticks.heartbeatTick,
        preVote: true,
        checkQuorum: true,
        random: prng.fork(),
        // A node that comes back with a wiped data folder forgot its votes: it sits out one whole
        // election-timeout range before granting any.
        ...(this.opts.freshStartVoteAbstain !== false
          ? { freshStartVoteAbstainTicks: this.ticks.electionTickMax }
          : {}),
        // A node that starts with an empty raft.db may have lost its disk: it votes again once caught up.
        recoverWhenEmpty: diskEmpty && this.opts.recoverWhenEmpty !== false,
        ...(this.opts.limits !== undefined ? { limits: this.opts.limits } : {}),
        ...(this.opts.coreBugs !== undefined ? { plantedBugs: this.opts.coreBugs } : {}),
        ...(snapshotFiles !== undefined ? { snapshotSink: snapshotFiles.sink(spec.id) } : {}),
        restore: {
          hardState: { ...state.hardState, commit },
          ...(snap !== undefined ? { snapshot: snap } : {}),
          offsetIndex: state.offsetIndex,
          offsetTerm: state.offsetTerm,
          entries: state.entries,
          applied: Math.min(spec.stateMachine.appliedIndex(), commit),
          ...(state.conf !== undefined ? { confState: state.conf.state, confIndex: state.conf.index } : {}),
        },
      });
      const g = new GroupRuntime(spec.id, spec.name, raw, spec.stateMachine, snap?.index ?? 0);
      g.snapshotFiles = snapshotFiles;
      this.groups.set(spec.id, g);
      this.groupList.push(g);
    }
    // A single member leads at once.
    for (const g of this.groupList) if (soleVoter(g.raw.confState(), this.nodeId)) g.raw.campaign();
  }

  // -------------------------------------------------------------------------------------------------
  // Inputs: envelopes, ticks, link changes

  /** Envelopes from a peer (a socket callback): queued for the next turn. */
  deliver(from: NodeId, envs: readonly Envelope[]): void {
    if (this.stopped) return;
    if (this.inbox.length + envs.length > MULTIRAFT_LIMITS.inboxEnvelopesMax) {
      this.stats.envelopesDropped += envs.length;
      return;
    }
    for (const env of envs) this.inbox.push({ from, env });
    this.scheduleTurn();
  }

  /** The timer fired: every group ticks, then a turn; answers deferred all tick long leave now. */
  tick(): void {
    if (this.stopped) return;
    if (this.writing !== undefined) {
      // Blocked in a write: the tick is owed (deferTicksDuringWrite) or missed, as in an event loop inside fsync.
      if (this.opts.deferTicksDuringWrite === true) this.tickOwed = true;
      return;
    }
    this.tickGroups();
    this.turn();
    if (this.deferredAnswers.length > 0 && this.writing === undefined) {
      const answers = this.deferredAnswers;
      this.deferredAnswers = [];
      this.sendNow(answers);
    }
  }

  private tickGroups(): void {
    this.tickOwed = false;
    this.timing.tick(this.clock.now());
    for (const g of this.groupList) g.raw.tick();
  }

  /** A link to a peer came up or went down. */
  onPeerStatus(peer: NodeId, status: 'connected' | 'disconnected'): void {
    if (status !== 'disconnected' || this.stopped) return;
    if (this.writing !== undefined) {
      this.afterWrite.push(() => this.onPeerStatus(peer, status));
      return;
    }
    // The link to that node broke: groups it led forget it, so a new leader is elected without waiting
    // out a whole election timeout (only liveness depends on this; safety never does).
    for (const g of this.groupList) if (g.raw.leader() === peer && !g.isLeader()) g.raw.forgetLeader();
  }

  private scheduleTurn(): void {
    if (this.turnScheduled || this.stopped) return;
    this.turnScheduled = true;
    this.clock.soon(() => {
      this.turnScheduled = false;
      this.turn();
    });
  }

  // -------------------------------------------------------------------------------------------------
  // The turn

  private turn(): void {
    if (this.stopped || this.writing !== undefined) return;
    const startedAt = this.clock.now();
    this.turnApplyMs = 0;
    this.turnPersistMs = 0;
    this.stats.turns++;
    this.askReadBatches();
    this.stepInbox();
    if (!this.rounds()) return; // blocked in a write: the rest of the turn runs when it completes
    this.finishTurn(startedAt);
  }

  /**
   * Ready rounds until none is left (bounded): false when a write is still in progress, in which case `persisted`
   * finishes the round and goes on.
   */
  private rounds(): boolean {
    for (let round = 0; round < MULTIRAFT_LIMITS.drainRoundsMax; round++) {
      const readies: [GroupRuntime, Ready][] = [];
      for (const g of this.groupList) {
        if (!g.raw.hasReady()) continue;
        const rd = g.raw.ready();
        g.snapshotFiles?.handedOut(rd.snapshot?.data);
        readies.push([g, rd]);
      }
      if (readies.length === 0) break;
      // Messages that may leave before the write go first, so followers write while the leader does.
      this.send(readies, 'before-persist');
      if (this.bugs.ackBeforeWrite === true) this.send(readies, 'after-persist');
      // Committed entries that were durable here before this round may be applied while its write is in flight.
      for (const [g, rd] of readies)
        for (const e of rd.committedEntries.slice(0, durableCommitted(rd))) g.applyQueue.push(e);
      if (!this.persist(readies)) {
        this.applyWhileWriting();
        return false;
      }
      this.completeRound(readies);
    }
    return true;
  }

  /** The write of a round is durable: what waited for it leaves, snapshots install, entries queue, the core advances. */
  private completeRound(readies: readonly [GroupRuntime, Ready][]): void {
    if (this.bugs.ackBeforeWrite !== true) this.send(readies, 'after-persist');
    for (const [g, rd] of readies) {
      if (rd.snapshot !== undefined) {
        g.snapshotFiles?.stored(rd.snapshot);
        g.installSnapshot(rd.snapshot);
        if (!g.installing()) this.countInstalled(rd.snapshot.data.byteLength); // else when its last piece is in
      }
      for (const e of rd.committedEntries.slice(durableCommitted(rd))) g.applyQueue.push(e);
      g.raw.advance(rd);
      for (const rs of rd.readStates) g.onReadState(rs);
    }
  }

  private finishTurn(startedAt: number): void {
    const applyStartedAt = this.clock.now();
    this.applySlice();
    const endedAt = this.clock.now();
    this.turnApplyMs += endedAt - applyStartedAt;
    this.timing.turnDone(endedAt - startedAt, this.turnApplyMs, this.turnPersistMs);
    // Work left that waits for nothing but this node: another turn at once (after the timers due). A group paused
    // for another group's index (canApply) is looked at again when that group applies or at the next tick.
    const more = this.inbox.length > 0 || this.readBatchesToAsk.length > 0;
    if (more || this.groupList.some((g) => g.raw.hasReady() || g.canApplyNext())) this.scheduleTurn();
  }

  /**
   * Applies committed entries for up to applyMsPerTurnMax (at least one batch), the groups taken round robin from a
   * different one each turn; then snapshots and announces leadership changes.
   */
  private applySlice(): void {
    this.stepInstall();
    const deadline = this.clock.now() + MULTIRAFT_LIMITS.applyMsPerTurnMax;
    const count = this.groupList.length;
    this.inApplyScope(() => {
      for (let k = 0; k < count; k++) {
        const g = this.groupList[(this.applyCursor + k) % count]!;
        while (this.clock.now() < deadline && this.applyBatch(g));
      }
    });
    // Outside the scope: leadership listeners (a job manager's abort, …) run with no data.db transaction open.
    for (let k = 0; k < count; k++) this.announceLeadership(this.groupList[(this.applyCursor + k) % count]!);
    this.applyCursor = (this.applyCursor + 1) % Math.max(1, count);
    // After every apply of the turn: a store shared by the groups makes them all durable with the first sync.
    const snapshotDeadline = this.clock.now() + MULTIRAFT_LIMITS.snapshotMsPerTurnMax;
    for (const g of this.groupList) this.maintainLog(g, snapshotDeadline);
  }

  /**
   * One piece of the first snapshot install under way (installBytesPerTurn of it): the rest waits for the next
   * turns, which come at once but after the timers due — a shard of a gigabyte installed in one call held every
   * other group of the node (no ticks, no heartbeats) for over a minute (issue [M8] §3). One piece per turn over
   * all groups: a wiped node installing 36 snapshots finishes them one after another, each turn still short.
   */
  private stepInstall(): void {
    const g = this.groupList.find((x) => x.installing());
    if (g === undefined) return;
    const bytes = g.installingData()?.byteLength ?? 0;
    if (g.stepInstall(this.installBytesPerTurn)) this.countInstalled(bytes);
    // The next piece comes in a turn of its own on a timer, behind the timers and I/O due: in the simulator that is a
    // moment of simulated time, so its faults (a crash) land between two pieces as they can in a node.
    if (this.installTimer === undefined && this.groupList.some((x) => x.installing())) {
      this.installTimer = this.clock.after(MULTIRAFT_LIMITS.installPauseMs, () => {
        this.installTimer = undefined;
        this.turn();
      });
    }
  }

  /**
   * While a write is in flight (the log worker's, the simulator's disk), applies what is queued — only entries that
   * were durable here before the write began (durableCommitted, or queued by an earlier round) — so their answers
   * leave during the fsync instead of after it. Bounded like a turn's apply; no snapshot is taken and nothing else
   * touches a core, since a Ready is outstanding.
   */
  private applyWhileWriting(): void {
    const startedAt = this.clock.now();
    const deadline = startedAt + MULTIRAFT_LIMITS.applyMsPerTurnMax;
    this.inApplyScope(() => {
      for (const g of this.groupList) {
        while (this.clock.now() < deadline && this.applyBatch(g));
      }
    });
    this.turnApplyMs += this.clock.now() - startedAt;
  }

  /** Runs `applies` in the node's applyScope when one is given and some group has entries queued. */
  private inApplyScope(applies: () => void): void {
    const scope = this.opts.applyScope;
    if (scope !== undefined && this.groupList.some((g) => g.applyQueue.length > 0)) scope(applies);
    else applies();
  }

  /** One apply batch of the group (drainApplyQueue); true when it applied something. Timed only for onApplied. */
  private applyBatch(g: GroupRuntime): boolean {
    const onApplied = this.opts.onApplied;
    if (onApplied === undefined) return g.drainApplyQueue(MULTIRAFT_LIMITS.applyBatchBytesMax).entries > 0;
    const startedAt = this.clock.now();
    const entries = g.drainApplyQueue(MULTIRAFT_LIMITS.applyBatchBytesMax).entries;
    if (entries > 0) onApplied(entries, this.clock.now() - startedAt);
    return entries > 0;
  }

  private countInstalled(bytes: number): void {
    this.stats.snapshotsInstalled++;
    this.stats.snapshotBytesInstalled += bytes;
  }

  private stepInbox(): void {
    const inbox = this.inbox;
    this.inbox = [];
    let bytes = 0;
    let stepped = 0;
    while (stepped < inbox.length && bytes < MULTIRAFT_LIMITS.stepBytesPerTurnMax) {
      const { from, env } = inbox[stepped++]!;
      this.stats.envelopesIn++;
      if (env.groupId === COALESCED_GROUP) {
        const msgs = expand(from, this.nodeId, env.msg);
        if (msgs === undefined) this.stats.envelopesDropped++;
        else for (const { groupId, msg } of msgs) this.stepOne(groupId, msg);
        continue;
      }
      const msg = validateMessage(env.msg, from, this.nodeId);
      if (msg === undefined) {
        this.stats.envelopesDropped++;
        continue;
      }
      bytes += payloadBytes(msg);
      this.stepOne(env.groupId, msg);
    }
    if (stepped < inbox.length) {
      // Arrival order kept: what is left goes before whatever arrives meanwhile.
      this.inbox = inbox.slice(stepped).concat(this.inbox);
      this.scheduleTurn();
    }
  }

  private stepOne(groupId: number, msg: Message): void {
    const g = this.groups.get(groupId);
    if (g === undefined || (this.draining && msg.type === 'MsgTimeoutNow')) {
      // A leadership offered to a node that is handing everything over would only have to move again: dropped,
      // as a lost message would be (the offering leader abandons the transfer after an election timeout).
      this.stats.envelopesDropped++;
      return;
    }
    try {
      g.raw.step(msg);
    } catch (err) {
      // An oversized message is a typed refusal; anything else is a broken invariant and stops the node.
      if (err instanceof RaftError) {
        this.stats.envelopesDropped++;
        return;
      }
      throw err;
    }
  }

  /** Writes the round's Readys in one write; true when it is durable already, false when it completes later. */
  private persist(readies: readonly [GroupRuntime, Ready][]): boolean {
    const writes: GroupWrite[] = [];
    for (const [g, rd] of readies) {
      // A change of the commit index alone need not be durable (it is learned again from the leader), so
      // it waits for the next write that must happen anyway instead of costing an fsync of its own.
      // A new configuration is written with the next write too, or at once (a Ready hands it out only once).
      if (!rd.mustSync && rd.entries.length === 0 && rd.snapshot === undefined && rd.confState === undefined) continue;
      writes.push({
        groupId: g.id,
        entries: rd.entries,
        ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
        ...(rd.snapshot !== undefined ? { snapshot: rd.snapshot } : {}),
        ...(rd.confState !== undefined ? { confState: rd.confState } : {}),
      });
      this.stats.entriesWritten += rd.entries.length;
    }
    if (writes.length === 0) return true;
    const startedAt = this.clock.now();
    let inCall = true;
    let durable = false;
    this.writing = { readies };
    const seq = ++this.writeSeq;
    this.storage.write(writes, () => {
      if (this.writing?.readies !== readies) return; // a completion from before a stop
      this.writing = undefined;
      this.durableWriteSeq = seq;
      if (inCall) {
        durable = true; // at once: the turn goes on in `rounds`
        return;
      }
      this.persisted(readies);
      this.runAfterWrite(); // proposals, transfers and link changes that waited for this write
    });
    inCall = false;
    this.turnPersistMs += this.clock.now() - startedAt;
    this.stats.writes++;
    return durable;
  }

  /** Runs what waited for the write, unless another write began meanwhile (then it waits for that one). */
  private runAfterWrite(): void {
    while (this.writing === undefined && !this.stopped) {
      const next = this.afterWrite.shift();
      if (next === undefined) return;
      next();
    }
  }

  /** Resolves once no write is in progress (at once, in a node process). */
  private writable(): Promise<void> {
    if (this.writing === undefined) return Promise.resolve();
    return new Promise((resolve) => this.afterWrite.push(resolve));
  }

  /**
   * Waits until no write is in flight — the core must not change while one is — within the request's deadline (a
   * write that never completes, a disk that hangs, ends in TIMEOUT, not a request that waits for ever); fails with
   * SHUTTING_DOWN when the node stopped meanwhile. A loop: whatever ran between the write's completion and this
   * continuation (a timer, another completion) may have started the next write.
   */
  private async untilWritable(g: GroupRuntime, deadline: number): Promise<void> {
    while (this.writing !== undefined) await this.withDeadline(this.writable(), deadline, () => undefined, g);
    this.checkOpen();
  }

  /** A write that completed after its turn returned (the simulator's disk): finish that turn. */
  private persisted(readies: readonly [GroupRuntime, Ready][]): void {
    if (this.stopped) return;
    const startedAt = this.clock.now();
    this.completeRound(readies);
    if (this.tickOwed) this.tickGroups(); // the Ready is advanced: the cores may tick before the next round
    if (!this.rounds()) return;
    this.finishTurn(startedAt);
  }

  private send(readies: readonly [GroupRuntime, Ready][], when: 'before-persist' | 'after-persist'): void {
    const out: { groupId: number; msg: Message }[] = [];
    for (const [g, rd] of readies) {
      for (const msg of when === 'before-persist' ? rd.messages : rd.persistedMessages) {
        if (msg.type === 'MsgHeartbeatResp' && msg.context === null) this.deferredAnswers.push({ groupId: g.id, msg });
        else out.push({ groupId: g.id, msg });
        if (msg.type === 'MsgSnap') this.countSnapshotChunk(msg);
      }
    }
    if (out.length === 0) return;
    if (this.deferredAnswers.length > 0) {
      const peers = new Set(out.map((o) => o.msg.to));
      const waiting: { groupId: number; msg: Message }[] = [];
      for (const answer of this.deferredAnswers) (peers.has(answer.msg.to) ? out : waiting).push(answer);
      this.deferredAnswers = waiting;
    }
    this.sendNow(out);
    if (when === 'before-persist') this.network.flush();
  }

  /** A snapshot chunk leaves (the network may still lose it): its bytes, and a transfer sent when it is the last. */
  private countSnapshotChunk(msg: MsgSnap): void {
    this.stats.snapshotBytesSent += msg.data.byteLength;
    if (msg.offset + msg.data.byteLength >= msg.totalBytes) this.stats.snapshotsSent++;
  }

  private sendNow(out: readonly { groupId: number; msg: Message }[]): void {
    for (const [to, envs] of coalesce(out)) {
      if (this.network.knowsPeer?.(to) === false) {
        this.stats.envelopesUnroutable += envs.length;
        continue;
      }
      for (const { groupId, msg } of envs) this.network.send({ groupId, from: this.nodeId, to, msg });
    }
  }

  /**
   * A group's log upkeep after the turn's applies: a snapshot for the followers its core waits to send one to, the
   * held snapshot's bytes released once no transfer uses them, and compaction.
   */
  private maintainLog(g: GroupRuntime, snapshotDeadline: number): void {
    if (g.installing()) {
      // Half installed: no snapshot can be built of it, and nothing past the old state is durable to compact to.
      g.snapshotFiles?.sweep(g.raw, this.durableWriteSeq, g.installingData());
      return;
    }
    if (g.raw.snapshotWanted()) this.buildSnapshot(g, snapshotDeadline);
    else {
      this.dropSnapshotBuild(g); // nobody waits for it any more (leadership lost, follower caught up)
      g.raw.releaseSnapshot();
    }
    this.maybeCompact(g);
    g.snapshotFiles?.sweep(g.raw, this.durableWriteSeq);
  }

  /**
   * Hands the core a snapshot of the state machine: built in slices until `deadline` when the state machine can
   * (snapshotBuilder: a read view beside the applies), else at once. Its index must lie in the core's log: not
   * before a received snapshot is installed (below the offset), nor while the core hands out again entries the state
   * machine applied before a restart (the durable commit index may lag).
   */
  private buildSnapshot(g: GroupRuntime, deadline: number): void {
    const inLog = (index: number): boolean => index >= g.raw.logOffset().index && index <= g.raw.appliedIndex();
    if (g.snapshotBuild === undefined) {
      if (!inLog(g.sm.appliedIndex())) return;
      const builder = g.sm.snapshotBuilder?.(this.opts.snapshotFiles?.output(g.id));
      if (builder === undefined) {
        this.offerSnapshot(g, g.sm.appliedIndex(), g.sm.snapshot());
        return;
      }
      g.snapshotBuild = builder;
    }
    const build = g.snapshotBuild;
    const data = build.step(Math.max(1, deadline - this.clock.now()));
    if (data === undefined) return;
    this.dropSnapshotBuild(g);
    // The compaction floor kept the log at the build's index; a received snapshot may have passed it meanwhile.
    if (inLog(build.index)) this.offerSnapshot(g, build.index, data);
    else this.opts.snapshotFiles?.release(data);
  }

  private offerSnapshot(g: GroupRuntime, index: number, data: SnapshotData): void {
    g.raw.compact(index, data, g.raw.logOffset().index);
    // raft.db never names a snapshot built here: its file goes once the core lets go of it (releaseSnapshot).
    g.snapshotFiles?.unnamed(data);
    this.stats.snapshotsTaken++;
    this.stats.snapshotBytesTaken += data.byteLength;
  }

  private dropSnapshotBuild(g: GroupRuntime): void {
    g.snapshotBuild?.close();
    g.snapshotBuild = undefined;
  }

  /**
   * Compacts the log once `snapshotThreshold` entries were applied since the last compaction, or once it holds more
   * than logBytesMax in memory (then down to half of it): up to the state machine's durable index — it is the
   * snapshot of the compacted entries, so it is asked to sync first — and never past a snapshot being sent.
   */
  private maybeCompact(g: GroupRuntime): void {
    const applied = g.sm.appliedIndex();
    const byEntries = applied - g.lastSnapshotIndex >= this.snapshotThreshold;
    const overBytes = g.raw.logBytes() > this.logBytesMax;
    if (!byEntries && !overBytes) return;
    // A configuration not yet handed to raft.db must not lose its conf entry to compaction: at boot that entry is
    // how it is found again (Raft.restoredConf). The next Ready writes it, and compaction waits for that turn.
    if (g.raw.confUnsaved()) return;
    const offset = g.raw.logOffset().index;
    let target = applied - this.snapshotKeep;
    if (overBytes) target = Math.max(target, g.raw.compactIndexForBytes(Math.floor(this.logBytesMax / 2)));
    target = Math.min(
      target,
      applied,
      g.raw.appliedIndex(),
      g.raw.compactionFloor(),
      g.snapshotBuild?.index ?? Infinity,
    );
    if (target <= offset) return;
    // Over the byte bound only (the log holds entries not applied yet, or a transfer holds the floor): compact once
    // it frees a quarter of the bound, not a few entries every turn, each with the state machine's fsync.
    if (!byEntries && g.raw.logBytes() - g.raw.logBytesAfter(target) < this.logBytesMax / 4) return;
    const to = Math.min(target, g.sm.sync());
    if (to <= offset) return;
    g.raw.compactLog(to);
    const off = g.raw.logOffset();
    this.storage.compactLog(g.id, off.index, off.term);
    g.snapshotFiles?.compacted(off.index, this.writeSeq);
    g.lastSnapshotIndex = applied;
    this.stats.logCompactions++;
  }

  /**
   * Waits while the group has no leader and is within its grace (leaderGraceEnd, a never-led group's counted from
   * this request); true once it has one. The first change seen may be the announcement of the loss itself, so it
   * waits until a leader is known or the grace has passed.
   */
  private async awaitLeader(g: GroupRuntime, deadline: number): Promise<boolean> {
    const requestAt = this.clock.now();
    for (;;) {
      if (g.raw.leader() !== NONE) return true;
      const until = Math.min(deadline, this.leaderGraceEnd(g, requestAt));
      if (this.clock.now() >= until) return false;
      await this.waitLeaderChange(g, until).catch(() => undefined);
    }
  }

  private announceLeadership(g: GroupRuntime): void {
    const leader = g.raw.leader() === NONE ? null : g.raw.leader();
    const isLocal = g.isLeader();
    const term = g.raw.term();
    if (leader === g.announcedLeader && isLocal === g.wasLeader && (leader === null || term === g.announcedTerm))
      return;
    if (leader === null && g.announcedLeader !== null) g.leaderLostAtMs = this.clock.now();
    if (leader !== null) g.leaderSeen = true;
    g.announcedLeader = leader;
    g.announcedTerm = term;
    g.wasLeader = isLocal;
    if (isLocal) this.stats.leaderChanges++;
    this.events.emit('leaderChange', { groupId: g.id, name: g.name, leader, term, isLocal });
  }

  // -------------------------------------------------------------------------------------------------
  // Requests

  private group(groupId: number): GroupRuntime {
    const g = this.groups.get(groupId);
    if (g === undefined) throw new MultiRaftError('UNKNOWN_GROUP', `no group ${groupId}`, { groupId });
    return g;
  }

  private checkOpen(): void {
    if (this.stopping || this.stopped) throw new MultiRaftError('SHUTTING_DOWN', 'the node is shutting down');
  }

  /**
   * Proposes a command and resolves with the state machine's response once the entry is applied on this
   * node. A follower forwards to the leader and answers only after applying the entry itself, so the
   * caller reads its own write here. No leader known: waits an election-timeout range for one (leaderGraceEnd),
   * then fails with LEADER_NOT_AVAILABLE.
   */
  async propose(groupId: number, command: Uint8Array, options: ProposeOptions = {}): Promise<unknown> {
    this.checkOpen();
    const g = this.group(groupId);
    const timeoutMs = options.timeoutMs ?? MULTIRAFT_LIMITS.requestTimeoutMsDefault;
    const deadline = this.clock.now() + timeoutMs;
    for (;;) {
      if (g.isLeader()) {
        try {
          return (await this.proposeLocal(g, command, deadline)).response;
        } catch (err) {
          // During a leadership transfer proposals wait for the new leader rather than fail.
          if (!(err instanceof TransferInProgress)) throw err;
          await this.waitTransfer(g, deadline);
          continue;
        }
      }
      const leader = g.raw.leader();
      if (leader === NONE) {
        // Fail fast, unless the group lost its leader a moment ago (a transfer or a failover is electing the
        // next one): then wait for it, at most one election-timeout range.
        // The first change seen may be the announcement of the loss itself, so it waits until a leader is known or
        // the grace has passed.
        if (await this.awaitLeader(g, deadline)) continue;
        throw new MultiRaftError('LEADER_NOT_AVAILABLE', `group ${g.name} has no leader`, {
          groupId,
          leaderHint: null,
        });
      }
      try {
        return await this.proposeForwarded(g, leader, command, deadline);
      } catch (err) {
        // NOT_LEADER comes back only from the leader's checks before it appended anything, so trying again
        // (with the leader we learn of next) cannot apply the command twice.
        if (!(err instanceof MultiRaftError && err.code === 'NOT_LEADER')) throw err;
        if (g.raw.leader() === leader) await this.waitTransfer(g, deadline);
      }
    }
  }

  private async proposeLocal(
    g: GroupRuntime,
    command: Uint8Array,
    deadline: number,
  ): Promise<{ index: number; response: unknown }> {
    // Only when a write is in flight: otherwise the proposal is placed in this call, before the caller's next turn.
    if (this.writing !== undefined) await this.untilWritable(g, deadline);
    if (!g.isLeader()) {
      // It stepped down while the write was in progress: refused before anything was appended.
      const lead = g.raw.leader();
      throw new MultiRaftError('NOT_LEADER', `node ${this.nodeId} is not the leader`, {
        groupId: g.id,
        leaderHint: lead === NONE ? null : lead,
      });
    }
    if (g.proposals.size >= MULTIRAFT_LIMITS.pendingProposalsMax) {
      throw new MultiRaftError('OVERLOADED', 'too many proposals in flight', { groupId: g.id });
    }
    let placed: { index: number; term: number };
    try {
      placed = g.raw.propose(command);
    } catch (err) {
      throw this.mapRaftError(g, err);
    }
    this.stats.proposals++;
    this.scheduleTurn();
    return this.withDeadline(
      new Promise<unknown>((resolve, reject) => {
        g.proposals.set(placed.index, { term: placed.term, resolve, reject });
      }),
      deadline,
      () => g.proposals.delete(placed.index),
      g,
    ).then((response) => ({ index: placed.index, response }));
  }

  private async proposeForwarded(
    g: GroupRuntime,
    leader: NodeId,
    command: Uint8Array,
    deadline: number,
  ): Promise<unknown> {
    this.stats.forwardedProposals++;
    let reply: { index: number; response: unknown };
    try {
      reply = (await this.network.request(
        leader,
        'propose',
        { groupId: g.id, command },
        Math.max(1, deadline - this.clock.now()),
      )) as { index: number; response: unknown };
    } catch (err) {
      throw fromRemote(err, g.id);
    }
    await this.withDeadline(g.waitApplied(reply.index), deadline, () => undefined, g);
    return reply.response;
  }

  /**
   * Proposes a membership change to the group's leader, wherever it is (as propose does: local when this node leads,
   * else forwarded with the `confChange` request; NOT_LEADER, refused before anything was appended, is retried with
   * the leader learned next until the deadline), and resolves with the configuration once the change is applied on
   * the leader — and here too when this node is a member that applies it within the deadline, so a caller reading
   * confState() here next sees it. `deadlineMs`: how long to wait, in ms from now. Errors (MultiRaftError codes):
   * LEADER_NOT_AVAILABLE, CONF_CHANGE_PENDING (one change at a time per group, Raft thesis §4.1),
   * CONF_CHANGE_INVALID, TIMEOUT (the outcome is then unknown: read confState() again), PROPOSAL_DROPPED.
   */
  async proposeConfChange(groupId: number, cc: ConfChangeV2, deadlineMs: number): Promise<ConfState> {
    this.checkOpen();
    const g = this.group(groupId);
    const deadline = this.clock.now() + deadlineMs;
    let hint: NodeId | undefined;
    for (;;) {
      if (g.isLeader()) {
        try {
          return (await this.proposeConfChangeLocal(g, cc, deadline)).conf;
        } catch (err) {
          if (!(err instanceof TransferInProgress)) throw err;
          await this.waitTransfer(g, deadline);
          continue;
        }
      }
      const leader = hint ?? (await this.leaderToAsk(g, deadline));
      hint = undefined;
      if (leader === this.nodeId) continue; // elected meanwhile: proposed locally
      let reply: { index: number; conf: ConfState };
      try {
        reply = (await this.network.request(
          leader,
          'confChange',
          { groupId: g.id, cc, deadlineMs: Math.max(1, deadline - this.clock.now()) },
          Math.max(1, deadline - this.clock.now()),
        )) as { index: number; conf: ConfState };
      } catch (err) {
        const e = fromRemote(err, g.id);
        if (e.code !== 'NOT_LEADER') throw e;
        hint = this.nextHint(e, leader);
        // Not told of another leader: wait a little (a transfer, an election) before asking again.
        if (hint === undefined && (g.raw.leader() === leader || g.raw.leader() === NONE)) {
          await this.waitTransfer(g, deadline);
        }
        continue;
      }
      // Applied on the leader: wait for it here too, but a node the change removed (or one cut off) may never
      // apply it, and the change has happened all the same — a node outside the new configuration does not wait.
      if (!allMembers(reply.conf).includes(this.nodeId)) return reply.conf;
      await this.withDeadline(g.waitApplied(reply.index), deadline, () => undefined, g).catch(() => undefined);
      return reply.conf;
    }
  }

  /** The leader's side of proposeConfChange: placed in this node's log, resolved once applied here. */
  private async proposeConfChangeLocal(
    g: GroupRuntime,
    cc: ConfChangeV2,
    deadline: number,
  ): Promise<{ index: number; conf: ConfState }> {
    if (this.writing !== undefined) await this.untilWritable(g, deadline);
    if (!g.isLeader()) {
      const lead = g.raw.leader();
      throw new MultiRaftError('NOT_LEADER', `node ${this.nodeId} is not the leader`, {
        groupId: g.id,
        leaderHint: lead === NONE ? null : lead,
      });
    }
    let placed: { index: number; term: number };
    try {
      placed = g.raw.proposeConfChange(cc);
    } catch (err) {
      throw this.mapRaftError(g, err);
    }
    this.scheduleTurn();
    const conf = await this.withDeadline(
      new Promise<unknown>((resolve, reject) => {
        g.proposals.set(placed.index, { term: placed.term, resolve, reject });
      }),
      deadline,
      () => g.proposals.delete(placed.index),
      g,
    );
    return { index: placed.index, conf: conf as ConfState };
  }

  /**
   * The leader a request should go to: the one this node knows, after waiting for one within the grace
   * (awaitLeader); LEADER_NOT_AVAILABLE when there is none. May be this node (it was elected meanwhile): the
   * request to itself is answered by handleRequest like any other.
   */
  private async leaderToAsk(g: GroupRuntime, deadline: number): Promise<NodeId> {
    const leader = g.raw.leader();
    if (leader !== NONE) return leader;
    // A node outside the group's configuration (one that joined, not added to this group yet) hears from no
    // leader: it asks a voter of the configuration it holds, whose NOT_LEADER names the leader (nextHint).
    const conf = g.raw.confState();
    if (!allMembers(conf).includes(this.nodeId)) {
      const voters = allVoters(conf).filter((id) => id !== this.nodeId);
      if (voters.length > 0) return voters[this.askRotation++ % voters.length]!;
    }
    if (await this.awaitLeader(g, deadline)) {
      const now = g.raw.leader();
      if (now !== NONE) return now;
    }
    throw new MultiRaftError('LEADER_NOT_AVAILABLE', `group ${g.name} has no leader`, {
      groupId: g.id,
      leaderHint: null,
    });
  }

  /** The leader a NOT_LEADER refusal names, when it is another node than the one that refused. */
  private nextHint(err: MultiRaftError, asked: NodeId): NodeId | undefined {
    const hint = err.leaderHint;
    return hint !== null && hint !== asked && hint !== this.nodeId ? hint : undefined;
  }

  /** The configuration in force for the group on this node. */
  confState(groupId: number): ConfState {
    return this.group(groupId).raw.confState();
  }

  /**
   * On the group's leader: each member's replication progress (match: the last index known to be in its log) and
   * the leader's last index, to decide whether a learner is caught up. Empty on a follower.
   */
  progress(groupId: number): ReadonlyMap<NodeId, { readonly match: number; readonly lastIndex: number }> {
    const s = this.group(groupId).raw.status();
    const out = new Map<NodeId, { match: number; lastIndex: number }>();
    for (const [id, p] of s.progress) out.set(id, { match: p.match, lastIndex: s.lastIndex });
    return out;
  }

  /**
   * progress() as the group's leader sees it, wherever the leader is (local, or the `progress` request; NOT_LEADER
   * retried with the leader learned next until the deadline). `deadlineMs`: in ms from now.
   */
  async leaderProgress(
    groupId: number,
    deadlineMs: number,
  ): Promise<ReadonlyMap<NodeId, { readonly match: number; readonly lastIndex: number }>> {
    this.checkOpen();
    const g = this.group(groupId);
    const deadline = this.clock.now() + deadlineMs;
    let hint: NodeId | undefined;
    for (;;) {
      if (g.isLeader()) return this.progress(groupId);
      const leader = hint ?? (await this.leaderToAsk(g, deadline));
      hint = undefined;
      if (leader === this.nodeId) continue;
      let reply: ProgressReply;
      try {
        reply = (await this.network.request(
          leader,
          'progress',
          { groupId: g.id },
          Math.max(1, deadline - this.clock.now()),
        )) as ProgressReply;
      } catch (err) {
        const e = fromRemote(err, g.id);
        if (e.code !== 'NOT_LEADER') throw e;
        hint = this.nextHint(e, leader);
        // Not told of another leader: wait a little (a transfer, an election) before asking again.
        if (hint === undefined && (g.raw.leader() === leader || g.raw.leader() === NONE)) {
          await this.waitTransfer(g, deadline);
        }
        continue;
      }
      const out = new Map<NodeId, { match: number; lastIndex: number }>();
      for (const [id, match] of reply.match) out.set(id, { match, lastIndex: reply.lastIndex });
      return out;
    }
  }

  /**
   * A linearizable read point (ReadIndex, Raft thesis §6.4), on followers too: resolves with an index
   * once this node has applied it, so a local read then sees every write acknowledged before the call.
   */
  async read(groupId: number, options: ProposeOptions = {}): Promise<number> {
    this.checkOpen();
    const g = this.group(groupId);
    const deadline = this.clock.now() + (options.timeoutMs ?? MULTIRAFT_LIMITS.requestTimeoutMsDefault);
    // A read has no effect, so when the leader it went to changes, is stopping, or has not committed in its
    // term yet, it is simply asked again (with a fresh context: a read index is never reused) until the deadline.
    for (;;) {
      const index = await this.readOnce(g, deadline);
      if (index !== undefined) {
        if (this.bugs.readBeforeApplied !== true) {
          await this.withDeadline(g.waitApplied(index), deadline, () => undefined, g);
        }
        return index;
      }
    }
  }

  /**
   * Until when a request on a group with no leader waits for one rather than fail at once: an election-timeout
   * range after this node saw the group lose its leader (now, when the core has lost it and the loss is not
   * announced yet: a proposal answered while a write is in flight runs before the turn's announcements) — or, while
   * it has never seen one (a fresh or restarted node, whose first election can take a while on a loaded machine),
   * that range from the request.
   */
  private leaderGraceEnd(g: GroupRuntime, requestAt: number = this.clock.now()): number {
    if (g.raw.leader() === NONE && g.announcedLeader !== null) return this.clock.now() + this.electionGraceMs;
    return (g.announcedLeader === null && !g.leaderSeen ? requestAt : g.leaderLostAtMs) + this.electionGraceMs;
  }

  /** One ReadIndex round: the index, or undefined when it should be asked again. */
  private async readOnce(g: GroupRuntime, deadline: number): Promise<number | undefined> {
    if (g.raw.leader() === NONE && this.clock.now() < this.leaderGraceEnd(g)) {
      await this.waitLeaderChange(g, Math.min(deadline, this.leaderGraceEnd(g))).catch(() => undefined);
    }
    const batch = this.joinReadBatch(g);
    this.stats.reads++;
    let onChange: ((c: LeaderChange) => void) | undefined;
    let cancelRetry: (() => void) | undefined;
    const askAgain = new Promise<'again'>((resolve) => {
      onChange = (c: LeaderChange): void => {
        if (c.groupId === g.id) resolve('again');
      };
      this.events.on('leaderChange', onChange);
      // The request or its confirming heartbeats may be lost (a dropped link, a full inbox): unanswered after a
      // few heartbeat intervals, the round is asked again, as etcd's server re-sends its ReadIndex every 500 ms.
      cancelRetry = this.clock.after(this.readRetryMs, () => resolve('again'));
    });
    try {
      const outcome = await this.withDeadline(Promise.race([batch.answer, askAgain]), deadline, () => undefined, g);
      return outcome === 'again' ? undefined : outcome;
    } catch (err) {
      const retriable = err instanceof MultiRaftError && err.code === 'READ_REJECTED' && this.clock.now() < deadline;
      if (!retriable) throw err;
      await new Promise<void>((resolve) => this.clock.after(this.ticks.tickMs, resolve));
      return undefined;
    } finally {
      if (onChange !== undefined) this.events.off('leaderChange', onChange);
      cancelRetry?.();
      // The last caller to leave an unanswered round forgets it (its answer, if it comes, finds no waiter).
      if (--batch.waiters === 0) {
        g.reads.delete(batch.context);
        if (g.openRead === batch) g.openRead = undefined; // not asked yet: a later read opens a fresh one
      }
    }
  }

  /**
   * The group's open ReadIndex round, opened if there is none. Every read that starts before the next driver
   * turn shares it, as etcd's server batches its linearizable reads: the core is asked for the read index in that
   * turn, after each of these reads began, so the index it confirms is at least the commit index at each read's
   * start — linearizable for all of them — and N concurrent reads cost one heartbeat round instead of N.
   */
  private joinReadBatch(g: GroupRuntime): ReadBatch {
    let batch = g.openRead ?? (this.bugs.joinAskedReadRound === true ? g.askedRead : undefined);
    if (batch === undefined) {
      const context = `${this.nodeId}:${++this.readCounter}`;
      const answer = new Promise<number>((resolve, reject) => g.reads.set(context, { resolve, reject }));
      answer.catch(() => undefined); // every waiter sees the rejection through its own race
      batch = { context, answer, waiters: 0 };
      g.openRead = batch;
      this.readBatchesToAsk.push(g);
      this.scheduleTurn();
    }
    batch.waiters++;
    return batch;
  }

  /** Asks the core for the read index of every open round (at the start of a driver turn). */
  private askReadBatches(): void {
    const groups = this.readBatchesToAsk;
    this.readBatchesToAsk = [];
    for (const g of groups) {
      const batch = g.openRead;
      g.openRead = undefined;
      if (batch === undefined) continue;
      const waiter = g.reads.get(batch.context);
      if (waiter === undefined) continue; // every caller gave up before it was asked
      try {
        g.raw.readIndex(batch.context);
        g.askedRead = batch;
        this.stats.readRounds++;
      } catch (err) {
        g.reads.delete(batch.context);
        waiter.reject(this.mapRaftError(g, err));
      }
    }
  }

  /** Moves leadership of a group to `to` (default: the most caught-up follower); resolves when it moved. */
  async transferLeadership(groupId: number, to?: NodeId, options: ProposeOptions = {}): Promise<NodeId> {
    const g = this.group(groupId);
    const deadline = this.clock.now() + (options.timeoutMs ?? 3 * this.ticks.electionTickMax * this.ticks.tickMs);
    const target = to ?? this.bestTransferee(g);
    if (target === undefined) throw new MultiRaftError('TRANSFER_FAILED', 'no follower to transfer to', { groupId });
    if (this.writing !== undefined) await this.untilWritable(g, deadline);
    try {
      g.raw.transferLeader(target);
    } catch (err) {
      throw this.mapRaftError(g, err);
    }
    this.scheduleTurn();
    while (g.raw.leader() !== target) {
      if (this.clock.now() >= deadline) {
        throw new MultiRaftError('TRANSFER_FAILED', `leadership of ${g.name} did not move to node ${target}`, {
          groupId,
        });
      }
      await this.waitLeaderChange(g, deadline).catch(() => undefined);
    }
    return target;
  }

  private bestTransferee(g: GroupRuntime): NodeId | undefined {
    let best: NodeId | undefined;
    let bestMatch = -1;
    for (const [id, pr] of g.raw.status().progress) {
      if (id === this.nodeId || !this.network.peerConnected(id)) continue;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    return best;
  }

  /** Transfers every group this node leads (graceful shutdown); bounded by `timeoutMs`. */
  async transferAllLeadership(timeoutMs: number): Promise<{ moved: number; failed: number }> {
    this.draining = true;
    const led = this.groupList.filter((g) => g.isLeader());
    const results = await Promise.allSettled(led.map((g) => this.transferLeadership(g.id, undefined, { timeoutMs })));
    const moved = results.filter((r) => r.status === 'fulfilled').length;
    return { moved, failed: results.length - moved };
  }

  /**
   * Waits for a leader change, but at most transferRetryMs, then lets the caller ask again: a transfer whose target
   * never takes over (it was cut off, crashed, or is draining) is abandoned by the leader after an election timeout
   * and changes no leader, so a caller waiting only for a change would wait until its deadline. TIMEOUT at the
   * deadline, as waitLeaderChange.
   */
  private async waitTransfer(g: GroupRuntime, deadline: number): Promise<void> {
    const retryAt = this.clock.now() + this.transferRetryMs;
    if (retryAt >= deadline) return this.waitLeaderChange(g, deadline);
    await this.waitLeaderChange(g, retryAt).catch(() => undefined);
  }

  private waitLeaderChange(g: GroupRuntime, deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const remaining = deadline - this.clock.now();
      if (remaining <= 0) {
        reject(new MultiRaftError('TIMEOUT', `group ${g.name}: timed out`, { groupId: g.id }));
        return;
      }
      const onChange = (c: LeaderChange): void => {
        if (c.groupId !== g.id) return;
        cleanup();
        resolve();
      };
      const cancel = this.clock.after(remaining, () => {
        cleanup();
        reject(new MultiRaftError('TIMEOUT', `group ${g.name}: timed out waiting for a leader`, { groupId: g.id }));
      });
      const cleanup = (): void => {
        cancel();
        this.events.off('leaderChange', onChange);
      };
      this.events.on('leaderChange', onChange);
    });
  }

  private withDeadline<T>(p: Promise<T>, deadline: number, onTimeout: () => void, g: GroupRuntime): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cancel = this.clock.after(Math.max(0, deadline - this.clock.now()), () => {
        onTimeout();
        reject(
          new MultiRaftError('TIMEOUT', `group ${g.name}: no answer in time (outcome unknown)`, { groupId: g.id }),
        );
      });
      p.then(
        (v) => {
          cancel();
          resolve(v);
        },
        (err: unknown) => {
          cancel();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** The core's typed refusals as MultiRaftErrors, by code (never by message). */
  private mapRaftError(g: GroupRuntime, err: unknown): Error {
    if (err instanceof NotLeaderError) {
      const hint = err.leaderHint === NONE ? null : err.leaderHint;
      return new MultiRaftError(hint === null ? 'LEADER_NOT_AVAILABLE' : 'NOT_LEADER', err.message, {
        groupId: g.id,
        leaderHint: hint,
      });
    }
    if (!(err instanceof RaftError)) return err instanceof Error ? err : new Error(String(err));
    switch (err.code) {
      case 'LEADER_TRANSFER_IN_PROGRESS': {
        const to = g.raw.status().leadTransferee;
        return new TransferInProgress(g.id, to === NONE ? null : to);
      }
      case 'INFLIGHT_LIMIT':
      case 'UNCOMMITTED_LIMIT':
        return new MultiRaftError('OVERLOADED', err.message, { groupId: g.id }, { cause: err });
      case 'ENTRY_TOO_LARGE':
      case 'MESSAGE_TOO_LARGE':
        return new MultiRaftError('TOO_LARGE', err.message, { groupId: g.id }, { cause: err });
      case 'NOT_LEADER':
      case 'LEADER_NOT_AVAILABLE':
        return new MultiRaftError(err.code, err.message, { groupId: g.id }, { cause: err });
      case 'READ_NOT_READY':
      case 'READ_CONTEXT_IN_USE':
        return new MultiRaftError('READ_REJECTED', err.message, { groupId: g.id }, { cause: err });
      case 'TRANSFER_REFUSED':
        return new MultiRaftError('TRANSFER_FAILED', err.message, { groupId: g.id }, { cause: err });
      case 'CONF_CHANGE_PENDING':
      case 'CONF_CHANGE_INVALID':
        return new MultiRaftError(err.code, err.message, { groupId: g.id }, { cause: err });
    }
  }

  /**
   * A forwarded request that only the leader may answer is refused otherwise — always NOT_LEADER, even when this
   * node knows no leader yet (it just stepped down in a transfer): the refusal comes before anything was appended,
   * so the forwarding node may safely try again.
   */
  private refuseUnlessLeader(g: GroupRuntime): void {
    if (g.isLeader()) return;
    const lead = g.raw.leader();
    throw new MultiRaftError('NOT_LEADER', `node ${this.nodeId} is not the leader`, {
      groupId: g.id,
      leaderHint: lead === NONE ? null : lead,
    });
  }

  /**
   * The forwarding RPC: proposals and membership changes from followers (`propose`, `confChange`), the leader's
   * replication progress (`progress`), and node info.
   */
  async handleRequest(from: NodeId, method: string, body: unknown): Promise<unknown> {
    this.checkOpen();
    switch (method) {
      case 'propose': {
        const b = body as { groupId?: unknown; command?: unknown } | null;
        if (
          b === null ||
          typeof b !== 'object' ||
          typeof b.groupId !== 'number' ||
          !(b.command instanceof Uint8Array)
        ) {
          throw new MultiRaftError('BAD_REQUEST', 'malformed propose request');
        }
        const g = this.group(b.groupId);
        this.refuseUnlessLeader(g);
        const deadline = this.clock.now() + MULTIRAFT_LIMITS.requestTimeoutMsDefault;
        if (this.bugs.applyForwardedTwice === true)
          void this.proposeLocal(g, b.command, deadline).catch(() => undefined);
        return this.proposeLocal(g, b.command, deadline);
      }
      case 'confChange': {
        const b = body as { groupId?: unknown; cc?: unknown; deadlineMs?: unknown } | null;
        if (
          b === null ||
          typeof b !== 'object' ||
          typeof b.groupId !== 'number' ||
          !isConfChangeV2(b.cc) ||
          typeof b.deadlineMs !== 'number' ||
          !(b.deadlineMs > 0)
        ) {
          throw new MultiRaftError('BAD_REQUEST', 'malformed confChange request');
        }
        const g = this.group(b.groupId);
        this.refuseUnlessLeader(g);
        const deadline = this.clock.now() + Math.min(b.deadlineMs, MULTIRAFT_LIMITS.requestTimeoutMsDefault);
        return this.proposeConfChangeLocal(g, b.cc, deadline);
      }
      case 'progress': {
        const b = body as { groupId?: unknown } | null;
        if (b === null || typeof b !== 'object' || typeof b.groupId !== 'number') {
          throw new MultiRaftError('BAD_REQUEST', 'malformed progress request');
        }
        const g = this.group(b.groupId);
        this.refuseUnlessLeader(g);
        const s = g.raw.status();
        const reply: ProgressReply = { lastIndex: s.lastIndex, match: [...s.progress].map(([id, p]) => [id, p.match]) };
        return reply;
      }
      case 'info':
        return { nodeId: this.nodeId, from, leading: this.groupList.filter((g) => g.isLeader()).map((g) => g.id) };
      default:
        throw new MultiRaftError('BAD_REQUEST', `unknown method ${method}`);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Leader balance (balance.ts): a round every interval, on the injected clock

  private scheduleBalanceRound(): void {
    const balance = this.balance;
    if (balance === undefined || this.stopped) return;
    this.cancelBalanceRound = this.clock.after(balance.intervalMs, () => {
      this.cancelBalanceRound = undefined;
      if (this.stopped) return;
      this.balanceRound(balance);
      this.scheduleBalanceRound();
    });
  }

  /**
   * One round: count the leaders per node this node knows of, list the groups it leads that may move and the peers
   * caught up on each, and start the transfers planLeaderMoves asks for. Nothing while draining or stopping, or while
   * an earlier round's transfers are in flight. A round that comes during a write runs once it is durable: with the
   * log worker a busy node is writing most of the time, and a round skipped then would seldom run under load.
   */
  private balanceRound(balance: LeaderBalanceOptions): void {
    if (this.stopping || this.draining || this.balanceInFlight > 0) return;
    if (this.writing !== undefined) {
      this.afterWrite.push(() => this.balanceRound(balance));
      return;
    }
    const now = this.clock.now();
    // The voters of the configurations in force, not the founding ones: members come and go.
    const voters = new Set(this.groupList.flatMap((g) => allVoters(g.raw.confState())));
    const live = [...voters].filter((id) => id === this.nodeId || this.network.peerConnected(id));
    const leaderCounts = new Map<NodeId, number>();
    const movable: MovableGroup[] = [];
    for (const g of this.groupList) {
      const lead = g.raw.leader();
      if (lead !== NONE) leaderCounts.set(lead, (leaderCounts.get(lead) ?? 0) + 1);
      if (!g.isLeader() || (this.balanceCooldownUntil.get(g.id) ?? 0) > now) continue;
      const s = g.raw.status();
      if (s.leadTransferee !== NONE) continue; // a transfer (a caller's, or a draining one) is under way
      // Caught up: replicating (not probing or waiting for a snapshot), with every committed entry, over a live link;
      // the transfer itself sends what is left before it hands over (thesis §3.10).
      const caughtUp: NodeId[] = [];
      for (const [id, pr] of s.progress) {
        const cooling = (this.balancePeerCooldownUntil.get(id) ?? 0) > now;
        const voter = isVoter(s.conf, id); // a learner cannot take leadership
        if (
          id !== this.nodeId &&
          voter &&
          live.includes(id) &&
          !cooling &&
          pr.state === 'replicate' &&
          pr.match >= s.commit
        )
          caughtUp.push(id);
      }
      movable.push({ groupId: g.id, caughtUp });
    }
    const moves = planLeaderMoves({
      self: this.nodeId,
      groupCount: this.groupList.length,
      live,
      leaderCounts,
      movable,
      tolerance: balance.tolerance,
      movesMax: balance.transfersMax ?? MULTIRAFT_LIMITS.balanceTransfersMax,
      draining: this.draining,
      leaving: balance.leaving?.() ?? [],
    });
    for (const move of moves) {
      this.balanceInFlight++;
      this.stats.balanceTransfers++;
      void this.transferLeadership(move.groupId, move.to)
        .catch(() => {
          // Refused, or the target did not take it in time (it was draining, recovering, or cut off meanwhile):
          // leave the group where it is, and offer that target nothing, for a few rounds.
          this.stats.balanceTransfersFailed++;
          const until = this.clock.now() + MULTIRAFT_LIMITS.balanceCooldownRounds * balance.intervalMs;
          this.balanceCooldownUntil.set(move.groupId, until);
          this.balancePeerCooldownUntil.set(move.to, until);
        })
        .finally(() => this.balanceInFlight--);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Introspection and shutdown

  status(): GroupStatusReport[] {
    return this.groupList.map((g) => {
      const s = g.raw.status();
      const peers: PeerProgress[] = [];
      for (const [id, p] of s.progress)
        if (id !== this.nodeId) peers.push({ nodeId: id, match: p.match, next: p.next, state: p.state });
      return {
        groupId: g.id,
        name: g.name,
        role: s.role,
        term: s.term,
        leader: s.lead === NONE ? null : s.lead,
        commitIndex: s.commit,
        appliedIndex: g.sm.appliedIndex(),
        lastIndex: s.lastIndex,
        snapshotIndex: s.snapshotIndex,
        recovering: g.raw.recovering(),
        peers,
        voters: s.conf.voters,
        learners: [...s.conf.learners, ...s.conf.learnersNext],
        ...(isJoint(s.conf) ? { votersOutgoing: s.conf.votersOutgoing } : {}),
      };
    });
  }

  /** How late the timer fires and how long turns take (driver-timing.ts). */
  driverTiming(): DriverTiming {
    return this.timing.snapshot();
  }

  groupIds(): number[] {
    return this.groupList.map((g) => g.id);
  }

  isLeader(groupId: number): boolean {
    return this.group(groupId).isLeader();
  }

  leaderOf(groupId: number): NodeId | null {
    const lead = this.group(groupId).raw.leader();
    return lead === NONE ? null : lead;
  }

  /**
   * The core of a group, for checkers that look inside (the simulator's): the driver itself never reaches past its
   * API. Read-only use.
   */
  coreOf(groupId: number): RawNode {
    return this.group(groupId).raw;
  }

  /** How many groups are installing a snapshot a piece per turn now (the simulator counts crashes amid one). */
  installsUnderWay(): number {
    return this.groupList.filter((g) => g.installing()).length;
  }

  /** A write is in progress (the node is blocked in it). */
  isWriting(): boolean {
    return this.writing !== undefined;
  }

  /** Stops the driver: every waiter fails with SHUTTING_DOWN, nothing runs after. */
  stop(): void {
    if (this.stopped) return;
    this.stopping = true;
    this.stopped = true;
    this.cancelBalanceRound?.();
    this.installTimer?.();
    this.installTimer = undefined;
    this.writing = undefined;
    // What waited for the write in flight wakes now and finds the node stopped (untilWritable), instead of never.
    const waiting = this.afterWrite;
    this.afterWrite = [];
    for (const next of waiting) next();
    const err = new MultiRaftError('SHUTTING_DOWN', 'the node is shutting down');
    for (const g of this.groupList) {
      g.failAll(err);
      this.dropSnapshotBuild(g);
      g.dropInstall();
    }
  }
}

/** A proposal met a leadership transfer in progress: it waits for the next leader instead of failing. */
/** The `progress` request's answer: the leader's last index and each member's match index. */
interface ProgressReply {
  readonly lastIndex: number;
  readonly match: readonly (readonly [NodeId, number])[];
}

/** A ConfChangeV2 as it arrives over the wire (CBOR): checked field by field before the core sees it. */
function isConfChangeV2(v: unknown): v is ConfChangeV2 {
  if (v === null || typeof v !== 'object') return false;
  const cc = v as { transition?: unknown; changes?: unknown };
  if (cc.transition !== 'auto' && cc.transition !== 'explicit') return false;
  if (!Array.isArray(cc.changes)) return false;
  return cc.changes.every((c: unknown) => {
    if (c === null || typeof c !== 'object') return false;
    const one = c as { type?: unknown; node?: unknown };
    return (
      (one.type === 'addVoter' || one.type === 'addLearner' || one.type === 'remove') &&
      typeof one.node === 'number' &&
      Number.isSafeInteger(one.node) &&
      one.node > 0
    );
  });
}

class TransferInProgress extends MultiRaftError {
  constructor(groupId: number, to: NodeId | null) {
    super('NOT_LEADER', 'leadership is being transferred', { groupId, leaderHint: to });
  }
}

/**
 * How many of a Ready's committed entries (a prefix) were durable on this node before the Ready: those before its
 * first new entry, all of them when it has none — the core hands out every not-yet-durable entry in `entries` — and
 * none with a snapshot (the log is replaced). They are committed, so durable on a quorum, and durable here: applying
 * them need not wait for this Ready's write.
 */
function durableCommitted(rd: Ready): number {
  if (rd.snapshot !== undefined) return 0;
  const firstNew = rd.entries[0]?.index;
  if (firstNew === undefined) return rd.committedEntries.length;
  let n = 0;
  while (n < rd.committedEntries.length && rd.committedEntries[n]!.index < firstNew) n++;
  return n;
}

/** The balance options checked (a RangeError names the field), or undefined when the balance is off. */
function checkBalance(b: LeaderBalanceOptions | undefined): LeaderBalanceOptions | undefined {
  if (b === undefined || b.intervalMs === 0) return undefined;
  if (!Number.isInteger(b.intervalMs) || b.intervalMs < 0)
    throw new RangeError(`leaderBalance.intervalMs must be an integer ≥ 0, got ${b.intervalMs}`);
  if (!Number.isInteger(b.tolerance) || b.tolerance < 0)
    throw new RangeError(`leaderBalance.tolerance must be an integer ≥ 0, got ${b.tolerance}`);
  if (b.transfersMax !== undefined && (!Number.isInteger(b.transfersMax) || b.transfersMax < 1))
    throw new RangeError(`leaderBalance.transfersMax must be an integer ≥ 1, got ${b.transfersMax}`);
  return b;
}

/** The bytes a message makes a follower write: its entries' payloads, or its snapshot chunk. */
function payloadBytes(msg: Message): number {
  if (msg.type === 'MsgApp') return msg.entries.reduce((n, e) => n + e.data.byteLength, 0);
  if (msg.type === 'MsgSnap') return msg.data.byteLength;
  return 0;
}

/** The configuration has one voter, this node, and is not joint: it leads without an election round trip. */
function soleVoter(conf: ConfState, self: NodeId): boolean {
  return !isJoint(conf) && conf.voters.length === 1 && conf.voters[0] === self;
}
