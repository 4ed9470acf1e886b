/**
 * What one `kalam sim` invocation runs: its validated options and the list of simulated runs they expand
 * to. Pure: no I/O, so the expansion rules (seed range, 3/5-node alternation, the replay command) are
 * testable on their own.
 */
import type { AnyPlantedBug } from '@kalam/sim';
import { KALAM_SIM_DEFAULTS } from '@kalam/sim';
import type { SimRun } from './runner.js';

export interface SimPlanOptions {
  /** Seeds to run, from `firstSeed` up. */
  readonly seeds: number;
  readonly firstSeed: number;
  /** Fixed cluster size, or undefined to alternate by seed (see `nodesForSeed`). */
  readonly nodes: 3 | 5 | undefined;
  readonly groups: number;
  readonly ticks: number;
  readonly plantedBug: AnyPlantedBug | undefined;
  /** True for `--seed S`: a replay of one run, which reports its trace hash and stats. */
  readonly replay: boolean;
  /** `--kalam`: whole Kalam clusters (kalamdb state machines, client history checked for linearizability). */
  readonly kalam?: boolean;
}

/** Groups per node of a Kalam-level run: 3 meta groups, the user shards and one shared shard. */
export const KALAM_GROUPS = 3 + KALAM_SIM_DEFAULTS.numUserShards + 1;

/**
 * The cluster size of a seed when `--nodes` is not given: odd seeds run 3 nodes, even seeds 5. It depends
 * on the seed alone, so `kalam sim --seed S` replays the same cluster that `--seeds N` ran for S.
 */
export function nodesForSeed(seed: number): 3 | 5 {
  return seed % 2 === 1 ? 3 : 5;
}

export function expandPlan(plan: SimPlanOptions): SimRun[] {
  const runs: SimRun[] = [];
  for (let i = 0; i < plan.seeds; i++) {
    const seed = plan.firstSeed + i;
    runs.push({
      seed,
      nodes: plan.nodes ?? nodesForSeed(seed),
      groups: plan.groups,
      ticks: plan.ticks,
      ...(plan.plantedBug !== undefined ? { plantedBug: plan.plantedBug } : {}),
      ...(plan.kalam === true ? { kalam: true as const } : {}),
    });
  }
  return runs;
}

/** The command that replays one run exactly; options equal to the defaults are left out. */
export function replayCommand(run: SimRun, defaults: { readonly groups: number; readonly ticks: number }): string {
  const parts = ['kalam sim', `--seed ${run.seed}`, `--nodes ${run.nodes}`];
  if (run.kalam === true) parts.push('--kalam');
  else if (run.groups !== defaults.groups) parts.push(`--groups ${run.groups}`);
  if (run.ticks !== defaults.ticks) parts.push(`--ticks ${run.ticks}`);
  if (run.plantedBug !== undefined) parts.push(`--plant-bug ${run.plantedBug}`);
  return parts.join(' ');
}
