/**
 * The rows of the cluster map: the server's folded groups (leader, term, applied and lag per node, voters, learners:
 * GET /v1/api/cluster/overview computes them by the rule `kalam cluster status` uses), with each node's own role in
 * the group as that node reported it.
 */
import type { ClusterGroup, ClusterOverview } from './api.js';

export interface NodeCell {
  /** null when the node did not answer (or does not host the group). */
  readonly role: string | null;
  readonly applied: number | null;
  /** Entries behind the leader's applied index; null with no leader or no report from the node. */
  readonly lag: number | null;
}

export interface GroupRow {
  readonly group: ClusterGroup;
  /** By node id, for every member. */
  readonly cells: ReadonlyMap<number, NodeCell>;
}

export function groupRows(overview: ClusterOverview): GroupRow[] {
  const roles = new Map<number, Map<string, string>>();
  for (const n of overview.nodes) roles.set(n.node_id, new Map((n.groups ?? []).map((g) => [g.name, g.role])));
  return overview.groups.map((group) => {
    const cells = new Map<number, NodeCell>();
    for (const n of overview.nodes) {
      const key = String(n.node_id);
      cells.set(n.node_id, {
        role: roles.get(n.node_id)?.get(group.name) ?? null,
        applied: group.applied[key] ?? null,
        lag: group.lag[key] ?? null,
      });
    }
    return { group, cells };
  });
}

/** Groups each node leads, by node id. */
export function leadersPerNode(rows: readonly GroupRow[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const { group } of rows) {
    if (group.leader !== null) counts.set(group.leader, (counts.get(group.leader) ?? 0) + 1);
  }
  return counts;
}
