/**
 * Scenario A3 — the vote restriction (Raft §5.4.1). Proves that a voter refuses a candidate whose log is less
 * up to date than its own, comparing the last entry's term first and the last index only on a tie, so a node
 * that missed committed entries can never lead. How: networks whose logs are crafted with `load` (or built by
 * cutting a node off while a write commits), then the stale node campaigns and the votes are read off the trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '../src/index.js';
import { StateRole } from '../src/index.js';
import { Network } from './support/network.js';

function voteAnswers(msgs: readonly Message[]): [number, number, boolean][] {
  return msgs.flatMap((m) =>
    m.type === 'MsgVoteResp' ? [[m.from, m.to, !m.reject] as [number, number, boolean]] : [],
  );
}

test('A3: a node that missed a committed entry cannot be elected', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  net.isolate(3);
  net.propose(1, 'committed'); // on 1 and 2: a majority
  assert.deepEqual(net.applied(1), ['committed']);
  net.crash(1);
  net.recover();
  const mark = net.mark();
  net.campaign(3);
  assert.deepEqual(voteAnswers(net.since(mark)), [[2, 3, false]], 'node 2 refuses: its log is longer');
  assert.notEqual(net.node(3).raft.role, StateRole.Leader);
  // Node 2 can win, and keeps the committed entry.
  net.tickUntil(() => net.leader() !== undefined, 60);
  assert.equal(net.leader()?.id, 2);
  net.propose(2, 'next');
  assert.deepEqual(net.applied(3), ['committed', 'next']);
  assert.deepEqual(net.safetyViolations(), []);
});

test('A3: the last term decides before the length: a short log of a later term beats a long older one', () => {
  const net = new Network({ size: 3 });
  net.load(1, { terms: [1, 1, 1, 1, 1], term: 2 });
  net.load(2, { terms: [1, 2], term: 2 });
  net.load(3, { terms: [1], term: 2 });
  const first = net.mark();
  net.campaign(1); // (lastTerm 1, lastIndex 5) against node 2's (2, 2): refused by 2, granted by 3
  assert.deepEqual(voteAnswers(net.since(first)), [
    [2, 1, false],
    [3, 1, true],
  ]);
  assert.equal(net.node(1).raft.role, StateRole.Leader, 'node 3 is behind both, so node 1 still wins');
  // Start again with node 2 campaigning: node 1's longer log of term 1 is less up to date than (2, 2).
  const net2 = new Network({ size: 3 });
  net2.load(1, { terms: [1, 1, 1, 1, 1], term: 2 });
  net2.load(2, { terms: [1, 2], term: 2 });
  net2.load(3, { terms: [1, 1, 1, 1, 1, 1], term: 2 });
  const second = net2.mark();
  net2.campaign(2);
  assert.deepEqual(voteAnswers(net2.since(second)), [
    [1, 2, true],
    [3, 2, true],
  ]);
  assert.equal(net2.node(2).raft.role, StateRole.Leader);
  net2.propose(2, 'x');
  // The leader's log wins: the term-1 suffixes of nodes 1 and 3 are replaced.
  for (const id of [1, 3]) assert.deepEqual(net2.persistedLog(id), net2.persistedLog(2));
});

test('A3: on equal last terms the longer log wins, and an equal one is good enough', () => {
  const net = new Network({ size: 3 });
  net.load(1, { terms: [1, 1, 1], term: 1 });
  net.load(2, { terms: [1, 1, 1, 1], term: 1 });
  net.load(3, { terms: [1, 1, 1], term: 1 });
  const mark = net.mark();
  net.campaign(1);
  assert.deepEqual(voteAnswers(net.since(mark)), [
    [2, 1, false],
    [3, 1, true],
  ]);
});
