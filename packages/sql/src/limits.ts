/**
 * Every bound of the SQL layer, unit last; relations asserted at load. A request over a bound fails with
 * LIMIT_EXCEEDED (HTTP 400) naming the bound, before the work it would cost: the lexer refuses an over-long
 * identifier or literal and a batch of too many tokens as it reads them, and a statement for node-sql-parser is
 * measured on its tokens before the library sees it (the library's PEG parser costs about 6 µs a token: a
 * 20,000-term OR chain cost half a second of CPU even when it was refused afterwards).
 */
export const SQL_LIMITS = {
  /** Longest SQL text accepted by parseSql (the HTTP body limit is the outer bound; this one guards the parser). */
  sqlCharsMax: 1_000_000,
  /** Statements in one `;`-separated batch. */
  batchStatementsMax: 1_000,
  /** Tokens of one batch (the lexer stops at the next one): bounds the lexer's memory and time. */
  batchTokensMax: 200_000,
  /**
   * Tokens of one SELECT, INSERT, UPDATE, DELETE or SUBSCRIBE: bounds node-sql-parser's work on one statement, which
   * runs on the event loop that also drives Raft. String literals cost one token whatever their length (dml.ts
   * hands the library a short stand-in for each).
   */
  statementTokensMax: 20_000,
  /**
   * Expression terms of one statement outside INSERT's VALUES rows (WHERE, HAVING, select list, GROUP BY, ORDER BY,
   * SET): what a row costs to evaluate. Counted before parsing as the statement's tokens other than punctuation,
   * which are never fewer than its expression nodes (so a statement within it also holds row expressions within
   * exprNodesMax). VALUES rows are evaluated once, not per row, and fall under statementTokensMax instead.
   */
  statementTermsMax: 4_096,
  /** Nesting of expressions the evaluator and the converters walk, and of parentheses (guards every stack). */
  exprDepthMax: 200,
  /** Values in one `IN (…)` list (Oracle's bound; longer lists belong in a table). */
  inListItemsMax: 1_000,
  /** Characters of one identifier, quoted or not (PostgreSQL cuts at 63 bytes; KalamDB's user names stop at 128). */
  identifierCharsMax: 128,
  /** Characters of one string literal (half the largest Raft entry: a longer value could never be written). */
  stringLiteralCharsMax: 512 * 1024,
  /** Nesting of EXECUTE AS USER (one level is all KalamDB allows). */
  executeAsDepthMax: 1,
  /** Compiled LIKE patterns kept by the evaluator. */
  likeCacheEntriesMax: 256,
  /** Parsed batches kept by parseSql, keyed by their text (parameterized statements repeat). */
  parseCacheEntriesMax: 512,
  /** Longest SQL text whose parse is kept. */
  parseCacheSqlCharsMax: 4_096,
  /** Arguments of one function call in a row expression. */
  functionArgsMax: 64,
  /** Nodes of one row expression carried by a command (filters, SET expressions): apply walks each per row. */
  exprNodesMax: 10_000,
  /** Bound parameters of one statement ($1 … $N). */
  paramsMax: 10_000,
  /**
   * Texts this long or longer are parsed in a worker thread by parseSqlOffThread (a shorter one parses in about a
   * millisecond, less than a thread hop costs; a 6 KB IN list of 1,000 values took 13 ms, 50 ms on a busy machine).
   */
  offThreadSqlCharsMin: 2_048,
  /**
   * The parser thread's young generation, MiB (its resourceLimits.maxYoungGenerationSizeMb). V8's default on a
   * 64-bit machine is 48 (two 16 MiB semi-spaces, both resident once a 500 KB INSERT has been parsed); the parse's
   * garbage dies young and what survives is one statement's tree, so a small one costs a few more scavenges.
   */
  parserYoungGenerationMb: 8,
  /** Texts waiting for the parser thread; beyond this a request is refused (RATE_LIMIT_EXCEEDED). */
  offThreadQueueMax: 64,
  /** Nesting of one array or object parameter (it becomes JSON text; deeper is refused before anything recurses). */
  paramDepthMax: 64,
} as const;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`SQL_LIMITS: ${what}`);
}

check(SQL_LIMITS.executeAsDepthMax >= 1, 'executeAsDepthMax must be at least 1');
check(SQL_LIMITS.likeCacheEntriesMax >= 1, 'likeCacheEntriesMax must be at least 1');
check(SQL_LIMITS.statementTokensMax <= SQL_LIMITS.batchTokensMax, 'a statement must fit in a batch');
check(SQL_LIMITS.inListItemsMax < SQL_LIMITS.statementTermsMax, 'an IN list at its bound must fit in a statement');
check(SQL_LIMITS.exprDepthMax < SQL_LIMITS.statementTermsMax, 'a chain at exprDepthMax must fit in a statement');
check(
  SQL_LIMITS.statementTermsMax <= SQL_LIMITS.exprNodesMax,
  'a statement within its terms carries row expressions within bounds',
);
check(SQL_LIMITS.identifierCharsMax <= SQL_LIMITS.stringLiteralCharsMax, 'names are also given as strings');
check(SQL_LIMITS.stringLiteralCharsMax < SQL_LIMITS.sqlCharsMax, 'a literal at its bound must fit in the text');
