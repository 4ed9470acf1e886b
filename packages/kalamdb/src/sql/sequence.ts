/**
 * SeqGenerator: `_seq` values (and SNOWFLAKE_ID() defaults) chosen by the proposer, Snowflake-like:
 * `nowMs * 2^12 + (nodeId mod 2^4) * 2^8 + counter`. Strictly increasing per engine, even when the clock stands
 * still or steps back (the generator then runs ahead of the clock); a block of `count` values is reserved at once
 * so a multi-row command gets consecutive numbers. Safe integers until the year 2039 (2^53 / 2^12 ms).
 * Two nodes start every millisecond at different offsets, which makes collisions between nodes rare, not
 * impossible; `_seq` is a resume cursor, not a key.
 */
import { SQL_ENGINE_LIMITS } from './limits.js';

const PER_MS = 2 ** SQL_ENGINE_LIMITS.seqCounterBits;
const NODE_SLOT = 2 ** (SQL_ENGINE_LIMITS.seqCounterBits - SQL_ENGINE_LIMITS.seqNodeBits);
const NODE_SLOTS = 2 ** SQL_ENGINE_LIMITS.seqNodeBits;

export class SeqGenerator {
  private last = 0;

  constructor(
    private readonly nodeId: number,
    private readonly now: () => number,
  ) {}

  /** The first of `count` (≥ 1) consecutive fresh values, all greater than any value handed out before. */
  reserve(count: number): number {
    if (!Number.isSafeInteger(count) || count < 1) throw new Error(`SeqGenerator.reserve: bad count ${count}`);
    const floor = Math.floor(this.now()) * PER_MS + (this.nodeId % NODE_SLOTS) * NODE_SLOT;
    const base = Math.max(floor, this.last + 1);
    const end = base + count - 1;
    if (!Number.isSafeInteger(end)) throw new Error(`SeqGenerator: ${end} is beyond the safe integer range`);
    this.last = end;
    return base;
  }
}
