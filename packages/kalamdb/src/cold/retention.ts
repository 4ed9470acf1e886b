/**
 * Cutoffs of retention and compaction. A row's write time is the millisecond part of its `_seq` (SeqGenerator:
 * `ms * 2^12 + …`), so a cutoff timestamp chosen by the job's leader — never each node's own clock — becomes a
 * `_seq` bound that every replica compares the same way: a row is past the cutoff when `_seq < seqFloor(cutoffMs)`.
 */
import { SQL_ENGINE_LIMITS } from '../sql/limits.js';
import type { ColdRow } from './parquet.js';

const PER_MS = 2 ** SQL_ENGINE_LIMITS.seqCounterBits;

/** The smallest `_seq` any engine hands out at `ms`. */
export function seqFloor(ms: number): number {
  return Math.floor(ms) * PER_MS;
}

/** What a rewrite of a scope drops, as explicit cutoff timestamps (ms since the epoch) or null for none. */
export interface Cutoffs {
  /** STREAM tables: rows written before this are expired (now - TTL). */
  readonly expiredBeforeMs: number | null;
  /** Soft-deleted rows (tombstones) deleted before this are purged (now - retention). */
  readonly deletedBeforeMs: number | null;
}

/** Whether a version is dropped under `cutoffs`. */
export function pastCutoff(row: ColdRow, cutoffs: Cutoffs): boolean {
  if (cutoffs.expiredBeforeMs !== null && row.seq < seqFloor(cutoffs.expiredBeforeMs)) return true;
  return row.deleted && cutoffs.deletedBeforeMs !== null && row.seq < seqFloor(cutoffs.deletedBeforeMs);
}
