/**
 * `kalam serve --config FILE`: runs one Kalam node (DESIGN.md §8) until SIGTERM or SIGINT. The ready line
 * `{"event":"ready",…}` is the one line on stdout; logs go to stderr as JSON lines. Exit codes: 0 stopped
 * gracefully; 1 the graceful stop hit its bound; 2 the node could not start (the message names the config key).
 */
import type { Command } from 'commander';
import { ServerError, serve } from '@kalam/server';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';

interface RawServeOptions {
  readonly config: string;
  readonly exitWithStdin?: boolean;
  readonly join?: string;
}

export function registerServe(program: Command, ctx: Pick<CliContext, 'out'>): void {
  program
    .command('serve')
    .summary('run a Kalam node')
    .description(
      'Run a Kalam node with the given TOML config (standalone without a [cluster] section, a cluster member with ' +
        'one). KALAM_* environment variables override the file. Prints one JSON ready line on stdout; SIGTERM or ' +
        'SIGINT stop it gracefully. Exit codes: 0 stopped, 1 the stop hit its bound, 2 it could not start.',
    )
    .requiredOption('-c, --config <file>', 'the node config (TOML)')
    .option(
      '--exit-with-stdin',
      'also stop gracefully when stdin ends (how a supervisor makes sure no node outlives it)',
    )
    .option(
      '--join <addr>',
      "join a running cluster through a member's API or Raft RPC address (an empty data_dir and the cluster secret; " +
        'node_id and members come from the cluster); the same as [cluster] join',
    )
    .action(async (raw: RawServeOptions) => {
      let exit;
      try {
        exit = await serve(raw.config, {
          stdout: (line) => ctx.out.line(line),
          exitWithStdin: raw.exitWithStdin === true,
          ...(raw.join !== undefined ? { join: raw.join } : {}),
        });
      } catch (err) {
        // ConfigError and STARTUP_FAILED: an operating condition, one line for the operator, exit 2.
        if (err instanceof ServerError) {
          throw new CliError('SERVE_STARTUP', err.message.replaceAll('\n', '; '), { cause: err });
        }
        throw err;
      }
      if (exit.code !== 0) throw new CliError('SERVE_STOP_TIMEOUT', exit.reason);
    });
}
