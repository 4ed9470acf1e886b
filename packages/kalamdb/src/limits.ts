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

/**
 * Client sessions (state/sessions.ts, README "Client sessions"): what a data group remembers so that a write retried
 * with the same (client id, seq) applies once. Every bound is enforced inside apply, driven by the commands' `at`.
 */
export const CLIENT_SESSION_LIMITS = {
  /** A session idle (no write in this group) longer than this expires; a client's id older than this is refused. */
  ttlMs: 3_600_000,
  /** Sessions one data group remembers; a new one past this evicts the longest idle. */
  sessionsPerGroupMax: 10_000,
  /** Remembered answers not yet acknowledged, per session and group; past this a new seq is refused. */
  answersPerSessionMax: 128,
  /** Expired sessions one apply sweeps (bounded work per entry; the rest go on later entries). */
  expiredPerApplyMax: 8,
  /** Characters of a client id ([A-Za-z0-9_-]). */
  clientIdCharsMax: 64,
  /** How far ahead of the planning node's clock a client id's creation time may be (a clock a little fast). */
  createdAheadMsMax: 60_000,
} as const;

assert.ok(CLIENT_SESSION_LIMITS.answersPerSessionMax >= 1, 'a session remembers at least the answer it is waiting for');
assert.ok(CLIENT_SESSION_LIMITS.createdAheadMsMax < CLIENT_SESSION_LIMITS.ttlMs, 'skew allowance below the TTL');
