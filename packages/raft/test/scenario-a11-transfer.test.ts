/**
 * Scenario A11 — leadership transfer (thesis §3.10). Proves: a transfer to an up-to-date follower completes at
 * once (TimeoutNow, then an election in the next term that even a leased follower votes in); a lagging target
 * is first caught up and only then sent TimeoutNow; a transfer that cannot finish is abandoned after an
 * election timeout, the old leader still leading; proposals are refused with LEADER_TRANSFER_IN_PROGRESS while
 * it runs; a transfer to itself or to a non-member is refused with TRANSFER_REFUSED; a follower forwards the
 * request to the leader. How: networks with and without PreVote/CheckQuorum, reading roles and the message
 * order off the trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE, RaftError, StateRole, nodeId } from '../src/index.js';
import { Network, enc } from './support/network.js';

const ET = 10;

function refusedWith(code: string) {
  return (e: unknown): boolean => e instanceof RaftError && e.code === code;
}

for (const guarded of [false, true]) {
  test(`A11: transfer to an up-to-date follower (PreVote and CheckQuorum ${guarded})`, () => {
    const net = new Network({ size: 3, preVote: guarded, checkQuorum: guarded });
    net.campaign(1);
    net.propose(1, 'a');
    const mark = net.mark();
    net.transferLeader(1, 2);
    assert.equal(net.node(2).raft.role, StateRole.Leader);
    assert.equal(net.node(2).raft.term, 2);
    assert.equal(net.node(1).raft.role, StateRole.Follower);
    assert.equal(net.node(1).raft.lead, 2);
    const kinds = net.since(mark).map((m) => m.type);
    assert.equal(kinds[0], 'MsgTimeoutNow');
    assert.ok(!kinds.includes('MsgPreVote'), 'the transferee skips PreVote');
    net.propose(2, 'b');
    for (const id of net.ids) assert.deepEqual(net.applied(id), ['a', 'b']);
  });
}

test('A11: a lagging target is caught up first, then sent TimeoutNow', () => {
  const net = new Network({ size: 3, preVote: true, checkQuorum: true });
  net.campaign(1);
  net.cut(1, 3);
  for (const v of ['a', 'b', 'c']) net.propose(1, v);
  net.recover();
  const mark = net.mark();
  net.transferLeader(1, 3);
  const toThree = net.since(mark, (m) => m.from === 1 && m.to === 3).map((m) => m.type);
  const timeoutAt = toThree.indexOf('MsgTimeoutNow');
  assert.ok(timeoutAt > 0, 'TimeoutNow is sent');
  assert.ok(toThree.slice(0, timeoutAt).includes('MsgApp'), 'after appends that catch node 3 up');
  assert.equal(net.node(3).raft.role, StateRole.Leader);
  assert.deepEqual(net.applied(3), ['a', 'b', 'c']);
  assert.deepEqual(net.safetyViolations(), []);
});

test('A11: proposals are refused while a transfer runs; it is abandoned after an election timeout', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  net.isolate(3);
  net.transferLeader(1, 3);
  assert.equal(net.node(1).status().leadTransferee, 3);
  assert.throws(() => net.node(1).propose(enc('x')), refusedWith('LEADER_TRANSFER_IN_PROGRESS'));
  const ticks = net.tickUntil(() => net.node(1).status().leadTransferee === NONE, 3 * ET, [1, 2]);
  assert.ok(ticks <= ET, `abandoned after ${ticks} ticks`);
  assert.equal(net.node(1).raft.role, StateRole.Leader);
  assert.equal(net.node(1).raft.term, 1);
  net.propose(1, 'x');
  assert.deepEqual(net.applied(2), ['x']);
});

test('A11: a transfer to itself or to a non-member is refused', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  assert.throws(() => net.node(1).transferLeader(nodeId(1)), refusedWith('TRANSFER_REFUSED'));
  assert.throws(() => net.node(1).transferLeader(nodeId(9)), refusedWith('TRANSFER_REFUSED'));
  assert.equal(net.node(1).status().leadTransferee, NONE);
  net.propose(1, 'still leading');
  assert.deepEqual(net.applied(3), ['still leading']);
});

test('A11: a follower forwards a transfer request to the leader', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  const mark = net.mark();
  net.transferLeader(2, 3);
  assert.deepEqual(
    net.since(mark, (m) => m.type === 'MsgTransferLeader').map((m) => [m.from, m.to]),
    [[2, 1]],
  );
  assert.equal(net.node(3).raft.role, StateRole.Leader);
});

test('A11: a second transfer request for the same target does not restart the clock', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  net.isolate(3);
  net.transferLeader(1, 3);
  net.ticks(ET - 2, [1, 2]);
  net.transferLeader(1, 3);
  net.ticks(2, [1, 2]);
  assert.equal(net.node(1).status().leadTransferee, NONE, 'still bounded by the first request');
});
