/**
 * The simulated cluster both drivers run on (simulation.ts for pure Raft groups, kalam/simulation.ts for whole
 * Kalam nodes): the clock and its event queue, the driver turn of every node, the network, and the faults.
 *
 * Time is simulated milliseconds. Every node ticks its groups each SIM_LIMITS.tickMs (with its own phase), and
 * runs the driver turn of DESIGN.md §6: step the inbox, collect every group's Ready, send `messages`, write all
 * groups' state in one fsync, then (in the driver's `complete`) send `persistedMessages`, apply, advance. While
 * the fsync runs the node is blocked; a crash in that window loses the write.
 *
 * Faults: message loss, delay (and so reordering) and duplication whose rates drift over the run, partitions of
 * several shapes that overlap and heal link by link, crashes that lose unsynced writes, slow disks. Every draw
 * comes from the seeded PRNGs handed in, in an order fixed by the seed: `net` for the network, `faults` for the
 * faults. The driver supplies the workload, what a write's completion does, and where the faults aim.
 */
import type { Message, NodeId } from '@kalam/raft';
import { AssertionError, Prng, RaftError, StateRole, nodeId } from '@kalam/raft';
import type { Checker } from './checker.js';
import { EventQueue } from './events.js';
import { entryKey } from './node.js';
import { SIM_LIMITS } from './options.js';
import type { GroupReadies, OutboundEnvelope, ProcessGroup, SimProcess } from './process.js';
import { writeDurable } from './process.js';
import type { Trace } from './trace.js';

type ClusterEvent =
  | { at: number; seq: number; kind: 'deliver'; from: NodeId; to: NodeId; group: number; msg: Message }
  | { at: number; seq: number; kind: 'tick'; node: NodeId; epoch: number }
  | { at: number; seq: number; kind: 'turn'; node: NodeId; epoch: number }
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
}

export function zeroClusterStats(): ClusterStats {
  return {
    leaderChanges: 0,
    crashes: 0,
    partitions: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    snapshotsInstalled: 0,
  };
}

/**
 * The PRNG streams of a run, forked from its seed in a fixed order: the network's, the faults', the clients';
 * `prng` forks the rest (the profile, then each node's).
 */
export function seedStreams(seed: number): { prng: Prng; net: Prng; faults: Prng; clients: Prng } {
  const prng = new Prng(seed);
  const net = prng.fork();
  const faults = prng.fork();
  const clients = prng.fork();
  return { prng, net, faults, clients };
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

/** A client call into a core: done, refused with a typed error (the client's answer), or a violation. */
export type CallOutcome = { readonly ok: true } | { readonly ok: false; readonly refused: RaftError | undefined };

export interface ClusterParts<N, P, S> {
  readonly trace: Trace;
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

export abstract class SimCluster<N extends SimProcess<ProcessGroup>, P extends FaultProfile, S extends ClusterStats> {
  readonly checker: Checker;
  readonly stats: S;
  protected readonly trace: Trace;
  protected readonly faults: Prng;
  protected readonly profile: P;
  protected readonly ids: NodeId[];
  protected readonly nodes: N[];
  protected now = 0;
  protected phase: SimPhase;
  /** The network's weather, which changes over the run. */
  protected delayMsMax: number;
  private lossRate: number;
  private dupRate: number;
  private readonly net: Prng;
  private readonly queue = new EventQueue<ClusterEvent>();
  private seq = 0;
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
  }

  // What the driver supplies ---------------------------------------------------------------------------

  /** The write is durable (or needed no fsync): the driver sends, applies and advances (see `persisted`). */
  protected abstract complete(n: N, readies: GroupReadies): void;
  /** One step of faults and clients per tick. */
  protected abstract control(): void;
  /** The node a crash or a partition strikes. */
  protected abstract pickVictim(): N;
  /** Draws a partition (in the driver's order of draws) and `cut`s it. */
  protected abstract partition(): void;
  /** `n` became a leader during the safety phase: the driver may aim a fault at it. */
  protected abstract onNewLeader(n: N): void;
  /** `n` crashed: its clients lose their calls. */
  protected abstract onCrash(n: N): void;
  /** `n` booted again from its disk. */
  protected onRestart(_n: N): void {}

  // The clock ------------------------------------------------------------------------------------------

  /** Schedules every node's first tick (each with its own phase) and the first control step. */
  protected start(): void {
    const tickMs = SIM_LIMITS.tickMs;
    for (const n of this.nodes) this.schedule(this.faults.int(tickMs), { kind: 'tick', node: n.id, epoch: n.epoch });
    this.schedule(0, { kind: 'control' });
  }

  /** Runs events up to `endMs`, stopping early at the first violation or once `done` holds. */
  protected runUntil(endMs: number, done?: () => boolean): void {
    for (;;) {
      const ev = this.queue.peek();
      if (ev === undefined || ev.at > endMs || this.checker.failed) return;
      if (done?.() === true) return;
      this.queue.pop();
      this.now = ev.at;
      this.checker.now = ev.at;
      this.handle(ev);
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
        this.deliver(ev.from, ev.to, ev.group, ev.msg);
        return;
      case 'tick': {
        const n = this.node(ev.node);
        if (ev.epoch !== n.epoch) return;
        this.schedule(SIM_LIMITS.tickMs, { kind: 'tick', node: n.id, epoch: n.epoch });
        if (!n.up || n.pending !== undefined) return; // a blocked event loop misses its timer
        this.guard(n, () => n.groups.forEach((g) => g.raw.tick()));
        this.turn(n);
        // Answers that found no message going their way this tick leave now (at most one tick late).
        if (n.up && n.deferredAnswers.length > 0) {
          const answers = n.deferredAnswers;
          n.deferredAnswers = [];
          for (const a of answers) this.send(n.id, a.group, a.msg);
        }
        return;
      }
      case 'turn': {
        const n = this.node(ev.node);
        if (ev.epoch !== n.epoch) return;
        n.turnScheduled = false;
        if (n.up && n.pending === undefined) this.turn(n);
        return;
      }
      case 'fsync': {
        const n = this.node(ev.node);
        if (ev.epoch !== n.epoch || n.pending === undefined) return;
        const { readies } = n.pending;
        n.pending = undefined;
        this.complete(n, readies);
        this.turn(n);
        return;
      }
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

  // Driver turn (DESIGN.md §6: step, ready, send, persist, then the driver's `complete`) ---------------

  /** Runs `fn` against a node's cores (and state machines); an exception there is a violated invariant. */
  protected guard(n: N, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      const what = err instanceof AssertionError ? 'core-assertion' : 'core-exception';
      this.checker.violate(what, `node ${n.id}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** A driver's work at the start of every turn of `n`, before its inbox is stepped (default: none). */
  protected onTurnStart(_n: N): void {}

  /** Schedules a turn of `n` now (once), as a socket callback or a client call does. */
  protected requestTurn(n: N): void {
    if (n.turnScheduled) return;
    n.turnScheduled = true;
    this.schedule(0, { kind: 'turn', node: n.id, epoch: n.epoch });
  }

  protected turn(n: N): void {
    this.onTurnStart(n);
    const inbox = n.inbox;
    n.inbox = [];
    this.guard(n, () => {
      for (const env of inbox) n.groups[env.group]!.raw.step(env.msg);
    });
    for (let round = 0; round < SIM_LIMITS.drainRoundsMax && !this.checker.failed; round++) {
      const readies: GroupReadies = [];
      this.guard(n, () => {
        n.groups.forEach((g, i) => {
          if (g.raw.hasReady()) readies.push([i, g.raw.ready()]);
        });
      });
      if (readies.length === 0) return;
      this.sendAll(
        n,
        readies.flatMap(([group, rd]) => rd.messages.map((msg) => ({ group, msg }))),
      );
      if (readies.some(([, rd]) => rd.mustSync) && n.fsyncMs > 0) {
        n.pending = { readies }; // one fsync covers every group's writes of this turn (group commit)
        this.schedule(n.fsyncMs, { kind: 'fsync', node: n.id, epoch: n.epoch });
        return;
      }
      this.complete(n, readies);
    }
    if (!this.checker.failed) this.requestTurn(n);
  }

  /** The first half of `complete`: the writes reach the disk image, then what waited for them is sent. */
  protected persisted(n: N, readies: GroupReadies): void {
    for (const [group, rd] of readies) {
      writeDurable(n.groups[group]!.durable, rd);
      if (rd.hardState !== undefined) this.checker.onDurableHardState(group, n.id, rd.hardState);
      this.checker.onLogged(group, n.id, rd.entries, entryKey);
    }
    this.sendAll(
      n,
      readies.flatMap(([group, rd]) => rd.persistedMessages.map((msg) => ({ group, msg }))),
    );
  }

  /**
   * Sends one batch of a node's messages as RaftManager does: a context-free heartbeat answer waits (see
   * `deferredAnswers`) unless something else goes to its peer in this batch, in which case it rides along.
   */
  private sendAll(n: N, out: readonly OutboundEnvelope[]): void {
    const now: OutboundEnvelope[] = [];
    for (const o of out) {
      if (o.msg.type === 'MsgHeartbeatResp' && o.msg.context === null) n.deferredAnswers.push(o);
      else now.push(o);
    }
    if (now.length === 0) return;
    if (n.deferredAnswers.length > 0) {
      const peers = new Set(now.map((o) => o.msg.to));
      const waiting: OutboundEnvelope[] = [];
      for (const a of n.deferredAnswers) (peers.has(a.msg.to) ? now : waiting).push(a);
      n.deferredAnswers = waiting;
    }
    for (const o of now) this.send(n.id, o.group, o.msg);
  }

  /** Notes a change of role after `advance`; a new leader is checked, counted, and maybe struck. */
  protected observeRole(n: N, group: number): void {
    const g = n.groups[group]!;
    const r = g.raw.raft;
    if (r.role === g.role) return;
    g.role = r.role;
    if (r.role !== StateRole.Leader) return;
    this.stats.leaderChanges++;
    this.trace.record(`${this.now} leader n${n.id} g${group} t${r.term}`);
    this.checker.onLeader(group, r.term, n.id);
    this.checker.onBecameLeader(group, n.id, r.term, (i) => r.log.term(i), r.log.firstIndex());
    if (this.phase === 'safety') this.onNewLeader(n);
  }

  /** Up nodes that lead `group` and are not blocked in an fsync. */
  protected leaders(group: number): N[] {
    return this.nodes.filter(
      (n) => n.up && n.pending === undefined && n.groups[group]!.raw.raft.role === StateRole.Leader,
    );
  }

  /** Calls into a core for a client; a call that went through is followed by a driver turn. */
  protected clientCall(n: N, fn: () => void): CallOutcome {
    try {
      fn();
      this.turn(n);
      return { ok: true };
    } catch (err) {
      if (err instanceof RaftError) return { ok: false, refused: err };
      this.guard(n, () => {
        throw err;
      });
      return { ok: false, refused: undefined };
    }
  }

  // Network --------------------------------------------------------------------------------------------

  protected send(from: NodeId, group: number, msg: Message): void {
    if (this.isBlocked(from, msg.to) || this.net.chance(this.lossRate)) {
      this.stats.messagesDropped++;
      return;
    }
    const delay = 1 + this.net.int(this.delayMsMax);
    this.schedule(delay, { kind: 'deliver', from, to: msg.to, group, msg });
    if (this.net.chance(this.dupRate)) {
      this.schedule(delay + this.net.int(this.delayMsMax * 2), { kind: 'deliver', from, to: msg.to, group, msg });
    }
  }

  private deliver(from: NodeId, to: NodeId, group: number, msg: Message): void {
    const n = this.node(to);
    if (!n.up || this.isBlocked(from, to)) {
      this.stats.messagesDropped++;
      return;
    }
    this.stats.messagesDelivered++;
    this.trace.record(`${this.now} ${from}>${to} g${group} ${msg.type} t${msg.term}`);
    n.inbox.push({ group, msg });
    if (n.pending === undefined) this.requestTurn(n); // a node blocked in fsync takes its turn when the write completes
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
    n.crash();
    n.downUntil = this.now + (p.downTicksMin + this.faults.int(p.downTicksSpread)) * SIM_LIMITS.tickMs;
    this.onCrash(n);
    this.stats.crashes++;
    this.trace.record(`${this.now} crash n${n.id}`);
  }

  private restart(n: N): void {
    n.up = true;
    this.guard(n, () => n.boot());
    for (const g of n.groups) g.role = g.raw.raft.role;
    this.onRestart(n);
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
