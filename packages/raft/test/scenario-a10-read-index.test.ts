/**
 * Scenario A10 — ReadIndex linearizable reads (thesis §6.4). Proves: a new leader refuses reads until it has
 * committed an entry of its own term (before that its commit index may be stale); a read point is the commit
 * index at request time, handed out only after a heartbeat round with that read's context is acknowledged by a
 * quorum; a retry gets its own round and its own (newer) index, never an earlier answer; a read pending on a
 * leader that loses leadership is rejected, never answered with stale data; followers get read points through
 * the leader. How: the network harness with heartbeat acks held back or dropped, and the read states each node
 * delivered in its Readys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, ReadState } from '../src/index.js';
import { NotLeaderError, RaftError, StateRole } from '../src/index.js';
import { Network } from './support/network.js';

const ctxIs = (context: string) => (m: Message) => m.type === 'MsgHeartbeatResp' && m.context === context;

function reads(net: Network, id: number): ReadState[] {
  return net.readStates.get(net.node(id).id) ?? [];
}

test('A10: a new leader refuses reads until its own no-op commits', () => {
  const net = new Network({ size: 3 });
  net.ignore('MsgAppResp');
  net.campaign(1);
  assert.equal(net.node(1).raft.role, StateRole.Leader);
  net.readIndex(1, 'early');
  assert.deepEqual(reads(net, 1), [{ context: 'early', status: 'rejected', reason: 'NOT_COMMITTED_IN_TERM' }]);
  net.recover();
  net.ticks(1); // the heartbeat answer makes the leader resend its no-op, which now commits
  assert.equal(net.node(1).status().commit, 1);
  net.readIndex(1, 'later');
  assert.deepEqual(reads(net, 1)[1], { context: 'later', status: 'ok', index: 1 });
});

test('A10: a read point waits for a heartbeat quorum that carries its context', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  net.propose(1, 'a');
  net.hold((m) => m.type === 'MsgHeartbeatResp');
  net.readIndex(1, 'r');
  assert.deepEqual(reads(net, 1), [], 'no answer before the quorum confirms leadership');
  assert.equal(net.held.length, 2);
  net.release();
  assert.deepEqual(reads(net, 1), [{ context: 'r', status: 'ok', index: 2 }]);
});

test('A10: a retry gets its own confirmation round and a newer index; earlier acks do not answer it', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  net.hold((m) => m.type === 'MsgHeartbeatResp');
  net.readIndex(1, 'try-1'); // read point 1
  assert.throws(
    () => net.node(1).readIndex('try-1'),
    (e: unknown) => e instanceof RaftError && e.code === 'READ_CONTEXT_IN_USE',
  );
  net.propose(1, 'x'); // commits at 2 (appends are not held)
  net.readIndex(1, 'try-2'); // the retry: read point 2
  const held = net.held.splice(0);
  net.release();
  net.send(...held.filter(ctxIs('try-1')));
  assert.deepEqual(reads(net, 1), [{ context: 'try-1', status: 'ok', index: 1 }]);
  net.send(...held.filter(ctxIs('try-2')));
  assert.deepEqual(reads(net, 1)[1], { context: 'try-2', status: 'ok', index: 2 });
  assert.equal(reads(net, 1).length, 2, 'each context answered exactly once');
});

test('A10: a read pending on a leader that loses leadership is rejected, never answered stale', () => {
  const net = new Network({ size: 3, checkQuorum: true, preVote: true, seed: 4 });
  net.campaign(1);
  net.propose(1, 'a');
  net.isolate(1);
  net.readIndex(1, 'r');
  net.tickUntil(() => net.leader() !== undefined && net.leader()?.id !== 1, 60);
  const newLeader = net.leader()!;
  net.propose(newLeader.id, 'b'); // written after the read was asked: a stale read would miss it
  net.tickUntil(() => net.node(1).raft.role !== StateRole.Leader, 30);
  assert.deepEqual(reads(net, 1), [{ context: 'r', status: 'rejected', reason: 'LEADERSHIP_LOST' }]);
  net.recover();
  net.ticks(3);
  net.readIndex(1, 'r2'); // now a follower: forwarded to the new leader
  const answer = reads(net, 1)[1];
  assert.ok(answer?.status === 'ok');
  const bIndex = net.storage.get(newLeader.id)!.applied.find((e) => e.data === 'b')?.index;
  assert.ok(bIndex !== undefined && answer.index >= bIndex, 'the read point covers the write made meanwhile');
  assert.deepEqual(net.applied(1), ['a', 'b']);
});

test('A10: a follower gets a read point from the leader and has applied up to it once it arrives', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  for (const v of ['a', 'b']) net.propose(1, v);
  net.readIndex(2, 'f');
  const state = reads(net, 2)[0];
  assert.deepEqual(state, { context: 'f', status: 'ok', index: 3 });
  assert.ok(net.node(2).status().applied >= state.index);
});

test('A10: without a known leader a read fails fast; a single node answers at once', () => {
  const net = new Network({ size: 3 });
  assert.throws(
    () => net.node(2).readIndex('x'),
    (e: unknown) => e instanceof NotLeaderError && e.code === 'LEADER_NOT_AVAILABLE',
  );
  const solo = new Network({ size: 1 });
  solo.campaign(1);
  solo.propose(1, 'a');
  solo.readIndex(1, 's');
  assert.deepEqual(reads(solo, 1), [{ context: 's', status: 'ok', index: 2 }]);
});
