/**
 * Scenario A12 — snapshots (Raft §7) sent as InstallSnapshot chunks. Proves: a follower that needs compacted
 * entries gets the snapshot, chunk by chunk (8-byte chunks here), and resumes replication after it; lost chunks
 * are resent (the leader's resend timer, the follower naming the offset it holds); a snapshot that conflicts
 * with the follower's log replaces it; a snapshot older than the follower's commit index is ignored; two
 * snapshots back to back each install; a follower that crashes mid-transfer loses its partial copy and the
 * leader starts over; a leader that compacts again mid-transfer switches to the newer snapshot. How: a node is
 * cut off while the leader writes and compacts, then reconnected under drop rules; the installed snapshot,
 * the applied commands and the MsgSnap trace are checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, MsgSnap, RaftConfig, Snapshot } from '../src/index.js';
import { Prng, RawNode, StateRole, nodeId } from '../src/index.js';
import { Network, enc } from './support/network.js';

const CHUNK = 8;

const isSnap = (m: Message): m is MsgSnap => m.type === 'MsgSnap';

/** Node 3 misses writes 'b'..'f' while node 1 compacts its log past them. Returns node 1's snapshot. */
function lagAndCompact(net: Network): Snapshot {
  net.campaign(1);
  net.propose(1, 'a');
  net.isolate(3);
  for (const v of ['b', 'c', 'd', 'e', 'f']) net.propose(1, v);
  const snap = net.compact(1);
  assert.equal(net.node(1).status().firstIndex, snap.index + 1);
  net.recover();
  return snap;
}

const caughtUp = (net: Network) => () => net.applied(3).join() === net.applied(1).join();

function newNet(opts: { preVote?: boolean; checkQuorum?: boolean; seed?: number } = {}): Network {
  return new Network({ size: 3, limits: { snapshotChunkBytes: CHUNK }, ...opts });
}

test('A12: a follower that needs compacted entries installs the snapshot in chunks, then replicates', () => {
  const net = newNet();
  const snap = lagAndCompact(net);
  const mark = net.mark();
  net.tickUntil(caughtUp(net), 30);
  const chunks = net.since(mark, isSnap);
  assert.equal(chunks.length, Math.ceil(snap.data.byteLength / CHUNK), 'each chunk once');
  assert.deepEqual(
    chunks.map((m) => m.offset),
    chunks.map((_, i) => i * CHUNK),
  );
  assert.deepEqual(net.storage.get(nodeId(3))?.snapshot, snap);
  assert.equal(net.node(1).status().progress.get(nodeId(3))?.state, 'replicate');
  net.propose(1, 'g');
  assert.deepEqual(net.applied(3), ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  assert.deepEqual(net.safetyViolations(), []);
});

test('A12: lost chunks are sent again and the snapshot arrives intact', () => {
  const net = newNet();
  const snap = lagAndCompact(net);
  const lostOnce = new Set([2 * CHUNK, 5 * CHUNK]);
  net.dropIf((m) => isSnap(m) && lostOnce.delete(m.offset));
  const mark = net.mark();
  net.tickUntil(caughtUp(net), 60);
  const offsets = net.since(mark, isSnap).map((m) => m.offset);
  assert.equal(offsets.filter((o) => o === 2 * CHUNK).length, 2, 'the lost chunk went twice');
  assert.equal(offsets.filter((o) => o === 5 * CHUNK).length, 2);
  assert.deepEqual(net.storage.get(nodeId(3))?.snapshot?.data, snap.data);
});

test('A12: under 30% loss both ways the transfer still completes', () => {
  const net = newNet({ preVote: true, checkQuorum: true, seed: 9 });
  const snap = lagAndCompact(net);
  net.drop(1, 3, 0.3);
  net.drop(3, 1, 0.3);
  net.tickUntil(() => net.storage.get(nodeId(3))?.snapshot?.index === snap.index, 400);
  net.recover();
  net.ticks(3);
  assert.deepEqual(net.applied(3), net.applied(1));
});

test('A12: a snapshot that conflicts with the follower log replaces it', () => {
  const net = newNet();
  net.campaign(3);
  net.isolate(3);
  for (const v of ['x1', 'x2', 'x3']) net.node(3).propose(enc(v)); // only on node 3, never committed
  net.deliver();
  net.campaign(1); // term 2, with node 2's vote
  for (const v of ['y1', 'y2', 'y3', 'y4', 'y5']) net.propose(1, v);
  const stale = net.persistedLog(3).filter((e) => e.data.startsWith('x'));
  assert.equal(stale.length, 3);
  assert.ok(
    stale.every((e) => net.node(1).raft.log.term(e.index) === 2 && e.term === 1),
    'they conflict',
  );
  const snap = net.compact(1);
  net.recover();
  net.tickUntil(caughtUp(net), 40);
  assert.equal(net.storage.get(nodeId(3))?.snapshot?.index, snap.index);
  assert.deepEqual(net.applied(3), ['y1', 'y2', 'y3', 'y4', 'y5']);
  assert.ok(!net.persistedLog(3).some((e) => e.data.startsWith('x')));
  assert.deepEqual(net.safetyViolations(), []);
});

test('A12: a snapshot older than the follower’s commit index is ignored', () => {
  const net = newNet();
  net.campaign(1);
  for (const v of ['a', 'b', 'c', 'd']) net.propose(1, v);
  const old: MsgSnap = {
    type: 'MsgSnap',
    from: nodeId(1),
    to: nodeId(2),
    term: 1,
    snapshot: { index: 2, term: 1 },
    offset: 0,
    totalBytes: 2,
    data: enc('[]'),
  };
  const before = net.persistedLog(2);
  const mark = net.mark();
  net.send(old);
  const answer = net.since(mark, (m) => m.from === 2);
  assert.deepEqual(
    answer.map((m) => [m.type, m.type === 'MsgAppResp' && !m.reject && m.index]),
    [['MsgAppResp', 5]],
    'it answers with its commit index',
  );
  assert.equal(net.storage.get(nodeId(2))?.snapshot, undefined);
  assert.deepEqual(net.persistedLog(2), before);
  assert.deepEqual(net.applied(2), ['a', 'b', 'c', 'd']);
});

test('A12: two snapshots back to back each install', () => {
  const net = newNet();
  const first = lagAndCompact(net);
  net.tickUntil(caughtUp(net), 30);
  assert.equal(net.storage.get(nodeId(3))?.snapshot?.index, first.index);
  net.isolate(3);
  for (const v of ['g', 'h']) net.propose(1, v);
  const second = net.compact(1);
  net.recover();
  net.tickUntil(caughtUp(net), 30);
  assert.equal(net.storage.get(nodeId(3))?.snapshot?.index, second.index);
  assert.deepEqual(net.applied(3), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
});

test('A12: two complete snapshots stepped before one Ready: the Ready carries only the newer', () => {
  const config: RaftConfig = {
    id: nodeId(2),
    voters: [1, 2, 3].map(nodeId),
    electionTick: 10,
    heartbeatTick: 1,
    preVote: false,
    checkQuorum: false,
    random: new Prng(1),
  };
  const node = new RawNode(config);
  const snapMsg = (index: number, data: string): MsgSnap => ({
    type: 'MsgSnap',
    from: nodeId(1),
    to: nodeId(2),
    term: 1,
    snapshot: { index, term: 1 },
    offset: 0,
    totalBytes: data.length,
    data: enc(data),
  });
  node.step(snapMsg(5, 'five'));
  node.step(snapMsg(9, 'nine'));
  const rd = node.ready();
  assert.equal(rd.snapshot?.index, 9);
  assert.equal(rd.hardState?.commit, 9);
  node.advance(rd);
  assert.equal(node.status().applied, 9);
  assert.equal(node.status().firstIndex, 10);
});

test('A12: a receiver that crashes mid-transfer gets the snapshot again from the start', () => {
  const net = newNet();
  const snap = lagAndCompact(net);
  const stallAt = 3 * CHUNK;
  net.dropIf((m) => isSnap(m) && m.offset >= stallAt);
  net.ticks(2);
  const acked = net
    .since(0, (m) => m.type === 'MsgSnapResp' && m.from === 3)
    .map((m) => (m.type === 'MsgSnapResp' ? m.offset : -1));
  assert.equal(Math.max(...acked), stallAt, 'node 3 holds three chunks');
  net.crash(3);
  net.ticks(2);
  net.restart(3); // its partial copy lived in memory only
  net.recover();
  const mark = net.mark();
  net.tickUntil(caughtUp(net), 40);
  const resumed = net.since(mark, (m) => m.type === 'MsgSnapResp' && m.from === 3);
  assert.equal(resumed[0]?.type === 'MsgSnapResp' && resumed[0].offset, 0, 'it asks for offset 0');
  const chunks = net.since(mark, isSnap);
  assert.equal(chunks[chunks.length - 1]?.snapshot.index, snap.index);
  assert.deepEqual(net.storage.get(nodeId(3))?.snapshot?.data, snap.data);
});

test('A12: a leader that compacts again mid-transfer switches to the newer snapshot', () => {
  const net = newNet();
  const first = lagAndCompact(net);
  net.dropIf((m) => isSnap(m) && m.offset >= 2 * CHUNK);
  net.ticks(2);
  assert.equal(net.node(1).status().progress.get(nodeId(3))?.state, 'snapshot');
  for (const v of ['g', 'h']) net.propose(1, v);
  const second = net.compact(1);
  assert.ok(second.index > first.index);
  net.recover();
  const mark = net.mark();
  net.tickUntil(caughtUp(net), 40);
  const sent = net.since(mark, isSnap);
  assert.equal(sent[sent.length - 1]?.snapshot.index, second.index);
  assert.equal(net.storage.get(nodeId(3))?.snapshot?.index, second.index);
  assert.deepEqual(net.applied(3), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
  assert.equal(net.node(1).raft.role, StateRole.Leader);
  assert.equal(net.node(3).raft.role, StateRole.Follower);
});

test('A12: an older snapshot reaching a follower that compacted past it is ignored', () => {
  const net = newNet();
  net.campaign(1);
  for (const v of ['a', 'b', 'c', 'd']) net.propose(1, v);
  const own = net.compact(2); // node 2 no longer has index 2 to compare terms with
  const mark = net.mark();
  net.send({
    type: 'MsgSnap',
    from: nodeId(1),
    to: nodeId(2),
    term: 1,
    snapshot: { index: 2, term: 1 },
    offset: 0,
    totalBytes: 2,
    data: enc('[]'),
  });
  assert.deepEqual(
    net.since(mark, (m) => m.from === 2).map((m) => [m.type, m.type === 'MsgAppResp' && m.index]),
    [['MsgAppResp', 5]],
  );
  assert.equal(net.storage.get(nodeId(2))?.snapshot, own, 'its own newer snapshot stays');
  assert.deepEqual(net.applied(2), ['a', 'b', 'c', 'd']);
});

test('A12: a chunk of another snapshot in the middle of a transfer makes the follower ask from offset 0', () => {
  const node = new RawNode({
    id: nodeId(2),
    voters: [1, 2, 3].map(nodeId),
    electionTick: 10,
    heartbeatTick: 1,
    preVote: false,
    checkQuorum: false,
    random: new Prng(1),
  });
  const chunk = (index: number, offset: number): MsgSnap => ({
    type: 'MsgSnap',
    from: nodeId(1),
    to: nodeId(2),
    term: 1,
    snapshot: { index, term: 1 },
    offset,
    totalBytes: 32,
    data: enc('12345678'),
  });
  const answers = (): [number, number][] => {
    const rd = node.ready();
    node.advance(rd);
    return rd.messages.flatMap((m) => (m.type === 'MsgSnapResp' ? [[m.index, m.offset] as [number, number]] : []));
  };
  node.step(chunk(5, 0));
  node.step(chunk(5, 8));
  assert.deepEqual(answers(), [
    [5, 8],
    [5, 16],
  ]);
  node.step(chunk(9, 16)); // the leader moved on to a newer snapshot: our 16 bytes are of the old one
  assert.deepEqual(answers(), [[9, 0]]);
  node.step(chunk(5, 24)); // and a chunk beyond what we hold of the current one names where to resume
  assert.deepEqual(answers(), [[5, 16]]);
});
