/**
 * `kalam sql [--cluster NAME | --dir DIR | --url URL] [--node N] [--user U --password P] [--namespace NS] [--json]
 * ["SQL"]`: SQL from the shell (issue #5 §2).
 *
 * With a statement (or a `;`-separated batch, which the server runs in order): one request to POST /v1/api/sql,
 * the results printed as aligned tables (sql-shell/render.ts), or with --json the server's JSON exactly as
 * received. Without one: a REPL on a terminal, or the statements read from stdin when it is a pipe
 * (sql-shell/repl.ts). Which node and which credentials: sql-shell/target.ts; when it falls over to another node:
 * sql-shell/client.ts.
 *
 * Exit codes: 0 ok; 1 the server answered with an SQL error (one line `error: CODE: message`), or some statement
 * of a piped script failed; 2 bad usage, no cluster folder, or no node answered (the cluster is not up) or a
 * write's outcome is unknown after a timeout.
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { integerIn } from '../parse.js';
import { endpointName, SqlClient } from '../sql-shell/client.js';
import { printResponse } from '../sql-shell/render.js';
import { runRepl } from '../sql-shell/repl.js';
import { resolveTarget, ROOT_PASSWORD_ENV } from '../sql-shell/target.js';
import type { TargetOptions } from '../sql-shell/target.js';

/** Node ids in a cluster folder; the bound only turns nonsense into a usage error. */
const NODE_ID_MAX = 1_000;

interface RawSqlOptions {
  readonly cluster?: string;
  readonly dir?: string;
  readonly url?: string;
  readonly node?: number;
  readonly user?: string;
  readonly password?: string;
  readonly namespace?: string;
  readonly json?: boolean;
}

export function registerSql(program: Command, ctx: CliContext): void {
  program
    .command('sql')
    .summary('run SQL on a cluster or a node, or open a SQL shell')
    .description(
      'Run SQL on a Kalam cluster or node. With a statement, print its results (--json: the API answer as is); ' +
        'without one, open a shell (\\? for help), or run the statements piped on stdin. The cluster is ' +
        '.kalam/clusters/NAME (--cluster), a folder (--dir), or by default the one running cluster; ' +
        `--url talks to any node (user root, password --password or $${ROOT_PASSWORD_ENV}). ` +
        'Exit codes: 0 ok, 1 an SQL error, 2 bad usage or no node answered.',
    )
    .argument('[sql]', 'statement(s) to run, separated by ;')
    .addOption(new Option('--cluster <name>', 'the cluster folder .kalam/clusters/NAME').conflicts(['dir', 'url']))
    .addOption(new Option('--dir <dir>', 'the cluster folder DIR').conflicts(['url']))
    .option('--url <url>', 'a node API URL, e.g. http://127.0.0.1:8080')
    .addOption(
      new Option('--node <id>', 'use this node of the cluster (default: the first that answers)')
        .argParser(integerIn(1, NODE_ID_MAX))
        .conflicts(['url']),
    )
    .option('--user <user>', 'the user (default: the cluster’s root user, or root)')
    .option('--password <password>', 'the password (default: from the cluster folder, or $KALAM_ROOT_PASSWORD)')
    .option('--namespace <ns>', 'the default namespace for unqualified table names')
    .option('--json', 'print the API JSON as received, one line per request')
    .action(async (sql: string | undefined, raw: RawSqlOptions) => {
      const target = resolveTarget(targetOptions(raw));
      const client = new SqlClient(target, ctx.out);
      const json = raw.json === true;
      const namespace = raw.namespace ?? null;
      if (sql !== undefined) {
        if (sql.trim() === '') throw usageError('the statement is empty');
        await client.connect();
        await runOnce(ctx, client, sql, { json, namespace });
        return;
      }
      const interactive = process.stdin.isTTY === true;
      const endpoint = await client.connect();
      if (interactive) {
        ctx.out.note(`connected to ${endpointName(endpoint)} as ${target.user}; \\? for help, \\q to quit`);
      }
      const summary = await runRepl(client, ctx.out, {
        input: process.stdin,
        interactive,
        ...(interactive ? { terminalOutput: process.stdout } : {}),
        json,
        namespace,
        historyPath: interactive ? target.historyPath : null,
      });
      if (!interactive && summary.failed > 0) {
        throw new CliError('SQL_ERROR', `${summary.failed} of ${summary.ran} statements failed`);
      }
    });
}

function targetOptions(raw: RawSqlOptions): TargetOptions {
  return {
    ...(raw.cluster !== undefined ? { cluster: raw.cluster } : {}),
    ...(raw.dir !== undefined ? { dir: raw.dir } : {}),
    ...(raw.url !== undefined ? { url: raw.url } : {}),
    ...(raw.node !== undefined ? { node: raw.node } : {}),
    ...(raw.user !== undefined ? { user: raw.user } : {}),
    ...(raw.password !== undefined ? { password: raw.password } : {}),
  };
}

async function runOnce(
  ctx: CliContext,
  client: SqlClient,
  sql: string,
  opts: { readonly json: boolean; readonly namespace: string | null },
): Promise<void> {
  const { response, body } = await client.execute(sql, opts.namespace);
  if (opts.json) ctx.out.line(body.trim());
  if (response.status === 'error') {
    const code = response.error?.code ?? 'ERROR';
    throw new CliError('SQL_ERROR', `${code}: ${response.error?.message ?? 'the server gave no message'}`);
  }
  if (!opts.json) printResponse(ctx.out, response);
}
