/**
 * ALTER CLUSTER REMOVE NODE n [, m …] (issue [M9] §3): the SQL face of the removal API (`POST
 * /v1/api/cluster/nodes/remove`) — dba and system only, the same request to the node process (its checks, its codes:
 * NODE_NOT_FOUND, TOO_MANY_AT_ONCE, QUORUM_AT_RISK, …) and the same answer, one row per node with its new state
 * (`leaving`, or `removed` for a node no group had taken up yet). The statement only starts the removal: the
 * reconciler then takes the nodes out of every group (watch system.cluster_groups and system.cluster_nodes).
 */
import type { AlterClusterRemoveNode } from '@kalam/sql';
import { requireRole, type EngineContext, type StatementScope } from './context.js';
import { KalamError } from './errors.js';
import type { QueryResult } from './types.js';

export async function alterClusterRemoveNode(
  ctx: EngineContext,
  scope: StatementScope,
  s: AlterClusterRemoveNode,
): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'ALTER CLUSTER');
  if (ctx.removeNodes === undefined) {
    throw new KalamError('INVALID_INPUT', 'this node has no cluster members to remove (a standalone node)');
  }
  const rows = (await ctx.removeNodes(s.nodeIds)).map((n) => [n.node_id, n.state]);
  return {
    schema: [
      { name: 'node_id', data_type: 'BigInt', index: 0 },
      { name: 'state', data_type: 'Text', index: 1 },
    ],
    rows,
    row_count: rows.length,
    message: `${rows.length} node(s) leaving the cluster`,
  };
}
