// Performance, with the checker's own budget as the only bound: a 3-key history of 3,000 calls from 8
// concurrent clients, produced by a simulated linearizable register (with unknown and failed calls mixed
// in, some unknown writes taking effect after the client gave up), is decided `linearizable` within the
// default budget; the same history with one read corrupted to a value never written is decided
// `not-linearizable` on that read's key. No timing assertion beyond that (benchmarks live under bench/).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Operation } from '../src/index.js';
import { checkLinearizability } from '../src/index.js';
import { TestPrng } from './support/prng.js';
import { simulateLinearizable } from './support/simulate.js';

function bigHistory(seed: number): Operation[] {
  return simulateLinearizable(new TestPrng(seed), {
    clients: 8,
    operations: 3000,
    keys: ['k0', 'k1', 'k2'],
    unknownRate: 0.01,
    failedRate: 0.02,
    durationMsMax: 20,
    integerTimes: false,
  });
}

test('3,000 concurrent calls on 3 keys from 8 clients check as linearizable within the budget', () => {
  const history = bigHistory(42);
  const result = checkLinearizability(history);
  assert.equal(result.verdict, 'linearizable', JSON.stringify(result.undecided));
  assert.equal(result.keys, 3);
  assert.ok(result.operations > 2800);
});

test('the same history with one read corrupted fails on that key', () => {
  const history = bigHistory(43);
  const victim = history.find((op) => op.kind === 'read' && op.outcome === 'ok' && op.id > 1500);
  assert.ok(victim !== undefined && victim.kind === 'read');
  const corrupted = history.map((op): Operation => (op === victim ? { ...victim, output: 'never written' } : op));
  const result = checkLinearizability(corrupted);
  assert.equal(result.verdict, 'not-linearizable');
  assert.deepEqual(
    result.failures.map((f) => f.key),
    [victim.key],
  );
});
