// What this proves: forgetLeader (used when the transport loses the link to the leader) lets followers
// elect a new leader well before a full election timeout even with PreVote + CheckQuorum, without giving
// up safety; and a read forwarded by a follower is answered with LEADERSHIP_LOST — in a term the follower
// accepts — when the leader is deposed before confirming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateRole } from '../src/index.js';
import { Network } from './support/network.js';

test('followers that forget a dead leader elect a new one within one election timeout', () => {
  const net = new Network({ size: 3, preVote: true, checkQuorum: true, electionTick: 10, seed: 3 });
  net.campaign(1);
  net.propose(1, 'a');
  net.crash(1);
  net.node(2).forgetLeader();
  net.node(3).forgetLeader();
  assert.equal(net.node(2).raft.lead, 0);
  let ticks = 0;
  while (net.leader() === undefined && ticks < 100) {
    net.tick([2, 3]);
    ticks++;
  }
  const leader = net.leader();
  assert.ok(leader !== undefined && leader.id !== 1);
  // Without forgetting, a follower waits out its randomized timeout in [10, 20) ticks, then needs the
  // other follower's lease to lapse too; with it the campaign starts within electionTick ticks.
  assert.ok(ticks <= 10, `took ${ticks} ticks`);
  net.propose(leader.id, 'b');
  net.ticks(2, [2, 3]);
  assert.deepEqual(net.applied(2), ['a', 'b']);
});

test('forgetLeader is a no-op for a leader or a follower that knows no leader', () => {
  const net = new Network({ size: 3, preVote: true, checkQuorum: true });
  net.campaign(1);
  net.node(1).forgetLeader();
  assert.equal(net.node(1).raft.role, StateRole.Leader);
  assert.equal(net.node(1).raft.lead, 1);
});

test('a forwarded read is rejected with LEADERSHIP_LOST when the leader is deposed before confirming it', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  net.propose(1, 'a');
  // Heartbeat answers are lost, so the read forwarded by node 2 stays pending at the leader.
  net.ignore('MsgHeartbeatResp');
  net.node(2).readIndex('r1');
  net.deliver();
  assert.equal(net.readStates.get(2 as never)?.length, 0, 'the read is still pending');
  // Node 3 wins term 2; the old leader hears of it and steps down, refusing the read in term 2.
  net.campaign(3);
  net.recover();
  net.ticks(2);
  assert.equal(net.node(3).raft.role, StateRole.Leader);
  const states = net.readStates.get(2 as never) ?? [];
  const r1 = states.find((s) => s.context === 'r1');
  assert.ok(r1 !== undefined, 'node 2 got an answer for its read');
  assert.equal(r1.status, 'rejected');
  assert.equal(r1.status === 'rejected' ? r1.reason : '', 'LEADERSHIP_LOST');
});
