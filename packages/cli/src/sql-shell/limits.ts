/** Every bound `kalam sql` works within, unit last. */
export const SQL_SHELL_LIMITS = {
  /** A node that does not answer its healthcheck within this is skipped when picking a node. */
  healthcheckTimeoutMs: 2_000,
  /**
   * One statement (or batch) gets this long for an answer. A write that times out is never re-sent to another
   * node: it may have been applied.
   */
  requestTimeoutMs: 60_000,
  /** Lines kept in the REPL history file. */
  historyMax: 1_000,
  /** A REPL statement may grow to this many characters before it is refused (the server bounds bodies too). */
  statementMaxChars: 1_000_000,
  /** On a terminal, a cell longer than this is cut with an ellipsis (`--json` and pipes get it in full). */
  cellMaxChars: 60,
  /** When a table is wider than the terminal, no column is narrowed below this. */
  cellMinChars: 8,
} as const;
