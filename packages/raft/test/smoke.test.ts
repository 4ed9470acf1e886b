// Smoke test: a 3-node cluster elects a leader, replicates and applies proposals on every node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateRole } from '../src/index.js';
import { Network } from './support/network.js';

test('three nodes elect a leader and replicate', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  assert.equal(net.node(1).raft.role, StateRole.Leader);
  net.propose(1, 'a');
  net.propose(1, 'b');
  for (const id of [1, 2, 3]) {
    net.ticks(1);
    assert.deepEqual(net.applied(id), ['a', 'b']);
  }
});

test('elections happen by ticking with prevote and checkquorum', () => {
  const net = new Network({ size: 5, preVote: true, checkQuorum: true, seed: 7 });
  net.ticks(40);
  const leader = net.leader();
  assert.ok(leader);
  net.propose(leader.id, 'x');
  net.ticks(2);
  for (const id of net.ids) assert.deepEqual(net.applied(id), ['x']);
});
