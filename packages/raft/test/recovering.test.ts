// What this proves: a node that starts with no durable state (its disk was lost) votes for nobody until a leader
// has caught it up past an entry of the leader's own term — so a stale node and the wiped one, a majority of
// three, cannot elect a leader that lacks a committed entry; that a new cluster, whose members all start empty,
// still elects a leader (they learn from each other's pre-votes that nobody holds anything); that the state is
// durable across a crash in the middle of the catch-up; and, with recoverWhenEmpty off, the loss it prevents.
// Found by `kalam sim --kalam --seed 11` (node 2 stale, node 3 wiped: node 2 led term 9 without entry 6).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, newStorage } from './support/network.js';
import type { NodeId } from '../src/index.js';
import { StateRole } from '../src/index.js';

function wipe(net: Network, id: number): void {
  net.crash(id);
  net.storage.set(id as NodeId, newStorage());
  net.restart(id);
}

/** Ticks (bounded) until some node leads; its id, or undefined. */
function electSomeone(net: Network, ticksMax = 200): number | undefined {
  for (let i = 0; i < ticksMax; i++) {
    const l = net.leader();
    if (l !== undefined) return l.raft.id;
    net.tick();
  }
  return net.leader()?.raft.id;
}

/**
 * Node 2 misses "a" and "b", which nodes 1 and 3 commit; then node 3 loses its disk and node 1 goes down.
 * Nodes 2 and 3 are a majority.
 */
function staleAndWiped(recoverWhenEmpty: boolean): Network {
  const net = new Network({ size: 3, preVote: true, recoverWhenEmpty });
  // Everyone empty at first: with recoverWhenEmpty they learn it from each other's pre-votes before electing.
  assert.ok(electSomeone(net) !== undefined, 'a new cluster elects a leader');
  const first = net.leader()!.raft.id;
  if (first !== 1) {
    // Make node 1 the leader for a fixed story: transfer to it.
    net.node(first).transferLeader(1 as NodeId);
    net.deliver();
    net.ticks(3);
  }
  assert.equal(net.leader()?.raft.id, 1);
  net.isolate(2);
  net.propose(1, 'a');
  net.propose(1, 'b');
  net.ticks(2);
  assert.deepEqual(net.applied(3), ['a', 'b'], 'committed by nodes 1 and 3');
  assert.deepEqual(net.applied(2), [], 'node 2 missed them');
  net.recover();
  net.crash(1);
  wipe(net, 3);
  return net;
}

test('a wiped node does not vote a stale node into leadership', () => {
  const net = staleAndWiped(true);
  assert.equal(net.node(3).raft.recovering, true, 'node 3 starts recovering');
  assert.equal(electSomeone(net, 300), undefined, 'nodes 2 and 3 elect nobody: node 2 lacks committed entries');
  // Node 1 comes back: it leads (nodes 1 and 2 are a majority; node 2 grants since node 1 is ahead).
  net.restart(1);
  assert.equal(electSomeone(net, 300), 1);
  net.propose(1, 'c');
  net.ticks(5);
  for (const id of [1, 2, 3]) assert.deepEqual(net.applied(id), ['a', 'b', 'c'], `node ${id} has every entry`);
  assert.equal(net.node(3).raft.recovering, false, 'caught up past an entry of the leader term: recovered');
  assert.equal(net.storage.get(3 as NodeId)?.hardState.recovering, undefined, 'and that is durable');
  assert.deepEqual(net.electionSafetyViolations(), []);
});

test('without recoverWhenEmpty the stale node leads and the committed entries are gone (the bug it fixes)', () => {
  const net = staleAndWiped(false);
  assert.equal(electSomeone(net, 300), 2, 'node 2 leads with node 3’s vote');
  net.propose(2, 'c');
  net.ticks(5);
  assert.deepEqual(net.applied(3), ['c'], 'node 3 follows node 2: "a" and "b", acknowledged, are lost');
});

test('recovering survives a crash in the middle of the catch-up', () => {
  // One entry per append, so the catch-up takes several messages.
  const net = new Network({ size: 3, preVote: true, recoverWhenEmpty: true, limits: { msgEntriesMax: 1 } });
  assert.ok(electSomeone(net) !== undefined);
  const leader = net.leader()!.raft.id;
  const other = [1, 2, 3].find((id) => id !== leader)!;
  for (let i = 0; i < 5; i++) net.propose(leader, `v${i}`);
  wipe(net, other);
  assert.equal(net.node(other).raft.recovering, true);
  // Let the catch-up go as far as two entries, then crash the node.
  net.dropIf((m) => m.type === 'MsgApp' && m.to === other && m.entries.some((e) => e.index > 2));
  net.tick();
  net.ticks(3);
  const stored = net.storage.get(other as NodeId)!;
  assert.equal(stored.entries.length, 2, 'two entries persisted');
  assert.equal(stored.hardState.recovering, true, 'with the recovering flag');
  net.crash(other);
  net.restart(other);
  assert.equal(net.node(other).raft.recovering, true, 'a partial log does not end the recovery');
  net.recover();
  net.propose(leader, 'last');
  net.ticks(10);
  assert.equal(net.node(other).raft.recovering, false);
  assert.deepEqual(net.applied(other), ['v0', 'v1', 'v2', 'v3', 'v4', 'last']);
});

test('a recovering node refuses votes and transfers, and campaigns for nothing', () => {
  const net = new Network({ size: 3, preVote: true, recoverWhenEmpty: true });
  const n = net.node(1);
  assert.equal(n.raft.recovering, true);
  n.step({ type: 'MsgVote', from: 2 as NodeId, to: 1 as NodeId, term: 5, index: 0, logTerm: 0, transfer: false });
  const rd = n.ready();
  n.advance(rd);
  const resp = [...rd.messages, ...rd.persistedMessages].find((m) => m.type === 'MsgVoteResp');
  assert.ok(resp?.type === 'MsgVoteResp' && resp.reject, 'vote refused');
  n.step({ type: 'MsgTimeoutNow', from: 2 as NodeId, to: 1 as NodeId, term: 5 });
  assert.notEqual(n.raft.role, StateRole.Candidate, 'a transfer cannot make it campaign');
  for (let i = 0; i < 100; i++) n.tick();
  assert.equal(n.raft.role, StateRole.Follower, 'it never becomes a (pre-)candidate');
});

test('a new cluster waits for every member: with one missing, nobody knows the others hold nothing', () => {
  const net = new Network({ size: 3, preVote: true, recoverWhenEmpty: true });
  net.crash(3);
  assert.equal(electSomeone(net, 300), undefined);
  net.restart(3);
  assert.ok(electSomeone(net, 300) !== undefined, 'once it is up, the cluster forms');
});

test('the first Ready of a node that starts recovering writes the flag, before anything else happens', () => {
  const net = new Network({ size: 3, preVote: true, recoverWhenEmpty: true });
  const n = net.node(1);
  assert.ok(n.hasReady(), 'a fresh recovering node has something to write at once');
  const rd = n.ready();
  assert.deepEqual(rd.hardState, { term: 0, vote: 0, commit: 0, recovering: true });
  assert.equal(rd.mustSync, true, 'a store may skip a hard state that need not be synced: this one must be');
  n.advance(rd);
  assert.equal(n.hasReady(), false);
});
