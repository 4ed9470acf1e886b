/**
 * Scenario A14 — restart. Proves: term and vote survive a crash, so a restarted node cannot vote twice in a
 * term; a node whose state machine applied less than its durable commit index re-applies the difference, in
 * order, on restart; a restarted single-member cluster elects itself and keeps its data; a restarted follower
 * campaigns within one randomized election timeout (it does not wait for anything else). How: crash/restart in
 * the network harness, which keeps exactly what the node persisted through its Readys, and — for the applied
 * index — rolls the state machine's durable applied index back as a state machine that syncs lazily would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE, StateRole, nodeId } from '../src/index.js';
import { Network } from './support/network.js';

const ET = 10;

test('A14: term and vote survive a crash; the restarted node will not vote twice in that term', () => {
  const net = new Network({ size: 3 });
  net.isolate(3);
  net.campaign(1); // node 2 votes for 1 in term 1
  net.crash(2);
  net.restart(2);
  const s = net.node(2).status();
  assert.equal(s.term, 1);
  assert.equal(s.vote, 1);
  assert.equal(s.role, StateRole.Follower);
  assert.equal(s.lead, NONE);
  // Node 3 asks node 2 for its vote in the same term 1: refused.
  net.recover();
  net.cut(1, 3);
  net.node(3).campaign();
  const mark = net.mark();
  net.deliver();
  assert.deepEqual(
    net.since(mark, (m) => m.type === 'MsgVoteResp' && m.from === 2).map((m) => m.type === 'MsgVoteResp' && m.reject),
    [true],
  );
  assert.notEqual(net.node(3).raft.role, StateRole.Leader);
});

test('A14: a node whose applied index is behind its commit index re-applies the difference on restart', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  for (const v of ['a', 'b', 'c', 'd', 'e']) net.propose(1, v);
  net.ticks(1);
  net.crash(2);
  // Its state machine had made only the first two commands durable (index 3).
  const s = net.storage.get(nodeId(2))!;
  s.appliedIndex = 3;
  s.applied = s.applied.filter((a) => a.index <= 3);
  assert.deepEqual(net.applied(2), ['a', 'b']);
  net.isolate(2); // nothing from the leader: the replay comes from its own log
  net.restart(2);
  assert.equal(net.node(2).status().applied, 3);
  assert.equal(net.node(2).status().commit, 6);
  net.deliver();
  assert.deepEqual(net.applied(2), ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(
    s.applied.map((a) => a.index),
    [2, 3, 4, 5, 6],
    'in order, each once',
  );
});

test('A14: a restarted single-member cluster elects itself and keeps its data', () => {
  const net = new Network({ size: 1 });
  net.tickUntil(() => net.leader() !== undefined, 2 * ET);
  net.propose(1, 'a');
  net.crash(1);
  net.restart(1);
  assert.equal(net.node(1).raft.role, StateRole.Follower);
  const ticks = net.tickUntil(() => net.leader() !== undefined, 3 * ET);
  assert.ok(ticks >= ET && ticks < 2 * ET, `elected itself after ${ticks} ticks`);
  assert.equal(net.node(1).raft.term, 2);
  net.propose(1, 'b');
  assert.deepEqual(net.applied(1), ['a', 'b']);
});

test('A14: a restarted follower campaigns within one randomized election timeout', () => {
  for (let seed = 1; seed <= 5; seed++) {
    const net = new Network({ size: 3, preVote: true, checkQuorum: true, seed });
    net.campaign(1);
    net.propose(1, 'a');
    net.crash(1); // the leader is gone for good
    net.crash(2);
    net.restart(2);
    // Only node 2's clock runs, so nobody else's election can pre-empt its own.
    const ticks = net.tickUntil(() => net.node(2).raft.role !== StateRole.Follower, 4 * ET, [2]);
    assert.ok(ticks >= ET && ticks < 2 * ET, `seed ${seed}: campaigned after ${ticks} ticks`);
    net.tickUntil(() => net.leader() !== undefined, 4 * ET);
    const leader = net.leader();
    assert.ok(leader !== undefined && leader.id !== 1);
    net.propose(leader.id, 'b');
    for (const id of [2, 3]) assert.deepEqual(net.applied(id), ['a', 'b'], `seed ${seed}`);
  }
});

test('A14: a follower restarted with a snapshot resumes from it', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  for (const v of ['a', 'b', 'c']) net.propose(1, v);
  net.compact(2);
  net.crash(2);
  net.restart(2);
  assert.equal(net.node(2).status().firstIndex, 5);
  assert.equal(net.node(2).status().applied, 4);
  net.propose(1, 'd');
  assert.deepEqual(net.applied(2), ['a', 'b', 'c', 'd']);
});
