/**
 * Typed errors of the node process. Each has a stable `code`. A ConfigError is a startup error: the node
 * prints it and exits without opening anything.
 */

/**
 * CONFIG_INVALID: the config does not describe a node that can start. STARTUP_FAILED: the config was fine but
 * the node could not start (a port in use, an unreadable data_dir, no quorum to create root). SHUTDOWN_TIMEOUT:
 * a graceful stop did not finish within its bound.
 */
export type ServerErrorCode = 'CONFIG_INVALID' | 'STARTUP_FAILED' | 'SHUTDOWN_TIMEOUT';

export class ServerError extends Error {
  override readonly name: string = 'ServerError';
  constructor(
    readonly code: ServerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * One thing wrong with a config. `key` is the dotted path of the setting (`cluster.raft.rpc_addr`,
 * `cluster.members[1].api_addr`), or '' when the problem is not about one key (the file cannot be read, the
 * TOML does not parse). `envVar` names the `KALAM_*` variable the bad value came from, if it came from one.
 * `line` and `column` (1-based) locate a TOML syntax error.
 */
export interface ConfigProblem {
  readonly key: string;
  readonly message: string;
  readonly envVar?: string;
  readonly line?: number;
  readonly column?: number;
}

/**
 * The config file (with the environment) does not describe a node that can start. Every problem found is
 * listed, so that one run shows them all; each message names its key.
 */
export class ConfigError extends ServerError {
  override readonly name = 'ConfigError';
  declare readonly code: 'CONFIG_INVALID';
  constructor(
    /** The config file's path, or a name for config text that came from elsewhere. */
    readonly source: string,
    readonly problems: readonly ConfigProblem[],
    options?: { cause?: unknown },
  ) {
    super('CONFIG_INVALID', configErrorMessage(source, problems), options);
  }
}

function configErrorMessage(source: string, problems: readonly ConfigProblem[]): string {
  const first = problems[0];
  if (problems.length === 1 && first !== undefined) {
    const where = first.line === undefined ? source : `${source}:${first.line}:${first.column ?? 1}`;
    return `${where}: ${first.message}`;
  }
  return `${source}: ${problems.length} problems:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`;
}
