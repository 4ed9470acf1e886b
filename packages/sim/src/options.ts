/**
 * Options of one simulated run and every bound of the simulator, unit last.
 */
import type { RaftSimBug } from './bugs.js';

export interface SimOptions {
  readonly seed: number;
  readonly nodes: 3 | 5;
  /** Raft groups hosted by every node. */
  readonly groups: number;
  /** Raft ticks of the safety phase (one tick is SIM_LIMITS.tickMs of simulated time). */
  readonly ticks: number;
  /** Test-only: switch on a known bug in every node's core or driver (bugs.ts). */
  readonly plantedBug?: RaftSimBug;
  /** Receives every line of the event trace (for replaying a seed with `--verbose`). */
  readonly onTrace?: (line: string) => void;
}

export const SIM_DEFAULTS = { nodes: 3, groups: 4, ticks: 1000 } as const;

export const SIM_LIMITS = {
  /** Simulated milliseconds per Raft tick. */
  tickMs: 10,
  electionTick: 10,
  heartbeatTick: 1,
  /** The liveness bound: after healing, every group must elect a leader and commit a fresh entry on every node. */
  livenessTicksMax: 600,
  /** Snapshot transfers use tiny chunks so that every transfer is chunked. */
  snapshotChunkBytes: 64,
  /** Readys drained in one driver turn before yielding to other events. */
  drainRoundsMax: 64,
  /** Violations kept per run (the run stops at the first one). */
  violationsMax: 8,
  groupsMax: 64,
  ticksMax: 1_000_000,
  /**
   * The shipped leader balance runs on every simulated node, often and strictly (tolerance 0: any node more than
   * one leader away from its share moves groups), so that its transfers meet the faults and the checkers: a round
   * every 30 ticks (a node's default is 20 of its ticks).
   */
  leaderBalanceIntervalTicks: 30,
  leaderBalanceTolerance: 0,
} as const;

/** Throws unless `seed` is a non-negative integer and `nodes` is a cluster size the drivers run (3 or 5). */
export function checkSeedAndNodes(seed: number, nodes: number): void {
  if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  if (nodes !== 3 && nodes !== 5) throw new RangeError(`nodes must be 3 or 5, got ${String(nodes)}`);
}

/** Throws unless `value` is an integer in [1, max]. */
export function checkCount(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer in [1, ${max}], got ${value}`);
  }
}
