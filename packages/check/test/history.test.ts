// The history recorder: every call is recorded with the handed-in clock's times, its kind-shaped input and
// output, and its outcome; pending calls read back as unknown; misuse (completing twice, an output of the
// wrong shape, a clock that runs backwards) is an assertion; and toJsonLines/fromJsonLines round-trip a
// history exactly (including through the checker), while a damaged file is a HistoryFormatError naming the line.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AssertionError, HistoryFormatError, HistoryRecorder, checkLinearizability } from '../src/index.js';

function manualClock(): { clock: () => number; set: (t: number) => void } {
  let now = 0;
  return { clock: () => now, set: (t) => (now = t) };
}

test('records each call with its times, input, output and outcome', () => {
  const { clock, set } = manualClock();
  const h = new HistoryRecorder(clock);
  set(1);
  const w = h.invoke(1, 'x', 'write', 5);
  set(2);
  const r = h.invoke('c2', 'x', 'read', null);
  set(3);
  const c = h.invoke(3, 'y', 'cas', { expected: null, value: 'a' });
  set(4);
  h.ok(w);
  set(5);
  h.ok(r, 5);
  set(6);
  h.fail(c, 'NOT_LEADER');
  const u = h.invoke(1, 'x', 'write', 6);
  set(9);
  h.unknown(u, 'timeout');
  assert.deepEqual(h.operations(), [
    {
      id: 0,
      client: 1,
      key: 'x',
      kind: 'write',
      input: 5,
      output: null,
      invokedAtMs: 1,
      completedAtMs: 4,
      outcome: 'ok',
    },
    {
      id: 1,
      client: 'c2',
      key: 'x',
      kind: 'read',
      input: null,
      output: 5,
      invokedAtMs: 2,
      completedAtMs: 5,
      outcome: 'ok',
    },
    {
      id: 2,
      client: 3,
      key: 'y',
      kind: 'cas',
      input: { expected: null, value: 'a' },
      invokedAtMs: 3,
      completedAtMs: 6,
      outcome: 'failed',
      reason: 'NOT_LEADER',
    },
    {
      id: 3,
      client: 1,
      key: 'x',
      kind: 'write',
      input: 6,
      invokedAtMs: 6,
      completedAtMs: 9,
      outcome: 'unknown',
      reason: 'timeout',
    },
  ]);
  assert.equal(h.size, 4);
});

test('a call still pending when the history is taken reads as unknown with no completion time', () => {
  const h = new HistoryRecorder(() => 7);
  h.invoke(0, 'x', 'cas', { expected: 1, value: 2 });
  const [op] = h.operations();
  assert.equal(op?.outcome, 'unknown');
  assert.equal(op?.completedAtMs, null);
  assert.equal(op?.reason, 'pending');
  assert.equal('output' in (op ?? {}), false);
});

test('the default clock is monotonic milliseconds', () => {
  const h = new HistoryRecorder();
  const op = h.invoke(0, 'x', 'read', null);
  h.ok(op, null);
  const [recorded] = h.operations();
  assert.ok(recorded !== undefined && recorded.completedAtMs !== null);
  assert.ok(recorded.completedAtMs >= recorded.invokedAtMs);
});

test('misuse is an assertion: completing twice, wrong output shape, bad input, clock going back', () => {
  const { clock, set } = manualClock();
  const h = new HistoryRecorder(clock);
  const w = h.invoke(0, 'x', 'write', 1);
  h.ok(w);
  assert.throws(() => h.ok(w), AssertionError);
  assert.throws(() => h.unknown(w, 'late'), AssertionError);
  const c = h.invoke(0, 'x', 'cas', { expected: 1, value: 2 });
  // @ts-expect-error: a cas returns {ok}, the type says so and so does the runtime check.
  assert.throws(() => h.ok(c, 3), AssertionError);
  // @ts-expect-error: a read takes no input.
  assert.throws(() => h.invoke(0, 'x', 'read', 1), AssertionError);
  assert.throws(() => h.invoke(0, 'x', 'write', Number.NaN), AssertionError);
  set(10);
  const r = h.invoke(0, 'x', 'read', null);
  set(5);
  assert.throws(() => h.ok(r, null), AssertionError);
});

test('toJsonLines and fromJsonLines round-trip a history exactly, and recording carries on after', () => {
  const { clock, set } = manualClock();
  const h = new HistoryRecorder(clock);
  const a = h.invoke(1, 'k"ey', 'write', 'hello\nworld');
  const b = h.invoke(2, 'k"ey', 'cas', { expected: 'hello\nworld', value: true });
  set(0.25);
  h.ok(a);
  h.ok(b, { ok: true });
  const r = h.invoke(3, 'other', 'read', null);
  set(1.5);
  h.ok(r, null);
  const failed = h.invoke(4, 'other', 'write', 2);
  h.fail(failed, 'NOT_LEADER');
  h.invoke(5, 'other', 'write', 3); // still pending
  const text = h.toJsonLines();
  assert.equal(text.split('\n').length, 6, 'five lines and a final newline');
  const back = HistoryRecorder.fromJsonLines(text);
  assert.deepEqual(back.operations(), h.operations());
  assert.equal(back.toJsonLines(), text);
  assert.deepEqual(checkLinearizability(back.operations()).verdict, checkLinearizability(h.operations()).verdict);
  const next = back.invoke(6, 'other', 'read', null);
  assert.equal(next.id, 5);
  assert.equal(HistoryRecorder.fromJsonLines('').size, 0);
  assert.equal(new HistoryRecorder().toJsonLines(), '');
});

test('a damaged history file is a HistoryFormatError that names the line', () => {
  const good =
    '{"id":0,"client":1,"key":"x","kind":"write","input":1,"output":null,"invokedAtMs":0,"completedAtMs":1,"outcome":"ok"}';
  const cases: [string, number, RegExp][] = [
    [`${good}\n{not json`, 2, /not JSON/],
    [`${good}\n\n${good.replace('"id":0', '"id":3')}`, 3, /out of sequence/],
    [good.replace('"kind":"write"', '"kind":"delete"'), 1, /unknown kind/],
    [good.replace('"output":null,', ''), 1, /a write returns nothing/],
    [good.replace('"completedAtMs":1', '"completedAtMs":null'), 1, /only an unknown call/],
    [good.replace('"completedAtMs":1', '"completedAtMs":-1'), 1, /not before invokedAtMs/],
    [good.replace('"outcome":"ok"', '"outcome":"failed"'), 1, /only an ok call has an output/],
    ['[1,2]', 1, /not an object/],
  ];
  for (const [text, line, message] of cases) {
    assert.throws(
      () => HistoryRecorder.fromJsonLines(text),
      (err: unknown) => {
        assert.ok(err instanceof HistoryFormatError, String(err));
        assert.equal(err.code, 'HISTORY_FORMAT');
        assert.equal(err.line, line);
        assert.match(err.message, message);
        return true;
      },
    );
  }
});
