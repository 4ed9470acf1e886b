// What this proves: parseSqlOffThread gives what parseSql gives — the same frozen statements, the same errors with
// their code, position and bound — and parses a large text in a worker thread, so the event loop that drives Raft
// keeps turning while node-sql-parser works (a statement near statementTokensMax is ~100 ms of library CPU).
// The parser thread runs with a small young generation (parserYoungGenerationMb), whose semi-spaces would otherwise
// stay resident for the life of the node, and a bulk INSERT of 500 rows of 1 KB still parses the same in it.
// How: the two parsers side by side on small and large texts; a setImmediate loop counts the event-loop turns made
// while a large parse is under way (a parse on the loop itself allows none).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSql, parseSqlOffThread, parserThreadLimits, SQL_LIMITS, SqlError } from '../src/index.js';

function bigInsert(rows: number, first = 0): string {
  const values = Array.from({ length: rows }, (_, i) => `(${first + i}, 'v${i}', ${i}.5, NULL)`);
  return `INSERT INTO app.t (id, v, x, y) VALUES ${values.join(', ')}`;
}

test('the same statements as parseSql, frozen, for small and large texts', async () => {
  for (const sql of ["SELECT id FROM app.t WHERE v = 'a' ORDER BY id LIMIT 3", bigInsert(1_500)]) {
    const off = await parseSqlOffThread(sql);
    assert.deepEqual(off, parseSql(sql));
    assert.ok(Object.isFrozen(off) && Object.isFrozen(off[0]));
  }
  assert.ok(bigInsert(1_500).length >= SQL_LIMITS.offThreadSqlCharsMin, 'the large text is parsed off thread');
});

test('the same errors: code, position and bound', async () => {
  const syntax = `${bigInsert(1_000)}, (1, 2,`;
  const terms = Array.from({ length: 400 }, (_, i) => `a_rather_long_column_name = ${i}`);
  const limit = `SELECT * FROM app.t WHERE ${terms.join(' OR ')}`;
  for (const sql of [syntax, limit, `${bigInsert(1_000)}; SELEC 1`]) {
    assert.ok(sql.length >= SQL_LIMITS.offThreadSqlCharsMin);
    let expected: unknown;
    try {
      parseSql(sql);
    } catch (err) {
      expected = err;
    }
    assert.ok(expected instanceof SqlError);
    await assert.rejects(parseSqlOffThread(sql), (err: unknown) => {
      assert.ok(err instanceof SqlError);
      assert.deepEqual(
        [err.code, err.message, err.position, err.limit],
        [expected.code, expected.message, expected.position, expected.limit],
      );
      return true;
    });
  }
});

test('the event loop keeps turning while a large text is parsed', async () => {
  // Several large statements in one batch: long enough to see the loop turn many times meanwhile.
  const sql = Array.from({ length: 6 }, (_, k) => bigInsert(1_500, k * 1_500)).join(';\n');
  let turns = 0;
  let parsing = true;
  const spin = (): void => {
    turns++;
    if (parsing) setImmediate(spin);
  };
  setImmediate(spin);
  const statements = await parseSqlOffThread(sql);
  parsing = false;
  assert.equal(statements.length, 6);
  assert.ok(turns >= 10, `the event loop turned ${turns} times during the parse`);
});

test("the parser thread's young generation is parserYoungGenerationMb, and a 500 KB INSERT parses the same in it", async () => {
  const row = 'x'.repeat(1_000);
  const values = Array.from({ length: 500 }, (_, i) => `(${i}, '${row}')`);
  const sql = `INSERT INTO app.t (id, v) VALUES ${values.join(', ')}`;
  assert.ok(sql.length > 500_000 && sql.length <= SQL_LIMITS.sqlCharsMax);
  assert.deepEqual(await parseSqlOffThread(sql), parseSql(sql));
  const limits = parserThreadLimits();
  assert.ok(limits !== undefined, 'the thread that parsed it is still there');
  assert.ok(
    limits.maxYoungGenerationSizeMb !== undefined &&
      limits.maxYoungGenerationSizeMb > 0 &&
      limits.maxYoungGenerationSizeMb <= SQL_LIMITS.parserYoungGenerationMb,
    `young generation ${limits.maxYoungGenerationSizeMb} MiB`,
  );
});
