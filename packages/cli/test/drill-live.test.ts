/**
 * The `[live]` part of drills: the section parses into a LiveSpec (defaults, the shipped live-query-failover.toml)
 * and each mistake is one DRILL_INVALID line; `checkLiveStream` passes a faithful stream and fails a doctored one
 * — a gap, a duplicate, two changes swapped, a change the history never had, an acknowledged write missing, a
 * failed write delivered, initial rows that are not the snapshot state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DRILLS_DIR } from '../src/commands/drill.js';
import type { LiveStreamInput, LiveWrite, StreamChange } from '../src/drill/live.js';
import { checkLiveStream, liveOp } from '../src/drill/live.js';
import { loadDrill, parseDrill } from '../src/drill/spec.js';
import { CliError } from '../src/errors.js';

test('[live] parses with its defaults and as written', () => {
  assert.equal(parseDrill('nodes = 3\n', 'x.toml').live, null);
  assert.deepEqual(parseDrill('[live]\n', 'x.toml').live, {
    subscribers: 4,
    shared: false,
    onNode: 2,
    resumeOn: 3,
    writersOn: 1,
    writeEveryMs: 40,
    cleanupTimeoutMs: 25_000,
  });
  const spec = parseDrill(
    'nodes = 5\n[live]\nsubscribers = 7\nshared = true\non_node = 4\nresume_on = 5\nwriters_on = 2\nwrite_every_ms = 10\ncleanup_timeout_ms = 20000\n',
    'x.toml',
  );
  assert.deepEqual(spec.live, {
    subscribers: 7,
    shared: true,
    onNode: 4,
    resumeOn: 5,
    writersOn: 2,
    writeEveryMs: 10,
    cleanupTimeoutMs: 20_000,
  });
});

test('the shipped live-query-failover drill kills its subscribers node and resumes elsewhere', () => {
  const spec = loadDrill(join(DRILLS_DIR, 'live-query-failover.toml'));
  assert.ok(spec.live !== null);
  assert.equal(spec.live.shared, true);
  assert.ok(spec.live.subscribers >= 2);
  const kill = spec.steps.find((s) => s.action === 'kill');
  assert.ok(kill !== undefined && kill.action === 'kill');
  assert.deepEqual(kill.target, { kind: 'node', id: spec.live.onNode });
  assert.equal(kill.signal, 'KILL');
  assert.notEqual(spec.live.resumeOn, spec.live.onNode);
});

for (const [what, text, message] of [
  ['an unknown key', '[live]\nsubscriber = 3\n', /^bad\.toml: live: subscriber: unknown key/],
  [
    'too many subscribers',
    '[live]\nsubscribers = 99\n',
    /^bad\.toml: live: subscribers: must be an integer from 1 to 32$/,
  ],
  ['a node out of range', '[live]\non_node = 4\n', /^bad\.toml: live: on_node: must be an integer from 1 to 3$/],
  ['resume on the same node', '[live]\non_node = 3\nresume_on = 3\n', /^bad\.toml: live: resume_on: must differ/],
  ['writers on the same node', '[live]\non_node = 1\n', /^bad\.toml: live: writers_on: must differ/],
  ['shared not a boolean', '[live]\nshared = "yes"\n', /^bad\.toml: live: shared: must be true or false$/],
  ['a cleanup bound below the stale time', '[live]\ncleanup_timeout_ms = 1000\n', /cleanup_timeout_ms: must be/],
  ['live not a table', 'live = 3\n', /^bad\.toml: live: must be a table$/],
] as const) {
  test(`[live] refused with one line: ${what}`, () => {
    assert.throws(
      () => parseDrill(text, 'bad.toml'),
      (err: unknown) => {
        assert.ok(err instanceof CliError);
        assert.equal(err.code, 'DRILL_INVALID');
        assert.match(err.message, message);
        assert.ok(!err.message.includes('\n'));
        return true;
      },
    );
  });
}

/** A faithful run: writer 1's first `n` writes, all acknowledged, each its change at _seq 100 + i. */
function faithful(n: number): LiveStreamInput {
  const writes: LiveWrite[] = [];
  const changes: StreamChange[] = [];
  const state = new Map<number, string | null>();
  let seq = 100;
  for (let i = 1; i <= n; i++) {
    const op = liveOp(1, i);
    const exists = state.has(op.id);
    const applies = op.kind === 'insert' || exists;
    writes.push({ ...op, outcome: 'ok', rowCount: applies ? 1 : 0 });
    if (!applies) continue;
    seq += 3;
    changes.push({ seq, changeType: op.kind, id: op.id, v: op.kind === 'delete' ? null : op.v });
    if (op.kind === 'delete') state.delete(op.id);
    else state.set(op.id, op.v);
  }
  // Two rows were there before the subscription: in the initial rows and in the reference before the snapshot.
  const before: StreamChange[] = [
    { seq: 10, changeType: 'insert', id: 7, v: 'a' },
    { seq: 20, changeType: 'insert', id: 8, v: 'b' },
  ];
  state.set(7, 'a');
  state.set(8, 'b');
  return {
    name: 'u',
    initialRows: [
      { id: 7, v: 'a' },
      { id: 8, v: 'b' },
    ],
    snapshotSeq: 50,
    delivered: changes,
    reference: [...before, ...changes],
    finalRows: state,
    writes,
    errors: [],
    route: 'node 2, then node 3',
  };
}

test('checkLiveStream passes the committed history', () => {
  const input = faithful(30);
  assert.ok(
    input.delivered.some((c) => c.changeType === 'update') && input.delivered.some((c) => c.changeType === 'delete'),
  );
  const outcome = checkLiveStream(input);
  assert.equal(outcome.passed, true, outcome.detail);
  assert.match(outcome.detail, /gap-free and duplicate-free/);
});

test('checkLiveStream fails a doctored stream', async (t) => {
  const good = faithful(30);
  const d = good.delivered;
  const cases: [string, Partial<LiveStreamInput>, RegExp][] = [
    ['a gap', { delivered: [...d.slice(0, 10), ...d.slice(11)] }, /differs from the committed history at position 10/],
    ['a gap at the end', { delivered: d.slice(0, -1) }, /gap: 1 committed change\(s\) never delivered/],
    ['a duplicate', { delivered: [...d.slice(0, 6), d[5] as StreamChange, ...d.slice(6)] }, /duplicate at position 6/],
    [
      'out of order',
      { delivered: [...d.slice(0, 4), d[5] as StreamChange, d[4] as StreamChange, ...d.slice(6)] },
      /out of order at position 5/,
    ],
    [
      'a change never committed',
      { delivered: [...d, { seq: 10_000, changeType: 'insert', id: 99, v: 'ghost' }] },
      /beyond the committed history/,
    ],
    [
      'an acknowledged write missing from stream and history alike',
      { writes: [...good.writes, { kind: 'insert', id: 4242, v: 'lost', outcome: 'ok', rowCount: 1 }] },
      /ok insert id 4242 v lost delivered 0 time\(s\)/,
    ],
    [
      'a failed write delivered',
      {
        writes: good.writes.map((w, i) => (i === 0 ? { ...w, outcome: 'failed' as const, rowCount: 0 } : w)),
      },
      /failed insert id 1000001 v w1\.1 delivered 1 time/,
    ],
    [
      'initial rows off the snapshot',
      { initialRows: [{ id: 7, v: 'a' }] },
      /initial rows are not the state at _seq 50/,
    ],
    ['no reference', { reference: { error: 'RESUME_UNAVAILABLE' } }, /no reference stream: RESUME_UNAVAILABLE/],
    ['a resume that failed', { errors: ['no resume on node 3'] }, /no resume on node 3/],
  ];
  for (const [what, doctor, message] of cases) {
    await t.test(what, () => {
      const outcome = checkLiveStream({ ...good, ...doctor });
      assert.equal(outcome.passed, false, what);
      assert.match(outcome.detail, message);
      assert.equal(outcome.name, 'live-stream u');
    });
  }
});
