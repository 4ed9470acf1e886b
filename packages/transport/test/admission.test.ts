// Admission on the /raft port (adversaries.md §2, connection floods): strangers can neither hold a connection
// open nor keep a signed peer out. A TCP connection that has not upgraded and sent a valid hello within the
// handshake deadline is closed, whatever phase it is stuck in (silent TCP, half-sent headers, upgraded but
// silent); unauthenticated connections are bounded per remote address and in all, and when a bound is reached
// the connection that has waited longest is the one closed, so a newcomer — a peer's quick handshake among
// them — is always admitted. Strangers come from other loopback addresses (127.0.0.x) than the peer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeFrame } from '../src/codec.js';
import {
  HOST,
  RawClient,
  authenticatedClient,
  encode,
  envelope,
  helloBytes,
  startCluster,
  waitFor,
  within,
} from './support/harness.js';

/** Long enough that no stranger of these tests leaves by the deadline while the test still needs it. */
const LONG_DEADLINE = { limits: { handshakeTimeoutMs: 30_000 } };
/** Generous bound on how long a socket may outlive the (default) handshake deadline before the test fails. */
const CLOSE_BOUND_MS = 10_000;
const PENDING_MAX = 256;
const PER_ADDRESS_MAX = 16;

function strangerAddress(i: number): string {
  return `127.0.0.${2 + i}`;
}

async function closeAll(clients: readonly RawClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
}

/** Resolves true once `socket` is closed by the other side, false if it is still open after `boundMs`. */
async function closedWithin(socket: Socket, boundMs: number): Promise<boolean> {
  if (!socket.closed) await within(new Promise((resolve) => socket.once('close', resolve)), boundMs);
  return socket.closed;
}

async function openTcp(port: number): Promise<Socket> {
  const socket = connect({ host: HOST, port });
  socket.on('error', () => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return socket;
}

test('a signed peer is admitted and exchanges frames while 300 strangers crowd the pending slots', async (t) => {
  const cluster = await startCluster(1, { extraPeers: 1, overrides: () => LONG_DEADLINE });
  t.after(() => cluster.close());
  const a = cluster.node(1);
  const strangers: RawClient[] = [];
  t.after(() => closeAll(strangers));

  // 30 addresses × 10 upgraded, silent sockets: under the per-address bound, over the total one. In batches of
  // 50, each upgraded before the next starts, so that the ones evicted are always upgraded ones from an earlier
  // batch (an eviction before the upgrade would fail the stranger's open instead of closing it with 4401).
  for (let batch = 0; batch < 6; batch++) {
    const opened = await Promise.all(
      Array.from({ length: 50 }, (_, k) => RawClient.open(a.port, '/raft', strangerAddress((batch * 50 + k) % 30))),
    );
    strangers.push(...opened);
  }

  const peer = await authenticatedClient(a.port, 2);
  t.after(() => peer.close());
  peer.send(encode([envelope(2, 1, 7, { type: 'MsgHeartbeat', term: 1 })]));
  await waitFor(() => a.from(2).length === 1, 'the peer’s envelope delivered');
  peer.send(encode({ type: 'req', id: 1, method: 'echo', body: 'through the crowd' }));
  await peer.waitMessages(2);
  const response = decodeFrame(peer.messages[1] as Buffer);
  assert.ok(response.ok && response.frame.type === 'res' && response.frame.ok);
  assert.deepEqual(response.frame.body, { from: 2, body: 'through the crowd' });

  // 301 unauthenticated arrivals, 256 slots: the 45 that waited longest were closed, naming why.
  const evicted = (): RawClient[] => strangers.filter((c) => c.closeCode !== undefined);
  await waitFor(() => evicted().length >= 301 - PENDING_MAX, 'the oldest strangers closed');
  assert.equal(strangers.length, 300, 'every stranger was let in at first');
  assert.equal(evicted().length, 301 - PENDING_MAX);
  for (const c of evicted()) assert.deepEqual([c.closeCode, c.closeReason], [4401, 'too_many_handshakes']);
  assert.equal(peer.closeCode, undefined, 'the peer stays connected');
});

test('unauthenticated connections are bounded per remote address; the oldest of that address is closed', async (t) => {
  const cluster = await startCluster(1, { extraPeers: 1, overrides: () => LONG_DEADLINE });
  t.after(() => cluster.close());
  const a = cluster.node(1);
  const crowd: RawClient[] = [];
  t.after(() => closeAll(crowd));
  const other = await RawClient.open(a.port, '/raft', strangerAddress(1));
  t.after(() => other.close());

  // One at a time, so acceptance order is opening order.
  for (let i = 0; i < PER_ADDRESS_MAX + 4; i++) crowd.push(await RawClient.open(a.port, '/raft', strangerAddress(0)));
  await waitFor(() => crowd.filter((c) => c.closeCode !== undefined).length >= 4, 'four of the crowd closed');
  await sleep(100);
  assert.deepEqual(
    crowd.map((c) => c.closeCode !== undefined),
    crowd.map((_, i) => i < 4),
    'exactly the four oldest of the crowd are closed',
  );
  for (const c of crowd.slice(0, 4)) assert.deepEqual([c.closeCode, c.closeReason], [4401, 'too_many_from_address']);
  assert.equal(other.closeCode, undefined, 'another address keeps its slot');
  assert.ok(a.refusals('too_many_from_address') >= 4, 'each eviction is logged');

  // The address is not banned: a signed peer from it still gets in (it evicts one more stranger).
  const peer = await authenticatedClient(a.port, 2);
  t.after(() => peer.close());
  assert.equal(peer.closeCode, undefined);
});

test('a connection that has not authenticated within the deadline is closed, whatever phase it is stuck in', async (t) => {
  const cluster = await startCluster(1, { extraPeers: 1 });
  t.after(() => cluster.close());
  const a = cluster.node(1);
  const sockets: Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));

  const silent = await openTcp(a.port);
  sockets.push(silent);
  const halfHeaders = await openTcp(a.port);
  sockets.push(halfHeaders);
  halfHeaders.write('GET /raft HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
  const upgraded = await RawClient.open(a.port);
  t.after(() => upgraded.close());

  const [silentClosed, halfClosed] = await Promise.all([
    closedWithin(silent, CLOSE_BOUND_MS),
    closedWithin(halfHeaders, CLOSE_BOUND_MS),
    upgraded.waitClosed(CLOSE_BOUND_MS),
  ]);
  assert.equal(silentClosed, true, 'a silent TCP connection is closed');
  assert.equal(halfClosed, true, 'a connection that never finishes its headers is closed');
  assert.deepEqual([upgraded.closeCode, upgraded.closeReason], [4401, 'handshake_timeout']);

  // The node still admits a peer afterwards.
  const peer = await authenticatedClient(a.port, 2);
  t.after(() => peer.close());
  assert.equal(peer.closeCode, undefined);
});

test('a hello that arrived before the deadline is taken even when the event loop stalled past it', async (t) => {
  const cluster = await startCluster(1, {
    extraPeers: 1,
    overrides: () => ({ limits: { handshakeTimeoutMs: 1_000 } }),
  });
  t.after(() => cluster.close());
  const client = await RawClient.open(cluster.node(1).port);
  t.after(() => client.close());
  client.send(helloBytes({ nodeId: 2 }));
  // A synchronous stall (a long statement, a GC pause) well past the deadline: the deadline's timer then fires
  // in the same loop turn that reads the hello, and the hello must win.
  const stallUntil = Date.now() + 2_500;
  while (Date.now() < stallUntil) {
    // busy
  }
  await client.waitMessages(1);
  assert.equal(client.closeCode, undefined, 'the welcome came back and the socket stays open');
});
