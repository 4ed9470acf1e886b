/**
 * Folds what each node says about its groups (GET /v1/api/cluster/status) into one view per group, the way an
 * operator reads it: the term is the highest any node reports; the leader is the one claimed at that term by any
 * node, and only if that node is up (a SIGKILLed or SIGSTOPped leader is still named by its followers until they time
 * out; it serves nobody); lag is the leader's applied index minus each node's. One rule for every reader: `kalam
 * cluster status` (the CLI's supervisor) and GET /v1/api/cluster/overview (the console's map). Pure, so the rule is
 * tested without processes (packages/cli/test/cluster-aggregate.test.ts).
 */

/** One group as one node reported it (the fields of GroupStatus, runtime.ts, that matter here). */
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

/** One group across the cluster (the CLI's GroupStatus; the `groups` of GET /v1/api/cluster/overview). */
export interface ClusterGroupView {
  readonly name: string;
  readonly id: number;
  /** null when no reachable node knows a leader. */
  readonly leader: number | null;
  readonly term: number;
  /** Applied index per node id (null: the node is down or did not answer). */
  readonly applied: Readonly<Record<string, number | null>>;
  /** Leader's applied index minus each node's (null: unknown). */
  readonly lag: Readonly<Record<string, number | null>>;
  /**
   * The group's voters and learners (node ids, ascending) as its leader has applied its configuration (the
   * reporting node with the highest applied index when no leader is known); empty when no node reported them.
   */
  readonly voters: readonly number[];
  readonly learners: readonly number[];
  /** While the group is in a joint configuration (a change half done): the outgoing voters; empty otherwise. */
  readonly votersOutgoing: readonly number[];
}

/** What one node reported: its id and its groups. */
export interface NodeGroupsReport {
  readonly nodeId: number;
  readonly groups: readonly NodeGroupReport[];
}

export function aggregateGroups(
  nodeIds: readonly number[],
  reports: readonly NodeGroupsReport[],
  isUp: (id: number) => boolean,
): ClusterGroupView[] {
  const byName = new Map<string, { id: number; seen: { node: number; g: NodeGroupReport }[] }>();
  for (const report of reports) {
    for (const g of report.groups) {
      const entry = byName.get(g.name) ?? { id: g.group_id, seen: [] };
      entry.seen.push({ node: report.nodeId, g });
      byName.set(g.name, entry);
    }
  }
  const groups: ClusterGroupView[] = [];
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
