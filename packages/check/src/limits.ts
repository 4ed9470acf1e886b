/**
 * Every bound of the checker in one place, unit last. The relations between them are asserted when this
 * module loads.
 */
import { assert } from './assert.js';

export const limits = {
  /**
   * Default time budget of one check, over all keys. Wing–Gong search is exponential in the worst case (many
   * concurrent writes followed by an impossible read); past the budget the verdict is `timeout`, never a guess.
   */
  checkTimeoutMsDefault: 10_000,
  /**
   * Most operations one key may hold before the checker gives up on that key (verdict `timeout`, reason
   * `too-many-operations`): the search keeps a bitset of this many bits per cached state.
   */
  operationsPerKeyMax: 100_000,
  /** Search steps between two looks at the clock: often enough to stop near the budget, rarely enough to be cheap. */
  stepsPerClockCheck: 1024,
  /**
   * A failing key with at most this many operations is shrunk to a 1-minimal failing sub-history (each
   * removal re-runs the search), to show a person the few operations that cannot be ordered.
   */
  shrinkOperationsMax: 200,
} as const;

assert(limits.checkTimeoutMsDefault > 0, 'checkTimeoutMsDefault must be positive');
assert(Number.isSafeInteger(limits.operationsPerKeyMax) && limits.operationsPerKeyMax > 0, 'operationsPerKeyMax');
assert(limits.stepsPerClockCheck > 0, 'stepsPerClockCheck must be positive');
assert(
  limits.shrinkOperationsMax <= limits.operationsPerKeyMax,
  'shrinkOperationsMax must not exceed operationsPerKeyMax',
);
