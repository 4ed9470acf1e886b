/**
 * Runs a list of simulations, either in this thread or spread over worker threads (one seed at a time per
 * worker). A run is deterministic in its options alone, so where it ran and in which order changes nothing
 * but the wall-clock time. A run that throws is an outcome too: the seed failed, and it replays like any other.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { AnyPlantedBug, KalamLinearizability, KalamSimStats, SimOptions, SimResult, SimStats } from '@kalam/sim';
import { isStateMachineBug, runKalamSimulation, runSimulation } from '@kalam/sim';
import { CliError } from '../errors.js';

/** One run: a Raft-level simulation, or with `kalam` a Kalam-level one (kalamdb state machines, checked history). */
export type SimRun = Omit<SimOptions, 'plantedBug'> & { readonly plantedBug?: AnyPlantedBug; readonly kalam?: true };

/** What either simulator returns, in one shape; `linearizability` is set by Kalam-level runs only. */
export type SimRunResult = Omit<SimResult, 'stats'> & {
  readonly stats: SimStats | KalamSimStats;
  readonly linearizability?: KalamLinearizability;
};

/** Runs `options` on the simulator it names. */
export async function runAnySimulation(options: SimRun): Promise<SimRunResult> {
  const bug = options.plantedBug;
  if (options.kalam !== true) {
    if (bug !== undefined && isStateMachineBug(bug)) {
      throw new CliError('USAGE', `the planted bug ${bug} lives in the state machines: run it with --kalam`);
    }
    const { kalam: _kalam, plantedBug: _bug, ...rest } = options;
    return runSimulation({ ...rest, ...(bug !== undefined && !isStateMachineBug(bug) ? { plantedBug: bug } : {}) });
  }
  const r = await runKalamSimulation({
    seed: options.seed,
    nodes: options.nodes,
    ticks: options.ticks,
    ...(bug !== undefined ? { plantedBug: bug } : {}),
    ...(options.onTrace !== undefined ? { onTrace: options.onTrace } : {}),
  });
  return { ...r, groups: r.stats.groups };
}

export type RunOutcome =
  | { readonly kind: 'result'; readonly options: SimRun; readonly result: SimRunResult; readonly durationMs: number }
  | {
      readonly kind: 'error';
      readonly options: SimRun;
      readonly error: { readonly name: string; readonly message: string };
      readonly durationMs: number;
    };

export type RunSimulation = (options: SimRun) => SimRunResult | Promise<SimRunResult>;

export interface SimRunner {
  /** Runs every option set, calling `onOutcome` as each one finishes (in any order); resolves when all are done. */
  run(runs: readonly SimRun[], onOutcome: (outcome: RunOutcome) => void): Promise<void>;
}

/** Runs one simulation and turns a thrown error into an outcome. Used in this thread and in workers. */
export async function runOne(runSimulation: RunSimulation, options: SimRun): Promise<RunOutcome> {
  const startMs = performance.now();
  try {
    const result = await runSimulation(options);
    return { kind: 'result', options, result, durationMs: performance.now() - startMs };
  } catch (error) {
    const described =
      error instanceof Error ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) };
    return { kind: 'error', options, error: described, durationMs: performance.now() - startMs };
  }
}

export function inProcessRunner(runSimulation: RunSimulation): SimRunner {
  return {
    async run(runs, onOutcome) {
      for (const options of runs) {
        onOutcome(await runOne(runSimulation, options));
        // Let the event loop breathe between runs (signals, stream writes).
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    },
  };
}

/** The worker count used when `--jobs` is not given: one per core, never more than there are runs. */
export function defaultJobs(runCount: number): number {
  return Math.max(1, Math.min(availableParallelism(), runCount));
}

/** Messages a worker sends back: one outcome per run it was handed. */
export type WorkerReply = RunOutcome;

export function workerRunner(jobs: number): SimRunner {
  return {
    run(runs, onOutcome) {
      return new Promise<void>((resolve, reject) => {
        const workers: Worker[] = [];
        let next = 0;
        let finished = 0;
        let failed = false;
        const stopAll = (): void => {
          for (const w of workers) void w.terminate();
        };
        const fail = (cause: unknown, message: string): void => {
          if (failed) return;
          failed = true;
          stopAll();
          reject(new CliError('WORKER_FAILED', message, { cause }));
        };
        const feed = (worker: Worker): void => {
          const options = runs[next];
          if (options === undefined) return;
          next++;
          worker.postMessage(options);
        };
        const count = Math.min(jobs, runs.length);
        if (count === 0) {
          resolve();
          return;
        }
        for (let i = 0; i < count; i++) {
          const worker = new Worker(new URL('./worker.js', import.meta.url));
          workers.push(worker);
          worker.on('message', (reply: WorkerReply) => {
            if (failed) return;
            onOutcome(reply);
            finished++;
            if (finished === runs.length) {
              stopAll();
              resolve();
            } else {
              feed(worker);
            }
          });
          worker.on('error', (error) => fail(error, `a simulation worker failed: ${String(error)}`));
          worker.on('exit', (code) => {
            if (finished < runs.length) fail(undefined, `a simulation worker exited early with code ${code}`);
          });
          feed(worker);
        }
      });
    },
  };
}
