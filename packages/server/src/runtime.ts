/**
 * One running node (DESIGN.md §7–§8): data.db and the state machines, the executor for the node's mode, the SQL
 * engine, the root user, and the key that signs and checks access tokens. This is the one place that asks which
 * mode the node runs in: standalone gets the StandaloneExecutor (no raft.db is ever created), a cluster gets
 * RaftManager and the RaftExecutor; everything above the executor is the same code in both modes.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  AppContext,
  DEFAULT_SHARDING,
  DataStore,
  KalamError,
  RaftExecutor,
  SqlEngine,
  StandaloneExecutor,
  StateMachines,
  allGroups,
  groupName,
  groupNumber,
} from '@kalam/kalamdb';
import type { ClusterView, CommandExecutor } from '@kalam/kalamdb';
import { RaftManager, leaderShareBand } from '@kalam/multiraft';
import type { GroupStatusReport, MemberAddress } from '@kalam/multiraft';

import { advertisedApiUrl, formatHostPort } from './config.js';
import type { ClusterNodeConfig, NodeConfig } from './config.js';
import { ServerError } from './errors.js';
import { PatientExecutor } from './executor.js';
import { JobManager } from '@kalam/kalamdb';
import { SERVER_LIMITS } from './limits.js';
import { LoginThrottle } from './throttle.js';
import {
  checkStaticIdentity,
  foundersOf,
  joinedConfig,
  readIdentity,
  refuseOtherCluster,
  writeIdentity,
} from './identity.js';
import { JoinDesk, joinCluster } from './join.js';
import { MembershipService, raftMembershipDriver, staticConf } from './membership.js';
import { NodeMetrics } from './metrics.js';
import { MembershipError } from './reconciler.js';
import { NO_TEST_SWITCHES } from './planted.js';
import type { NodeTestSwitches } from './planted.js';

export type LogLevel = 'info' | 'warn' | 'error';
export type NodeLog = (level: LogLevel, event: string, fields: Record<string, unknown>) => void;

export interface StartNodeOptions {
  /** Structured log lines; default: none. */
  readonly log?: NodeLog;
  /** TEST ONLY (planted.ts); default: all off. */
  readonly testSwitches?: NodeTestSwitches;
}

/** One member as GET /v1/api/cluster/status shows it. */
export interface NodeStatus {
  readonly node_id: number;
  readonly api_url: string | null;
  readonly rpc_addr: string | null;
  /** This node, or a peer whose Raft link is connected. */
  readonly up: boolean;
  readonly self: boolean;
  /** Its state in system.cluster_nodes (joining, learner, voter, leaving); null before the list is seeded. */
  readonly state: string | null;
}

/** One group as this node sees it. */
export interface GroupStatus {
  readonly group_id: number;
  readonly name: string;
  readonly role: string;
  readonly leader: number | null;
  readonly term: number;
  readonly commit_index: number;
  readonly applied_index: number;
  readonly last_index: number;
  readonly snapshot_index: number;
  /** The group's voters and learners as this node has applied its configuration (node ids, ascending). */
  readonly voters: readonly number[];
  readonly learners: readonly number[];
  /**
   * While a joint configuration is in force (a membership change between entering and leaving it): the outgoing
   * voters, whose majority must agree too; empty otherwise.
   */
  readonly voters_outgoing: readonly number[];
}

/**
 * How late this node's Raft driver timer fires and how long its turns take (multiraft's driver-timing.ts), over
 * the last `window_ticks` ticks; `tick_late_ms_max_ever` since the node started. Null on a standalone node.
 */
export interface DriverStatus {
  readonly window_ticks: number;
  readonly tick_late_ms_max: number;
  readonly tick_late_ms_p99: number;
  readonly ticks_late_over_heartbeat: number;
  readonly tick_late_ms_max_ever: number;
  readonly turn_ms_max: number;
  readonly apply_ms_max: number;
  readonly persist_ms_max: number;
  /**
   * Cumulative since the node started (a benchmark takes differences): driver turns, log writes the driver asked
   * for, raft.db transactions (one fsync each) that carried them and compactions. Over the last writes (up to
   * `log_window_writes`): the mean, p99 and max time from a write's hand-over until it was durable, in ms.
   */
  readonly turns: number;
  readonly log_writes: number;
  readonly log_transactions: number;
  readonly log_compactions: number;
  readonly log_entries_written: number;
  readonly log_write_ms_total: number;
  readonly log_window_writes: number;
  readonly log_write_ms_mean: number;
  readonly log_write_ms_p99: number;
  readonly log_write_ms_max: number;
  /** Snapshots this node built for followers behind a compacted log, and snapshots it installed (since start). */
  readonly snapshots_built: number;
  readonly snapshots_installed: number;
}

/**
 * The leader balance as this node runs it (multiraft's balance.ts): its settings, the leaders per node this node's
 * Raft state knows of, the band each live node's count should fall in, and the transfers it started. Null on a
 * standalone node.
 */
export interface LeaderBalanceStatus {
  /** False when `cluster.leader_balance_interval_ms` is 0. */
  readonly enabled: boolean;
  readonly interval_ms: number;
  readonly tolerance: number;
  /** Node id → groups it leads, as this node knows; every member is listed. */
  readonly leaders_per_node: Record<string, number>;
  /** Members this node can reach, itself included. */
  readonly live_nodes: number;
  /** [⌊groups / live⌋ − tolerance, ⌈groups / live⌉ + tolerance]. */
  readonly band: { readonly min: number; readonly max: number };
  /** Transfers this node's balance started since the node started, and those of them that failed. */
  readonly transfers: number;
  readonly transfers_failed: number;
}

export interface ClusterStatus {
  readonly mode: NodeConfig['mode'];
  readonly cluster_id: string | null;
  readonly node_id: number;
  readonly nodes: NodeStatus[];
  readonly groups: GroupStatus[];
  readonly driver: DriverStatus | null;
  readonly leader_balance: LeaderBalanceStatus | null;
}

/** Why this node cannot serve a group right now (see `readinessOf`). */
export type NotServingReason = 'no_leader' | 'leader_unreachable';

/** GET /v1/api/health/ready: whether this node can serve every group now, and which groups it cannot. */
export interface Readiness {
  readonly ready: boolean;
  /** Groups hosted (every node hosts every group). */
  readonly groups: number;
  /** Empty when ready. */
  readonly not_serving: { readonly group: string; readonly reason: NotServingReason }[];
}

export interface RunningNode {
  readonly config: NodeConfig;
  readonly nodeId: number;
  readonly store: DataStore;
  readonly machines: StateMachines;
  readonly executor: CommandExecutor;
  /** The app context handlers use: `ctx.executor()`, `ctx.isClusterMode()`. */
  readonly ctx: AppContext;
  readonly engine: SqlEngine;
  /** undefined in standalone mode. */
  readonly manager: RaftManager | undefined;
  /** Runs flush, compaction and retention jobs while this node leads meta:jobs. */
  readonly jobs: JobManager;
  /** The HS256 key of access tokens; the same on every node of a cluster. */
  readonly jwtKey: Uint8Array;
  /** Password checks left per client address and per user name (throttle.ts); local to this node. */
  readonly logins: LoginThrottle;
  /** Admits nodes that join through this one (join.ts). */
  readonly joins: JoinDesk;
  /** GET /metrics (metrics.ts): this node's own registry; Raft reports into it as it runs. */
  readonly metrics: NodeMetrics;
  /**
   * Resolves, with why, when this node learns it was removed from the cluster (its member-list row says so, or a
   * peer refused its handshake as removed); never on a standalone node. serve.ts stops the node then.
   */
  readonly removed: Promise<string>;
  /**
   * An operator's removal of nodes (POST /v1/api/cluster/nodes/remove; membership.ts requestRemoval); undefined on a
   * standalone node.
   */
  readonly removeNodes: ((ids: readonly number[]) => Promise<{ node_id: number; state: string }[]>) | undefined;
  clusterStatus(): ClusterStatus;
  /** Whether this node can serve reads and writes of every group now (`readinessOf` defines it). */
  readiness(): Readiness;
  /**
   * Stops Raft (handing over the groups this node leads when `transferLeadership`, bounded by
   * SERVER_LIMITS.transferTimeoutMs) and closes data.db. Idempotent.
   */
  stop(opts?: { transferLeadership?: boolean }): Promise<void>;
}

type NodeId = MemberAddress['nodeId'];

/** Opens the node's state, starts Raft in cluster mode, and makes sure the root user exists. */
export async function startNode(given: NodeConfig, opts: StartNodeOptions = {}): Promise<RunningNode> {
  let config = given;
  const log: NodeLog = opts.log ?? (() => undefined);
  const dataDir = config.server.dataDir;
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (cause) {
    throw startupError(`cannot create data_dir ${dataDir}`, cause);
  }
  // Who this node is comes first: a joining node asks the cluster, and nothing is opened in a folder of another
  // cluster or another node (identity.ts).
  let joined = false;
  let founders: readonly number[] = [];
  if (config.mode === 'cluster') {
    const resolved = await resolveIdentity(config, log);
    config = resolved.config;
    joined = resolved.joined;
    founders = resolved.founders;
  }
  const jwtKey = jwtKeyOf(config);
  let store: DataStore;
  try {
    // Checkpoints on a worker thread: one that copies a WAL grown behind a snapshot's read view held the driver's turn.
    store = DataStore.open(join(dataDir, 'data.db'), {
      checkpointer: { onFailure: (why) => log('warn', 'data.checkpointer_failed', { why }) },
    });
  } catch (cause) {
    throw startupError(`cannot open ${join(dataDir, 'data.db')}`, cause);
  }
  let manager: RaftManager | undefined;
  let membership: MembershipService | undefined;
  const metrics = new NodeMetrics();
  try {
    const switches = opts.testSwitches ?? NO_TEST_SWITCHES;
    const uncheckedCommands = switches.uncheckedCommands;
    if (uncheckedCommands) {
      log('warn', 'planted_bug', { bug: 'unchecked-commands', note: 'TEST ONLY: commands are not checked' });
    }
    if (switches.ignoreClientSessions) {
      log('warn', 'planted_bug', { bug: 'ignore-client-sessions', note: 'TEST ONLY: retried writes apply again' });
    }
    const machines = new StateMachines(store, config.cluster?.sharding ?? DEFAULT_SHARDING, {
      dataDir,
      nodeId: config.mode === 'cluster' ? config.cluster.nodeId : 1,
      uncheckedCommands,
      ignoreClientSessions: switches.ignoreClientSessions,
    });
    machines.loadCold(); // the flushed files' manifest, before Raft applies anything
    let executor: CommandExecutor;
    let removedBy: (why: string) => void = () => undefined;
    const removed = new Promise<string>((resolve) => {
      removedBy = resolve;
    });
    if (config.mode === 'cluster') {
      manager = await startRaft(config, founders, machines, log, metrics, (by) =>
        membership?.markRemoved(`node ${by} refused this node's handshake: it was removed from the cluster`),
      );
      executor = new PatientExecutor(new RaftExecutor(machines, manager, SERVER_LIMITS.executorTimeoutMs), {
        readPatienceMs: SERVER_LIMITS.readPatienceMs,
        retryMs: SERVER_LIMITS.readRetryMs,
      });
    } else {
      executor = new StandaloneExecutor(machines);
    }
    const nodeId = executor.nodeId();
    const view = clusterStatusOf(config, machines, manager, (g) => {
      const conf = membership?.confOf(g) ?? (manager === undefined ? undefined : staticConf(manager));
      const sorted = (ids: readonly number[] | undefined): number[] => [...(ids ?? [])].sort((a, b) => a - b);
      return {
        voters: sorted(conf?.voters),
        learners: sorted(conf?.learners),
        voters_outgoing: sorted(conf?.votersOutgoing),
      };
    });
    const ctx = new AppContext(executor, machines);
    const engine = new SqlEngine({
      executor: ctx.executor(),
      machines,
      nodeId,
      clusterView: () => toClusterView(view()),
      // ALTER CLUSTER REMOVE NODE: the removal API's request and refusals; bound late, the service starts below.
      removeNodes: (ids) => removeNodesAsSql(membership, ids),
    });
    // A joined node gets root, like everything else, from the cluster's log; only a founding member creates it.
    if (!joined) await ensureRoot(engine, machines, config, log);
    if (config.mode === 'cluster' && manager !== undefined) {
      membership = new MembershipService({
        config,
        machines,
        manager,
        executor: ctx.executor(),
        log,
        joined,
        driver: raftMembershipDriver(manager),
        onRemoved: removedBy,
      });
      membership.start();
    }
    const members = membership;
    const raft = manager;
    const jobs = new JobManager({
      executor: ctx.executor(),
      machines,
      log,
      testSwitches: switches.jobs,
      ...(raft === undefined
        ? {}
        : {
            onLeaderChange: (fn: (e: { groupId: number; isLocal: boolean }) => void) => {
              raft.events.on('leaderChange', fn);
              return () => raft.events.off('leaderChange', fn);
            },
          }),
    });
    jobs.start();
    let stopped: Promise<void> | undefined;
    const node: RunningNode = {
      config,
      nodeId,
      store,
      machines,
      executor,
      ctx,
      engine,
      manager,
      jobs,
      jwtKey,
      logins: new LoginThrottle({
        perAddress: {
          attemptsMax: SERVER_LIMITS.loginAttemptsPerAddressMax,
          refillMs: SERVER_LIMITS.loginAttemptRefillPerAddressMs,
        },
        perUser: {
          attemptsMax: SERVER_LIMITS.loginAttemptsPerUserMax,
          refillMs: SERVER_LIMITS.loginAttemptRefillPerUserMs,
        },
        keysMax: SERVER_LIMITS.loginThrottleKeysMax,
      }),
      joins: new JoinDesk(
        {
          config: config.mode === 'cluster' ? config.cluster : undefined,
          executeSystem: (cmd) => ctx.executor().executeSystem(cmd),
          clusterNodes: () => machines.system.clusterNodes(),
          founders,
        },
        log,
      ),
      metrics,
      removed,
      removeNodes: members === undefined ? undefined : (ids) => members.requestRemoval(ids),
      clusterStatus: view,
      readiness: readinessOf(machines, manager),
      stop: (stopOpts = {}) => {
        members?.stop();
        stopped ??= jobs.stop().then(() => stopNode(store, manager, stopOpts.transferLeadership === true));
        return stopped;
      },
    };
    log('info', 'node.started', { mode: config.mode, nodeId, dataDir });
    return node;
  } catch (err) {
    membership?.stop();
    await manager?.stop().catch(() => undefined);
    store.close();
    throw err instanceof ServerError ? err : startupError('the node could not start', err);
  }
}

function startupError(what: string, cause: unknown): ServerError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ServerError('STARTUP_FAILED', `${what}: ${detail}`, { cause });
}

/**
 * A static member checks node.json against its config (and writes it on a first start). A node with cluster.join
 * uses node.json when it has one — it joined before, and must not join again — and otherwise joins now and writes
 * node.json before anything else is opened.
 */
async function resolveIdentity(
  config: ClusterNodeConfig,
  log: NodeLog,
): Promise<{ config: ClusterNodeConfig; joined: boolean; founders: number[] }> {
  const dataDir = config.server.dataDir;
  if (config.cluster.join === undefined) {
    checkStaticIdentity(config);
    return { config, joined: false, founders: foundersOf(config, readIdentity(dataDir)) };
  }
  let identity = readIdentity(dataDir);
  if (identity !== undefined) {
    refuseOtherCluster(identity, config.cluster.clusterId, dataDir);
    log('info', 'node.identity', {
      node_id: identity.node_id,
      cluster_id: identity.cluster_id,
      origin: identity.origin,
    });
  } else {
    identity = await joinCluster(config, log);
    writeIdentity(dataDir, identity);
  }
  return {
    config: joinedConfig(config, identity),
    joined: identity.origin === 'join',
    founders: foundersOf(config, identity),
  };
}

async function startRaft(
  config: ClusterNodeConfig,
  founders: readonly number[],
  machines: StateMachines,
  log: NodeLog,
  metrics: NodeMetrics,
  onRemoved: (by: number) => void,
): Promise<RaftManager> {
  const c = config.cluster;
  // Every group starts from the founding configuration (the cluster's static members), whatever this node's own
  // place: a log replayed from index 1 then rebuilds the configuration in force, conf entry by conf entry. A node
  // that joined is in none of them at first, so it waits — not promotable, never campaigning — until the
  // reconciler adds it as a learner; the members it was given are only where it dials.
  return RaftManager.start({
    onRemoved,
    nodeId: c.nodeId as NodeId,
    clusterId: c.clusterId,
    secret: c.secret,
    members: c.members.map((m) => ({ nodeId: m.nodeId as NodeId, host: m.rpcAddr.host, port: m.rpcAddr.port })),
    // A join pointed at this node's RPC address is told where its API is (join.ts follows it).
    apiUrl: c.members.find((m) => m.nodeId === c.nodeId)?.apiUrl ?? advertisedApiUrl(config),
    listen: { host: c.raft.rpcBind.host, port: c.raft.rpcBind.port },
    ...(config.tls !== undefined && {
      tls: {
        cert: config.tls.cert,
        key: config.tls.key,
        ca: config.tls.ca,
        requireClientCert: config.tls.requireClientCert,
      },
    }),
    voters: founders.map((id) => id as NodeId),
    groups: machines.groupSpecs(),
    dataDir: config.server.dataDir,
    timing: {
      tickMs: c.raft.tickMs,
      heartbeatIntervalMs: c.raft.heartbeatIntervalMs,
      electionTimeoutMinMs: c.raft.electionTimeoutMinMs,
      electionTimeoutMaxMs: c.raft.electionTimeoutMaxMs,
    },
    snapshotThreshold: c.raft.snapshotThreshold,
    logWrites: c.raft.logWriterThread ? 'worker' : 'sync',
    logBytesMax: c.raft.logBytesMax,
    leaderBalance: {
      intervalMs: c.leaderBalance.intervalMs,
      tolerance: c.leaderBalance.tolerance,
      // Read on the balance's timer: a failed read (data.db closing under a stopping node) must not throw from it,
      // and without the list the balance acts as it did before removals knew of it.
      leaving: () => {
        try {
          return machines.system
            .clusterNodes()
            .filter((n) => n.state === 'leaving')
            .map((n) => n.nodeId as NodeId);
        } catch {
          return [];
        }
      },
    },
    log,
    observer: metrics.raft,
    // Every group's state machine writes the one data.db: a turn's applies commit together.
    applyScope: (applies) => machines.store.transaction(applies),
  });
}

async function stopNode(store: DataStore, manager: RaftManager | undefined, transfer: boolean): Promise<void> {
  try {
    await manager?.stop({ transferLeadership: transfer, timeoutMs: SERVER_LIMITS.transferTimeoutMs });
  } finally {
    store.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// The root user.

/** Codes that mean "meta:users has no leader yet": startup waits for the election and tries again. */
const NOT_YET: ReadonlySet<string> = new Set(['NOT_LEADER', 'LEADER_NOT_AVAILABLE', 'CLUSTER_UNAVAILABLE']);

/**
 * Creates root unless this node already knows it (root can never be dropped, so a restarted node that has it
 * becomes ready without waiting for a quorum). In a cluster several nodes may bootstrap at once: the users state
 * machine refuses the second CreateUser and the engine takes ALREADY_EXISTS as done, so root is created once.
 */
async function ensureRoot(engine: SqlEngine, machines: StateMachines, config: NodeConfig, log: NodeLog): Promise<void> {
  if (machines.users.byName('root') !== undefined) return;
  const deadline = Date.now() + SERVER_LIMITS.bootstrapTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await engine.bootstrap(config.auth.rootPassword);
      log('info', 'node.bootstrap', { attempts: attempt });
      return;
    } catch (err) {
      const retry = err instanceof KalamError && NOT_YET.has(err.code) && Date.now() < deadline;
      if (!retry) {
        const why = err instanceof KalamError && NOT_YET.has(err.code) ? ' (no quorum for meta:users)' : '';
        throw startupError(`cannot create the root user${why}`, err);
      }
      await new Promise((resolve) => setTimeout(resolve, SERVER_LIMITS.bootstrapRetryMs));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The JWT key.

/**
 * `auth.jwt_secret` when set. Otherwise, in a cluster, HMAC-SHA256(cluster secret, "kalam-jwt"): every node
 * derives the same key, so a token from one node is good on all, and the key is not the transport's secret
 * itself. A standalone node keeps a random key in <data_dir>/jwt.secret (mode 0600), so tokens survive a restart.
 */
export function jwtKeyOf(config: NodeConfig): Uint8Array {
  if (config.auth.jwtSecret !== undefined) return new TextEncoder().encode(config.auth.jwtSecret);
  if (config.mode === 'cluster') return createHmac('sha256', config.cluster.secret).update('kalam-jwt').digest();
  return persistedSecret(join(config.server.dataDir, 'jwt.secret'));
}

function persistedSecret(file: string): Uint8Array {
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f]{64,}$/.test(text)) throw new ServerError('STARTUP_FAILED', `${file} does not hold a hex key`);
    return Buffer.from(text, 'hex');
  } catch (err) {
    if (!(err instanceof Error && 'code' in err && err.code === 'ENOENT')) {
      throw err instanceof ServerError ? err : startupError(`cannot read ${file}`, err);
    }
  }
  const key = randomBytes(SERVER_LIMITS.jwtSecretBytes);
  try {
    // 'wx': two processes on one data_dir must not both write a key; the loser fails here instead.
    writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600); // the umask may have taken bits away from `mode`, never added: this is belt and braces
  } catch (cause) {
    throw startupError(`cannot write ${file}`, cause);
  }
  return key;
}

// ---------------------------------------------------------------------------------------------------------
// The cluster as this node sees it.

type GroupConf = Pick<GroupStatus, 'voters' | 'learners' | 'voters_outgoing'>;

function clusterStatusOf(
  config: NodeConfig,
  machines: StateMachines,
  manager: RaftManager | undefined,
  confOf: (groupId: number) => GroupConf,
): () => ClusterStatus {
  if (config.mode === 'standalone' || manager === undefined) {
    const apiUrl = advertisedApiUrl(config);
    return () => ({
      mode: 'standalone',
      cluster_id: null,
      node_id: 1,
      nodes: [{ node_id: 1, api_url: apiUrl, rpc_addr: null, up: true, self: true, state: 'voter' }],
      groups: allGroups(machines.sharding).map((g) => {
        const applied = machines.of(g).appliedIndex();
        return {
          group_id: groupNumber(g),
          name: groupName(g),
          role: 'leader',
          leader: 1,
          term: 0,
          commit_index: applied,
          applied_index: applied,
          last_index: applied,
          snapshot_index: 0,
          voters: [1],
          learners: [],
          voters_outgoing: [],
        };
      }),
      driver: null,
      leader_balance: null,
    });
  }
  const c = config.cluster;
  const up = (id: number): boolean => id === c.nodeId || manager.transport.peerConnected(id as NodeId);
  return () => {
    // The replicated member list once seeded (it has the nodes that joined); the static list before.
    const listed = machines.system.clusterNodes().filter((n) => n.state !== 'removed');
    const nodes: NodeStatus[] =
      listed.length > 0
        ? listed.map((n) => ({
            node_id: n.nodeId,
            api_url: n.apiAddr,
            rpc_addr: n.rpcAddr,
            up: up(n.nodeId),
            self: n.nodeId === c.nodeId,
            state: n.state,
          }))
        : c.members.map((m) => ({
            node_id: m.nodeId,
            api_url: m.apiUrl,
            rpc_addr: formatHostPort(m.rpcAddr),
            up: up(m.nodeId),
            self: m.nodeId === c.nodeId,
            state: null,
          }));
    const status = manager.status();
    return {
      mode: 'cluster',
      cluster_id: c.clusterId,
      node_id: c.nodeId,
      nodes,
      groups: groupStatuses(status, confOf),
      driver: driverStatus(manager),
      leader_balance: leaderBalanceStatus(config, manager, status, nodes.filter((n) => n.up).length),
    };
  };
}

function groupStatuses(status: readonly GroupStatusReport[], confOf: (groupId: number) => GroupConf): GroupStatus[] {
  return status.map((s) => ({
    ...confOf(s.groupId),
    group_id: s.groupId,
    name: s.name,
    role: String(s.role),
    leader: s.leader,
    term: s.term,
    commit_index: s.commitIndex,
    applied_index: s.appliedIndex,
    last_index: s.lastIndex,
    snapshot_index: s.snapshotIndex,
  }));
}

function leaderBalanceStatus(
  config: ClusterNodeConfig,
  manager: RaftManager,
  status: readonly GroupStatusReport[],
  liveNodes: number,
): LeaderBalanceStatus {
  const { intervalMs, tolerance } = config.cluster.leaderBalance;
  const perNode: Record<string, number> = {};
  for (const m of config.cluster.members) perNode[String(m.nodeId)] = 0;
  for (const g of status) if (g.leader !== null) perNode[String(g.leader)] = (perNode[String(g.leader)] ?? 0) + 1;
  return {
    enabled: manager.leaderBalance() !== undefined,
    interval_ms: intervalMs,
    tolerance,
    leaders_per_node: perNode,
    live_nodes: liveNodes,
    band: leaderShareBand(status.length, Math.max(1, liveNodes), tolerance),
    transfers: manager.stats.balanceTransfers,
    transfers_failed: manager.stats.balanceTransfersFailed,
  };
}

function driverStatus(manager: RaftManager): DriverStatus {
  const t = manager.driverTiming();
  const w = manager.logWriteStats();
  return {
    window_ticks: t.windowTicks,
    tick_late_ms_max: t.tickLateMsMax,
    tick_late_ms_p99: t.tickLateMsP99,
    ticks_late_over_heartbeat: t.ticksLateOverHeartbeat,
    tick_late_ms_max_ever: t.tickLateMsMaxEver,
    turn_ms_max: t.turnMsMax,
    apply_ms_max: t.applyMsMax,
    persist_ms_max: t.persistMsMax,
    turns: manager.stats.turns,
    log_writes: w.writes,
    log_transactions: w.transactions,
    log_compactions: w.compactions,
    log_entries_written: manager.stats.entriesWritten,
    log_write_ms_total: w.writeMsTotal,
    log_window_writes: w.windowWrites,
    log_write_ms_mean: w.writeMsMean,
    log_write_ms_p99: w.writeMsP99,
    log_write_ms_max: w.writeMsMax,
    snapshots_built: manager.stats.snapshotsTaken,
    snapshots_installed: manager.stats.snapshotsInstalled,
  };
}

/**
 * Ready = every group has a leader this node can reach: itself, or a peer whose authenticated Raft link is up.
 * Leaders and followers both lose that knowledge when a quorum is out of touch, so a ready node has heard from
 * a quorum of every group within about two election timeouts: a leader that has not heard from a quorum within
 * an election timeout steps down (CheckQuorum), and a follower forgets a leader it has not heard from within
 * its election timeout (it becomes a pre-candidate) or whose link dropped (forgetLeader). Reads and writes on a
 * ready node reach a leader that can commit; a group without one answers CLUSTER_UNAVAILABLE or times out.
 * Standalone: always ready (every group is local).
 */
function readinessOf(machines: StateMachines, manager: RaftManager | undefined): () => Readiness {
  if (manager === undefined) {
    const groups = allGroups(machines.sharding).length;
    return () => ({ ready: true, groups, not_serving: [] });
  }
  return () => {
    const status = manager.status();
    const notServing: Readiness['not_serving'] = [];
    for (const g of status) {
      if (g.leader === null) notServing.push({ group: g.name, reason: 'no_leader' });
      else if (g.leader !== manager.nodeId && !manager.transport.peerConnected(g.leader)) {
        notServing.push({ group: g.name, reason: 'leader_unreachable' });
      }
    }
    return { ready: notServing.length === 0, groups: status.length, not_serving: notServing };
  };
}

/**
 * ALTER CLUSTER REMOVE NODE through the membership service (the removal API's path), its refusals as KalamErrors
 * with the same codes and statuses as POST /v1/api/cluster/nodes/remove.
 */
async function removeNodesAsSql(
  membership: MembershipService | undefined,
  ids: readonly number[],
): Promise<{ node_id: number; state: string }[]> {
  if (membership === undefined) {
    throw new KalamError('INVALID_INPUT', 'a standalone node has no members to remove');
  }
  try {
    return await membership.requestRemoval(ids);
  } catch (err) {
    if (err instanceof MembershipError) throw new KalamError(err.code, err.message, err.details, { cause: err });
    throw err;
  }
}

function toClusterView(status: ClusterStatus): ClusterView {
  return {
    nodes: status.nodes.map((n) => ({ nodeId: n.node_id, apiUrl: n.api_url, rpcAddr: n.rpc_addr, up: n.up })),
    groups: status.groups.map((g) => ({
      name: g.name,
      nodeId: status.node_id,
      role: g.role,
      leader: g.leader,
      term: g.term,
      commitIndex: g.commit_index,
      appliedIndex: g.applied_index,
      voters: g.voters,
      learners: g.learners,
    })),
  };
}
