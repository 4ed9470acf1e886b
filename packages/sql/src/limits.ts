/** Every bound of the SQL layer, unit last. */
export const SQL_LIMITS = {
  /** Longest SQL text accepted by parseSql (the HTTP body limit is the outer bound; this one guards the parser). */
  sqlCharsMax: 1_000_000,
  /** Statements in one `;`-separated batch. */
  batchStatementsMax: 1_000,
  /** Nesting of EXECUTE AS USER (one level is all KalamDB allows). */
  executeAsDepthMax: 1,
  /** Nesting of expressions the evaluator and the converters walk (guards the stack against hostile input). */
  exprDepthMax: 200,
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
  /** Nesting of one array or object parameter (it becomes JSON text; deeper is refused before anything recurses). */
  paramDepthMax: 64,
} as const;

if (SQL_LIMITS.executeAsDepthMax < 1) throw new Error('SQL_LIMITS.executeAsDepthMax must be at least 1');
if (SQL_LIMITS.likeCacheEntriesMax < 1) throw new Error('SQL_LIMITS.likeCacheEntriesMax must be at least 1');
