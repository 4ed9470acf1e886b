/**
 * The drill checks on synthetic histories: each passes on a correct one and fails on a doctored one — a lost
 * acknowledged write, a stale read, nodes that disagree, a value from a failed call, digests that differ, a group
 * that never got a leader back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Operation } from '@kalam/check';
import { HistoryRecorder } from '@kalam/check';
import type { GroupDigests } from '../src/cluster/types.js';
import type { FaultRecord, FinalRead, LeaderSample } from '../src/drill/checks.js';
import {
  appliedIndexesMatch,
  checkAvailability,
  checkConverged,
  checkLinearizable,
  checkNoLostAcks,
  computeAvailability,
} from '../src/drill/checks.js';

/** A recorder on a clock the test moves by hand. */
function scripted(): { h: HistoryRecorder; at: (ms: number) => void } {
  let now = 0;
  return { h: new HistoryRecorder(() => now), at: (ms) => void (now = ms) };
}

const INIT = { k: 'init' };

function finals(values: Record<number, string | { error: string }>): Map<string, Map<number, FinalRead>> {
  const perNode = new Map<number, FinalRead>();
  for (const [n, v] of Object.entries(values)) perNode.set(Number(n), typeof v === 'string' ? { value: v } : v);
  return new Map([['k', perNode]]);
}

/** w(a) ok [0,10]; w(b) ok [20,30]; read→b ok [40,50]. */
function sequential(): Operation[] {
  const { h, at } = scripted();
  const a = h.invoke('c1', 'k', 'write', 'a');
  at(10);
  h.ok(a);
  at(20);
  const b = h.invoke('c2', 'k', 'write', 'b');
  at(30);
  h.ok(b);
  at(40);
  const r = h.invoke('c1', 'k', 'read', null);
  at(50);
  h.ok(r, 'b');
  return h.operations();
}

test('linearizable: a sequential history passes', () => {
  const c = checkLinearizable(sequential(), INIT, 5_000);
  assert.equal(c.name, 'linearizable');
  assert.equal(c.passed, true, c.detail);
});

test('linearizable: a stale read fails with the key in the detail', () => {
  const { h, at } = scripted();
  const a = h.invoke('c1', 'k', 'write', 'a');
  at(10);
  h.ok(a);
  at(20);
  const r = h.invoke('c2', 'k', 'read', null);
  at(30);
  h.ok(r, 'init');
  const c = checkLinearizable(h.operations(), INIT, 5_000);
  assert.equal(c.passed, false);
  assert.match(c.detail, /1 key\(s\) not linearizable; first k: /);
});

test('no-lost-acks: the last acknowledged value on every node passes', () => {
  const c = checkNoLostAcks(sequential(), finals({ 1: 'b', 2: 'b', 3: 'b' }), INIT);
  assert.equal(c.passed, true, c.detail);
  assert.match(c.detail, /1 keys agree on every node; 1 acknowledged writes accounted for/);
});

test('no-lost-acks: a final value older than an acknowledged write fails (lost ack)', () => {
  const c = checkNoLostAcks(sequential(), finals({ 1: 'a', 2: 'a', 3: 'a' }), INIT);
  assert.equal(c.passed, false);
  assert.match(c.detail, /k: acknowledged #1 cc2 write\("b"\) .* lost: the final value comes from #0/);
});

test('no-lost-acks: the initial value after an acknowledged write fails', () => {
  const c = checkNoLostAcks(sequential(), finals({ 1: 'init', 2: 'init', 3: 'init' }), INIT);
  assert.equal(c.passed, false);
  assert.match(c.detail, /lost: the final value comes from the initial value/);
});

test('no-lost-acks: concurrent writes may end in either value', () => {
  const { h, at } = scripted();
  const a = h.invoke('c1', 'k', 'write', 'a');
  const b = h.invoke('c2', 'k', 'write', 'b');
  at(10);
  h.ok(a);
  h.ok(b);
  assert.equal(checkNoLostAcks(h.operations(), finals({ 1: 'a', 2: 'a' }), INIT).passed, true);
  assert.equal(checkNoLostAcks(h.operations(), finals({ 1: 'b', 2: 'b' }), INIT).passed, true);
});

test('no-lost-acks: an unknown write may be the final value and loses nothing', () => {
  const { h, at } = scripted();
  const a = h.invoke('c1', 'k', 'write', 'a');
  at(10);
  h.unknown(a, 'timeout');
  at(20);
  const b = h.invoke('c2', 'k', 'write', 'b');
  at(30);
  h.ok(b);
  assert.equal(checkNoLostAcks(h.operations(), finals({ 1: 'a', 2: 'a' }), INIT).passed, true);
});

test('no-lost-acks: nodes that disagree, a value never written, a failed write that took effect, a missing read', () => {
  const ops = sequential();
  assert.match(checkNoLostAcks(ops, finals({ 1: 'b', 2: 'a' }), INIT).detail, /k: nodes disagree \(1="b", 2="a"\)/);
  assert.match(checkNoLostAcks(ops, finals({ 1: 'zz', 2: 'zz' }), INIT).detail, /final value "zz" was never written/);
  assert.match(
    checkNoLostAcks(ops, finals({ 1: 'b', 2: { error: '503 X' } }), INIT).detail,
    /no final read \(node 2: 503 X\)/,
  );
  const { h, at } = scripted();
  const f = h.invoke('c1', 'k', 'write', 'f');
  at(10);
  h.fail(f, '503 NOT_LEADER');
  const c = checkNoLostAcks(h.operations(), finals({ 1: 'f', 2: 'f' }), INIT);
  assert.equal(c.passed, false);
  assert.match(c.detail, /comes from a call recorded as failed/);
});

test('no-lost-acks: a successful cas counts as an acknowledged write, a refused one does not', () => {
  const { h, at } = scripted();
  const c1 = h.invoke('c1', 'k', 'cas', { expected: 'init', value: 'x' });
  at(10);
  h.ok(c1, { ok: true });
  at(20);
  const c2 = h.invoke('c1', 'k', 'cas', { expected: 'nope', value: 'y' });
  at(30);
  h.ok(c2, { ok: false });
  assert.equal(checkNoLostAcks(h.operations(), finals({ 1: 'x', 2: 'x' }), INIT).passed, true);
  assert.equal(checkNoLostAcks(h.operations(), finals({ 1: 'init', 2: 'init' }), INIT).passed, false);
});

const digest = (applied: number, d: string): GroupDigests => ({
  'meta:system': { applied, digest: d },
  'data:user:00': { applied: 5, digest: 'u' },
});

test('converged: equal digests at equal applied indexes pass', () => {
  const all = new Map([
    [1, digest(7, 'x')],
    [2, digest(7, 'x')],
    [3, digest(7, 'x')],
  ]);
  assert.equal(appliedIndexesMatch(all), true);
  const c = checkConverged(all);
  assert.equal(c.passed, true, c.detail);
  assert.equal(c.detail, '2 groups equal on 3 nodes');
});

test('converged: a different digest at the same applied index fails', () => {
  const c = checkConverged(
    new Map([
      [1, digest(7, 'x')],
      [2, digest(7, 'y')],
    ]),
  );
  assert.equal(c.passed, false);
  assert.match(c.detail, /meta:system: digests differ at applied index 7 \(1=x, 2=y\)/);
});

test('converged: applied indexes that never matched, and a node without digests, fail', () => {
  const lagging = new Map([
    [1, digest(7, 'x')],
    [2, digest(6, 'w')],
  ]);
  assert.equal(appliedIndexesMatch(lagging), false);
  assert.match(checkConverged(lagging).detail, /meta:system: applied indexes differ \(1@7, 2@6\)/);
  const c = checkConverged(
    new Map<number, GroupDigests | { error: string }>([
      [1, digest(7, 'x')],
      [2, { error: 'node 2 is down' }],
    ]),
  );
  assert.equal(c.passed, false);
  assert.match(c.detail, /node 2: node 2 is down/);
});

test('availability: time to a new leader and to the first ok call, per group the node led', () => {
  const { h, at } = scripted();
  at(1_000);
  const early = h.invoke('c1', 'k', 'write', 'a'); // invoked before the fault: not counted
  at(1_200);
  const failed = h.invoke('c1', 'k', 'write', 'b');
  at(1_300);
  h.fail(failed, '503 NOT_LEADER');
  h.ok(early);
  at(1_500);
  const ok = h.invoke('c2', 'k', 'write', 'c');
  at(1_800);
  h.ok(ok);
  const meta = [0, 1, 2].map(() => ({ group: 'data:user:03', node: 1 }));
  const fault: FaultRecord = {
    step: 2,
    action: 'kill',
    node: 1,
    atMs: 1_100,
    removesNode: true,
    ledGroups: ['data:user:03', 'meta:jobs'],
  };
  const samples: LeaderSample[] = [
    { atMs: 1_000, leaders: { 'data:user:03': 1, 'meta:jobs': 1 } },
    { atMs: 1_250, leaders: { 'data:user:03': 1, 'meta:jobs': null } }, // still shows the dead node
    { atMs: 1_600, leaders: { 'data:user:03': 2, 'meta:jobs': 3 } },
  ];
  const figures = computeAvailability([fault], h.operations(), meta, samples, ['data:user:03']);
  assert.deepEqual(
    figures.map((f) => [f.group, f.affected, f.leaderAfterMs, f.servedAfterMs, f.callsAfter]),
    [
      ['data:user:03', 'led', 500, 700, 2],
      ['meta:jobs', 'led', 500, null, 0],
    ],
  );
  assert.equal(checkAvailability(figures, null).passed, true);
  const bounded = checkAvailability(figures, 600);
  assert.equal(bounded.passed, false);
  assert.match(bounded.detail, /step 2 kill node 1, data:user:03: served after 700 ms/);
});

test('availability: a group that never gets a leader again, or never serves again, fails', () => {
  const { h, at } = scripted();
  at(2_000);
  const op = h.invoke('c1', 'k', 'write', 'a');
  at(2_100);
  h.unknown(op, 'timeout');
  const fault: FaultRecord = { step: 1, action: 'partition', node: 2, atMs: 1_000, removesNode: true, ledGroups: [] };
  const samples: LeaderSample[] = [{ atMs: 1_500, leaders: { 'data:user:03': 2 } }];
  const figures = computeAvailability([fault], h.operations(), [{ group: 'data:user:03', node: 1 }], samples, [
    'data:user:03',
  ]);
  assert.equal(figures[0]?.affected, 'workload');
  const c = checkAvailability(figures, null);
  assert.equal(c.passed, false);
  assert.match(c.detail, /never had a leader again/);
  assert.match(c.detail, /none of 1 calls succeeded/);
});

test('availability: a restarted node that leads again counts only once elected in a later term', () => {
  const fault: FaultRecord = {
    step: 4,
    action: 'restart',
    node: 2,
    atMs: 100,
    removesNode: true,
    ledGroups: ['meta:users'],
    terms: { 'meta:users': 3 },
  };
  const samples: LeaderSample[] = [
    { atMs: 150, leaders: { 'meta:users': 2 }, terms: { 'meta:users': 3 } },
    { atMs: 400, leaders: { 'meta:users': 2 }, terms: { 'meta:users': 4 } },
  ];
  const figures = computeAvailability([fault], [], [], samples, []);
  assert.equal(figures[0]?.leaderAfterMs, 300);
});
