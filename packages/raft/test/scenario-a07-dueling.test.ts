/**
 * Scenario A7 — dueling candidates and pre-candidates; disruptive rejoins (etcd TestDuelingCandidates,
 * TestDuelingPreCandidates, TestDisruptiveFollowerPreVote, TestFreeStuckCandidateWithCheckQuorum; thesis §9.6).
 * Proves: a candidate with a stale log cannot win, though without PreVote its higher term does depose the
 * leader; with PreVote the same stale node changes nobody's term; a node cut off for many timeouts rejoins
 * without deposing a healthy leader when PreVote is on (and does depose it without PreVote, the contrast that
 * shows the check can fail); and CheckQuorum frees a cluster whose one node is stuck in a higher term. How:
 * 3-node networks with cuts; terms and roles are read after each step, Election Safety checked throughout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateRole } from '../src/index.js';
import { Network } from './support/network.js';

test('A7: dueling candidates — a stale candidate deposes the leader by term but cannot win', () => {
  const net = new Network({ size: 3 });
  net.cut(1, 3);
  net.campaign(1); // wins term 1 with node 2's vote
  net.campaign(3); // term 1 too: node 2 already voted
  assert.equal(net.node(1).raft.role, StateRole.Leader);
  assert.equal(net.node(3).raft.role, StateRole.Candidate);
  net.recover();
  net.campaign(3); // term 2: its log (0 entries) is behind the others' no-op, so nobody grants
  assert.equal(net.node(1).raft.role, StateRole.Follower, 'the higher term deposed node 1');
  assert.equal(net.node(3).raft.role, StateRole.Follower, 'and node 3 lost');
  for (const id of net.ids) assert.equal(net.node(id).raft.term, 2);
  net.tickUntil(() => net.leader() !== undefined, 60);
  assert.notEqual(net.leader()?.id, 3);
  net.propose(net.leader()!.id, 'x');
  for (const id of net.ids) assert.deepEqual(net.applied(id), ['x']);
  assert.deepEqual(net.electionSafetyViolations(), []);
});

test('A7: dueling pre-candidates — with PreVote the stale node disturbs nobody', () => {
  const net = new Network({ size: 3, preVote: true });
  net.cut(1, 3);
  net.campaign(1);
  net.campaign(3); // pre-vote to node 2 only: refused, its log is behind
  assert.equal(net.node(1).raft.role, StateRole.Leader);
  assert.equal(net.node(3).raft.role, StateRole.Follower);
  net.recover();
  net.campaign(3);
  assert.equal(net.node(1).raft.role, StateRole.Leader, 'not deposed');
  for (const id of net.ids) assert.equal(net.node(id).raft.term, 1, 'no term moved');
  net.propose(1, 'x');
  net.ticks(1); // node 3's probe was lost to the cut: the next heartbeat answer resumes it
  for (const id of net.ids) assert.deepEqual(net.applied(id), ['x']);
});

test('A7: two up-to-date pre-candidates at once: both may pass PreVote, one real election wins', () => {
  const net = new Network({ size: 3, preVote: true });
  net.node(1).campaign();
  net.node(2).campaign();
  net.deliver();
  const leaders = net.ids.filter((id) => net.node(id).raft.role === StateRole.Leader);
  assert.equal(leaders.length, 1);
  net.tickUntil(() => net.leader() !== undefined, 60);
  assert.deepEqual(net.electionSafetyViolations(), []);
});

for (const preVote of [true, false]) {
  test(`A7: a node cut off for many timeouts rejoins ${preVote ? 'without deposing' : 'and deposes'} the leader (PreVote ${preVote})`, () => {
    const net = new Network({ size: 3, preVote, checkQuorum: true, seed: 5 });
    net.campaign(1);
    net.propose(1, 'a');
    net.isolate(3);
    net.ticks(100); // node 3 times out again and again
    if (preVote) assert.equal(net.node(3).raft.term, 1, 'pre-votes never raise its term');
    else assert.ok(net.node(3).raft.term > 5, 'without PreVote every timeout raised its term');
    net.recover();
    net.ticks(30);
    const leader = net.leader();
    assert.ok(leader !== undefined);
    if (preVote) {
      assert.equal(leader.id, 1);
      assert.equal(leader.raft.term, 1, 'the healthy leader kept its term');
    } else {
      assert.ok(leader.raft.term > 1, 'the rejoining node forced a new election');
    }
    net.propose(leader.id, 'b');
    for (const id of net.ids) assert.deepEqual(net.applied(id), ['a', 'b']);
    assert.deepEqual(net.electionSafetyViolations(), []);
  });
}

test('A7: CheckQuorum frees a cluster whose one node is stuck in a higher term', () => {
  const net = new Network({ size: 3, checkQuorum: true });
  net.campaign(1);
  net.isolate(1);
  net.campaign(3); // node 2 heard from leader 1 lately: it ignores the vote (lease)
  assert.equal(net.node(3).raft.role, StateRole.Candidate);
  assert.equal(net.node(3).raft.term, 2);
  assert.equal(net.node(2).raft.term, 1);
  net.campaign(3);
  assert.equal(net.node(3).raft.term, 3, 'stuck: it can never collect a vote');
  net.recover();
  // Node 1's next heartbeat reaches node 3, whose answer carries term 3: node 1 steps down.
  net.ticks(1);
  assert.equal(net.node(1).raft.role, StateRole.Follower);
  assert.equal(net.node(1).raft.term, 3);
  net.campaign(3); // term 4, and now its votes count
  assert.equal(net.node(3).raft.role, StateRole.Leader);
  net.propose(3, 'x');
  for (const id of net.ids) assert.deepEqual(net.applied(id), ['x']);
  assert.deepEqual(net.electionSafetyViolations(), []);
});
