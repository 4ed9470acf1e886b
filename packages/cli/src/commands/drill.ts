/**
 * `kalam drill run FILE [--seed S] [--report DIR] [--json] [--short] [--nodes N] [--netns]` runs a drill file (drill/spec.ts)
 * against a fresh cluster (of N nodes instead of the file's `nodes`) and prints its checks; `kalam drill list` lists
 * the drills under cluster-configs/drills/.
 *
 * Progress goes to stderr, one line per step; stdout gets a table of the checks (or, with --json, one object
 * `{passed, name, seed, checks: [{name, passed, detail}], availability: [...], counts, report}`). Exit 0 only
 * when every check passed, else a CliError DRILL_FAILED (exit 1); a bad drill file is DRILL_INVALID (exit 2).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { ClusterController } from '../cluster/types.js';
import type { CliContext } from '../context.js';
import { realClusterFactory } from '../drill/cluster-factory.js';
import { DRILL_LIMITS } from '../drill/limits.js';
import type { DrillResult } from '../drill/report.js';
import type { ClusterFactory } from '../drill/runner.js';
import { runDrill } from '../drill/runner.js';
import { loadDrill } from '../drill/spec.js';
import type { DrillTransport } from '../drill/transport.js';
import { httpTransport } from '../drill/transport.js';
import { CliError } from '../errors.js';
import { CLI_LIMITS } from '../limits.js';
import { formatTable, printJson } from '../output.js';
import { integerIn } from '../parse.js';
import { repoRoot } from '../paths.js';

export const DRILLS_DIR = join(repoRoot, 'cluster-configs', 'drills');

/** A promise that runs `onSignal` on the first SIGINT or SIGTERM and settles as it does; `dispose` unhooks it. */
function onceInterrupted(onSignal: (signal: NodeJS.Signals) => Promise<never>): {
  promise: Promise<never>;
  dispose: () => void;
} {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  let handler: ((signal: NodeJS.Signals) => void) | undefined;
  const promise = new Promise<never>((_resolve, reject) => {
    handler = (signal) => {
      for (const s of signals) process.off(s, handler!);
      onSignal(signal).catch(reject);
    };
    for (const s of signals) process.on(s, handler);
  });
  return {
    promise,
    dispose: () => {
      for (const s of signals) process.off(s, handler!);
    },
  };
}

interface RawRunOptions {
  readonly seed?: number;
  readonly report?: string;
  readonly json?: boolean;
  readonly short?: boolean;
  readonly basePort?: number;
  readonly nodes?: number;
  readonly netns?: boolean;
  readonly tls?: boolean;
}

export interface DrillDeps {
  readonly factory: ClusterFactory;
  readonly transport: DrillTransport;
  readonly drillsDir: string;
}

const realDeps: DrillDeps = { factory: realClusterFactory, transport: httpTransport, drillsDir: DRILLS_DIR };

export function registerDrill(program: Command, ctx: CliContext, deps: DrillDeps = realDeps): void {
  const drill = program
    .command('drill')
    .summary('run scripted failure drills against a real cluster')
    .description('Run a drill file: a cluster, a recorded workload, faults, then checks and a report.');
  drill
    .command('run')
    .description('Run one drill file and check the history it recorded.')
    .argument('<file>', 'the drill file, e.g. cluster-configs/drills/leader-failover.toml')
    .option(
      '--seed <seed>',
      'seed of the workload and of "random" targets (default: the file\'s)',
      integerIn(0, CLI_LIMITS.seedMax),
    )
    .option('--report <dir>', 'report folder (default .kalam/drills/<name>-<time>)')
    .option('--json', 'print one JSON object with the checks and availability figures')
    .option('--short', 'scale the waits down (what CI runs)')
    .option('--base-port <port>', "the drill cluster's first port (default: a free block)", integerIn(1024, 65_000))
    .option(
      '--nodes <n>',
      "the cluster's node count instead of the file's `nodes` (its node ids are checked against it)",
      integerIn(DRILL_LIMITS.nodesMin, DRILL_LIMITS.nodesMax),
    )
    .option('--netns', 'run the cluster in network namespaces: partitions cut real paths (root only)')
    .option('--tls', 'run the drill cluster with TLS (kalam cluster up --tls: https API, mutual TLS between nodes)')
    .action(async (file: string, raw: RawRunOptions) => {
      const spec = loadDrill(file, raw.nodes === undefined ? {} : { nodes: raw.nodes });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const reportDir = raw.report ?? join('.kalam', 'drills', `${spec.name}-${stamp}`);
      // Ctrl-C or SIGTERM while the drill runs: bring its cluster down (logs kept) before giving up, so an
      // interrupted drill leaves no supervisor or node behind.
      let cluster: ClusterController | undefined;
      const interrupted = onceInterrupted(async (signal) => {
        ctx.out.note(`drill ${spec.name}: ${signal}, bringing the cluster down (report folder ${reportDir} kept)`);
        await cluster?.down({ wipe: false }).catch(() => undefined);
        throw new CliError('INTERRUPTED', `drill ${spec.name} interrupted by ${signal}`);
      });
      let result: DrillResult;
      try {
        result = await Promise.race([
          runDrill({
            spec,
            seed: raw.seed ?? spec.seed,
            short: raw.short === true,
            reportDir,
            factory: async (o) => (cluster = await deps.factory(o)),
            ...(raw.basePort !== undefined ? { basePort: raw.basePort } : {}),
            ...(raw.netns === true && { netns: true }),
            ...(raw.tls === true ? { tls: true } : {}),
            transport: deps.transport,
            progress: (line) => ctx.out.note(line),
          }),
          interrupted.promise,
        ]);
      } finally {
        interrupted.dispose();
      }
      if (raw.json === true) {
        printJson(ctx.out, {
          passed: result.passed,
          name: result.name,
          seed: result.seed,
          checks: result.checks,
          availability: result.availability,
          counts: result.counts,
          durationMs: Math.round(result.durationMs),
          short: result.short,
          report: reportDir,
        });
      } else {
        renderResult(ctx, result, reportDir);
      }
      if (!result.passed) {
        const failed = result.checks.filter((c) => !c.passed).map((c) => c.name);
        throw new CliError('DRILL_FAILED', `drill ${result.name} failed: ${failed.join(', ')} (report: ${reportDir})`);
      }
    });
  drill
    .command('list')
    .description('List the drills shipped under cluster-configs/drills/.')
    .action(() => {
      const files = readdirSync(deps.drillsDir)
        .filter((f) => f.endsWith('.toml'))
        .sort();
      const rows = files.map((f) => {
        const spec = loadDrill(join(deps.drillsDir, f));
        return { file: join(deps.drillsDir, f), name: spec.name, description: spec.description };
      });
      const table = formatTable(
        [
          { title: 'NAME', value: (r: (typeof rows)[number]) => r.name },
          { title: 'DESCRIPTION', value: (r: (typeof rows)[number]) => r.description },
        ],
        rows,
      );
      for (const line of table) ctx.out.line(line);
    });
}

function renderResult(ctx: CliContext, r: DrillResult, reportDir: string): void {
  const { out } = ctx;
  out.line(out.color.bold(`drill ${r.name}: ${r.passed ? out.color.green('PASSED') : out.color.red('FAILED')}`));
  const table = formatTable(
    [
      { title: 'CHECK', value: (c: (typeof r.checks)[number]) => c.name },
      { title: 'RESULT', value: (c: (typeof r.checks)[number]) => (c.passed ? 'pass' : 'FAIL') },
      { title: 'DETAIL', value: (c: (typeof r.checks)[number]) => c.detail },
    ],
    r.checks,
  );
  for (const line of table) out.line(line);
  const faults = summarizeFaults(r);
  if (faults.length > 0) {
    out.line();
    const ms = (x: number | null): string => (x === null ? '-' : `${Math.round(x)} ms`);
    const faultTable = formatTable(
      [
        { title: 'STEP', value: (f: FaultSummary) => String(f.step), align: 'right' },
        { title: 'FAULT', value: (f: FaultSummary) => `${f.action} node ${f.node}` },
        { title: 'GROUPS', value: (f: FaultSummary) => String(f.groups), align: 'right' },
        { title: 'WORST LEADER AFTER', value: (f: FaultSummary) => ms(f.worstLeaderMs), align: 'right' },
        { title: 'WORST SERVED AFTER', value: (f: FaultSummary) => ms(f.worstServedMs), align: 'right' },
      ],
      faults,
    );
    for (const line of faultTable) out.line(line);
  }
  const c = r.counts;
  out.line(
    `calls: ${c.calls} (${c.ok} ok, ${c.failed} failed, ${c.unknown} unknown); report: ${join(reportDir, 'report.html')}`,
  );
}

interface FaultSummary {
  readonly step: number;
  readonly action: string;
  readonly node: number;
  readonly groups: number;
  readonly worstLeaderMs: number | null;
  readonly worstServedMs: number | null;
}

/** One line per fault: how many groups it touched and the slowest of their figures. */
function summarizeFaults(r: DrillResult): FaultSummary[] {
  const byStep = new Map<number, DrillResult['availability'][number][]>();
  for (const f of r.availability) byStep.set(f.step, [...(byStep.get(f.step) ?? []), f]);
  const worst = (xs: (number | null)[]): number | null => {
    const known = xs.filter((x): x is number => x !== null);
    return known.length === 0 ? null : Math.max(...known);
  };
  return [...byStep.values()].map((figures) => {
    const first = figures[0] as DrillResult['availability'][number];
    return {
      step: first.step,
      action: first.action,
      node: first.node,
      groups: figures.length,
      worstLeaderMs: worst(figures.map((f) => f.leaderAfterMs)),
      worstServedMs: worst(figures.map((f) => f.servedAfterMs)),
    };
  });
}
