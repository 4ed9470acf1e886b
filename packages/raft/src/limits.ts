/**
 * Every bound of the core in one place, unit last. Relations between them are asserted when a config is
 * built (see `resolveLimits`).
 */
import { assert } from './assert.js';
import { ENTRY_HEADER_BYTES } from './types.js';

export interface RaftLimits {
  /** Largest payload one proposal may carry. */
  readonly entryBytesMax: number;
  /** Largest batch of entries one MsgApp carries (a single entry up to entryBytesMax always fits). */
  readonly msgBytesMax: number;
  /** Largest number of entries one MsgApp carries. */
  readonly msgEntriesMax: number;
  /** MsgApp messages in flight to one follower before the leader waits for acks. */
  readonly inflightMsgsMax: number;
  /** Bytes of entries in flight to one follower before the leader waits for acks. */
  readonly inflightBytesMax: number;
  /** Bytes of proposed but uncommitted entries the leader accepts before refusing proposals. */
  readonly uncommittedBytesMax: number;
  /** Size of one InstallSnapshot chunk. */
  readonly snapshotChunkBytes: number;
  /** Ticks the leader waits for a chunk ack before sending the chunk again. */
  readonly snapshotChunkResendTicks: number;
}

export const defaultLimits: RaftLimits = {
  entryBytesMax: 1024 * 1024,
  msgBytesMax: 1024 * 1024 + 4096,
  msgEntriesMax: 1024,
  inflightMsgsMax: 256,
  inflightBytesMax: 8 * 1024 * 1024,
  uncommittedBytesMax: 64 * 1024 * 1024,
  snapshotChunkBytes: 256 * 1024,
  snapshotChunkResendTicks: 5,
};

export function resolveLimits(overrides: Partial<RaftLimits> | undefined): RaftLimits {
  const limits: RaftLimits = { ...defaultLimits, ...overrides };
  for (const [key, value] of Object.entries(limits)) {
    assert(Number.isInteger(value) && value > 0, `limit ${key} must be a positive integer, got ${String(value)}`);
  }
  // One entry of the largest size must fit in one message, and so must one snapshot chunk.
  assert(
    limits.entryBytesMax + ENTRY_HEADER_BYTES <= limits.msgBytesMax,
    'entryBytesMax plus the entry header must fit in msgBytesMax',
  );
  assert(limits.snapshotChunkBytes <= limits.msgBytesMax, 'snapshotChunkBytes must not exceed msgBytesMax');
  assert(limits.msgBytesMax <= limits.inflightBytesMax, 'msgBytesMax must not exceed inflightBytesMax');
  assert(limits.entryBytesMax <= limits.uncommittedBytesMax, 'entryBytesMax must not exceed uncommittedBytesMax');
  return limits;
}
