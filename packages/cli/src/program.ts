/**
 * `createProgram()` builds the `kalam` command tree. It never exits the process: commander is told to throw
 * (exitOverride), and main.ts maps whatever is thrown to an exit code.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerBackup } from './commands/backup.js';
import { registerBench } from './commands/bench.js';
import { registerCluster } from './commands/cluster.js';
import { registerNode } from './commands/node.js';
import { registerDrill } from './commands/drill.js';
import { registerServe } from './commands/serve.js';
import { registerSim } from './commands/sim.js';
import { registerSql } from './commands/sql.js';
import type { CliContext } from './context.js';
import { createOutput } from './output.js';
import { inProcessRunner, runAnySimulation, workerRunner } from './sim/runner.js';

/** The real context, with any part replaced by `overrides` (tests pass string buffers and fake runners). */
export function resolveContext(overrides: Partial<CliContext> = {}): CliContext {
  return {
    out: overrides.out ?? createOutput(),
    simRunner: overrides.simRunner ?? ((jobs) => (jobs > 1 ? workerRunner(jobs) : inProcessRunner(runAnySimulation))),
  };
}

export function createProgram(overrides: Partial<CliContext> = {}): Command {
  const ctx = resolveContext(overrides);
  const program = new Command('kalam')
    .description(
      'Kalam: a replicated SQL database for per-user data. Exit codes: 0 ok, 1 check failed, 2 usage, 3 internal error.',
    )
    .version(cliVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void ctx.out.stdout.write(text),
      writeErr: (text) => void ctx.out.stderr.write(text),
    });
  // Subcommands are added after exitOverride and configureOutput, so they inherit both.
  registerSim(program, ctx);
  registerBench(program, ctx);
  registerServe(program, ctx);
  registerSql(program, ctx);
  registerCluster(program, ctx);
  registerNode(program, ctx);
  registerDrill(program, ctx);
  registerBackup(program, ctx);
  return program;
}

function cliVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const version = typeof pkg === 'object' && pkg !== null ? (pkg as { version?: unknown }).version : undefined;
  return typeof version === 'string' ? version : '0.0.0';
}
