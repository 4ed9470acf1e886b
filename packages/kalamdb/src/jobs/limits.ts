/** Every bound of the job manager, unit last; relations asserted at load. */
import assert from 'node:assert/strict';

export const JOBS_LIMITS = {
  /** How often the meta:jobs leader looks for work (jobs to claim, due schedules, flush policies). */
  pollMs: 200,
  /** A data command a job proposes is asked again this many times when refused as transient (no leader yet). */
  stepAttemptsMax: 20,
  /** Pause between two tries of a step. */
  stepRetryMs: 100,
  /** A flush of one scope is planned again at most this many times when writes raced it (CONFLICT). */
  flushReplansMax: 5,
  /** Compaction merges the files of a scope once it has at least this many. */
  compactionFilesMin: 2,
  /** Soft-deleted rows are purged this long after their delete (a job's config may say `deleted_retention_ms`). */
  deletedRetentionMs: 7 * 24 * 3600 * 1000,
  /** Finished jobs stay in system.jobs this long; each retention job forgets older ones (PurgeJobs). */
  jobHistoryMs: 7 * 24 * 3600 * 1000,
  /** The schedule every leader makes sure exists: retention once a minute (croner syntax, seconds first). */
  defaultRetentionCron: '0 * * * * *',
  /** At most this many due firings of one schedule are caught up at once (a leader that was down for a day). */
  scheduleCatchUpMax: 1,
  /** On node stop, how long the manager waits for the running pass before letting the node close anyway. */
  stopWaitMs: 1_000,
  /** Test switch (honoured only with KALAM_ALLOW_PLANTED_BUGS=1): pause this long after each step of a job. */
  testStepDelayMsMax: 60_000,
} as const;

assert.ok(JOBS_LIMITS.stepRetryMs < JOBS_LIMITS.pollMs * 10);
assert.ok(JOBS_LIMITS.compactionFilesMin >= 2, 'compacting one file would only rewrite it');
