// Request/response on the links: a call reaches the peer's onRequest and its answer comes back on the same
// socket; handler errors come back as REMOTE_ERROR with the remote code and fields; a silent peer gives
// TIMEOUT; a peer without a link gives PEER_UNAVAILABLE at once; close() rejects what is pending with CLOSED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '@kalam/raft';
import { TransportError } from '../src/index.js';
import { startCluster } from './support/harness.js';

test('a request is answered by the peer, on the same link, many at once', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const a = cluster.node(1).transport;
  const bytes = new Uint8Array([1, 2, 3]);
  const answers = await Promise.all(
    Array.from({ length: 100 }, (_, i) => a.request(nodeId(2), 'echo', { i, bytes }, 2000)),
  );
  answers.forEach((answer, i) => {
    const { from, body } = answer as { from: number; body: { i: number; bytes: Uint8Array } };
    assert.equal(from, 1);
    assert.equal(body.i, i);
    assert.ok(body.bytes instanceof Uint8Array);
  });
  // And the other way, on the other link.
  assert.deepEqual(await cluster.node(2).transport.request(nodeId(1), 'echo', 'hi', 2000), { from: 2, body: 'hi' });
});

test('a failing handler gives REMOTE_ERROR with its message, code and fields', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const error = await cluster
    .node(1)
    .transport.request(nodeId(2), 'fail', null, 2000)
    .then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
  assert.ok(error instanceof TransportError);
  assert.equal(error.code, 'REMOTE_ERROR');
  assert.equal(error.peer, 2);
  assert.equal(error.message, 'not the leader; try node 3');
  assert.equal(error.remoteCode, 'NOT_LEADER');
  assert.equal(error.remoteFields?.['leaderHint'], 3);
  assert.equal((error.cause as { code?: unknown }).code, 'NOT_LEADER');
  await assert.rejects(cluster.node(1).transport.request(nodeId(2), 'nope', null, 2000), {
    code: 'REMOTE_ERROR',
    message: 'unknown method nope',
  });
});

test('no answer in time gives TIMEOUT; the late answer is ignored', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const a = cluster.node(1).transport;
  await assert.rejects(a.request(nodeId(2), 'sleep', 300, 50), (e: unknown) => {
    assert.ok(e instanceof TransportError);
    assert.equal(e.code, 'TIMEOUT');
    assert.equal(e.peer, 2);
    return true;
  });
  await new Promise((resolve) => setTimeout(resolve, 350));
  assert.equal(await a.request(nodeId(2), 'sleep', 0, 2000), 'slept');
});

test('PEER_UNAVAILABLE without a link; CLOSED for pending calls and after close()', async (t) => {
  const cluster = await startCluster(2, { extraPeers: 1 });
  t.after(() => cluster.close());
  const a = cluster.node(1).transport;
  await assert.rejects(a.request(nodeId(3), 'echo', null, 1000), { code: 'PEER_UNAVAILABLE' });
  await assert.rejects(a.request(nodeId(42), 'echo', null, 1000), { code: 'PEER_UNAVAILABLE' });

  const pending = a.request(nodeId(2), 'sleep', 2000, 5000);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await a.close();
  await assert.rejects(pending, { code: 'CLOSED' });
  await assert.rejects(a.request(nodeId(2), 'echo', null, 1000), { code: 'CLOSED' });
});

test('a pending call fails with PEER_UNAVAILABLE when its link drops', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const pending = cluster.node(1).transport.request(nodeId(2), 'sleep', 2000, 5000);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await cluster.node(2).transport.close();
  await assert.rejects(pending, { code: 'PEER_UNAVAILABLE' });
});
