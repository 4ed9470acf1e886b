/**
 * What commands run against: where output goes and how simulations run. `createProgram()` fills in the real
 * ones; tests hand in string buffers and fake runners.
 */
import type { Output } from './output.js';
import type { SimRunner } from './sim/runner.js';

export interface CliContext {
  readonly out: Output;
  /** The runner for `kalam sim` with `jobs` worker threads (1: in this thread). */
  readonly simRunner: (jobs: number) => SimRunner;
}
