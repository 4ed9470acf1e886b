/**
 * One seeded run of a whole simulated cluster: N nodes × G groups on a simulated clock, network and disk.
 *
 * Time is simulated milliseconds. Every node ticks its groups each SIM_LIMITS.tickMs (with its own phase),
 * and runs the driver turn of DESIGN.md §6: step the inbox, collect every group's Ready, send `messages`,
 * write all groups' state in one fsync, then send `persistedMessages`, apply, advance. While the fsync
 * runs the node is blocked; a crash in that window loses the write.
 *
 * Safety phase: faults (loss, delay/reordering, duplication, two-way / one-way / bridge partitions that
 * change over time, crashes, slow disks) while clients propose, read and transfer leadership. Liveness
 * phase: heal everything; every group must elect a leader and commit a fresh entry on every node within
 * SIM_LIMITS.livenessTicksMax ticks. The checkers (checker.ts) run throughout and at the end.
 */
import type { Message, NodeId, Ready } from '@kalam/raft';
import { AssertionError, EntryKind, Prng, RaftError, StateRole, nodeId } from '@kalam/raft';
import { Checker } from './checker.js';
import type { DurableLogView, Violation } from './checker.js';
import { EventQueue } from './events.js';
import type { DurableGroup, SimGroup } from './node.js';
import { SimNode, applyEntry, decodeSnapshot, encodeSnapshot, entryKey } from './node.js';
import { writeDurable } from './process.js';
import type { SimOptions } from './options.js';
import { SIM_LIMITS } from './options.js';
import { Trace } from './trace.js';

export interface SimStats {
  proposals: number;
  acked: number;
  reads: number;
  leaderChanges: number;
  crashes: number;
  partitions: number;
  messagesDelivered: number;
  messagesDropped: number;
  snapshotsInstalled: number;
  livenessTicks: number;
}

export interface SimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly groups: number;
  readonly ticks: number;
  readonly violations: Violation[];
  readonly traceHash: string;
  readonly stats: SimStats;
}

type SimEvent =
  | { at: number; seq: number; kind: 'deliver'; from: NodeId; to: NodeId; group: number; msg: Message }
  | { at: number; seq: number; kind: 'tick'; node: NodeId; epoch: number }
  | { at: number; seq: number; kind: 'turn'; node: NodeId; epoch: number }
  | { at: number; seq: number; kind: 'fsync'; node: NodeId; epoch: number }
  | { at: number; seq: number; kind: 'control' }
  | { at: number; seq: number; kind: 'isolate'; node: NodeId }
  | { at: number; seq: number; kind: 'crash'; node: NodeId };

type EventBody = SimEvent extends infer E ? (E extends SimEvent ? Omit<E, 'at' | 'seq'> : never) : never;

/** Per-seed fault and workload profile, drawn from the seed. */
interface Profile {
  lossRate: number;
  dupRate: number;
  delayMsMax: number;
  partitionChancePerTick: number;
  crashChancePerTick: number;
  slowDiskChancePerTick: number;
  proposeChancePerTick: number;
  readChancePerTick: number;
  transferChancePerTick: number;
  downTicksMin: number;
  downTicksSpread: number;
  partitionTicksMin: number;
  partitionTicksSpread: number;
  isolateNewLeaderChance: number;
  snapshotEvery: number;
  snapshotKeep: number;
  fsyncMsMax: number;
}

interface Proposal {
  readonly group: number;
  readonly node: NodeId;
  readonly index: number;
  readonly term: number;
  readonly data: string;
}

/** The fresh entry each group must commit on every node in the liveness phase. */
interface Marker {
  data: string;
  done: boolean;
  proposedAt: number;
  /** Set once the marker is acknowledged. */
  index: number | undefined;
}

interface PendingRead {
  readonly group: number;
  readonly node: NodeId;
  readonly minIndex: number;
}

export class Simulation {
  readonly checker: Checker;
  readonly stats: SimStats = {
    proposals: 0,
    acked: 0,
    reads: 0,
    leaderChanges: 0,
    crashes: 0,
    partitions: 0,
    messagesDelivered: 0,
    messagesDropped: 0,
    snapshotsInstalled: 0,
    livenessTicks: 0,
  };
  private readonly trace: Trace;
  private readonly queue = new EventQueue<SimEvent>();
  private seq = 0;
  private now = 0;
  private readonly prng: Prng;
  private readonly net: Prng;
  private readonly faults: Prng;
  private readonly clients: Prng;
  private readonly nodes: SimNode[];
  private readonly ids: NodeId[];
  private readonly profile: Profile;
  /** Blocked directed links ("a>b") and when each heals: partitions overlap and heal independently. */
  private readonly blocked = new Map<string, number>();
  private readonly slowUntil = new Map<NodeId, number>();
  private lossRate: number;
  private dupRate: number;
  private delayMsMax: number;
  private readonly proposals = new Map<string, Proposal>();
  private readonly acked: Proposal[] = [];
  private readonly ackedMax: number[];
  private readonly reads = new Map<string, PendingRead>();
  private nextCommand = 0;
  private nextRead = 0;
  private phase: 'safety' | 'liveness' = 'safety';
  private readonly markers = new Map<number, Marker>();
  private livenessDone = false;

  constructor(private readonly opts: SimOptions) {
    this.trace = new Trace(opts.onTrace);
    this.prng = new Prng(opts.seed);
    this.net = this.prng.fork();
    this.faults = this.prng.fork();
    this.clients = this.prng.fork();
    this.profile = drawProfile(this.prng.fork());
    this.lossRate = this.profile.lossRate;
    this.dupRate = this.profile.dupRate;
    this.delayMsMax = this.profile.delayMsMax;
    this.checker = new Checker(opts.groups);
    this.ackedMax = Array.from({ length: opts.groups }, () => 0);
    this.ids = Array.from({ length: opts.nodes }, (_, i) => nodeId(i + 1));
    const bugs = opts.plantedBug !== undefined ? { [opts.plantedBug]: true } : undefined;
    // Small appends in many seeds: entries of old and new terms then travel in separate messages.
    const msgEntriesMax = [1, 1, 2, 3, 64][this.prng.int(5)]!;
    this.nodes = this.ids.map((id) => new SimNode(id, this.ids, opts.groups, this.prng.fork(), bugs, msgEntriesMax));
  }

  run(): SimResult {
    const tickMs = SIM_LIMITS.tickMs;
    for (const n of this.nodes) this.schedule(this.faults.int(tickMs), { kind: 'tick', node: n.id, epoch: n.epoch });
    this.schedule(0, { kind: 'control' });
    const safetyEndMs = this.opts.ticks * tickMs;
    this.runUntil(safetyEndMs);
    if (!this.checker.failed) {
      this.heal();
      const livenessEndMs = safetyEndMs + SIM_LIMITS.livenessTicksMax * tickMs;
      this.runUntil(livenessEndMs, () => this.livenessDone);
      this.stats.livenessTicks = Math.ceil((this.now - safetyEndMs) / tickMs);
      if (!this.checker.failed) this.checkEnd();
    }
    return {
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      groups: this.opts.groups,
      ticks: this.opts.ticks,
      violations: this.checker.violations,
      traceHash: this.trace.digest(),
      stats: this.stats,
    };
  }

  private runUntil(endMs: number, done?: () => boolean): void {
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

  private schedule(delayMs: number, body: EventBody): void {
    this.queue.push({ ...body, at: this.now + delayMs, seq: this.seq++ });
  }

  private node(id: NodeId): SimNode {
    const n = this.nodes[id - 1];
    if (n === undefined) throw new RangeError(`no node ${id}`);
    return n;
  }

  private handle(ev: SimEvent): void {
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
        if (this.phase === 'safety' && n.up)
          this.crash(n, this.profile.downTicksMin + this.faults.int(this.profile.downTicksSpread));
        return;
      }
      case 'control':
        this.control();
        this.schedule(SIM_LIMITS.tickMs, { kind: 'control' });
        return;
    }
  }

  // Driver -------------------------------------------------------------------------------------------

  /** Runs `fn` against the node's cores; an exception from the core is a violated invariant. */
  private guard(n: SimNode, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      const what = err instanceof AssertionError ? 'core-assertion' : 'core-exception';
      this.checker.violate(what, `node ${n.id}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private turn(n: SimNode): void {
    const inbox = n.inbox;
    n.inbox = [];
    this.guard(n, () => {
      for (const env of inbox) n.groups[env.group]!.raw.step(env.msg);
    });
    for (let round = 0; round < SIM_LIMITS.drainRoundsMax && !this.checker.failed; round++) {
      const readies: [number, Ready][] = [];
      this.guard(n, () => {
        n.groups.forEach((g, i) => {
          if (g.raw.hasReady()) readies.push([i, g.raw.ready()]);
        });
      });
      if (readies.length === 0) return;
      for (const [group, rd] of readies) for (const m of rd.messages) this.send(n.id, group, m);
      const sync = readies.some(([, rd]) => rd.mustSync);
      if (sync && n.fsyncMs > 0) {
        // One fsync covers every group's writes of this turn (group commit).
        n.pending = { readies };
        this.schedule(n.fsyncMs, { kind: 'fsync', node: n.id, epoch: n.epoch });
        return;
      }
      this.complete(n, readies);
    }
    if (!n.turnScheduled && !this.checker.failed) {
      n.turnScheduled = true;
      this.schedule(0, { kind: 'turn', node: n.id, epoch: n.epoch });
    }
  }

  /** The write is durable: send the acknowledgements, apply, advance. */
  private complete(n: SimNode, readies: [number, Ready][]): void {
    for (const [group, rd] of readies) {
      const g = n.groups[group]!;
      writeDurable(g.durable, rd);
      if (rd.hardState !== undefined) this.checker.onDurableHardState(group, n.id, rd.hardState);
      this.checker.onLogged(group, n.id, rd.entries, entryKey);
    }
    for (const [group, rd] of readies) for (const m of rd.persistedMessages) this.send(n.id, group, m);
    for (const [group, rd] of readies) {
      const g = n.groups[group]!;
      if (rd.snapshot !== undefined) this.restoreSnapshot(n, group, g, rd.snapshot.index, rd.snapshot.data);
      for (const e of rd.committedEntries) this.apply(n, group, g, e);
      for (const rs of rd.readStates) this.onReadState(n, group, rs);
      this.guard(n, () => g.raw.advance(rd));
      this.observeRole(n, group, g);
      this.maybeSnapshot(n, g);
    }
  }

  private apply(n: SimNode, group: number, g: SimGroup, e: Parameters<typeof applyEntry>[1]): void {
    if (e.index <= g.durable.appliedIndex) return; // idempotent replay
    if (this.checker.isFirstApply(group, e.index)) {
      this.checker.checkCommitSafety(
        group,
        e.index,
        e.term,
        this.nodes.map((o) => durableView(o.id, o.groups[group]!.durable)),
      );
    }
    const digest = applyEntry(g.durable, e);
    const key = entryKey(e);
    this.checker.onApplied(group, n.id, e.index, e.term, key, digest, g.raw.raft.term);
    const pk = `${group}:${n.id}:${e.index}`;
    const p = this.proposals.get(pk);
    if (p !== undefined) {
      this.proposals.delete(pk);
      if (p.term === e.term && p.data === key && e.kind === EntryKind.Command) {
        this.acked.push(p);
        this.stats.acked++;
        this.ackedMax[group] = Math.max(this.ackedMax[group]!, e.index);
        this.trace.record(`${this.now} ack g${group} ${key}`);
      }
    }
    const marker = this.markers.get(group);
    if (marker !== undefined && key === marker.data && this.acked[this.acked.length - 1]?.data === key)
      marker.index = e.index;
  }

  private restoreSnapshot(n: SimNode, group: number, g: SimGroup, index: number, data: Uint8Array): void {
    const s = decodeSnapshot(data);
    g.durable.appliedIndex = s.index;
    g.durable.digest = s.digest;
    g.durable.commands = s.commands;
    g.lastSnapshotIndex = s.index;
    this.stats.snapshotsInstalled++;
    this.checker.onSnapshotRestored(group, n.id, index, s.digest);
    this.trace.record(`${this.now} snap-restore n${n.id} g${group} ${index}`);
  }

  private maybeSnapshot(n: SimNode, g: SimGroup): void {
    const d = g.durable;
    if (d.appliedIndex - g.lastSnapshotIndex < this.profile.snapshotEvery) return;
    const pad = 'x'.repeat(this.faults.int(200));
    const data = encodeSnapshot({ index: d.appliedIndex, digest: d.digest, commands: d.commands, pad });
    const compactTo = Math.max(d.offsetIndex, d.appliedIndex - this.profile.snapshotKeep);
    this.guard(n, () => {
      const snap = g.raw.compact(d.appliedIndex, data, compactTo);
      d.snapshot = snap;
      const off = g.raw.raft.log.offset();
      d.entries = d.entries.filter((e) => e.index > off.index);
      d.offsetIndex = off.index;
      d.offsetTerm = off.term;
      g.lastSnapshotIndex = snap.index;
    });
  }

  private observeRole(n: SimNode, group: number, g: SimGroup): void {
    const r = g.raw.raft;
    if (r.role === g.role) return;
    g.role = r.role;
    if (r.role !== StateRole.Leader) return;
    this.stats.leaderChanges++;
    this.trace.record(`${this.now} leader n${n.id} g${group} t${r.term}`);
    this.checker.onLeader(group, r.term, n.id);
    this.checker.onBecameLeader(group, n.id, r.term, (i) => r.log.term(i), r.log.firstIndex());
    if (this.phase === 'safety' && this.faults.chance(this.profile.isolateNewLeaderChance)) {
      // Cut off or kill a fresh leader before its entries spread: the road to Raft's Figure 8.
      const kind = this.faults.chance(0.5) ? 'isolate' : 'crash';
      this.schedule(this.faults.int(8 * this.delayMsMax + 10), { kind, node: n.id });
    }
  }

  private isolate(id: NodeId): void {
    const p = this.profile;
    const healAt = this.now + (p.partitionTicksMin + this.faults.int(p.partitionTicksSpread)) * SIM_LIMITS.tickMs;
    for (const o of this.ids) {
      if (o === id) continue;
      this.block(`${id}>${o}`, healAt);
      this.block(`${o}>${id}`, healAt);
    }
    this.stats.partitions++;
    this.trace.record(`${this.now} partition isolate new leader n${id}`);
  }

  // Network ------------------------------------------------------------------------------------------

  private send(from: NodeId, group: number, msg: Message): void {
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
    if (!n.turnScheduled && n.pending === undefined) {
      n.turnScheduled = true;
      this.schedule(0, { kind: 'turn', node: n.id, epoch: n.epoch });
    }
  }

  // Faults and clients (one control step per tick) -----------------------------------------------------

  private control(): void {
    if (this.phase === 'liveness') {
      this.livenessStep();
      return;
    }
    this.faultStep();
    this.clientStep();
  }

  private faultStep(): void {
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
      if (n.up) this.crash(n, p.downTicksMin + f.int(p.downTicksSpread));
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

  /**
   * Faults aimed where they hurt (as Jepsen's nemeses do): often a current leader, or a node in the middle
   * of an fsync (a torn write), otherwise any node.
   */
  private pickVictim(): SimNode {
    const f = this.faults;
    const roll = f.float();
    if (roll < 0.4) {
      const leaders = this.leaders(f.int(this.opts.groups));
      const l = leaders[f.int(leaders.length)];
      if (l !== undefined) return l;
    } else if (roll < 0.7) {
      const writing = this.nodes.filter((n) => n.up && n.pending !== undefined);
      const w = writing[f.int(writing.length)];
      if (w !== undefined) return w;
    }
    return this.nodes[f.int(this.nodes.length)]!;
  }

  private partition(): void {
    const f = this.faults;
    const p = this.profile;
    const ids = [...this.ids];
    const kind = f.int(5);
    const victim = this.pickVictim().id;
    const healAt = this.now + (p.partitionTicksMin + f.int(p.partitionTicksSpread)) * SIM_LIMITS.tickMs;
    const block = (a: NodeId, b: NodeId): void => this.block(`${a}>${b}`, healAt);
    let what: string;
    if (kind === 0) {
      for (const o of ids) {
        if (o === victim) continue;
        block(victim, o);
        block(o, victim);
      }
      what = `isolate n${victim}`;
    } else if (kind === 1) {
      for (const o of ids) if (o !== victim) block(o, victim);
      what = `block inbound of n${victim}`;
    } else if (kind === 2) {
      for (const o of ids) if (o !== victim) block(victim, o);
      what = `block outbound of n${victim}`;
    } else if (kind === 3) {
      // A random split into two sides.
      const side = new Set(ids.filter(() => f.chance(0.5)));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) block(a, b);
      what = `split {${[...side].join(',')}}`;
    } else {
      // A bridge: two sides that only the bridge node connects (openraft #2080).
      const others = ids.filter((i) => i !== victim);
      const left = new Set(others.filter((_, i) => i % 2 === 0));
      for (const a of others) for (const b of others) if (left.has(a) !== left.has(b)) block(a, b);
      what = `bridge via n${victim}`;
    }
    this.stats.partitions++;
    this.trace.record(`${this.now} partition ${what}`);
  }

  private block(link: string, healAt: number): void {
    this.blocked.set(link, Math.max(healAt, this.blocked.get(link) ?? 0));
  }

  private isBlocked(from: NodeId, to: NodeId): boolean {
    const healAt = this.blocked.get(`${from}>${to}`);
    return healAt !== undefined && this.now < healAt;
  }

  private crash(n: SimNode, downTicks: number): void {
    n.crash();
    n.downUntil = this.now + downTicks * SIM_LIMITS.tickMs;
    for (const [k, p] of this.proposals) if (p.node === n.id) this.proposals.delete(k);
    for (const [k, r] of this.reads) if (r.node === n.id) this.reads.delete(k);
    this.stats.crashes++;
    this.trace.record(`${this.now} crash n${n.id}`);
  }

  private restart(n: SimNode): void {
    n.up = true;
    this.guard(n, () => n.boot());
    for (const g of n.groups) g.role = g.raw.raft.role;
    this.schedule(this.faults.int(SIM_LIMITS.tickMs), { kind: 'tick', node: n.id, epoch: n.epoch });
    this.trace.record(`${this.now} restart n${n.id}`);
  }

  private leaders(group: number): SimNode[] {
    return this.nodes.filter(
      (n) => n.up && n.pending === undefined && n.groups[group]!.raw.raft.role === StateRole.Leader,
    );
  }

  private clientStep(): void {
    const c = this.clients;
    const p = this.profile;
    for (let group = 0; group < this.opts.groups; group++) {
      if (c.chance(p.proposeChancePerTick)) {
        const leaders = this.leaders(group);
        const n = leaders[c.int(leaders.length)];
        if (n !== undefined) this.propose(n, group, `g${group}c${this.nextCommand++}`);
      }
      if (c.chance(p.readChancePerTick)) this.read(group);
      if (c.chance(p.transferChancePerTick)) {
        const n = this.leaders(group)[0];
        const to = this.ids[c.int(this.ids.length)]!;
        if (n !== undefined && to !== n.id) this.clientCall(n, () => n.groups[group]!.raw.transferLeader(to));
      }
    }
  }

  /** A client call into a core: typed errors are the client's answer, anything else a violation. */
  private clientCall(n: SimNode, fn: () => void): boolean {
    try {
      fn();
      this.turn(n);
      return true;
    } catch (err) {
      if (err instanceof RaftError) return false;
      this.guard(n, () => {
        throw err;
      });
      return false;
    }
  }

  private propose(n: SimNode, group: number, data: string): boolean {
    return this.clientCall(n, () => {
      const { index, term } = n.groups[group]!.raw.propose(new TextEncoder().encode(data));
      this.proposals.set(`${group}:${n.id}:${index}`, { group, node: n.id, index, term, data });
      this.stats.proposals++;
      this.trace.record(`${this.now} propose n${n.id} g${group} ${data}@${index}`);
    });
  }

  private read(group: number): void {
    const up = this.nodes.filter((n) => n.up && n.pending === undefined);
    const n = up[this.clients.int(up.length)];
    if (n === undefined) return;
    const context = `r${this.nextRead++}`;
    // Only writes acknowledged before the read is invoked must be visible to it.
    const minIndex = this.ackedMax[group]!;
    this.reads.set(context, { group, node: n.id, minIndex });
    this.trace.record(`${this.now} read n${n.id} g${group} ${context} min ${minIndex}`);
    if (!this.clientCall(n, () => n.groups[group]!.raw.readIndex(context))) this.reads.delete(context);
  }

  private onReadState(n: SimNode, group: number, rs: Ready['readStates'][number]): void {
    const pending = this.reads.get(rs.context);
    if (pending === undefined) return;
    this.reads.delete(rs.context);
    this.trace.record(
      `${this.now} read-state n${n.id} g${group} ${rs.context} ${rs.status === 'ok' ? rs.index : rs.reason}`,
    );
    if (rs.status !== 'ok') return;
    this.stats.reads++;
    if (rs.index < pending.minIndex) {
      this.checker.violate(
        'stale-read',
        `node ${n.id} read at ${rs.index} after a write acknowledged at ${pending.minIndex}`,
        group,
      );
    }
  }

  // Liveness -------------------------------------------------------------------------------------------

  private heal(): void {
    this.phase = 'liveness';
    this.blocked.clear();
    this.lossRate = 0;
    this.dupRate = 0;
    this.delayMsMax = 5;
    for (const n of this.nodes) {
      n.fsyncMs = 1;
      if (!n.up) this.restart(n);
    }
    this.slowUntil.clear();
    this.trace.record(`${this.now} heal-all`);
    for (let group = 0; group < this.opts.groups; group++) {
      this.markers.set(group, { data: `live-g${group}`, done: false, proposedAt: -Infinity, index: undefined });
    }
  }

  private livenessStep(): void {
    this.livenessDone = this.allMarkersDone();
    for (const [group, m] of this.markers) {
      // Propose a marker, and again if it was not acknowledged within 50 ticks (its leader lost office).
      if (m.index !== undefined || this.now - m.proposedAt < 50 * SIM_LIMITS.tickMs) continue;
      const n = this.leaders(group)[0];
      if (n === undefined) continue;
      const data = `live-g${group}-${this.now}`;
      m.data = data;
      if (this.propose(n, group, data)) m.proposedAt = this.now;
    }
  }

  /** Marks groups whose marker is applied on every node; true when all are. */
  private allMarkersDone(): boolean {
    let all = true;
    for (const [group, m] of this.markers) {
      if (m.done) continue;
      const index = m.index;
      if (index !== undefined && this.nodes.every((n) => n.groups[group]!.durable.appliedIndex >= index)) m.done = true;
      else all = false;
    }
    return all;
  }

  private checkEnd(): void {
    for (const [group, m] of this.markers) {
      if (!m.done) {
        const leader = this.leaders(group)[0];
        this.checker.violate(
          'liveness',
          `group ${group} did not commit a fresh entry on every node within ${SIM_LIMITS.livenessTicksMax} ticks of healing (leader: ${leader?.id ?? 'none'})`,
          group,
        );
      }
    }
    if (this.checker.failed) return;
    for (const p of this.acked) {
      for (const n of this.nodes) {
        const d = n.groups[p.group]!.durable;
        if (d.appliedIndex < p.index) {
          this.checker.violate(
            'acked-durable',
            `node ${n.id} never applied acknowledged ${p.data} at ${p.index}`,
            p.group,
          );
          return;
        }
      }
      if (this.checker.canonicalData(p.group, p.index) !== p.data) {
        this.checker.violate('acked-durable', `acknowledged ${p.data} at ${p.index} was replaced`, p.group);
        return;
      }
    }
    this.checkLogMatching();
  }

  /** Log Matching over the final logs: equal (index, term) implies equal prefixes. */
  private checkLogMatching(): void {
    for (let group = 0; group < this.opts.groups; group++) {
      const logs = this.nodes.map((n) => n.groups[group]!.raw.raft.log);
      for (let a = 0; a < logs.length; a++) {
        for (let b = a + 1; b < logs.length; b++) {
          const la = logs[a]!;
          const lb = logs[b]!;
          const lo = Math.max(la.firstIndex(), lb.firstIndex());
          const hi = Math.min(la.lastIndex(), lb.lastIndex());
          let matched = false;
          for (let i = hi; i >= lo; i--) {
            const ta = la.term(i);
            if (!matched && ta !== lb.term(i)) continue;
            matched = true;
            if (ta !== lb.term(i)) {
              this.checker.violate(
                'log-matching',
                `nodes ${a + 1} and ${b + 1} agree at a later index but differ at ${i}`,
                group,
              );
              return;
            }
          }
        }
      }
    }
  }
}

function durableView(node: NodeId, d: DurableGroup): DurableLogView {
  const last = d.entries[d.entries.length - 1];
  return {
    node,
    offsetIndex: d.offsetIndex,
    lastIndex: last?.index ?? d.offsetIndex,
    lastTerm: last?.term ?? d.offsetTerm,
    termAt: (i) => d.entries[i - d.offsetIndex - 1]?.term,
  };
}

function drawProfile(p: Prng): Profile {
  // A third of the seeds are "flapping": frequent, short faults.
  const flapping = p.chance(0.35);
  return {
    downTicksMin: flapping ? 3 : 20,
    downTicksSpread: flapping ? 40 : 300,
    partitionTicksMin: flapping ? 5 : 20,
    partitionTicksSpread: flapping ? 60 : 400,
    lossRate: p.chance(0.3) ? 0 : p.float() * 0.1,
    dupRate: p.chance(0.3) ? 0 : p.float() * 0.05,
    delayMsMax: 1 + p.int(30),
    partitionChancePerTick: flapping ? 0.02 + p.float() * 0.05 : 0.002 + p.float() * 0.01,
    crashChancePerTick: flapping ? 0.01 + p.float() * 0.04 : 0.001 + p.float() * 0.006,
    slowDiskChancePerTick: p.float() * 0.004,
    proposeChancePerTick: 0.1 + p.float() * 0.5,
    readChancePerTick: p.float() * 0.2,
    transferChancePerTick: p.float() * 0.003,
    isolateNewLeaderChance: p.chance(0.5) ? 0 : 0.2 + p.float() * 0.5,
    snapshotEvery: 10 + p.int(60),
    snapshotKeep: p.int(10),
    fsyncMsMax: 1 + p.int(flapping ? 15 : 5),
  };
}

export function runSimulation(opts: SimOptions): SimResult {
  validate(opts);
  return new Simulation(opts).run();
}

function validate(opts: SimOptions): void {
  if (!Number.isInteger(opts.seed) || opts.seed < 0)
    throw new RangeError(`seed must be a non-negative integer, got ${opts.seed}`);
  if (opts.nodes !== 3 && opts.nodes !== 5) throw new RangeError(`nodes must be 3 or 5, got ${String(opts.nodes)}`);
  if (!Number.isInteger(opts.groups) || opts.groups < 1 || opts.groups > SIM_LIMITS.groupsMax) {
    throw new RangeError(`groups must be an integer in [1, ${SIM_LIMITS.groupsMax}], got ${opts.groups}`);
  }
  if (!Number.isInteger(opts.ticks) || opts.ticks < 1 || opts.ticks > SIM_LIMITS.ticksMax) {
    throw new RangeError(`ticks must be an integer in [1, ${SIM_LIMITS.ticksMax}], got ${opts.ticks}`);
  }
}
