// Proves that bindParams replaces $n and ? placeholders with literals everywhere a statement holds expressions
// (including inside EXECUTE AS USER), converts parameter values deterministically, and refuses a count mismatch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bindParams, parseSql, SQL_LIMITS, SqlError, type Statement } from '../src/index.js';

function one(sql: string): Statement {
  const [statement] = parseSql(sql);
  assert.ok(statement !== undefined);
  return statement;
}

test('binds $n placeholders in INSERT rows', () => {
  const bound = bindParams(one('INSERT INTO t (a, b, c) VALUES ($1, $2, $3), ($3, $2, $1)'), ['x', 2, null]);
  assert.ok(bound.kind === 'Insert');
  assert.deepEqual(
    bound.rows.map((row) => row.map((e) => (e.kind === 'literal' ? e.value : e.kind))),
    [
      ['x', 2, null],
      [null, 2, 'x'],
    ],
  );
});

test('binds ? placeholders in order, in UPDATE and in EXECUTE AS USER', () => {
  const bound = bindParams(one("EXECUTE AS USER 'u' (UPDATE t SET a = ? WHERE id = ?)"), [true, 7]);
  assert.ok(bound.kind === 'ExecuteAsUser' && bound.statement.kind === 'Update');
  assert.deepEqual(bound.statement.assignments, [{ column: 'a', value: { kind: 'literal', value: true } }]);
  assert.deepEqual(bound.statement.where, {
    kind: 'binary',
    op: '=',
    left: { kind: 'column', table: null, name: 'id' },
    right: { kind: 'literal', value: 7 },
  });
});

test('converts bigint, Date and objects deterministically', () => {
  const bound = bindParams(one('SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $3 AND d = $4'), [
    5n,
    2n ** 64n,
    new Date(0),
    { k: [1] },
  ]);
  assert.ok(bound.kind === 'Select');
  const values: unknown[] = [];
  const walk = (e: unknown): void => {
    if (typeof e !== 'object' || e === null) return;
    const node = e as { kind?: string; value?: unknown; left?: unknown; right?: unknown };
    if (node.kind === 'literal') values.push(node.value);
    walk(node.left);
    walk(node.right);
  };
  walk(bound.where);
  assert.deepEqual(values, [5, '18446744073709551616', '1970-01-01T00:00:00.000Z', '{"k":[1]}']);
});

test('a count mismatch or an unsupported value is INVALID_SQL', () => {
  const stmt = one('DELETE FROM t WHERE a = $1 AND b = $2');
  const isInvalid = (err: unknown): boolean => err instanceof SqlError && err.code === 'INVALID_SQL';
  assert.throws(() => bindParams(stmt, [1]), isInvalid);
  assert.throws(() => bindParams(stmt, [1, 2, 3]), isInvalid);
  assert.throws(() => bindParams(one('SELECT * FROM t WHERE a = $2'), [1, 2]), isInvalid);
  assert.throws(() => bindParams(stmt, [1, undefined]), isInvalid);
  assert.throws(() => bindParams(stmt, [1, Number.NaN]), isInvalid);
  assert.throws(() => bindParams(one('SHOW TABLES'), [1]), isInvalid);
  assert.deepEqual(bindParams(one('SHOW TABLES'), []), { kind: 'ShowTables', namespace: null });
});

test('a number parameter Kalam cannot carry exactly, or one nested too deep, is INVALID_SQL before anything recurses', () => {
  const stmt = one('SELECT * FROM t WHERE a = $1');
  const refused = (pattern: RegExp) => (err: unknown) =>
    err instanceof SqlError && err.code === 'INVALID_SQL' && pattern.test(err.message);
  assert.throws(() => bindParams(stmt, [1e300]), refused(/parameter \$1: 1e\+300 is beyond ±2\^53/));
  assert.throws(() => bindParams(stmt, [-(2 ** 63)]), refused(/beyond ±2\^53/));
  assert.throws(() => bindParams(stmt, [2 ** 53]), refused(/beyond ±2\^53/));
  assert.throws(() => bindParams(stmt, [Number.POSITIVE_INFINITY]), refused(/not a finite number/));
  assert.doesNotThrow(() => bindParams(stmt, [Number.MAX_SAFE_INTEGER]));
  assert.doesNotThrow(() => bindParams(stmt, [1.5e-300]));
  const nest = (depth: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v };
    return v;
  };
  assert.doesNotThrow(() => bindParams(stmt, [nest(SQL_LIMITS.paramDepthMax)]));
  assert.throws(() => bindParams(stmt, [nest(SQL_LIMITS.paramDepthMax + 1)]), refused(/nested deeper than 64/));
  // Far deeper than the stack would allow JSON.stringify to go: refused, never a RangeError.
  assert.throws(() => bindParams(stmt, [nest(200_000)]), refused(/nested deeper/));
});

test('a parsed batch is kept by its text, frozen, and binding parameters never changes it', () => {
  const text = 'INSERT INTO app.kv (id, v) VALUES ($1, $2)';
  const first = parseSql(text);
  assert.equal(parseSql(text), first, 'the same text gives the kept parse');
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first[0]));
  const a = bindParams(first[0]!, [1, 'one']);
  const b = bindParams(first[0]!, [2, 'two']);
  assert.notDeepEqual(a, b);
  assert.deepEqual(parseSql(text), first);
  assert.throws(() => {
    (first as Statement[]).push(first[0]!);
  }, TypeError);
  // A failed parse is not kept: the same bad text fails again the same way.
  assert.throws(() => parseSql('INSERT INTO'), SqlError);
  assert.throws(() => parseSql('INSERT INTO'), SqlError);
});
