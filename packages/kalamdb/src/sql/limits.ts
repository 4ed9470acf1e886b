/** Every bound of the SQL engine, unit last; relations asserted at load. */
export const SQL_ENGINE_LIMITS = {
  /** scrypt cost parameters for password hashes (N = 2^14, r = 8, p = 1: about 16 MiB and ~50 ms per hash). */
  scryptN: 16_384,
  scryptR: 8,
  scryptP: 1,
  scryptKeyBytes: 32,
  scryptSaltBytes: 16,
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
} as const;

if (SQL_ENGINE_LIMITS.seqNodeBits >= SQL_ENGINE_LIMITS.seqCounterBits) {
  throw new Error('SQL_ENGINE_LIMITS.seqNodeBits must leave room for a counter below seqCounterBits');
}
if (SQL_ENGINE_LIMITS.scryptSaltBytes < 16) throw new Error('SQL_ENGINE_LIMITS.scryptSaltBytes must be at least 16');
