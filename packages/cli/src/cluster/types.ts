/**
 * The contract between the `kalam` commands, the supervisor and the drills: what a cluster folder holds, what
 * the supervisor answers, and the control surface a drill drives. One file so the pieces can be built apart.
 *
 * A cluster folder (default `.kalam/clusters/NAME`, or `--dir DIR`):
 *   cluster.json         ClusterManifest (written by `cluster up`, mode 0600)
 *   credentials.json     ClusterCredentials: root user and password, cluster secret (mode 0600)
 *   supervisor.json      SupervisorInfo: pid, loopback control URL, token (mode 0600; removed on `down`)
 *   nodes/nodeN.toml     each node's config (mode 0600)
 *   data/nodeN/          each node's data_dir
 *   logs/nodeN.log       each node's stdout and stderr; logs/supervisor.log the supervisor's own
 *   nodes/joinK.toml, data/joinK/, logs/joinK.log   the K-th node `kalam node add` started (its id is given by the
 *                        cluster when it joins, so its files cannot be named after it; cluster.json maps the id)
 */
import type { ClusterGroupView } from '@kalam/server';

export type NodeId = number;

export interface ClusterManifest {
  readonly name: string;
  readonly dir: string;
  readonly clusterId: string;
  readonly createdAt: string;
  readonly nodes: readonly ManifestNode[];
}

export interface ManifestNode {
  readonly id: NodeId;
  /** `http://127.0.0.1:PORT` (`https://` in a cluster made with --tls) */
  readonly apiUrl: string;
  /** `127.0.0.1:PORT` */
  readonly rpcAddr: string;
  /** Absolute paths. */
  readonly configPath: string;
  readonly dataDir: string;
  readonly logPath: string;
  /** Started by `kalam node add` with `--join` (no static member list); absent for the founding nodes. */
  readonly joined?: boolean;
  /** Removed from the cluster (`kalam node remove`): never started again, left out of the status. */
  readonly removed?: boolean;
}

export interface ClusterCredentials {
  readonly user: string;
  readonly password: string;
  readonly clusterSecret: string;
}

export interface SupervisorInfo {
  readonly pid: number;
  /** `http://127.0.0.1:PORT`; every request carries `Authorization: Bearer <token>`. */
  readonly url: string;
  readonly token: string;
  readonly startedAt: string;
}

/** up: running and answering; starting: spawned, not yet ready; paused: SIGSTOPped; down: not running. */
export type NodeState = 'up' | 'starting' | 'paused' | 'down';

export interface NodeStatus {
  readonly id: NodeId;
  readonly state: NodeState;
  readonly pid: number | null;
  readonly apiUrl: string;
  readonly rpcAddr: string;
  readonly uptimeMs: number | null;
  /** How the last process ended, e.g. "signal SIGKILL", "exit 0"; null while running or never started. */
  readonly lastExit: string | null;
  /** Faults in force on this node (partition rules, slow disk), one short line each. */
  readonly faults: readonly string[];
  /**
   * Its state in the cluster's member list (system.cluster_nodes: joining, learner, voter, leaving, removed) as a
   * node up reports it; null when no node up answered or the list does not name it yet.
   */
  readonly member: string | null;
}

/** One group across the cluster: leader, term, each node's applied index and lag, voters and learners. */
export type GroupStatus = ClusterGroupView;

export interface ClusterStatus {
  readonly name: string;
  readonly dir: string;
  readonly supervisorPid: number;
  /** ms since epoch when this status was taken. */
  readonly at: number;
  readonly nodes: readonly NodeStatus[];
  readonly groups: readonly GroupStatus[];
  /** node id → number of groups it leads. */
  readonly leadersPerNode: Readonly<Record<string, number>>;
  /** How evenly those leaders are spread over the nodes up, against the band the nodes' leader balance keeps. */
  readonly leaderBalance: LeaderBalanceSummary;
}

/** The spread of leadership (the nodes' leader balance: `cluster.leader_balance_*`, multiraft's balance.ts). */
export interface LeaderBalanceSummary {
  /** The balance runs on the nodes that reported (its interval is not 0). */
  readonly enabled: boolean;
  /** `cluster.leader_balance_tolerance` as the nodes report it; null when no node up answered. */
  readonly tolerance: number | null;
  readonly nodesUp: number;
  /** The leaders each node up should hold, [⌊groups/up⌋ − tolerance, ⌈groups/up⌉ + tolerance]; null when unknown. */
  readonly band: { readonly min: number; readonly max: number } | null;
  /** Every group has a leader and every node up leads a number within the band. */
  readonly balanced: boolean;
  /** Leadership transfers the balance started, summed over the nodes up (each since it started). */
  readonly transfers: number;
}

export type KillSignal = 'KILL' | 'TERM' | 'STOP' | 'CONT';
export type PartitionDirection = 'both' | 'in' | 'out';

/** A flaky link rule (applied to what `node` sends to each of `peers`, and what they send to it). */
export interface NetworkRule {
  readonly delayMs?: number;
  readonly jitterMs?: number;
  readonly dropRate?: number;
  readonly duplicateRate?: number;
}

/** Per group: the node's applied index and a digest of its state machine at that index. */
export type GroupDigests = Readonly<Record<string, { readonly applied: number; readonly digest: string }>>;

/**
 * What drills and the `node` commands drive; implemented over the supervisor's HTTP API. Every method is
 * bounded in time and throws a CliError with a one-line message on failure.
 */
export interface ClusterController {
  readonly manifest: ClusterManifest;
  readonly credentials: ClusterCredentials;
  status(): Promise<ClusterStatus>;
  kill(node: NodeId, signal?: KillSignal): Promise<void>;
  /** Starts a node that is down; resolves once it is ready (its ready line was printed). */
  start(node: NodeId): Promise<void>;
  restart(node: NodeId): Promise<void>;
  /** Cuts `node` off from `from` (default: every other node) in the given direction (default both). */
  partition(node: NodeId, opts?: { from?: readonly NodeId[]; direction?: PartitionDirection }): Promise<void>;
  /** Flaky links between `node` and `peers` (default: every other node), both ways. */
  network(node: NodeId, rule: NetworkRule, peers?: readonly NodeId[]): Promise<void>;
  /** Clears partition and network rules on `node` (default: on every node). */
  heal(node?: NodeId): Promise<void>;
  /** A slow disk inside the node: every fsync of its Raft log waits `fsyncDelayMs` (0 clears). */
  disk(node: NodeId, fsyncDelayMs: number): Promise<void>;
  /** Deletes a stopped node's data folder (it must be down). */
  wipe(node: NodeId): Promise<void>;
  digests(node: NodeId): Promise<GroupDigests>;
  /** Stops every node (SIGTERM, then SIGKILL after a bound) and the supervisor; `wipe` removes the folder. */
  down(opts?: { wipe?: boolean }): Promise<void>;
  /**
   * `kalam node add`: a new node with free ports, an empty data folder and `--join` (a live member's API); resolves
   * once it is a voter of every group (CLUSTER_TIMEOUT after `timeoutMs`, the node left running).
   */
  addNode(opts?: AddNodeOptions): Promise<AddedNode>;
  /**
   * `kalam node remove`: the removal API, then a wait until no group lists the node, then its process stopped and
   * the node marked removed in cluster.json. NODE_NOT_FOUND / MEMBERSHIP_REFUSED when the cluster refuses.
   */
  removeNode(node: NodeId, opts?: MembershipWaitOptions): Promise<RemovedNode>;
}

export interface MembershipWaitOptions {
  /** Bound of the wait (default CLUSTER_LIMITS.membershipTimeoutMs). */
  readonly timeoutMs?: number;
  /** One line whenever what the wait sees changes (at most one a second while it does not). */
  readonly onProgress?: (line: string) => void;
}

export interface AddNodeOptions extends MembershipWaitOptions {
  /** The member whose API the new node joins through (default: the lowest id up). */
  readonly via?: NodeId;
}

export interface AddedNode {
  readonly id: NodeId;
  readonly rpcAddr: string;
  readonly apiUrl: string;
  readonly pid: number;
  /** From the spawn to a voter of every group. */
  readonly tookMs: number;
}

export interface RemovedNode {
  readonly id: NodeId;
  /** Whether the supervisor had a process of it to stop (a node that stopped itself, or was dead, had none). */
  readonly stopped: boolean;
  readonly tookMs: number;
}
