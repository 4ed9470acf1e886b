/**
 * How `kalam cluster up` and `kalam cluster status` show a ClusterStatus: a node table (id, state, pid, uptime,
 * API URL, RPC address, state in the member list, groups led, faults), one line with the spread of leaders against
 * the leader balance's band, one line on membership (settled, or the changes in progress: nodes joining or leaving,
 * groups with learners), and a compact group map — per group its term and, per node, "L" for
 * the leader, its applied-index lag behind the leader ("+" before it for a learner), "-" for a node outside the
 * group's configuration, "?" when unknown, "x" when the node is down; "~" after a group's name while it is in a joint
 * configuration — laid out
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
      { title: 'member', value: (n) => n.member ?? '-' },
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
    const learner = g.learners.includes(id);
    // A group that reported its configuration and does not list the node: not (or no longer) a member of it.
    if (g.voters.length > 0 && !learner && !g.voters.includes(id)) return '-';
    if (down.has(id)) return 'x';
    const lag = g.lag[String(id)];
    return `${learner ? '+' : ''}${lag === null || lag === undefined ? '?' : String(lag)}`;
  };
  const rows = formatTable<GroupStatus>(
    [
      {
        title: 'group',
        value: (g) => `${g.name}${g.votersOutgoing.length > 0 ? '~' : ''}${g.leader === null ? '!' : ''}`,
      },
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

/**
 * `membership: settled — every group: voters 1,2,3` or `membership: changing — node 4 joining (voter in 10/36 groups,
 * learner in 2); node 1 leaving (voter in 30/36 groups)`: the nodes whose state in the member list is not `voter`
 * and the groups with learners, or whose voters differ from the others'.
 */
export function membershipLine(status: ClusterStatus): string {
  const groups = status.groups;
  const known = groups.filter((g) => g.voters.length > 0);
  if (known.length === 0) return 'membership: unknown (no node reported a configuration)';
  const confs = new Map<string, number>();
  for (const g of known) {
    const key = `voters ${g.voters.join(',')}${g.learners.length > 0 ? ` learners ${g.learners.join(',')}` : ''}`;
    confs.set(key, (confs.get(key) ?? 0) + 1);
  }
  const changing = status.nodes.filter((n) => n.member !== null && n.member !== 'voter');
  const ids = new Set([...changing.map((n) => n.id), ...known.flatMap((g) => g.learners)]);
  const joint = known.filter((g) => g.votersOutgoing.length > 0);
  if (changing.length === 0 && ids.size === 0 && confs.size === 1 && joint.length === 0) {
    return `membership: settled — every group: ${[...confs.keys()][0] ?? ''}`;
  }
  const parts = [...ids]
    .sort((a, b) => a - b)
    .map((id) => {
      const member = status.nodes.find((n) => n.id === id)?.member ?? 'not listed';
      const voterIn = known.filter((g) => g.voters.includes(id)).length;
      const learnerIn = known.filter((g) => g.learners.includes(id)).length;
      return `node ${id} ${member} (voter in ${voterIn}/${groups.length} groups${learnerIn > 0 ? `, learner in ${learnerIn}` : ''})`;
    });
  if (joint.length > 0) {
    const example = joint[0];
    const from =
      example === undefined
        ? ''
        : ` (e.g. ${example.name}: ${example.votersOutgoing.join(',')} → ${example.voters.join(',')})`;
    parts.push(`${joint.length} group(s) in a joint configuration${from}`);
  }
  if (confs.size > 1) {
    const spread = [...confs.entries()].map(([conf, n]) => `${n}× ${conf}`).join('; ');
    parts.push(`${confs.size} configurations: ${spread}`);
  }
  return `membership: changing — ${parts.join('; ')}`;
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
    membershipLine(status),
    'map: L leader, number = applied-index lag (+ a learner), - not in the group, ? unknown, x node not up, ! no leader, ~ joint configuration',
    ...groupMap(status, width),
  ];
}
