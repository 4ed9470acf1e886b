/**
 * Every bound of a drill, unit last: what a drill file may ask for, and how long each phase of a run may take.
 * A drill file can tighten the per-run figures (call timeout, convergence bound) but never lift them past these.
 */
export const DRILL_LIMITS = {
  nodesMin: 3,
  nodesMax: 7,
  stepsMax: 200,
  /** One `wait` step, and the whole fault phase of a drill. */
  waitMsMax: 120_000,
  /** The bound of a `wait_for` step when the file names none, and the most it may name. */
  waitForMsDefault: 15_000,
  waitForMsMax: 120_000,
  /**
   * add_node / remove_node / replace_node: the bound of the wait until the change is done in every group (36 groups,
   * one configuration change at a time each, two catching up at once), default and most.
   */
  membershipMsDefault: 180_000,
  membershipMsMax: 600_000,
  /** A whole run (setup, faults, heal, checks), default and most. */
  runMsDefault: 60_000,
  runMsMax: 600_000,
  /** `--short` multiplies `wait` steps by this unless the file says `short_scale`. */
  shortScaleDefault: 0.3,
  clientsMax: 64,
  usersMax: 256,
  keysPerUserMax: 16,
  sharedKeysMax: 256,
  /** One SQL call of the workload; past it the call's outcome is unknown. */
  callTimeoutMsDefault: 3_000,
  callTimeoutMsMax: 30_000,
  /** Pause between two calls of one client, so that a 2-core machine keeps up. */
  thinkMsDefault: 5,
  /** Calls one client may make in a run, whatever the duration. */
  callsPerClientMax: 100_000,
  /** Setup statements (users, tables, first rows) and final reads: tries of one statement, and the pause between. */
  setupTriesMax: 20,
  setupRetryMs: 250,
  /** A `sql` step: statements listed, and times the list may be repeated. */
  sqlStatementsMax: 100,
  sqlRepeatMax: 10_000,
  /** Status samples for the timeline. */
  sampleEveryMs: 250,
  samplesMax: 20_000,
  /** After the final heal: every node up and every group with a leader, then equal applied indexes. */
  healMsDefault: 30_000,
  convergeMsDefault: 30_000,
  convergePollMs: 250,
  /** Budget of the linearizability check. */
  checkBudgetMsDefault: 20_000,
  checkBudgetMsMax: 300_000,
  /** `[live]`: subscribers (users) a drill may ask for, each with its own connection and writer. */
  liveSubscribersMax: 32,
  /** `[live]`: pause between two writes of one live writer, unless the file says write_every_ms. */
  liveWriteEveryMsDefault: 40,
  /** Writes one live writer may make in a run, whatever the duration. */
  liveWritesPerWriterMax: 5_000,
  /**
   * `[live]`: the wait for the dead node's registrations to leave system.live_queries. The shard leaders clean up
   * registrations not pinged for WS_LIMITS.staleAfterMs (10 s) every sweepIntervalMs (2 s), so it is at least that.
   */
  liveCleanupMsDefault: 25_000,
  liveCleanupMsMin: 13_000,
  /** `[live]`: a connect, subscribe or resume; the delivery of the last (marker) change; the reference's read. */
  liveCallTimeoutMs: 15_000,
  /** `[live]`: tries of a resume on resume_on (it may still be electing leaders), and the pause between. */
  liveResumeTriesMax: 20,
  liveResumeRetryMs: 250,
  /** `[live]`: no new resume try starts this long after the connection closed. */
  liveResumeMsMax: 30_000,
  /** `[live]`: system.live_queries polls during the cleanup wait. */
  liveCleanupPollMs: 500,
  /** `[exactly_once]`: clients (users) a drill may ask for. */
  exactlyOnceClientsMax: 16,
  /** `[exactly_once]`: a write's deadline in the client across its attempts (a SIGKILLed leader's groups re-elect
   * in a few seconds, a restarted node catches up in a few more), default and most. */
  exactlyOnceDeadlineMsDefault: 30_000,
  exactlyOnceDeadlineMsMax: 120_000,
  /** `[exactly_once]`, sessions off: times the drill resends one increment whose outcome was unknown. */
  exactlyOnceResendsMax: 20,
  /** `[exactly_once]`: the resend of an escaped unknown outcome's seq keeps trying nodes this long. */
  exactlyOnceResolveMsMax: 60_000,
  /** `[exactly_once]`: problems kept for the report. */
  exactlyOnceErrorsMax: 50,
  /** Buckets of the throughput and latency charts. */
  chartBucketMs: 500,
} as const;
