/**
 * One seeded run of a whole simulated cluster: N nodes × G groups, each node the shipped driver (RaftDriver) on
 * the simulated clock, network and disk of cluster.ts, each group's state machine a rolling digest (node.ts).
 *
 * Safety phase: faults (loss, delay/reordering, duplication, two-way / one-way / bridge partitions that
 * change over time, crashes, slow disks) while clients propose (at a leader, or at a follower that forwards), read
 * (ReadIndex, batched as the driver batches them) and transfer leadership, through the driver's own API; faults aim
 * at leaders and at nodes inside an fsync, and a fresh leader is sometimes cut off or killed at once. Liveness
 * phase: heal everything; every group must elect a leader and commit a fresh entry on every node within
 * SIM_LIMITS.livenessTicksMax ticks. The checkers (checker.ts) run throughout and at the end.
 */
import { MultiRaftError } from '@kalam/multiraft';
import type { ConfChangeV2, ConfState, Entry, NodeId, Prng } from '@kalam/raft';
import { confState } from '@kalam/raft';
import { Checker } from './checker.js';
import type { DurableLogView, Violation } from './checker.js';
import type { ClusterStats, DriverSetup, FaultProfile, FaultScales, PartitionShape } from './cluster.js';
import { SimCluster, drawProfile, entryKey, nodeIds, seedStreams, zeroClusterStats } from './cluster.js';
import type { DigestObserver, DigestResponse } from './node.js';
import { SimNode } from './node.js';
import type { LogStore } from '@kalam/log-store';
import type { SimOptions } from './options.js';
import { driverSwitches } from './bugs.js';
import { SIM_LIMITS, checkCount, checkSeedAndNodes } from './options.js';
import { allVotersConf, describeConfChange, drawConfChange, stepBack } from './membership.js';
import { Trace } from './trace.js';

export interface SimStats extends ClusterStats {
  proposals: number;
  acked: number;
  reads: number;
  /** Membership changes proposed, and those applied on their leader (acknowledged). */
  confChanges: number;
  confChangesAcked: number;
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
  /** Per group and tick: the chance of a membership change (0 in some seeds). */
  readonly confChangeChancePerTick: number;
}

/** The partition shapes of this driver, in the order `faults.int` picks them. */
const PARTITION_SHAPES: readonly PartitionShape[] = ['isolate', 'inbound', 'outbound', 'split', 'bridge'];

/** An acknowledged proposal: the driver answered it applied at `index` on its proposer. */
interface Acked {
  readonly group: number;
  readonly index: number;
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

/** How long a client waits for the driver's answer (simulated ms): past it the outcome is unknown. */
const CALL_TIMEOUT_MS = 100 * SIM_LIMITS.tickMs;

export class Simulation extends SimCluster<SimNode, Profile, SimStats> implements DigestObserver {
  private readonly clients: Prng;
  private readonly acked: Acked[] = [];
  /** Per group, the highest index acknowledged to a client: a read that begins later must not read before it. */
  private readonly ackedMax: number[];
  private nextCommand = 0;
  private readonly markers = new Map<number, Marker>();
  private livenessDone = false;
  private readonly msgEntriesMax: number;
  /** Per group: the configuration each node's core last held (the checkers' view of a node that is down). */
  private readonly lastConf: ConfState[][];
  private readonly lastConfIndex: number[][];
  /** Per group: when the liveness phase last proposed a membership step (simulated ms). */
  private readonly confStepAt: number[];

  constructor(private readonly opts: SimOptions) {
    const trace = new Trace(opts.onTrace);
    const { prng, net, faults, clients, drivers } = seedStreams(opts.seed);
    const profile = drawSimProfile(prng.fork());
    const ids = nodeIds(opts.nodes);
    // Small appends in many seeds: entries of old and new terms then travel in separate messages.
    const msgEntriesMax = [1, 1, 2, 3, 64][prng.int(5)]!;
    const stats: SimStats = {
      proposals: 0,
      acked: 0,
      reads: 0,
      confChanges: 0,
      confChangesAcked: 0,
      ...zeroClusterStats(),
      livenessTicks: 0,
    };
    const nodes: SimNode[] = [];
    super({
      trace,
      checker: new Checker(opts.groups),
      driverSeeds: drivers,
      net,
      faults,
      profile,
      ids,
      nodes,
      stats,
      phase: 'safety',
    });
    for (const id of ids) nodes.push(new SimNode(id, opts.groups, this));
    this.clients = clients;
    this.msgEntriesMax = msgEntriesMax;
    this.ackedMax = Array.from({ length: opts.groups }, () => 0);
    this.lastConf = Array.from({ length: opts.groups }, () => ids.map(() => confState(ids)));
    this.lastConfIndex = Array.from({ length: opts.groups }, () => ids.map(() => 0));
    this.confStepAt = Array.from({ length: opts.groups }, () => -Infinity);
  }

  async run(): Promise<SimResult> {
    const tickMs = SIM_LIMITS.tickMs;
    this.start();
    const safetyEndMs = this.opts.ticks * tickMs;
    await this.runUntil(safetyEndMs);
    if (!this.checker.failed) {
      this.heal();
      const livenessEndMs = safetyEndMs + SIM_LIMITS.livenessTicksMax * tickMs;
      await this.runUntil(livenessEndMs, () => this.livenessDone);
      this.stats.livenessTicks = Math.ceil((this.now - safetyEndMs) / tickMs);
      if (!this.checker.failed) this.checkEnd();
    }
    for (const n of this.nodes) {
      this.endOfLife(n);
      n.driver?.stop();
      n.disk.close();
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

  protected driverSetup(): DriverSetup {
    return {
      limits: {
        snapshotChunkBytes: SIM_LIMITS.snapshotChunkBytes,
        msgEntriesMax: this.msgEntriesMax,
        inflightMsgsMax: 16,
      },
      snapshotThreshold: this.profile.snapshotEvery,
      snapshotKeepEntries: this.profile.snapshotKeep,
      ...driverSwitches(this.opts.plantedBug),
    };
  }

  protected groupIndex(groupId: number): number {
    return groupId;
  }

  // The state machines' observer (node.ts) -----------------------------------------------------------

  beforeFirstApply(group: number, _node: NodeId, e: Entry): void {
    if (!this.checker.isFirstApply(group, e.index)) return;
    const logs = this.nodes.map((o) =>
      durableView(o.id, o.disk.durableView(group), this.confOf(o, group), this.lastConfIndex[group]![o.id - 1]!),
    );
    this.checker.checkCommitSafety(group, e.index, e.term, logs);
  }

  onApplied(group: number, node: NodeId, e: Entry, digest: number): void {
    const term = this.node(node).driver?.coreOf(group).term() ?? e.term;
    this.checker.onApplied(group, node, e.index, e.term, entryKey(e), digest, term);
  }

  onRestored(group: number, node: NodeId, index: number, digest: number): void {
    this.stats.snapshotsInstalled++;
    this.checker.onSnapshotRestored(group, node, index, digest);
    this.trace.record(`${this.now} snap-restore n${node} g${group} ${index}`);
  }

  snapshotPadChars(): number {
    return this.faults.int(200);
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
      const writing = this.nodes.filter((n) => n.up && n.pendingWrite !== undefined);
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

  /** A crash's clients learn nothing more: their calls' promises fail (SHUTTING_DOWN), the outcome unknown. */
  protected onCrash(): void {}

  private clientStep(): void {
    const c = this.clients;
    const p = this.profile;
    for (let group = 0; group < this.opts.groups; group++) {
      if (c.chance(p.proposeChancePerTick)) {
        // Mostly at a leader (clients follow its hint), sometimes at any node: a follower forwards the proposal.
        const leaders = this.leaders(group);
        const reachable = this.nodes.filter((n) => n.reachable());
        const n = c.chance(0.7) ? leaders[c.int(leaders.length)] : reachable[c.int(reachable.length)];
        if (n !== undefined) this.propose(n, group, `g${group}c${this.nextCommand++}`);
      }
      if (c.chance(p.readChancePerTick)) this.read(group);
      if (c.chance(p.transferChancePerTick)) {
        const n = this.leaders(group)[0];
        const to = this.ids[c.int(this.ids.length)]!;
        if (n !== undefined && to !== n.id) this.transfer(n, group, to);
      }
      if (c.chance(p.confChangeChancePerTick)) {
        const n = this.leaders(group)[0];
        const cc = n === undefined ? undefined : drawConfChange(n.driver!.confState(group), this.ids, this.clients);
        if (n !== undefined && cc !== undefined) this.changeConf(n, group, cc);
      }
    }
  }

  /** The configuration `n` holds for `group` now (its core's), or the last one seen while it was up. */
  private confOf(n: SimNode, group: number): ConfState {
    const conf = n.driver?.confState(group);
    if (conf !== undefined) {
      this.lastConf[group]![n.id - 1] = conf;
      this.lastConfIndex[group]![n.id - 1] = n.driver!.coreOf(group).status().confIndex;
    }
    return this.lastConf[group]![n.id - 1]!;
  }

  /** Proposes a membership change through the leader's driver; refusals (one in flight, a leader gone) are answers. */
  private changeConf(n: SimNode, group: number, cc: ConfChangeV2): void {
    const driver = n.driver;
    if (driver === undefined) return;
    this.stats.confChanges++;
    this.trace.record(`${this.now} conf n${n.id} g${group} ${describeConfChange(cc)}`);
    driver.proposeConfChange(group, cc, CALL_TIMEOUT_MS).then(
      (conf) => {
        this.stats.confChangesAcked++;
        this.trace.record(`${this.now} conf-ack g${group} voters ${conf.voters.join(',')}`);
      },
      (err: unknown) => this.refused(n, group, 'conf', err),
    );
  }

  /** Proposes through the node's driver; an answer acknowledges it (checked: the entry applied is this one). */
  private propose(n: SimNode, group: number, data: string, onAcked?: (index: number) => void): void {
    const driver = n.driver;
    if (driver === undefined) return;
    this.stats.proposals++;
    this.trace.record(`${this.now} propose n${n.id} g${group} ${data}`);
    driver.propose(group, new TextEncoder().encode(data), { timeoutMs: CALL_TIMEOUT_MS }).then(
      (response) => {
        const r = response as DigestResponse | undefined;
        if (r === undefined || r.key !== data) {
          this.checker.violate('wrong-ack', `node ${n.id} acknowledged ${data} with ${JSON.stringify(r)}`, group);
          return;
        }
        this.acked.push({ group, index: r.index, data });
        this.stats.acked++;
        this.ackedMax[group] = Math.max(this.ackedMax[group]!, r.index);
        this.trace.record(`${this.now} ack g${group} ${data}@${r.index}`);
        onAcked?.(r.index);
      },
      (err: unknown) => this.refused(n, group, 'propose', err),
    );
  }

  /**
   * A ReadIndex read through the node's driver. Only writes acknowledged before it is invoked must be visible to
   * it; when it is answered, the node's state machine must have applied its read point.
   */
  private read(group: number): void {
    const up = this.nodes.filter((n) => n.reachable());
    const n = up[this.clients.int(up.length)];
    const driver = n?.driver;
    if (n === undefined || driver === undefined) return;
    const minIndex = this.ackedMax[group]!;
    this.trace.record(`${this.now} read n${n.id} g${group} min ${minIndex}`);
    driver.read(group, { timeoutMs: CALL_TIMEOUT_MS }).then(
      (index) => {
        this.stats.reads++;
        this.trace.record(`${this.now} read-done n${n.id} g${group} ${index}`);
        if (index < minIndex) {
          const detail = `node ${n.id} read at ${index} after a write acknowledged at ${minIndex}`;
          this.checker.violate('stale-read', detail, group);
        } else if (n.states[group]!.appliedIndex < index) {
          const applied = n.states[group]!.appliedIndex;
          this.checker.violate('stale-read', `node ${n.id} served a read at ${index} having applied ${applied}`, group);
        }
      },
      (err: unknown) => this.refused(n, group, 'read', err),
    );
  }

  private transfer(n: SimNode, group: number, to: NodeId): void {
    this.trace.record(`${this.now} transfer n${n.id} g${group} to n${to}`);
    n.driver
      ?.transferLeadership(group, to, { timeoutMs: CALL_TIMEOUT_MS })
      .catch((err: unknown) => this.refused(n, group, 'transfer', err));
  }

  /** A call the driver refused or could not finish: a typed MultiRaftError is an answer; anything else is a bug. */
  private refused(n: SimNode, group: number, what: string, err: unknown): void {
    if (err instanceof MultiRaftError) {
      this.trace.record(`${this.now} ${what}-refused n${n.id} g${group} ${err.code}`);
      return;
    }
    const detail = `node ${n.id} ${what}: ${err instanceof Error ? err.message : String(err)}`;
    this.checker.violate('core-exception', detail, group);
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
    const membersBack = this.allMembersBack(); // first: it proposes the next membership steps
    this.livenessDone = this.allMarkersDone() && membersBack;
    for (const [group, m] of this.markers) {
      // Propose a marker, and again if it was not acknowledged within 50 ticks (its leader lost office).
      if (m.index !== undefined || this.now - m.proposedAt < 50 * SIM_LIMITS.tickMs) continue;
      const n = this.leaders(group)[0];
      if (n === undefined) continue;
      const data = `live-g${group}-${this.now}`;
      m.data = data;
      m.proposedAt = this.now;
      this.propose(n, group, data, (index) => {
        if (m.data === data) m.index = index;
      });
    }
  }

  /**
   * The intended end of every membership change: each group back to every node as a voter, one step at a time
   * (leave a joint state, add a missing node as a learner, promote a learner), proposed on the leader. True once
   * every node's core holds that configuration.
   */
  private allMembersBack(): boolean {
    let all = true;
    for (let group = 0; group < this.opts.groups; group++) {
      if (this.nodes.every((n) => allVotersConf(this.confOf(n, group), this.ids))) continue;
      all = false;
      const n = this.leaders(group)[0];
      if (n === undefined || this.now - this.confStepAt[group]! < 20 * SIM_LIMITS.tickMs) continue;
      const cc = stepBack(n.driver!.confState(group), this.ids);
      if (cc === undefined) continue; // the leader has it; the others catch up
      this.confStepAt[group] = this.now;
      this.changeConf(n, group, cc);
    }
    return all;
  }

  /**
   * Marks groups whose marker is applied on every node; true when all are — and every node has applied every
   * acknowledged entry too (a forwarded proposal may be acknowledged after the marker, at a later index).
   */
  private allMarkersDone(): boolean {
    let all = true;
    for (const [group, m] of this.markers) {
      const index = Math.max(m.index ?? Infinity, this.ackedMax[group]!);
      if (m.index !== undefined && this.nodes.every((n) => n.states[group]!.appliedIndex >= index)) m.done = true;
      else {
        m.done = false;
        all = false;
      }
    }
    return all;
  }

  private checkEnd(): void {
    for (let group = 0; group < this.opts.groups; group++) {
      const off = this.nodes.find((n) => !allVotersConf(this.confOf(n, group), this.ids));
      if (off !== undefined) {
        const conf = JSON.stringify(this.confOf(off, group));
        const cores = this.nodes.map((n) => {
          const s = n.driver!.coreOf(group).status();
          const c = s.conf;
          const conf = `${c.voters.join(',')}|${c.votersOutgoing.join(',')}|${c.learners.join(',')}@${s.confIndex}`;
          const recovering = n.driver!.coreOf(group).recovering() ? ' recovering' : '';
          return `n${n.id} ${s.role} t${s.term} last ${s.lastIndex} commit ${s.commit} applied ${s.applied} conf ${conf}${recovering}`;
        });
        const detail = `node ${off.id} ends with ${conf}, not every node as a voter (${cores.join('; ')})`;
        this.checker.violate('membership', detail, group);
      }
    }
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
        if (n.states[p.group]!.appliedIndex < p.index) {
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
      const logs = this.nodes.map((n) => n.driver!.coreOf(group).raft.log);
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

function durableView(
  node: NodeId,
  d: ReturnType<LogStore['durableView']>,
  conf: ConfState,
  confIndex: number,
): DurableLogView {
  const { offsetIndex, lastIndex, lastTerm, termAt, commit } = d;
  return { node, offsetIndex, lastIndex, lastTerm, termAt, conf, confIndex, commit };
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
    confChangeChancePerTick: q.chance(0.25) ? 0 : q.float() * 0.02,
  }));
}

export function runSimulation(opts: SimOptions): Promise<SimResult> {
  checkSeedAndNodes(opts.seed, opts.nodes);
  checkCount('groups', opts.groups, SIM_LIMITS.groupsMax);
  checkCount('ticks', opts.ticks, SIM_LIMITS.ticksMax);
  return new Simulation(opts).run();
}
