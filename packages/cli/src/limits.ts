/**
 * Every bound the CLI enforces on its input, unit last. The simulator checks its own options again; these
 * only turn an out-of-range value into a usage error (exit 2) before any work starts.
 */
export const CLI_LIMITS = {
  /** Seeds are 32-bit unsigned integers: the PRNG takes them modulo 2^32. */
  seedMax: 0xffff_ffff,
  /** Seeds one `kalam sim` run may cover. */
  seedsMax: 1_000_000,
  groupsMax: 64,
  ticksMax: 1_000_000,
  /** Worker threads one `kalam sim` run may start. */
  jobsMax: 64,
} as const;
