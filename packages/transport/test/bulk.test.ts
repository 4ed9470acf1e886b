// The bulk lane (DESIGN.md §5, "snapshot chunks must not starve heartbeats"): MsgSnap envelopes leave one
// frame at a time, each only after the previous one was written and after that turn's control frame. So while
// a large backlog of snapshot chunks drains, heartbeats keep arriving promptly; the bulk lane is bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envelope, startCluster, waitFor } from './support/harness.js';

const CHUNK_BYTES = 128 * 1024;

function snapChunk(i: number): Record<string, unknown> {
  return {
    type: 'MsgSnap',
    term: 2,
    offset: i * CHUNK_BYTES,
    totalBytes: 0,
    data: new Uint8Array(CHUNK_BYTES).fill(i % 256),
  };
}

test('heartbeats are not starved by a backlog of snapshot chunks', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const [a, b] = [cluster.node(1), cluster.node(2)];
  const chunks = 200; // 25 MiB
  for (let i = 0; i < chunks; i++) a.transport.send(envelope(1, 2, 5, snapChunk(i)));
  a.transport.send(envelope(1, 2, 0, { type: 'MsgHeartbeat', seq: 0 }));

  // One heartbeat per event-loop turn until the backlog has drained.
  let seq = 1;
  const bulkDone = (): boolean =>
    b.received.filter((r) => (r.env.msg as { type: string }).type === 'MsgSnap').length === chunks;
  while (!bulkDone()) {
    a.transport.send(envelope(1, 2, 0, { type: 'MsgHeartbeat', seq: seq++ }));
    await new Promise((resolve) => setImmediate(resolve));
    if (seq > 1_000_000) assert.fail('the backlog never drained');
  }
  await waitFor(() => b.received.length === chunks + seq, 'every heartbeat');

  const kinds = b.received.map((r) => (r.env.msg as { type: string }).type);
  const lastSnapAt = kinds.lastIndexOf('MsgSnap');
  const heartbeatsBeforeLastSnap = kinds.slice(0, lastSnapAt).filter((k) => k === 'MsgHeartbeat').length;
  assert.equal(kinds[0], 'MsgHeartbeat', 'the control frame of a turn leaves before its bulk frame');
  assert.ok(
    heartbeatsBeforeLastSnap >= chunks / 2,
    `heartbeats interleave with the chunks (${heartbeatsBeforeLastSnap} arrived before the last of ${chunks} chunks)`,
  );
  // Chunks keep their order and their bytes.
  const snaps = b.from(1).filter((e) => (e.msg as { type: string }).type === 'MsgSnap');
  snaps.forEach((e, i) => {
    const msg = e.msg as { offset: number; data: Uint8Array };
    assert.equal(msg.offset, i * CHUNK_BYTES);
    assert.ok(msg.data instanceof Uint8Array && msg.data.length === CHUNK_BYTES && msg.data[0] === i % 256);
  });
  // Generous latency bound: the largest gap between consecutive heartbeat arrivals while chunks flowed.
  const hbTimes = b.received.filter((r) => (r.env.msg as { type: string }).type === 'MsgHeartbeat').map((r) => r.atMs);
  const gaps = hbTimes.slice(1).map((at, i) => at - (hbTimes[i] ?? at));
  assert.ok(Math.max(...gaps) < 500, `heartbeats never wait long (largest gap ${Math.max(...gaps).toFixed(1)} ms)`);
});

test('the bulk lane is bounded: chunks beyond it are refused and counted', async (t) => {
  const cluster = await startCluster(2);
  t.after(() => cluster.close());
  const [a, b] = [cluster.node(1), cluster.node(2)];
  const small = (i: number): Record<string, unknown> => ({ type: 'MsgSnap', offset: i, data: new Uint8Array(8) });
  for (let i = 0; i < 300; i++) a.transport.send(envelope(1, 2, 5, small(i)));
  assert.equal(a.transport.stats().dropped.queueFull, 300 - 256);
  await waitFor(() => b.received.length === 256, 'the 256 queued chunks');
  assert.deepEqual(
    b.from(1).map((e) => (e.msg as { offset: number }).offset),
    Array.from({ length: 256 }, (_, i) => i),
    'the oldest are kept, in order',
  );
});
