/**
 * Folds the nodes' reports (GET /v1/api/cluster/overview) into one row per group, the rule of the CLI's
 * aggregate.ts: the term is the highest any reachable node reports; the leader is the one claimed at that term,
 * and only if that node itself answered (a SIGKILLed leader is still named by its followers until they time out);
 * each node's lag is the leader's applied index minus its own.
 */
import type { ClusterOverview, GroupReport } from './api.js';

export interface NodeCell {
  readonly role: string | null;
  readonly applied: number | null;
  /** Entries behind the leader's applied index; null with no leader or no report from the node. */
  readonly lag: number | null;
}

export interface GroupRow {
  readonly groupId: number;
  readonly name: string;
  readonly leader: number | null;
  readonly term: number;
  readonly voters: readonly number[];
  readonly learners: readonly number[];
  /** By node id, for every member. */
  readonly cells: ReadonlyMap<number, NodeCell>;
}

export function groupRows(overview: ClusterOverview): GroupRow[] {
  const reachable = new Set(overview.nodes.filter((n) => n.reachable).map((n) => n.node_id));
  const byName = new Map<string, { id: number; seen: { node: number; g: GroupReport }[] }>();
  for (const n of overview.nodes) {
    for (const g of n.groups ?? []) {
      const entry = byName.get(g.name) ?? { id: g.group_id, seen: [] };
      entry.seen.push({ node: n.node_id, g });
      byName.set(g.name, entry);
    }
  }
  const rows: GroupRow[] = [];
  for (const [name, { id, seen }] of byName) {
    const term = Math.max(0, ...seen.map((s) => s.g.term));
    const claim = seen.find((s) => s.g.term === term && s.g.leader !== null && reachable.has(s.g.leader));
    const leader = claim?.g.leader ?? null;
    const leaderReport = seen.find((s) => s.node === leader)?.g;
    // The leader applies a configuration first; without one, the most advanced node's view.
    const confFrom = leaderReport ?? [...seen].sort((a, b) => b.g.applied_index - a.g.applied_index)[0]?.g;
    const cells = new Map<number, NodeCell>();
    for (const n of overview.nodes) {
      const mine = seen.find((s) => s.node === n.node_id)?.g;
      const applied = mine?.applied_index ?? null;
      const lag =
        leaderReport === undefined || applied === null ? null : Math.max(0, leaderReport.applied_index - applied);
      cells.set(n.node_id, { role: mine?.role ?? null, applied, lag });
    }
    rows.push({
      groupId: id,
      name,
      leader,
      term,
      voters: confFrom?.voters ?? [],
      learners: confFrom?.learners ?? [],
      cells,
    });
  }
  return rows.sort((a, b) => a.groupId - b.groupId);
}

/** Groups each node leads, by node id. */
export function leadersPerNode(rows: readonly GroupRow[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const r of rows) if (r.leader !== null) counts.set(r.leader, (counts.get(r.leader) ?? 0) + 1);
  return counts;
}
