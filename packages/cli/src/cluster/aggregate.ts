/**
 * Folds what each node says about its groups (GET /v1/api/cluster/status) into one GroupStatus per group, the
 * way an operator reads it: the term is the highest any node reports; the leader is the one claimed at that
 * term by any node, and only if that node is up (a SIGKILLed or SIGSTOPped leader is still named by its
 * followers until they time out; it serves nobody); lag is the leader's applied index minus each node's.
 * Pure, so the rule is tested without processes.
 */
import { leaderShareBand } from '@kalam/server';

import type { GroupStatus, LeaderBalanceSummary, NodeId } from './types.js';

/** One group as one node reported it (the fields of the server's GroupStatus that matter here). */
export interface NodeGroupReport {
  readonly group_id: number;
  readonly name: string;
  readonly leader: number | null;
  readonly term: number;
  readonly applied_index: number;
  /** The group's configuration as that node applied it (absent from nodes older than [M9]). */
  readonly voters?: readonly number[];
  readonly learners?: readonly number[];
  /** The outgoing voters while the group is in a joint configuration (absent from nodes before it was reported). */
  readonly voters_outgoing?: readonly number[];
}

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

export function aggregateGroups(
  nodeIds: readonly NodeId[],
  reports: readonly NodeReport[],
  isUp: (id: NodeId) => boolean,
): GroupStatus[] {
  const byName = new Map<string, { id: number; seen: { node: NodeId; g: NodeGroupReport }[] }>();
  for (const report of reports) {
    for (const g of report.groups) {
      const entry = byName.get(g.name) ?? { id: g.group_id, seen: [] };
      entry.seen.push({ node: report.nodeId, g });
      byName.set(g.name, entry);
    }
  }
  const groups: GroupStatus[] = [];
  for (const [name, { id, seen }] of byName) {
    const term = Math.max(0, ...seen.map((s) => s.g.term));
    const claim = seen.find((s) => s.g.term === term && s.g.leader !== null && isUp(s.g.leader));
    const leader = claim?.g.leader ?? null;
    const applied: Record<string, number | null> = {};
    for (const nodeId of nodeIds) {
      applied[String(nodeId)] = seen.find((s) => s.node === nodeId)?.g.applied_index ?? null;
    }
    const leaderApplied = leader === null ? null : (applied[String(leader)] ?? null);
    const lag: Record<string, number | null> = {};
    for (const nodeId of nodeIds) {
      const mine = applied[String(nodeId)] ?? null;
      lag[String(nodeId)] = leaderApplied === null || mine === null ? null : Math.max(0, leaderApplied - mine);
    }
    // The leader applies a configuration first; without one, the most advanced node's view.
    const conf =
      seen.find((s) => s.node === leader && s.g.voters !== undefined) ??
      [...seen].filter((s) => s.g.voters !== undefined).sort((a, b) => b.g.applied_index - a.g.applied_index)[0];
    const voters = [...(conf?.g.voters ?? [])].sort((a, b) => a - b);
    const learners = [...(conf?.g.learners ?? [])].sort((a, b) => a - b);
    const votersOutgoing = [...(conf?.g.voters_outgoing ?? [])].sort((a, b) => a - b);
    groups.push({ name, id, leader, term, applied, lag, voters, learners, votersOutgoing });
  }
  return groups.sort((a, b) => a.id - b.id);
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
