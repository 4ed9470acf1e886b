/**
 * Scenario A2 — elections (Raft §5.2). Proves: every node starts as a follower; election timeouts come from the
 * seeded PRNG (same seed → same timeouts, different seeds → different ones, always in [et, 2et)); a split vote
 * elects nobody and the next (randomized) timeout settles it; each node grants one vote per term, to the first
 * candidate that asks; a candidate steps down on an append from a leader of its term. How: 3- and 4-node
 * in-memory networks where two candidates are started in the same turn and cuts decide who hears whom; Election
 * Safety (one leader per term) is checked on every run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateRole } from '../src/index.js';
import { Network } from './support/network.js';

test('A2: every node starts as a follower of term 0, with no leader', () => {
  const net = new Network({ size: 5 });
  for (const id of net.ids) {
    const s = net.node(id).status();
    assert.equal(s.role, StateRole.Follower);
    assert.equal(s.term, 0);
    assert.equal(s.lead, 0);
  }
});

/** The tick at which each node first campaigns, in a network where nobody can hear anybody. */
function firstCampaignTicks(seed: number): number[] {
  const net = new Network({ size: 5, seed });
  for (const id of net.ids) net.isolate(id);
  return net.ids.map((id) => {
    let t = 0;
    while (net.node(id).raft.role === StateRole.Follower && t < 100) {
      net.node(id).tick();
      t++;
    }
    return t;
  });
}

test('A2: election timeouts are randomized by the seeded PRNG: reproducible per seed, in [et, 2et)', () => {
  const a = firstCampaignTicks(11);
  assert.deepEqual(firstCampaignTicks(11), a, 'same seed, same timeouts');
  assert.notDeepEqual(firstCampaignTicks(12), a, 'another seed, other timeouts');
  const all = [11, 12, 13, 14, 15].flatMap(firstCampaignTicks);
  for (const t of all) assert.ok(t >= 10 && t < 20, `timeout ${t}`);
  assert.ok(new Set(all).size >= 5, 'timeouts spread over the range');
  assert.ok(new Set(a).size >= 2, 'nodes of one cluster do not share a timeout');
});

test('A2: a split vote elects nobody; the randomized timeout then elects exactly one leader', () => {
  const net = new Network({ size: 4, seed: 3 });
  // 3 only hears 1, 4 only hears 2: two votes each, and 3 are needed.
  net.cut(1, 4);
  net.cut(2, 3);
  net.node(1).campaign();
  net.node(2).campaign();
  net.deliver();
  assert.equal(net.node(1).raft.role, StateRole.Candidate);
  assert.equal(net.node(2).raft.role, StateRole.Candidate);
  assert.equal(net.node(3).raft.vote, 1);
  assert.equal(net.node(4).raft.vote, 2);
  assert.equal(net.leader(), undefined);
  net.recover();
  net.tickUntil(() => net.leader() !== undefined, 60);
  const leader = net.leader();
  assert.ok(leader !== undefined);
  assert.ok(leader.raft.term >= 2, 'won in a later term');
  assert.deepEqual(net.electionSafetyViolations(), []);
  net.propose(leader.id, 'x');
  for (const id of net.ids) assert.deepEqual(net.applied(id), ['x']);
});

test('A2: one vote per term, first come first served', () => {
  const net = new Network({ size: 3 });
  // Both campaign for term 1 in the same turn; node 3 hears node 1 first.
  net.node(1).campaign();
  net.node(2).campaign();
  const mark = net.mark();
  net.deliver();
  assert.equal(net.node(3).raft.vote, 1);
  const answers = net.since(mark, (m) => m.type === 'MsgVoteResp' && m.from === 3);
  assert.deepEqual(
    answers.map((m) => [m.to, m.type === 'MsgVoteResp' && m.reject]),
    [
      [1, false],
      [2, true],
    ],
  );
  assert.equal(net.node(1).raft.role, StateRole.Leader);
  assert.notEqual(net.node(2).raft.role, StateRole.Leader);
  assert.deepEqual(net.electionSafetyViolations(), []);
});

test('A2: a candidate steps down when a leader of its own term appends to it', () => {
  const net = new Network({ size: 3 });
  net.cut(2, 3); // 3 can only hear 1, and 1 wins with 2's vote
  net.node(1).campaign();
  net.node(3).campaign();
  assert.equal(net.node(3).raft.role, StateRole.Candidate);
  assert.equal(net.node(3).raft.term, 1);
  const mark = net.mark();
  net.deliver();
  assert.equal(net.node(1).raft.role, StateRole.Leader);
  assert.ok(net.since(mark, (m) => m.type === 'MsgApp' && m.to === 3 && m.term === 1).length > 0);
  assert.equal(net.node(3).raft.role, StateRole.Follower);
  assert.equal(net.node(3).raft.term, 1);
  assert.equal(net.node(3).raft.lead, 1);
});

test('A2: elections by ticking alone converge on one leader for many seeds', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const net = new Network({ size: 5, seed });
    net.tickUntil(() => net.leader() !== undefined, 100);
    net.ticks(5);
    const leaders = net.ids.filter((id) => net.node(id).raft.role === StateRole.Leader);
    assert.equal(leaders.length, 1, `seed ${seed}`);
    assert.deepEqual(net.electionSafetyViolations(), [], `seed ${seed}`);
  }
});
