/**
 * Bounds of live queries that the replicated state enforces (every replica the same). The node-local bounds of the
 * WebSocket API (message size, per-connection subscriptions, heartbeats) live in @kalam/server's ws/limits.ts.
 */
import assert from 'node:assert/strict';

export const LIVE_LIMITS = {
  /** Live queries one user may hold across the whole cluster (KalamDB: 10); RegisterLiveQuery refuses the next. */
  subscriptionsPerUserMax: 10,
  /**
   * Changes each data group keeps for resuming (`from_seq_id`) and for catching subscribers up after a snapshot
   * restore. Older ones are trimmed in apply, so every replica keeps the same window.
   */
  changeLogEntriesPerGroupMax: 20_000,
} as const;

assert.ok(LIVE_LIMITS.subscriptionsPerUserMax >= 1);
assert.ok(LIVE_LIMITS.changeLogEntriesPerGroupMax >= 1_000, 'a resume window of a few seconds of writes at least');
