// Known histories, decided by hand: the linearizable ones (sequential, overlapping reads and writes, cas
// chains, unknown writes that did and did not take effect — including after the client gave up — failed
// calls) must pass; the broken ones (stale read, read of a value never written, new-old inversion, a cas
// that succeeded when it could not have, a lost acknowledged write) must fail on exactly the right key, with
// an explanation that names the operation that could not be placed and a 1-minimal failing set. A hard
// history with a tiny budget ends in `timeout`, never in a guess.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Operation } from '../src/index.js';
import { checkLinearizability } from '../src/index.js';
import { HistoryBuilder } from './support/builder.js';

function assertLinearizable(ops: readonly Operation[], options: Parameters<typeof checkLinearizability>[1] = {}): void {
  const result = checkLinearizability(ops, options);
  assert.equal(result.verdict, 'linearizable', JSON.stringify(result.failures, null, 1));
  assert.equal(result.ok, true);
  assert.deepEqual(result.failures, []);
  assert.equal(result.timedOut, false);
}

/** Fails on `key` only; returns that failure. */
function assertFailsOn(ops: readonly Operation[], key: string) {
  const result = checkLinearizability(ops);
  assert.equal(result.verdict, 'not-linearizable');
  assert.equal(result.ok, false);
  assert.deepEqual(
    result.failures.map((f) => f.key),
    [key],
  );
  const failure = result.failures[0];
  assert.ok(failure !== undefined);
  assert.match(failure.reason, new RegExp(`#${failure.stuckAt}\\b`));
  return failure;
}

/** A busy, linearizable neighbour key, so that failures must be pinned to the right key. */
function noise(b: HistoryBuilder): HistoryBuilder {
  return b
    .write('n1', [0, 30], { key: 'noise' })
    .read(null, [1, 2], { key: 'noise' })
    .read('n1', [3, 4], { key: 'noise' })
    .cas({ expected: 'n1', value: 'n2' }, true, [35, 40], { key: 'noise' })
    .read('n2', [41, 42], { key: 'noise' });
}

test('an empty history is linearizable', () => {
  const result = checkLinearizability([]);
  assert.deepEqual(
    { verdict: result.verdict, keys: result.keys, operations: result.operations },
    { verdict: 'linearizable', keys: 0, operations: 0 },
  );
});

test('a sequential history is linearizable', () => {
  const ops = new HistoryBuilder()
    .read(null, [0, 1])
    .write(1, [2, 3])
    .read(1, [4, 5])
    .write(2, [6, 7])
    .cas({ expected: 2, value: 3 }, true, [8, 9])
    .cas({ expected: 2, value: 4 }, false, [10, 11])
    .read(3, [12, 13])
    .build();
  assertLinearizable(ops);
});

test('overlapping reads may see a concurrent write or not, as long as they agree with some order', () => {
  const ops = new HistoryBuilder()
    .write(1, [0, 100])
    .read(null, [1, 10])
    .read(1, [5, 20]) // sees the write before it completed
    .read(1, [30, 40]) // once seen, it stays (no new-old)
    .write(2, [50, 120])
    .read(1, [60, 70])
    .read(2, [80, 90])
    .read(2, [130, 140])
    .build();
  assertLinearizable(ops);
});

test('concurrent writes can land in either order; later reads all agree on the winner', () => {
  for (const winner of [1, 2]) {
    const ops = new HistoryBuilder()
      .write(1, [0, 10])
      .write(2, [0, 10])
      .read(winner, [11, 12])
      .read(winner, [13, 14])
      .build();
    assertLinearizable(ops);
  }
});

test('touching intervals (one completes at the instant the next is invoked) count as concurrent', () => {
  assertLinearizable(new HistoryBuilder().write(1, [0, 10]).read(null, [10, 12]).build());
});

test('a cas chain across racing clients', () => {
  const ops = new HistoryBuilder()
    .cas({ expected: null, value: 'a' }, true, [0, 10], { client: 1 })
    .cas({ expected: null, value: 'b' }, false, [0, 10], { client: 2 })
    .cas({ expected: 'a', value: 'c' }, true, [11, 20], { client: 2 })
    .cas({ expected: 'a', value: 'd' }, false, [12, 21], { client: 1 })
    .cas({ expected: 'c', value: 'e' }, true, [15, 25], { client: 3 })
    .read('e', [26, 27])
    .build();
  assertLinearizable(ops);
});

test('an unknown write that took effect, one that did not, and one that took effect after the client gave up', () => {
  assertLinearizable(new HistoryBuilder().unknownWrite(1, [0, 5]).read(1, [20, 21]).read(1, [22, 23]).build());
  assertLinearizable(new HistoryBuilder().unknownWrite(1, [0, 5]).read(null, [20, 21]).read(null, [22, 23]).build());
  assertLinearizable(new HistoryBuilder().unknownWrite(1, [0, 5]).read(null, [10, 11]).read(1, [20, 21]).build());
});

test('an unknown write cannot take effect before it was invoked', () => {
  assertFailsOn(new HistoryBuilder().read(1, [0, 1]).unknownWrite(1, [5, 6]).build(), 'x');
});

test('an unknown cas may or may not have swapped; an unknown read constrains nothing', () => {
  const base = () => new HistoryBuilder().write(1, [0, 1]).unknownCas({ expected: 1, value: 2 }, [2, 3]);
  assertLinearizable(base().read(2, [10, 11]).build());
  assertLinearizable(base().read(1, [10, 11]).build());
  assertLinearizable(new HistoryBuilder().write(1, [0, 1]).unknownRead([2, 3]).read(1, [4, 5]).build());
  const result = checkLinearizability(new HistoryBuilder().unknownRead([0, 1]).build());
  assert.deepEqual(
    { keys: result.keys, operations: result.operations, dropped: result.dropped },
    { keys: 0, operations: 0, dropped: 1 },
  );
});

test('failed calls are ignored: a refused write never shows up', () => {
  const ops = new HistoryBuilder().write(9, [0, 1], { outcome: 'failed' }).read(null, [2, 3]).build();
  const result = checkLinearizability(ops);
  assert.equal(result.verdict, 'linearizable');
  assert.equal(result.dropped, 1);
  // … and had it shown up, that would be a violation: failed means it did not take effect.
  assertFailsOn(new HistoryBuilder().write(9, [0, 1], { outcome: 'failed' }).read(9, [2, 3]).build(), 'x');
});

test('initial values are configurable per key', () => {
  const ops = new HistoryBuilder().read('seed', [0, 1]).read(null, [0, 1], { key: 'y' }).build();
  assertLinearizable(ops, { initialValues: { x: 'seed' } });
  assert.equal(checkLinearizability(ops).verdict, 'not-linearizable');
});

test('bad: a stale read after a completed write', () => {
  const ops = noise(new HistoryBuilder()).write(1, [0, 10]).read(null, [20, 30]).build();
  const failure = assertFailsOn(ops, 'x');
  assert.deepEqual(
    failure.minimal?.map((op) => op.kind),
    ['write', 'read'],
  );
});

test('bad: a read of a value never written', () => {
  const ops = noise(new HistoryBuilder()).write(1, [0, 10]).read(7, [20, 30]).build();
  const failure = assertFailsOn(ops, 'x');
  assert.equal(failure.minimal?.length, 1);
  assert.equal(failure.minimal[0]?.kind, 'read');
  assert.equal(failure.stuckAt, failure.minimal[0]?.id);
});

test('bad: a new-old inversion (a later read sees the older value)', () => {
  const ops = noise(new HistoryBuilder()).write(1, [0, 100]).read(1, [10, 20]).read(null, [30, 40]).build();
  assertFailsOn(ops, 'x');
});

test('bad: two clients observe two concurrent writes in opposite orders', () => {
  const ops = noise(new HistoryBuilder())
    .write(1, [0, 100], { client: 'w1' })
    .write(2, [0, 100], { client: 'w2' })
    .read(1, [10, 20], { client: 'a' })
    .read(2, [30, 40], { client: 'a' })
    .read(2, [10, 20], { client: 'b' })
    .read(1, [30, 40], { client: 'b' })
    .build();
  assertFailsOn(ops, 'x');
});

test('bad: a cas that succeeded when the value did not match, and one that failed when it did', () => {
  assertFailsOn(
    noise(new HistoryBuilder()).write(1, [0, 10]).cas({ expected: null, value: 2 }, true, [20, 30]).build(),
    'x',
  );
  assertFailsOn(
    noise(new HistoryBuilder()).write(1, [0, 10]).cas({ expected: 1, value: 2 }, false, [20, 30]).build(),
    'x',
  );
});

test('bad: a lost acknowledged write (a later read returns the older value, nothing concurrent)', () => {
  const ops = noise(new HistoryBuilder()).write(1, [0, 10]).write(2, [20, 30]).read(1, [40, 50]).build();
  const failure = assertFailsOn(ops, 'x');
  // The explanation keeps the write the read observed (dropping it would leave a misleading "read of a
  // value never written"), the acknowledged write that was lost, and the read.
  assert.deepEqual(
    failure.minimal?.map((op) => [op.kind, op.input, op.output]),
    [
      ['write', 1, null],
      ['write', 2, null],
      ['read', null, 1],
    ],
  );
  assert.match(failure.reason, /minimal failing set: #\d+ c\d+ write\(1\).*write\(2\).*read→1/);
});

test('every failing key is reported, fewest operations first', () => {
  const ops = new HistoryBuilder()
    .write(1, [0, 1], { key: 'big' })
    .write(2, [2, 3], { key: 'big' })
    .read(1, [4, 5], { key: 'big' })
    .read(5, [0, 1], { key: 'small' })
    .read(null, [0, 1], { key: 'fine' })
    .build();
  const result = checkLinearizability(ops);
  assert.equal(result.keys, 3);
  assert.deepEqual(
    result.failures.map((f) => f.key),
    ['small', 'big'],
  );
});

/** Many concurrent writes and then a read no order can explain: the search must try every subset. */
function hardHistory(key: string, writes: number): HistoryBuilder {
  const b = new HistoryBuilder(key);
  for (let i = 0; i < writes; i++) b.write(i, [0, 10]);
  return b.read('never', [11, 12]);
}

test('a hard history with a tiny budget ends in timeout, not in a guess', () => {
  const result = checkLinearizability(hardHistory('x', 30).build(), { timeoutMs: 50 });
  assert.equal(result.verdict, 'timeout');
  assert.equal(result.ok, false);
  assert.equal(result.timedOut, true);
  assert.deepEqual(result.undecided, [{ key: 'x', reason: 'timeout', operations: 31 }]);
});

test('a failing key makes the verdict not-linearizable even when another key timed out', () => {
  const ops = hardHistory('hard', 30).read(3, [0, 1], { key: 'bad' }).build();
  const result = checkLinearizability(ops, { timeoutMs: 50 });
  assert.equal(result.verdict, 'not-linearizable');
  assert.equal(result.timedOut, true);
  assert.deepEqual(
    result.failures.map((f) => f.key),
    ['bad'],
  );
});
