/**
 * Scenario A8 — CheckQuorum (thesis §6.2) and the leader lease it gives followers (§4.2.3). Proves: a leader
 * that hears from no quorum within an election timeout steps down (and without CheckQuorum it would lead an
 * empty room forever); a leader that hears from a quorum stays; followers that heard from a leader within an
 * election timeout ignore vote requests — no answer, no term change — and grant them again once the lease has
 * run out. How: 3-node networks with cuts, counting ticks and reading roles, terms and the message trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateRole } from '../src/index.js';
import { Network } from './support/network.js';

const ET = 10;

test('A8: an isolated leader steps down within two election timeouts with CheckQuorum', () => {
  const net = new Network({ size: 3, checkQuorum: true });
  net.campaign(1);
  net.isolate(1);
  const ticks = net.tickUntil(() => net.node(1).raft.role !== StateRole.Leader, 3 * ET, [1]);
  assert.ok(ticks > ET - 1 && ticks <= 2 * ET, `stepped down after ${ticks} ticks`);
  assert.equal(net.node(1).raft.term, 1, 'stepping down alone does not change the term');
  assert.equal(net.node(1).raft.lead, 0);
});

test('A8: without CheckQuorum an isolated leader keeps believing it leads', () => {
  const net = new Network({ size: 3, checkQuorum: false });
  net.campaign(1);
  net.isolate(1);
  net.ticks(10 * ET, [1]);
  assert.equal(net.node(1).raft.role, StateRole.Leader);
});

test('A8: a leader that hears from a quorum keeps leading', () => {
  const net = new Network({ size: 3, checkQuorum: true, preVote: true });
  net.campaign(1);
  net.cut(1, 3); // node 2 alone is enough: 2 of 3
  net.ticks(10 * ET);
  assert.equal(net.node(1).raft.role, StateRole.Leader);
  assert.equal(net.node(1).raft.term, 1);
  net.propose(1, 'x');
  assert.deepEqual(net.applied(2), ['x']);
});

for (const preVote of [false, true]) {
  test(`A8: followers and leader within the lease ignore vote requests (PreVote ${preVote})`, () => {
    const net = new Network({ size: 3, checkQuorum: true, preVote });
    net.campaign(1);
    net.ticks(3);
    const mark = net.mark();
    net.campaign(3); // node 3 has heard from the leader too, but campaigns anyway
    const answers = net.since(mark, (m) => m.type === 'MsgVoteResp' || m.type === 'MsgPreVoteResp');
    assert.deepEqual(answers, [], 'no answer at all, not even a refusal');
    assert.equal(net.node(1).raft.role, StateRole.Leader);
    assert.equal(net.node(1).raft.term, 1);
    assert.equal(net.node(2).raft.term, 1);
  });
}

test('A8: once the leader is silent for an election timeout, followers grant votes again', () => {
  const net = new Network({ size: 3, checkQuorum: true, preVote: true });
  net.campaign(1);
  net.propose(1, 'a');
  net.crash(1);
  const ticks = net.tickUntil(() => net.leader() !== undefined, 4 * ET);
  assert.ok(ticks <= 2 * ET + 1, `a new leader after ${ticks} ticks`);
  const leader = net.leader();
  assert.ok(leader !== undefined && leader.id !== 1);
  assert.equal(leader.raft.term, 2);
  net.propose(leader.id, 'b');
  assert.deepEqual(net.applied(leader.id), ['a', 'b']);
});
