/**
 * One seeded run of a whole simulated Kalam cluster: N nodes, each hosting every group of the Kalam layout
 * (meta:system, meta:users, meta:jobs, the user shards, one shared shard) with the shipped driver, the real kalamdb
 * state machines, and the executor and SQL engine the HTTP API calls — on the simulated clock, network, disk and
 * faults of cluster.ts. Clients speak SQL to the engine of the node they reach, as an application does.
 *
 * Phases:
 * 1. Setup (no faults): `CREATE NAMESPACE` and the register tables — a USER table and a SHARED table — then every
 *    register key is seeded with v = 0. Bounded by KALAM_SIM_LIMITS.setupTicksMax.
 * 2. Safety (`ticks` ticks): faults (loss, delay, duplication, partitions, crashes that lose data.db, disk losses
 *    that lose raft.db too, slow disks) while every client runs read / write / compare-and-set statements on its
 *    own rows and on the shared rows, each recorded in a HistoryRecorder on simulated time; and schema changes
 *    (tables created, altered, written, dropped and created again; namespaces dropped with CASCADE).
 * 3. Liveness: heal; every pending statement must complete or time out, and every group must converge (one
 *    leader, everything committed and applied on every node) within KALAM_SIM_LIMITS.livenessTicksMax.
 *
 * Checks: the Raft checkers that cost little (election safety, log matching, same entry applied at each index,
 * durable term/commit monotonic, leader completeness); no node stops (an ApplyFatalError is a violation: the
 * simulated disks never corrupt); no statement answers INTERNAL_ERROR; every apply batch runs inside its turn's
 * data.db transaction (apply-scope, as the node's applyScope makes it); at the end, per group, every node's
 * state-machine snapshot is byte-equal and every table reads the same rows on every node; and the client history
 * is linearizable per key.
 *
 * How a statement's outcome is judged (what a client can know): a success is `ok`; a refusal that cannot have
 * taken effect (a 4xx, NOT_LEADER, LEADER_NOT_AVAILABLE, a CLUSTER_UNAVAILABLE whose outcome is known) is
 * `failed`; a timeout, a dropped proposal or a node that died under it is `unknown`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import fc from 'fast-check';
import { ApplyFatalError, JOBS_LIMITS, KalamError, ShardRouter, dataSharedShard, groupNumber } from '@kalam/kalamdb';
import type { ClientSessionRequest, GroupId, QueryResult, Session, ShardingConfig, Value } from '@kalam/kalamdb';
import type { OpHandle, Verdict } from '@kalam/check';
import { HistoryRecorder, checkLinearizability } from '@kalam/check';
import { MultiRaftError } from '@kalam/multiraft';
import { EntryKind, applyChange, confState, decodeConfChange } from '@kalam/raft';
import type { ConfChangeV2, ConfState, NodeId, Prng } from '@kalam/raft';
import { driverSwitches } from '../bugs.js';
import { Checker } from '../checker.js';
import type { Violation } from '../checker.js';
import type { ClusterStats, DriverSetup, FaultProfile, FaultScales, PartitionShape } from '../cluster.js';
import { SimCluster, drawProfile, nodeIds, seedStreams, zeroClusterStats } from '../cluster.js';
import { allVotersConf, describeConfChange, drawConfChange, stepBack } from '../membership.js';
import { SIM_LIMITS, checkCount, checkSeedAndNodes } from '../options.js';
import { FNV_OFFSET, Trace, fnv1a } from '../trace.js';
import { FUZZ_ACTORS, fuzzRequest, setupRows, setupStatements } from './sql-arbitrary.js';
import { KalamNode } from './node.js';
import type { KalamPlantedBug, KalamSimOptions } from './options.js';
import { KALAM_SIM_DEFAULTS, KALAM_SIM_LIMITS } from './options.js';
import type { RegisterKey } from './workload.js';
import {
  COUNTER_TABLE,
  NAMESPACE,
  SETUP_SQL,
  SHARED_COUNTER_TABLE,
  counterSeedSql,
  incrementSql,
  SHARED_TABLE,
  USER_TABLE,
  hostileStatement,
  seedSql,
  sharedKeys,
  userIds,
  userKeys,
} from './workload.js';

export interface KalamSimStats extends ClusterStats {
  groups: number;
  /** Client calls invoked, and how they ended. */
  ops: number;
  opsOk: number;
  opsFailed: number;
  opsUnknown: number;
  reads: number;
  writes: number;
  cas: number;
  snapshotsRestoredOnBoot: number;
  /** Crashes of a node while it was installing a snapshot a piece per turn (its next life redoes the install). */
  crashesMidInstall: number;
  /** Disk losses: a node's raft.db and data.db both gone. */
  wipes: number;
  /** Apply batches, and those made while the node's log write was in flight (each inside the turn's transaction). */
  appliedBatches: number;
  appliedWhileWriting: number;
  /** Membership changes proposed, and those applied on their leader (acknowledged). */
  confChanges: number;
  confChangesAcked: number;
  /** Schema statements run during the fault phase, and how many took effect. */
  ddlDuringFaults: number;
  /** Statements of the hostile client (workload.ts), and how many of them were generated from the grammar. */
  hostile: number;
  generated: number;
  ddlApplied: number;
  /** FLUSH statements run during the faults, and the jobs that ended (system.jobs on the first node). */
  flushes: number;
  jobsCompleted: number;
  jobsFailed: number;
  setupTicks: number;
  livenessTicks: number;
  /** Increments under a client session, their deliveries (first sends, retries and duplicates), and replayed answers. */
  sessionWrites: number;
  sessionSends: number;
  sessionReplays: number;
  /** Increments first answered after more than one delivery (an earlier one failed or had an unknown outcome). */
  sessionRetried: number;
}

export interface KalamLinearizability {
  readonly verdict: Verdict | 'not-checked';
  readonly keys: number;
  readonly operations: number;
}

export interface KalamSimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly ticks: number;
  readonly violations: Violation[];
  readonly traceHash: string;
  readonly stats: KalamSimStats;
  readonly linearizability: KalamLinearizability;
}

/** Per-seed fault and workload profile, drawn from the seed. */
interface Profile extends FaultProfile {
  readonly opChancePerTick: number;
  readonly crashNewLeaderChance: number;
  readonly wipeChance: number;
  /** At a crash, the chance that data.db is lost with the process (raft.db stays). */
  readonly loseDataDbChance: number;
  readonly snapshotEvery: number;
  readonly snapshotKeep: number;
  /** Per group and tick: the chance of a membership change (0 in some seeds). */
  readonly confChangeChancePerTick: number;
}

/** How long a membership change may take before its caller stops waiting (simulated ms; then the outcome is unknown). */
const CONF_CHANGE_TIMEOUT_MS = 100 * SIM_LIMITS.tickMs;

/** The partition shapes of this workload, in the order `faults.int` picks them. */
const PARTITION_SHAPES: readonly PartitionShape[] = ['isolate', 'inbound', 'split', 'bridge'];

/** Clients of the register workload: service role, so that they write the SHARED table as well as their rows. */
/** A setup statement: who runs it, the SQL, whether any refusal ends it, and whether it may run beside others. */
interface SetupStep {
  readonly who: string;
  readonly sql: string;
  readonly anyRefusal: boolean;
  readonly parallel: boolean;
}

interface Client {
  readonly session: Session;
  readonly keys: readonly RegisterKey[];
  /** The value this client last saw per key: what its compare-and-set expects. */
  readonly lastSeen: Map<string, Value>;
  busy: boolean;
  /** A client whose call failed waits until then before its next one, as a real client backs off. */
  restUntilMs: number;
  /** Set for the clients that increment counters under a client session (every other one). */
  readonly counter: SessionCounter | undefined;
}

/**
 * A client that writes under a client session, as @kalam/client does: one increment at a time, numbered by `seq`;
 * an increment whose outcome is unknown (or refused before it could apply) is sent again with the same seq through
 * another node until it is answered. `issued` counts the increments per counter (USER row, SHARED row): once all are
 * answered, each counter must read exactly that (checkCounters).
 */
interface SessionCounter {
  readonly clientId: string;
  /** Made when the client's first increment starts (a client id's creation time, on the simulated clock). */
  createdMs: number;
  nextSeq: number;
  acked: number;
  readonly issued: { own: number; shared: number };
  /** The increment in flight or waiting to be sent again; its first answer once it has one. */
  pending: { seq: number; shared: boolean; attempts: number; answer?: number } | undefined;
}

/** root, for the DDL. */
const ROOT: Session = { userId: 'root', username: 'root', role: 'system' };

/** How a statement ended, as a client can tell. */
type Outcome =
  | { readonly kind: 'ok'; readonly results: QueryResult[] }
  | { readonly kind: 'failed'; readonly code: string }
  | { readonly kind: 'unknown'; readonly why: string };

export class KalamSimulation extends SimCluster<KalamNode, Profile, KalamSimStats> {
  private readonly rand: Prng;
  private readonly ddlRand: Prng;
  /** The session clients' own draws (which increments, where to): the register clients' stream stays as it was. */
  private readonly sessionRand: Prng;
  private readonly sharding: ShardingConfig;
  private readonly router: ShardRouter;
  private readonly groupIds: number[];
  private readonly bug: KalamPlantedBug | undefined;
  private readonly msgEntriesMax: number;
  private readonly dir: string;
  /** Setup statements left. */
  private setup: SetupStep[];
  private readonly setupInFlight = new Set<SetupStep>();
  private safetyEndMs = Infinity;
  private livenessEndMs = Infinity;
  /** Per group: when the liveness phase last proposed a step back to every node as a voter (simulated ms). */
  private readonly confStepAt = new Map<number, number>();
  /** Membership changes proposed and not yet answered (applied, refused or timed out). */
  private confInFlight = 0;
  private readonly clients: Client[];
  private readonly history: HistoryRecorder;
  private readonly initialValues: Record<string, Value> = {};
  private ddlBusy = false;
  private hostileBusy = false;
  private jobsPolledAt = -Infinity;
  /** The node whose disk was lost and has not caught up yet, with the commit index each group had then. */
  private recovering: { readonly node: KalamNode; readonly targets: readonly number[] } | undefined;
  /** Statements under way, by the node that runs them: a crash answers them `unknown`. */
  private readonly inFlight = new Map<NodeId, Set<(o: Outcome) => void>>();
  /** When each statement in flight began, and what it was (the answer-time check). */
  private readonly started = new Map<(o: Outcome) => void, { readonly at: number; readonly what: string }>();
  private sideTables = 0;
  private sideColumns = 0;
  private nextValue = 0;

  constructor(private readonly opts: KalamSimOptions) {
    const users = opts.users ?? KALAM_SIM_DEFAULTS.users;
    const sharding = { numUserShards: opts.numUserShards ?? KALAM_SIM_DEFAULTS.numUserShards, numSharedShards: 1 };
    const trace = new Trace(opts.onTrace);
    const { prng, net, faults, clients: rand, drivers } = seedStreams(opts.seed);
    const profile = drawKalamProfile(prng.fork());
    const ids = nodeIds(opts.nodes);
    const msgEntriesMax = [1, 2, 3, 64][prng.int(4)]!;
    const groupCount = 3 + sharding.numUserShards + 1;
    const stats: KalamSimStats = {
      groups: groupCount,
      ops: 0,
      opsOk: 0,
      opsFailed: 0,
      opsUnknown: 0,
      reads: 0,
      writes: 0,
      cas: 0,
      ...zeroClusterStats(),
      snapshotsRestoredOnBoot: 0,
      crashesMidInstall: 0,
      wipes: 0,
      appliedBatches: 0,
      appliedWhileWriting: 0,
      confChanges: 0,
      confChangesAcked: 0,
      ddlDuringFaults: 0,
      hostile: 0,
      generated: 0,
      ddlApplied: 0,
      flushes: 0,
      jobsCompleted: 0,
      jobsFailed: 0,
      setupTicks: 0,
      livenessTicks: 0,
      sessionWrites: 0,
      sessionSends: 0,
      sessionReplays: 0,
      sessionRetried: 0,
    };
    const nodes: KalamNode[] = [];
    super({
      trace,
      checker: new Checker(groupCount),
      driverSeeds: drivers,
      net,
      faults,
      profile,
      ids,
      nodes,
      stats,
      phase: 'setup',
    });
    this.lossless = true; // the setup is not what a seed tests: its statements are not lost (delays stay)
    this.dir = mkdtempSync(join(tmpdir(), 'kalam-sim-'));
    const machineOptions = {
      uncheckedCommands: opts.plantedBug === 'uncheckedCommands',
      restoreDropsOtherTables: opts.plantedBug === 'restoreDropsOtherTables',
      ignoreClientSessions: opts.plantedBug === 'ignoreClientSessions',
    };
    const host = {
      now: () => this.now,
      defer: (node: NodeId, fn: () => void) => this.defer(node, fn),
      dir: this.dir,
      machineOptions,
      sleep: (node: NodeId, ms: number) => this.sleep(node, ms),
      jobSwitches: { stepDelayMs: 0, retentionCron: JOB_RETENTION_CRON, deletedRetentionMs: 1_000 },
      ...(opts.onRaftCall !== undefined ? { raftCalls: opts.onRaftCall } : {}),
    };
    for (const id of ids) nodes.push(new KalamNode(id, sharding, host));
    this.sharding = sharding;
    this.router = new ShardRouter(sharding);
    this.groupIds = nodes[0]!.layout.map(groupNumber);
    this.bug = opts.plantedBug;
    this.msgEntriesMax = msgEntriesMax;
    this.history = new HistoryRecorder(() => this.now);
    this.ddlRand = prng.fork();
    this.sessionRand = prng.fork();
    this.rand = rand;
    this.clients = userIds(users).map((userId, i) => ({
      session: { userId, username: userId, role: 'service' },
      keys: [...userKeys(userId), ...sharedKeys()],
      lastSeen: new Map(),
      busy: false,
      restUntilMs: 0,
      counter:
        i % 2 === 0
          ? {
              clientId: `sim-${userId}`,
              createdMs: 0,
              nextSeq: 1,
              acked: 0,
              issued: { own: 0, shared: 0 },
              pending: undefined,
            }
          : undefined,
    }));
    const sessionUsers = this.clients.filter((c) => c.counter !== undefined).map((c) => c.session.userId);
    const strict = (s: readonly [string, string]): SetupStep => ({
      who: s[0],
      sql: s[1],
      anyRefusal: false,
      parallel: false,
    });
    // The registers, then the generated statements' pool (sql-arbitrary.ts): its users, storage, namespaces, tables
    // and a row of each table for every actor (some refused by role, which is fine).
    this.setup = [
      strict(SETUP_SQL),
      ...this.clients.map((c) => strict(seedSql(c.session.userId))),
      strict(seedSql(undefined)),
      ...counterSeedSql(sessionUsers).map(strict),
      ...setupStatements().map((sql) => ({ who: 'root', sql, anyRefusal: true, parallel: false })),
      ...setupRows().map((r) => ({ who: r.actor, sql: r.sql, anyRefusal: true, parallel: true })),
    ];
    for (const c of this.clients) for (const key of userKeys(c.session.userId)) this.initialValues[key.history] = 0;
    for (const key of sharedKeys()) this.initialValues[key.history] = 0;
  }

  async run(): Promise<KalamSimResult> {
    const tickMs = SIM_LIMITS.tickMs;
    let linearizability: KalamLinearizability = { verdict: 'not-checked', keys: 0, operations: 0 };
    try {
      this.start();
      for (const n of this.nodes) n.attach();
      await this.runUntil(KALAM_SIM_LIMITS.setupTicksMax * tickMs, () => this.phase !== 'setup');
      if (this.phase === 'setup' && !this.checker.failed) {
        this.checker.violate(
          'setup',
          `the DDL and seeding did not finish within ${KALAM_SIM_LIMITS.setupTicksMax} ticks`,
        );
      }
      this.stats.setupTicks = Math.ceil(this.now / tickMs);
      await this.runUntil(this.safetyEndMs);
      if (!this.checker.failed) {
        this.heal();
        await this.runUntil(this.livenessEndMs, () => this.converged());
        this.stats.livenessTicks = Math.ceil((this.now - this.safetyEndMs) / tickMs);
        if (!this.checker.failed) this.checkConvergence();
        if (!this.checker.failed) linearizability = this.checkHistory();
      }
    } finally {
      for (const n of this.nodes) {
        this.countSnapshots(n);
        this.endOfLife(n);
        n.driver?.stop();
        n.close();
        n.closeDisk();
      }
      rmSync(this.dir, { recursive: true, force: true });
    }
    return {
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      ticks: this.opts.ticks,
      violations: this.checker.violations,
      traceHash: this.trace.digest(),
      stats: this.stats,
      linearizability,
    };
  }

  protected driverSetup(n: KalamNode): DriverSetup {
    return {
      // As `kalam serve` runs it: a turn's applies, every group's, in one data.db transaction (this life's store).
      applyScope: (applies) => n.machines.store.transaction(applies),
      // The node commits a turn's applies as one transaction; this checks that the driver keeps every apply batch
      // inside it — those made while a log write is in flight (applyWhileWriting) too, which no unit test reaches.
      onApplied: () => {
        if (!n.machines.store.db.inTransaction) {
          this.checker.violate('apply-scope', `node ${n.id} applied a batch outside the turn's data.db transaction`);
        }
        this.stats.appliedBatches++;
        if (n.pendingWrite !== undefined) this.stats.appliedWhileWriting++;
      },
      limits: {
        snapshotChunkBytes: SIM_LIMITS.snapshotChunkBytes * 16,
        msgEntriesMax: this.msgEntriesMax,
        inflightMsgsMax: 16,
      },
      snapshotThreshold: this.profile.snapshotEvery,
      snapshotKeepEntries: this.profile.snapshotKeep,
      // A few KB a turn: a data group's snapshot installs over several events, so crashes land between its pieces.
      installBytesPerTurn: KALAM_SIM_LIMITS.installBytesPerTurn,
      ...driverSwitches(this.bug),
    };
  }

  protected groupIndex(groupId: number): number {
    return this.groupIds.indexOf(groupId);
  }

  /** A node that stops applying is a violation: the simulated disks never fail, so it can only be a bug. */
  protected override onNodeError(n: KalamNode, err: unknown): void {
    if (err instanceof ApplyFatalError) {
      this.checker.violate('node-stopped', `node ${n.id}: ${err.message}`);
      return;
    }
    super.onNodeError(n, err);
  }

  protected override onRestart(n: KalamNode): void {
    n.attach();
    for (const id of this.groupIds) if (n.disk.durableView(id).snapshotIndex > 0) this.stats.snapshotsRestoredOnBoot++;
  }

  /** The engine's "next event-loop iteration": an event right after this one, in the node's life. */
  private defer(node: NodeId, fn: () => void): void {
    const n = this.node(node);
    this.schedule(0, { kind: 'soon', node, epoch: n.epoch, fn });
  }

  private sleep(node: NodeId, ms: number): Promise<void> {
    const n = this.node(node);
    return new Promise((resolve) => this.schedule(ms, { kind: 'soon', node, epoch: n.epoch, fn: resolve }));
  }

  /** Every JOBS_LIMITS.pollMs, each reachable node's job manager looks for work (it acts only on meta:jobs' leader). */
  private jobsStep(): void {
    if (this.now - this.jobsPolledAt < JOBS_LIMITS.pollMs) return;
    this.jobsPolledAt = this.now;
    for (const n of this.nodes) if (n.reachable()) n.jobs?.poll();
  }

  protected onNewLeader(n: KalamNode): void {
    // Kill a fresh leader before its entries spread.
    if (this.faults.chance(this.profile.crashNewLeaderChance)) {
      this.schedule(this.faults.int(8 * this.delayMsMax + 10), { kind: 'crash', node: n.id });
    }
  }

  // Faults ---------------------------------------------------------------------------------------------

  protected control(): void {
    this.answerCheck();
    this.jobsStep();
    switch (this.phase) {
      case 'setup':
        this.setupStep();
        return;
      case 'safety':
        this.faultStep();
        this.crashMidInstallStep();
        this.wipeStep();
        this.clientStep();
        this.membershipStep();
        this.ddlStep();
        this.hostileStep();
        return;
      case 'liveness':
        this.membersBackStep();
        this.counterRetryStep();
        return;
      case 'done':
        return;
    }
  }

  /**
   * Now and then a node installing a snapshot a piece per turn dies between two pieces: its next life must redo the
   * install from raft.db's snapshot (data.db's mark), never serve the half-installed state.
   */
  private crashMidInstallStep(): void {
    for (const n of this.nodes) {
      if (!n.up || (n.driver?.installsUnderWay() ?? 0) === 0) continue;
      if (this.faults.chance(KALAM_SIM_LIMITS.crashMidInstallChancePerTick)) this.crash(n);
    }
  }

  /** Often a current leader (of meta:system or of a data group), otherwise any node. */
  protected pickVictim(): KalamNode {
    const f = this.faults;
    if (f.chance(0.5)) {
      const l = this.leaderOf(this.groupIds[f.int(this.groupIds.length)]!);
      if (l !== undefined) return l;
    }
    return this.nodes[f.int(this.nodes.length)]!;
  }

  protected partition(): void {
    const victim = this.pickVictim().id;
    const healAt = this.partitionEndMs();
    this.cut(PARTITION_SHAPES[this.faults.int(PARTITION_SHAPES.length)]!, victim, healAt);
  }

  /**
   * Now and then a node that is down loses its disk: raft.db too, so it rejoins by snapshot. One disk at a time:
   * until the wiped node holds again every group's commit index of the moment it lost its disk, no other disk is
   * lost. Raft keeps what a quorum of disks holds; losing a second disk before the first caught up could lose a
   * quorum's copy of a committed entry (and the vote a node forgot), which no replication protocol survives.
   */
  private wipeStep(): void {
    this.recoveryStep();
    if (this.recovering !== undefined || !this.faults.chance(this.profile.wipeChance)) return;
    const down = this.nodes.filter((n) => !n.up);
    const n = down[this.faults.int(down.length)];
    // A membership change in flight may yet leave a group with two voters, this node one of them (seed 51 once did:
    // the wipe came between a removal's proposal and its apply, and the group never elected a leader again).
    if (n === undefined || this.votesInSmallGroup(n) || this.confInFlight > 0) return;
    const targets = this.groupIds.map((g) =>
      Math.max(...this.nodes.filter((o) => o !== n).map((o) => o.disk.durableView(g).commit)),
    );
    n.wipe();
    this.recovering = { node: n, targets };
    this.checker.onDiskLost(n.id);
    this.stats.wipes++;
    this.trace.record(`${this.now} wipe n${n.id}`);
  }

  /**
   * The wiped node has recovered once its disk holds every group's commit index of the moment it was lost again
   * and no group of it is still recovering (durably: a crash would bring the flag back).
   */
  private recoveryStep(): void {
    const r = this.recovering;
    if (r === undefined || !r.node.up) return;
    if (this.groupIds.some((g, i) => r.node.disk.durableView(g).commit < r.targets[i]!)) return;
    if (this.groupIds.some((g) => r.node.disk.durableView(g).recovering !== 0)) return;
    this.recovering = undefined;
    this.trace.record(`${this.now} recovered n${r.node.id}`);
  }

  protected override crash(n: KalamNode): void {
    this.countSnapshots(n);
    if ((n.driver?.installsUnderWay() ?? 0) > 0) this.stats.crashesMidInstall++;
    n.loseDataOnCrash = this.faults.chance(this.profile.loseDataDbChance);
    super.crash(n);
  }

  /** The snapshots a life of `n` received from leaders (counted when the life ends). */
  private countSnapshots(n: KalamNode): void {
    this.stats.snapshotsInstalled += n.driver?.stats.snapshotsInstalled ?? 0;
  }

  /** A crash's statements end with their node: the client sees its connection drop, the outcome unknown. */
  protected onCrash(n: KalamNode): void {
    for (const finish of [...(this.inFlight.get(n.id) ?? [])]) finish({ kind: 'unknown', why: 'node crashed' });
  }

  private leaderOf(groupId: number): KalamNode | undefined {
    return this.leaders(groupId)[0];
  }

  // Membership -----------------------------------------------------------------------------------------

  /**
   * Whether `n` is a voter of a group of fewer than three voters (either half, while joint) in any configuration a
   * node holds or may yet apply: losing its disk there loses half the voters' copies, beyond the one-disk-at-a-time
   * model (as two disks of three would be). Every node counts, down ones too — seed 135 once wiped a node while all
   * three were down and a group's voters were it and one other: no live node was left to ask, and the group never
   * elected a leader again (the wiped node rightly votes for nobody until caught up).
   */
  private votesInSmallGroup(n: KalamNode): boolean {
    const small = (conf: ConfState): boolean =>
      [conf.voters, conf.votersOutgoing].some((half) => half.includes(n.id) && half.length < 3);
    return this.groupIds.some((g) => this.nodes.some((o) => this.confsHeld(o, g).some(small)));
  }

  /**
   * The configurations `o` holds for group `g`: its core's (when up), the one its disk persisted, and each that a
   * conf entry after it in its log (or in the write it has in flight) would make — appended, perhaps committed, not
   * yet applied, so a later life may still apply it.
   */
  private confsHeld(o: KalamNode, g: number): ConfState[] {
    const held: ConfState[] = [];
    const live = o.driver?.confState(g);
    if (live !== undefined) held.push(live);
    const log = o.disk.load(g);
    let conf = log.conf?.state ?? confState(this.ids);
    held.push(conf);
    const pending = (o.pendingWrite?.writes ?? []).filter((w) => w.groupId === g).flatMap((w) => w.entries ?? []);
    for (const e of [...log.entries, ...pending]) {
      if (e.kind !== EntryKind.Conf || e.index <= (log.conf?.index ?? 0)) continue;
      try {
        conf = applyChange(conf, decodeConfChange(e.data));
        held.push(conf);
      } catch {
        // An entry the core would refuse to apply changes nothing.
      }
    }
    return held;
  }

  /** Each node's view of a group, for a liveness failure's detail: role, term, log, configuration, recovering. */
  private coresOf(groupId: number): string {
    return this.nodes
      .map((n) => {
        if (n.driver === undefined) return `n${n.id} down`;
        const core = n.driver.coreOf(groupId);
        const s = core.status();
        const c = s.conf;
        const conf = `${c.voters.join(',')}|${c.votersOutgoing.join(',')}|${c.learners.join(',')}@${s.confIndex}`;
        return `n${n.id} ${s.role} t${s.term} last ${s.lastIndex} commit ${s.commit} conf ${conf}${core.recovering() ? ' recovering' : ''}`;
      })
      .join('; ');
  }

  /** Now and then a group's leader is asked for a membership change (membership.ts), under the faults. */
  private membershipStep(): void {
    for (const groupId of this.groupIds) {
      if (!this.rand.chance(this.profile.confChangeChancePerTick)) continue;
      // Not while a lost disk recovers: a group shrunk to two voters, one of them that node, could lose its leader
      // and never elect another (the recovering node votes for nobody until it has caught up).
      if (this.recovering !== undefined) continue;
      const n = this.leaderOf(groupId);
      const cc = n === undefined ? undefined : drawConfChange(n.driver!.confState(groupId), this.ids, this.rand);
      if (n !== undefined && cc !== undefined) this.changeConf(n, groupId, cc);
    }
  }

  /** After healing: every group back to every node as a voter, one step at a time, on its leader. */
  private membersBackStep(): void {
    for (const groupId of this.groupIds) {
      if (this.nodes.every((n) => n.driver === undefined || allVotersConf(n.driver.confState(groupId), this.ids)))
        continue;
      const n = this.leaderOf(groupId);
      if (n === undefined || this.now - (this.confStepAt.get(groupId) ?? -Infinity) < 20 * SIM_LIMITS.tickMs) continue;
      const cc = stepBack(n.driver!.confState(groupId), this.ids);
      if (cc === undefined) continue;
      this.confStepAt.set(groupId, this.now);
      this.changeConf(n, groupId, cc);
    }
  }

  private changeConf(n: KalamNode, groupId: number, cc: ConfChangeV2): void {
    this.stats.confChanges++;
    this.confInFlight++;
    this.trace.record(`${this.now} conf n${n.id} g${groupId} ${describeConfChange(cc)}`);
    n.driver!.proposeConfChange(groupId, cc, CONF_CHANGE_TIMEOUT_MS).then(
      (conf) => {
        this.confInFlight--;
        this.stats.confChangesAcked++;
        this.trace.record(`${this.now} conf-ack g${groupId} voters ${conf.voters.join(',')}`);
      },
      (err: unknown) => {
        this.confInFlight--;
        if (err instanceof MultiRaftError) this.trace.record(`${this.now} conf-refused g${groupId} ${err.code}`);
        else this.checker.violate('core-exception', `node ${n.id} conf change: ${String(err)}`);
      },
    );
  }

  // Statements -----------------------------------------------------------------------------------------

  /**
   * Runs one statement (or batch) on `n`'s engine as `session`; `done` gets what a client can tell of it. A node
   * that crashes under it answers nothing: the driver's stop fails the proposal, which reads as unknown.
   */
  private statement(
    n: KalamNode,
    session: Session,
    sql: string,
    params: readonly unknown[],
    done: (o: Outcome) => void,
    namespace?: string,
    clientSession?: ClientSessionRequest,
  ): void {
    const epoch = n.epoch;
    const open = this.inFlight.get(n.id) ?? new Set<(o: Outcome) => void>();
    this.inFlight.set(n.id, open);
    const finish = (o: Outcome): void => {
      this.started.delete(finish);
      if (!open.delete(finish)) return; // answered already (its node crashed first)
      done(o);
    };
    open.add(finish);
    this.started.set(finish, { at: this.now, what: `n${n.id}: ${sql.slice(0, 120)}` });
    const opts = {
      params,
      ...(namespace !== undefined ? { namespace } : {}),
      ...(clientSession !== undefined ? { clientSession } : {}),
    };
    n.engine.execute(session, sql, opts).then(
      (results) => finish({ kind: 'ok', results }),
      (err: unknown) => finish(this.judge(n, epoch, sql, err)),
    );
  }

  private judge(n: KalamNode, epoch: number, sql: string, err: unknown): Outcome {
    if (n.epoch !== epoch) return { kind: 'unknown', why: 'node crashed' };
    if (!(err instanceof KalamError)) {
      this.checker.violate('internal-error', `node ${n.id}: ${sql.slice(0, 120)}: ${String(err)}`);
      return { kind: 'unknown', why: 'not a KalamError' };
    }
    if (err.code === 'INTERNAL_ERROR') {
      this.checker.violate('internal-error', `node ${n.id}: ${sql.slice(0, 120)}: ${err.message}`);
      return { kind: 'unknown', why: err.message };
    }
    const unknown = (err.details as { outcomeUnknown?: unknown } | null)?.outcomeUnknown === true;
    return unknown ? { kind: 'unknown', why: err.code } : { kind: 'failed', code: err.code };
  }

  /** A statement still unanswered after answerTicksMax on a node that stayed up: a client would wait forever. */
  private answerCheck(): void {
    const limitMs = KALAM_SIM_LIMITS.answerTicksMax * SIM_LIMITS.tickMs;
    for (const [finish, s] of this.started) {
      if (this.now - s.at <= limitMs) continue;
      this.started.delete(finish);
      this.checker.violate('no-answer', `${s.what} (started at ${s.at} ms) has no answer after ${limitMs} ms`);
    }
  }

  // Setup -----------------------------------------------------------------------------------------------

  /**
   * The setup statements, each at a reachable node and retried until it succeeds (a retry may find it done): in
   * order, one at a time — except the fuzz pool's rows, which depend on nothing but what came before them and go
   * several at once.
   */
  private setupStep(): void {
    if (this.setup.length === 0) {
      if (this.setupInFlight.size === 0) this.startSafety();
      return;
    }
    for (const step of this.setup) {
      if (this.setupInFlight.size >= KALAM_SIM_LIMITS.setupParallelMax) return;
      if (this.setupInFlight.has(step)) continue;
      if (!step.parallel && this.setupInFlight.size > 0) return;
      const n = this.reachableNode(this.rand);
      if (n === undefined) return;
      this.setupInFlight.add(step);
      this.statement(n, this.sessionOf(step.who), step.sql, [], (o) => {
        this.setupInFlight.delete(step);
        const done =
          o.kind === 'ok' ||
          (o.kind === 'failed' && (step.anyRefusal || o.code === 'ALREADY_EXISTS' || o.code === 'SQL_EXECUTION_ERROR'));
        this.trace.record(`${this.now} setup ${done ? 'done' : 'retry'} ${step.sql.slice(0, 40)} ${o.kind}`);
        if (done) this.setup = this.setup.filter((s) => s !== step);
      });
      if (!step.parallel) return;
    }
  }

  /** The session of a setup or generated statement's sender: root, a register client, or a fuzz actor. */
  private sessionOf(who: string): Session {
    if (who === 'root') return ROOT;
    const client = this.clients.find((c) => c.session.userId === who);
    if (client !== undefined) return client.session;
    const role = (FUZZ_ACTORS as Readonly<Record<string, Session['role']>>)[who] ?? 'user';
    return { userId: who, username: who, role };
  }

  private startSafety(): void {
    this.phase = 'safety';
    this.lossless = false;
    this.safetyEndMs = this.now + this.opts.ticks * SIM_LIMITS.tickMs;
    this.trace.record(`${this.now} safety`);
  }

  private reachableNode(p: Prng): KalamNode | undefined {
    const up = this.nodes.filter((n) => n.reachable());
    return up[p.int(up.length)];
  }

  private userGroup(userId: string): GroupId {
    return { kind: 'data:user', shard: this.router.userShard(userId) };
  }

  private groupOf(key: RegisterKey): number {
    return groupNumber(key.userId === undefined ? dataSharedShard(0) : this.userGroup(key.userId));
  }

  // Clients ----------------------------------------------------------------------------------------------

  private clientStep(): void {
    this.counterRetryStep();
    for (const c of this.clients) {
      if (c.busy || this.now < c.restUntilMs || !this.rand.chance(this.profile.opChancePerTick)) continue;
      if (c.counter !== undefined && this.sessionRand.chance(0.3)) {
        this.increment(c, c.counter);
        continue;
      }
      const key = c.keys[this.rand.int(c.keys.length)]!;
      const roll = this.rand.float();
      // Clients mostly reach the group's leader (they follow its hint), sometimes any live node.
      const leader = this.leaderOf(this.groupOf(key));
      const n = leader !== undefined && this.rand.chance(0.7) ? leader : this.reachableNode(this.rand);
      if (n === undefined) continue;
      if (roll < 0.4) this.read(c, key, n);
      else this.write(c, key, n, roll < 0.75 ? undefined : (c.lastSeen.get(key.history) ?? 0));
    }
  }

  /** Increments whose outcome is not known yet are sent again (same seq) as soon as their client may: until answered. */
  private counterRetryStep(): void {
    for (const c of this.clients) {
      const counter = c.counter;
      if (counter?.pending === undefined || c.busy || this.now < c.restUntilMs) continue;
      this.sendIncrement(c, counter, counter.pending.answer !== undefined);
    }
  }

  /** A new increment under the client's session (the client's first one makes its client id). */
  private increment(c: Client, counter: SessionCounter): void {
    if (counter.pending !== undefined) return;
    if (counter.createdMs === 0) counter.createdMs = this.now;
    const shared = this.sessionRand.chance(0.3);
    counter.pending = { seq: counter.nextSeq++, shared, attempts: 0 };
    if (shared) counter.issued.shared++;
    else counter.issued.own++;
    this.stats.sessionWrites++;
    this.sendIncrement(c, counter, false);
  }

  /**
   * Sends the pending increment (again: same seq) to a node — the group's leader or any reachable node at first, any
   * reachable node after that; `duplicate`: it was answered already, so this delivery must get the remembered answer.
   */
  private sendIncrement(c: Client, counter: SessionCounter, duplicate: boolean): void {
    const p = counter.pending;
    if (p === undefined) return;
    const leader = this.leaderOf(groupNumber(p.shared ? dataSharedShard(0) : this.userGroup(c.session.userId)));
    const first = p.attempts === 0 && leader !== undefined && this.sessionRand.chance(0.7);
    const n = first ? leader : this.reachableNode(this.sessionRand);
    if (n === undefined) return;
    p.attempts++;
    this.stats.sessionSends++;
    c.busy = true;
    const cs = { clientId: counter.clientId, createdMs: counter.createdMs, seq: p.seq, acked: counter.acked };
    const what = `${counter.clientId}#${p.seq}${p.shared ? ' shared' : ''}`;
    this.trace.record(`${this.now} incr n${n.id} ${what} try ${p.attempts}${duplicate ? ' dup' : ''}`);
    const sql = incrementSql(c.session.userId, p.shared);
    this.statement(n, c.session, sql, [], (o) => this.incrementAnswered(c, counter, p, o, duplicate), undefined, cs);
  }

  private incrementAnswered(
    c: Client,
    counter: SessionCounter,
    p: NonNullable<SessionCounter['pending']>,
    o: Outcome,
    duplicate: boolean,
  ): void {
    c.busy = false;
    const what = `${counter.clientId}#${p.seq}`;
    this.trace.record(`${this.now} incr-done ${what} ${o.kind}${o.kind === 'failed' ? ` ${o.code}` : ''}`);
    if (o.kind !== 'ok') {
      if (o.kind === 'failed' && o.code.startsWith('SESSION_')) {
        // The run is far shorter than the TTL, one write is in flight and the window is far from full.
        this.checker.violate('client-session', `${what}: refused ${o.code}`);
      }
      c.restUntilMs = this.now + KALAM_SIM_LIMITS.clientBackoffMs;
      return; // still pending: sent again, same seq, until answered
    }
    const count = o.results[0]?.row_count ?? -1;
    const replayed = o.results[0]?.replayed === true;
    if (replayed) this.stats.sessionReplays++;
    // The counter row is never deleted: an increment that changed another number of rows lost it (or another's).
    if (count !== 1) this.checker.violate('counter-rows', `${what}: answered ${count} rows, not 1`);
    // Once answered, every later delivery of the seq must be the remembered answer.
    const answeredBefore = p.answer !== undefined;
    if (answeredBefore && (!replayed || count !== p.answer)) {
      this.checker.violate('client-session', `${what}: delivered again, answered ${count}, replayed ${replayed}`);
    }
    p.answer = count;
    if (p.attempts > 1 && !answeredBefore) this.stats.sessionRetried++;
    // Now and then the answered write is delivered once more (as a client that never saw this answer would).
    if (!answeredBefore && !duplicate && this.sessionRand.chance(0.25)) {
      this.sendIncrement(c, counter, true);
      return;
    }
    counter.acked = p.seq;
    counter.pending = undefined;
  }

  /** Once every increment is answered: each counter reads exactly the increments issued (on node 1, after the digests). */
  private checkCounters(): void {
    const n = this.nodes[0]!;
    for (const c of this.clients) {
      const counter = c.counter;
      if (counter === undefined) continue;
      const userId = c.session.userId;
      const own = n.machines.userShards[this.router.userShard(userId)]!.userRowByKey(COUNTER_TABLE, userId, 'c');
      const shared = n.machines.sharedShards[0]!.rowByKey(SHARED_COUNTER_TABLE, userId);
      const got = { own: own?.['n'], shared: shared?.['n'] };
      if (got.own !== counter.issued.own || got.shared !== counter.issued.shared) {
        this.checker.violate(
          'exactly-once',
          `${counter.clientId}: counters read ${JSON.stringify(got)}, increments issued ${JSON.stringify(counter.issued)}`,
        );
      }
    }
  }

  private tableOf(key: RegisterKey): string {
    return key.userId === undefined ? SHARED_TABLE : USER_TABLE;
  }

  private write(c: Client, key: RegisterKey, n: KalamNode, expected: Value | undefined): void {
    const value = ++this.nextValue;
    const handle =
      expected === undefined
        ? this.history.invoke(c.session.userId, key.history, 'write', value)
        : this.history.invoke(c.session.userId, key.history, 'cas', { expected, value });
    if (expected === undefined) this.stats.writes++;
    else this.stats.cas++;
    this.stats.ops++;
    c.busy = true;
    const table = this.tableOf(key);
    const sql =
      expected === undefined
        ? `UPDATE ${table} SET v = $1 WHERE k = $2`
        : `UPDATE ${table} SET v = $1 WHERE k = $2 AND v = $3`;
    const params = expected === undefined ? [value, key.k] : [value, key.k, expected];
    this.trace.record(`${this.now} ${handle.kind} n${n.id} ${key.history}=${value}`);
    this.statement(n, c.session, sql, params, (o) => {
      c.busy = false;
      if (o.kind !== 'ok') {
        this.finish(c, key, handle, o);
        return;
      }
      const changed = o.results[0]?.row_count === 1;
      this.trace.record(`${this.now} ok ${handle.kind} ${key.history} ${changed}`);
      this.stats.opsOk++;
      if (handle.kind === 'write') {
        this.history.ok(handle);
        c.lastSeen.set(key.history, value);
      } else {
        this.history.ok(handle, { ok: changed });
        if (changed) c.lastSeen.set(key.history, value);
      }
    });
  }

  private read(c: Client, key: RegisterKey, n: KalamNode): void {
    const handle = this.history.invoke(c.session.userId, key.history, 'read', null);
    this.stats.reads++;
    this.stats.ops++;
    c.busy = true;
    this.trace.record(`${this.now} read n${n.id} ${key.history}`);
    this.statement(n, c.session, `SELECT v FROM ${this.tableOf(key)} WHERE k = $1`, [key.k], (o) => {
      c.busy = false;
      if (o.kind !== 'ok') {
        this.finish(c, key, handle, o);
        return;
      }
      const value = o.results[0]?.rows[0]?.[0] ?? null;
      this.trace.record(`${this.now} ok read ${key.history} ${String(value)}`);
      this.stats.opsOk++;
      this.history.ok(handle, value);
      c.lastSeen.set(key.history, value);
    });
  }

  /** A call that failed (no effect) or whose outcome is unknown. */
  private finish(c: Client, key: RegisterKey, handle: OpHandle, o: Exclude<Outcome, { kind: 'ok' }>): void {
    const why = o.kind === 'failed' ? o.code : o.why;
    this.trace.record(`${this.now} ${o.kind} ${handle.kind} ${key.history} ${why}`);
    c.restUntilMs = this.now + KALAM_SIM_LIMITS.clientBackoffMs;
    if (o.kind === 'failed') {
      this.stats.opsFailed++;
      this.history.fail(handle, why);
      return;
    }
    this.stats.opsUnknown++;
    this.history.unknown(handle, why);
    c.lastSeen.delete(key.history);
  }

  // Schema changes during the faults --------------------------------------------------------------------

  /**
   * Now and then, as root at a random node: a new USER table and a write into it, a column added to the register
   * table, a side table dropped and created again under its name, or a namespace created, filled and dropped with
   * CASCADE. One at a time; whatever the answer, the digests and the row comparison at the end judge it.
   */
  private ddlStep(): void {
    if (this.ddlBusy || !this.ddlRand.chance(0.03)) return;
    const roll = this.ddlRand.float();
    const user = this.clients[this.ddlRand.int(this.clients.length)]!.session;
    let steps: [Session, string][];
    if (roll < 0.3 || this.sideTables === 0) {
      const t = `app.side${++this.sideTables}`;
      steps = [
        [ROOT, `CREATE USER TABLE ${t} (k TEXT PRIMARY KEY, v BIGINT)`],
        [user, `INSERT INTO ${t} (k, v) VALUES ('x', ${this.now}), ('y', ${this.now})`],
        // A soft-deleted row, for retention to purge (the seed's schedule runs it every 3 s).
        [user, `DELETE FROM ${t} WHERE k = 'y'`],
      ];
    } else if (roll < 0.55) {
      steps = [[ROOT, `ALTER TABLE ${USER_TABLE} ADD COLUMN extra${++this.sideColumns} TEXT`]];
    } else if (roll < 0.8) {
      const t = `app.side${1 + this.ddlRand.int(this.sideTables)}`;
      steps = [
        [ROOT, `DROP TABLE IF EXISTS ${t}`],
        [ROOT, `CREATE SHARED TABLE IF NOT EXISTS ${t} (id BIGINT PRIMARY KEY, note TEXT)`],
        [ROOT, `INSERT INTO ${t} (id, note) VALUES (${this.now}, 'again')`],
      ];
    } else if (roll < 0.9) {
      // Flush jobs (and the compactions they lead to) run on meta:jobs' leader while the faults go on.
      const which = this.ddlRand.int(3);
      const flush = [`FLUSH TABLE ${USER_TABLE}`, `FLUSH TABLE ${SHARED_TABLE}`, `FLUSH ALL TABLES IN ${NAMESPACE}`][
        which
      ]!;
      steps = [[ROOT, flush]];
      this.stats.flushes++;
    } else {
      const ns = `tmp${this.sideTables}`;
      steps = [
        [ROOT, `CREATE NAMESPACE IF NOT EXISTS ${ns}`],
        [ROOT, `CREATE USER TABLE IF NOT EXISTS ${ns}.t (id BIGINT PRIMARY KEY)`],
        [user, `INSERT INTO ${ns}.t (id) VALUES (${this.now})`],
        [ROOT, `DROP NAMESPACE ${ns} CASCADE`],
      ];
    }
    this.ddlBusy = true;
    this.runSteps(steps);
  }

  /** Runs schema statements one after another, each at a random reachable node; the answers only count. */
  private runSteps(steps: [Session, string][]): void {
    const step = steps[0];
    const n = this.reachableNode(this.ddlRand);
    if (step === undefined || n === undefined) {
      this.ddlBusy = false;
      return;
    }
    this.stats.ddlDuringFaults++;
    this.trace.record(`${this.now} ddl n${n.id} ${step[1].slice(0, 60)}`);
    this.statement(n, step[0], step[1], [], (o) => {
      if (o.kind === 'ok') this.stats.ddlApplied++;
      this.trace.record(`${this.now} ddl-done ${o.kind}`);
      this.runSteps(steps.slice(1));
    });
  }

  /**
   * A careless or hostile client: now and then a statement from workload.ts's list, by a random role, at a random
   * node. Its answer must be a success or a refusal (judge flags an INTERNAL_ERROR); what it did to the state is
   * judged by the digests and the row comparison at the end.
   */
  private hostileStep(): void {
    if (this.hostileBusy || !this.ddlRand.chance(0.05)) return;
    const n = this.reachableNode(this.ddlRand);
    if (n === undefined) return;
    let session: Session;
    let sql: string;
    let params: readonly unknown[] = [];
    let namespace: string | undefined;
    if (this.ddlRand.chance(0.5)) {
      // The statements that stopped every node before issue M6, by users of their own (so that one that succeeds
      // changes no register the checked history is about).
      sql = hostileStatement((k) => this.ddlRand.int(k));
      const roles: Session[] = [
        ROOT,
        { userId: 'h0', username: 'h0', role: 'service' },
        { userId: 'h1', username: 'h1', role: 'user' },
      ];
      session = roles[this.ddlRand.int(roles.length)]!;
    } else {
      // A request generated from the grammar (sql-arbitrary.ts, the SQL fuzz test's), by one of its actors.
      const [req] = fc.sample(fuzzRequest, { seed: this.ddlRand.int(2 ** 31), numRuns: 1 });
      if (req === undefined) return;
      session = this.sessionOf(req.actor);
      sql = req.sql;
      params = req.params ?? [];
      namespace = req.namespace;
      this.stats.generated++;
    }
    this.hostileBusy = true;
    this.stats.hostile++;
    this.trace.record(`${this.now} hostile n${n.id} ${session.role} ${sql.slice(0, 60)}`);
    this.statement(
      n,
      session,
      sql,
      params,
      (o) => {
        this.hostileBusy = false;
        this.trace.record(`${this.now} hostile-done ${o.kind}`);
      },
      namespace,
    );
  }

  // Liveness and the end checks ------------------------------------------------------------------------

  private heal(): void {
    this.phase = 'liveness';
    this.livenessEndMs = this.now + KALAM_SIM_LIMITS.livenessTicksMax * SIM_LIMITS.tickMs;
    this.healAll();
  }

  /** Every call completed, and every group has one leader whose whole log every node has applied. */
  private converged(): boolean {
    return this.notConverged() === undefined;
  }

  /** What keeps the cluster from having converged, or undefined once it has. */
  private notConverged(): string | undefined {
    const busy = this.clients.filter((c) => c.busy || c.counter?.pending !== undefined).length;
    if (busy > 0) return `${busy} client calls pending`;
    if (this.ddlBusy || this.hostileBusy) return 'a schema or hostile statement pending';
    for (const groupId of this.groupIds) {
      const leader = this.leaderOf(groupId);
      if (leader === undefined) return `group ${groupId} has no leader (${this.coresOf(groupId)})`;
      for (const n of this.nodes) {
        const conf = n.driver?.confState(groupId);
        if (conf !== undefined && !allVotersConf(conf, this.ids))
          return `group ${groupId}: n${n.id} holds ${JSON.stringify(conf)}, not every node as a voter`;
      }
      const s = leader.driver!.coreOf(groupId).status();
      if (s.commit !== s.lastIndex)
        return `group ${groupId}: leader n${leader.id} commit ${s.commit} < last ${s.lastIndex}`;
      for (const n of this.nodes) {
        if (!n.reachable()) return `n${n.id} is not reachable`;
        const applied = n.driver!.status().find((g) => g.groupId === groupId)?.appliedIndex;
        if (applied !== s.lastIndex) return `group ${groupId}: n${n.id} applied ${applied} of ${s.lastIndex}`;
        // A group whose snapshot install never finished (data.db's mark) serves no read: it has not caught up.
        const id = this.nodes[0]!.layout[this.groupIds.indexOf(groupId)]!;
        if (n.machines.of(id).installPending() !== undefined)
          return `group ${groupId}: n${n.id} has a snapshot install begun and never finished`;
      }
    }
    return undefined;
  }

  private checkConvergence(): void {
    this.phase = 'done';
    const why = this.notConverged();
    if (why !== undefined) {
      this.checker.violate(
        'liveness',
        `the cluster did not converge within ${KALAM_SIM_LIMITS.livenessTicksMax} ticks of healing: ${why}`,
      );
      return;
    }
    for (const [i, id] of this.nodes[0]!.layout.entries()) {
      const digests = this.nodes.map((n) => digestOf(n.machines.of(id).snapshot()));
      if (digests.every((d) => d === digests[0])) continue;
      this.checker.violate(
        'state-digest',
        `group ${groupNumber(id)}: node digests ${digests.map((d, k) => `n${k + 1}=${d.toString(16)}`).join(' ')}`,
        i,
      );
    }
    this.checkTables();
    this.checkCounters();
    for (const j of this.nodes[0]!.machines.jobs.jobs()) {
      if (j['status'] === 'completed') this.stats.jobsCompleted++;
      else if (j['status'] === 'failed') this.stats.jobsFailed++;
    }
  }

  /** Every table of the catalog reads the same rows on every node, for every user and for the shared rows. */
  private checkTables(): void {
    const rowsAt = (n: KalamNode): string => {
      const out: Record<string, unknown> = {};
      for (const t of n.machines.system.tables()) {
        if (t.tableType === 'SHARED') out[t.tableId] = n.machines.sharedShards[0]!.rowsOf(t.tableId);
        else {
          for (const c of this.clients) {
            const shard = n.machines.userShards[this.router.userShard(c.session.userId)]!;
            out[`${t.tableId}/${c.session.userId}`] = shard.userRows(t.tableId, c.session.userId);
          }
        }
      }
      return JSON.stringify(out);
    };
    const first = rowsAt(this.nodes[0]!);
    for (const n of this.nodes.slice(1)) {
      if (rowsAt(n) !== first) this.checker.violate('table-rows', `node ${n.id} reads other rows than node 1`);
    }
  }

  private checkHistory(): KalamLinearizability {
    const ops = this.history.operations();
    const result = checkLinearizability(ops, {
      initialValues: this.initialValues,
      timeoutMs: KALAM_SIM_LIMITS.checkTimeoutMs,
      shrink: true,
    });
    if (result.verdict !== 'linearizable') {
      const f = result.failures[0];
      const detail =
        f !== undefined
          ? `key ${f.key}: ${f.reason}`
          : `undecided keys: ${result.undecided.map((u) => `${u.key} (${u.reason})`).join(', ')}`;
      this.checker.violate(result.verdict === 'timeout' ? 'linearizability-timeout' : 'linearizability', detail);
    }
    return { verdict: result.verdict, keys: result.keys, operations: result.operations };
  }
}

const decoder = new TextDecoder();

/** Retention every 3 s of simulated time (the default schedule's once a minute would never fire in a seed). */
const JOB_RETENTION_CRON = '*/3 * * * * *';

/** FNV-1a over a snapshot's bytes (as text: the snapshots are canonical JSON). */
function digestOf(bytes: Uint8Array): number {
  return fnv1a(FNV_OFFSET, decoder.decode(bytes));
}

/** Faults of the whole-Kalam runs: gentler than the Raft-level driver's, as every node runs real state machines. */
const FAULT_SCALES: FaultScales = {
  flapping: {
    downTicksSpread: 40,
    partitionTicksSpread: 60,
    partitionChancePerTick: [0.01, 0.03],
    crashChancePerTick: [0.005, 0.02],
  },
  steady: {
    downTicksSpread: 200,
    partitionTicksSpread: 300,
    partitionChancePerTick: [0.002, 0.008],
    crashChancePerTick: [0.002, 0.005],
  },
};

function drawKalamProfile(p: Prng): Profile {
  return drawProfile(p, FAULT_SCALES, (q) => ({
    opChancePerTick: 0.05 + q.float() * 0.3,
    crashNewLeaderChance: q.chance(0.5) ? 0 : 0.02 + q.float() * 0.08,
    wipeChance: q.chance(0.3) ? 0 : q.float() * 0.02,
    loseDataDbChance: q.chance(0.5) ? 0 : q.float() * 0.5,
    // Small enough that every group snapshots often and a follower that falls behind is caught up by snapshot.
    snapshotEvery: 3 + q.int(25),
    snapshotKeep: q.int(4),
    confChangeChancePerTick: q.chance(0.25) ? 0 : q.float() * 0.005,
  }));
}

export function runKalamSimulation(opts: KalamSimOptions): Promise<KalamSimResult> {
  const L = KALAM_SIM_LIMITS;
  checkSeedAndNodes(opts.seed, opts.nodes);
  checkCount('ticks', opts.ticks, L.ticksMax);
  checkCount('users', opts.users ?? KALAM_SIM_DEFAULTS.users, L.usersMax);
  checkCount('numUserShards', opts.numUserShards ?? KALAM_SIM_DEFAULTS.numUserShards, L.userShardsMax);
  return new KalamSimulation(opts).run();
}
