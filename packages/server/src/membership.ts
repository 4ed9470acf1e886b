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
import { MetaSystem } from '@kalam/kalamdb';
import type { ClusterNodeRecord, CommandExecutor, StateMachines } from '@kalam/kalamdb';
import type { RaftManager } from '@kalam/multiraft';

import { formatHostPort, parseHostPort } from './config.js';
import type { ClusterNodeConfig } from './config.js';
import { Reconciler } from './reconciler.js';
import type { MembershipDriver } from './reconciler.js';
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
            setState: async (nodeId, from, to) => {
              const r = await opts.executor.executeSystem({ type: 'SetClusterNodeState', nodeId, from, to });
              if (r.type === 'Error') throw new Error(`SetClusterNodeState ${nodeId} ${from}→${to}: ${r.message}`);
            },
            log: opts.log,
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
