/**
 * The entry point of `kalam` (bin/kalam imports this file and calls `main`). `runCli` holds the one
 * top-level handler that maps what a command threw to a documented exit code; `main` is the only place in
 * the CLI that calls process.exit.
 *
 * Exit codes: 0 ok; 1 a check failed (a simulator violation); 2 bad usage or input; 3 internal error.
 */
import { CommanderError } from 'commander';
import type { CliContext } from './context.js';
import { CliError, ExitCode } from './errors.js';
import { createOutput } from './output.js';

export async function runCli(argv: readonly string[], overrides: Partial<CliContext> = {}): Promise<ExitCode> {
  const ctx = { out: overrides.out ?? createOutput() };
  try {
    // `kalam serve` loads only its own command (serve-program.ts says why); everything else, the whole CLI.
    const program =
      argv[0] === 'serve'
        ? (await import('./serve-program.js')).createServeProgram(ctx.out)
        : (await import('./program.js')).createProgram({ ...overrides, out: ctx.out });
    await program.parseAsync([...argv], { from: 'user' });
    return ExitCode.Ok;
  } catch (error) {
    return handleError(ctx, error);
  }
}

function handleError(ctx: Pick<CliContext, 'out'>, error: unknown): ExitCode {
  if (error instanceof CommanderError) {
    // Commander already printed its one-line message (or the help / version text).
    return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  }
  if (error instanceof CliError) {
    ctx.out.note(ctx.out.noteColor.red(`error: ${error.message}`));
    return error.exitCode;
  }
  const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  ctx.out.note(ctx.out.noteColor.red(`internal error (a bug in kalam): ${text}`));
  return ExitCode.Internal;
}

/** Runs the CLI with the process's arguments and exits with its code once stdout has been flushed. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const code = await runCli(argv);
  process.stdout.write('', () => process.exit(code));
}
