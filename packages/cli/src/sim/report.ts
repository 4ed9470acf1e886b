/**
 * Turns the outcomes of a `kalam sim` invocation into its report: the data that both the human renderer and
 * `--json` print. Pure.
 */
import type { SimPlanOptions } from './plan.js';
import { replayCommand } from './plan.js';
import type { RunOutcome, SimRun } from './runner.js';

/**
 * The simulator's counters (proposals, acked, crashes, …) summed over runs, and the most liveness ticks any
 * run needed. Keyed by name so that a counter the simulator adds shows up without a change here.
 */
export type SimReportStats = Readonly<Record<string, number>> & { readonly livenessTicksMax: number };

export interface SimFailure {
  readonly seed: number;
  readonly nodes: number;
  /** The first violated invariant, or `uncaught-error` when the run threw. */
  readonly invariant: string;
  readonly detail: string;
  /** The tick of the first violation (undefined when the run threw). */
  readonly tick?: number;
  readonly group?: number;
  /** Violations the run reported (1 for a run that threw). */
  readonly violations: number;
  readonly replay: string;
}

export interface SimRunSummary {
  readonly seed: number;
  readonly nodes: number;
  readonly violations: number;
  /** Null when the run threw before it could finish its trace. */
  readonly traceHash: string | null;
  /** Kalam-level runs: the verdict on the client history ('not-checked' when the run stopped before it). */
  readonly linearizability?: string;
}

/** Kalam-level runs only: how many runs got each verdict, and the calls checked over all of them. */
export interface LinearizabilitySummary {
  readonly verdicts: Readonly<Record<string, number>>;
  readonly operations: number;
  readonly keys: number;
}

export interface SimReport {
  readonly ok: boolean;
  /** Seeds run. */
  readonly seeds: number;
  readonly firstSeed: number;
  readonly lastSeed: number;
  /** The cluster sizes used, ascending. */
  readonly nodes: readonly number[];
  readonly groups: number;
  readonly ticks: number;
  readonly plantedBug: string | null;
  /** `--kalam`: whole Kalam clusters with a checked client history. */
  readonly kalam: boolean;
  /** Kalam-level runs only. */
  readonly linearizability?: LinearizabilitySummary;
  /** Violations over every run (a run that threw counts as one). */
  readonly violations: number;
  /** One per failing seed, ascending by seed. */
  readonly failures: readonly SimFailure[];
  readonly durationMs: number;
  /** Stats summed over every run that finished. */
  readonly stats: SimReportStats;
  /** Every run, ascending by seed. */
  readonly runs: readonly SimRunSummary[];
  /** Replays (`--seed S`) only: the one run's seed and trace hash, to compare with another replay. */
  readonly seed?: number;
  readonly traceHash?: string | null;
}

const UNCAUGHT = 'uncaught-error';

export function buildReport(args: {
  readonly plan: SimPlanOptions;
  readonly outcomes: readonly RunOutcome[];
  readonly durationMs: number;
  readonly defaults: { readonly groups: number; readonly ticks: number };
}): SimReport {
  const outcomes = [...args.outcomes].sort((a, b) => a.options.seed - b.options.seed);
  const failures = outcomes.flatMap((o) => failureOf(o, args.defaults));
  const violations = failures.reduce((sum, f) => sum + f.violations, 0);
  const first = outcomes[0];
  const report: SimReport = {
    ok: failures.length === 0,
    seeds: outcomes.length,
    firstSeed: args.plan.firstSeed,
    lastSeed: args.plan.firstSeed + args.plan.seeds - 1,
    nodes: [...new Set(outcomes.map((o) => o.options.nodes))].sort((a, b) => a - b),
    groups: args.plan.groups,
    ticks: args.plan.ticks,
    plantedBug: args.plan.plantedBug ?? null,
    kalam: args.plan.kalam === true,
    ...(args.plan.kalam === true ? { linearizability: summarizeLinearizability(outcomes) } : {}),
    violations,
    failures,
    durationMs: Math.round(args.durationMs),
    stats: sumStats(outcomes),
    runs: outcomes.map(summaryOf),
  };
  if (!args.plan.replay || first === undefined) return report;
  return { ...report, seed: first.options.seed, traceHash: summaryOf(first).traceHash };
}

function failureOf(outcome: RunOutcome, defaults: { groups: number; ticks: number }): SimFailure[] {
  const o: SimRun = outcome.options;
  const replay = replayCommand(o, defaults);
  if (outcome.kind === 'error') {
    const detail = `${outcome.error.name}: ${outcome.error.message}`;
    return [{ seed: o.seed, nodes: o.nodes, invariant: UNCAUGHT, detail, violations: 1, replay }];
  }
  const v = outcome.result.violations[0];
  if (v === undefined) return [];
  return [
    {
      seed: o.seed,
      nodes: o.nodes,
      invariant: v.invariant,
      detail: v.detail,
      tick: v.tick,
      ...(v.group !== undefined ? { group: v.group } : {}),
      violations: outcome.result.violations.length,
      replay,
    },
  ];
}

function summaryOf(outcome: RunOutcome): SimRunSummary {
  const { seed, nodes } = outcome.options;
  if (outcome.kind === 'error') return { seed, nodes, violations: 1, traceHash: null };
  const lin = outcome.result.linearizability;
  return {
    seed,
    nodes,
    violations: outcome.result.violations.length,
    traceHash: outcome.result.traceHash,
    ...(lin !== undefined ? { linearizability: lin.verdict } : {}),
  };
}

function summarizeLinearizability(outcomes: readonly RunOutcome[]): LinearizabilitySummary {
  const verdicts: Record<string, number> = {};
  let operations = 0;
  let keys = 0;
  for (const o of outcomes) {
    const verdict = o.kind === 'result' ? (o.result.linearizability?.verdict ?? 'not-checked') : 'not-checked';
    verdicts[verdict] = (verdicts[verdict] ?? 0) + 1;
    if (o.kind === 'result') {
      operations += o.result.linearizability?.operations ?? 0;
      keys += o.result.linearizability?.keys ?? 0;
    }
  }
  return { verdicts, operations, keys };
}

/**
 * Sums every counter of the runs that finished (whatever counters the simulator reports); the liveness
 * bound is the worst run's instead, since a sum of it means nothing.
 */
function sumStats(outcomes: readonly RunOutcome[]): SimReportStats {
  const total: Record<string, number> = {};
  let livenessTicksMax = 0;
  for (const o of outcomes) {
    if (o.kind !== 'result') continue;
    const stats = o.result.stats;
    for (const key of Object.keys(stats) as (keyof typeof stats)[]) {
      if (key === 'livenessTicks') livenessTicksMax = Math.max(livenessTicksMax, stats[key]);
      else total[key] = (total[key] ?? 0) + stats[key];
    }
  }
  return { ...total, livenessTicksMax };
}
