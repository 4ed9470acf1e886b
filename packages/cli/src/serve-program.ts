/**
 * The command tree of `kalam serve` alone. A node is the one long-lived `kalam` process, and the whole CLI (the
 * simulator, the drills, the benchmarks) costs it about 20 MB of resident memory it never uses, so main.ts loads
 * this module instead of program.ts for `kalam serve`. The command itself is the same registerServe.
 */
import { Command } from 'commander';
import { registerServe } from './commands/serve.js';
import type { Output } from './output.js';

export function createServeProgram(out: Output): Command {
  const program = new Command('kalam').exitOverride().configureOutput({
    writeOut: (text) => void out.stdout.write(text),
    writeErr: (text) => void out.stderr.write(text),
  });
  registerServe(program, { out });
  return program;
}
