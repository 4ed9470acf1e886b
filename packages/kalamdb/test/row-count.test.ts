// What this proves: counting a scope's live rows without reading them (`userRowCount`, and with it
// `SELECT COUNT(*) FROM t` and the UPDATE/DELETE planner's bound), and reading only its first n rows
// (`userRowsPrefix`, for `SELECT … LIMIT n` with no WHERE or ORDER BY), give what reading every row gives — over hot rows,
// tombstones, flushed files, hot versions and tombstones of flushed keys, and other users' rows — and that the SQL
// fast path answers exactly as the general path (same label, type and value), while any other COUNT goes the
// general way. How: the cold tests' replica (a StateMachines over a temp folder, commands through apply()) and a
// standalone SqlEngine on an in-memory data.db.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { DataStore, SqlEngine, StandaloneExecutor, StateMachines, encodeCommand } from '../src/index.js';
import type { AnyCommand, Session, UserDataCommand } from '../src/index.js';
import { NOTES, NOTES_DDL, SHARDING } from './support/notes.js';

test('a scope counted without reading its rows matches its rows, through hot, flushed and deleted versions', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-row-count-'));
  const machines = new StateMachines(DataStore.open(join(dir, 'data.db')), SHARDING, { dataDir: dir });
  t.after(() => {
    machines.store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  machines.system.apply(NOTES_DDL.map((c, i) => ({ index: i + 1, term: 1, kind: 'command', data: encodeCommand(c) })));
  const sm = machines.userShards[machines.router.userShard('alice')]!;
  const apply = (c: UserDataCommand): void => {
    const index = sm.appliedIndex() + 1;
    sm.apply([{ index, term: 1, kind: 'command', data: encodeCommand(c as AnyCommand) }]);
  };
  const same = (step: string): void => {
    const all = sm.userRows('app.notes', 'alice');
    assert.equal(sm.userRowCount('app.notes', 'alice'), all.length, `${step}: counted = read (${all.length})`);
    for (let n = 0; n <= all.length + 1; n++) {
      assert.deepEqual(sm.userRowsPrefix('app.notes', 'alice', n), all.slice(0, n), `${step}: the first ${n} rows`);
    }
    const odd = (r: Record<string, unknown>): boolean => Number(r['id']) % 2 === 1;
    const kept = sm.userRowsWhere('app.notes', 'alice', odd, Infinity);
    if (machines.cold.filesOf(NOTES, 'alice').length > 0)
      assert.equal(kept, undefined, `${step}: flushed: no fast read`);
    else {
      assert.deepEqual(kept, all.filter(odd), `${step}: the rows a filter keeps`);
      assert.deepEqual(sm.userRowsWhere('app.notes', 'alice', odd, 1), all.filter(odd).slice(0, 1));
    }
  };
  const base = { tableId: 'app.notes', userId: 'alice', metaIndex: 2 } as const;
  same('no physical table yet');
  apply({ ...base, type: 'Insert', rows: [1, 2, 3, 4].map((id) => ({ id, body: `b${id}` })), seqBase: 100, at: 10 });
  same('hot rows');
  apply({
    ...base,
    type: 'Delete',
    filter: { kind: 'binary', op: '=', left: col('id'), right: lit(4) },
    seqBase: 110,
    at: 11,
  });
  same('a hot tombstone');
  apply({ ...base, type: 'FlushRows', fileName: 'f-100-110.parquet', rowCount: 4, minSeq: 100, maxSeq: 110, at: 12 });
  same('everything flushed, the tombstone too');
  assert.equal(machines.cold.filesOf(NOTES, 'alice').length, 1, 'the flush was applied');
  assert.equal(sm.userRowCount('app.notes', 'alice'), 3);
  apply({
    ...base,
    type: 'Update',
    updates: { body: 'new' },
    filter: { kind: 'binary', op: '=', left: col('id'), right: lit(1) },
    seqBase: 120,
    at: 13,
  });
  same('a hot version of a flushed key');
  apply({
    ...base,
    type: 'Delete',
    filter: { kind: 'binary', op: '=', left: col('id'), right: lit(2) },
    seqBase: 130,
    at: 14,
  });
  same('a hot tombstone of a flushed key');
  apply({
    ...base,
    type: 'Insert',
    rows: [
      { id: 4, body: 'again' },
      { id: 9, body: 'x' },
    ],
    seqBase: 140,
    at: 15,
  });
  same('a deleted key inserted again, and a new one');
  apply({ ...base, userId: 'zed', type: 'Insert', rows: [{ id: 1, body: 'z' }], seqBase: 150, at: 16 });
  same("another user's rows in the same shard");
  assert.equal(sm.userRowCount('app.notes', 'alice'), 4, 'ids 1, 3, 4, 9');
});

function col(name: string): { kind: 'column'; table: null; name: string } {
  return { kind: 'column', table: null, name };
}

function lit(value: number): { kind: 'literal'; value: number } {
  return { kind: 'literal', value };
}

test('SELECT COUNT(*) FROM t answers as the general path does; other counts go the general way', async () => {
  const machines = new StateMachines(DataStore.open(':memory:'), { numUserShards: 4, numSharedShards: 1 });
  const engine = new SqlEngine({
    executor: new StandaloneExecutor(machines),
    machines,
    nodeId: 1,
    now: () => 1_700_000_000_000,
  });
  const root: Session = { userId: 'root', username: 'root', role: 'system' };
  const alice: Session = { userId: 'alice', username: 'alice', role: 'user' };
  await engine.execute(
    root,
    `CREATE NAMESPACE app;
     CREATE USER TABLE app.notes (id BIGINT PRIMARY KEY, title TEXT);
     CREATE SHARED TABLE app.config (key TEXT PRIMARY KEY, value TEXT) WITH (ACCESS_LEVEL = 'PUBLIC')`,
  );
  await engine.execute(root, `CREATE USER 'alice' WITH PASSWORD 'pw-alice' ROLE user`);
  const run = async (session: Session, sql: string) => (await engine.execute(session, sql))[0]!;
  // The general path for the same question: a WHERE that every row passes.
  const check = async (session: Session, table: string, alias = ''): Promise<void> => {
    const fast = await run(session, `SELECT COUNT(*)${alias} FROM ${table}`);
    const general = await run(session, `SELECT COUNT(*)${alias} FROM ${table} WHERE 1 = 1`);
    assert.deepEqual(fast, general, `${table}${alias}`);
  };
  await check(alice, 'app.notes');
  await check(root, 'app.config', ' AS n');
  await engine.execute(alice, "INSERT INTO app.notes (id, title) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
  await engine.execute(root, "INSERT INTO app.notes (id, title) VALUES (7, 'root''s own')");
  await engine.execute(alice, 'DELETE FROM app.notes WHERE id = 2');
  await engine.execute(root, "INSERT INTO app.config (key, value) VALUES ('k', 'v')");
  await check(alice, 'app.notes');
  await check(alice, 'app.notes', ' AS total');
  await check(root, 'app.config');
  assert.deepEqual((await run(alice, 'SELECT COUNT(*) FROM app.notes')).rows, [[2]], "alice's two live rows only");
  assert.deepEqual((await run(alice, 'SELECT COUNT(*) FROM app.notes LIMIT 0')).rows, [], 'LIMIT 0: the general way');
  assert.deepEqual((await run(alice, 'SELECT COUNT(*) FROM app.notes OFFSET 1')).rows, []);
  await assert.rejects(engine.execute(alice, 'SELECT COUNT(*) FROM app.notes ORDER BY title'), /GROUP BY/);
  // LIMIT without WHERE or ORDER BY reads only the rows it needs; the answer is the general path's.
  for (const tail of ['LIMIT 1', 'LIMIT 2', 'LIMIT 5', 'LIMIT 1 OFFSET 1', 'LIMIT 3 OFFSET 5', 'LIMIT 0']) {
    for (const cols of ['*', 'id', 'title, _seq', 'id AS k, UPPER(title) AS t']) {
      const fast = await run(alice, `SELECT ${cols} FROM app.notes ${tail}`);
      const general = await run(alice, `SELECT ${cols} FROM app.notes WHERE 1 = 1 ${tail}`);
      assert.deepEqual(fast, general, `SELECT ${cols} … ${tail}`);
    }
  }
  // A small WHERE is applied as rows are read; a large one (here the same condition padded past 64 nodes with
  // `OR 1 = 0` terms) goes through runSelect's budgeted slices. Same answers, same errors.
  await engine.execute(alice, "INSERT INTO app.notes (id, title) VALUES (4, 'd'), (5, NULL), (6, 'f'), (8, 'h')");
  const pad = (where: string): string => `(${where}) OR (${Array.from({ length: 25 }, () => '1 = 0').join(' OR ')})`;
  for (const where of ['id > 2', "title = 'd'", 'title IS NULL', 'id IN (1, 4, 8)', '_seq > 0', "title LIKE '%'"]) {
    for (const tail of ['', 'ORDER BY id DESC', 'LIMIT 2', 'LIMIT 1 OFFSET 1', 'ORDER BY title LIMIT 2']) {
      const fast = await run(alice, `SELECT * FROM app.notes WHERE ${where} ${tail}`);
      const general = await run(alice, `SELECT * FROM app.notes WHERE ${pad(where)} ${tail}`);
      assert.deepEqual(fast, general, `WHERE ${where} ${tail}`);
    }
    const grouped = await run(alice, `SELECT COUNT(*) AS n FROM app.notes WHERE ${where}`);
    assert.deepEqual(grouped, await run(alice, `SELECT COUNT(*) AS n FROM app.notes WHERE ${pad(where)}`));
  }
  const message = async (sql: string): Promise<string> =>
    engine.execute(alice, sql).then(
      () => 'no error',
      (err: Error) => err.message,
    );
  for (const where of ['nope = 1', 'COUNT(*) > 1', 'NO_SUCH_FN(id) = 1']) {
    const fast = await message(`SELECT * FROM app.notes WHERE ${where}`);
    assert.notEqual(fast, 'no error', where);
    assert.equal(fast, await message(`SELECT * FROM app.notes WHERE ${pad(where)}`), where);
  }
  const shared = await run(root, 'SELECT * FROM app.config LIMIT 1');
  assert.deepEqual(shared, await run(root, 'SELECT * FROM app.config WHERE 1 = 1 LIMIT 1'));
  assert.equal(shared.row_count, 1);
  await assert.rejects(engine.execute(alice, 'SELECT COUNT(*) FROM app.nope'), /does not exist/);
});
