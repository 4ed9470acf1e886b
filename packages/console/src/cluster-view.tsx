/**
 * The live cluster map: one card per node (reachable, ready, groups it leads), and 36 groups × N nodes with the
 * leader, term, each node's role and applied lag, voters and learners. Polled every second: the overview endpoint
 * asks every node, so a killed node shows as unreachable and its groups' new leaders appear within a poll or two
 * of the election.
 */
import { clusterOverview } from './api.js';
import type { ClusterOverview, NodeOverview } from './api.js';
import { groupRows, leadersPerNode } from './cluster.js';
import type { GroupRow, NodeCell } from './cluster.js';
import { errorText, usePoll } from './poll.js';

const POLL_MS = 1000;

function NodeCard({ n, leads }: { n: NodeOverview; leads: number }) {
  const health = !n.reachable ? 'unreachable' : n.ready === true ? 'ready' : 'not ready';
  return (
    <div class={`node-card ${n.reachable ? 'ok' : 'down'}`} data-node={n.node_id} data-health={health}>
      <div class="node-title">
        node {n.node_id}
        {n.self && <span class="tag">serving this page</span>}
      </div>
      <div class="node-health">{health}</div>
      <div class="muted">{n.api_url ?? ''}</div>
      <div>
        state {n.state ?? '—'} · leads {leads} · {n.groups?.length ?? 0} groups
        {n.not_serving !== null && n.not_serving > 0 && ` · ${n.not_serving} not serving`}
      </div>
      {n.error !== null && <div class="error small">{n.error}</div>}
    </div>
  );
}

/** One node's view of one group: its role (L, F, C…), its applied index, and how far behind the leader it is. */
function Cell({ cell, isLeader }: { cell: NodeCell | undefined; isLeader: boolean }) {
  if (cell === undefined || cell.role === null) return <td class="cell none">—</td>;
  const behind = cell.lag !== null && cell.lag > 0;
  return (
    <td class={`cell ${isLeader ? 'leader' : cell.role.toLowerCase()}`} data-lag={cell.lag ?? ''}>
      {isLeader ? 'L' : cell.role.slice(0, 1).toUpperCase()}
      <span class="applied">{cell.applied ?? '?'}</span>
      {behind && <span class="lag">−{cell.lag}</span>}
    </td>
  );
}

function GroupTable({ rows, nodes }: { rows: readonly GroupRow[]; nodes: readonly NodeOverview[] }) {
  return (
    <table class="groups">
      <thead>
        <tr>
          <th>group</th>
          <th>leader</th>
          <th>term</th>
          {nodes.map((n) => (
            <th key={n.node_id}>node {n.node_id}</th>
          ))}
          <th>voters</th>
          <th>learners</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ group: g, cells }) => (
          <tr key={g.name} data-group={g.name} data-leader={g.leader ?? ''} data-term={g.term}>
            <td class="mono">{g.name}</td>
            <td class={g.leader === null ? 'no-leader' : ''}>{g.leader ?? 'none'}</td>
            <td>{g.term}</td>
            {nodes.map((n) => (
              <Cell key={n.node_id} cell={cells.get(n.node_id)} isLeader={g.leader === n.node_id} />
            ))}
            <td>
              {g.voters.join(', ')}
              {g.votersOutgoing.length > 0 && (
                <span class="muted small"> (joint: was {g.votersOutgoing.join(', ')})</span>
              )}
            </td>
            <td>{g.learners.join(', ')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ClusterView({ token, onError }: { token: string; onError: (err: unknown) => void }) {
  const { value, error, at } = usePoll<ClusterOverview>(() => clusterOverview(token), POLL_MS, onError);
  if (value === null) {
    return <p class={error === null ? 'muted' : 'error'}>{error === null ? 'Loading…' : errorText(error)}</p>;
  }
  const rows = groupRows(value);
  const leads = leadersPerNode(rows);
  const led = rows.filter((r) => r.group.leader !== null).length;
  return (
    <section>
      <h2>
        Cluster {value.cluster_id ?? '(standalone)'}
        <span class="muted small"> · as node {value.node_id} sees it</span>
      </h2>
      <p class="summary" data-groups={rows.length} data-led={led}>
        {rows.length} groups · {led} with a leader · {value.nodes.filter((n) => n.reachable).length} of{' '}
        {value.nodes.length} nodes reachable
        {at !== null && <span class="muted small"> · updated {new Date(at).toLocaleTimeString()}</span>}
        {error !== null && <span class="error small"> · last refresh failed: {errorText(error)}</span>}
      </p>
      <div class="nodes">
        {value.nodes.map((n) => (
          <NodeCard key={n.node_id} n={n} leads={leads.get(n.node_id) ?? 0} />
        ))}
      </div>
      <p class="legend muted small">
        L leader · F follower · C candidate / P pre-candidate · then the node's applied index, and −N: entries it has
        applied fewer than the leader
      </p>
      <GroupTable rows={rows} nodes={value.nodes} />
    </section>
  );
}
