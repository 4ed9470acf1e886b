/**
 * Options of one Kalam-level simulated run (a whole Kalam cluster: 3 meta groups, N user shards and one
 * shared shard per node, each over real kalamdb state machines) and every bound of that driver, unit last.
 */
import { assert } from '@kalam/raft';

/**
 * Test-only bugs planted in the Kalam driver (not in the Raft core), to prove that the checkers have teeth:
 * - ackWriteBeforeCommit: a write is acknowledged as soon as it is proposed, before it commits.
 * - readWithoutReadIndex: a read is served from the local state machine at once, without a ReadIndex.
 * - skipRestoreOnBoot: a restarted node does not restore its durable snapshot into the fresh data.db.
 */
export const KALAM_PLANTED_BUGS = ['ackWriteBeforeCommit', 'readWithoutReadIndex', 'skipRestoreOnBoot'] as const;
export type KalamPlantedBug = (typeof KALAM_PLANTED_BUGS)[number];

export interface KalamSimOptions {
  readonly seed: number;
  readonly nodes: 3 | 5;
  /** Raft ticks of the safety phase, after the DDL phase (one tick is SIM_LIMITS.tickMs of simulated time). */
  readonly ticks: number;
  /** Clients, one per user; each writes its own USER rows and the shared rows. */
  readonly users?: number;
  /** User shards of the layout (groups = 3 meta + numUserShards + 1 shared). */
  readonly numUserShards?: number;
  /** Test-only: switch on a known bug in the driver. */
  readonly plantedBug?: KalamPlantedBug;
  /** Receives every line of the event trace. */
  readonly onTrace?: (line: string) => void;
}

export const KALAM_SIM_DEFAULTS = { nodes: 3, ticks: 800, users: 6, numUserShards: 4 } as const;

export const KALAM_SIM_LIMITS = {
  usersMax: 32,
  userShardsMax: 16,
  ticksMax: 100_000,
  /** Register keys each user owns in the USER table, and keys of the SHARED table every client contends on. */
  userKeysPerUser: 2,
  sharedKeys: 3,
  /** The DDL and seeding phase (no faults) must finish within this many ticks. */
  setupTicksMax: 1_000,
  /** A setup step not acknowledged within this many ticks is proposed again. */
  setupRetryTicks: 50,
  /** A client call still pending after this many ticks is abandoned with outcome `unknown`. */
  opTimeoutTicks: 150,
  /** After healing: every group converges and every client call completes within this many ticks. */
  livenessTicksMax: 800,
  /** Budget of the linearizability check (wall clock; a run past it reports verdict `timeout`). */
  checkTimeoutMs: 20_000,
} as const;

assert(KALAM_SIM_LIMITS.opTimeoutTicks < KALAM_SIM_LIMITS.livenessTicksMax, 'calls must time out before liveness ends');
