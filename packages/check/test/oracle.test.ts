// Property test: on a few hundred small random histories (at most 7 calls, one to three keys, integer
// times so that touching intervals occur, unknown and failed outcomes mixed in), the checker agrees with a
// brute-force oracle that tries every real-time-respecting order and every took-effect/did-not choice for
// unknown calls. Half the histories come from a simulated linearizable register with one output sometimes
// corrupted, half are random noise, so both verdicts are well represented (asserted). Seeded; a
// disagreement prints its seed and history.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Operation, Value } from '../src/index.js';
import { checkLinearizability, isSoleSource } from '../src/index.js';
import { bruteForceLinearizable } from './support/oracle.js';
import { TestPrng } from './support/prng.js';
import { simulateLinearizable } from './support/simulate.js';

const CASES = 600;
const SEED_BASE = 0x5eed;
const DOMAIN: readonly Value[] = [null, 1, 2, 3];

/** Replaces one ok call's output with a random one of the right shape (may or may not break it). */
function corrupt(prng: TestPrng, ops: Operation[]): Operation[] {
  const candidates = ops.filter((op) => op.outcome === 'ok' && op.kind !== 'write');
  if (candidates.length === 0) return ops;
  const victim = prng.pick(candidates);
  return ops.map((op): Operation => {
    if (op !== victim) return op;
    if (op.kind === 'read') return { ...op, output: prng.pick(DOMAIN) };
    if (op.kind === 'cas') return { ...op, output: { ok: !op.output?.ok } };
    return op;
  });
}

function randomHistory(prng: TestPrng): Operation[] {
  const keys = prng.pick([['a'], ['a'], ['a', 'b'], ['a', 'b', 'c']]);
  const operations = prng.int(1, 7);
  const base = simulateLinearizable(prng, {
    clients: prng.int(1, 4),
    operations,
    keys,
    unknownRate: 0.15,
    failedRate: 0.1,
    durationMsMax: prng.int(2, 8),
    integerTimes: true,
    valueDomain: [1, 2, 3],
  });
  if (prng.chance(0.5)) return prng.chance(0.6) ? corrupt(prng, base) : base;
  // Noise: same calls and times, outputs drawn at random.
  return base.map((op): Operation => {
    if (op.outcome !== 'ok') return op;
    if (op.kind === 'read') return { ...op, output: prng.pick(DOMAIN) };
    if (op.kind === 'cas') return { ...op, output: { ok: prng.chance(0.5) } };
    return op;
  });
}

test(`the checker agrees with a brute-force oracle on ${CASES} small random histories`, () => {
  const verdicts = { linearizable: 0, 'not-linearizable': 0 };
  for (let i = 0; i < CASES; i++) {
    const seed = SEED_BASE + i;
    const history = randomHistory(new TestPrng(seed));
    const expected = bruteForceLinearizable(history);
    const result = checkLinearizability(history);
    assert.notEqual(result.verdict, 'timeout');
    assert.equal(
      result.ok,
      expected,
      `seed ${seed}: checker says ${result.verdict}, oracle says ${String(expected)}\n` +
        history.map((op) => JSON.stringify(op)).join('\n'),
    );
    if (!result.ok) {
      // The explanation is itself a failing history, and a minimal one: dropping any call other than the
      // sole writer of a value it observes makes it pass.
      const minimal = result.failures[0]?.minimal;
      assert.ok(minimal !== null && minimal !== undefined, `seed ${seed}: no minimal set`);
      assert.equal(bruteForceLinearizable(minimal), false, `seed ${seed}: minimal set passes`);
      for (const [i, drop] of minimal.entries()) {
        if (isSoleSource(minimal, i, null)) continue;
        assert.equal(bruteForceLinearizable(minimal.filter((op) => op !== drop)), true, `seed ${seed}: not minimal`);
      }
    }
    verdicts[result.verdict === 'linearizable' ? 'linearizable' : 'not-linearizable']++;
  }
  assert.ok(verdicts.linearizable >= CASES / 5, `too few linearizable cases: ${JSON.stringify(verdicts)}`);
  assert.ok(verdicts['not-linearizable'] >= CASES / 5, `too few violations: ${JSON.stringify(verdicts)}`);
});

test('the simulated register produces linearizable histories at moderate sizes (checker and oracle agree)', () => {
  for (let seed = 1; seed <= 100; seed++) {
    const prng = new TestPrng(seed);
    const history = simulateLinearizable(prng, {
      clients: 3,
      operations: 8,
      keys: ['a'],
      unknownRate: 0.2,
      failedRate: 0.1,
      durationMsMax: 6,
      integerTimes: true,
      valueDomain: [1, 2],
    });
    assert.equal(bruteForceLinearizable(history), true, `seed ${seed}: the oracle disagrees with the simulator`);
    assert.equal(checkLinearizability(history).verdict, 'linearizable', `seed ${seed}`);
  }
});
