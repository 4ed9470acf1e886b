// Reconnects: a peer that restarts on the same port is redialed (capped backoff) and traffic resumes both ways;
// a peer that starts late is reached; envelopes sent while a peer is down wait in the bounded queue (oldest
// dropped on overflow, counted) and go out once the link is back. Link status changes reach onPeerStatus.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '@kalam/raft';
import { TestNode, HOST, envelope, reservePorts, startCluster, waitFor } from './support/harness.js';

test('a peer restarted on the same port is reconnected and traffic flows again', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const [a, b] = [cluster.node(1), cluster.node(2)];

  await b.restart();
  await waitFor(() => a.transport.peerConnected(nodeId(2)) && b.transport.peerConnected(nodeId(1)), 'links up again');
  assert.deepEqual(
    a.statuses.map((s) => s.status),
    ['connected', 'disconnected', 'connected'],
  );
  assert.equal(a.transport.stats().reconnects, 1);

  a.transport.send(envelope(1, 2, 1, { type: 'MsgApp', n: 1 }));
  b.transport.send(envelope(2, 1, 1, { type: 'MsgAppResp', n: 1 }));
  await waitFor(() => b.from(1).length === 1 && a.from(2).length === 1, 'one envelope each way after the restart');
  assert.deepEqual(await a.transport.request(nodeId(2), 'echo', 5, 2000), { from: 1, body: 5 });
});

test('envelopes queued while the peer is down go out when it is back; overflow drops the oldest', async (t) => {
  const cluster = await startCluster(2, { overrides: (id) => (id === 1 ? { queueMax: 10 } : {}) });
  t.after(() => cluster.close());
  const [a, b] = [cluster.node(1), cluster.node(2)];

  await b.transport.close();
  await waitFor(() => !a.transport.peerConnected(nodeId(2)), 'node 1 sees the link down');
  for (let i = 0; i < 25; i++) a.transport.send(envelope(1, 2, 0, { type: 'MsgHeartbeat', i }));
  assert.equal(a.transport.stats().dropped.queueFull, 15);

  await b.restart();
  await waitFor(() => b.from(1).length === 10, 'the ten newest envelopes');
  assert.deepEqual(
    b.from(1).map((e) => (e.msg as { i: number }).i),
    [15, 16, 17, 18, 19, 20, 21, 22, 23, 24],
  );
});

test('a peer that starts late is reached by the backoff redial', async (t) => {
  const [portA, portB] = await reservePorts(2);
  assert.ok(portA !== undefined && portB !== undefined);
  const a = new TestNode(nodeId(1), portA, [{ nodeId: nodeId(2), host: HOST, port: portB }]);
  const b = new TestNode(nodeId(2), portB, [{ nodeId: nodeId(1), host: HOST, port: portA }]);
  t.after(() => Promise.all([a.transport.close(), b.transport.close()]));
  await a.start();
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(a.transport.peerConnected(nodeId(2)), false);
  assert.ok(
    a.logs.some((l) => l.event === 'link_error'),
    'the failed dials are logged',
  );
  await b.start();
  await waitFor(() => a.transport.peerConnected(nodeId(2)) && b.transport.peerConnected(nodeId(1)), 'both links up');
  assert.equal(a.transport.stats().reconnects, 0, 'a first connection is not a reconnect');
});
