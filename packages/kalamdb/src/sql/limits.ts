/** Every bound of the SQL engine, unit last; relations asserted at load. */
export const SQL_ENGINE_LIMITS = {
  /** scrypt cost parameters for password hashes (N = 2^14, r = 8, p = 1: about 16 MiB and ~50 ms per hash). */
  scryptN: 16_384,
  scryptR: 8,
  scryptP: 1,
  scryptKeyBytes: 32,
  scryptSaltBytes: 16,
  /**
   * scrypt computations running at once in this process (hashing and verifying). Each one holds a thread of libuv's
   * pool (4 by default) for ~50 ms; unbounded, a flood of password guesses takes every thread and queues every other
   * password check — and the file system work that shares the pool — behind it.
   */
  scryptConcurrencyMax: 2,
  /** scrypt computations waiting for a slot; one more is refused at once with RATE_LIMIT_EXCEEDED. */
  scryptQueueMax: 32,
  /**
   * A password that matched is remembered this long (as an HMAC of user id, current hash and password under a key
   * that never leaves the process), so a client sending Basic credentials with every request pays scrypt once per
   * window rather than once per request. Any change of the user's hash forgets it.
   */
  verifiedCredentialTtlMs: 60_000,
  /** Remembered matches at most; the oldest is forgotten first. */
  verifiedCredentialsMax: 10_000,
  /** Low bits of a `_seq` below the millisecond: 2^12 sequence numbers per millisecond per engine. */
  seqCounterBits: 12,
  /** Bits of the low part that carry the node id (so two nodes start each millisecond at different offsets). */
  seqNodeBits: 4,
  /** User names: 1 … this many characters. */
  userNameCharsMax: 128,
  /** Passwords: at least 1, at most this many characters (scrypt input stays bounded). */
  passwordCharsMax: 1_024,
  /** Schedule names: 1 … this many characters of [A-Za-z0-9_-] (a job id is `<name>@<due ms>[:<table>]`). */
  scheduleNameCharsMax: 64,
  /** A schedule fires at most once per this many ms (judged over its next scheduleGapSamples due times). */
  scheduleGapMsMin: 10_000,
  scheduleGapSamples: 16,
  /**
   * Rows one statement's result may hold (a SELECT over more is refused with LIMIT_EXCEEDED, not truncated: a
   * client that did not look at a flag would take a part for the whole). Page with LIMIT/OFFSET or WHERE _seq > ….
   * A 100,000-row SELECT of 1 KB rows once grew a node by 358 MB.
   */
  resultRowsMax: 10_000,
  /**
   * Time one statement may spend evaluating rows (filter, grouping, sort keys, projection), in ms; past it the
   * statement fails with LIMIT_EXCEEDED. Measured on the node's monotonic clock while the work runs.
   */
  statementEvalMsMax: 3_000,
  /**
   * The evaluation of rows yields to the event loop after this many ms of work, so that the Raft driver's timer
   * (every 100 ms by default) fires on time while a long statement computes.
   */
  evalSliceMs: 10,
  /** Rows evaluated between two looks at the clock (a look costs about as much as a cheap row). */
  evalCheckRows: 32,
  /**
   * UPDATE and DELETE evaluate their WHERE on every row in scope inside apply, on every replica, where no time
   * budget can stop them (apply must be deterministic): the planner refuses a statement whose rows in scope times
   * (filter nodes + 1) exceed this.
   */
  writeFilterWorkMax: 5_000_000,
} as const;

/** The bounds a statement's evaluation obeys (tests narrow them through SqlEngineOptions.limits). */
export type EvalLimits = {
  readonly [
    K in 'resultRowsMax' | 'statementEvalMsMax' | 'evalSliceMs' | 'evalCheckRows' | 'writeFilterWorkMax'
  ]: number;
};

if (SQL_ENGINE_LIMITS.seqNodeBits >= SQL_ENGINE_LIMITS.seqCounterBits) {
  throw new Error('SQL_ENGINE_LIMITS.seqNodeBits must leave room for a counter below seqCounterBits');
}
if (SQL_ENGINE_LIMITS.scryptConcurrencyMax < 1 || SQL_ENGINE_LIMITS.scryptQueueMax < 0) {
  throw new Error('SQL_ENGINE_LIMITS: scrypt needs at least one slot and a queue of 0 or more');
}
if (SQL_ENGINE_LIMITS.scryptSaltBytes < 16) throw new Error('SQL_ENGINE_LIMITS.scryptSaltBytes must be at least 16');
if (SQL_ENGINE_LIMITS.evalSliceMs >= SQL_ENGINE_LIMITS.statementEvalMsMax) {
  throw new Error('SQL_ENGINE_LIMITS.evalSliceMs must be shorter than statementEvalMsMax');
}
