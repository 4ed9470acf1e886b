/**
 * What this proves: a snapshot's bytes live where the application puts them, not in the core. A follower's core
 * writes each chunk of an incoming snapshot to the sink its config names (RaftConfig.snapshotSink) — in order, each
 * byte once even when chunks are lost, duplicated or resent — holds no byte array of its own while the transfer
 * runs, aborts the sink when a transfer is given up (a newer snapshot starts over, or it turned stale), and hands
 * out as the installed snapshot exactly what the sink's `finish` returned. A leader sends from a SnapshotData that
 * is not a Uint8Array, asking it for one chunk at a time. How: the A12 scenarios (8-byte chunks) with a recording
 * sink and a reading-counting source.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, MsgSnap, SnapshotData, SnapshotMeta, SnapshotSink } from '../src/index.js';
import { nodeId, snapshotBytes } from '../src/index.js';
import { Network } from './support/network.js';

const CHUNK = 8;
const isSnap = (m: Message): m is MsgSnap => m.type === 'MsgSnap';

/** A snapshot's bytes behind the interface only, counting what the core asked it for. */
class CountingData implements SnapshotData {
  readonly reads: [number, number][] = [];
  constructor(private readonly bytes: Uint8Array) {}
  get byteLength(): number {
    return this.bytes.length;
  }
  subarray(begin: number, end: number): Uint8Array {
    this.reads.push([begin, end]);
    return this.bytes.slice(begin, end);
  }
}

interface Recorded {
  readonly meta: SnapshotMeta;
  readonly totalBytes: number;
  readonly writes: { offset: number; bytes: Uint8Array }[];
  state: 'open' | 'finished' | 'aborted';
  result?: SnapshotData;
}

/** A sink that keeps copies of what it is given, and finishes into a CountingData (not a Uint8Array). */
function recorder(): { sinks: Recorded[]; factory: (meta: SnapshotMeta, totalBytes: number) => SnapshotSink } {
  const sinks: Recorded[] = [];
  const factory = (meta: SnapshotMeta, totalBytes: number): SnapshotSink => {
    const r: Recorded = { meta, totalBytes, writes: [], state: 'open' };
    sinks.push(r);
    return {
      write(offset, bytes) {
        assert.equal(r.state, 'open', 'no write after finish or abort');
        r.writes.push({ offset, bytes: bytes.slice() });
      },
      finish() {
        assert.equal(r.state, 'open');
        r.state = 'finished';
        const all = new Uint8Array(totalBytes);
        for (const w of r.writes) all.set(w.bytes, w.offset);
        r.result = new CountingData(all);
        return r.result;
      },
      abort() {
        assert.equal(r.state, 'open');
        r.state = 'aborted';
      },
    };
  };
  return { sinks, factory };
}

/** Node 3 misses writes while node 1 compacts past them; the leader's snapshot is a CountingData. */
function setup(): { net: Network; sinks: Recorded[]; leaderData: CountingData[] } {
  const { sinks, factory } = recorder();
  const leaderData: CountingData[] = [];
  const net = new Network({
    size: 3,
    limits: { snapshotChunkBytes: CHUNK },
    snapshotSink: factory,
    snapshotData: (bytes) => {
      const d = new CountingData(bytes);
      leaderData.push(d);
      return d;
    },
  });
  net.campaign(1);
  net.propose(1, 'a');
  net.isolate(3);
  for (const v of ['b', 'c', 'd', 'e', 'f']) net.propose(1, v);
  net.compact(1);
  net.recover();
  return { net, sinks, leaderData };
}

const caughtUp = (net: Network) => () => net.applied(3).join() === net.applied(1).join();

/** The writes cover [0, total) in order, each byte once. */
function assertContiguous(r: Recorded): void {
  let at = 0;
  for (const w of r.writes) {
    assert.equal(w.offset, at, 'chunks reach the sink in order, each once');
    at += w.bytes.length;
  }
  assert.equal(at, r.totalBytes);
}

test('chunks go to the injected sink; the installed snapshot is what the sink finished into', () => {
  const { net, sinks, leaderData } = setup();
  net.tickUntil(caughtUp(net), 30);
  assert.equal(sinks.length, 1);
  const r = sinks[0]!;
  assert.equal(r.state, 'finished');
  assert.ok(r.writes.length > 2, 'a multi-chunk transfer');
  assertContiguous(r);
  const installed = net.storage.get(nodeId(3))?.snapshot;
  assert.ok(installed !== undefined && installed.data === r.result, 'the sink’s result, not a copy');
  const sent = leaderData[0]!;
  assert.ok(sent.reads.length > 2);
  for (const [begin, end] of sent.reads) assert.ok(end - begin <= CHUNK, 'the leader reads one chunk at a time');
  assert.deepEqual(snapshotBytes(installed.data), snapshotBytes(sent));
  assert.deepEqual(net.applied(3), ['a', 'b', 'c', 'd', 'e', 'f']);
});

test('mid-transfer the core holds no byte array of the snapshot', () => {
  const { net, sinks } = setup();
  net.dropIf((m) => isSnap(m) && m.offset >= 3 * CHUNK);
  net.ticks(2);
  const incoming = net.node(3).raft['incomingSnapshot'];
  assert.ok(incoming !== undefined, 'a transfer is under way');
  assert.equal(incoming.received, 3 * CHUNK);
  for (const [key, value] of Object.entries(incoming)) {
    assert.ok(!ArrayBuffer.isView(value), `incomingSnapshot.${key} holds no bytes`);
  }
  assert.equal(sinks[0]?.writes.length, 3);
});

test('lost and duplicated chunks are resent, and the sink still gets each byte once, in order', () => {
  const { net, sinks } = setup();
  const lostOnce = new Set([2 * CHUNK, 5 * CHUNK]);
  net.dropIf((m) => isSnap(m) && lostOnce.delete(m.offset));
  const mark = net.mark();
  net.tickUntil(caughtUp(net), 60);
  const offsets = net.since(mark, isSnap).map((m) => m.offset);
  assert.equal(offsets.filter((o) => o === 2 * CHUNK).length, 2, 'the lost chunk went twice');
  assert.equal(sinks.length, 1);
  assertContiguous(sinks[0]!);
  assert.equal(sinks[0]!.state, 'finished');
});

test('a newer snapshot mid-transfer aborts the first sink and finishes a second', () => {
  const { net, sinks } = setup();
  net.dropIf((m) => isSnap(m) && m.offset >= 2 * CHUNK);
  net.ticks(2);
  for (const v of ['g', 'h']) net.propose(1, v);
  const second = net.compact(1);
  net.recover();
  net.tickUntil(caughtUp(net), 40);
  assert.deepEqual(
    sinks.map((s) => [s.meta.index, s.state]),
    [
      [sinks[0]!.meta.index, 'aborted'],
      [second.index, 'finished'],
    ],
  );
  assertContiguous(sinks[1]!);
});

test('a transfer that turned stale (behind the commit index) aborts its sink', () => {
  const { net, sinks } = setup();
  net.dropIf((m) => isSnap(m) && m.offset >= 2 * CHUNK);
  net.ticks(2);
  const first = sinks[0]!;
  assert.equal(first.state, 'open');
  // A MsgSnap for an index at or below node 3's commit index: the transfer in progress is given up.
  net.send({
    type: 'MsgSnap',
    from: nodeId(1),
    to: nodeId(3),
    term: net.node(1).raft.term,
    snapshot: { index: net.node(3).raft.log.committed, term: 1 },
    offset: 0,
    totalBytes: 1,
    data: new Uint8Array(1),
  });
  assert.equal(first.state, 'aborted');
});
