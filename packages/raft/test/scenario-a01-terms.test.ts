/**
 * Scenario A1 — terms (Raft §5.1). Proves that a higher term in ANY message turns the receiver into a follower
 * of that term (the two PreVote messages excepted: they speak of a future term and must not change it), and
 * that a message of a stale term changes nothing: no state, no log, at most a reply that tells the sender the
 * current term. How: a table of every message type stepped into a bare leader / follower, then two network
 * runs where a deposed leader's traffic meets a cluster that moved on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, MessageType } from '../src/index.js';
import { StateRole, nodeId } from '../src/index.js';
import { electAndCommitNoop, logTerms, newRaft, take } from './support/fixtures.js';
import { Network, enc } from './support/network.js';

/** A well-formed message of each type from node 2 to node 1. */
function sample(type: MessageType, term: number): Message {
  const env = { from: nodeId(2), to: nodeId(1), term };
  switch (type) {
    case 'MsgApp':
      return { ...env, type, index: 0, logTerm: 0, entries: [], commit: 0 };
    case 'MsgAppResp':
      return { ...env, type, index: 0, reject: false, rejectHint: 0, logTerm: 0 };
    case 'MsgVote':
    case 'MsgPreVote':
      return { ...env, type, index: 0, logTerm: 0, transfer: false };
    case 'MsgVoteResp':
    case 'MsgPreVoteResp':
      return { ...env, type, reject: true };
    case 'MsgHeartbeat':
      return { ...env, type, commit: 0, context: null };
    case 'MsgHeartbeatResp':
      return { ...env, type, context: null };
    case 'MsgSnap':
      return { ...env, type, snapshot: { index: 0, term: 0 }, offset: 0, totalBytes: 0, data: new Uint8Array() };
    case 'MsgSnapResp':
      return { ...env, type, index: 0, offset: 0 };
    case 'MsgTimeoutNow':
      return { ...env, type };
    case 'MsgTransferLeader':
      return { ...env, type, transferee: nodeId(3) };
    case 'MsgReadIndex':
      return { ...env, type, context: 'c' };
    case 'MsgReadIndexResp':
      return { ...env, type, context: 'c', index: 0, reject: true, reason: 'NOT_LEADER' };
  }
}

const ALL_TYPES: MessageType[] = [
  'MsgApp',
  'MsgAppResp',
  'MsgVote',
  'MsgPreVote',
  'MsgVoteResp',
  'MsgPreVoteResp',
  'MsgHeartbeat',
  'MsgHeartbeatResp',
  'MsgSnap',
  'MsgSnapResp',
  'MsgTimeoutNow',
  'MsgTransferLeader',
  'MsgReadIndex',
  'MsgReadIndexResp',
];

test('A1: a higher term in any message (but the PreVote pair) makes a leader a follower of that term', () => {
  for (const type of ALL_TYPES) {
    const r = newRaft();
    electAndCommitNoop(r);
    r.step(sample(type, 5));
    if (type === 'MsgPreVote') {
      assert.equal(r.term, 1, type);
      assert.equal(r.role, StateRole.Leader, type);
      continue;
    }
    if (type === 'MsgTimeoutNow') {
      // It adopts term 5 as a follower, then campaigns at once, as the transfer asks: term 6.
      assert.equal(r.term, 6, type);
      assert.equal(r.role, StateRole.Candidate, type);
      continue;
    }
    assert.equal(r.term, 5, type);
    assert.equal(r.role, StateRole.Follower, type);
    const fromLeader = type === 'MsgApp' || type === 'MsgHeartbeat' || type === 'MsgSnap';
    assert.equal(r.lead, fromLeader ? 2 : 0, `${type} names the leader or nobody`);
  }
});

test('A1: a granted pre-vote response carries a future term and does not move the receiver to it', () => {
  const r = newRaft({ preVote: true, term: 3 });
  r.hup(false);
  assert.equal(r.role, StateRole.PreCandidate);
  r.step({ type: 'MsgPreVoteResp', from: nodeId(2), to: r.id, term: 4, reject: false });
  // The grant wins the pre-vote, so the real election takes term 4 itself — not the message.
  assert.equal(r.role, StateRole.Candidate);
  assert.equal(r.term, 4);
});

for (const checkQuorum of [false, true]) {
  test(`A1: stale-term messages change nothing (checkQuorum ${checkQuorum})`, () => {
    for (const type of ALL_TYPES) {
      const r = newRaft({ log: [1, 5], term: 5, commit: 1, checkQuorum });
      r.becomeFollower(5, nodeId(3));
      r.step(sample(type, 4));
      assert.equal(r.term, 5, type);
      assert.equal(r.role, StateRole.Follower, type);
      assert.equal(r.lead, 3, type);
      assert.deepEqual(logTerms(r), [1, 5], type);
      assert.equal(r.log.committed, 1, type);
      const replies = take(r);
      if (checkQuorum && (type === 'MsgApp' || type === 'MsgHeartbeat')) {
        // A cut-off leader must learn the new term, or with PreVote nobody would ever tell it.
        assert.deepEqual(
          replies.map((m) => [m.type, m.to, m.term]),
          [['MsgAppResp', 2, 5]],
          type,
        );
      } else if (type === 'MsgPreVote') {
        assert.deepEqual(
          replies.map((m) => [m.type, m.term, m.type === 'MsgPreVoteResp' && m.reject]),
          [['MsgPreVoteResp', 5, true]],
        );
      } else {
        assert.deepEqual(replies, [], type);
      }
    }
  });
}

test('A1: a deposed leader’s appends are ignored; it learns the new term and its entry is dropped', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  net.propose(1, 'a');
  net.isolate(1);
  net.campaign(2);
  assert.equal(net.node(2).raft.term, 2);
  net.propose(2, 'b');
  // The old leader still believes it leads term 1 and accepts a write nobody will ever commit.
  net.node(1).propose(enc('stale'));
  net.recover();
  const mark = net.mark();
  net.deliver(); // its pending MsgApps (term 1) reach nodes 2 and 3
  const stale = net.since(mark, (m) => m.type === 'MsgApp' && m.from === 1);
  assert.ok(stale.length > 0 && stale.every((m) => m.term === 1));
  for (const id of [2, 3]) {
    assert.equal(net.node(id).raft.term, 2);
    assert.ok(!net.persistedLog(id).some((e) => e.data === 'stale'));
  }
  net.ticks(2); // the new leader's heartbeat reaches node 1
  assert.equal(net.node(1).raft.role, StateRole.Follower);
  assert.equal(net.node(1).raft.term, 2);
  net.propose(2, 'c');
  for (const id of net.ids) assert.deepEqual(net.applied(id), ['a', 'b', 'c']);
  assert.deepEqual(net.safetyViolations(), []);
});

test('A1: a node that raised its term alone deposes the leader through its next message', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 3; i++) net.campaign(3); // terms 2, 3, 4: nobody hears it
  assert.equal(net.node(3).raft.term, 4);
  assert.equal(net.node(1).raft.role, StateRole.Leader);
  net.recover();
  const ticks = net.tickUntil(() => net.node(1).raft.term > 1, 40);
  assert.ok(ticks <= 20, `node 3's next election reaches node 1 within its timeout (${ticks} ticks)`);
  net.tickUntil(() => net.leader() !== undefined, 100);
  const leader = net.leader();
  assert.ok(leader !== undefined && leader.raft.term >= 5);
  assert.deepEqual(net.electionSafetyViolations(), []);
  for (const id of net.ids) assert.ok(net.node(id).raft.term >= 5);
});
