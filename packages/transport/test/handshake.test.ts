// Handshake refusals (DESIGN.md §5): wrong secret, wrong cluster, unknown node id, replayed hello, stale or
// future timestamp, and any frame before the hello are each refused with close code 4401 naming the reason,
// counted and logged as a warning, and the node keeps serving its good peer. The dialer authenticates the
// server too: a welcome with a bad MAC or from the wrong node is refused. Raw ws clients play the attackers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '@kalam/raft';
import { WebSocketServer } from 'ws';
import type { TestCluster } from './support/harness.js';
import {
  CLUSTER_ID,
  HOST,
  RawClient,
  TestNode,
  encode,
  envelope,
  helloBytes,
  startCluster,
  waitFor,
} from './support/harness.js';
import { encodeValue } from '../src/codec.js';
import { createWelcome } from '../src/handshake.js';

const REFUSED = 4401;

async function stillServes(cluster: TestCluster): Promise<void> {
  const [a, b] = [cluster.node(1), cluster.node(2)];
  const before = a.from(2).length;
  b.transport.send(envelope(2, 1, 3, { type: 'MsgHeartbeat' }));
  await waitFor(() => a.from(2).length === before + 1, 'an envelope from the good peer');
  assert.deepEqual(await b.transport.request(nodeId(1), 'echo', 'ok', 2000), { from: 2, body: 'ok' });
}

async function expectRefused(cluster: TestCluster, frame: Uint8Array | string, reason: string): Promise<void> {
  const a = cluster.node(1);
  const refusedBefore = a.transport.stats().handshakesRefused;
  const client = await RawClient.open(a.port);
  try {
    client.send(frame);
    assert.equal(await client.waitClosed(), REFUSED, `closed with ${REFUSED} for ${reason}`);
    assert.equal(client.closeReason, reason);
    assert.equal(client.messages.length, 0, 'nothing is sent to a refused client');
  } finally {
    await client.close();
  }
  assert.equal(a.transport.stats().handshakesRefused, refusedBefore + 1);
  assert.ok(a.logs.some((l) => l.level === 'warn' && l.event === 'handshake_refused' && l.fields['reason'] === reason));
  await stillServes(cluster);
}

test('bad hellos are refused, counted and logged, and the node keeps serving', async (t) => {
  const cluster = await startCluster(2, { extraPeers: 1 });
  t.after(() => cluster.close());

  await t.test('wrong secret', () => expectRefused(cluster, helloBytes({ nodeId: 3, secret: 'guess' }), 'bad_hmac'));
  await t.test('wrong cluster', () =>
    expectRefused(cluster, helloBytes({ nodeId: 3, clusterId: 'other' }), 'wrong_cluster'),
  );
  await t.test('unknown node id', () => expectRefused(cluster, helloBytes({ nodeId: 9 }), 'unknown_node'));
  await t.test('its own node id', () => expectRefused(cluster, helloBytes({ nodeId: 1 }), 'unknown_node'));
  await t.test('stale timestamp', () =>
    expectRefused(cluster, helloBytes({ nodeId: 3, ts: Date.now() - 10 * 60_000 }), 'stale'),
  );
  await t.test('timestamp from the future', () =>
    expectRefused(cluster, helloBytes({ nodeId: 3, ts: Date.now() + 10 * 60_000 }), 'stale'),
  );
  await t.test('an envelope batch before the hello', async () => {
    const before = cluster.node(1).transport.stats().dropped.unauthenticated;
    await expectRefused(cluster, encode([envelope(3, 1, 0, { type: 'MsgApp' })]), 'not_a_handshake');
    assert.equal(cluster.node(1).transport.stats().dropped.unauthenticated, before + 1);
    assert.equal(cluster.node(1).from(3).length, 0);
  });
  await t.test('a text frame before the hello', () => expectRefused(cluster, 'hello', 'not_a_handshake'));
  await t.test('garbage before the hello', () =>
    expectRefused(cluster, new Uint8Array([0xff, 0x00, 0x13]), 'not_a_handshake'),
  );
});

test('a replayed hello is refused even though its MAC is valid', async (t) => {
  const cluster = await startCluster(2, { extraPeers: 1 });
  t.after(() => cluster.close());
  const hello = helloBytes({ nodeId: 3 });

  const first = await RawClient.open(cluster.node(1).port);
  t.after(() => first.close());
  first.send(hello);
  await first.waitMessages(1);
  assert.equal(first.closeCode, undefined, 'the first use is accepted (a welcome came back)');

  await expectRefused(cluster, hello, 'replay');
});

test('a member with the wrong secret is refused both ways and never connects', async (t) => {
  const cluster = await startCluster(2, { extraPeers: 1 });
  t.after(() => cluster.close());
  const a = cluster.node(1);
  const impostorPort = a.peers.find((p) => p.nodeId === 3)?.port;
  assert.ok(impostorPort !== undefined);
  const impostor = new TestNode(
    nodeId(3),
    impostorPort,
    cluster.nodes.map((n) => ({ nodeId: n.id, host: HOST, port: n.port })),
    {
      secret: 'not-the-secret',
    },
  );
  t.after(() => impostor.transport.close());
  await impostor.start();

  const toldByPeer = (): boolean =>
    impostor.logs.some((l) => l.event === 'handshake_refused_by_peer' && l.fields['reason'] === 'bad_hmac');
  await waitFor(
    () => a.refusals('bad_hmac') >= 1 && impostor.refusals('bad_hmac') >= 1 && toldByPeer(),
    'refusals on both sides, and the dialer told why',
  );
  assert.equal(impostor.transport.peerConnected(nodeId(1)), false);
  assert.equal(a.transport.peerConnected(nodeId(3)), false);
  assert.equal(a.from(3).length, 0);
  await stillServes(cluster);
});

test('the dialer refuses a server that cannot prove the secret or is the wrong node', async (t) => {
  const cluster = await startCluster(2, { extraPeers: 1 });
  t.after(() => cluster.close());
  const a = cluster.node(1);
  const fakePort = a.peers.find((p) => p.nodeId === 3)?.port;
  assert.ok(fakePort !== undefined);

  // A fake node 3: the first connection gets a welcome with a random MAC, later ones a valid welcome from node 2.
  let connections = 0;
  const fake = new WebSocketServer({ host: HOST, port: fakePort });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const client of fake.clients) client.terminate();
        fake.close(() => resolve());
      }),
  );
  fake.on('connection', (ws) => {
    connections += 1;
    const mine = connections;
    ws.on('error', () => ws.terminate());
    ws.on('message', (data: Buffer) => {
      void data;
      if (mine === 1) {
        ws.send(encode({ type: 'welcome', nodeId: 3, hmac: new Uint8Array(32).fill(7) }));
        return;
      }
      const welcome = createWelcome(
        { clusterId: CLUSTER_ID, nodeId: nodeId(2), secret: 'test-secret' },
        {
          type: 'hello',
          clusterId: CLUSTER_ID,
          nodeId: 1,
          ts: Date.now(),
          nonce: new Uint8Array(16),
          hmac: new Uint8Array(32),
        },
      );
      const bytes = encodeValue(welcome);
      if (bytes.ok) ws.send(bytes.bytes);
    });
  });

  await waitFor(() => a.refusals('bad_welcome') >= 2, 'two bad welcomes refused', 5000);
  assert.equal(a.transport.peerConnected(nodeId(3)), false);
  assert.ok(a.transport.stats().handshakesRefused >= 2);
  await stillServes(cluster);
});
