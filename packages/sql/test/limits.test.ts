// What this proves: every bound of SQL_LIMITS that a request can cross is refused with LIMIT_EXCEEDED, naming the
// bound, pointing at the first token beyond it — and, for the statements node-sql-parser reads, before the library
// runs (issue [M6] §3: a 20,000-term OR chain cost half a second of library CPU even though it was refused after).
// A statement exactly at a bound parses. String literals reach the library as short stand-ins and come back with
// their values intact (a 500-row INSERT of 1 KB values once cost the library 115 ms); each statement of a batch
// reaches the library alone, so a batch's parse grows with its length, not its square.
// How: parseSql on generated texts; dml.ts counts the library's runs and the characters it was given.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSql, SQL_LIMITS, SqlError } from '../src/index.js';
import type { Insert, Select, SqlLimitName } from '../src/index.js';
import { libraryStats } from '../src/dml.js';

/** Asserts that `sql` fails with LIMIT_EXCEEDED for `name`, without a library run; returns the error. */
function refused(sql: string, name: SqlLimitName, at?: { line: number; column: number }): SqlError {
  const runsBefore = libraryStats.runs;
  let caught: unknown;
  try {
    parseSql(sql);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SqlError, `expected a SqlError, got ${String(caught)}`);
  assert.equal(caught.code, 'LIMIT_EXCEEDED', caught.message);
  assert.deepEqual(caught.limit, { name, max: SQL_LIMITS[name] });
  assert.match(caught.message, new RegExp(`limit ${name} = ${SQL_LIMITS[name]}`));
  if (at !== undefined) assert.deepEqual([caught.position?.line, caught.position?.column], [at.line, at.column]);
  assert.equal(libraryStats.runs, runsBefore, 'the library must not run for a statement over a bound');
  return caught;
}

function orChain(terms: number, first = 0): string {
  return Array.from({ length: terms }, (_, i) => `id = ${first + i}`).join(' OR ');
}

test('a 20,000-term OR chain is refused before node-sql-parser runs', () => {
  // The chain of [M6] §3: 80,000 tokens, over statementTokensMax.
  const err = refused(`SELECT * FROM app.t WHERE ${orChain(20_000)}`, 'statementTokensMax');
  assert.ok(err.position !== null);
  // Shorter chains are measured on their expression: more ORs in one expression than exprDepthMax allows.
  refused(`SELECT * FROM app.t WHERE ${orChain(SQL_LIMITS.exprDepthMax + 2)}`, 'exprDepthMax');
  refused(`DELETE FROM app.t WHERE ${orChain(SQL_LIMITS.exprDepthMax + 2)}`, 'exprDepthMax');
  refused(`SUBSCRIBE TO app.t WHERE ${orChain(SQL_LIMITS.exprDepthMax + 2)}`, 'exprDepthMax');
  const ands = Array.from({ length: SQL_LIMITS.exprDepthMax + 2 }, (_, i) => `a${i % 9} = ${i}`).join(' AND ');
  refused(`UPDATE app.t SET v = 1 WHERE ${ands}`, 'exprDepthMax');
});

test('expression terms: a balanced tree over statementTermsMax is refused; terms are counted per statement', () => {
  // ((id = 0 OR id = 1) AND (id = 2 OR id = 3)) OR …: shallow, but 4,096 nodes and more.
  let groups: string[] = [];
  for (let i = 0; i < 1_100; i++) groups.push(`(id = ${2 * i} OR id = ${2 * i + 1})`);
  while (groups.length > 1) {
    const next: string[] = [];
    for (let i = 0; i < groups.length; i += 2)
      next.push(i + 1 < groups.length ? `(${groups[i]} AND ${groups[i + 1]})` : groups[i]!);
    groups = next;
  }
  refused(`SELECT * FROM app.t WHERE ${groups[0]}`, 'statementTermsMax');
  // A wide select list costs per row too.
  const columns = Array.from({ length: SQL_LIMITS.statementTermsMax + 1 }, (_, i) => `c${i % 50}`).join(', ');
  refused(`SELECT ${columns} FROM app.t`, 'statementTermsMax');
});

test('an expression just inside the bounds parses', () => {
  const atDepth = `SELECT * FROM app.t WHERE ${orChain(150)}`;
  const select = parseSql(atDepth)[0] as Select;
  assert.equal(select.kind, 'Select');
  const inList = Array.from({ length: SQL_LIMITS.inListItemsMax }, (_, i) => i).join(', ');
  const withIn = parseSql(`SELECT * FROM app.t WHERE id IN (${inList})`)[0] as Select;
  assert.equal(withIn.where?.kind === 'in' ? withIn.where.list.length : 0, SQL_LIMITS.inListItemsMax);
});

test('IN lists: more than inListItemsMax values are refused at the first value beyond', () => {
  const list = Array.from({ length: SQL_LIMITS.inListItemsMax + 5 }, (_, i) => i).join(',');
  const sql = `SELECT * FROM app.t WHERE id NOT IN (${list})`;
  const beyond = sql.indexOf(`,${SQL_LIMITS.inListItemsMax},`);
  refused(sql, 'inListItemsMax', { line: 1, column: beyond + 1 });
});

test('parentheses nested deeper than exprDepthMax are refused before the library', () => {
  const depth = SQL_LIMITS.exprDepthMax + 1;
  refused(`SELECT * FROM app.t WHERE ${'('.repeat(depth)}id = 1${')'.repeat(depth)}`, 'exprDepthMax', {
    line: 1,
    column: 27 + SQL_LIMITS.exprDepthMax,
  });
});

test('statement tokens: an INSERT of more than statementTokensMax tokens is refused; VALUES do not count as terms', () => {
  const rows = (n: number): string => Array.from({ length: n }, (_, i) => `(${i}, 'v${i}')`).join(', ');
  // 6 tokens a row: over the bound by a few rows.
  const over = Math.ceil(SQL_LIMITS.statementTokensMax / 6) + 2;
  refused(`INSERT INTO app.t (id, v) VALUES ${rows(over)}`, 'statementTokensMax');
  // Far more literals than statementTermsMax, under statementTokensMax: VALUES rows are evaluated once, not per row.
  const insert = parseSql(`INSERT INTO app.t (id, v) VALUES ${rows(2_000)}`)[0] as Insert;
  assert.equal(insert.rows.length, 2_000);
});

test('identifiers and string literals longer than their bounds are refused where they start', () => {
  const long = 'n'.repeat(SQL_LIMITS.identifierCharsMax + 1);
  refused(`SELECT * FROM app.${long}`, 'identifierCharsMax', { line: 1, column: 19 });
  refused(`CREATE NAMESPACE "${long}"`, 'identifierCharsMax', { line: 1, column: 18 });
  refused(
    `SELECT * FROM app.t WHERE v = '${'x'.repeat(SQL_LIMITS.stringLiteralCharsMax + 1)}'`,
    'stringLiteralCharsMax',
    {
      line: 1,
      column: 31,
    },
  );
  assert.equal(parseSql(`CREATE NAMESPACE ${'n'.repeat(SQL_LIMITS.identifierCharsMax)}`).length, 1);
});

test('batches: statements, tokens and characters are bounded', () => {
  const many = Array.from({ length: SQL_LIMITS.batchStatementsMax + 1 }, () => 'SHOW NAMESPACES').join(';\n');
  refused(many, 'batchStatementsMax', { line: SQL_LIMITS.batchStatementsMax + 1, column: 1 });
  refused(`SELECT ${'a,'.repeat(SQL_LIMITS.batchTokensMax / 2)}a FROM t`, 'batchTokensMax');
  refused(`SELECT * FROM app.t WHERE v = '${'x'.repeat(SQL_LIMITS.sqlCharsMax)}'`, 'sqlCharsMax');
});

test('a limit crossed in one statement of a batch keeps LIMIT_EXCEEDED and says which statement', () => {
  const err = refused(
    `SHOW NAMESPACES; SELECT * FROM app.t WHERE ${orChain(SQL_LIMITS.exprDepthMax + 2)}`,
    'exprDepthMax',
  );
  assert.match(err.message, /^statement 2 of 2: /);
});

test('string literals reach the library as stand-ins and come back intact', () => {
  const value = 'x'.repeat(1_000);
  const tricky = ["it's", '', "''", '0', '1', '$1', '?', 'é🙂', '--not a comment', '/* nor this */', ';'];
  const rows = Array.from({ length: 500 }, (_, i) => `(${i}, '${value}')`);
  tricky.forEach((s, i) => rows.push(`(${1_000 + i}, '${s.replaceAll("'", "''")}')`));
  const sql = `INSERT INTO app.bulk (id, v) VALUES ${rows.join(', ')}`;
  const charsBefore = libraryStats.chars;
  const insert = parseSql(sql)[0] as Insert;
  const given = libraryStats.chars - charsBefore;
  assert.ok(given < sql.length / 10, `the library was given ${given} of ${sql.length} characters`);
  assert.equal(insert.rows.length, 500 + tricky.length);
  assert.deepEqual(insert.rows[0]?.[1], { kind: 'literal', value });
  assert.deepEqual(
    insert.rows.slice(500).map((row) => row[1]),
    tricky.map((s) => ({ kind: 'literal', value: s })),
  );
  // In WHERE, LIKE and IN too; an error after a literal still points at the original text.
  const select = parseSql("SELECT * FROM t WHERE a LIKE 'x%' AND b IN ('p', 'q''r')")[0] as Select;
  assert.deepEqual(select.where, {
    kind: 'binary',
    op: 'AND',
    left: {
      kind: 'like',
      expr: { kind: 'column', table: null, name: 'a' },
      pattern: { kind: 'literal', value: 'x%' },
      negated: false,
    },
    right: {
      kind: 'in',
      expr: { kind: 'column', table: null, name: 'b' },
      list: [
        { kind: 'literal', value: 'p' },
        { kind: 'literal', value: "q'r" },
      ],
      negated: false,
    },
  });
  assert.throws(
    () => parseSql(`SELECT * FROM t WHERE a = '${value}' AND b = = 1`),
    (err: unknown) => err instanceof SqlError && err.position?.column === 1_000 + 38,
  );
});

test("each statement of a batch reaches the library alone, not behind the batch's earlier text", () => {
  // Blanked in front of each statement, the earlier statements made a batch's library input grow with the square of
  // its length: a 200-statement batch took 430 ms to parse, 2 ms a statement.
  const statements = Array.from({ length: 200 }, (_, i) => `SELECT v FROM app.kv WHERE id = ${i}`);
  const sql = statements.join(';\n');
  const charsBefore = libraryStats.chars;
  const parsed = parseSql(sql) as Select[];
  const given = libraryStats.chars - charsBefore;
  assert.equal(parsed.length, 200);
  assert.ok(given <= sql.length, `the library was given ${given} characters for a batch of ${sql.length}`);
  assert.deepEqual(parsed[199]?.where, {
    kind: 'binary',
    op: '=',
    left: { kind: 'column', table: null, name: 'id' },
    right: { kind: 'literal', value: 199 },
  });
  // An error in a later statement still points at its line and column in the batch.
  assert.throws(
    () => parseSql(`${statements.slice(0, 3).join(';\n')};\nSELECT v FROM app.kv WHERE id = = 1`),
    (err: unknown) =>
      err instanceof SqlError &&
      err.position?.line === 4 &&
      err.position.column === 33 &&
      /^statement 4 of 4: /.test(err.message),
  );
});
