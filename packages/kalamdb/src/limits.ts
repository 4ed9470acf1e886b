/**
 * Bounds on what one replicated command may carry, checked by validate.ts when a command is planned and again when it
 * is applied (a Raft entry is at most 1 MiB, which bounds every command's bytes; these bound its parts). Unit last.
 */
import assert from 'node:assert/strict';

import { LIVE_LIMITS } from './live/limits.js';
import { SQL_ENGINE_LIMITS } from './sql/limits.js';

export const COMMAND_LIMITS = {
  /** Columns of one table (SQLite allows 2,000 per table; Kalam adds four of its own). */
  columnsPerTableMax: 500,
  /** Rows of one INSERT command. */
  rowsPerCommandMax: 50_000,
  /** Characters of one stored string value (the entry's 1 MiB bounds it first; this says so in the error). */
  valueCharsMax: 1_048_576,
  /** Characters of a storage PATH. */
  pathCharsMax: 4_096,
  /** Characters of a user id: a user name with a `#n` suffix. */
  userIdCharsMax: SQL_ENGINE_LIMITS.userNameCharsMax + 8,
  userNameCharsMax: SQL_ENGINE_LIMITS.userNameCharsMax,
  /** Characters of a stored password hash (`scrypt$N$r$p$salt$hash` is about 100). */
  passwordHashCharsMax: 512,
  /** Characters of ids and names that are not SQL identifiers: jobs, schedules, subscriptions, query hashes, cron. */
  nameCharsMax: 256,
  /** Characters of a job's result or error message. */
  messageCharsMax: 65_536,
  /** Keys of a job or schedule config. */
  configKeysMax: 64,
  /** Input files of one compaction or retention rewrite. */
  filesPerRewriteMax: 10_000,
  /** Subscription ids in one PingLiveQueries (the state machine also refuses more than one user may hold). */
  subscriptionIdsPerPingMax: LIVE_LIMITS.subscriptionsPerUserMax,
  /** TTL_SECONDS of a STREAM table: at most 100 years. */
  ttlSecondsMax: 100 * 365 * 24 * 3600,
  /** Members one SeedClusterNodes may list (a cluster's static member list at bootstrap). */
  clusterNodesMax: 1_000,
  /** FLUSH_POLICY rows. */
  flushPolicyRowsMax: 1_000_000_000,
} as const;

assert.ok(COMMAND_LIMITS.userIdCharsMax > COMMAND_LIMITS.userNameCharsMax, 'a user id is a name plus a suffix');
assert.ok(COMMAND_LIMITS.columnsPerTableMax + 4 <= 2_000, "SQLite's column limit with Kalam's own columns");
