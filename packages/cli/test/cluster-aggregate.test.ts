/**
 * How the supervisor folds the nodes' views of a group into one: the leader is the one claimed at the highest
 * term, and only when that node is up; lag is measured from the leader's applied index; a node that did not
 * answer is null.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { aggregateGroups, leadersPerNode } from '../src/cluster/aggregate.js';
import type { NodeReport } from '../src/cluster/aggregate.js';

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
