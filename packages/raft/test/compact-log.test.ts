// What this proves: the core compacts its log without holding any snapshot (the application's durable state is
// the snapshot), accounts the bytes of the log it holds (what the driver bounds), asks for a snapshot only when a
// follower is behind the compacted log (snapshotWanted) and sends the one handed in then; it drops the bytes once
// no transfer uses them, and tells the driver not to compact past a transfer in progress (compactionFloor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, enc, newStorage } from './support/network.js';
import type { NodeId } from '../src/index.js';
import { ENTRY_HEADER_BYTES, nodeId } from '../src/index.js';

/** compactLog on `id` up to its applied index, and the same in its memory storage (as the driver does). */
function compactLog(net: Network, id: number, to: number): void {
  const node = net.node(id);
  node.compactLog(to);
  const s = net.storage.get(id as NodeId)!;
  const off = node.logOffset();
  s.entries = s.entries.filter((e) => e.index > off.index);
  s.offsetIndex = off.index;
  s.offsetTerm = off.term;
}

test('the log counts the bytes it holds, through appends and compactions', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  const leader = net.node(1);
  const before = leader.logBytes();
  for (const v of ['aaaa', 'bbbbbbbb', 'cc']) net.propose(1, v);
  assert.equal(leader.logBytes() - before, 14 + 3 * ENTRY_HEADER_BYTES);
  const applied = leader.appliedIndex();
  compactLog(net, 1, applied);
  assert.equal(leader.logBytes(), 0, 'every entry compacted: nothing held');
  assert.equal(leader.raft.log.snapshot, undefined, 'no snapshot bytes kept by compaction');
  net.propose(1, 'x'.repeat(100));
  net.propose(1, 'y'.repeat(100));
  assert.equal(leader.logBytes(), 200 + 2 * ENTRY_HEADER_BYTES);
  // Keeping at most one entry's worth: the index to compact to leaves only the last.
  assert.equal(leader.compactIndexForBytes(100 + ENTRY_HEADER_BYTES), leader.raft.log.lastIndex() - 1);
  assert.equal(leader.compactIndexForBytes(10_000), leader.logOffset().index);
  assert.equal(leader.logBytesAfter(leader.raft.log.lastIndex() - 1), 100 + ENTRY_HEADER_BYTES);
  assert.equal(leader.logBytesAfter(leader.logOffset().index), leader.logBytes());
});

test('a follower behind the compacted log waits for the snapshot the application hands in, then catches up', () => {
  const net = new Network({ size: 3, limits: { snapshotChunkBytes: 8 } });
  net.campaign(1);
  for (const v of ['a', 'b', 'c', 'd']) net.propose(1, v);
  net.crash(3);
  net.storage.set(nodeId(3), newStorage()); // node 3 lost its disk
  for (const v of ['e', 'f']) net.propose(1, v);
  const leader = net.node(1);
  compactLog(net, 1, leader.appliedIndex());
  assert.equal(leader.snapshotWanted(), false, 'nobody needs a snapshot yet');
  net.restart(3);
  net.ticks(3);
  assert.equal(leader.snapshotWanted(), true, 'node 3 is behind the offset: the core asks for a snapshot');
  assert.deepEqual(net.applied(3), [], 'nothing sent before the application hands one in');
  // The driver builds one from the state machine as applied now (here: the applied list of the test storage).
  const s = net.storage.get(nodeId(1))!;
  const floorBefore = leader.compactionFloor();
  assert.equal(floorBefore, Infinity);
  leader.compact(s.appliedIndex, enc(JSON.stringify(s.applied)), leader.logOffset().index);
  assert.equal(leader.snapshotWanted(), false);
  assert.equal(leader.compactionFloor(), s.appliedIndex, 'no compaction past the snapshot being sent');
  assert.equal(leader.releaseSnapshot(), false, 'in use by the transfer');
  net.ticks(10);
  assert.deepEqual(net.applied(3), ['a', 'b', 'c', 'd', 'e', 'f']);
  assert.equal(leader.compactionFloor(), Infinity, 'the transfer is over');
  assert.equal(leader.releaseSnapshot(), true, 'its bytes are dropped once no transfer uses them');
  assert.equal(leader.raft.log.snapshot, undefined);
  net.propose(1, 'g');
  assert.deepEqual(net.applied(3), ['a', 'b', 'c', 'd', 'e', 'f', 'g'], 'then replicated by entries');
});

test('a compaction past the held snapshot drops it, and a follower that needs one asks again', () => {
  const net = new Network({ size: 3 });
  net.campaign(1);
  for (const v of ['a', 'b']) net.propose(1, v);
  const leader = net.node(1);
  const s = net.storage.get(nodeId(1))!;
  leader.compact(s.appliedIndex, enc(JSON.stringify(s.applied)), leader.logOffset().index);
  assert.notEqual(leader.raft.log.snapshot, undefined);
  net.propose(1, 'c');
  compactLog(net, 1, leader.appliedIndex());
  assert.equal(leader.raft.log.snapshot, undefined, 'behind the offset it could catch nobody up');
});
