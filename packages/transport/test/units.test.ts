// Unit tests of the pure parts, no sockets: the bounded queue, the replay cache, the handshake MACs, frame
// parsing (shapes, spoofed senders), batch splitting under maxPayloadBytes, fault verdicts, the limits'
// relations, the rate-limited log, and that a failed encode leaves the shared encoder usable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '@kalam/raft';
import {
  FRAME_PAYLOAD_BYTES_TARGET,
  decodeFrame,
  encodeBatches,
  encodeValue,
  isBulk,
  parseEnvelope,
} from '../src/codec.js';
import type { BatchDrop } from '../src/codec.js';
import { FaultTable } from '../src/faults.js';
import { NonceCache, createHello, createWelcome, verifyHello, verifyWelcome } from '../src/handshake.js';
import { resolveLimits } from '../src/limits.js';
import { rateLimitedLog } from '../src/log.js';
import { BoundedQueue } from '../src/queue.js';
import type { Envelope } from '../src/index.js';
import { envelope } from './support/harness.js';

test('BoundedQueue: FIFO, drop-oldest and refuse-newest at capacity, wraps around', () => {
  const q = new BoundedQueue<number>(3);
  for (let i = 0; i < 3; i++) assert.equal(q.pushDropOldest(i), undefined);
  assert.equal(q.pushDropOldest(3), 0);
  assert.equal(q.tryPush(4), false);
  assert.deepEqual(q.drain(), [1, 2, 3]);
  for (let round = 0; round < 10; round++) {
    q.tryPush(round);
    q.tryPush(round + 100);
    assert.equal(q.shift(), round);
    assert.equal(q.shift(), round + 100);
  }
  assert.equal(q.length, 0);
  assert.equal(q.shift(), undefined);
});

const ID = { clusterId: 'c', nodeId: nodeId(2), secret: 's' };

test('hello: verified, and refused for each reason in order', () => {
  const nonces = new NonceCache(10);
  const check = {
    clusterId: 'c',
    secret: 's',
    isPeer: (id: number) => id === 2,
    nowMs: 1_000_000,
    maxSkewMs: 1000,
    nonces,
  };
  const hello = createHello(ID, 1_000_000);
  assert.deepEqual(verifyHello(hello, check), { ok: true, peer: 2 });
  assert.deepEqual(verifyHello(hello, check), { ok: false, reason: 'replay' });
  assert.deepEqual(verifyHello(createHello({ ...ID, clusterId: 'd' }, 1_000_000), check), {
    ok: false,
    reason: 'wrong_cluster',
  });
  assert.deepEqual(verifyHello(createHello({ ...ID, nodeId: nodeId(3) }, 1_000_000), check), {
    ok: false,
    reason: 'unknown_node',
  });
  assert.deepEqual(verifyHello(createHello(ID, 1_000_000 - 1001), check), { ok: false, reason: 'stale' });
  assert.deepEqual(verifyHello(createHello({ ...ID, secret: 't' }, 1_000_000), check), {
    ok: false,
    reason: 'bad_hmac',
  });
  // A tampered timestamp breaks the MAC.
  assert.deepEqual(verifyHello({ ...createHello(ID, 1_000_000), ts: 1_000_001 }, check), {
    ok: false,
    reason: 'bad_hmac',
  });
});

test('NonceCache: forgets expired nonces, refuses when full of live ones', () => {
  const cache = new NonceCache(2);
  const n = (b: number): Uint8Array => new Uint8Array(16).fill(b);
  assert.equal(cache.remember(n(1), 100, 0), 'fresh');
  assert.equal(cache.remember(n(2), 100, 0), 'fresh');
  assert.equal(cache.remember(n(3), 100, 50), 'full');
  assert.equal(cache.remember(n(1), 100, 50), 'replay');
  assert.equal(cache.remember(n(3), 300, 101), 'fresh', 'expired nonces are pruned');
  assert.equal(cache.size, 1);
});

test('welcome: binds the server id, the dialer id and the dialer nonce', () => {
  const dialer = { clusterId: 'c', nodeId: nodeId(1), secret: 's' };
  const hello = createHello(dialer, 0);
  const welcome = createWelcome(ID, hello);
  assert.equal(verifyWelcome(welcome, dialer, nodeId(2), hello.nonce), true);
  assert.equal(verifyWelcome(welcome, dialer, nodeId(3), hello.nonce), false, 'from the wrong node');
  assert.equal(verifyWelcome(welcome, dialer, nodeId(2), new Uint8Array(16)), false, 'for another nonce');
  assert.equal(verifyWelcome(welcome, { ...dialer, secret: 'x' }, nodeId(2), hello.nonce), false);
});

test('frames: shapes are checked; envelopes must come from the sender and be for us', () => {
  const bytes = (v: unknown): Uint8Array => {
    const e = encodeValue(v);
    assert.ok(e.ok);
    return e.bytes;
  };
  assert.equal(decodeFrame(new Uint8Array([0xff])).ok, false);
  assert.equal(decodeFrame(bytes({ type: 'req', id: 0, method: 'm' })).ok, false);
  assert.equal(decodeFrame(bytes({ type: 'res', id: 1, ok: 'maybe' })).ok, false);
  assert.equal(decodeFrame(bytes('a string')).ok, false);
  assert.equal(decodeFrame(bytes(new Set([1]))).ok, false);
  const req = decodeFrame(bytes({ type: 'req', id: 7, method: 'm', body: [1] }));
  assert.deepEqual(req, { ok: true, frame: { type: 'req', id: 7, method: 'm', body: [1] } });

  const [me, peer] = [nodeId(1), nodeId(2)];
  assert.ok(parseEnvelope({ groupId: 0, from: 2, to: 1, msg: {} }, peer, me));
  assert.equal(parseEnvelope({ groupId: 0, from: 3, to: 1, msg: {} }, peer, me), undefined, 'spoofed sender');
  assert.equal(parseEnvelope({ groupId: 0, from: 2, to: 3, msg: {} }, peer, me), undefined, 'not for us');
  assert.equal(parseEnvelope({ groupId: -1, from: 2, to: 1, msg: {} }, peer, me), undefined);
  assert.equal(parseEnvelope({ groupId: 0, from: 2, to: 1, msg: null }, peer, me), undefined);
  assert.equal(isBulk(envelope(1, 2, 0, { type: 'MsgSnap' })), true);
  assert.equal(isBulk(envelope(1, 2, 0, { type: 'MsgApp' })), false);
});

test('encodeBatches: a turn of large MsgApps goes as frames of about 1 MiB, in order, not one 8 MiB frame', () => {
  // What a catch-up sends a follower in one turn: the core's 8 MiB in flight, 16 entries of 512 KiB.
  const envs: Envelope[] = Array.from({ length: 16 }, (_, i) =>
    envelope(1, 2, i, { type: 'MsgApp', entries: [{ index: i, data: new Uint8Array(512 * 1024).fill(i) }] }),
  );
  const frames = encodeBatches(envs, 16 * 1024 * 1024, () => assert.fail('nothing dropped'));
  assert.ok(frames.length >= 8, `${frames.length} frames`);
  const cap = FRAME_PAYLOAD_BYTES_TARGET + 64 * 1024;
  assert.ok(
    frames.every((f) => f.bytes.length <= cap),
    frames.map((f) => f.bytes.length).join(', '),
  );
  const order = frames.flatMap((f) => {
    const d = decodeFrame(f.bytes);
    assert.ok(d.ok && d.frame.type === 'batch');
    return d.frame.items.map((item) => (item as { groupId: number }).groupId);
  });
  assert.deepEqual(order, [...envs.keys()]);
  // One entry larger than the target still goes, alone in its frame; small envelopes still share one.
  const lone = encodeBatches([envelope(1, 2, 0, { type: 'MsgApp', data: new Uint8Array(3 << 20) })], 16 << 20, () =>
    assert.fail('nothing dropped'),
  );
  assert.equal(lone.length, 1);
  const small = Array.from({ length: 100 }, (_, i) => envelope(1, 2, i, { type: 'MsgHeartbeat' }));
  assert.equal(encodeBatches(small, 16 << 20, () => assert.fail()).length, 1);
});

test('encodeBatches: one frame when it fits, split in halves when not, lone oversized and unencodable dropped', () => {
  const envs: Envelope[] = Array.from({ length: 64 }, (_, i) =>
    envelope(1, 2, i, { type: 'MsgApp', pad: 'x'.repeat(100) }),
  );
  assert.equal(encodeBatches(envs, 1 << 20, () => assert.fail()).length, 1);
  const frames = encodeBatches(envs, 2000, () => assert.fail('nothing dropped'));
  assert.ok(frames.length > 1 && frames.every((f) => f.bytes.length <= 2000));
  assert.equal(
    frames.reduce((n, f) => n + f.count, 0),
    64,
  );
  const drops: BatchDrop[] = [];
  const mixed = [
    envelope(1, 2, 0, { big: 'y'.repeat(5000) }),
    envelope(1, 2, 1, { fn: () => 1 }),
    envelope(1, 2, 2, { ok: 1 }),
  ];
  const out = encodeBatches(mixed, 2000, (d) => drops.push(d));
  assert.deepEqual(
    drops.map((d) => [d.env.groupId, d.reason]),
    [
      [0, 'oversized'],
      [1, 'unencodable'],
    ],
  );
  assert.equal(out.length, 1);
  // The shared encoder is still sound after the failure.
  const again = encodeValue({ a: new Uint8Array([1, 2]) });
  assert.ok(again.ok);
  assert.deepEqual(decodeFrame(again.bytes), { ok: false, reason: 'bad untyped frame' });
});

test('FaultTable: verdicts per rule', () => {
  let r = 0;
  const faults = new FaultTable(() => r);
  const p = nodeId(2);
  assert.equal(faults.outbound(p).kind, 'send');
  faults.set(p, { dropRate: 0.5 });
  r = 0.4;
  assert.equal(faults.outbound(p).kind, 'drop');
  r = 0.6;
  assert.equal(faults.outbound(p).kind, 'send');
  faults.set(p, { delayMs: 100, jitterMs: 10 });
  r = 1;
  assert.deepEqual(faults.outbound(p), { kind: 'delay', delayMs: 110 });
  r = 0;
  assert.deepEqual(faults.outbound(p), { kind: 'delay', delayMs: 90 });
  faults.set(p, { blockInbound: true });
  assert.equal(faults.inboundBlocked(p), true);
  assert.equal(faults.outbound(p).kind, 'send');
  faults.clear();
  assert.equal(faults.inboundBlocked(p), false);
  assert.equal(faults.duplicate(p), false);
  faults.set(p, { duplicateRate: 0.5 });
  r = 0.4;
  assert.equal(faults.duplicate(p), true);
  r = 0.6;
  assert.equal(faults.duplicate(p), false);
  assert.equal(faults.outbound(p).kind, 'send', 'duplication alone never drops or delays');
});

test('limits: defaults resolve; broken relations are assertion failures', () => {
  assert.equal(resolveLimits({}).maxPayloadBytes, 16 * 1024 * 1024);
  assert.throws(() => resolveLimits({ reconnectBackoffMs: { min: 10, max: 5 } }), { code: 'ASSERTION_FAILED' });
  assert.throws(() => resolveLimits({ maxPayloadBytes: 100 }), { code: 'ASSERTION_FAILED' });
  assert.throws(() => resolveLimits({ queueMax: 0 }), { code: 'ASSERTION_FAILED' });
  assert.equal(resolveLimits({ limits: { closeGraceMs: 7 } }).closeGraceMs, 7, 'any bound by its name');
  assert.equal(resolveLimits({ limits: { queueEnvelopesMax: 5 }, queueMax: 9 }).queueEnvelopesMax, 9, 'named wins');
  assert.throws(() => resolveLimits({ limits: { closeGraceMs: 0 } }), { code: 'ASSERTION_FAILED' });
  assert.throws(() => resolveLimits({ limits: { pendingHandshakesMax: 8, pendingHandshakesPerAddressMax: 9 } }), {
    code: 'ASSERTION_FAILED',
  });
  assert.throws(() => resolveLimits({ limits: { dialTimeoutMs: 60_000 } }), { code: 'ASSERTION_FAILED' });
});

test('rateLimitedLog: at most N lines per event per second, then reports how many were suppressed', () => {
  let now = 0;
  const lines: Record<string, unknown>[] = [];
  const log = rateLimitedLog(
    (_level, _event, fields) => lines.push(fields),
    2,
    () => now,
  );
  for (let i = 0; i < 5; i++) log('warn', 'e', { i });
  log('warn', 'other', {});
  assert.equal(lines.length, 3);
  now = 1000;
  log('warn', 'e', { i: 5 });
  assert.deepEqual(lines.at(-1), { i: 5, suppressed: 3 });
});
