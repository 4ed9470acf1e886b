/**
 * The CLI's typed errors and its documented exit codes. Every error that reaches the top-level handler in
 * main.ts is mapped to one exit code there; nothing else ends the process.
 */

/** Exit codes of `kalam`, documented in the README. */
export const ExitCode = {
  /** The command did what was asked and every check passed. */
  Ok: 0,
  /** A check failed: the simulator found a violation, a benchmark run failed, `kalam sql` got an SQL error. */
  CheckFailed: 1,
  /** Bad usage or bad input: an unknown option, a value out of range, a missing build, a cluster that is not up. */
  Usage: 2,
  /** An internal error: a bug in kalam itself (printed with its stack). */
  Internal: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type CliErrorCode =
  | 'USAGE'
  | 'NOT_BUILT'
  | 'SIM_VIOLATION'
  | 'BENCH_NOT_FOUND'
  | 'BENCH_FAILED'
  | 'BENCH_CANNOT_RUN'
  | 'WORKER_FAILED'
  | 'SERVE_STARTUP'
  | 'SERVE_STOP_TIMEOUT'
  | 'CLUSTER_NOT_FOUND'
  | 'SQL_UNREACHABLE'
  | 'SQL_ERROR'
  | 'CLUSTER_NOT_RUNNING'
  | 'CLUSTER_ALREADY_RUNNING'
  | 'PORT_IN_USE'
  | 'UNKNOWN_NODE'
  | 'NODE_STATE'
  | 'CLUSTER_TIMEOUT'
  | 'CLUSTER_FAILED'
  | 'NODE_NOT_FOUND'
  | 'MEMBERSHIP_REFUSED'
  | 'BACKUP_FAILED'
  | 'BACKUP_CORRUPT'
  | 'RESTORE_TARGET'
  | 'DRILL_INVALID'
  | 'DRILL_SETUP'
  | 'DRILL_FAILED'
  | 'INTERRUPTED'
  | 'NETNS_UNAVAILABLE'
  | 'NETNS_FAILED';

const exitCodeOf: Record<CliErrorCode, ExitCode> = {
  USAGE: ExitCode.Usage,
  NOT_BUILT: ExitCode.Usage,
  SIM_VIOLATION: ExitCode.CheckFailed,
  BENCH_NOT_FOUND: ExitCode.Usage,
  BENCH_FAILED: ExitCode.CheckFailed,
  /** A benchmark script exited 2: bad options for it, or something it needs is missing here (a build, etcd). */
  BENCH_CANNOT_RUN: ExitCode.Usage,
  WORKER_FAILED: ExitCode.Internal,
  /** `kalam serve` could not start: a bad config, a port in use, no quorum to create root. */
  SERVE_STARTUP: ExitCode.Usage,
  /** `kalam serve` was stopped but its graceful stop did not finish within its bound. */
  SERVE_STOP_TIMEOUT: ExitCode.CheckFailed,
  /** No cluster folder (cluster.json) where `--cluster` / `--dir` / the default points. */
  CLUSTER_NOT_FOUND: ExitCode.Usage,
  /** `kalam sql`: no node answered (the cluster is not up), or a write's outcome is unknown after a timeout. */
  SQL_UNREACHABLE: ExitCode.Usage,
  /** `kalam sql`: the server answered with an error (bad SQL, a missing table, wrong credentials). */
  SQL_ERROR: ExitCode.CheckFailed,
  /** `kalam cluster|node …` against a cluster whose supervisor is not running (never started, down, or dead). */
  CLUSTER_NOT_RUNNING: ExitCode.Usage,
  /** `kalam cluster up` when that cluster's supervisor already runs. */
  CLUSTER_ALREADY_RUNNING: ExitCode.Usage,
  /** `kalam cluster up`: a port the cluster needs is taken (checked before anything starts). */
  PORT_IN_USE: ExitCode.Usage,
  /** A node id the cluster does not have. */
  UNKNOWN_NODE: ExitCode.Usage,
  /** A node command that does not fit the node's state: start a running node, wipe a running node, fault a down one. */
  NODE_STATE: ExitCode.Usage,
  /** The cluster did not reach the asked state in time: no leader for every group, a node not ready. */
  CLUSTER_TIMEOUT: ExitCode.CheckFailed,
  /** The supervisor or a node failed: a node exited while starting, a request was refused. */
  CLUSTER_FAILED: ExitCode.CheckFailed,
  /** `kalam node remove|replace`: the cluster has no member with that id (the removal API's NODE_NOT_FOUND). */
  NODE_NOT_FOUND: ExitCode.Usage,
  /**
   * `kalam node remove|replace`: the cluster refused the removal (QUORUM_AT_RISK, TOO_MANY_AT_ONCE,
   * NODE_ALREADY_LEAVING, STATE_CHANGED, CONF_CHANGES_UNAVAILABLE — the message starts with the server's code).
   */
  MEMBERSHIP_REFUSED: ExitCode.CheckFailed,
  /** `kalam backup`: a node refused or cut a group's snapshot, or none answered; no backup file was left. */
  BACKUP_FAILED: ExitCode.CheckFailed,
  /** `kalam restore`: the backup is truncated or corrupt (a checksum, the layout); nothing was written. */
  BACKUP_CORRUPT: ExitCode.CheckFailed,
  /** `kalam restore`: the target folder exists and is not empty, or the backup does not fit the new cluster. */
  RESTORE_TARGET: ExitCode.Usage,
  /** A drill file that cannot be run: bad TOML, an unknown key or action, a value out of range. */
  DRILL_INVALID: ExitCode.Usage,
  /** The drill's cluster could not be brought to its starting state (tables, users, first rows). */
  DRILL_SETUP: ExitCode.CheckFailed,
  /** A drill ran and at least one of its checks failed. */
  DRILL_FAILED: ExitCode.CheckFailed,
  /** A drill stopped by SIGINT or SIGTERM (its cluster was brought down first): it proved nothing. */
  INTERRUPTED: ExitCode.CheckFailed,
  /** `--netns` without root, or without the `ip` command (iproute2). */
  NETNS_UNAVAILABLE: ExitCode.Usage,
  /** An `ip` or `tc` command of `--netns` failed (its command line and error are in the message). */
  NETNS_FAILED: ExitCode.CheckFailed,
};

/**
 * An expected failure: its message is one line for the user, printed without a stack trace. `exitCode`
 * follows from `code`.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: ExitCode;

  constructor(
    readonly code: CliErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.exitCode = exitCodeOf[code];
  }
}

/** Bad usage: an option value out of range, options that do not go together. Exit code 2. */
export function usageError(message: string): CliError {
  return new CliError('USAGE', message);
}
