/**
 * How the supervisor folds the nodes' views of a group into one: the leader is the one claimed at the highest
 * term, and only when that node is up; lag is measured from the leader's applied index; a node that did not
 * answer is null. And how it judges the spread of leaders against the leader balance's band (over the nodes up),
 * and the status line that shows it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { aggregateGroups, leaderBalanceOf, leadersPerNode } from '../src/cluster/aggregate.js';
import type { NodeReport } from '../src/cluster/aggregate.js';
import { leaderSpreadLine } from '../src/cluster/render.js';
import type { ClusterStatus, GroupStatus, NodeState } from '../src/cluster/types.js';

const group = (leader: number | null, term: number, applied: number) => ({
  group_id: 0,
  name: 'meta:system',
  leader,
  term,
  applied_index: applied,
});

test('the leader claimed at the highest term wins; lag is measured from it', () => {
  const reports: NodeReport[] = [
    { nodeId: 1, groups: [group(1, 3, 10)] }, // a stale claim of an old term
    { nodeId: 2, groups: [group(3, 4, 12)] },
    { nodeId: 3, groups: [group(3, 4, 15)] },
  ];
  const [g] = aggregateGroups([1, 2, 3, 4], reports, () => true);
  assert.deepEqual(g, {
    name: 'meta:system',
    id: 0,
    leader: 3,
    term: 4,
    applied: { '1': 10, '2': 12, '3': 15, '4': null },
    lag: { '1': 5, '2': 3, '3': 0, '4': null },
    voters: [],
    learners: [],
    votersOutgoing: [],
  });
  assert.deepEqual(leadersPerNode([1, 2, 3, 4], g === undefined ? [] : [g]), { '1': 0, '2': 0, '3': 1, '4': 0 });
});

test('a leader that is not up (killed, paused) leads nothing, though its followers still name it', () => {
  const reports: NodeReport[] = [
    { nodeId: 1, groups: [group(2, 5, 7)] },
    { nodeId: 3, groups: [group(2, 5, 7)] },
  ];
  const [g] = aggregateGroups([1, 2, 3], reports, (id) => id !== 2);
  assert.equal(g?.leader, null);
  assert.equal(g?.term, 5);
  assert.deepEqual(g?.lag, { '1': null, '2': null, '3': null });
});

test('a higher term with no leader yet (an election) means no leader, even if an older leader still claims', () => {
  const reports: NodeReport[] = [
    { nodeId: 1, groups: [group(1, 2, 7)] },
    { nodeId: 2, groups: [group(null, 3, 7)] },
  ];
  assert.equal(aggregateGroups([1, 2], reports, () => true)[0]?.leader, null);
});

/** 36 groups led as `led` says (node id → groups it leads), nodes 1…N in the given states, tolerance 1. */
function spread(led: Record<number, number>, states: NodeState[], enabled = true): ClusterStatus {
  const leaders = Object.entries(led).flatMap(([id, n]) => Array<number>(n).fill(Number(id)));
  const groups: GroupStatus[] = Array.from({ length: 36 }, (_, i) => ({
    name: `g${i}`,
    id: i,
    leader: leaders[i] ?? null,
    term: 1,
    applied: {},
    lag: {},
    voters: [1, 2, 3],
    learners: [],
    votersOutgoing: [],
  }));
  const ids = states.map((_, i) => i + 1);
  const perNode = leadersPerNode(ids, groups);
  const up = ids.filter((id) => states[id - 1] === 'up');
  const reports: NodeReport[] = up.map((nodeId) => ({
    nodeId,
    groups: [],
    balance: { enabled, tolerance: 1, transfers: 2 },
  }));
  return {
    name: 'c',
    dir: '/c',
    supervisorPid: 1,
    at: 0,
    nodes: states.map((state, i) => ({
      id: i + 1,
      state,
      pid: null,
      apiUrl: '',
      rpcAddr: '',
      uptimeMs: null,
      lastExit: null,
      faults: [],
      member: 'voter',
    })),
    groups,
    leadersPerNode: perNode,
    leaderBalance: leaderBalanceOf(reports, groups, perNode, up),
  };
}

test('the spread of leaders is judged against the band over the nodes up', () => {
  const balanced = spread({ 1: 12, 2: 13, 3: 11 }, ['up', 'up', 'up']);
  assert.deepEqual(balanced.leaderBalance, {
    enabled: true,
    tolerance: 1,
    nodesUp: 3,
    band: { min: 11, max: 13 },
    balanced: true,
    transfers: 6,
  });
  assert.equal(
    leaderSpreadLine(balanced),
    'leaders: node1 12, node2 13, node3 11 — balanced (11–13 per node: 36 groups over 3 nodes up, tolerance 1; ' +
      '6 transfers by the leader balance)',
  );
  const skewed = spread({ 1: 27, 2: 9 }, ['up', 'up', 'up']);
  assert.equal(skewed.leaderBalance.balanced, false);
  assert.match(leaderSpreadLine(skewed), /^leaders: node1 27, node2 9, node3 0 — unbalanced \(11–13 per node/);
  // Node 3 down: the share is over two nodes, and node 3 is marked, not counted.
  const failover = spread({ 1: 18, 2: 18 }, ['up', 'up', 'down']);
  assert.deepEqual(failover.leaderBalance.band, { min: 17, max: 19 });
  assert.equal(failover.leaderBalance.balanced, true);
  assert.match(leaderSpreadLine(failover), /^leaders: node1 18, node2 18, node3 0 \(down\) — balanced \(17–19/);
  // A group without a leader is never balanced; a balance that is off says so.
  assert.equal(spread({ 1: 12, 2: 12, 3: 11 }, ['up', 'up', 'up']).leaderBalance.balanced, false);
  assert.match(
    leaderSpreadLine(spread({ 1: 12, 2: 12, 3: 12 }, ['up', 'up', 'up'], false)),
    /the leader balance is off\)$/,
  );
  // No node answered: no band, only the counts.
  const none = spread({}, ['down', 'down', 'down']);
  assert.equal(none.leaderBalance.band, null);
  assert.equal(leaderSpreadLine(none), 'leaders: node1 0 (down), node2 0 (down), node3 0 (down)');
});
