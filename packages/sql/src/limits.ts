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
  /** Bound parameters of one statement ($1 … $N). */
  paramsMax: 10_000,
  /** Nesting of one array or object parameter (it becomes JSON text; deeper is refused before anything recurses). */
  paramDepthMax: 64,
  /**
   * Columns of one table, the primary key included. A table is one SQLite table with up to 4 system columns
   * (`_seq`, `_deleted`, `_user_id`, `_shard`), and the bundled SQLite allows 2000 (SQLITE_MAX_COLUMN): past it,
   * CREATE TABLE fails at apply on every replica.
   */
  tableColumnsMax: 1_000,
} as const;

/** SQLITE_MAX_COLUMN of the SQLite that better-sqlite3 bundles, less the system columns of a Kalam table. */
const SQLITE_USER_COLUMNS_MAX = 2_000 - 4;

if (SQL_LIMITS.executeAsDepthMax < 1) throw new Error('SQL_LIMITS.executeAsDepthMax must be at least 1');
if (SQL_LIMITS.likeCacheEntriesMax < 1) throw new Error('SQL_LIMITS.likeCacheEntriesMax must be at least 1');
if (SQL_LIMITS.tableColumnsMax > SQLITE_USER_COLUMNS_MAX) {
  throw new Error(`SQL_LIMITS.tableColumnsMax must be at most ${SQLITE_USER_COLUMNS_MAX} (SQLite's column limit)`);
}
