/**
 * One seeded run of a whole simulated Kalam cluster: N nodes, each hosting every group of the Kalam layout
 * (meta:system, meta:users, meta:jobs, the user shards, one shared shard) over real kalamdb state machines,
 * on the simulated clock, network, disk and faults that the Raft-level driver (simulation.ts) runs on too
 * (cluster.ts, process.ts). This driver supplies the Kalam workload, the apply path and where faults aim.
 *
 * Phases:
 * 1. Setup (no faults): the DDL (namespace, a USER and a SHARED register table), then every register key is
 *    seeded with v = 0. Bounded by KALAM_SIM_LIMITS.setupTicksMax.
 * 2. Safety (`ticks` ticks): faults (loss, delay, duplication, partitions, crashes that lose data.db, slow
 *    disks) while every user runs read / write / compare-and-set calls on its own rows and on the shared
 *    rows, each recorded in a HistoryRecorder on simulated time.
 * 3. Liveness: heal; every pending call must complete or time out, and every group must converge (one
 *    leader, everything committed and applied on every node) within KALAM_SIM_LIMITS.livenessTicksMax.
 *
 * Checks: the Raft checkers that cost little (election safety, log matching, same entry applied at each
 * index, durable term/commit monotonic, leader completeness); at the end, per group, every node's
 * state-machine snapshot is byte-equal; and the client history is linearizable per key.
 *
 * How a client call runs (as RaftExecutor does, DESIGN.md §6–7): a write or compare-and-set is proposed at
 * the node the client reached; it is refused (`failed`) when that node is not the leader or has not applied
 * the DDL yet; otherwise it completes when the node applies that index — `ok` with the state machine's
 * response when the entry there is the one proposed, `failed` when another entry took the index (the
 * proposal was truncated, so it can never commit), `unknown` when the node crashed or the call timed out.
 * A read takes a ReadIndex read point at the node, waits until the node's state machine has applied it,
 * then reads the row.
 */
import type { Entry, NodeId, Ready } from '@kalam/raft';
import { EntryKind, Prng } from '@kalam/raft';
import type { DataResponse, ShardingConfig, Value } from '@kalam/kalamdb';
import { ApplyError, Catalog, ShardRouter, encodeCommand, groupNumber } from '@kalam/kalamdb';
import type { OpHandle, Verdict } from '@kalam/check';
import { HistoryRecorder, checkLinearizability } from '@kalam/check';
import { Checker } from '../checker.js';
import type { Violation } from '../checker.js';
import type { ClusterStats, FaultProfile, FaultScales, PartitionShape } from '../cluster.js';
import { SimCluster, drawProfile, nodeIds, seedStreams, zeroClusterStats } from '../cluster.js';
import { entryKey } from '../node.js';
import type { GroupReadies } from '../process.js';
import { compactLog } from '../process.js';
import { SIM_LIMITS, checkCount, checkSeedAndNodes } from '../options.js';
import { FNV_OFFSET, Trace, fnv1a } from '../trace.js';
import type { KalamGroup } from './node.js';
import { KalamNode } from './node.js';
import type { KalamPlantedBug, KalamSimOptions } from './options.js';
import { KALAM_SIM_DEFAULTS, KALAM_SIM_LIMITS } from './options.js';
import type { RegisterKey } from './workload.js';
import {
  NAMESPACE,
  REGISTER,
  SHARED_TABLE,
  USER_TABLE,
  ddlCommands,
  seedCommand,
  sharedKeys,
  updateCommand,
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
  /** Schema changes and writes to tables created during the fault phase, applied at their proposer. */
  ddlDuringFaults: number;
  setupTicks: number;
  livenessTicks: number;
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
  readonly snapshotEvery: number;
  readonly snapshotKeep: number;
}

/** The partition shapes of this driver, in the order `faults.int` picks them. */
const PARTITION_SHAPES: readonly PartitionShape[] = ['isolate', 'inbound', 'split', 'bridge'];

interface Client {
  readonly userId: string;
  readonly keys: readonly RegisterKey[];
  /** The value this client last saw per key: what its compare-and-set expects. */
  readonly lastSeen: Map<string, Value>;
  op: InFlight | undefined;
}

/** A client call in flight at one node. */
interface InFlight {
  readonly handle: OpHandle;
  readonly client: Client;
  readonly key: RegisterKey;
  readonly group: number;
  readonly node: NodeId;
  readonly deadlineMs: number;
  /** For a write or cas: the value written and where it was proposed. */
  readonly value?: number;
  proposal?: { index: number; term: number };
  /** For a read: its ReadIndex context, and the read point once known. */
  context?: string;
  readIndex?: number;
}

/** One setup step: a command proposed (again and again) until its proposer applies it. */
interface SetupStep {
  readonly group: number;
  readonly label: string;
  /** Builds the command at proposal time; undefined while the proposer cannot plan it yet. */
  readonly command: (n: KalamNode) => Uint8Array | undefined;
  proposal?: { node: NodeId; epoch: number; index: number; term: number; atMs: number } | undefined;
}

const decoder = new TextDecoder();

export class KalamSimulation extends SimCluster<KalamNode, Profile, KalamSimStats> {
  private readonly rand: Prng;
  private readonly sharding: ShardingConfig;
  private readonly router: ShardRouter;
  private readonly groupCount: number;
  private readonly sharedGroup: number;
  private readonly bug: KalamPlantedBug | undefined;
  private readonly setup: SetupStep[];
  /** DDL during the fault phase (CREATE TABLE, ALTER TABLE ADD COLUMN) and writes to the new tables. */
  private readonly sideWork: SetupStep[] = [];
  private readonly ddlRand: Prng;
  private sideTables = 0;
  private sideColumns = 0;
  /** The meta:system index of the last DDL entry: a data command may be planned only past it. */
  private ddlIndex = Infinity;
  private safetyEndMs = Infinity;
  private livenessEndMs = Infinity;
  private readonly clients: Client[];
  private readonly history: HistoryRecorder;
  private readonly initialValues: Record<string, Value> = {};
  /** Calls waiting for an apply, by `group:node:index`, and reads by context. */
  private readonly proposals = new Map<string, InFlight>();
  private readonly reads = new Map<string, InFlight>();
  private nextValue = 0;
  private nextSeq = 1;
  private nextRead = 0;

  constructor(private readonly opts: KalamSimOptions) {
    const users = opts.users ?? KALAM_SIM_DEFAULTS.users;
    const sharding = { numUserShards: opts.numUserShards ?? KALAM_SIM_DEFAULTS.numUserShards, numSharedShards: 1 };
    const groupCount = 3 + sharding.numUserShards + 1;
    const trace = new Trace(opts.onTrace);
    const { prng, net, faults, clients: rand } = seedStreams(opts.seed);
    const profile = drawKalamProfile(prng.fork());
    const ids = nodeIds(opts.nodes);
    const msgEntriesMax = [1, 2, 3, 64][prng.int(4)]!;
    const restoreOnBoot = opts.plantedBug !== 'skipRestoreOnBoot';
    const nodes = ids.map((id) => new KalamNode(id, ids, sharding, prng.fork(), msgEntriesMax, restoreOnBoot));
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
      ddlDuringFaults: 0,
      setupTicks: 0,
      livenessTicks: 0,
    };
    super({ trace, checker: new Checker(groupCount), net, faults, profile, ids, nodes, stats, phase: 'setup' });
    this.sharding = sharding;
    this.router = new ShardRouter(sharding);
    this.groupCount = groupCount;
    this.sharedGroup = groupCount - 1;
    this.bug = opts.plantedBug;
    this.history = new HistoryRecorder(() => this.now);
    this.ddlRand = new Prng((opts.seed ^ 0x5eed) >>> 0);
    this.rand = rand;
    this.clients = userIds(users).map((userId) => ({
      userId,
      keys: [...userKeys(userId), ...sharedKeys()],
      lastSeen: new Map(),
      op: undefined,
    }));
    this.setup = this.setupSteps(userIds(users));
  }

  run(): KalamSimResult {
    const tickMs = SIM_LIMITS.tickMs;
    this.start();
    let linearizability: KalamLinearizability = { verdict: 'not-checked', keys: 0, operations: 0 };
    try {
      this.runUntil(KALAM_SIM_LIMITS.setupTicksMax * tickMs, () => this.phase !== 'setup');
      if (this.phase === 'setup' && !this.checker.failed) {
        this.checker.violate(
          'setup',
          `the DDL and seeding did not finish within ${KALAM_SIM_LIMITS.setupTicksMax} ticks`,
        );
      }
      this.stats.setupTicks = Math.ceil(this.now / tickMs);
      this.runUntil(this.safetyEndMs);
      if (!this.checker.failed) {
        this.heal();
        this.runUntil(this.livenessEndMs, () => this.converged());
        this.stats.livenessTicks = Math.ceil((this.now - this.safetyEndMs) / tickMs);
        if (!this.checker.failed) this.checkConvergence();
        linearizability = this.checkHistory();
      }
    } finally {
      for (const n of this.nodes) n.close();
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

  /** The write is durable: send the acknowledgements, restore snapshots, apply, advance. */
  protected complete(n: KalamNode, readies: GroupReadies): void {
    this.persisted(n, readies);
    this.guard(n, () => {
      for (const [group, rd] of readies) {
        const g = n.groups[group]!;
        if (rd.snapshot !== undefined) this.installSnapshot(n, group, g, rd.snapshot);
        g.applyQueue.push(...rd.committedEntries);
        for (const rs of rd.readStates) this.onReadState(n, rs);
        g.raw.advance(rd);
        this.observeRole(n, group);
      }
      this.drainApply(n);
      for (const g of n.groups) this.maybeSnapshot(g);
    });
    this.serveReads(n);
  }

  private installSnapshot(n: KalamNode, group: number, g: KalamGroup, snap: NonNullable<Ready['snapshot']>): void {
    g.sm.restore(snap);
    g.applyQueue = g.applyQueue.filter((e) => e.index > snap.index);
    g.lastSnapshotIndex = snap.index;
    this.stats.snapshotsInstalled++;
    this.trace.record(`${this.now} snap-install n${n.id} g${group} ${snap.index}`);
  }

  /**
   * Applies every group's queued entries in order. A data entry waits (never skips) until this node's
   * meta:system has applied its metaIndex, so groups are drained again until none moves.
   */
  private drainApply(n: KalamNode): void {
    for (let moved = true; moved;) {
      moved = false;
      n.groups.forEach((g, group) => {
        for (let e = g.applyQueue[0]; e !== undefined; e = g.applyQueue[0]) {
          if (e.index > g.sm.appliedIndex() && g.sm.canApply?.(e) === false) return;
          g.applyQueue.shift();
          if (e.index <= g.sm.appliedIndex()) continue; // idempotent replay
          const [response] = g.sm.apply([e]);
          moved = true;
          this.checker.onApplied(group, n.id, e.index, e.term, entryKey(e), 0, g.raw.raft.term);
          this.onApplied(n, group, e, response);
        }
      });
    }
  }

  private maybeSnapshot(g: KalamGroup): void {
    const applied = g.sm.appliedIndex();
    if (applied - g.lastSnapshotIndex < this.profile.snapshotEvery) return;
    compactLog(g, applied, g.sm.snapshot(), this.profile.snapshotKeep);
  }

  protected onNewLeader(n: KalamNode): void {
    // Kill a fresh leader before its entries spread.
    if (this.faults.chance(this.profile.crashNewLeaderChance)) {
      this.schedule(this.faults.int(8 * this.delayMsMax + 10), { kind: 'crash', node: n.id });
    }
  }

  // Faults ---------------------------------------------------------------------------------------------

  protected control(): void {
    switch (this.phase) {
      case 'setup':
        this.setupStep();
        return;
      case 'safety':
        this.faultStep();
        this.expireCalls();
        this.clientStep();
        this.ddlStep();
        return;
      case 'liveness':
        this.expireCalls();
        return;
      case 'done':
        return;
    }
  }

  /** Often a current leader (of meta:system or of a data group), otherwise any node. */
  protected pickVictim(): KalamNode {
    const f = this.faults;
    if (f.chance(0.5)) {
      const l = this.leaderOf(f.int(this.groupCount));
      if (l !== undefined) return l;
    }
    return this.nodes[f.int(this.nodes.length)]!;
  }

  protected partition(): void {
    const victim = this.pickVictim().id;
    const healAt = this.partitionEndMs();
    this.cut(PARTITION_SHAPES[this.faults.int(PARTITION_SHAPES.length)]!, victim, healAt);
  }

  protected onCrash(n: KalamNode): void {
    for (const op of [...this.proposals.values(), ...this.reads.values()]) {
      if (op.node === n.id) this.finish(op, 'unknown', 'connection lost');
    }
  }

  protected override onRestart(n: KalamNode): void {
    for (const g of n.groups) if (g.durable.snapshot !== undefined) this.stats.snapshotsRestoredOnBoot++;
  }

  private leaderOf(group: number): KalamNode | undefined {
    return this.leaders(group)[0];
  }

  // Setup: the DDL phase, then every key seeded once ------------------------------------------------------

  private setupSteps(users: readonly string[]): SetupStep[] {
    const steps: SetupStep[] = ddlCommands().map((cmd, i) => ({
      group: 0,
      label: `ddl ${i} ${cmd.type}`,
      command: () => encodeCommand(cmd),
    }));
    const seed = (group: number, keys: readonly RegisterKey[], label: string): SetupStep => ({
      group,
      label,
      command: (n) => {
        const metaIndex = n.machines.system.appliedIndex();
        if (metaIndex < this.ddlIndex) return undefined; // this node's catalog lacks the tables yet
        return encodeCommand(seedCommand(keys, { metaIndex, seqBase: this.takeSeq(keys.length), nowMs: this.now }));
      },
    });
    for (const u of users) steps.push(seed(this.userGroup(u), userKeys(u), `seed ${u}`));
    steps.push(seed(this.sharedGroup, sharedKeys(), 'seed shared'));
    for (const u of users) for (const key of userKeys(u)) this.initialValues[key.history] = 0;
    for (const key of sharedKeys()) this.initialValues[key.history] = 0;
    return steps;
  }

  private setupStep(): void {
    if (this.setup.length === 0) {
      this.startSafety();
      return;
    }
    this.driveStep(this.setup);
  }

  /**
   * Schema changes while the faults run: now and then a new USER table (and then a write into it by a
   * random user, planned against the meta:system index that created it), or a new column on the register
   * table. They are what make the cross-group order matter across crashes and rejoins.
   */
  private ddlStep(): void {
    if (this.sideWork.length === 0 && this.ddlRand.chance(0.02)) {
      if (this.ddlRand.chance(0.5)) {
        const tableId = `${NAMESPACE}.side${++this.sideTables}`;
        const userId = this.clients[this.ddlRand.int(this.clients.length)]!.userId;
        this.sideWork.push({
          group: 0,
          label: `create ${tableId}`,
          command: () =>
            encodeCommand({ type: 'CreateTable', tableId, tableType: 'USER', schema: REGISTER, createdAt: this.now }),
        });
        this.sideWork.push({
          group: this.userGroup(userId),
          label: `insert ${tableId} for ${userId}`,
          command: (n) => {
            if (new Catalog(n.machines.store).table(tableId) === undefined) return undefined; // not planned yet here
            const metaIndex = n.machines.system.appliedIndex();
            const row = { k: `${userId}-x`, v: this.now };
            return encodeCommand({
              type: 'Insert',
              tableId,
              userId,
              rows: [row],
              seqBase: this.takeSeq(1),
              at: this.now,
              metaIndex,
            });
          },
        });
      } else {
        const column = `extra${++this.sideColumns}`;
        this.sideWork.push({
          group: 0,
          label: `alter ${USER_TABLE} add ${column}`,
          command: (n) => {
            const t = new Catalog(n.machines.store).table(USER_TABLE);
            if (t === undefined) return undefined;
            const columns = [...t.schema.columns, { name: column, type: 'TEXT', notNull: false, default: null }];
            return encodeCommand({ type: 'AlterTable', tableId: USER_TABLE, schema: { ...t.schema, columns } });
          },
        });
      }
    }
    if (this.sideWork.length > 0) this.driveStep(this.sideWork);
  }

  /** Proposes the first step of `steps` at its group's leader (again, if its last attempt went stale). */
  private driveStep(steps: SetupStep[]): void {
    const step = steps[0];
    if (step === undefined) return;
    const p = step.proposal;
    const stale = p !== undefined && (this.node(p.node).epoch !== p.epoch || this.now - p.atMs > retryMs());
    if (p !== undefined && !stale) return;
    const n = this.leaderOf(step.group);
    if (n === undefined) return;
    const data = step.command(n);
    if (data === undefined) return;
    this.clientCall(n, () => {
      const { index, term } = n.groups[step.group]!.raw.propose(data);
      step.proposal = { node: n.id, epoch: n.epoch, index, term, atMs: this.now };
      this.trace.record(`${this.now} setup-propose n${n.id} g${step.group} ${step.label}@${index}`);
    });
  }

  private onSideApplied(n: KalamNode, group: number, e: Entry, response: unknown): void {
    const step = answeredStep(this.sideWork, n, group, e);
    if (step === undefined) return;
    // Any answer is final (a refusal is deterministic, the digests compare it everywhere).
    this.sideWork.shift();
    if ((response as { type: string }).type !== 'Error') this.stats.ddlDuringFaults++;
    this.trace.record(`${this.now} side-done ${step.label} ${(response as { type: string }).type}`);
  }

  private onSetupApplied(n: KalamNode, group: number, e: Entry, response: unknown): void {
    const step = answeredStep(this.setup, n, group, e);
    if (step === undefined) return;
    const r = response as { type: string; code?: string };
    // A retried step may find its own earlier attempt applied already.
    if (r.type === 'Error' && r.code !== 'ALREADY_EXISTS' && r.code !== 'CONFLICT') {
      this.checker.violate('setup', `${step.label} failed: ${JSON.stringify(response)}`, group);
      return;
    }
    if (group === 0) this.ddlIndex = e.index;
    this.setup.shift();
    this.trace.record(`${this.now} setup-done ${step.label}`);
  }

  private startSafety(): void {
    this.phase = 'safety';
    this.safetyEndMs = this.now + this.opts.ticks * SIM_LIMITS.tickMs;
    this.trace.record(`${this.now} safety ddl@${this.ddlIndex}`);
  }

  private takeSeq(count: number): number {
    const base = this.nextSeq;
    this.nextSeq += count;
    return base;
  }

  private userGroup(userId: string): number {
    return 3 + this.router.userShard(userId);
  }

  private groupOf(key: RegisterKey): number {
    return key.userId === undefined ? this.sharedGroup : this.userGroup(key.userId);
  }

  // Clients ----------------------------------------------------------------------------------------------

  private clientStep(): void {
    for (const c of this.clients) {
      if (c.op !== undefined || !this.rand.chance(this.profile.opChancePerTick)) continue;
      const key = c.keys[this.rand.int(c.keys.length)]!;
      const roll = this.rand.float();
      const group = this.groupOf(key);
      // Clients mostly reach the leader (they follow its hint), sometimes any live node.
      const reachable = this.nodes.filter((n) => n.up && n.pending === undefined);
      const leader = this.leaderOf(group);
      const n = leader !== undefined && this.rand.chance(0.7) ? leader : reachable[this.rand.int(reachable.length)];
      if (n === undefined) continue;
      if (roll < 0.4) this.read(c, key, group, n);
      else this.write(c, key, group, n, roll < 0.75 ? undefined : (c.lastSeen.get(key.history) ?? 0));
    }
  }

  private write(c: Client, key: RegisterKey, group: number, n: KalamNode, expected: Value | undefined): void {
    const value = ++this.nextValue;
    const handle =
      expected === undefined
        ? this.history.invoke(c.userId, key.history, 'write', value)
        : this.history.invoke(c.userId, key.history, 'cas', { expected, value });
    if (expected === undefined) this.stats.writes++;
    else this.stats.cas++;
    this.stats.ops++;
    const op: InFlight = { handle, client: c, key, group, node: n.id, deadlineMs: this.deadline(), value };
    c.op = op;
    const metaIndex = n.machines.system.appliedIndex();
    if (metaIndex < this.ddlIndex) {
      this.finish(op, 'failed', 'TABLE_NOT_FOUND'); // the planner's catalog does not know the table yet
      return;
    }
    const cmd = updateCommand(key, value, expected, { metaIndex, seqBase: this.takeSeq(1), nowMs: this.now });
    const call = this.clientCall(n, () => {
      const { index, term } = n.groups[group]!.raw.propose(encodeCommand(cmd));
      op.proposal = { index, term };
      this.proposals.set(`${group}:${n.id}:${index}`, op);
      this.trace.record(`${this.now} propose n${n.id} g${group} ${key.history}=${value}@${index}`);
    });
    if (!call.ok && call.refused !== undefined) this.finish(op, 'failed', call.refused.code);
    else if (this.bug === 'ackWriteBeforeCommit' && expected === undefined && op.proposal !== undefined) {
      this.proposals.delete(`${group}:${n.id}:${op.proposal.index}`);
      this.finish(op, 'ok', undefined);
    }
  }

  private read(c: Client, key: RegisterKey, group: number, n: KalamNode): void {
    const handle = this.history.invoke(c.userId, key.history, 'read', null);
    this.stats.reads++;
    this.stats.ops++;
    const context = `r${this.nextRead++}`;
    const op: InFlight = { handle, client: c, key, group, node: n.id, deadlineMs: this.deadline(), context };
    c.op = op;
    if (this.bug === 'readWithoutReadIndex') {
      this.answerRead(n, op);
      return;
    }
    this.reads.set(context, op);
    this.trace.record(`${this.now} read n${n.id} g${group} ${key.history} ${context}`);
    const call = this.clientCall(n, () => n.groups[group]!.raw.readIndex(context));
    if (!call.ok && call.refused !== undefined) this.finish(op, 'failed', call.refused.code);
  }

  private deadline(): number {
    return this.now + KALAM_SIM_LIMITS.opTimeoutTicks * SIM_LIMITS.tickMs;
  }

  private onReadState(n: KalamNode, rs: Ready['readStates'][number]): void {
    const op = this.reads.get(rs.context);
    if (op === undefined || op.node !== n.id) return;
    if (rs.status !== 'ok') this.finish(op, 'failed', rs.reason);
    else op.readIndex = rs.index;
  }

  /** Answers the reads at `n` whose read point this node's state machine has reached. */
  private serveReads(n: KalamNode): void {
    if (!n.up) return;
    for (const op of this.reads.values()) {
      if (op.node !== n.id || op.readIndex === undefined) continue;
      if (n.groups[op.group]!.sm.appliedIndex() < op.readIndex) continue;
      this.answerRead(n, op);
    }
  }

  /** Reads the row; a node whose catalog lacks the table yet (replaying after a restart) refuses the read. */
  private answerRead(n: KalamNode, op: InFlight): void {
    let value: Value;
    try {
      value = this.readRow(n, op.key);
    } catch (err) {
      if (!(err instanceof ApplyError)) throw err;
      this.finish(op, 'failed', err.code);
      return;
    }
    this.finish(op, 'ok', value);
  }

  private readRow(n: KalamNode, key: RegisterKey): Value {
    const rows =
      key.userId === undefined
        ? n.machines.sharedShards[0]!.rowsOf(SHARED_TABLE)
        : n.machines.userShards[this.userGroup(key.userId) - 3]!.userRows(USER_TABLE, key.userId);
    return rows.find((r) => r['k'] === key.k)?.['v'] ?? null;
  }

  private onApplied(n: KalamNode, group: number, e: Entry, response: unknown): void {
    if (this.phase === 'setup') this.onSetupApplied(n, group, e, response);
    else this.onSideApplied(n, group, e, response);
    const op = this.proposals.get(`${group}:${n.id}:${e.index}`);
    if (op === undefined || e.kind !== EntryKind.Command) return;
    if (op.proposal?.term !== e.term) {
      this.finish(op, 'failed', 'superseded'); // another entry took the index: ours can never commit
      return;
    }
    const r = response as DataResponse | { type: 'Error'; code: string };
    if (r.type !== 'RowsAffected') {
      this.finish(op, 'failed', 'code' in r ? r.code : r.type);
      return;
    }
    this.finish(op, 'ok', op.handle.kind === 'cas' ? r.count === 1 : undefined);
  }

  /** Completes a call in the history and frees its client. */
  private finish(op: InFlight, outcome: 'ok' | 'failed' | 'unknown', output: Value | undefined): void {
    const { handle, client, key } = op;
    if (op.proposal !== undefined) this.proposals.delete(`${op.group}:${op.node}:${op.proposal.index}`);
    if (op.context !== undefined) this.reads.delete(op.context);
    client.op = undefined;
    this.trace.record(`${this.now} ${outcome} ${handle.kind} ${key.history} ${String(output)}`);
    if (outcome === 'failed') {
      this.stats.opsFailed++;
      this.history.fail(handle, String(output));
      return;
    }
    if (outcome === 'unknown') {
      this.stats.opsUnknown++;
      this.history.unknown(handle, String(output));
      client.lastSeen.delete(key.history);
      return;
    }
    this.stats.opsOk++;
    if (handle.kind === 'read') {
      this.history.ok(handle as OpHandle<'read'>, output as Value);
      client.lastSeen.set(key.history, output as Value);
    } else if (handle.kind === 'write') {
      this.history.ok(handle as OpHandle<'write'>);
      client.lastSeen.set(key.history, op.value!);
    } else {
      this.history.ok(handle as OpHandle<'cas'>, { ok: output === true });
      if (output === true) client.lastSeen.set(key.history, op.value!);
    }
  }

  private expireCalls(): void {
    for (const c of this.clients) {
      if (c.op !== undefined && this.now >= c.op.deadlineMs) this.finish(c.op, 'unknown', 'timeout');
    }
  }

  // Liveness and the end checks ------------------------------------------------------------------------

  private heal(): void {
    this.phase = 'liveness';
    this.livenessEndMs = this.now + KALAM_SIM_LIMITS.livenessTicksMax * SIM_LIMITS.tickMs;
    this.healAll();
  }

  /** Every call completed, and every group has one leader whose whole log every node has applied. */
  private converged(): boolean {
    if (this.clients.some((c) => c.op !== undefined)) return false;
    for (let group = 0; group < this.groupCount; group++) {
      const leader = this.leaderOf(group);
      if (leader === undefined) return false;
      const log = leader.groups[group]!.raw.raft.log;
      const last = log.lastIndex();
      if (log.committed !== last || log.term(last) !== leader.groups[group]!.raw.raft.term) return false;
      for (const n of this.nodes) {
        const g = n.groups[group]!;
        if (!n.up || n.pending !== undefined || g.applyQueue.length > 0 || g.sm.appliedIndex() !== last) return false;
      }
    }
    return true;
  }

  private checkConvergence(): void {
    this.phase = 'done';
    if (!this.converged()) {
      const stuck = this.clients.filter((c) => c.op !== undefined).length;
      this.checker.violate(
        'liveness',
        `the cluster did not converge within ${KALAM_SIM_LIMITS.livenessTicksMax} ticks of healing (${stuck} calls pending)`,
      );
      return;
    }
    for (let group = 0; group < this.groupCount; group++) {
      const digests = this.nodes.map((n) => digestOf(n.groups[group]!.sm.snapshot()));
      const first = digests[0];
      if (digests.every((d) => d === first)) continue;
      const name = this.nodes[0]!.groups[group]!.name;
      this.checker.violate(
        'state-digest',
        `group ${name} (${groupNumber(this.nodes[0]!.groups[group]!.id)}): node digests ${digests.map((d, i) => `n${i + 1}=${d.toString(16)}`).join(' ')}`,
        group,
      );
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

/**
 * The first of `steps` when `n` applying `e` answers its proposal, which is then cleared; undefined otherwise.
 * When another entry took the proposal's index, the proposal is cleared too, so that the step is proposed again.
 */
function answeredStep(steps: readonly SetupStep[], n: KalamNode, group: number, e: Entry): SetupStep | undefined {
  const step = steps[0];
  const p = step?.proposal;
  if (step === undefined || p === undefined || p.node !== n.id || step.group !== group || p.index !== e.index) {
    return undefined;
  }
  step.proposal = undefined;
  return p.term === e.term ? step : undefined;
}

function retryMs(): number {
  return KALAM_SIM_LIMITS.setupRetryTicks * SIM_LIMITS.tickMs;
}

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
    snapshotEvery: 5 + q.int(40),
    snapshotKeep: q.int(10),
  }));
}

export function runKalamSimulation(opts: KalamSimOptions): KalamSimResult {
  const L = KALAM_SIM_LIMITS;
  checkSeedAndNodes(opts.seed, opts.nodes);
  checkCount('ticks', opts.ticks, L.ticksMax);
  checkCount('users', opts.users ?? KALAM_SIM_DEFAULTS.users, L.usersMax);
  checkCount('numUserShards', opts.numUserShards ?? KALAM_SIM_DEFAULTS.numUserShards, L.userShardsMax);
  return new KalamSimulation(opts).run();
}
