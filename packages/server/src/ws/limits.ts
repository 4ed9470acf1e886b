/**
 * Bounds of the WebSocket API of one node (the replicated ones — subscriptions per user, the change-log window —
 * are LIVE_LIMITS in @kalam/kalamdb). Units last; relations asserted at load.
 */
import assert from 'node:assert/strict';

export const WS_LIMITS = {
  /** A client message larger than this is refused with MESSAGE_TOO_LARGE (KalamDB: 1 MB). */
  messageBytesMax: 1_048_576,
  /** Frames beyond this are not even read: the ws library closes the socket (1009). */
  framePayloadBytesMax: 2 * 1_048_576,
  /** Server messages are cut (batches, change runs) to stay under this. */
  outgoingBytesTarget: 512 * 1024,
  /** Subscriptions one connection may hold (the per-user limit, across the cluster, is LIVE_LIMITS'). */
  subscriptionsPerConnectionMax: 10,
  /** A connection that has not authenticated within this long is closed (KalamDB: 3 s). */
  authTimeoutMs: 5_000,
  /** Client messages per connection per second, next_batch aside; more get RATE_LIMIT_EXCEEDED (KalamDB: 50). */
  messagesPerSecondMax: 50,
  /** A subscription id is 1..this many characters. */
  subscriptionIdCharsMax: 128,
  /** Initial rows per `initial_data_batch` when the client does not say (`batch_size`), and the most it may ask. */
  batchSizeDefault: 100,
  batchSizeMax: 1_000,
  /** An initial load of more rows than this is refused (use `last_rows`): the snapshot is held in memory. */
  initialRowsMax: 100_000,
  /** Changes held for a subscription while its initial batches load; more end it with SUBSCRIPTION_OVERFLOW. */
  pendingChangesMax: 10_000,
  /** A socket with more unsent bytes than this is a slow consumer and is closed (1013); it may resume. */
  sendBufferBytesMax: 16 * 1024 * 1024,
  /** The registration heartbeat: one PingLiveQueries per user with subscriptions on this node, through its shard. */
  pingIntervalMs: 2_000,
  /** A registration whose last heartbeat is older than this is stale: its shard's leader cleans its node's up. */
  staleAfterMs: 10_000,
  /** How often a shard leader looks for stale registrations. */
  sweepIntervalMs: 2_000,
  /** Connections one node accepts. */
  connectionsMax: 10_000,
  /**
   * How often the sockets are re-checked against their users' records when meta:users applied something and no
   * delivery has done it already (ws/sessions.ts): the bound, beyond replication, on a revoked socket's life.
   */
  sessionRecheckIntervalMs: 250,
} as const;

assert.ok(WS_LIMITS.messageBytesMax < WS_LIMITS.framePayloadBytesMax);
assert.ok(WS_LIMITS.outgoingBytesTarget <= WS_LIMITS.messageBytesMax);
assert.ok(WS_LIMITS.batchSizeDefault <= WS_LIMITS.batchSizeMax);
assert.ok(WS_LIMITS.staleAfterMs >= 3 * WS_LIMITS.pingIntervalMs, 'a registration survives two lost heartbeats');
