/**
 * Scenario A9 — partial and one-way partitions (openraft #2080; etcd's CheckQuorum + PreVote rationale). Proves
 * that, with PreVote and CheckQuorum on, the cluster makes progress whenever a quorum is connected: a leader
 * that reaches only a bridge node either keeps a quorum through it or steps down so the other side can elect;
 * a leader that can send but not receive steps down; a leader that can receive but not send is replaced; and a
 * node on the far side of a bridge cannot disrupt. The contrast run (no CheckQuorum) shows the one-way case
 * stuck, so the check can fail. How: drop rules per direction in the in-memory network, then proposals whose
 * application is checked on a quorum, within a bounded number of ticks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RawNode } from '../src/index.js';
import { StateRole } from '../src/index.js';
import { Network, enc } from './support/network.js';

const ET = 10;

/** Proposes on the current leader (if any) and reports whether the write is applied on `quorum` nodes. */
function writeCommits(net: Network, value: string, quorum: readonly number[]): boolean {
  const leader = net.leader();
  if (leader === undefined) return false;
  try {
    leader.propose(enc(value));
  } catch {
    return false; // not leader any more, or transferring: the write is refused, which is not progress
  }
  net.ticks(3);
  return quorum.every((id) => net.applied(id).includes(value));
}

function onlyLeader(net: Network): RawNode {
  const leaders = net.ids.filter((id) => !net.down.has(id) && net.node(id).raft.role === StateRole.Leader);
  const newest = net.leader();
  assert.ok(newest !== undefined);
  // A stale leader may linger on the minority side, but never two in one term.
  assert.ok(leaders.every((id) => id === newest.id || net.node(id).raft.term < newest.raft.term));
  return newest;
}

test('A9: A–bridge–B on three nodes: the leader keeps its quorum through the bridge; B cannot disrupt', () => {
  const net = new Network({ size: 3, preVote: true, checkQuorum: true, seed: 2 });
  net.campaign(1);
  net.cut(1, 3); // 1 – 2 – 3
  net.ticks(20 * ET);
  assert.equal(onlyLeader(net).id, 1);
  assert.equal(net.node(1).raft.term, 1, 'node 3 never got its term raised past the leader');
  assert.ok(writeCommits(net, 'x', [1, 2]));
  net.recover();
  net.ticks(3);
  assert.deepEqual(net.applied(3), ['x']);
  assert.deepEqual(net.electionSafetyViolations(), []);
});

test('A9: A–bridge–B on five nodes: the old leader reaches only the bridge, the far side takes over', () => {
  const net = new Network({ size: 5, preVote: true, checkQuorum: true, seed: 4 });
  net.campaign(1);
  net.propose(1, 'a');
  for (const id of [3, 4, 5]) net.cut(1, id); // {1} – 2 – {3, 4, 5}
  net.tickUntil(() => net.leader()?.id !== 1 && net.leader() !== undefined, 10 * ET);
  const leader = onlyLeader(net);
  assert.ok([2, 3, 4, 5].includes(leader.id));
  // The old leader may linger for the rest of its CheckQuorum round (at a lower term), but not longer.
  net.tickUntil(() => net.node(1).raft.role !== StateRole.Leader, 2 * ET);
  assert.ok(writeCommits(net, 'b', [3, 4, 5]));
  const term = leader.raft.term;
  net.ticks(20 * ET);
  assert.equal(onlyLeader(net).raft.term, term, 'the cut-off node does not disrupt the new leader');
  net.recover();
  net.ticks(5);
  for (const id of net.ids) assert.deepEqual(net.applied(id), ['a', 'b']);
  assert.deepEqual(net.electionSafetyViolations(), []);
});

test('A9: a leader that can send but not receive steps down, and the others elect a new one', () => {
  const net = new Network({ size: 3, preVote: true, checkQuorum: true, seed: 3 });
  net.campaign(1);
  net.oneWay(2, 1);
  net.oneWay(3, 1);
  const ticks = net.tickUntil(() => net.leader() !== undefined && net.leader()?.id !== 1, 10 * ET);
  assert.ok(ticks <= 4 * ET, `new leader after ${ticks} ticks`);
  assert.notEqual(net.node(1).raft.role, StateRole.Leader);
  assert.ok(writeCommits(net, 'x', [2, 3]));
  assert.deepEqual(net.electionSafetyViolations(), []);
});

test('A9: without CheckQuorum, the same send-only leader holds the cluster hostage', () => {
  const net = new Network({ size: 3, preVote: true, checkQuorum: false, seed: 3 });
  net.campaign(1);
  net.oneWay(2, 1);
  net.oneWay(3, 1);
  net.ticks(10 * ET);
  assert.equal(net.node(1).raft.role, StateRole.Leader, 'it never hears that nobody answers');
  assert.equal(net.leader()?.id, 1, 'and its heartbeats keep the others from electing');
  assert.equal(writeCommits(net, 'x', [1]), false, 'no write commits');
});

test('A9: a leader that can receive but not send is replaced, and then follows the new leader', () => {
  const net = new Network({ size: 3, preVote: true, checkQuorum: true, seed: 6 });
  net.campaign(1);
  net.oneWay(1, 2);
  net.oneWay(1, 3);
  net.tickUntil(() => net.node(1).raft.role !== StateRole.Leader, 10 * ET);
  const leader = onlyLeader(net);
  assert.ok(leader.id === 2 || leader.id === 3);
  assert.equal(net.node(1).raft.lead, leader.id, 'the old leader hears the new one');
  assert.ok(writeCommits(net, 'x', [2, 3]));
  net.recover();
  net.ticks(3);
  for (const id of net.ids) assert.deepEqual(net.applied(id), ['x']);
  assert.deepEqual(net.electionSafetyViolations(), []);
});

test('A9: a minority side never commits, and the majority side keeps serving', () => {
  const net = new Network({ size: 5, preVote: true, checkQuorum: true, seed: 8 });
  net.campaign(1);
  // {1, 2} | {3, 4, 5}
  for (const a of [1, 2]) for (const b of [3, 4, 5]) net.cut(a, b);
  net.node(1).propose(enc('minority'));
  net.tickUntil(() => net.leader() !== undefined && net.leader()!.id >= 3, 10 * ET);
  assert.ok(writeCommits(net, 'majority', [3, 4, 5]));
  for (const id of net.ids) assert.ok(!net.applied(id).includes('minority'));
  net.recover();
  net.ticks(5);
  for (const id of net.ids) assert.deepEqual(net.applied(id), ['majority']);
  assert.deepEqual(net.safetyViolations(), []);
});
