// What this proves: a follower that comes back with an empty log (its data folder was wiped) is caught up
// — by log entries, or by snapshot when the leader compacted — instead of stalling behind the leader's
// stale match index or committing entries it does not have; and with freshStartVoteAbstainTicks such a
// node grants no vote until an election timeout has passed, since it forgot whom it voted for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, newStorage } from './support/network.js';
import type { NodeId } from '../src/index.js';
import { Prng, RawNode, nodeId } from '../src/index.js';

function wipe(net: Network, id: number): void {
  net.crash(id);
  net.storage.set(id as NodeId, newStorage());
  net.restart(id);
}

test('a wiped follower is caught up by entries', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  for (const v of ['a', 'b', 'c']) net.propose(1, v);
  wipe(net, 3);
  assert.deepEqual(net.applied(3), []);
  net.ticks(3);
  net.propose(1, 'd');
  net.ticks(2);
  assert.deepEqual(net.applied(3), ['a', 'b', 'c', 'd']);
  assert.equal(net.node(1).raft.prs.get(nodeId(3))?.match, net.node(1).raft.log.lastIndex());
});

test('a wiped follower is caught up by snapshot once the leader compacted', () => {
  const net = new Network({ size: 3, limits: { snapshotChunkBytes: 16 } });
  net.campaign(1);
  for (const v of ['a', 'b', 'c', 'd']) net.propose(1, v);
  net.compact(1);
  wipe(net, 2);
  net.ticks(5);
  assert.deepEqual(net.applied(2), ['a', 'b', 'c', 'd']);
  assert.ok((net.storage.get(nodeId(2))?.snapshot?.index ?? 0) > 0, 'node 2 installed a snapshot');
});

test('a node with no durable state abstains from voting for freshStartVoteAbstainTicks', () => {
  const mk = (abstain: number): RawNode =>
    new RawNode({
      id: nodeId(1),
      voters: [nodeId(1), nodeId(2), nodeId(3)],
      electionTick: 10,
      heartbeatTick: 1,
      preVote: false,
      checkQuorum: false,
      random: new Prng(1),
      freshStartVoteAbstainTicks: abstain,
    });
  const vote = {
    type: 'MsgVote',
    from: nodeId(2),
    to: nodeId(1),
    term: 5,
    index: 0,
    logTerm: 0,
    transfer: false,
  } as const;
  const answer = (n: RawNode): boolean | undefined => {
    n.step(vote);
    const rd = n.ready();
    n.advance(rd);
    const r = [...rd.messages, ...rd.persistedMessages].find((m) => m.type === 'MsgVoteResp');
    return r?.type === 'MsgVoteResp' ? !r.reject : undefined;
  };
  const abstaining = mk(20);
  assert.equal(answer(abstaining), false, 'no vote right after a fresh start');
  for (let i = 0; i < 20; i++) abstaining.tick();
  assert.equal(answer(mk(0)), true, 'without the setting the vote is granted');
  const later = mk(3);
  for (let i = 0; i < 3; i++) later.tick();
  assert.equal(answer(later), true, 'after the abstention the vote is granted');
});
