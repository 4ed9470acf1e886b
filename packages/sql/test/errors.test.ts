// Proves that bad SQL fails with KalamDB's codes and a position that points at the culprit: lexical errors, unknown
// statements, library syntax errors (mapped back through placeholders and EXECUTE AS), missing primary keys,
// unknown table types and bad WITH options; blank input is EMPTY_SQL and a bad statement in a batch
// BATCH_PARSE_ERROR.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSql, SqlError } from '../src/index.js';

function fails(sql: string, code: string, line: number | null, column?: number, message?: RegExp): void {
  assert.throws(
    () => parseSql(sql),
    (err: unknown) => {
      assert.ok(err instanceof SqlError, `expected a SqlError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      if (line === null) assert.equal(err.position, null);
      else assert.deepEqual([err.position?.line, err.position?.column], [line, column], err.message);
      if (message !== undefined) assert.match(err.message, message);
      return true;
    },
  );
}

test('a typo in the first keyword points at column 1', () => {
  fails('SELEC * FROM t', 'INVALID_SQL', 1, 1, /unknown statement "SELEC"/);
  fails('  \n  CREAT TABLE t (id INT PRIMARY KEY)', 'INVALID_SQL', 2, 3);
});

test('an error in the middle of a statement points there', () => {
  fails('SELECT * FROM t WHERE a = = 1', 'INVALID_SQL', 1, 27);
  fails('SELECT *\nFROM t\nWHERE a = 1 1', 'INVALID_SQL', 3, 13);
  // `?` become `$n` for the library; the position is still that of the original text.
  fails('SELECT * FROM t WHERE a = ? AND b = ? AND c = = 1', 'INVALID_SQL', 1, 47);
  fails("EXECUTE AS USER 'a' (UPDATE t SET x = ? WHERE = 1)", 'INVALID_SQL', 1, 47);
  fails('SUBSCRIBE TO t WHERE a = = 1', 'INVALID_SQL', 1, 26);
  fails('CREATE TABLE t (id INT PRIMARY KEY, name TEXT NOT NULLL)', 'INVALID_SQL', 1, 51, /expected NULL/);
  fails('DROP NAMESPACE', 'INVALID_SQL', 1, 15, /expected a namespace name but found the end of the statement/);
});

test('lexical errors', () => {
  fails("SELECT * FROM t WHERE a = 'open", 'INVALID_SQL', 1, 27, /unterminated string/);
  fails('SELECT * FROM t /* open', 'INVALID_SQL', 1, 17, /unterminated comment/);
  fails('SELECT * FROM t WHERE a = #', 'INVALID_SQL', 1, 27, /unexpected character/);
});

test('blank input is EMPTY_SQL', () => {
  fails('', 'EMPTY_SQL', null);
  fails('   \n\t ', 'EMPTY_SQL', null);
  fails(' ; ;; -- nothing', 'EMPTY_SQL', null);
});

test('CREATE TABLE: missing primary key, unknown table type, unknown column type', () => {
  fails('CREATE TABLE t (id INT, name TEXT)', 'INVALID_SQL', 1, 34, /primary key is required/);
  fails('CREATE TEMP TABLE t (id INT PRIMARY KEY)', 'INVALID_SQL', 1, 8, /unknown table type/);
  fails('CREATE TABLE t (id INT PRIMARY KEY, x MONEY)', 'INVALID_SQL', 1, 39, /unknown column type MONEY/);
  fails('CREATE TABLE t (a INT PRIMARY KEY, b INT PRIMARY KEY)', 'INVALID_SQL', 1, 36, /exactly one primary key/);
  fails('CREATE TABLE t (a INT, PRIMARY KEY (b))', 'INVALID_SQL', 1, 24, /not defined/);
  fails('CREATE TABLE t (a INT PRIMARY KEY, a TEXT)', 'INVALID_SQL', 1, 36, /defined twice/);
});

test('CREATE TABLE: bad WITH options', () => {
  const table = 'CREATE SHARED TABLE t (id INT PRIMARY KEY) WITH ';
  const at = table.length + 2;
  fails(`${table}(COLOR = 'red')`, 'INVALID_SQL', 1, at, /unknown table option COLOR/);
  fails(`${table}(TTL_SECONDS = 'soon')`, 'INVALID_SQL', 1, at + 14, /number of seconds/);
  fails(`${table}(FLUSH_POLICY = 'bytes:10')`, 'INVALID_SQL', 1, at + 15, /FLUSH_POLICY/);
  fails(`${table}(ACCESS_LEVEL = 'OPEN')`, 'INVALID_SQL', 1, at + 15, /PUBLIC or PRIVATE/);
  fails(`${table}(TTL_SECONDS = 1, TTL_SECONDS = 2)`, 'INVALID_SQL', 1, at + 17, /given twice/);
  fails("CREATE USER TABLE t (id INT PRIMARY KEY) WITH (ACCESS_LEVEL='PUBLIC')", 'INVALID_SQL', 1, 48, /SHARED/);
});

test('other statement errors', () => {
  fails("CREATE USER 'a' WITH PASSWORD 'p' ROLE admin", 'INVALID_SQL', 1, 40, /role/);
  fails("ALTER USER 'a' SET NAME 'b'", 'INVALID_SQL', 1, 20, /PASSWORD or ROLE/);
  fails("EXECUTE AS USER 'a' (EXECUTE AS USER 'b' (SELECT * FROM t))", 'INVALID_SQL', 1, 22, /nested/);
  fails("EXECUTE AS USER 'a' (SELECT * FROM t", 'INVALID_SQL', 1, 21, /unclosed/);
  fails('SUBSCRIBE TO t OPTIONS (batch = 3)', 'INVALID_SQL', 1, 25, /unknown subscription option/);
  fails('SHOW TABLES app', 'INVALID_SQL', 1, 13, /end of the statement/);
  fails('SELECT a FROM t HAVING a > 1', 'INVALID_SQL', 1, 1, /HAVING needs GROUP BY/);
  fails('SELECT * FROM t WHERE a IN (SELECT b FROM u)', 'INVALID_SQL', 1, 23);
  fails('SELECT * FROM t JOIN u ON t.a = u.a', 'INVALID_SQL', 1, 1, /one table/);
  fails('SELECT 1', 'INVALID_SQL', 1, 1, /FROM/);
  fails('SELECT * FROM t WHERE a = $1 AND b = ?', 'INVALID_SQL', 1, 38, /mix/);
  fails('INSERT INTO t (a, b) VALUES (1)', 'INVALID_SQL', 1, 1, /count/);
});

test('schedule statement errors', () => {
  fails("CREATE SCHEDULE 'a' FLUSH TABLE t", 'INVALID_SQL', 1, 21, /expected CRON but found "FLUSH"/);
  fails("CREATE SCHEDULE 'a' CRON 5 FLUSH TABLE t", 'INVALID_SQL', 1, 26, /cron expression string/);
  fails("CREATE SCHEDULE 'a' CRON '0 3 * * *'", 'INVALID_SQL', 1, 37, /FLUSH TABLE, FLUSH ALL TABLES, COMPACT/);
  fails("CREATE SCHEDULE 'a' CRON '0 3 * * *' DELETE FROM t", 'INVALID_SQL', 1, 38, /after the cron expression/);
  fails("CREATE SCHEDULE 'a' CRON '0 3 * * *' FLUSH t", 'INVALID_SQL', 1, 44, /TABLE or ALL TABLES/);
  fails("CREATE SCHEDULE 'a' CRON '0 3 * * *' COMPACT ALL TABLES", 'INVALID_SQL', 1, 38, /COMPACT TABLE/);
  fails("CREATE SCHEDULE 'a' CRON '0 3 * * *' RETENTION TABLE", 'INVALID_SQL', 1, 53, /a table name/);
  fails("CREATE SCHEDULE 'a' CRON '0 3 * * *' FLUSH TABLE t NOW", 'INVALID_SQL', 1, 52, /end of the statement/);
  fails('CREATE SCHEDULE', 'INVALID_SQL', 1, 16, /a schedule name/);
  fails('DROP SCHEDULE IF EXISTS', 'INVALID_SQL', 1, 24, /a schedule name/);
  fails("DROP SCHEDULE 'a' 'b'", 'INVALID_SQL', 1, 19, /end of the statement/);
  fails('SHOW SCHEDULE', 'INVALID_SQL', 1, 6, /SCHEDULES after SHOW/);
});

test('a bad statement in a batch is BATCH_PARSE_ERROR with its position in the whole text', () => {
  fails('SELECT * FROM t;\nSELEC * FROM t', 'BATCH_PARSE_ERROR', 2, 1, /statement 2 of 2/);
  fails('CREATE NAMESPACE a; SELECT * FROM t WHERE = 1', 'BATCH_PARSE_ERROR', 1, 43, /statement 2 of 2/);
});

test('numbers Kalam cannot carry exactly are refused where they are written (literal, DEFAULT)', () => {
  const outOfRange = /out of range \(Kalam keeps numbers within ±2\^53\)/;
  // The library rounds -2^63 - 1 to a number before we see it: rounded integers are never safe ones.
  fails('INSERT INTO t (id) VALUES (-9223372036854775809)', 'INVALID_SQL', 1, 1, outOfRange);
  fails('SELECT * FROM t WHERE id = 9007199254740993', 'INVALID_SQL', 1, 1, outOfRange);
  fails('INSERT INTO t (n) VALUES (1e300)', 'INVALID_SQL', 1, 1, outOfRange);
  fails('CREATE TABLE t (id BIGINT PRIMARY KEY, v DOUBLE DEFAULT 1e300)', 'INVALID_SQL', 1, 57, outOfRange);
  fails('CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT DEFAULT -9223372036854775809)', 'INVALID_SQL', 1, 58);
  assert.doesNotThrow(() => parseSql('INSERT INTO t (id, n) VALUES (-9007199254740991, 1.5e15)'));
});

test('nesting deep enough to overflow the parser library is refused before it runs, not its RangeError', () => {
  // Parentheses past SQL_LIMITS.exprDepthMax are measured on the tokens (bounds.ts): LIMIT_EXCEEDED at the first one.
  const deep = `SELECT * FROM t WHERE ${'('.repeat(5000)}a = 1${')'.repeat(5000)}`;
  fails(deep, 'LIMIT_EXCEEDED', 1, 223, /^parentheses nested more than 200 deep \(limit exprDepthMax = 200\)/);
  const nots = `SELECT * FROM t WHERE ${'NOT '.repeat(4000)}a = 1`;
  fails(nots, 'LIMIT_EXCEEDED', 1, 23 + 4 * 200, /^an expression nested too deeply \(limit exprDepthMax = 200\)/);
});
