/**
 * Options of one Kalam-level simulated run (a whole Kalam cluster: 3 meta groups, N user shards and one
 * shared shard per node, each over real kalamdb state machines) and every bound of that driver, unit last.
 */
import { assert } from '@kalam/raft';

/**
 * Test-only bugs planted in the code a Kalam node ships (`kalam sim --list-bugs`), each switched on by an option,
 * to prove a checker catches it:
 * - the driver's (RaftDriver, DriverBugs): ackBeforeWrite — append acknowledgements and votes leave before the
 *   write is durable; readBeforeApplied — a read is answered before its read index is applied here;
 *   skipRestoreOnBoot — a restarted node does not restore its durable snapshots; applyForwardedTwice — a leader
 *   appends a forwarded proposal twice; joinAskedReadRound — a read joins a ReadIndex round already asked;
 * - issue M6's, in the state machines: uncheckedCommands — commands are not checked, and an apply that throws on
 *   a client's statement stops the node; restoreDropsOtherTables — a meta:system restore drops the tables (and
 *   rows) a data group's snapshot brought in first.
 */
export const KALAM_PLANTED_BUGS = [
  'ackBeforeWrite',
  'readBeforeApplied',
  'skipRestoreOnBoot',
  'applyForwardedTwice',
  'joinAskedReadRound',
  'uncheckedCommands',
  'restoreDropsOtherTables',
] as const;
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
  /** Debugging: receives a line for every Raft call of every node's executor (not part of the trace hash). */
  readonly onRaftCall?: (line: string) => void;
}

export const KALAM_SIM_DEFAULTS = { nodes: 3, ticks: 800, users: 6, numUserShards: 4 } as const;

export const KALAM_SIM_LIMITS = {
  usersMax: 32,
  userShardsMax: 16,
  ticksMax: 100_000,
  /** Register keys each user owns in the USER table, and keys of the SHARED table every client contends on. */
  userKeysPerUser: 2,
  sharedKeys: 3,
  /** The DDL and seeding phase (no crashes or partitions, but the network's loss and delay) must finish within this many ticks. */
  setupTicksMax: 3_000,
  /** A client whose call failed or timed out waits this long (simulated ms) before its next call. */
  clientBackoffMs: 100,
  /**
   * Every statement answers — a result, a refusal or a timeout — within this many ticks of simulated time on a
   * node that stays up (the engine's Raft calls time out after 2 s; a statement makes a few of them). Longer is a
   * violation: a client would wait forever.
   */
  answerTicksMax: 700,
  /** After healing: every group converges and every client call completes within this many ticks. */
  livenessTicksMax: 800,
  /** Budget of the linearizability check (wall clock; a run past it reports verdict `timeout`). */
  checkTimeoutMs: 20_000,
} as const;

assert(KALAM_SIM_LIMITS.answerTicksMax < KALAM_SIM_LIMITS.livenessTicksMax, 'calls must answer before liveness ends');
