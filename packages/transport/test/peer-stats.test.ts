// Per-peer counters (Transport.peerStats, read by a node's GET /metrics): frames and bytes both ways, counted on
// every socket with the peer — its outbound link and its authenticated inbound socket — so that what one node
// counts as sent to a peer is what the peer counts as received from it, except the one hello of each link (an
// inbound socket counts only from its handshake on: before it, the sender could be anyone). Every frame sent is
// some peer's, so the peers' sent figures add up to the node's own. A peer that goes away is counted as
// disconnected, and a removed peer's counters go with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '@kalam/raft';
import { envelope, startCluster, waitFor } from './support/harness.js';

test('what one node sends a peer is what the peer receives from it, less the link hello', async (t) => {
  const cluster = await startCluster(3);
  t.after(() => cluster.close());
  for (const from of cluster.nodes) {
    for (const to of cluster.nodes) {
      if (from === to) continue;
      for (let i = 0; i < 20; i++) from.transport.send(envelope(from.id, to.id, i, { type: 'MsgVote', i }));
      assert.deepEqual(await from.transport.request(nodeId(to.id), 'echo', 7, 5_000), { from: from.id, body: 7 });
    }
  }
  await waitFor(() => cluster.nodes.every((n) => n.received.length === 40), 'every envelope');
  for (const a of cluster.nodes) {
    const stats = a.transport.stats();
    assert.equal(stats.reconnects, 0, 'one socket each way per pair (no redial)');
    const mine = a.transport.peerStats();
    assert.deepEqual(
      [...mine.keys()].sort(),
      cluster.nodes.filter((n) => n !== a).map((n) => n.id),
    );
    const sum = (f: (p: { framesOut: number; bytesOut: number }) => number): number =>
      [...mine.values()].reduce((n, p) => n + f(p), 0);
    assert.equal(
      sum((p) => p.framesOut),
      stats.framesOut,
    );
    assert.equal(
      sum((p) => p.bytesOut),
      stats.bytesOut,
    );
    for (const b of cluster.nodes) {
      if (b === a) continue;
      const out = mine.get(b.id)!;
      const theirs = b.transport.peerStats().get(a.id)!;
      assert.equal(theirs.framesIn, out.framesOut - 1, `${a.id} → ${b.id}: frames, less the hello`);
      assert.ok(theirs.bytesIn > 0 && theirs.bytesIn < out.bytesOut, `${a.id} → ${b.id}: bytes`);
      assert.deepEqual(out.errors, { socket: 0, undecodable: 0, oversized: 0, queueFull: 0, disconnected: 0 });
    }
  }
});

test('a peer that goes away is counted as disconnected; a removed peer is forgotten', async (t) => {
  const cluster = await startCluster(3);
  t.after(() => cluster.close());
  const [a, c] = [cluster.node(1), cluster.node(3)];
  await c.transport.close();
  await waitFor(() => !a.transport.peerConnected(nodeId(3)), 'node 1 sees node 3 gone');
  assert.equal(a.transport.peerStats().get(nodeId(3))?.errors.disconnected, 1);
  assert.equal(a.transport.peerStats().get(nodeId(2))?.errors.disconnected, 0);
  a.transport.removePeer(nodeId(3));
  assert.deepEqual([...a.transport.peerStats().keys()], [2]);
});
