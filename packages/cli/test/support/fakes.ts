/**
 * Test doubles for the CLI: string buffers for stdout/stderr and a simulation runner whose results are
 * scripted per seed, so the command's parsing, reporting and exit codes are tested without simulating.
 */
import type { SimResult } from '@kalam/sim';
import type { CliContext } from '../../src/context.js';
import { createOutput } from '../../src/output.js';
import type { RunSimulation, SimRun, SimRunResult } from '../../src/sim/runner.js';
import { inProcessRunner } from '../../src/sim/runner.js';

export interface Buffers {
  stdout: string;
  stderr: string;
}

export function bufferedContext(runSimulation: RunSimulation = passingRun): {
  ctx: CliContext;
  buffers: Buffers;
  runs: SimRun[];
} {
  const buffers: Buffers = { stdout: '', stderr: '' };
  const runs: SimRun[] = [];
  const out = createOutput({
    stdout: { write: (text: string) => (buffers.stdout += text) },
    stderr: { write: (text: string) => (buffers.stderr += text) },
    env: {},
  });
  const recording: RunSimulation = (options) => {
    runs.push(options);
    return runSimulation(options);
  };
  return { ctx: { out, simRunner: () => inProcessRunner(recording) }, buffers, runs };
}

export function passingRun(options: SimRun): SimResult {
  return {
    seed: options.seed,
    nodes: options.nodes,
    groups: options.groups,
    ticks: options.ticks,
    violations: [],
    traceHash: `hash-${options.seed}`,
    stats: {
      proposals: 10,
      acked: 9,
      reads: 2,
      confChanges: 0,
      confChangesAcked: 0,
      leaderChanges: 1,
      crashes: 1,
      partitions: 1,
      messagesDelivered: 100,
      messagesDropped: 5,
      snapshotsInstalled: 0,
      balanceTransfers: 0,
      livenessTicks: options.seed,
    },
  };
}

/** Passes every seed but those listed, which violate `election-safety` at tick 42 in group 1. */
export function failingSeeds(...seeds: number[]): (options: SimRun) => SimRunResult {
  return (options) => {
    const result = passingRun(options);
    if (!seeds.includes(options.seed)) return result;
    return {
      ...result,
      violations: [
        { invariant: 'election-safety', detail: 'nodes 1 and 2 both lead term 3', tick: 42, group: 1 },
        { invariant: 'log-matching', detail: 'second violation', tick: 43 },
      ],
    };
  };
}
