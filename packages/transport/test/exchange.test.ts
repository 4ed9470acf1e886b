// Envelopes between real transports on 127.0.0.1: two and three nodes deliver to the right peer with the
// sender's id, a burst queued in one event-loop turn leaves as one frame, Uint8Array payloads survive the
// trip, and link status is reported. Proves DESIGN.md §5 "CBOR arrays of envelopes batched per event-loop turn".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '@kalam/raft';
import type { TestCluster } from './support/harness.js';
import { TestNode, envelope, startCluster, waitFor } from './support/harness.js';

test('two transports exchange envelopes both ways, with Uint8Array payloads intact', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const [a, b] = [cluster.node(1), cluster.node(2)];
  assert.equal(a.transport.peerConnected(nodeId(2)), true);
  assert.deepEqual(a.statuses, [{ peer: 2, status: 'connected' }]);

  const data = new Uint8Array([0, 1, 2, 250, 255]);
  a.transport.send(envelope(1, 2, 7, { type: 'MsgApp', term: 3, entries: [{ index: 1, term: 3, data }] }));
  b.transport.send(envelope(2, 1, 100, { type: 'MsgHeartbeat', term: 3, context: null }));
  await waitFor(() => b.received.length === 1 && a.received.length === 1, 'one envelope each way');

  const got = b.from(1)[0];
  assert.ok(got);
  assert.equal(got.groupId, 7);
  assert.equal(got.from, 1);
  assert.equal(got.to, 2);
  const msg = got.msg as { type: string; entries: { data: unknown }[] };
  assert.equal(msg.type, 'MsgApp');
  const payload = msg.entries[0]?.data;
  assert.ok(payload instanceof Uint8Array, 'a Uint8Array comes back as a Uint8Array');
  assert.deepEqual([...payload], [...data]);
  assert.deepEqual(a.from(2)[0]?.msg, { type: 'MsgHeartbeat', term: 3, context: null });
});

test('a burst queued in one turn leaves as one frame', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const [a, b] = [cluster.node(1), cluster.node(2)];
  const before = a.transport.stats();
  const burst = 2000;
  for (let i = 0; i < burst; i++) a.transport.send(envelope(1, 2, i % 36, { type: 'MsgHeartbeat', seq: i }));
  await waitFor(() => b.received.length === burst, `${burst} envelopes`);

  const after = a.transport.stats();
  const framesOut = after.framesOut - before.framesOut;
  assert.equal(after.envelopesOut - before.envelopesOut, burst);
  assert.equal(framesOut, 1, `one frame for the whole burst, got ${framesOut}`);
  assert.equal(b.transport.stats().envelopesIn, burst);
  // Order within a link is preserved.
  assert.deepEqual(
    b.from(1).map((e) => (e.msg as { seq: number }).seq),
    Array.from({ length: burst }, (_, i) => i),
  );
});

test('bursts over several turns batch per turn: far fewer frames than envelopes', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const [a, b] = [cluster.node(1), cluster.node(2)];
  const turns = 50;
  const perTurn = 100;
  for (let turn = 0; turn < turns; turn++) {
    for (let i = 0; i < perTurn; i++) a.transport.send(envelope(1, 2, 0, { type: 'MsgApp', turn, i }));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await waitFor(() => b.received.length === turns * perTurn, 'every envelope');
  const stats = a.transport.stats();
  assert.ok(stats.framesOut <= turns + 5, `about one frame per turn: ${stats.framesOut} frames`);
  assert.ok(stats.envelopesOut >= 10 * stats.framesOut);
});

test('three transports: every pair exchanges, each envelope reaches only its addressee', async (t) => {
  const cluster = await startCluster(3);
  t.after(() => cluster.close());
  for (const from of cluster.nodes) {
    for (const to of cluster.nodes) {
      if (from === to) continue;
      for (let i = 0; i < 10; i++) from.transport.send(envelope(from.id, to.id, i, { type: 'MsgVote', i }));
    }
  }
  await waitFor(() => cluster.nodes.every((n) => n.received.length === 20), 'ten envelopes from each peer');
  for (const node of cluster.nodes) {
    for (const other of cluster.nodes) {
      if (node === other) continue;
      const got = node.from(other.id);
      assert.equal(got.length, 10);
      assert.ok(got.every((e) => e.to === node.id && e.from === other.id));
    }
  }
});

test('send asserts the sender (a programmer error); an addressee that is not a peer is dropped and counted', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const a = cluster.node(1).transport;
  assert.throws(() => a.send(envelope(2, 2, 0, { type: 'MsgApp' })), { code: 'ASSERTION_FAILED' });
  // Peers follow membership, which a group's configuration may run ahead of or behind (membership.test.ts).
  a.send(envelope(1, 9, 0, { type: 'MsgApp' }));
  assert.equal(a.stats().dropped.notAPeer, 1);
});

test('start() rejects when the port is taken, and close() still completes', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const a = cluster.node(1);
  const clash = new TestNode(nodeId(1), a.port, a.peers);
  await assert.rejects(clash.transport.start(), { code: 'EADDRINUSE' });
  await clash.transport.close();
  await stillUp(cluster);
});

async function stillUp(cluster: TestCluster): Promise<void> {
  cluster.node(2).transport.send(envelope(2, 1, 0, { type: 'MsgHeartbeat' }));
  await waitFor(() => cluster.node(1).from(2).length === 1, 'node 1 still serves');
}
