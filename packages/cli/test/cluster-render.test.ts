/**
 * How the status shows membership ([M9] §3): each group's configuration is its leader's (the most advanced
 * node's without one); each node's state comes from the longest member list reported; the membership line says
 * "settled" or names the changes in progress (nodes joining or leaving, learners, joint configurations, groups whose
 * voters differ); the group map marks a learner's lag with "+", a node outside the group with "-" and a joint group
 * with "~".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { aggregateGroups, membersOf } from '../src/cluster/aggregate.js';
import type { NodeReport } from '../src/cluster/aggregate.js';
import { groupMap, membershipLine } from '../src/cluster/render.js';
import type { ClusterStatus, GroupStatus, NodeStatus } from '../src/cluster/types.js';

const g = (name: string, leader: number, applied: number, voters: number[], learners: number[] = []) => ({
  group_id: 0,
  name,
  leader,
  term: 2,
  applied_index: applied,
  voters,
  learners,
});

test("a group's configuration is its leader's; without a leader the most advanced node's", () => {
  const reports: NodeReport[] = [
    // Node 1 leads and has applied node 4's promotion; node 2 has not yet.
    { nodeId: 1, groups: [{ ...g('meta:system', 1, 20, [1, 2, 3, 4]), voters_outgoing: [3, 1, 2] }] },
    { nodeId: 2, groups: [g('meta:system', 1, 18, [1, 2, 3], [4])] },
  ];
  assert.deepEqual(
    aggregateGroups([1, 2, 3, 4], reports, () => true).map((x) => [x.voters, x.learners, x.votersOutgoing]),
    [[[1, 2, 3, 4], [], [1, 2, 3]]],
  );
  // The leader is down: the node that applied the most speaks for the group.
  const leaderless: NodeReport[] = [
    { nodeId: 2, groups: [g('meta:system', 1, 18, [1, 2, 3], [4])] },
    { nodeId: 3, groups: [g('meta:system', 1, 19, [2, 3, 4], [])] },
  ];
  const [only] = aggregateGroups([1, 2, 3, 4], leaderless, (id) => id !== 1);
  assert.deepEqual([only?.leader, only?.voters, only?.learners], [null, [2, 3, 4], []]);
  // The member list: the longest one reported (a node behind may not know the newest row).
  const withMembers: NodeReport[] = [
    { nodeId: 2, groups: [], members: [{ nodeId: 1, state: 'voter' }] },
    {
      nodeId: 3,
      groups: [],
      members: [
        { nodeId: 1, state: 'leaving' },
        { nodeId: 4, state: 'joining' },
      ],
    },
  ];
  assert.deepEqual(
    [...membersOf(withMembers)],
    [
      [1, 'leaving'],
      [4, 'joining'],
    ],
  );
});

function node(id: number, member: string | null, state: NodeStatus['state'] = 'up'): NodeStatus {
  const n = { id, state, pid: 1, apiUrl: '', rpcAddr: '', uptimeMs: 1, lastExit: null, faults: [] };
  return { ...n, member };
}

function group(
  name: string,
  leader: number,
  voters: number[],
  learners: number[] = [],
  votersOutgoing: number[] = [],
): GroupStatus {
  const lag: Record<string, number> = { '1': 0, '2': 0, '3': 0, '4': 7 };
  return { name, id: 0, leader, term: 1, applied: {}, lag, voters, learners, votersOutgoing };
}

function status(nodes: NodeStatus[], groups: GroupStatus[]): ClusterStatus {
  return {
    name: 'c',
    dir: '/c',
    supervisorPid: 1,
    at: 0,
    nodes,
    groups,
    leadersPerNode: {},
    leaderBalance: { enabled: true, tolerance: 1, nodesUp: 3, band: null, balanced: false, transfers: 0 },
  };
}

test('the membership line: settled, or what is changing', () => {
  const settled = status(
    [node(1, 'voter'), node(2, 'voter'), node(3, 'voter')],
    [group('a', 1, [1, 2, 3]), group('b', 2, [1, 2, 3])],
  );
  assert.equal(membershipLine(settled), 'membership: settled — every group: voters 1,2,3');

  const joining = status(
    [node(1, 'voter'), node(2, 'voter'), node(3, 'voter'), node(4, 'joining')],
    [group('a', 1, [1, 2, 3, 4]), group('b', 2, [1, 2, 3], [4]), group('c', 3, [1, 2, 3])],
  );
  assert.equal(
    membershipLine(joining),
    'membership: changing — node 4 joining (voter in 1/3 groups, learner in 1); 3 configurations: ' +
      '1× voters 1,2,3,4; 1× voters 1,2,3 learners 4; 1× voters 1,2,3',
  );
  const map = groupMap(joining, 40).join('\n');
  assert.match(map, /^a\s+1\s+L\s+0\s+0\s+7$/m, 'a voter: its lag');
  assert.match(map, /^b\s+1\s+0\s+L\s+0\s+\+7$/m, 'a learner: + and its lag');
  assert.match(map, /^c\s+1\s+0\s+0\s+L\s+-$/m, 'outside the group: -');

  // Node 4 being promoted in group b: joint, the old voters 1,2,3 must agree too.
  const joint = status(
    [node(1, 'voter'), node(2, 'voter'), node(3, 'voter'), node(4, 'joining')],
    [group('a', 1, [1, 2, 3, 4]), group('b', 2, [1, 2, 3, 4], [], [1, 2, 3])],
  );
  assert.match(
    membershipLine(joint),
    /^membership: changing — node 4 joining \(voter in 2\/2 groups\); 1 group\(s\) in a joint configuration \(e\.g\. b: 1,2,3 → 1,2,3,4\)$/,
  );
  assert.match(groupMap(joint, 40).join('\n'), /^b~\s+1\s+0\s+L\s+0\s+7$/m, 'a joint group is marked ~');
  // Settled only when no group is joint.
  const stillJoint = status([node(1, 'voter'), node(2, 'voter')], [group('a', 1, [1, 2], [], [1, 2, 3])]);
  assert.match(membershipLine(stillJoint), /^membership: changing — 1 group\(s\) in a joint configuration/);

  const leaving = status([node(1, 'leaving', 'down'), node(2, 'voter'), node(3, 'voter')], [group('a', 2, [2, 3])]);
  assert.equal(membershipLine(leaving), 'membership: changing — node 1 leaving (voter in 0/1 groups)');
  assert.equal(
    membershipLine(status([node(1, null)], [group('a', 1, [])])),
    'membership: unknown (no node reported a configuration)',
  );
});
