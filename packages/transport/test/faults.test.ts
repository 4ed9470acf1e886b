// Fault rules, switched at run time per peer, as drills use them to partition nodes without root: drop all,
// a one-way block in each direction (for envelopes, requests and responses alike), delay, a partial drop rate,
// and clearing them. Sockets stay up under every rule, like a real partition.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '@kalam/raft';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestCluster } from './support/harness.js';
import { envelope, startCluster, testHandler, waitFor } from './support/harness.js';

/** Sends `count` envelopes each way between nodes 1 and 2 and waits `settleMs`. */
async function exchange(cluster: TestCluster, count: number, settleMs = 150): Promise<{ at2: number; at1: number }> {
  const [a, b] = [cluster.node(1), cluster.node(2)];
  const [before2, before1] = [b.from(1).length, a.from(2).length];
  for (let i = 0; i < count; i++) {
    a.transport.send(envelope(1, 2, 0, { type: 'MsgApp', i }));
    b.transport.send(envelope(2, 1, 0, { type: 'MsgAppResp', i }));
  }
  await sleep(settleMs);
  return { at2: b.from(1).length - before2, at1: a.from(2).length - before1 };
}

test('drop all: nothing node 1 sends reaches node 2; clearing the rule heals', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const a = cluster.node(1).transport;
  a.setFault(nodeId(2), { dropRate: 1 });
  assert.deepEqual(await exchange(cluster, 50), { at2: 0, at1: 50 });
  assert.equal(a.stats().dropped.fault, 50);
  assert.equal(a.peerConnected(nodeId(2)), true, 'the socket stays up');
  await assert.rejects(a.request(nodeId(2), 'echo', null, 100), { code: 'TIMEOUT' });

  a.clearFaults(nodeId(2));
  assert.deepEqual(await exchange(cluster, 10), { at2: 10, at1: 10 });
  assert.deepEqual(await a.request(nodeId(2), 'echo', 1, 2000), { from: 1, body: 1 });
});

test('block outbound: node 1 cannot reach node 2 (nor answer it); node 2 still reaches node 1', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const [a, b] = [cluster.node(1).transport, cluster.node(2).transport];
  a.setFault(nodeId(2), { blockOutbound: true });
  assert.deepEqual(await exchange(cluster, 20), { at2: 0, at1: 20 });
  await assert.rejects(a.request(nodeId(2), 'echo', null, 100), { code: 'TIMEOUT' });
  // Node 2's request reaches node 1, but the answer is outbound from node 1, so it is dropped too.
  await assert.rejects(b.request(nodeId(1), 'echo', null, 100), { code: 'TIMEOUT' });
  a.clearFaults();
  assert.deepEqual(await exchange(cluster, 5), { at2: 5, at1: 5 });
});

test('block inbound: node 1 ignores node 2; node 1 still reaches node 2', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const [a, b] = [cluster.node(1).transport, cluster.node(2).transport];
  a.setFault(nodeId(2), { blockInbound: true });
  assert.deepEqual(await exchange(cluster, 20), { at2: 20, at1: 0 });
  assert.equal(a.stats().dropped.fault, 20);
  // Node 1's request reaches node 2, but the response arrives from node 2 and is dropped.
  await assert.rejects(a.request(nodeId(2), 'echo', null, 100), { code: 'TIMEOUT' });
  await assert.rejects(b.request(nodeId(1), 'echo', null, 100), { code: 'TIMEOUT' });
  a.clearFaults(nodeId(2));
  assert.deepEqual(await b.request(nodeId(1), 'echo', 2, 2000), { from: 2, body: 2 });
});

test('a symmetric partition by rules on both sides, then healed', async (t) => {
  const cluster = await startCluster(3);
  t.after(() => cluster.close());
  // Isolate node 3: both directions, set on node 3 only.
  const c = cluster.node(3);
  for (const peer of [1, 2]) c.transport.setFault(nodeId(peer), { blockInbound: true, blockOutbound: true });
  for (const node of cluster.nodes) {
    for (const other of cluster.nodes) {
      if (node !== other) node.transport.send(envelope(node.id, other.id, 0, { type: 'MsgHeartbeat' }));
    }
  }
  await waitFor(() => cluster.node(1).from(2).length === 1 && cluster.node(2).from(1).length === 1, '1 ↔ 2');
  await sleep(100);
  assert.equal(c.received.length, 0);
  assert.equal(cluster.node(1).from(3).length + cluster.node(2).from(3).length, 0);
  c.transport.clearFaults();
  c.transport.send(envelope(3, 1, 0, { type: 'MsgHeartbeat' }));
  await waitFor(() => cluster.node(1).from(3).length === 1, 'healed');
});

test('delay: envelopes and requests arrive late by about delayMs', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const [a, b] = [cluster.node(1), cluster.node(2)];
  a.transport.setFault(nodeId(2), { delayMs: 150, jitterMs: 20 });
  const sentAt = performance.now();
  for (let i = 0; i < 10; i++) a.transport.send(envelope(1, 2, 0, { type: 'MsgApp', i }));
  await waitFor(() => b.from(1).length === 10, 'the delayed envelopes');
  const first = Math.min(...b.received.map((r) => r.atMs)) - sentAt;
  assert.ok(first >= 125, `delayed by at least delayMs - jitter (first after ${first.toFixed(1)} ms)`);

  const callAt = performance.now();
  assert.deepEqual(await a.transport.request(nodeId(2), 'echo', 'late', 2000), { from: 1, body: 'late' });
  assert.ok(performance.now() - callAt >= 125, 'the request went out late');
  await assert.rejects(a.transport.request(nodeId(2), 'echo', null, 50), { code: 'TIMEOUT' });

  a.transport.clearFaults();
  const fastAt = performance.now();
  await a.transport.request(nodeId(2), 'echo', 'fast', 2000);
  assert.ok(performance.now() - fastAt < 125, 'no delay once cleared');
});

test('a drop rate drops about that share', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  cluster.node(1).transport.setFault(nodeId(2), { dropRate: 0.5 });
  const { at2 } = await exchange(cluster, 1000, 250);
  assert.ok(at2 > 300 && at2 < 700, `about half of 1000 arrive, got ${at2}`);
  assert.equal(cluster.node(1).transport.stats().dropped.fault, 1000 - at2);
});

test('bad rules are programmer errors', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const a = cluster.node(1).transport;
  assert.throws(() => a.setFault(nodeId(2), { dropRate: 1.5 }), { code: 'ASSERTION_FAILED' });
  assert.throws(() => a.setFault(nodeId(2), { delayMs: -1 }), { code: 'ASSERTION_FAILED' });
});

test('duplication: every Raft envelope arrives twice at duplicateRate 1; requests are never duplicated', async (t) => {
  let echoes = 0;
  const cluster = await startCluster(2, {
    overrides: () => ({
      onRequest: (from, method, body) => {
        if (method === 'echo') echoes += 1;
        return testHandler(from, method, body);
      },
    }),
  });
  t.after(() => cluster.close());
  const a = cluster.node(1).transport;
  a.setFault(nodeId(2), { duplicateRate: 1 });
  assert.deepEqual(await exchange(cluster, 20), { at2: 40, at1: 20 });
  for (let i = 0; i < 5; i++) assert.deepEqual(await a.request(nodeId(2), 'echo', i, 2000), { from: 1, body: i });
  await sleep(100);
  assert.equal(echoes, 5, 'one handler call per request: TCP does not duplicate, and neither does the rule');
  assert.deepEqual(a.faults(), [{ peer: 2, rule: { duplicateRate: 1 } }]);
  a.clearFaults();
  assert.deepEqual(await exchange(cluster, 10), { at2: 10, at1: 10 });
  assert.throws(() => a.setFault(nodeId(2), { duplicateRate: -0.1 }), { code: 'ASSERTION_FAILED' });
});
