/**
 * How `kalam cluster up` and `kalam cluster status` show a ClusterStatus: a node table (id, state, pid, uptime,
 * API URL, RPC address, groups led, faults), one line with the spread of leaders against the leader balance's band,
 * and a compact group map — per group its term and, per node, "L" for
 * the leader, its applied-index lag behind the leader, "?" when unknown, "x" when the node is down — laid out
 * in as many side-by-side columns as the width allows. Cells stay uncoloured: formatTable pads by length, and
 * escape codes would skew the columns.
 */
import type { Output } from '../output.js';
import { formatDurationMs, formatTable } from '../output.js';
import type { ClusterStatus, GroupStatus, NodeStatus } from './types.js';

export function nodeTable(status: ClusterStatus): string[] {
  const state = (n: NodeStatus): string =>
    n.state === 'down' && n.lastExit !== null ? `down (${n.lastExit})` : n.state;
  return formatTable<NodeStatus>(
    [
      { title: 'node', value: (n) => String(n.id), align: 'right' },
      { title: 'state', value: state },
      { title: 'pid', value: (n) => (n.pid === null ? '-' : String(n.pid)), align: 'right' },
      { title: 'uptime', value: (n) => (n.uptimeMs === null ? '-' : formatDurationMs(n.uptimeMs)), align: 'right' },
      { title: 'api', value: (n) => n.apiUrl },
      { title: 'rpc', value: (n) => n.rpcAddr },
      { title: 'leads', value: (n) => String(status.leadersPerNode[String(n.id)] ?? 0), align: 'right' },
      { title: 'faults', value: (n) => (n.faults.length === 0 ? '-' : n.faults.join('; ')) },
    ],
    status.nodes,
  );
}

export function groupMap(status: ClusterStatus, width: number): string[] {
  const ids = status.nodes.map((n) => n.id);
  const down = new Set(status.nodes.filter((n) => n.state !== 'up').map((n) => n.id));
  const cell = (g: GroupStatus, id: number): string => {
    if (g.leader === id) return 'L';
    if (down.has(id)) return 'x';
    const lag = g.lag[String(id)];
    return lag === null || lag === undefined ? '?' : String(lag);
  };
  const rows = formatTable<GroupStatus>(
    [
      { title: 'group', value: (g) => (g.leader === null ? `${g.name}!` : g.name) },
      { title: 'term', value: (g) => String(g.term), align: 'right' },
      ...ids.map((id) => ({ title: `n${id}`, value: (g: GroupStatus) => cell(g, id), align: 'right' as const })),
    ],
    status.groups,
  );
  const [header = '', ...body] = rows;
  const visible = (s: string): number => s.length;
  const cellWidth = Math.max(visible(header), ...body.map(visible)) + 4;
  const columns = Math.max(1, Math.min(3, Math.floor(width / cellWidth)));
  const perColumn = Math.ceil(body.length / columns);
  const pad = (s: string): string => s + ' '.repeat(Math.max(0, cellWidth - visible(s)));
  const lines: string[] = [];
  lines.push(
    Array.from({ length: Math.min(columns, Math.max(1, body.length)) }, () => pad(header))
      .join('')
      .trimEnd(),
  );
  for (let r = 0; r < perColumn; r++) {
    const parts: string[] = [];
    for (let col = 0; col < columns; col++) {
      const row = body[col * perColumn + r];
      if (row !== undefined) parts.push(pad(row));
    }
    lines.push(parts.join('').trimEnd());
  }
  return lines;
}

/**
 * `leaders: node1 12, node2 12, node3 12 — balanced (11–13 per node up: 36 groups over 3 nodes, tolerance 1; 15
 * transfers)`; a node not up is marked so, and the verdict is "unbalanced" outside the band.
 */
export function leaderSpreadLine(status: ClusterStatus): string {
  const spread = status.nodes
    .map((n) => `node${n.id} ${status.leadersPerNode[String(n.id)] ?? 0}${n.state === 'up' ? '' : ` (${n.state})`}`)
    .join(', ');
  const b = status.leaderBalance;
  if (b.band === null) return `leaders: ${spread}`;
  const verdict = b.balanced ? 'balanced' : 'unbalanced';
  const nodes = `${b.nodesUp} node${b.nodesUp === 1 ? '' : 's'}`;
  const how = b.enabled
    ? `tolerance ${b.tolerance}; ${b.transfers} transfer${b.transfers === 1 ? '' : 's'} by the leader balance`
    : `tolerance ${b.tolerance}; the leader balance is off`;
  return `leaders: ${spread} — ${verdict} (${b.band.min}–${b.band.max} per node: ${status.groups.length} groups over ${nodes} up, ${how})`;
}

export function renderStatus(out: Output, status: ClusterStatus, width: number): string[] {
  const led = status.groups.filter((g) => g.leader !== null).length;
  const up = status.nodes.filter((n) => n.state === 'up').length;
  const headline = `cluster ${status.name} — ${up}/${status.nodes.length} nodes up, ${led}/${status.groups.length} groups with a leader (supervisor pid ${status.supervisorPid})`;
  const healthy = led === status.groups.length && up === status.nodes.length;
  return [
    healthy ? out.color.green(headline) : out.color.yellow(headline),
    '',
    ...nodeTable(status),
    '',
    leaderSpreadLine(status),
    'map: L leader, number = applied-index lag, ? unknown, x node not up, ! no leader',
    ...groupMap(status, width),
  ];
}
