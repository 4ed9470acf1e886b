/**
 * What the supervisor makes of the nodes' reports (GET /v1/api/cluster/status): one GroupStatus per group by the
 * server's aggregateGroups (the rule the console's overview uses too), the members, the leader balance. Pure, so
 * the rules are tested without processes.
 */
import { leaderShareBand } from '@kalam/server';
import type { NodeGroupReport } from '@kalam/server';

import type { GroupStatus, LeaderBalanceSummary, NodeId } from './types.js';

export { aggregateGroups } from '@kalam/server';
export type { NodeGroupReport } from '@kalam/server';

/** A node's leader balance (the fields of the server's LeaderBalanceStatus that matter here). */
export interface NodeBalanceReport {
  readonly enabled: boolean;
  readonly tolerance: number;
  readonly transfers: number;
}

export interface NodeReport {
  readonly nodeId: NodeId;
  readonly groups: readonly NodeGroupReport[];
  /** Absent when the node did not say (an older node). */
  readonly balance?: NodeBalanceReport;
  /** The cluster's member list as that node applied it (system.cluster_nodes: id and state). */
  readonly members?: readonly { readonly nodeId: NodeId; readonly state: string | null }[];
}

/**
 * Each member's state in the replicated list, from the report that lists the most members (a node that is behind
 * may not know the newest rows yet; the list only grows, a removed node keeps its row).
 */
export function membersOf(reports: readonly NodeReport[]): Map<NodeId, string | null> {
  let best: NodeReport['members'] = [];
  for (const r of reports) if (r.members !== undefined && r.members.length > best.length) best = r.members;
  return new Map(best.map((m) => [m.nodeId, m.state]));
}

/**
 * The spread of leadership against the band of the nodes' leader balance, computed for the nodes up (a node that is
 * down leads nothing and is not counted in the share). The tolerance is the first reporting node's: the key should
 * be the same on every node.
 */
export function leaderBalanceOf(
  reports: readonly NodeReport[],
  groups: readonly GroupStatus[],
  perNode: Readonly<Record<string, number>>,
  upIds: readonly NodeId[],
): LeaderBalanceSummary {
  const balances = reports.flatMap((r) => (r.balance === undefined ? [] : [r.balance]));
  const tolerance = balances[0]?.tolerance ?? null;
  const band =
    tolerance === null || upIds.length === 0 ? null : leaderShareBand(groups.length, upIds.length, tolerance);
  const led = groups.every((g) => g.leader !== null);
  const inBand = (id: NodeId): boolean => {
    const n = perNode[String(id)] ?? 0;
    return band !== null && n >= band.min && n <= band.max;
  };
  return {
    enabled: balances.length > 0 && balances.every((b) => b.enabled),
    tolerance,
    nodesUp: upIds.length,
    band,
    balanced: band !== null && led && upIds.every(inBand),
    transfers: balances.reduce((sum, b) => sum + b.transfers, 0),
  };
}

export function leadersPerNode(nodeIds: readonly NodeId[], groups: readonly GroupStatus[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const id of nodeIds) counts[String(id)] = 0;
  for (const g of groups) if (g.leader !== null) counts[String(g.leader)] = (counts[String(g.leader)] ?? 0) + 1;
  return counts;
}
