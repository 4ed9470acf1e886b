// What this proves (issue M6 §3.1, adversaries.md §2 "CPU-heavy authentication"): every scrypt computation of the
// process passes one gate — never more than SQL_ENGINE_LIMITS.scryptConcurrencyMax run at once, at most scryptQueueMax
// wait, and one more is refused at once with RATE_LIMIT_EXCEEDED (429, with a retry hint) instead of queueing without
// bound; a refused caller does not poison the dummy hash that unknown users are checked against. How: the gate's own
// counters (scryptStats: computations started, the high-water mark of those running at once, refusals), never timing.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { KalamError, SQL_ENGINE_LIMITS, hashPassword, scryptStats, verifyPassword } from '../src/index.js';

const CONCURRENCY = SQL_ENGINE_LIMITS.scryptConcurrencyMax;
const QUEUE = SQL_ENGINE_LIMITS.scryptQueueMax;

test('concurrent verifications never run more than scryptConcurrencyMax scrypt computations at once', async () => {
  const hash = await hashPassword('right');
  const before = scryptStats();
  const n = CONCURRENCY + Math.min(QUEUE, 10);
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => verifyPassword(i === 0 ? 'right' : `wrong-${i}`, hash)),
  );
  assert.deepEqual(
    results,
    Array.from({ length: n }, (_, i) => i === 0),
  );
  const after = scryptStats();
  assert.equal(after.computed - before.computed, n, 'every verification ran once');
  assert.ok(after.inFlightMax <= CONCURRENCY, `at most ${CONCURRENCY} at once, saw ${after.inFlightMax}`);
  assert.equal(after.inFlight, 0);
  assert.equal(after.queued, 0);
});

test('a full queue refuses at once with RATE_LIMIT_EXCEEDED and a retry hint; the others complete', async () => {
  const hash = await hashPassword('right');
  const before = scryptStats();
  const extra = 3;
  const settled = await Promise.allSettled(
    Array.from({ length: CONCURRENCY + QUEUE + extra }, () => verifyPassword('wrong', hash)),
  );
  const refused = settled.filter((s) => s.status === 'rejected');
  assert.equal(refused.length, extra, 'exactly the calls beyond slots and queue are refused');
  for (const r of refused) {
    const err = r.reason as unknown;
    assert.ok(err instanceof KalamError, String(err));
    assert.equal(err.code, 'RATE_LIMIT_EXCEEDED');
    assert.equal(err.httpStatus, 429);
    assert.deepEqual(err.details, { retryAfterSeconds: 1 });
  }
  const after = scryptStats();
  assert.equal(after.computed - before.computed, CONCURRENCY + QUEUE, 'a refused call computes nothing');
  assert.equal(after.refused - before.refused, extra);
  assert.ok(after.inFlightMax <= CONCURRENCY);
});
