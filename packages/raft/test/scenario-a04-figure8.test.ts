/**
 * Scenario A4 — Raft Figure 8 (§5.4.2; etcd TestLeaderOnlyCommitsLogFromCurrentTerm). Proves that a leader
 * never commits an entry of an earlier term by counting its replicas — even when it sits on a majority — and
 * commits it only through an entry of its own term (the no-op a new leader appends for exactly this). Why it
 * matters is shown by playing on: the uncommitted old entry is legitimately overwritten by a later leader, and
 * no node ever applied it. How: the five-node script in support/scenarios.ts drives phases (a)–(c); then either
 * (d) node 5 takes over, or (e) node 1's own-term entry gets through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryKind, StateRole } from '../src/index.js';
import { figure8D, figure8UpToC } from './support/scenarios.js';

test('A4 (c): an old-term entry on a majority is not committed by counting', () => {
  const net = figure8UpToC();
  const leader = net.node(1);
  // 'a' (index 2, term 1) is on nodes 1, 3 and 4: three of five.
  for (const id of [1, 3, 4]) assert.deepEqual(net.node(id).raft.log.term(2), 1, `node ${id} holds 'a'`);
  assert.deepEqual(
    [...leader.status().progress].map(([id, p]) => [id, p.match]),
    [
      [1, 3],
      [2, 0],
      [3, 2],
      [4, 2],
      [5, 0],
    ],
  );
  assert.equal(leader.status().commit, 1, 'index 2 is on a majority but of term 1: not committed');
  for (const id of net.ids) assert.deepEqual(net.applied(id), []);
  // The new leader's no-op is there to be committed, and it is of term 3.
  assert.deepEqual(
    net.persistedLog(1).map((e) => [e.index, e.term, e.kind]),
    [
      [1, 1, EntryKind.Noop],
      [2, 1, EntryKind.Command],
      [3, 3, EntryKind.Noop],
    ],
  );
});

test('A4 (d): a later leader may overwrite that entry — and no node ever applied it', () => {
  const net = figure8UpToC();
  figure8D(net);
  const leaderLog = net.persistedLog(5);
  assert.deepEqual(
    leaderLog.map((e) => [e.index, e.term]),
    [
      [1, 1],
      [2, 2],
      [3, 4],
      [4, 4],
    ],
  );
  for (const id of [2, 3, 4]) assert.deepEqual(net.persistedLog(id), leaderLog, `node ${id} follows node 5`);
  for (const id of net.ids) assert.ok(!net.applied(id).includes('a'), `node ${id} never applied 'a'`);
  assert.deepEqual(net.safetyViolations(), []);
  assert.deepEqual(net.electionSafetyViolations(), []);
});

test('A4 (e): once an entry of the leader’s own term is on a majority, the old entry commits with it', () => {
  const net = figure8UpToC();
  assert.equal(net.node(1).status().commit, 1);
  net.recover(); // the term-3 no-op may now travel
  net.ticks(2);
  assert.equal(net.node(1).status().commit, 3, "'a' is committed through the term-3 no-op");
  for (const id of [1, 2, 3, 4]) assert.deepEqual(net.applied(id), ['a']);
  // Node 5 comes back: its term-2 entry is less up to date than the committed log, so it cannot lead.
  net.restart(5);
  net.campaign(5);
  assert.notEqual(net.node(5).raft.role, StateRole.Leader);
  net.ticks(3);
  assert.notEqual(net.leader()?.id, 5);
  assert.deepEqual(net.applied(5), ['a'], "node 5's conflicting entry is replaced by the committed one");
  assert.deepEqual(net.safetyViolations(), []);
});
