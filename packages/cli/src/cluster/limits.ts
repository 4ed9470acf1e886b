/**
 * Every bound of `kalam cluster`, `kalam node` and the supervisor, unit last. Waits are generous: the machine
 * may be shared, and a bound exists so that nothing waits forever, not to measure speed.
 */
export const CLUSTER_LIMITS = {
  nodesMin: 1,
  nodesMax: 9,
  /** API ports are base..base+N-1, Raft RPC ports base+rpcPortOffset..; 18081 stays clear of local-3's 8081/9081. */
  defaultBasePort: 18_081,
  rpcPortOffset: 100,
  /**
   * Where findFreeBasePort looks for a free block (drills), and how many random tries it makes. Below Linux's
   * ephemeral range (32768–60999 by default): a port found free there could be taken by a node's outbound Raft
   * connection before that node binds its API to it (a CI run's drill failed with EADDRINUSE exactly so).
   */
  freeBasePortRange: [20_000, 32_000] as const,
  freeBasePortAttempts: 50,
  basePortMin: 1_024,
  basePortMax: 65_000,
  clusterNameLengthMax: 40,
  /** `up`: every node ready and every group with a leader within this long. */
  upTimeoutMs: 120_000,
  /** `up`: the detached supervisor writes supervisor.json within this long. */
  supervisorStartMs: 15_000,
  /** A node's healthcheck answers within this long after spawn (startup may wait for a quorum). */
  nodeReadyTimeoutMs: 60_000,
  /** Pause between two readiness or status polls. */
  pollMs: 250,
  /** After SIGTERM a node is SIGKILLed if it has not exited within this long (its own hard bound is 10 s). */
  nodeStopTimeoutMs: 15_000,
  /** A SIGKILLed node is reaped within this long. */
  nodeKillTimeoutMs: 5_000,
  /** One request to a node's API or admin endpoint. */
  nodeRequestTimeoutMs: 2_000,
  /** One request to the supervisor that does not start or stop processes. */
  supervisorRequestTimeoutMs: 10_000,
  /** A supervisor request that starts or stops nodes (down waits for every node). */
  supervisorLongRequestTimeoutMs: 180_000,
  /** `down`: the supervisor process is gone within this long after it answered. */
  supervisorExitTimeoutMs: 10_000,
  /** After `down`, the supervisor's API closes its last connections after this long. */
  supervisorCloseMs: 2_000,
  /**
   * `node add`: the new node a voter of every group; `node remove`: no group lists the node. Each group changes
   * its configuration one step at a time (learner, caught up, joint, voter), two groups catching up at once, so a
   * join moves 36 groups in turn: about 8 s on a quiet 3-node cluster, far more on a loaded machine.
   */
  membershipTimeoutMs: 300_000,
  /** How often `node add|remove` look at the cluster while they wait, and print a line at least this often. */
  membershipPollMs: 500,
  membershipProgressEveryMs: 5_000,
  /** `status --watch` redraw period. */
  watchIntervalMs: 500,
  /** `node logs --follow` poll period. */
  followIntervalMs: 250,
  /** Bytes of one `node logs` read. */
  logChunkBytes: 64 * 1024,
  /** Supervisor API request bodies. */
  supervisorBodyBytesMax: 64 * 1024,
  /** Random secrets: the cluster secret, the root password and the supervisor token, in bytes. */
  secretBytes: 24,
} as const;
