// Fuzz (DESIGN.md §5: undecodable or oversized frames are counted and dropped, never crash the node). Raw ws
// clients send at least 10,000 random and mutated frames to a live node: random bytes, truncated / bit-flipped
// / spliced valid frames, valid CBOR of the wrong shapes, decoder-hostile bytes, text frames and oversized
// frames, both before a handshake (each on a fresh socket) and after a valid one. A hostile server then feeds
// the node's dialer the same. Afterwards the node must still exchange envelopes and requests with its good
// peer, and the drop counters must have moved. One seed drives everything: TRANSPORT_FUZZ_SEED=n replays it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '@kalam/raft';
import type { NodeId } from '@kalam/raft';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { decodeFrame } from '../src/codec.js';
import { createWelcome } from '../src/handshake.js';
import type { TestCluster } from './support/harness.js';
import {
  CLUSTER_ID,
  HOST,
  RawClient,
  SECRET,
  authenticatedClient,
  encode,
  envelope,
  helloBytes,
  startCluster,
  waitFor,
} from './support/harness.js';
import { Rng, fuzzFrame } from './support/fuzz.js';
import type { FuzzFrame } from './support/fuzz.js';

const MAX_PAYLOAD_BYTES = 64 * 1024;
const PRE_AUTH_FRAMES = 2_000;
const POST_AUTH_FRAMES = 9_000;
const PRE_AUTH_CONCURRENCY = 16;

/** One seed for the file: TRANSPORT_FUZZ_SEED when set, else a fresh one (printed by each test). */
const SEED = ((): number => {
  const fromEnv = Number(process.env['TRANSPORT_FUZZ_SEED']);
  return process.env['TRANSPORT_FUZZ_SEED'] !== undefined && Number.isInteger(fromEnv)
    ? fromEnv
    : Math.floor(Math.random() * 2 ** 31);
})();

/** Valid frames of every kind, the raw material for mutations. */
function seedFrames(attacker: number, self: number): Uint8Array[] {
  return [
    helloBytes({ nodeId: attacker }),
    encode([
      envelope(attacker, self, 3, {
        type: 'MsgApp',
        term: 2,
        entries: [{ index: 1, term: 2, data: new Uint8Array(20) }],
      }),
    ]),
    encode([envelope(attacker, self, 100, { type: 'MsgHeartbeat', term: 2, commit: 9, context: null })]),
    encode([envelope(attacker, self, 5, { type: 'MsgSnap', offset: 0, totalBytes: 10, data: new Uint8Array(10) })]),
    encode({ type: 'req', id: 1, method: 'echo', body: { a: [1, 2, 3] } }),
    encode({ type: 'res', id: 1, ok: false, error: { name: 'E', message: 'm', fields: { code: 'X' } } }),
    encode({ type: 'welcome', nodeId: self, hmac: new Uint8Array(32) }),
  ];
}

/** Every link between the good members still carries envelopes and requests, both ways. */
async function stillReplicates(cluster: TestCluster): Promise<void> {
  const [a, b] = [cluster.node(1), cluster.node(2)];
  await waitFor(() => a.transport.peerConnected(nodeId(2)) && b.transport.peerConnected(nodeId(1)), 'good links up');
  const [fromA, fromB] = [b.from(1).length, a.from(2).length];
  for (let i = 0; i < 100; i++) {
    a.transport.send(envelope(1, 2, i % 36, { type: 'MsgApp', i }));
    b.transport.send(envelope(2, 1, i % 36, { type: 'MsgAppResp', i }));
  }
  await waitFor(() => b.from(1).length === fromA + 100 && a.from(2).length === fromB + 100, 'envelopes both ways');
  assert.deepEqual(await a.transport.request(nodeId(2), 'echo', 'after', 2000), { from: 1, body: 'after' });
  assert.deepEqual(await b.transport.request(nodeId(1), 'echo', 'after', 2000), { from: 2, body: 'after' });
}

async function fuzzBeforeHandshake(port: number, rng: Rng, seeds: Uint8Array[], frames: number): Promise<number> {
  let next = 0;
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (next < frames) {
      next += 1;
      const frame = fuzzFrame(rng, seeds, {
        attacker: 3,
        self: 1,
        oversizedBytes: MAX_PAYLOAD_BYTES + 1,
        oversizedShare: 0.01,
      });
      const client = await RawClient.open(port);
      client.send(frame.data);
      sent += 1;
      await client.waitClosed(2000);
      await client.close();
    }
  };
  await Promise.all(Array.from({ length: PRE_AUTH_CONCURRENCY }, worker));
  return sent;
}

async function fuzzAfterHandshake(
  port: number,
  rng: Rng,
  seeds: Uint8Array[],
  frames: number,
): Promise<Record<string, number>> {
  const kinds: Record<string, number> = {};
  let client = await authenticatedClient(port, 3);
  try {
    for (let i = 0; i < frames; i++) {
      const frame: FuzzFrame = fuzzFrame(rng, seeds, {
        attacker: 3,
        self: 1,
        oversizedBytes: MAX_PAYLOAD_BYTES + 1,
        oversizedShare: 0.02,
      });
      kinds[frame.kind] = (kinds[frame.kind] ?? 0) + 1;
      client.send(frame.data);
      if (frame.kind === 'oversized') {
        // The node closes a socket that sends an oversized frame; carry on with a fresh authenticated one.
        await client.waitClosed(2000);
        await client.close();
        client = await authenticatedClient(port, 3);
      } else if (i % 500 === 499) {
        // Let the node catch up now and then so that the frames are processed on this socket, not queued.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    // The socket survived everything but oversized frames: a valid request still gets its answer.
    client.send(encode({ type: 'req', id: 999_999, method: 'echo', body: 'still here' }));
    await waitFor(
      () =>
        client.messages.some((m) => {
          const decoded = decodeFrame(m);
          return decoded.ok && decoded.frame.type === 'res' && decoded.frame.id === 999_999;
        }),
      'the answer on the fuzzed socket',
    );
  } finally {
    await client.close();
  }
  return kinds;
}

test('10,000+ fuzz frames from raw clients, before and after the handshake, do not hurt the node', async (t) => {
  const seed = SEED;
  t.diagnostic(`TRANSPORT_FUZZ_SEED=${seed}`);
  const rng = new Rng(seed);
  const cluster = await startCluster(2, {
    extraPeers: 1,
    overrides: () => ({
      maxPayloadBytes: MAX_PAYLOAD_BYTES,
      onRequest: (from: NodeId, method: string, body: unknown) =>
        method === 'echo'
          ? Promise.resolve({ from, body })
          : Promise.reject(new Error(`no method ${method.slice(0, 20)}`)),
    }),
  });
  t.after(() => cluster.close());
  const a = cluster.node(1);
  const seeds = seedFrames(3, 1);

  const preAuthSent = await fuzzBeforeHandshake(a.port, rng, seeds, PRE_AUTH_FRAMES);
  const afterPre = a.transport.stats();
  assert.ok(afterPre.dropped.unauthenticated > 0.9 * preAuthSent, `seed ${seed}: pre-handshake frames counted`);
  assert.ok(afterPre.handshakesRefused > 0.9 * preAuthSent, `seed ${seed}: every bad hello refused`);
  await stillReplicates(cluster);

  const kinds = await fuzzAfterHandshake(a.port, rng, seeds, POST_AUTH_FRAMES);
  t.diagnostic(`post-handshake frames by kind: ${JSON.stringify(kinds)}`);
  await stillReplicates(cluster);

  const stats = a.transport.stats();
  t.diagnostic(`node 1 stats: ${JSON.stringify(stats)}`);
  assert.ok(preAuthSent + POST_AUTH_FRAMES >= 10_000);
  assert.ok(stats.framesIn >= 0.9 * (preAuthSent + POST_AUTH_FRAMES), `seed ${seed}: the frames were processed`);
  assert.ok(stats.dropped.undecodable > 1000, `seed ${seed}: undecodable frames counted`);
  assert.ok(stats.dropped.oversized > 10, `seed ${seed}: oversized frames counted`);
  assert.ok(stats.dropped.unauthenticated > 0);
  // Nothing a stranger sent was delivered as if it came from a good peer.
  assert.ok(a.received.every((r) => r.from === 2 || r.from === 3));
  assert.ok(a.received.filter((r) => r.from === 2).every((r) => (r.env.msg as { type: string }).type === 'MsgAppResp'));
  // And the node still accepts a proper handshake.
  const fresh = await authenticatedClient(a.port, 3);
  await fresh.close();
});

test('a hostile server cannot crash the dialer, before or after the welcome', async (t) => {
  const seed = SEED;
  t.diagnostic(`TRANSPORT_FUZZ_SEED=${seed}`);
  const rng = new Rng(seed);
  const cluster = await startCluster(2, { extraPeers: 1, overrides: () => ({ maxPayloadBytes: MAX_PAYLOAD_BYTES }) });
  t.after(() => cluster.close());
  const a = cluster.node(1);
  const fakePort = a.peers.find((p) => p.nodeId === 3)?.port;
  assert.ok(fakePort !== undefined);
  const seeds = seedFrames(3, 1);

  // Fake node 3. Connections 1..20 get one fuzz frame instead of a welcome; later ones a valid welcome and then
  // a stream of fuzz frames (oversized ones end the connection; node 1 redials).
  let connections = 0;
  let sent = 0;
  const fake = new WebSocketServer({ host: HOST, port: fakePort, maxPayload: 1024 * 1024 });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const ws of fake.clients) ws.terminate();
        fake.close(() => resolve());
      }),
  );
  const frame = (): FuzzFrame =>
    fuzzFrame(rng, seeds, { attacker: 3, self: 1, oversizedBytes: MAX_PAYLOAD_BYTES + 1, oversizedShare: 0.01 });
  const serve = (ws: WebSocket, data: Buffer): void => {
    const decoded = decodeFrame(data);
    if (!decoded.ok || decoded.frame.type !== 'hello') return;
    if (connections <= 20) {
      ws.send(frame().data);
      sent += 1;
      return;
    }
    ws.send(encode(createWelcome({ clusterId: CLUSTER_ID, nodeId: nodeId(3), secret: SECRET }, decoded.frame)));
    for (let i = 0; i < 500 && ws.readyState === ws.OPEN; i++) {
      const f = frame();
      ws.send(f.data);
      sent += 1;
      if (f.kind === 'oversized') break;
    }
  };
  fake.on('connection', (ws) => {
    connections += 1;
    ws.on('error', () => ws.terminate());
    ws.once('message', (data: Buffer) => serve(ws, data));
  });

  await waitFor(() => sent >= 2000, 'the hostile server sent 2000 frames', 20_000);
  t.diagnostic(`fake server: ${connections} connections, ${sent} frames`);
  const stats = a.transport.stats();
  assert.ok(stats.handshakesRefused > 0, `seed ${seed}: bad welcomes refused`);
  assert.ok(stats.dropped.undecodable > 0, `seed ${seed}: undecodable frames counted on the link`);
  await stillReplicates(cluster);
});
