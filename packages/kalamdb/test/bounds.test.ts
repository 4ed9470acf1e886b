// What this proves: the SQL engine bounds the work one statement causes after parsing (issue [M6] §3) — a SELECT
// whose result would hold more than resultRowsMax rows is refused with LIMIT_EXCEEDED (never silently truncated),
// while LIMIT, WHERE and aggregates keep results under the bound; a SELECT that evaluates rows for longer than
// statementEvalMsMax is stopped with LIMIT_EXCEEDED; while it evaluates, the statement gives the event loop back
// (so the Raft driver's timer fires on time); an UPDATE/DELETE whose filter would cost more than writeFilterWorkMax
// in apply is refused at plan time.
// How: a StandaloneExecutor on an in-memory data.db; a fake monotonic clock that advances 1 ms per look, and
// narrower limits through SqlEngineOptions where the default bound would need a large table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DataStore,
  KalamError,
  SQL_ENGINE_LIMITS,
  SqlEngine,
  StandaloneExecutor,
  StateMachines,
} from '../src/index.js';
import type { EvalLimits, Session } from '../src/index.js';

const root: Session = { userId: 'root', username: 'root', role: 'system' };

function setup(limits: Partial<EvalLimits> = {}): SqlEngine {
  const machines = new StateMachines(DataStore.open(':memory:'), { numUserShards: 4, numSharedShards: 1 });
  // Each look at the clock is 1 ms later: budgets trip after a known number of looks, whatever the machine's speed.
  let ms = 0;
  return new SqlEngine({
    executor: new StandaloneExecutor(machines),
    machines,
    nodeId: 1,
    now: () => 1_700_000_000_000,
    monotonicNow: () => ms++,
    limits,
  });
}

async function withRows(engine: SqlEngine, rows: number): Promise<void> {
  await engine.execute(root, 'CREATE NAMESPACE app; CREATE SHARED TABLE app.t (id BIGINT PRIMARY KEY, v TEXT)');
  for (let from = 0; from < rows; from += 2_000) {
    const values = [];
    for (let id = from; id < Math.min(rows, from + 2_000); id++) values.push(`(${id}, 'v${id % 7}')`);
    await engine.execute(root, `INSERT INTO app.t (id, v) VALUES ${values.join(', ')}`);
  }
}

async function limitExceeded(p: Promise<unknown>, limit: string, max: number): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof KalamError, `expected a KalamError, got ${String(err)}`);
    assert.equal(err.code, 'LIMIT_EXCEEDED', err.message);
    assert.equal(err.httpStatus, 400);
    assert.deepEqual(err.details, { limit, max });
    assert.match(err.message, new RegExp(`limit ${limit}`));
    return true;
  });
}

async function count(engine: SqlEngine, sql: string): Promise<number> {
  const [result] = await engine.execute(root, sql);
  return result!.row_count;
}

test('a SELECT of more than resultRowsMax rows is refused, not truncated; LIMIT, WHERE and aggregates stay under', async () => {
  const max = SQL_ENGINE_LIMITS.resultRowsMax;
  const engine = setup();
  await withRows(engine, max + 1);
  await limitExceeded(engine.execute(root, 'SELECT * FROM app.t'), 'resultRowsMax', max);
  await limitExceeded(engine.execute(root, 'SELECT id FROM app.t ORDER BY id DESC'), 'resultRowsMax', max);
  await limitExceeded(engine.execute(root, 'SELECT id, COUNT(*) FROM app.t GROUP BY id'), 'resultRowsMax', max);
  assert.equal(await count(engine, `SELECT id FROM app.t LIMIT ${max}`), max);
  assert.equal(await count(engine, 'SELECT id FROM app.t ORDER BY id DESC LIMIT 10 OFFSET 5'), 10);
  assert.equal(await count(engine, 'SELECT id FROM app.t WHERE id > 5'), max - 5);
  const [grouped] = await engine.execute(root, 'SELECT v, COUNT(*) FROM app.t GROUP BY v ORDER BY v');
  assert.equal(grouped!.rows.length, 7);
  assert.deepEqual((await engine.execute(root, 'SELECT COUNT(*) FROM app.t'))[0]!.rows, [[max + 1]]);
});

test('a SELECT that evaluates rows for longer than statementEvalMsMax is stopped', async () => {
  // 32 rows per look at the clock, 1 ms per look: 50 ms is about 1,600 rows.
  const engine = setup({ statementEvalMsMax: 50 });
  await withRows(engine, 4_000);
  await limitExceeded(engine.execute(root, "SELECT * FROM app.t WHERE v = 'v1'"), 'statementEvalMsMax', 50);
  await limitExceeded(engine.execute(root, 'SELECT v, COUNT(*) FROM app.t GROUP BY v'), 'statementEvalMsMax', 50);
  // Under the budget, the same table answers; and the read stopped mid-statement left data.db usable for applies
  // (a WHERE this small is applied as SQLite hands the rows out: the stop must close that statement).
  assert.equal(await count(engine, 'SELECT id FROM app.t LIMIT 100'), 100);
  await engine.execute(root, "INSERT INTO app.t (id, v) VALUES (1000000, 'after')");
  assert.equal(await count(engine, 'SELECT id FROM app.t WHERE id = 1000000'), 1);
});

test('a long evaluation gives the event loop back between slices', async () => {
  const engine = setup({ evalSliceMs: 2 });
  await withRows(engine, 4_000);
  let done = false;
  let ranWhileEvaluating = false;
  // Runs at the first check phase: before it only if the evaluation yields (a synchronous one finishes first).
  setImmediate(() => (ranWhileEvaluating = !done));
  const rows = await engine.execute(root, "SELECT id, v FROM app.t WHERE v LIKE 'v%' ORDER BY v, id").then((r) => {
    done = true;
    return r[0]!.row_count;
  });
  assert.equal(rows, 4_000);
  assert.equal(ranWhileEvaluating, true);
});

test('UPDATE and DELETE whose filter would cost more than writeFilterWorkMax in apply are refused at plan time', async () => {
  const engine = setup({ writeFilterWorkMax: 100 });
  await withRows(engine, 20);
  // 20 rows × (3 nodes + 1) = 80: allowed. 20 × (7 + 1) = 160: refused, nothing applied.
  assert.deepEqual((await engine.execute(root, 'DELETE FROM app.t WHERE id = 1'))[0]!.row_count, 1);
  await limitExceeded(engine.execute(root, 'DELETE FROM app.t WHERE id = 2 OR id = 3'), 'writeFilterWorkMax', 100);
  await limitExceeded(
    engine.execute(root, "UPDATE app.t SET v = 'x' WHERE id = 2 OR id = 3"),
    'writeFilterWorkMax',
    100,
  );
  assert.equal(await count(engine, "SELECT id FROM app.t WHERE id = 2 OR id = 3 OR v = 'x'"), 2);
});
