/**
 * RaftManager: hosts N Raft groups in one node process, over one log store and one transport.
 *
 * One timer drives every group, and one driver turn (DESIGN.md §6) does, in this order:
 *   1. step the envelopes that arrived since the last turn (socket callbacks only enqueue), in arrival order,
 *      stopping after stepBytesPerTurnMax of entries and snapshot chunks (the rest waits for the next turn, which
 *      then comes at once): what a turn must write and fsync stays bounded however far a follower is behind;
 *   2. collect every group's Ready;
 *   3. persist all of them in ONE SQLite transaction (one fsync covers every group);
 *   4. send the messages, coalescing heartbeats per peer;
 *   5. hand committed entries to each group's apply queue, then advance;
 * and after the rounds, applies what may be applied — in batches of applyBatchBytesMax, the groups taken round
 * robin from a different one each turn, until applyMsPerTurnMax has passed; what is left is applied by the next
 * turn, scheduled at once but after the timers that are due — takes snapshots past the threshold, and announces
 * leadership changes.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Envelope } from '@kalam/transport';
import { Transport } from '@kalam/transport';
import { LogStore } from '@kalam/log-store';
import type { GroupWrite } from '@kalam/log-store';
import type { Message, NodeId, Ready } from '@kalam/raft';
import { NONE, NotLeaderError, Prng, RaftError, RawNode, StateRole } from '@kalam/raft';
import type { MemberAddress, RaftManagerOptions, ResolvedTicks } from './config.js';
import { resolveTiming } from './config.js';
import { DriverTimingRecorder } from './driver-timing.js';
import type { DriverTiming } from './driver-timing.js';
import { MultiRaftError, fromRemote } from './errors.js';
import { GroupRuntime } from './group.js';
import type { ReadBatch } from './group.js';
import { MULTIRAFT_LIMITS } from './limits.js';
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
  /** Filled on the leader: each peer's match index. */
  readonly peers: readonly PeerProgress[];
}

export interface ManagerStats {
  turns: number;
  writes: number;
  entriesWritten: number;
  envelopesIn: number;
  envelopesDropped: number;
  proposals: number;
  forwardedProposals: number;
  reads: number;
  /** ReadIndex rounds asked of the core: concurrent reads of a group share one. */
  readRounds: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
  leaderChanges: number;
}

interface Inbound {
  readonly from: NodeId;
  readonly env: Envelope;
}

interface ProposeOptions {
  readonly timeoutMs?: number;
}

export class RaftManager {
  readonly nodeId: NodeId;
  readonly events = new EventEmitter<{ leaderChange: [LeaderChange] }>();
  readonly stats: ManagerStats = {
    turns: 0,
    writes: 0,
    entriesWritten: 0,
    envelopesIn: 0,
    envelopesDropped: 0,
    proposals: 0,
    forwardedProposals: 0,
    reads: 0,
    readRounds: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    leaderChanges: 0,
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
  /** The group the next turn's apply starts from (round robin, so a busy group cannot starve the others). */
  private applyCursor = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private stopped = false;
  private readCounter = 0;
  private readonly snapshotThreshold: number;
  private readonly snapshotKeep: number;
  private readonly timing: DriverTimingRecorder;
  /** Time spent applying and writing the log in the turn under way (ms), for the driver-timing figures. */
  private turnApplyMs = 0;
  private turnPersistMs = 0;
  /** How long a proposal waits for a group that just lost its leader to elect the next one. */
  private readonly electionGraceMs: number;

  private constructor(
    private readonly opts: RaftManagerOptions,
    readonly ticks: ResolvedTicks,
    readonly logStore: LogStore,
    readonly transport: Transport,
  ) {
    this.nodeId = opts.nodeId;
    this.snapshotThreshold = opts.snapshotThreshold ?? 1000;
    this.snapshotKeep = opts.snapshotKeepEntries ?? Math.min(200, Math.floor(this.snapshotThreshold / 2));
    this.electionGraceMs = 2 * ticks.electionTickMax * ticks.tickMs;
    this.timing = new DriverTimingRecorder(ticks.tickMs, ticks.heartbeatTick * ticks.tickMs);
    // Every waiting read and proposal listens for leadership changes while it waits (and stops after).
    this.events.setMaxListeners(MULTIRAFT_LIMITS.pendingProposalsMax);
  }

  /** Opens raft.db, recovers every group, starts the transport and the timer. */
  static async start(opts: RaftManagerOptions): Promise<RaftManager> {
    const ticks = resolveTiming(opts.timing);
    const self = opts.members.find((m) => m.nodeId === opts.nodeId);
    if (self === undefined) throw new RangeError(`node ${opts.nodeId} is not among the members`);
    if (new Set(opts.groups.map((g) => g.id)).size !== opts.groups.length)
      throw new RangeError('group ids must be distinct');
    mkdirSync(opts.dataDir, { recursive: true });
    const logStore = LogStore.open({ path: join(opts.dataDir, 'raft.db'), groupIds: opts.groups.map((g) => g.id) });
    let manager: RaftManager | undefined;
    const transport = new Transport({
      nodeId: opts.nodeId,
      clusterId: opts.clusterId,
      secret: opts.secret,
      listen: { host: self.host, port: self.port },
      peers: opts.members.filter((m) => m.nodeId !== opts.nodeId),
      onEnvelopes: (from, envs) => manager?.enqueue(from, envs),
      onRequest: (from, method, body) => {
        if (manager === undefined) return Promise.reject(new MultiRaftError('SHUTTING_DOWN', 'starting'));
        return manager.handleRequest(from, method, body);
      },
      onPeerStatus: (peer, status) => manager?.onPeerStatus(peer, status),
      ...(opts.log !== undefined ? { log: opts.log } : {}),
    });
    try {
      manager = new RaftManager(opts, ticks, logStore, transport);
      manager.recoverGroups();
      await transport.start();
    } catch (err) {
      logStore.close();
      await transport.close().catch(() => undefined);
      throw err;
    }
    manager.timer = setInterval(() => manager?.onTick(), ticks.tickMs);
    return manager;
  }

  private recoverGroups(): void {
    const voters = this.opts.members.map((m) => m.nodeId);
    const prng = new Prng(this.opts.seed ?? (this.nodeId * 7919 + Date.now()) >>> 0);
    for (const spec of this.opts.groups) {
      const state = this.logStore.load(spec.id);
      const snap = state.snapshot;
      if (snap !== undefined && spec.stateMachine.appliedIndex() < snap.index) spec.stateMachine.restore(snap);
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
        freshStartVoteAbstainTicks: this.ticks.electionTickMax,
        ...(this.opts.limits !== undefined ? { limits: this.opts.limits } : {}),
        restore: {
          hardState: state.hardState,
          ...(snap !== undefined ? { snapshot: snap } : {}),
          offsetIndex: state.offsetIndex,
          offsetTerm: state.offsetTerm,
          entries: state.entries,
          applied: Math.min(spec.stateMachine.appliedIndex(), state.hardState.commit),
        },
      });
      const g = new GroupRuntime(spec.id, spec.name, raw, spec.stateMachine, snap?.index ?? 0);
      this.groups.set(spec.id, g);
      this.groupList.push(g);
    }
    if (voters.length === 1) for (const g of this.groupList) g.raw.campaign(); // a single member leads at once
  }

  // -------------------------------------------------------------------------------------------------
  // The driver

  private enqueue(from: NodeId, envs: Envelope[]): void {
    if (this.inbox.length + envs.length > MULTIRAFT_LIMITS.inboxEnvelopesMax) {
      this.stats.envelopesDropped += envs.length;
      return;
    }
    for (const env of envs) this.inbox.push({ from, env });
    this.scheduleTurn();
  }

  private scheduleTurn(): void {
    if (this.turnScheduled || this.stopped) return;
    this.turnScheduled = true;
    setImmediate(() => {
      this.turnScheduled = false;
      this.turn();
    });
  }

  private onTick(): void {
    if (this.stopped) return;
    this.timing.tick(performance.now());
    for (const g of this.groupList) g.raw.tick();
    this.turn();
    if (this.deferredAnswers.length > 0) {
      const answers = this.deferredAnswers;
      this.deferredAnswers = [];
      this.sendNow(answers);
    }
  }

  private turn(): void {
    if (this.stopped) return;
    const startedAt = performance.now();
    this.turnApplyMs = 0;
    this.turnPersistMs = 0;
    this.stats.turns++;
    this.askReadBatches();
    this.stepInbox();
    for (let round = 0; round < MULTIRAFT_LIMITS.drainRoundsMax; round++) {
      const readies: [GroupRuntime, Ready][] = [];
      for (const g of this.groupList) if (g.raw.hasReady()) readies.push([g, g.raw.ready()]);
      if (readies.length === 0) break;
      // Messages that may leave before the write go first, so followers write while the leader does.
      this.send(readies, 'before-persist');
      this.persist(readies);
      this.send(readies, 'after-persist');
      for (const [g, rd] of readies) {
        if (rd.snapshot !== undefined) {
          g.installSnapshot(rd.snapshot);
          this.stats.snapshotsInstalled++;
        }
        for (const e of rd.committedEntries) g.applyQueue.push(e);
        g.raw.advance(rd);
        for (const rs of rd.readStates) g.onReadState(rs);
      }
    }
    const applyStartedAt = performance.now();
    this.applySlice();
    const endedAt = performance.now();
    this.turnApplyMs += endedAt - applyStartedAt;
    this.timing.turnDone(endedAt - startedAt, this.turnApplyMs, this.turnPersistMs);
    // Work left that waits for nothing but this node: another turn at once (after the timers due). A group paused
    // for another group's index (canApply) is looked at again when that group applies or at the next tick.
    if (this.groupList.some((g) => g.raw.hasReady() || g.canApplyNext())) this.scheduleTurn();
  }

  /**
   * Applies committed entries for up to applyMsPerTurnMax (at least one batch), the groups taken round robin from a
   * different one each turn; then snapshots and announces leadership changes.
   */
  private applySlice(): void {
    const deadline = performance.now() + MULTIRAFT_LIMITS.applyMsPerTurnMax;
    const count = this.groupList.length;
    for (let k = 0; k < count; k++) {
      const g = this.groupList[(this.applyCursor + k) % count]!;
      while (performance.now() < deadline && g.drainApplyQueue(MULTIRAFT_LIMITS.applyBatchBytesMax).entries > 0);
      this.maybeSnapshot(g);
      this.announceLeadership(g);
    }
    this.applyCursor = (this.applyCursor + 1) % Math.max(1, count);
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
    if (g === undefined) {
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

  private persist(readies: readonly [GroupRuntime, Ready][]): void {
    const writes: GroupWrite[] = [];
    for (const [g, rd] of readies) {
      // A change of the commit index alone need not be durable (it is learned again from the leader), so
      // it waits for the next write that must happen anyway instead of costing an fsync of its own.
      if (!rd.mustSync && rd.entries.length === 0 && rd.snapshot === undefined) continue;
      writes.push({
        groupId: g.id,
        entries: rd.entries,
        ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
        ...(rd.snapshot !== undefined ? { snapshot: rd.snapshot } : {}),
      });
      this.stats.entriesWritten += rd.entries.length;
    }
    if (writes.length === 0) return;
    const startedAt = performance.now();
    this.logStore.write(writes); // synchronous: durable when it returns
    this.turnPersistMs += performance.now() - startedAt;
    this.stats.writes++;
  }

  private send(readies: readonly [GroupRuntime, Ready][], when: 'before-persist' | 'after-persist'): void {
    const out: { groupId: number; msg: Message }[] = [];
    for (const [g, rd] of readies) {
      for (const msg of when === 'before-persist' ? rd.messages : rd.persistedMessages) {
        if (msg.type === 'MsgHeartbeatResp' && msg.context === null) this.deferredAnswers.push({ groupId: g.id, msg });
        else out.push({ groupId: g.id, msg });
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
    if (when === 'before-persist') this.transport.flush();
  }

  private sendNow(out: readonly { groupId: number; msg: Message }[]): void {
    for (const [to, envs] of coalesce(out)) {
      for (const { groupId, msg } of envs) this.transport.send({ groupId, from: this.nodeId, to, msg });
    }
  }

  private maybeSnapshot(g: GroupRuntime): void {
    const applied = g.sm.appliedIndex();
    if (applied - g.lastSnapshotIndex < this.snapshotThreshold) return;
    const data = g.sm.snapshot();
    const offset = g.raw.raft.log.offset().index;
    const compactTo = Math.max(offset, applied - this.snapshotKeep);
    const snap = g.raw.compact(applied, data, compactTo);
    const off = g.raw.raft.log.offset();
    this.logStore.compact(g.id, snap, off.index, off.term);
    g.lastSnapshotIndex = snap.index;
    this.stats.snapshotsTaken++;
  }

  private announceLeadership(g: GroupRuntime): void {
    const r = g.raw.raft;
    const leader = r.lead === NONE ? null : r.lead;
    const isLocal = r.role === StateRole.Leader;
    if (leader === g.announcedLeader && isLocal === g.wasLeader && (leader === null || r.term === g.announcedTerm))
      return;
    if (leader === null && g.announcedLeader !== null) g.leaderLostAtMs = Date.now();
    g.announcedLeader = leader;
    g.announcedTerm = r.term;
    g.wasLeader = isLocal;
    if (isLocal) this.stats.leaderChanges++;
    this.events.emit('leaderChange', { groupId: g.id, name: g.name, leader, term: r.term, isLocal });
  }

  private onPeerStatus(peer: NodeId, status: 'connected' | 'disconnected'): void {
    if (status !== 'disconnected' || this.stopped) return;
    // The link to that node broke: groups it led forget it, so a new leader is elected without waiting
    // out a whole election timeout (only liveness depends on this; safety never does).
    for (const g of this.groupList) if (g.raw.raft.lead === peer && !g.isLeader()) g.raw.forgetLeader();
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
   * caller reads its own write here. No leader known: fails at once with LEADER_NOT_AVAILABLE.
   */
  async propose(groupId: number, command: Uint8Array, options: ProposeOptions = {}): Promise<unknown> {
    this.checkOpen();
    const g = this.group(groupId);
    const timeoutMs = options.timeoutMs ?? MULTIRAFT_LIMITS.requestTimeoutMsDefault;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (g.isLeader()) {
        try {
          return (await this.proposeLocal(g, command, deadline)).response;
        } catch (err) {
          // During a leadership transfer proposals wait for the new leader rather than fail.
          if (!(err instanceof MultiRaftError && err.message === TRANSFERRING)) throw err;
          await this.waitLeaderChange(g, deadline);
          continue;
        }
      }
      const leader = g.raw.raft.lead;
      if (leader === NONE) {
        // Fail fast, unless the group lost its leader a moment ago (a transfer or a failover is electing the
        // next one): then wait for it, at most one election-timeout range.
        if (Date.now() - g.leaderLostAtMs < this.electionGraceMs && Date.now() < deadline) {
          await this.waitLeaderChange(g, Math.min(deadline, g.leaderLostAtMs + this.electionGraceMs)).catch(
            () => undefined,
          );
          if (g.raw.raft.lead !== NONE) continue;
        }
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
        if (g.raw.raft.lead === leader) await this.waitLeaderChange(g, deadline);
      }
    }
  }

  private proposeLocal(
    g: GroupRuntime,
    command: Uint8Array,
    deadline: number,
  ): Promise<{ index: number; response: unknown }> {
    if (g.proposals.size >= MULTIRAFT_LIMITS.pendingProposalsMax) {
      return Promise.reject(new MultiRaftError('OVERLOADED', 'too many proposals in flight', { groupId: g.id }));
    }
    let placed: { index: number; term: number };
    try {
      placed = g.raw.propose(command);
    } catch (err) {
      return Promise.reject(this.mapRaftError(g, err));
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
      reply = (await this.transport.request(
        leader,
        'propose',
        { groupId: g.id, command },
        Math.max(1, deadline - Date.now()),
      )) as { index: number; response: unknown };
    } catch (err) {
      throw fromRemote(err, g.id);
    }
    await this.withDeadline(g.waitApplied(reply.index), deadline, () => undefined, g);
    return reply.response;
  }

  /**
   * A linearizable read point (ReadIndex, Raft thesis §6.4), on followers too: resolves with an index
   * once this node has applied it, so a local read then sees every write acknowledged before the call.
   */
  async read(groupId: number, options: ProposeOptions = {}): Promise<number> {
    this.checkOpen();
    const g = this.group(groupId);
    const deadline = Date.now() + (options.timeoutMs ?? MULTIRAFT_LIMITS.requestTimeoutMsDefault);
    // A read has no effect, so when the leader it went to changes, is stopping, or has not committed in its
    // term yet, it is simply asked again (with a fresh context: a read index is never reused) until the deadline.
    for (;;) {
      const index = await this.readOnce(g, deadline);
      if (index !== undefined) {
        await this.withDeadline(g.waitApplied(index), deadline, () => undefined, g);
        return index;
      }
    }
  }

  /** One ReadIndex round: the index, or undefined when it should be asked again. */
  private async readOnce(g: GroupRuntime, deadline: number): Promise<number | undefined> {
    if (g.raw.raft.lead === NONE && Date.now() - g.leaderLostAtMs < this.electionGraceMs) {
      await this.waitLeaderChange(g, Math.min(deadline, g.leaderLostAtMs + this.electionGraceMs)).catch(
        () => undefined,
      );
    }
    const batch = this.joinReadBatch(g);
    this.stats.reads++;
    let onChange: ((c: LeaderChange) => void) | undefined;
    const leaderMoved = new Promise<'moved'>((resolve) => {
      onChange = (c: LeaderChange): void => {
        if (c.groupId === g.id) resolve('moved');
      };
      this.events.on('leaderChange', onChange);
    });
    try {
      const outcome = await this.withDeadline(Promise.race([batch.answer, leaderMoved]), deadline, () => undefined, g);
      return outcome === 'moved' ? undefined : outcome;
    } catch (err) {
      const retriable = err instanceof MultiRaftError && err.code === 'READ_REJECTED' && Date.now() < deadline;
      if (!retriable) throw err;
      await new Promise((resolve) => setTimeout(resolve, this.ticks.tickMs));
      return undefined;
    } finally {
      if (onChange !== undefined) this.events.off('leaderChange', onChange);
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
    let batch = g.openRead;
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
    const deadline = Date.now() + (options.timeoutMs ?? 3 * this.ticks.electionTickMax * this.ticks.tickMs);
    const target = to ?? this.bestTransferee(g);
    if (target === undefined) throw new MultiRaftError('TRANSFER_FAILED', 'no follower to transfer to', { groupId });
    try {
      g.raw.transferLeader(target);
    } catch (err) {
      throw this.mapRaftError(g, err);
    }
    this.scheduleTurn();
    while (g.raw.raft.lead !== target) {
      if (Date.now() >= deadline) {
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
    for (const [id, pr] of g.raw.raft.prs) {
      if (id === this.nodeId || !this.transport.peerConnected(id)) continue;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    return best;
  }

  /** Transfers every group this node leads (graceful shutdown); bounded by `timeoutMs`. */
  async transferAllLeadership(timeoutMs: number): Promise<{ moved: number; failed: number }> {
    const led = this.groupList.filter((g) => g.isLeader());
    const results = await Promise.allSettled(led.map((g) => this.transferLeadership(g.id, undefined, { timeoutMs })));
    const moved = results.filter((r) => r.status === 'fulfilled').length;
    return { moved, failed: results.length - moved };
  }

  private waitLeaderChange(g: GroupRuntime, deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        reject(new MultiRaftError('TIMEOUT', `group ${g.name}: timed out`, { groupId: g.id }));
        return;
      }
      const onChange = (c: LeaderChange): void => {
        if (c.groupId !== g.id) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new MultiRaftError('TIMEOUT', `group ${g.name}: timed out waiting for a leader`, { groupId: g.id }));
      }, remaining);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.events.off('leaderChange', onChange);
      };
      this.events.on('leaderChange', onChange);
    });
  }

  private withDeadline<T>(p: Promise<T>, deadline: number, onTimeout: () => void, g: GroupRuntime): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          onTimeout();
          reject(
            new MultiRaftError('TIMEOUT', `group ${g.name}: no answer in time (outcome unknown)`, { groupId: g.id }),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  private mapRaftError(g: GroupRuntime, err: unknown): Error {
    if (err instanceof NotLeaderError) {
      const hint = err.leaderHint === NONE ? null : err.leaderHint;
      return new MultiRaftError(hint === null ? 'LEADER_NOT_AVAILABLE' : 'NOT_LEADER', err.message, {
        groupId: g.id,
        leaderHint: hint,
      });
    }
    if (err instanceof RaftError) {
      if (err.code === 'LEADER_TRANSFER_IN_PROGRESS') {
        return new MultiRaftError('NOT_LEADER', TRANSFERRING, { groupId: g.id, leaderHint: g.raw.raft.leadTransferee });
      }
      if (err.code === 'INFLIGHT_LIMIT' || err.code === 'UNCOMMITTED_LIMIT') {
        return new MultiRaftError('OVERLOADED', err.message, { groupId: g.id }, { cause: err });
      }
      return new MultiRaftError('TRANSFER_FAILED', err.message, { groupId: g.id }, { cause: err });
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  /** The forwarding RPC: proposals from followers, and node info. */
  private async handleRequest(from: NodeId, method: string, body: unknown): Promise<unknown> {
    this.checkOpen();
    switch (method) {
      case 'propose': {
        const b = body as { groupId?: unknown; command?: unknown } | null;
        if (b === null || typeof b.groupId !== 'number' || !(b.command instanceof Uint8Array)) {
          throw new MultiRaftError('UNKNOWN_GROUP', 'malformed propose request');
        }
        const g = this.group(b.groupId);
        if (!g.isLeader()) {
          // Always NOT_LEADER, even when this node knows no leader yet (it just stepped down in a transfer):
          // the refusal comes before anything was appended, so the forwarding node may safely try again.
          const lead = g.raw.raft.lead;
          throw new MultiRaftError('NOT_LEADER', `node ${this.nodeId} is not the leader`, {
            groupId: g.id,
            leaderHint: lead === NONE ? null : lead,
          });
        }
        return this.proposeLocal(g, b.command, Date.now() + MULTIRAFT_LIMITS.requestTimeoutMsDefault);
      }
      case 'info':
        return { nodeId: this.nodeId, from, leading: this.groupList.filter((g) => g.isLeader()).map((g) => g.id) };
      default:
        throw new MultiRaftError('UNKNOWN_GROUP', `unknown method ${method}`);
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
        peers,
      };
    });
  }

  /** How late the driver's timer fires and how long its turns take (driver-timing.ts). */
  driverTiming(): DriverTiming {
    return this.timing.snapshot();
  }

  members(): readonly MemberAddress[] {
    return this.opts.members;
  }

  groupIds(): number[] {
    return this.groupList.map((g) => g.id);
  }

  isLeader(groupId: number): boolean {
    return this.group(groupId).isLeader();
  }

  leaderOf(groupId: number): NodeId | null {
    const lead = this.group(groupId).raw.raft.lead;
    return lead === NONE ? null : lead;
  }

  /** Slow-disk fault: every log write blocks this long. */
  setFsyncDelayMs(ms: number): void {
    this.logStore.setFsyncDelayMs(ms);
  }

  /**
   * Stops the node. With `transferLeadership`, groups this node leads are handed over first (bounded by
   * `timeoutMs`), so that requests in flight elsewhere do not fail.
   */
  async stop(options: { transferLeadership?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    if (options.transferLeadership === true) {
      await this.transferAllLeadership(options.timeoutMs ?? 2_000).catch(() => undefined);
    }
    this.stopping = true;
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const err = new MultiRaftError('SHUTTING_DOWN', 'the node is shutting down');
    for (const g of this.groupList) g.failAll(err);
    await this.transport.close();
    this.logStore.close();
  }
}

const TRANSFERRING = 'leadership is being transferred';

/** The bytes a message makes a follower write: its entries' payloads, or its snapshot chunk. */
function payloadBytes(msg: Message): number {
  if (msg.type === 'MsgApp') return msg.entries.reduce((n, e) => n + e.data.byteLength, 0);
  if (msg.type === 'MsgSnap') return msg.data.byteLength;
  return 0;
}
