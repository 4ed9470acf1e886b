/**
 * Scenario A13 — flow control. Proves: in Replicate the leader streams appends only up to `inflightMsgsMax`
 * unacknowledged messages (and `inflightBytesMax` bytes), and resumes when acks — or, if the appends themselves
 * were lost, heartbeat answers — come back; in Probe it sends one append at a time; a follower's progress moves
 * Probe → Replicate → (rejection) Probe → Snapshot → Replicate as the situation demands; appends carry at most
 * `msgEntriesMax` entries; a leader that has lost its quorum refuses proposals with UNCOMMITTED_LIMIT once the
 * uncommitted bytes reach their bound; an oversized entry is refused with ENTRY_TOO_LARGE. How: small limits,
 * drop and hold rules, counting MsgApp messages in the trace and reading the leader's progress for a follower.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, MsgApp, RaftConfig } from '../src/index.js';
import { LimitExceededError, nodeId } from '../src/index.js';
import { Network, enc } from './support/network.js';

const isApp = (m: Message): m is MsgApp => m.type === 'MsgApp';
const appsTo =
  (to: number) =>
  (m: Message): m is MsgApp =>
    isApp(m) && m.to === to && m.entries.length > 0;

function net3(limits: RaftConfig['limits']): Network {
  const net = new Network({ size: 3, ...(limits !== undefined ? { limits } : {}) });
  net.campaign(1);
  net.propose(1, 'warm-up'); // both followers answer the probe and move to Replicate
  return net;
}

const stateOf = (net: Network, id: number): string | undefined => net.node(1).status().progress.get(nodeId(id))?.state;

test('A13: appends stop at the inflight window and resume as acks return', () => {
  const net = net3({ inflightMsgsMax: 3 });
  assert.equal(stateOf(net, 2), 'replicate');
  net.dropIf((m) => m.type === 'MsgAppResp' && m.from === 2);
  const mark = net.mark();
  for (let i = 0; i < 10; i++) net.propose(1, `v${i}`);
  assert.equal(net.since(mark, appsTo(2)).length, 3, 'three appends in flight, then the leader waits');
  assert.equal(net.since(mark, appsTo(3)).length, 10, 'node 3 acks, so it gets everything');
  net.recover();
  net.tickUntil(() => net.applied(2).length === 11, 30);
  assert.deepEqual(net.applied(2), net.applied(1));
});

test('A13: a full window whose appends were all lost drains through heartbeat answers', () => {
  const net = net3({ inflightMsgsMax: 2 });
  net.cut(1, 2);
  for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
  net.recover();
  net.tickUntil(() => net.applied(2).length === 6, 30);
  assert.deepEqual(net.applied(2), net.applied(1));
});

test('A13: the inflight byte bound stops appends too', () => {
  // Each 40-byte entry counts 64 bytes; one per append; the window holds 128 bytes: two appends.
  const net = net3({ entryBytesMax: 40, msgBytesMax: 64, inflightBytesMax: 128, snapshotChunkBytes: 64 });
  net.dropIf((m) => m.type === 'MsgAppResp' && m.from === 2);
  const mark = net.mark();
  for (let i = 0; i < 5; i++) net.propose(1, `${i}`.padEnd(40, '.'));
  const apps = net.since(mark, appsTo(2));
  assert.equal(apps.length, 2);
  assert.ok(apps.every((m) => m.entries.length === 1));
});

test('A13: in Probe the leader sends one append at a time', () => {
  const net = new Network({ size: 3 });
  net.hold((m) => m.type === 'MsgAppResp' && m.from === 2); // node 2 does not answer the first probe yet
  net.campaign(1);
  assert.equal(stateOf(net, 2), 'probe');
  const mark = net.mark();
  for (const v of ['a', 'b', 'c']) net.propose(1, v);
  assert.equal(net.since(mark, appsTo(2)).length, 0, 'the probe is unanswered: nothing more goes out');
  net.release();
  assert.equal(stateOf(net, 2), 'replicate');
  assert.deepEqual(net.applied(2), ['a', 'b', 'c']);
});

test('A13: progress moves probe → replicate → probe → snapshot → replicate', () => {
  const net = new Network({ size: 3, limits: { snapshotChunkBytes: 8 } });
  const states: string[] = [];
  const note = (): void => {
    const s = stateOf(net, 3);
    if (s !== undefined && s !== states[states.length - 1]) states.push(s);
  };
  net.hold((m) => m.type === 'MsgAppResp' && m.from === 3);
  net.campaign(1);
  note(); // probe: a new leader knows nothing of node 3
  net.release();
  note(); // replicate: the probe was accepted
  net.cut(1, 3);
  net.propose(1, 'lost');
  net.recover();
  net.hold((m) => m.type === 'MsgAppResp' && m.from === 3 && !m.reject);
  net.propose(1, 'rejected'); // node 3 lacks 'lost': it rejects, the leader probes again
  note(); // probe
  net.release();
  note(); // replicate
  net.isolate(3);
  for (const v of ['a', 'b']) net.propose(1, v);
  net.compact(1);
  net.recover();
  net.dropIf((m) => m.type === 'MsgSnap' && m.offset >= 8);
  net.ticks(2);
  note(); // snapshot: the entries node 3 needs are gone
  net.recover();
  net.tickUntil(() => net.applied(3).length === 4, 40);
  note(); // replicate: installed, streaming again
  assert.deepEqual(states, ['probe', 'replicate', 'probe', 'replicate', 'snapshot', 'replicate']);
});

test('A13: catch-up appends carry at most msgEntriesMax entries', () => {
  const net = net3({ msgEntriesMax: 2 });
  net.cut(1, 3);
  for (let i = 0; i < 7; i++) net.propose(1, `v${i}`);
  net.recover();
  const mark = net.mark();
  net.tickUntil(() => net.applied(3).length === 8, 30);
  const apps = net.since(mark, appsTo(3));
  assert.ok(apps.length >= 4);
  assert.ok(apps.every((m) => m.entries.length <= 2));
});

test('A13: a leader without its quorum refuses proposals once uncommitted bytes reach the bound', () => {
  const net = new Network({ size: 3, limits: { entryBytesMax: 64, uncommittedBytesMax: 200 } });
  net.campaign(1);
  net.cut(1, 2);
  net.cut(1, 3);
  const payload = 'x'.repeat(50);
  for (let i = 0; i < 4; i++) net.node(1).propose(enc(payload)); // 200 bytes: at the bound
  assert.throws(
    () => net.node(1).propose(enc(payload)),
    (e: unknown) =>
      e instanceof LimitExceededError && e.code === 'UNCOMMITTED_LIMIT' && e.limit === 200 && e.actual === 250,
  );
  net.recover();
  net.ticks(3);
  assert.equal(net.applied(2).length, 4, 'the backlog commits once the quorum is back');
  net.propose(1, payload); // and proposals are accepted again
  assert.equal(net.applied(3).length, 5);
});

test('A13: an entry larger than entryBytesMax is refused with ENTRY_TOO_LARGE', () => {
  const net = new Network({ size: 3, limits: { entryBytesMax: 64 } });
  net.campaign(1);
  assert.throws(
    () => net.node(1).propose(new Uint8Array(65)),
    (e: unknown) =>
      e instanceof LimitExceededError && e.code === 'ENTRY_TOO_LARGE' && e.limit === 64 && e.actual === 65,
  );
  net.node(1).propose(new Uint8Array(64)); // exactly at the bound is fine
  net.deliver();
  assert.equal(net.node(2).status().commit, 2);
});
