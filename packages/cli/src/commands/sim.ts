/**
 * `kalam sim`: runs the deterministic simulator over a range of seeds (or replays one) and reports every
 * seed that violated an invariant, with the command that replays it. Exit 0 only when no run violated one.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { AnyPlantedBug } from '@kalam/sim';
import { PLANTED_BUG_LIST, SIM_DEFAULTS, isStateMachineBug } from '@kalam/sim';
import type { CliContext } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { CLI_LIMITS } from '../limits.js';
import { createProgress, printJson } from '../output.js';
import { clusterSize, integerIn } from '../parse.js';
import type { SimPlanOptions } from '../sim/plan.js';
import { KALAM_GROUPS, expandPlan } from '../sim/plan.js';
import { renderSimReport } from '../sim/render.js';
import type { SimReport } from '../sim/report.js';
import { buildReport } from '../sim/report.js';
import type { RunOutcome } from '../sim/runner.js';
import { defaultJobs } from '../sim/runner.js';

/** Seeds run when neither --seeds nor --seed is given: what CI runs. */
export const DEFAULT_SEEDS = 200;

/** The options as commander hands them over, after the per-option parsers ran. */
interface RawSimOptions {
  readonly seeds?: number;
  readonly seed?: number;
  readonly firstSeed?: number;
  readonly nodes?: 3 | 5;
  readonly groups?: number;
  readonly ticks?: number;
  readonly plantBug?: AnyPlantedBug;
  readonly listBugs?: boolean;
  readonly jobs?: number;
  readonly json?: boolean;
  readonly kalam?: boolean;
}

export function registerSim(program: Command, ctx: CliContext): void {
  program
    .command('sim')
    .summary('run the deterministic cluster simulator over many seeds, or replay one')
    .description(
      'Run simulated 3- and 5-node clusters under faults (loss, delay, reordering, duplication, partitions, ' +
        'crashes, a slow disk), then heal them and check that every group converges. Every run is decided by ' +
        'its seed: a failing seed replays exactly with --seed. Without --nodes, odd seeds run 3 nodes and even ' +
        'seeds 5.',
    )
    .addOption(
      new Option('--seeds <count>', `seeds to run (default ${DEFAULT_SEEDS})`).argParser(
        integerIn(1, CLI_LIMITS.seedsMax),
      ),
    )
    .addOption(
      new Option('--first-seed <seed>', 'the first seed of the range (default 1)').argParser(
        integerIn(0, CLI_LIMITS.seedMax),
      ),
    )
    .addOption(
      new Option('--seed <seed>', 'replay exactly one seed and print its trace hash')
        .argParser(integerIn(0, CLI_LIMITS.seedMax))
        .conflicts(['seeds', 'firstSeed']),
    )
    .addOption(new Option('--nodes <n>', 'cluster size, 3 or 5 (default: by seed)').argParser(clusterSize))
    .addOption(
      new Option('--groups <count>', `raft groups per node (default ${SIM_DEFAULTS.groups})`).argParser(
        integerIn(1, CLI_LIMITS.groupsMax),
      ),
    )
    .addOption(
      new Option('--ticks <count>', `ticks of the fault phase (default ${SIM_DEFAULTS.ticks})`).argParser(
        integerIn(1, CLI_LIMITS.ticksMax),
      ),
    )
    .addOption(
      new Option(
        '--plant-bug <name>',
        'switch on a known bug in the core, the driver or (with --kalam) the state machines, to see a checker ' +
          'catch it (see --list-bugs)',
      ).choices(PLANTED_BUG_LIST.map((b) => b.name)),
    )
    .option('--list-bugs', 'list the bugs --plant-bug can switch on, and exit')
    .addOption(
      new Option('--jobs <count>', 'worker threads (default: one per core)').argParser(
        integerIn(1, CLI_LIMITS.jobsMax),
      ),
    )
    .addOption(
      new Option(
        '--kalam',
        'simulate whole Kalam clusters: kalamdb state machines, users writing their own and shared rows, ' +
          'per-group state digests compared and the client history checked for linearizability',
      ).conflicts(['groups']),
    )
    .option('--json', 'print one JSON object instead of the summary')
    .action(async (raw: RawSimOptions) => {
      if (raw.listBugs === true) {
        listBugs(ctx, raw.json === true);
        return;
      }
      const report = await runSimCommand(ctx, raw);
      if (raw.json === true) printJson(ctx.out, report);
      else renderSimReport(ctx.out, report);
      const first = report.failures[0];
      if (first !== undefined) {
        throw new CliError(
          'SIM_VIOLATION',
          `${report.failures.length} of ${report.seeds} seeds violated an invariant; ` +
            `first: seed ${first.seed} (${first.invariant}), replay with: ${first.replay}`,
        );
      }
    });
}

/** `--list-bugs`: every plantable bug, the layer it lives in and what it breaks. */
function listBugs(ctx: CliContext, json: boolean): void {
  if (json) {
    printJson(ctx.out, { bugs: PLANTED_BUG_LIST });
    return;
  }
  const width = Math.max(...PLANTED_BUG_LIST.map((b) => b.name.length));
  ctx.out.line('Bugs `kalam sim --plant-bug` switches on (test-only options of the shipped code):');
  ctx.out.line();
  for (const b of PLANTED_BUG_LIST) {
    const where = b.layer === 'state-machine' ? 'state machine, --kalam only' : b.layer;
    ctx.out.line(`  ${b.name.padEnd(width)}  ${where.padEnd(27)}  ${b.what}`);
  }
}

export function toPlan(raw: RawSimOptions): SimPlanOptions {
  if (raw.plantBug !== undefined && isStateMachineBug(raw.plantBug) && raw.kalam !== true) {
    throw usageError(`--plant-bug ${raw.plantBug} plants a bug in the state machines: add --kalam`);
  }
  const replay = raw.seed !== undefined;
  const seeds = replay ? 1 : (raw.seeds ?? DEFAULT_SEEDS);
  const firstSeed = raw.seed ?? raw.firstSeed ?? 1;
  if (firstSeed + seeds - 1 > CLI_LIMITS.seedMax) {
    throw usageError(`seeds ${firstSeed}..${firstSeed + seeds - 1} go past the largest seed ${CLI_LIMITS.seedMax}`);
  }
  return {
    seeds,
    firstSeed,
    nodes: raw.nodes,
    groups: raw.kalam === true ? KALAM_GROUPS : (raw.groups ?? SIM_DEFAULTS.groups),
    ticks: raw.ticks ?? SIM_DEFAULTS.ticks,
    plantedBug: raw.plantBug,
    replay,
    kalam: raw.kalam === true,
  };
}

async function runSimCommand(ctx: CliContext, raw: RawSimOptions): Promise<SimReport> {
  const plan = toPlan(raw);
  const runs = expandPlan(plan);
  const jobs = Math.min(raw.jobs ?? (plan.replay ? 1 : defaultJobs(runs.length)), runs.length);
  const progress = runs.length > 1 ? createProgress(ctx.out, 'sim: seeds', runs.length) : undefined;
  const outcomes: RunOutcome[] = [];
  let failing = 0;
  const startMs = performance.now();
  await ctx.simRunner(jobs).run(runs, (outcome) => {
    outcomes.push(outcome);
    if (outcome.kind === 'error' || outcome.result.violations.length > 0) failing++;
    progress?.update(outcomes.length, `${failing} failing`);
  });
  progress?.finish();
  return buildReport({ plan, outcomes, durationMs: performance.now() - startMs, defaults: SIM_DEFAULTS });
}
