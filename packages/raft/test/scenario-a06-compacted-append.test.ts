/**
 * Scenario A6 — an append whose previous index is already compacted into a snapshot is not a conflict. The
 * follower cannot compare terms there, but everything it compacted was committed, and committed entries match
 * the leader's (Log Matching + Leader Completeness), so it answers with its commit index and the leader resumes
 * after it. How: an old append is held back while the follower catches up and compacts, then delivered late;
 * and crafted appends below, at and across the compaction point are stepped in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, MsgApp } from '../src/index.js';
import { nodeId } from '../src/index.js';
import { Network } from './support/network.js';

function setUp(): Network {
  const net = new Network({ size: 3 });
  net.campaign(1);
  for (const v of ['a', 'b', 'c', 'd', 'e']) net.propose(1, v);
  net.ticks(1);
  const snap = net.compact(2); // node 2 keeps a snapshot at 6 and no entries
  assert.equal(snap.index, 6);
  assert.equal(net.node(2).status().firstIndex, 7);
  return net;
}

function leaderApp(net: Network, prev: number, last: number): MsgApp {
  const log = net.node(1).raft.log;
  return {
    type: 'MsgApp',
    from: nodeId(1),
    to: nodeId(2),
    term: 1,
    index: prev,
    logTerm: log.term(prev) ?? -1,
    entries: log.slice(prev + 1, last + 1) ?? [],
    commit: log.committed,
  };
}

const answersFrom2 = (msgs: readonly Message[]): [boolean, number][] =>
  msgs.flatMap((m) => (m.type === 'MsgAppResp' && m.from === 2 ? [[m.reject, m.index] as [boolean, number]] : []));

test('A6: an append entirely below the compaction point is acknowledged at the commit index', () => {
  const net = setUp();
  const mark = net.mark();
  net.send(leaderApp(net, 2, 5));
  assert.deepEqual(answersFrom2(net.since(mark)), [[false, 6]]);
  assert.equal(net.node(2).status().firstIndex, 7, 'nothing rewritten');
  assert.equal(net.node(2).status().lastIndex, 6);
});

test('A6: an append across the compaction point is acknowledged at the commit index, then resumed after it', () => {
  const net = setUp();
  net.cut(1, 2);
  net.propose(1, 'f'); // index 7, committed by 1 and 3
  net.recover();
  const mark = net.mark();
  net.send(leaderApp(net, 4, 7)); // entries 5..7: 5 and 6 are compacted on node 2
  const answers = answersFrom2(net.since(mark));
  assert.deepEqual(answers[0], [false, 6], 'first answer: everything up to its commit index is there');
  assert.ok(!answers.some(([reject]) => reject), 'never a rejection');
  net.ticks(2);
  assert.deepEqual(net.applied(2), ['a', 'b', 'c', 'd', 'e', 'f']);
});

test('A6: an append right at the compaction point matches the snapshot’s term', () => {
  const net = setUp();
  const mark = net.mark();
  net.propose(1, 'f'); // MsgApp prev=(6, 1): index 6 is node 2's snapshot
  assert.deepEqual(answersFrom2(net.since(mark)), [
    [false, 7],
    [false, 7],
  ]);
  assert.deepEqual(net.applied(2), ['a', 'b', 'c', 'd', 'e', 'f']);
});

test('A6: an old append delivered after the follower caught up and compacted is harmless', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  net.propose(1, 'w');
  net.hold((m) => m.type === 'MsgApp' && m.to === 2);
  net.propose(1, 'a');
  const late = net.held.splice(0); // kept back for later
  net.release();
  for (const v of ['b', 'c']) net.propose(1, v); // node 2 rejects, is repaired, and catches up
  net.ticks(1);
  assert.deepEqual(net.applied(2), ['w', 'a', 'b', 'c']);
  net.compact(2);
  const mark = net.mark();
  net.send(...late);
  assert.deepEqual(
    answersFrom2(net.since(mark)).map(([reject]) => reject),
    late.map(() => false),
  );
  net.propose(1, 'd');
  assert.deepEqual(net.applied(2), ['w', 'a', 'b', 'c', 'd']);
  assert.deepEqual(net.safetyViolations(), []);
});
