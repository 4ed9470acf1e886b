/**
 * The simulated cluster both workloads run on (simulation.ts for pure Raft groups, kalam/simulation.ts for whole
 * Kalam nodes): the clock and its event queue, the network, the disks and the faults — and on every node the
 * shipped driver, RaftDriver of @kalam/multiraft, with this file's simulated storage, network and clock injected.
 * Nothing of the driver is written again here: what a seed checks is the code `kalam serve` runs.
 *
 * Time is simulated milliseconds. Every node's timer fires each SIM_LIMITS.tickMs (with its own phase) and calls
 * the driver's `tick`; the driver's "soon" and its timers are events on the same queue. A write the driver hands
 * to its storage is durable when its fsync event fires (the node is blocked meanwhile, as an event loop inside
 * fsync is; a crash in that window either loses it or finds it landed whole, as a SQLite transaction whose fsync had
 * completed unseen). Envelopes and forwarded requests travel as delivery events.
 * Promises the driver settles (a proposal applied, a read answered) run their continuations between events:
 * `runUntil` drains the microtask queue after each event, so the order of everything is fixed by the seed.
 *
 * Faults: message loss, delay (and so reordering) and duplication whose rates drift over the run, partitions of
 * several shapes that overlap and heal link by link, crashes (the write in flight lost or landed), slow disks. Every draw
 * comes from the seeded PRNGs handed in, in an order fixed by the seed: `net` for the network, `faults` for the
 * faults. The driver supplies the workload, what a write's completion does, and where the faults aim.
 */
import type { DriverBugs, DriverClock, DriverNetwork, DriverStorage, LeaderChange } from '@kalam/multiraft';
import { COALESCED_GROUP, RaftDriver } from '@kalam/multiraft';
import type { Envelope } from '@kalam/transport';
import type { GroupWrite } from '@kalam/log-store';
import type { Entry, Message, NodeId, PlantedBugs, RaftLimits } from '@kalam/raft';
import { AssertionError, Prng, nodeId } from '@kalam/raft';
import type { Checker } from './checker.js';
import { EventQueue } from './events.js';
import { SIM_LIMITS } from './options.js';
import { SimSnapshotFiles } from './snapshot-files.js';
import type { SimProcess } from './process.js';
import type { Trace } from './trace.js';

/** A forwarded request or its answer, on its way between two nodes. */
type Rpc =
  | { readonly kind: 'request'; readonly id: number; readonly method: string; readonly body: unknown }
  | { readonly kind: 'answer'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly kind: 'answer'; readonly id: number; readonly ok: false; readonly error: RemoteError };

type ClusterEvent =
  | { at: number; seq: number; kind: 'deliver'; from: NodeId; to: NodeId; env: Envelope }
  | { at: number; seq: number; kind: 'rpc'; from: NodeId; to: NodeId; epoch: number; rpc: Rpc }
  | { at: number; seq: number; kind: 'tick'; node: NodeId; epoch: number }
  | { at: number; seq: number; kind: 'soon'; node: NodeId; epoch: number; fn: () => void }
  | { at: number; seq: number; kind: 'timer'; node: NodeId; epoch: number; id: number }
  | { at: number; seq: number; kind: 'fsync'; node: NodeId; epoch: number }
  | { at: number; seq: number; kind: 'control' }
  | { at: number; seq: number; kind: 'isolate'; node: NodeId }
  | { at: number; seq: number; kind: 'crash'; node: NodeId };

type EventBody = ClusterEvent extends infer E ? (E extends ClusterEvent ? Omit<E, 'at' | 'seq'> : never) : never;

/** The part of a per-seed profile that the cluster's faults read. */
export interface FaultProfile {
  readonly lossRate: number;
  readonly dupRate: number;
  readonly delayMsMax: number;
  readonly partitionChancePerTick: number;
  readonly crashChancePerTick: number;
  readonly slowDiskChancePerTick: number;
  readonly downTicksMin: number;
  readonly downTicksSpread: number;
  readonly partitionTicksMin: number;
  readonly partitionTicksSpread: number;
  readonly fsyncMsMax: number;
}

/**
 * How hard a driver's faults hit, for steady seeds and for flapping ones (frequent, short faults). A chance
 * per tick is drawn as `min + float() * spread`.
 */
export interface FaultScale {
  readonly downTicksSpread: number;
  readonly partitionTicksSpread: number;
  readonly partitionChancePerTick: readonly [min: number, spread: number];
  readonly crashChancePerTick: readonly [min: number, spread: number];
}

export interface FaultScales {
  readonly flapping: FaultScale;
  readonly steady: FaultScale;
}

/**
 * Draws a per-seed profile: whether the seed flaps and the fault rates, then the driver's own part
 * (`drawRest`, from the same PRNG), then the disk's speed. The order of draws is part of every trace hash.
 */
export function drawProfile<R>(p: Prng, scales: FaultScales, drawRest: (p: Prng) => R): FaultProfile & R {
  // A third of the seeds are "flapping": frequent, short faults.
  const flapping = p.chance(0.35);
  const s = flapping ? scales.flapping : scales.steady;
  const faults = {
    downTicksMin: flapping ? 3 : 20,
    downTicksSpread: s.downTicksSpread,
    partitionTicksMin: flapping ? 5 : 20,
    partitionTicksSpread: s.partitionTicksSpread,
    lossRate: p.chance(0.3) ? 0 : p.float() * 0.1,
    dupRate: p.chance(0.3) ? 0 : p.float() * 0.05,
    delayMsMax: 1 + p.int(30),
    partitionChancePerTick: s.partitionChancePerTick[0] + p.float() * s.partitionChancePerTick[1],
    crashChancePerTick: s.crashChancePerTick[0] + p.float() * s.crashChancePerTick[1],
    slowDiskChancePerTick: p.float() * 0.004,
  };
  const rest = drawRest(p);
  return { ...faults, ...rest, fsyncMsMax: 1 + p.int(flapping ? 15 : 5) };
}

/** The counters the cluster keeps; each driver's stats add their own. */
export interface ClusterStats {
  leaderChanges: number;
  crashes: number;
  partitions: number;
  messagesDelivered: number;
  messagesDropped: number;
  snapshotsInstalled: number;
  /** Leadership transfers the nodes' leader balance started (each driver's count, added when its life ends). */
  balanceTransfers: number;
}

export function zeroClusterStats(): ClusterStats {
  return {
    leaderChanges: 0,
    crashes: 0,
    partitions: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    snapshotsInstalled: 0,
    balanceTransfers: 0,
  };
}

/**
 * The PRNG streams of a run, forked from its seed in a fixed order: the network's, the faults', the clients', the
 * drivers'; `prng` forks the rest (the profile, then each node's).
 */
export function seedStreams(seed: number): { prng: Prng; net: Prng; faults: Prng; clients: Prng; drivers: Prng } {
  const prng = new Prng(seed);
  const net = prng.fork();
  const faults = prng.fork();
  const clients = prng.fork();
  const drivers = prng.fork();
  return { prng, net, faults, clients, drivers };
}

/** An envelope in the trace: its group and message, or the coalesced heartbeats it carries. */
function describe(env: Envelope): string {
  if (env.groupId === COALESCED_GROUP) return 'coalesced';
  const msg = env.msg as Message;
  return `g${env.groupId} ${msg.type} t${msg.term}`;
}

/** Lets every promise continuation queued so far run (a macrotask boundary drains the microtask queue). */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Node ids 1..count. */
export function nodeIds(count: number): NodeId[] {
  return Array.from({ length: count }, (_, i) => nodeId(i + 1));
}

/** Faults strike only in `safety`; the drivers use the other phases for their setup, liveness and end checks. */
export type SimPhase = 'setup' | 'safety' | 'liveness' | 'done';

/**
 * Which links a partition blocks around its victim: all of them, only inbound, only outbound, a random split
 * of all nodes into two sides, or two sides that only the victim bridges (openraft #2080).
 */
export type PartitionShape = 'isolate' | 'inbound' | 'outbound' | 'split' | 'bridge';

/**
 * What a forwarded request failed with, as it crosses the wire: the remote error's code and leader hint (the
 * transport's REMOTE_ERROR carries the same), or TIMEOUT when no answer came in time.
 */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
  constructor(
    readonly code: string,
    message: string,
    readonly leaderHint: number | null = null,
  ) {
    super(message);
  }
}

/** How one node's driver is built, besides the I/O the cluster gives it (what each workload chooses). */
export interface DriverSetup {
  readonly limits: Partial<RaftLimits>;
  readonly snapshotThreshold: number;
  readonly snapshotKeepEntries: number;
  /** RaftDriver's installBytesPerTurn (its default when absent). */
  readonly installBytesPerTurn?: number;
  readonly bugs?: DriverBugs;
  readonly coreBugs?: PlantedBugs;
  /** RaftDriver's applyScope, as the node's runtime passes it (the whole-Kalam simulation: data.db's transaction). */
  readonly applyScope?: (applies: () => void) => void;
  /** RaftDriver's onApplied: called after each apply batch, inside the scope when there is one. */
  readonly onApplied?: (entries: number, ms: number) => void;
}

/** The command key of an entry as the checkers compare it. */
export function entryKey(e: Entry): string {
  return e.kind === 'noop' ? `noop@${e.term}` : decoder.decode(e.data);
}

const decoder = new TextDecoder();

/** The driver's timing in the simulator: a tick of 10 ms, heartbeats every tick, elections in [10, 20) ticks. */
const SIM_TICKS = {
  tickMs: SIM_LIMITS.tickMs,
  heartbeatTick: SIM_LIMITS.heartbeatTick,
  electionTick: SIM_LIMITS.electionTick,
  electionTickMax: 2 * SIM_LIMITS.electionTick,
} as const;

export interface ClusterParts<N, P, S> {
  readonly trace: Trace;
  /** Seeds the drivers' election jitter, one draw per node life. */
  readonly driverSeeds: Prng;
  readonly checker: Checker;
  /** Draws of the network (loss, delay, duplication). */
  readonly net: Prng;
  /** Draws of the faults (when, what, whom). */
  readonly faults: Prng;
  readonly profile: P;
  readonly ids: NodeId[];
  readonly nodes: N[];
  readonly stats: S;
  readonly phase: SimPhase;
}

export abstract class SimCluster<N extends SimProcess, P extends FaultProfile, S extends ClusterStats> {
  readonly checker: Checker;
  readonly stats: S;
  protected readonly trace: Trace;
  protected readonly faults: Prng;
  protected readonly profile: P;
  protected readonly ids: NodeId[];
  protected readonly nodes: N[];
  /** Simulated milliseconds since the start of the run. */
  protected now = 0;
  protected phase: SimPhase;
  /** The network's weather, which changes over the run. */
  protected delayMsMax: number;
  private lossRate: number;
  /** While true, the network loses nothing (a driver's setup phase, which is not what a seed tests). */
  protected lossless = false;
  private dupRate: number;
  private readonly net: Prng;
  /** Seeds every life of every node's driver (its election jitter). */
  private readonly driverSeeds: Prng;
  private readonly queue = new EventQueue<ClusterEvent>();
  private seq = 0;
  private nextTimer = 0;
  private nextCall = 0;
  /** Blocked directed links ("a>b") and when each heals: partitions overlap and heal independently. */
  private readonly blocked = new Map<string, number>();
  private readonly slowUntil = new Map<NodeId, number>();

  protected constructor(parts: ClusterParts<N, P, S>) {
    this.trace = parts.trace;
    this.checker = parts.checker;
    this.net = parts.net;
    this.faults = parts.faults;
    this.profile = parts.profile;
    this.ids = parts.ids;
    this.nodes = parts.nodes;
    this.stats = parts.stats;
    this.phase = parts.phase;
    this.lossRate = parts.profile.lossRate;
    this.dupRate = parts.profile.dupRate;
    this.delayMsMax = parts.profile.delayMsMax;
    this.driverSeeds = parts.driverSeeds;
  }

  // What the workload supplies --------------------------------------------------------------------------

  /** How `n`'s driver is built (limits, snapshots, planted bugs). */
  protected abstract driverSetup(n: N): DriverSetup;
  /** One step of faults and clients per tick. */
  protected abstract control(): void;
  /** The node a crash or a partition strikes. */
  protected abstract pickVictim(): N;
  /** Draws a partition (in the workload's order of draws) and `cut`s it. */
  protected abstract partition(): void;
  /** `n` became the leader of `group` during the safety phase: the workload may aim a fault at it. */
  protected abstract onNewLeader(n: N, group: number): void;
  /** `n` crashed: its clients lose their calls. */
  protected abstract onCrash(n: N): void;
  /** `n` booted again from its disk. */
  protected onRestart(_n: N): void {}
  /** The checker's index of a group id (the order the workload lists its groups in). */
  protected abstract groupIndex(groupId: number): number;

  // The clock ------------------------------------------------------------------------------------------

  /** Boots every node, schedules every node's first tick (each with its own phase) and the first control step. */
  protected start(): void {
    const tickMs = SIM_LIMITS.tickMs;
    for (const n of this.nodes) this.boot(n);
    for (const n of this.nodes) this.schedule(this.faults.int(tickMs), { kind: 'tick', node: n.id, epoch: n.epoch });
    this.schedule(0, { kind: 'control' });
  }

  /**
   * Runs events up to `endMs`, stopping early at the first violation or once `done` holds. After each event the
   * microtask queue is drained (continuations of the promises the event settled), before the next event runs.
   */
  protected async runUntil(endMs: number, done?: () => boolean): Promise<void> {
    for (;;) {
      const ev = this.queue.peek();
      if (ev === undefined || ev.at > endMs || this.checker.failed) return;
      if (done?.() === true) return;
      this.queue.pop();
      this.now = ev.at;
      this.checker.now = ev.at;
      this.handle(ev);
      if (ev.kind !== 'deliver') await drainMicrotasks();
    }
  }

  protected schedule(delayMs: number, body: EventBody): void {
    this.queue.push({ ...body, at: this.now + delayMs, seq: this.seq++ });
  }

  protected node(id: NodeId): N {
    const n = this.nodes[id - 1];
    if (n === undefined) throw new RangeError(`no node ${id}`);
    return n;
  }

  private handle(ev: ClusterEvent): void {
    switch (ev.kind) {
      case 'deliver':
        this.deliver(ev.from, ev.to, ev.env);
        return;
      case 'rpc':
        this.deliverRpc(ev.from, ev.to, ev.epoch, ev.rpc);
        return;
      case 'tick': {
        const n = this.node(ev.node);
        if (ev.epoch !== n.epoch) return;
        this.schedule(SIM_LIMITS.tickMs, { kind: 'tick', node: n.id, epoch: n.epoch });
        if (n.up) this.guard(n, () => n.driver?.tick());
        return;
      }
      case 'soon':
      case 'timer': {
        const n = this.node(ev.node);
        if (ev.epoch !== n.epoch || !n.up) return;
        const fn = ev.kind === 'soon' ? ev.fn : n.timers.get(ev.id);
        if (ev.kind === 'timer') n.timers.delete(ev.id);
        if (fn !== undefined) this.guard(n, fn);
        return;
      }
      case 'fsync':
        this.fsync(this.node(ev.node), ev.epoch);
        return;
      case 'isolate':
        if (this.phase === 'safety') this.isolate(ev.node);
        return;
      case 'crash': {
        const n = this.node(ev.node);
        if (this.phase === 'safety' && n.up) this.crash(n);
        return;
      }
      case 'control':
        this.control();
        this.schedule(SIM_LIMITS.tickMs, { kind: 'control' });
        return;
    }
  }

  // The driver of each node, and its I/O -------------------------------------------------------------

  /** Runs `fn` against a node's driver: an exception there is a violated invariant (a node that would stop). */
  protected guard(n: N, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onNodeError(n, err);
    }
  }

  /** What an exception escaping a node's driver means; the default: the core's assertion, or a stopped node. */
  protected onNodeError(n: N, err: unknown): void {
    const what = err instanceof AssertionError ? 'core-assertion' : 'core-exception';
    this.checker.violate(what, `node ${n.id}: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** A new life of `n`: a driver built from its disk image alone, with this cluster's I/O. */
  private boot(n: N): void {
    const setup = this.driverSetup(n);
    const epoch = n.epoch;
    const driver = new RaftDriver({
      nodeId: n.id,
      voters: this.ids,
      groups: n.groupSpecs(),
      ticks: SIM_TICKS,
      storage: this.storageOf(n),
      network: this.networkOf(n, epoch),
      clock: this.clockOf(n, epoch),
      seed: this.driverSeeds.int(2 ** 31),
      limits: setup.limits,
      snapshotThreshold: setup.snapshotThreshold,
      snapshotKeepEntries: setup.snapshotKeepEntries,
      ...(setup.installBytesPerTurn !== undefined ? { installBytesPerTurn: setup.installBytesPerTurn } : {}),
      leaderBalance: {
        intervalMs: SIM_LIMITS.leaderBalanceIntervalTicks * SIM_LIMITS.tickMs,
        tolerance: SIM_LIMITS.leaderBalanceTolerance,
      },
      ...(setup.bugs !== undefined ? { bugs: setup.bugs } : {}),
      ...(setup.coreBugs !== undefined ? { coreBugs: setup.coreBugs } : {}),
      ...(setup.applyScope !== undefined ? { applyScope: setup.applyScope } : {}),
      ...(setup.onApplied !== undefined ? { onApplied: setup.onApplied } : {}),
      // Snapshots in "files" as a node keeps them, new at each boot (a crash loses the earlier life's).
      snapshotFiles: new SimSnapshotFiles(n.id),
    });
    driver.events.on('leaderChange', (c) => this.onLeaderChange(n, c));
    n.driver = driver;
  }

  private storageOf(n: N): DriverStorage {
    return {
      load: (groupId) => n.disk.load(groupId),
      write: (writes, done) => {
        n.pendingWrite = { writes, done }; // one fsync covers every group's writes of the turn (group commit)
        this.schedule(n.fsyncMs, { kind: 'fsync', node: n.id, epoch: n.epoch });
      },
      compactLog: (groupId, offsetIndex, offsetTerm) => n.disk.compactLog(groupId, offsetIndex, offsetTerm),
    };
  }

  /** The write's fsync completed: it reaches the disk image (and the checkers), then the driver goes on. */
  private fsync(n: N, epoch: number): void {
    const pending = n.pendingWrite;
    if (epoch !== n.epoch || pending === undefined) return;
    n.pendingWrite = undefined;
    if (!this.land(n, pending.writes)) return;
    this.guard(n, pending.done);
  }

  /** A write reaches `n`'s disk image and the checkers; false when the store refused it (a driver bug). */
  private land(n: N, writes: readonly GroupWrite[]): boolean {
    try {
      n.disk.write(writes);
    } catch (err) {
      this.onNodeError(n, err); // the store refused the write: the driver asked for something invalid
      return false;
    }
    for (const w of writes) {
      const group = this.groupIndex(w.groupId);
      if (w.hardState !== undefined) this.checker.onDurableHardState(group, n.id, w.hardState);
      this.checker.onLogged(group, n.id, w.entries, entryKey);
    }
    return true;
  }

  private networkOf(n: N, epoch: number): DriverNetwork {
    return {
      send: (env) => this.send(n.id, env),
      flush: () => undefined,
      request: (to, method, body, timeoutMs) =>
        new Promise((resolve, reject) => {
          const id = ++this.nextCall;
          n.calls.set(id, { resolve, reject });
          this.sendRpc(n.id, to, epoch, { kind: 'request', id, method, body });
          this.clockOf(n, epoch).after(timeoutMs, () => {
            if (!n.calls.delete(id)) return;
            reject(new RemoteError('TIMEOUT', `no answer from node ${to} in ${timeoutMs} ms`));
          });
        }),
      peerConnected: (id) => this.node(id).up && !this.isBlocked(n.id, id) && !this.isBlocked(id, n.id),
    };
  }

  private clockOf(n: N, epoch: number): DriverClock {
    return {
      now: () => this.now,
      after: (ms, fn) => {
        const id = ++this.nextTimer;
        n.timers.set(id, fn);
        this.schedule(Math.max(0, ms), { kind: 'timer', node: n.id, epoch, id });
        return () => void n.timers.delete(id);
      },
      soon: (fn) => this.schedule(0, { kind: 'soon', node: n.id, epoch, fn }),
    };
  }

  /** A life of `n` ends (a crash, or the end of the run): its driver's counters join the run's. */
  protected endOfLife(n: N): void {
    this.stats.balanceTransfers += n.driver?.stats.balanceTransfers ?? 0;
  }

  /** A leadership event of `n`'s driver: a new leader is checked, counted, and maybe struck. */
  private onLeaderChange(n: N, c: LeaderChange): void {
    if (!c.isLocal) return;
    const group = this.groupIndex(c.groupId);
    this.stats.leaderChanges++;
    this.trace.record(`${this.now} leader n${n.id} g${group} t${c.term}`);
    this.checker.onLeader(group, c.term, n.id);
    const log = n.driver!.coreOf(c.groupId).raft.log;
    this.checker.onBecameLeader(group, n.id, c.term, (i) => log.term(i), log.firstIndex());
    if (this.phase === 'safety') this.onNewLeader(n, group);
  }

  /** Up nodes that lead `groupId` and are not blocked in an fsync. */
  protected leaders(groupId: number): N[] {
    return this.nodes.filter((n) => n.reachable() && n.driver?.isLeader(groupId) === true);
  }

  // Network --------------------------------------------------------------------------------------------

  /** One envelope onto the wire: lost, delayed (so reordered), or duplicated, by the weather and the cuts. */
  private send(from: NodeId, env: Envelope): void {
    if (this.isBlocked(from, env.to) || (!this.lossless && this.net.chance(this.lossRate))) {
      this.stats.messagesDropped++;
      return;
    }
    const delay = 1 + this.net.int(this.delayMsMax);
    this.schedule(delay, { kind: 'deliver', from, to: env.to, env });
    if (this.net.chance(this.dupRate)) {
      this.schedule(delay + this.net.int(this.delayMsMax * 2), { kind: 'deliver', from, to: env.to, env });
    }
  }

  private deliver(from: NodeId, to: NodeId, env: Envelope): void {
    const n = this.node(to);
    if (!n.up || this.isBlocked(from, to)) {
      this.stats.messagesDropped++;
      return;
    }
    this.stats.messagesDelivered++;
    this.trace.record(`${this.now} ${from}>${to} ${describe(env)}`);
    this.guard(n, () => n.driver?.deliver(from, [env]));
  }

  /** A request or an answer onto the wire (lost or delayed like envelopes; never duplicated, as TCP does not). */
  private sendRpc(from: NodeId, to: NodeId, epoch: number, rpc: Rpc): void {
    if (this.isBlocked(from, to) || (!this.lossless && this.net.chance(this.lossRate))) {
      this.stats.messagesDropped++;
      return;
    }
    this.schedule(1 + this.net.int(this.delayMsMax), { kind: 'rpc', from, to, epoch, rpc });
  }

  private deliverRpc(from: NodeId, to: NodeId, epoch: number, rpc: Rpc): void {
    const n = this.node(to);
    if (!n.up || this.isBlocked(from, to)) return;
    if (rpc.kind === 'answer') {
      // An answer to a request of an earlier life of `to` finds nobody waiting.
      if (epoch !== n.epoch) return;
      const call = n.calls.get(rpc.id);
      if (call === undefined) return;
      n.calls.delete(rpc.id);
      if (rpc.ok) call.resolve(rpc.value);
      else call.reject(rpc.error);
      return;
    }
    const driver = n.driver;
    if (driver === undefined) return;
    const answerEpoch = epoch;
    const myEpoch = n.epoch;
    this.trace.record(`${this.now} ${from}>${to} rpc ${rpc.method}`);
    driver.handleRequest(from, rpc.method, rpc.body).then(
      (value) => {
        if (n.epoch === myEpoch) this.sendRpc(to, from, answerEpoch, { kind: 'answer', id: rpc.id, ok: true, value });
      },
      (err: unknown) => {
        if (n.epoch !== myEpoch) return;
        const e = err as { code?: unknown; leaderHint?: unknown; message?: unknown };
        const error = new RemoteError(
          typeof e.code === 'string' ? e.code : 'INTERNAL',
          String(e.message),
          typeof e.leaderHint === 'number' ? e.leaderHint : null,
        );
        this.sendRpc(to, from, answerEpoch, { kind: 'answer', id: rpc.id, ok: false, error });
      },
    );
  }

  private isBlocked(from: NodeId, to: NodeId): boolean {
    const healAt = this.blocked.get(`${from}>${to}`);
    return healAt !== undefined && this.now < healAt;
  }

  private block(a: NodeId, b: NodeId, healAt: number): void {
    const link = `${a}>${b}`;
    this.blocked.set(link, Math.max(healAt, this.blocked.get(link) ?? 0));
  }

  // Faults ---------------------------------------------------------------------------------------------

  /** One tick of faults: links heal, partitions and crashes strike, nodes restart, disks slow, weather turns. */
  protected faultStep(): void {
    const f = this.faults;
    const p = this.profile;
    for (const [link, healAt] of this.blocked) {
      if (this.now < healAt) continue;
      this.blocked.delete(link);
      this.trace.record(`${this.now} heal ${link}`);
    }
    if (f.chance(p.partitionChancePerTick)) this.partition();
    for (const n of this.nodes) {
      if (!n.up && this.now >= n.downUntil) this.restart(n);
      const slow = this.slowUntil.get(n.id);
      if (slow !== undefined && this.now >= slow) {
        this.slowUntil.delete(n.id);
        n.fsyncMs = 1 + f.int(p.fsyncMsMax);
      }
    }
    if (f.chance(p.crashChancePerTick)) {
      const n = this.pickVictim();
      if (n.up) this.crash(n);
    }
    if (f.chance(p.slowDiskChancePerTick)) {
      const n = this.nodes[f.int(this.nodes.length)]!;
      n.fsyncMs = 20 + f.int(200);
      this.slowUntil.set(n.id, this.now + (50 + f.int(300)) * SIM_LIMITS.tickMs);
      this.trace.record(`${this.now} slow-disk n${n.id} ${n.fsyncMs}ms`);
    }
    if (f.chance(0.01)) {
      // The network's weather changes.
      this.lossRate = f.chance(0.5) ? p.lossRate : f.float() * 0.2;
      this.dupRate = f.chance(0.5) ? p.dupRate : f.float() * 0.1;
      this.delayMsMax = f.chance(0.5) ? p.delayMsMax : 1 + f.int(60);
    }
  }

  /** When a partition drawn now heals. */
  protected partitionEndMs(): number {
    const p = this.profile;
    return this.now + (p.partitionTicksMin + this.faults.int(p.partitionTicksSpread)) * SIM_LIMITS.tickMs;
  }

  /** Blocks the links of `shape` around `victim` until `healAt`. */
  protected cut(shape: PartitionShape, victim: NodeId, healAt: number): void {
    const what = this.blockShape(shape, victim, healAt);
    this.stats.partitions++;
    this.trace.record(`${this.now} partition ${what}`);
  }

  /** Cuts a fresh leader off before its entries spread: the road to Raft's Figure 8. */
  private isolate(id: NodeId): void {
    this.blockShape('isolate', id, this.partitionEndMs());
    this.stats.partitions++;
    this.trace.record(`${this.now} partition isolate new leader n${id}`);
  }

  /** Returns what was cut, for the trace. */
  private blockShape(shape: PartitionShape, victim: NodeId, healAt: number): string {
    const ids = this.ids;
    const block = (a: NodeId, b: NodeId): void => this.block(a, b, healAt);
    switch (shape) {
      case 'isolate':
        for (const o of ids) {
          if (o === victim) continue;
          block(victim, o);
          block(o, victim);
        }
        return `isolate n${victim}`;
      case 'inbound':
        for (const o of ids) if (o !== victim) block(o, victim);
        return `block inbound of n${victim}`;
      case 'outbound':
        for (const o of ids) if (o !== victim) block(victim, o);
        return `block outbound of n${victim}`;
      case 'split': {
        const side = new Set(ids.filter(() => this.faults.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) block(a, b);
        return `split {${[...side].join(',')}}`;
      }
      case 'bridge': {
        const others = ids.filter((i) => i !== victim);
        const left = new Set(others.filter((_, i) => i % 2 === 0));
        for (const a of others) for (const b of others) if (left.has(a) !== left.has(b)) block(a, b);
        return `bridge via n${victim}`;
      }
    }
  }

  protected crash(n: N): void {
    const p = this.profile;
    // A write in flight at the crash: its fsync had completed or not — durable without the node having seen it
    // (nothing it acknowledged depended on it), or lost. SQLite commits a transaction whole or not at all.
    const inFlight = n.pendingWrite;
    if (inFlight !== undefined && this.faults.chance(0.5)) {
      n.pendingWrite = undefined;
      this.land(n, inFlight.writes);
    }
    this.endOfLife(n);
    n.crash();
    n.downUntil = this.now + (p.downTicksMin + this.faults.int(p.downTicksSpread)) * SIM_LIMITS.tickMs;
    // Its peers' links to it close (TCP resets when a process dies): their drivers hear of it, as from the transport.
    for (const o of this.nodes) {
      if (o === n || !o.up) continue;
      const epoch = o.epoch;
      this.schedule(1 + this.net.int(this.delayMsMax), {
        kind: 'soon',
        node: o.id,
        epoch,
        fn: () => o.driver?.onPeerStatus(n.id, 'disconnected'),
      });
    }
    this.onCrash(n);
    this.stats.crashes++;
    this.trace.record(`${this.now} crash n${n.id}`);
  }

  private restart(n: N): void {
    n.up = true;
    this.guard(n, () => this.boot(n));
    if (n.driver !== undefined) this.onRestart(n); // a boot that threw is a violation already (guard)
    this.schedule(this.faults.int(SIM_LIMITS.tickMs), { kind: 'tick', node: n.id, epoch: n.epoch });
    this.trace.record(`${this.now} restart n${n.id}`);
  }

  /** The end of the faults: every link heals, the weather clears, disks are fast, every node is up. */
  protected healAll(): void {
    this.blocked.clear();
    this.slowUntil.clear();
    this.lossRate = 0;
    this.dupRate = 0;
    this.delayMsMax = 5;
    for (const n of this.nodes) {
      n.fsyncMs = 1;
      if (!n.up) this.restart(n);
    }
    this.trace.record(`${this.now} heal-all`);
  }
}
