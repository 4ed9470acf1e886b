/**
 * Options of one Kalam-level simulated run (a whole Kalam cluster: 3 meta groups, N user shards and one
 * shared shard per node, each over real kalamdb state machines) and every bound of that driver, unit last.
 */
import { assert } from '@kalam/raft';
import { PLANTED_BUG_LIST } from '../bugs.js';
import type { AnyPlantedBug } from '../bugs.js';

/** Test-only bugs the Kalam-level simulation can plant: every layer's (bugs.ts). */
export const KALAM_PLANTED_BUGS: readonly AnyPlantedBug[] = PLANTED_BUG_LIST.map((b) => b.name);
export type KalamPlantedBug = AnyPlantedBug;

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
  /** Setup statements that depend on nothing in flight (the fuzz pool's rows) go this many at once. */
  setupParallelMax: 8,
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
  /** Snapshot bytes a node installs per driver turn: a data group's snapshot takes several turns (pieces). */
  installBytesPerTurn: 512,
  /** Per tick, the chance that a node installing a snapshot in pieces crashes (between two of them). */
  crashMidInstallChancePerTick: 0.05,
  /** Budget of the linearizability check (wall clock; a run past it reports verdict `timeout`). */
  checkTimeoutMs: 20_000,
} as const;

assert(KALAM_SIM_LIMITS.answerTicksMax < KALAM_SIM_LIMITS.livenessTicksMax, 'calls must answer before liveness ends');
