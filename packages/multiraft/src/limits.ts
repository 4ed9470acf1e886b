/** Every bound of RaftManager, unit last. */
export const MULTIRAFT_LIMITS = {
  /** Envelopes waiting for the driver; beyond this inbound envelopes are dropped (Raft retries). */
  inboxEnvelopesMax: 100_000,
  /** Ready rounds in one driver turn before yielding to the event loop. */
  drainRoundsMax: 8,
  /** Proposals waiting for their entry to apply, per node. */
  pendingProposalsMax: 50_000,
  /** Default time a proposal or read may take before it fails with TIMEOUT (outcome then unknown). */
  requestTimeoutMsDefault: 5_000,
  /** Committed entries applied per group per driver turn (the rest wait for the next turn). */
  applyBatchMax: 4_096,
  /**
   * Payload bytes of one state-machine batch (one `apply` call, one transaction; at least one entry, whatever its
   * size). Small batches let a turn stop applying soon after applyMsPerTurnMax.
   */
  applyBatchBytesMax: 64 * 1024,
  /**
   * Time a driver turn spends applying committed entries, over all groups: no new batch starts past it (at least
   * one batch per turn). The rest waits for the next turn, which runs after the timers due: applying ~9 MB in one
   * turn once held a node's timer back for a second, and its groups' heartbeats with it. Bytes alone do not bound
   * the time: a KB of small rows costs thirty times a KB of one row.
   */
  applyMsPerTurnMax: 20,
  /**
   * Bytes of entries and snapshot chunks stepped in one driver turn (at least one message, whatever its size): a
   * follower that is far behind receives up to the inflight window (8 MB) at once, and writes what it steps in one
   * fsynced transaction. The envelopes left wait, in order, for the next turn.
   */
  stepBytesPerTurnMax: 2 * 1024 * 1024,
  /**
   * Leader balance: transfers one node runs at once by default. Each round waits until the last round's transfers
   * are done, so this also bounds the moves per round: a node that leads everything hands its groups over a few at
   * a time, never all at once (each transfer pauses its group's proposals for a moment).
   */
  balanceTransfersMax: 3,
  /** Leader balance: a group whose transfer failed is left where it is, and its target offered nothing, this many rounds. */
  balanceCooldownRounds: 5,
  /**
   * Time a driver turn gives the snapshots being built in slices (StateMachine.snapshotBuilder), over all groups:
   * the turn's timers and heartbeats never wait behind building a large state.
   */
  snapshotMsPerTurnMax: 10,
  /**
   * Bytes of log one group holds in memory before it is compacted, down to half (RaftDriver's logBytesMax by
   * default): the half kept is twice the inflight window (8 MB), so a follower that keeps up is not cut off by it,
   * and one group loaded with large entries keeps a node's memory bounded (CockroachDB truncates at 16 MiB).
   */
  logBytesMaxDefault: 32 * 1024 * 1024,
  /**
   * Largest snapshot a follower accepts, as announced in its chunks. A node receives a snapshot into a file a chunk at
   * a time (snapshot-lifetimes.ts), so this bounds only what an announcement may claim — 1 TiB, far beyond a shard on
   * one machine — not memory; raft.db's blob bound (512 MiB) no longer applies to it.
   */
  snapshotBytesMax: 2 ** 40,
  /**
   * Bytes of a snapshot one driver turn installs (StateMachine.installer: one piece, one data.db transaction, at least
   * one record of the snapshot): about 1,000 rows of 1 KB, some milliseconds of inserts, then the timers due run.
   */
  installBytesPerTurnMax: 1024 * 1024,
  /** The pause before the turn of an install's next piece (a timer: the timers and I/O due run first). */
  installPauseMs: 1,
  /** Ticks the driver-timing figures (tick lateness, turn times) cover: 600 ticks is a minute at 100 ms. */
  timingWindowTicks: 600,
  /** Log writes the write-time figures (mean, p99, max) cover: a few seconds of a busy node. */
  logWriteWindow: 4096,
} as const;
