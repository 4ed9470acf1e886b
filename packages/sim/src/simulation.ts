/**
 * One seeded run of a whole simulated cluster: N nodes × G groups of the pure Raft core on the simulated
 * clock, network and disk of cluster.ts, each group's state machine a rolling digest (node.ts).
 *
 * Safety phase: faults (loss, delay/reordering, duplication, two-way / one-way / bridge partitions that
 * change over time, crashes, slow disks) while clients propose, read and transfer leadership; faults aim at
 * leaders and at nodes inside an fsync, and a fresh leader is sometimes cut off or killed at once. Liveness
 * phase: heal everything; every group must elect a leader and commit a fresh entry on every node within
 * SIM_LIMITS.livenessTicksMax ticks. The checkers (checker.ts) run throughout and at the end.
 */
import type { NodeId, Prng, Ready } from '@kalam/raft';
import { EntryKind, RaftError } from '@kalam/raft';
import { Checker } from './checker.js';
import type { DurableLogView, Violation } from './checker.js';
import type { ClusterStats, FaultProfile, FaultScales, PartitionShape } from './cluster.js';
import { SimCluster, drawProfile, nodeIds, seedStreams, zeroClusterStats } from './cluster.js';
import type { DurableGroup, SimGroup } from './node.js';
import { SimNode, applyEntry, decodeSnapshot, encodeSnapshot, entryKey } from './node.js';
import type { GroupReadies } from './process.js';
import { compactLog } from './process.js';
import type { SimOptions } from './options.js';
import { SIM_LIMITS, checkCount, checkSeedAndNodes } from './options.js';
import { Trace } from './trace.js';

export interface SimStats extends ClusterStats {
  proposals: number;
  acked: number;
  reads: number;
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

/** Per-seed fault and workload profile, drawn from the seed. */
interface Profile extends FaultProfile {
  readonly proposeChancePerTick: number;
  readonly readChancePerTick: number;
  readonly transferChancePerTick: number;
  readonly isolateNewLeaderChance: number;
  readonly snapshotEvery: number;
  readonly snapshotKeep: number;
}

/** The partition shapes of this driver, in the order `faults.int` picks them. */
const PARTITION_SHAPES: readonly PartitionShape[] = ['isolate', 'inbound', 'outbound', 'split', 'bridge'];

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

/**
 * One ReadIndex round and the reads that share it (RaftManager batches reads that start before its next turn):
 * `minIndex` is the highest write acknowledged before any of them began, so a read point below it is stale for
 * at least one of them.
 */
interface PendingRead {
  readonly group: number;
  readonly node: NodeId;
  minIndex: number;
  members: number;
}

export class Simulation extends SimCluster<SimNode, Profile, SimStats> {
  private readonly clients: Prng;
  private readonly proposals = new Map<string, Proposal>();
  private readonly acked: Proposal[] = [];
  private readonly ackedMax: number[];
  private readonly reads = new Map<string, PendingRead>();
  /** The round that reads on (node, group) join until the node's next turn asks it: `${node}:${group}` → context. */
  private readonly openReads = new Map<string, string>();
  private nextCommand = 0;
  private nextRead = 0;
  private readonly markers = new Map<number, Marker>();
  private livenessDone = false;

  constructor(private readonly opts: SimOptions) {
    const trace = new Trace(opts.onTrace);
    const { prng, net, faults, clients } = seedStreams(opts.seed);
    const profile = drawSimProfile(prng.fork());
    const ids = nodeIds(opts.nodes);
    const bugs = opts.plantedBug !== undefined ? { [opts.plantedBug]: true } : undefined;
    // Small appends in many seeds: entries of old and new terms then travel in separate messages.
    const msgEntriesMax = [1, 1, 2, 3, 64][prng.int(5)]!;
    const nodes = ids.map((id) => new SimNode(id, ids, opts.groups, prng.fork(), bugs, msgEntriesMax));
    const stats: SimStats = {
      proposals: 0,
      acked: 0,
      reads: 0,
      ...zeroClusterStats(),
      livenessTicks: 0,
    };
    super({ trace, checker: new Checker(opts.groups), net, faults, profile, ids, nodes, stats, phase: 'safety' });
    this.clients = clients;
    this.ackedMax = Array.from({ length: opts.groups }, () => 0);
  }

  run(): SimResult {
    const tickMs = SIM_LIMITS.tickMs;
    this.start();
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

  /** The write is durable: send the acknowledgements, apply, advance. */
  protected complete(n: SimNode, readies: GroupReadies): void {
    this.persisted(n, readies);
    for (const [group, rd] of readies) {
      const g = n.groups[group]!;
      if (rd.snapshot !== undefined) this.restoreSnapshot(n, group, g, rd.snapshot.index, rd.snapshot.data);
      for (const e of rd.committedEntries) this.apply(n, group, g, e);
      for (const rs of rd.readStates) this.onReadState(n, group, rs);
      this.guard(n, () => g.raw.advance(rd));
      this.observeRole(n, group);
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
    this.guard(n, () => compactLog(g, d.appliedIndex, data, this.profile.snapshotKeep));
  }

  protected onNewLeader(n: SimNode): void {
    if (!this.faults.chance(this.profile.isolateNewLeaderChance)) return;
    // Cut off or kill a fresh leader before its entries spread: the road to Raft's Figure 8.
    const kind = this.faults.chance(0.5) ? 'isolate' : 'crash';
    this.schedule(this.faults.int(8 * this.delayMsMax + 10), { kind, node: n.id });
  }

  // Faults and clients (one control step per tick) -----------------------------------------------------

  protected control(): void {
    if (this.phase === 'liveness') {
      this.livenessStep();
      return;
    }
    this.faultStep();
    this.clientStep();
  }

  /**
   * Faults aimed where they hurt (as Jepsen's nemeses do): often a current leader, or a node in the middle
   * of an fsync (a torn write), otherwise any node.
   */
  protected pickVictim(): SimNode {
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

  protected partition(): void {
    const shape = PARTITION_SHAPES[this.faults.int(PARTITION_SHAPES.length)]!;
    const victim = this.pickVictim().id;
    this.cut(shape, victim, this.partitionEndMs());
  }

  protected onCrash(n: SimNode): void {
    for (const [k, p] of this.proposals) if (p.node === n.id) this.proposals.delete(k);
    for (const [k, r] of this.reads) if (r.node === n.id) this.reads.delete(k);
    for (const k of [...this.openReads.keys()]) if (k.startsWith(`${n.id}:`)) this.openReads.delete(k);
  }

  /** At the start of a node's turn: every open read round of that node is asked of its core. */
  protected override onTurnStart(n: SimNode): void {
    for (const [key, context] of this.openReads) {
      if (!key.startsWith(`${n.id}:`)) continue;
      if (this.opts.driverBug !== 'joinAskedReadRound') this.openReads.delete(key);
      const pending = this.reads.get(context);
      if (pending === undefined) continue;
      try {
        n.groups[pending.group]!.raw.readIndex(context);
      } catch (err) {
        this.reads.delete(context);
        if (!(err instanceof RaftError))
          this.guard(n, () => {
            throw err;
          });
      }
    }
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

  private propose(n: SimNode, group: number, data: string): boolean {
    const call = this.clientCall(n, () => {
      const { index, term } = n.groups[group]!.raw.propose(new TextEncoder().encode(data));
      this.proposals.set(`${group}:${n.id}:${index}`, { group, node: n.id, index, term, data });
      this.stats.proposals++;
      this.trace.record(`${this.now} propose n${n.id} g${group} ${data}@${index}`);
    });
    return call.ok;
  }

  private read(group: number): void {
    const up = this.nodes.filter((n) => n.up && n.pending === undefined);
    const n = up[this.clients.int(up.length)];
    if (n === undefined) return;
    // Only writes acknowledged before the read is invoked must be visible to it.
    const minIndex = this.ackedMax[group]!;
    const key = `${n.id}:${group}`;
    const open = this.openReads.get(key);
    const joined = open === undefined ? undefined : this.reads.get(open);
    if (open !== undefined && joined !== undefined) {
      joined.minIndex = Math.max(joined.minIndex, minIndex);
      joined.members++;
      this.trace.record(`${this.now} read n${n.id} g${group} ${open} min ${minIndex} (joins)`);
      return;
    }
    const context = `r${this.nextRead++}`;
    this.reads.set(context, { group, node: n.id, minIndex, members: 1 });
    this.openReads.set(key, context);
    this.trace.record(`${this.now} read n${n.id} g${group} ${context} min ${minIndex}`);
    this.requestTurn(n);
  }

  private onReadState(n: SimNode, group: number, rs: Ready['readStates'][number]): void {
    const pending = this.reads.get(rs.context);
    if (pending === undefined) return;
    this.reads.delete(rs.context);
    this.trace.record(
      `${this.now} read-state n${n.id} g${group} ${rs.context} ${rs.status === 'ok' ? rs.index : rs.reason}`,
    );
    if (rs.status !== 'ok') return;
    this.stats.reads += pending.members;
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
    this.healAll();
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

/** Faults of the Raft-level runs: harder than the Kalam driver's, which pays for real state machines. */
const FAULT_SCALES: FaultScales = {
  flapping: {
    downTicksSpread: 40,
    partitionTicksSpread: 60,
    partitionChancePerTick: [0.02, 0.05],
    crashChancePerTick: [0.01, 0.04],
  },
  steady: {
    downTicksSpread: 300,
    partitionTicksSpread: 400,
    partitionChancePerTick: [0.002, 0.01],
    crashChancePerTick: [0.001, 0.006],
  },
};

function drawSimProfile(p: Prng): Profile {
  return drawProfile(p, FAULT_SCALES, (q) => ({
    proposeChancePerTick: 0.1 + q.float() * 0.5,
    readChancePerTick: q.float() * 0.2,
    transferChancePerTick: q.float() * 0.003,
    isolateNewLeaderChance: q.chance(0.5) ? 0 : 0.2 + q.float() * 0.5,
    snapshotEvery: 10 + q.int(60),
    snapshotKeep: q.int(10),
  }));
}

export function runSimulation(opts: SimOptions): SimResult {
  checkSeedAndNodes(opts.seed, opts.nodes);
  checkCount('groups', opts.groups, SIM_LIMITS.groupsMax);
  checkCount('ticks', opts.ticks, SIM_LIMITS.ticksMax);
  return new Simulation(opts).run();
}
