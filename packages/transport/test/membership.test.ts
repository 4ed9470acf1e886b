// Peers follow the cluster's membership (issue [M9] §2): a peer added at run time is dialed and authenticated
// both ways; a removed peer's links close, its hello is refused as `removed_node` (not `unknown_node`), the removed
// node hears that reason and its onRemoved fires; an envelope to a node that is no longer a peer is dropped and
// counted instead of failing the sender. Join requests (the HMAC of a node that has no id yet) are accepted with
// the secret and refused without it, when stale, and when replayed; the answer's MAC binds the request's nonce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '@kalam/raft';
import type { NodeId } from '@kalam/raft';
import { HOST, SECRET, TestNode, envelope, reservePorts, waitFor } from './support/harness.js';
import { NonceCache, createJoinRequest, joinAnswerMac, verifyJoinAnswer, verifyJoinRequest } from '../src/index.js';

test('a peer added at run time links up; a removed peer is refused as removed_node and told so', async (t) => {
  const [p1, p2, p3] = (await reservePorts(3)) as [number, number, number];
  const removedBy: NodeId[] = [];
  const a = new TestNode(nodeId(1), p1, [{ nodeId: nodeId(2), host: HOST, port: p2 }]);
  const b = new TestNode(nodeId(2), p2, [{ nodeId: nodeId(1), host: HOST, port: p1 }]);
  // Node 3 joins later: it knows 1 and 2, they learn of it through addPeer.
  const c = new TestNode(
    nodeId(3),
    p3,
    [
      { nodeId: nodeId(1), host: HOST, port: p1 },
      { nodeId: nodeId(2), host: HOST, port: p2 },
    ],
    { onRemoved: (by) => removedBy.push(by) },
  );
  t.after(() => Promise.all([a, b, c].map((n) => n.transport.close())));
  await Promise.all([a.start(), b.start(), c.start()]);
  await waitFor(() => a.transport.peerConnected(nodeId(2)) && b.transport.peerConnected(nodeId(1)), 'the first two');
  a.transport.addPeer({ nodeId: nodeId(3), host: HOST, port: p3 });
  b.transport.addPeer({ nodeId: nodeId(3), host: HOST, port: p3 });
  await waitFor(
    () => [1, 2].every((id) => c.transport.peerConnected(nodeId(id))) && a.transport.peerConnected(nodeId(3)),
    'node 3 linked both ways',
  );
  a.transport.send(envelope(1, 3, 0, { type: 'MsgHeartbeat' }));
  await waitFor(() => c.from(1).length > 0, 'an envelope to the new peer');
  assert.deepEqual(a.transport.peers(), [2, 3]);

  a.transport.removePeer(nodeId(3));
  b.transport.removePeer(nodeId(3));
  assert.deepEqual(a.transport.peers(), [2]);
  await waitFor(() => removedBy.length > 0, 'node 3 hears it was removed');
  await waitFor(() => a.refusals('removed_node') > 0, 'node 1 refuses the removed id');
  assert.ok(!a.transport.peerConnected(nodeId(3)));
  // An envelope to the removed node is dropped and counted; the sender carries on.
  a.transport.send(envelope(1, 3, 0, { type: 'MsgHeartbeat' }));
  assert.equal(a.transport.stats().dropped.notAPeer, 1);
  assert.throws(() => a.transport.addPeer({ nodeId: nodeId(3), host: HOST, port: p3 }), /never reused/);
});

test('a join request needs the secret, a fresh clock and a new nonce; the answer binds the nonce', () => {
  const nonces = new NonceCache(16);
  const now = 1_000_000;
  const check = { secret: SECRET, nowMs: now, maxSkewMs: 5_000, nonces };
  const addrs = { rpcAddr: '127.0.0.1:9104', apiAddr: 'http://127.0.0.1:8084' };
  const good = createJoinRequest(SECRET, addrs, now);
  assert.deepEqual(verifyJoinRequest(createJoinRequest('guess-guess', addrs, now), check), {
    ok: false,
    reason: 'bad_hmac',
  });
  assert.deepEqual(verifyJoinRequest({ ...good, apiAddr: 'http://evil:1' }, check), { ok: false, reason: 'bad_hmac' });
  assert.deepEqual(verifyJoinRequest({ ...good, hmac: 'zz' }, check), { ok: false, reason: 'bad_hmac' });
  assert.deepEqual(verifyJoinRequest(createJoinRequest(SECRET, addrs, now - 60_000), check), {
    ok: false,
    reason: 'stale',
  });
  assert.deepEqual(verifyJoinRequest(good, check), { ok: true });
  assert.deepEqual(verifyJoinRequest(good, check), { ok: false, reason: 'replay' });

  const answer = { clusterId: 'c1', nodeId: 4, nonce: good.nonce };
  const hmac = joinAnswerMac(SECRET, answer);
  assert.ok(verifyJoinAnswer(SECRET, { ...answer, hmac }));
  assert.ok(!verifyJoinAnswer(SECRET, { ...answer, nodeId: 5, hmac }), 'another id');
  assert.ok(!verifyJoinAnswer(SECRET, { ...answer, nonce: '00', hmac }), 'another request');
  assert.ok(!verifyJoinAnswer('guess-guess', { ...answer, hmac }), 'another secret');
});
