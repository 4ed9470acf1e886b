/**
 * The numbers Kalam carries: finite, and when integral, within ±(2^53 − 1) so that they are exact. Commands travel
 * as canonical JSON (kalamdb's codec.ts encodes exactly these numbers and refuses the rest); every double of
 * magnitude 2^53 or more is integral, so in effect a number is carried when its magnitude is below 2^53 — a DOUBLE
 * of 1e300 is refused like a BIGINT of 2^63. One rule, used wherever a number enters a statement: SQL literals,
 * DEFAULTs, bound parameters, and constants folded by the planner.
 */
export function isCarriedNumber(n: number): boolean {
  return Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n));
}

/** How a refused number reads in messages: `1e+300 is beyond ±2^53` or `Infinity is not a finite number`. */
export function numberProblem(n: number): string {
  return Number.isFinite(n) ? `${n} is beyond ±2^53 (Kalam keeps numbers exact)` : `${n} is not a finite number`;
}
