/**
 * The node's side of cluster membership (issue [M9] §2), run on a timer (cluster.membership_interval_ms) by every
 * cluster node:
 *
 * - Transport peers follow meta:system's member list (system.cluster_nodes) as this node has applied it: a new row
 *   adds a peer, a `removed` row removes one for good (its hello is then refused as `removed_node`).
 * - A node that finds its own row `removed` — or that a peer refuses as removed — logs one `node.removed` line and
 *   stops (serve.ts waits on `removed`).
 * - On the meta:system leader only: an empty list is seeded from the static members (once; the apply ignores a
 *   second seed), and the reconciler (reconciler.ts) takes one step when a MembershipDriver is given.
 *
 * Everything it decides is read from replicated state and the groups' configurations, so it holds no state of its
 * own that a leader change, a crash or a restart could lose.
 */
import { MetaSystem, groupNumber } from '@kalam/kalamdb';
import type { ClusterNodeRecord, CommandExecutor, StateMachines } from '@kalam/kalamdb';
import type { RaftManager } from '@kalam/multiraft';

import { formatHostPort, parseHostPort } from './config.js';
import type { ClusterNodeConfig } from './config.js';
import { MembershipError, Reconciler, checkRemoval, inConf } from './reconciler.js';
import type { ConfState, MembershipDriver } from './reconciler.js';
import type { NodeLog } from './runtime.js';

type NodeId = Parameters<RaftManager['transport']['removePeer']>[0];

export interface MembershipOptions {
  readonly config: ClusterNodeConfig;
  readonly machines: StateMachines;
  readonly manager: RaftManager;
  readonly executor: CommandExecutor;
  readonly log: NodeLog;
  /** True for a node that joined (cluster.join): it has no static member list to seed from. */
  readonly joined: boolean;
  /** The groups' configurations (m9-core's RaftManager); without it the reconciler does not run. */
  readonly driver?: MembershipDriver;
  /** Called once when this node learns it was removed, with why. */
  readonly onRemoved: (why: string) => void;
}

/** The static members, which are every group's voters for a Raft core without configuration changes. */
export function staticConf(manager: RaftManager): ConfState {
  const voters = manager.members().map((m) => m.nodeId as number);
  return { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
}

/**
 * The reconciler's view of the groups over this node's RaftManager: configurations as this node has applied them,
 * changes and the leader's progress forwarded to each group's leader wherever it is (RaftManager.proposeConfChange
 * and leaderProgress), liveness from the transport's links.
 */
export function raftMembershipDriver(manager: RaftManager): MembershipDriver {
  return {
    confState: (groupId) => manager.confState(groupId),
    proposeConfChange: (groupId, cc, deadlineMs) =>
      manager.proposeConfChange(
        groupId,
        { transition: cc.transition, changes: cc.changes.map((c) => ({ type: c.type, node: c.node as NodeId })) },
        deadlineMs,
      ),
    learnerLag: async (groupId, node) => {
      // Unknown (no leader now, the leader unreachable) is null: the learner is simply not promoted this step.
      const progress = await manager.leaderProgress(groupId, LEARNER_LAG_TIMEOUT_MS).catch(() => undefined);
      const p = progress?.get(node as NodeId);
      return p === undefined ? null : Math.max(0, p.lastIndex - p.match);
    },
    isLive: (node) => node === manager.nodeId || manager.transport.peerConnected(node as NodeId),
  };
}

/** How long one learner-lag question waits for the group's leader to answer. */
const LEARNER_LAG_TIMEOUT_MS = 2_000;

export class MembershipService {
  private timer: NodeJS.Timeout | undefined;
  /** One leader task (seed or reconcile step) at a time: a slow proposal must not pile up behind the timer. */
  private busy = false;
  private removed = false;
  private readonly reconciler: Reconciler | undefined;

  constructor(private readonly opts: MembershipOptions) {
    const m = opts.config.cluster.membership;
    this.reconciler =
      opts.driver === undefined
        ? undefined
        : new Reconciler({
            driver: opts.driver,
            groups: opts.manager.groupIds(),
            promoteLagEntriesMax: m.promoteLagEntriesMax,
            learnersCatchingUpPerNodeMax: m.snapshotSendsPerNodeMax,
            nodes: () => opts.machines.system.clusterNodes(),
            setState: (nodeId, from, to) => this.setState(nodeId, from, to),
            log: opts.log,
            stillLeader: () => this.reconciling(),
            metaGroup: groupNumber(MetaSystem),
          });
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.opts.config.cluster.membership.intervalMs);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** This node was removed (its row says so, or a peer refused its hello as removed_node). Reported once. */
  markRemoved(why: string): void {
    if (this.removed) return;
    this.removed = true;
    this.stop();
    this.opts.log('error', 'node.removed', { nodeId: this.opts.manager.nodeId, why });
    this.opts.onRemoved(why);
  }

  /**
   * An operator's removal of `ids` (POST /v1/api/cluster/nodes/remove): checked against the member list and every
   * group's configuration (checkRemoval: NODE_NOT_FOUND, NODE_ALREADY_LEAVING, TOO_MANY_AT_ONCE, QUORUM_AT_RISK),
   * then marked leaving; a node that is in no group's configuration (a join not yet taken up) is marked removed at
   * once — the reconciler's own rule, with nothing left for it to do. Any node may take the request: the state
   * changes are compare-and-set entries of meta:system.
   */
  async requestRemoval(ids: readonly number[]): Promise<{ node_id: number; state: string }[]> {
    await this.opts.executor.readBarrier(MetaSystem);
    const nodes = this.opts.machines.system.clusterNodes();
    const confs = this.opts.manager.groupIds().map((g) => this.confOf(g));
    const self = this.opts.manager.nodeId;
    const isLive = (n: number): boolean => n === self || this.opts.manager.transport.peerConnected(n as NodeId);
    const picked = checkRemoval(ids, nodes, confs, isLive);
    for (const n of picked) {
      if (this.opts.driver === undefined && confs.some((c) => inConf(c, n.nodeId))) {
        throw new MembershipError(
          'CONF_CHANGES_UNAVAILABLE',
          `node ${n.nodeId} is in the groups' configurations, and this node's Raft core cannot change them`,
          { node: n.nodeId },
        );
      }
    }
    const out: { node_id: number; state: string }[] = [];
    for (const n of picked) {
      await this.setState(n.nodeId, n.state, 'leaving');
      let state = 'leaving';
      if (!confs.some((c) => inConf(c, n.nodeId))) {
        await this.setState(n.nodeId, 'leaving', 'removed');
        state = 'removed';
      }
      this.opts.log('info', 'membership.removal', { node: n.nodeId, state });
      out.push({ node_id: n.nodeId, state });
    }
    return out;
  }

  /**
   * Whether this node runs the reconciler: it leads meta:system and is in that group's configuration (a leader that
   * has applied its own removal only hands the group over).
   */
  private reconciling(): boolean {
    return (
      !this.removed &&
      this.opts.executor.isLeader(MetaSystem) &&
      inConf(this.confOf(groupNumber(MetaSystem)), this.opts.manager.nodeId)
    );
  }

  /** A group's configuration: the driver's when wired in; otherwise staticConf. */
  confOf(groupId: number): ConfState {
    return this.opts.driver?.confState(groupId) ?? staticConf(this.opts.manager);
  }

  private async setState(
    nodeId: number,
    from: ClusterNodeRecord['state'],
    to: ClusterNodeRecord['state'],
  ): Promise<void> {
    const r = await this.opts.executor.executeSystem({ type: 'SetClusterNodeState', nodeId, from, to });
    if (r.type === 'Error') {
      throw new MembershipError('STATE_CHANGED', `node ${nodeId}: ${r.message}`, {
        node: nodeId,
        refusal: r.code,
      });
    }
  }

  private tick(): void {
    if (this.removed) return;
    const nodes = this.opts.machines.system.clusterNodes();
    this.syncPeers(nodes);
    if (this.removed || this.busy || !this.opts.executor.isLeader(MetaSystem)) return;
    this.busy = true;
    this.leaderWork(nodes)
      .catch((err: unknown) => {
        this.opts.log('warn', 'membership.leader_work_failed', { error: err instanceof Error ? err.message : err });
      })
      .finally(() => {
        this.busy = false;
      });
  }

  private syncPeers(nodes: readonly ClusterNodeRecord[]): void {
    const self = this.opts.manager.nodeId;
    const transport = this.opts.manager.transport;
    for (const n of nodes) {
      if (n.nodeId === self) {
        if (n.state === 'removed') this.markRemoved('meta:system lists this node as removed');
        continue;
      }
      if (n.state === 'removed') {
        transport.removePeer(n.nodeId as NodeId);
        continue;
      }
      const addr = parseHostPort(n.rpcAddr);
      if (typeof addr === 'string') {
        this.opts.log('warn', 'membership.bad_rpc_addr', { node: n.nodeId, rpc_addr: n.rpcAddr, error: addr });
        continue;
      }
      transport.addPeer({ nodeId: n.nodeId as NodeId, host: addr.host, port: addr.port });
    }
  }

  private async leaderWork(nodes: readonly ClusterNodeRecord[]): Promise<void> {
    const members = this.opts.config.cluster.members;
    if (nodes.length === 0) {
      if (this.opts.joined || members.length === 0) return;
      await this.opts.executor.executeSystem({
        type: 'SeedClusterNodes',
        nodes: members.map((m) => ({ nodeId: m.nodeId, rpcAddr: formatHostPort(m.rpcAddr), apiAddr: m.apiUrl })),
        createdAt: Date.now(),
      });
      this.opts.log('info', 'membership.seeded', { members: members.length });
      return;
    }
    await this.reconciler?.step();
  }
}
