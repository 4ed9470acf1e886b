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
import type { AnyCommand, Session, UserDataCommand, UserDataStateMachine } from '../src/index.js';
import { NOTES, NOTES_DDL, SHARDING } from './support/notes.js';

test('a scope counted without reading its rows matches its rows, through hot, flushed and deleted versions', (t) => {
  const { machines, sm, apply } = aliceShard(t);
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
  const other = sameShardUser(machines, 'alice');
  apply({ ...base, userId: other, type: 'Insert', rows: [{ id: 1, body: 'z' }], seqBase: 150, at: 16 });
  assert.equal(sm.userRows('app.notes', other).length, 1, "the other user's row is there");
  same("another user's rows in the same shard");
  assert.equal(sm.userRowCount('app.notes', 'alice'), 4, 'ids 1, 3, 4, 9');
});

/** A user other than `user` whose rows live in the same user shard. */
function sameShardUser(machines: StateMachines, user: string): string {
  const shard = machines.router.userShard(user);
  for (let i = 0; i < 1_000; i++) if (machines.router.userShard(`u${i}`) === shard) return `u${i}`;
  throw new Error('no user in the same shard');
}

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

test('UPDATE and DELETE find their rows by key probe, by a filtered read, or by the merged scan alike', (t) => {
  const { machines, sm, apply } = aliceShard(t);
  const base = { tableId: 'app.notes', userId: 'alice', metaIndex: 2 } as const;
  const eq = (column: string, value: number | string) =>
    ({ kind: 'binary', op: '=', left: col(column), right: { kind: 'literal', value } }) as const;
  const gt = (value: number) => ({ kind: 'binary', op: '>', left: col('id'), right: lit(value) }) as const;
  const bodies = (): [unknown, unknown][] => sm.userRows('app.notes', 'alice').map((r) => [r['id'], r['body']]);
  apply({
    ...base,
    type: 'Insert',
    rows: [1, 2, 3, 4, 5].map((id) => ({ id, body: `b${id % 2}` })),
    seqBase: 10,
    at: 1,
  });
  const other = sameShardUser(machines, 'alice');
  apply({ ...base, userId: other, type: 'Insert', rows: [{ id: 1, body: 'b1' }], seqBase: 20, at: 2 });
  // Hot only: a filtered read, then a key probe, then a key probe that finds nothing.
  assert.deepEqual(
    apply({ ...base, type: 'Update', updates: { body: 'odd' }, filter: eq('body', 'b1'), seqBase: 30, at: 3 }),
    { type: 'RowsAffected', count: 3 },
  );
  assert.deepEqual(apply({ ...base, type: 'Delete', filter: eq('id', 2), seqBase: 40, at: 4 }), {
    type: 'RowsAffected',
    count: 1,
  });
  assert.deepEqual(apply({ ...base, type: 'Delete', filter: eq('id', 2), seqBase: 41, at: 5 }), {
    type: 'RowsAffected',
    count: 0,
  });
  assert.deepEqual(bodies(), [
    [1, 'odd'],
    [3, 'odd'],
    [4, 'b0'],
    [5, 'odd'],
  ]);
  // Flushed: the merged scan and the key probe over flushed versions.
  apply({ ...base, type: 'FlushRows', fileName: 'f-10-41.parquet', rowCount: 5, minSeq: 10, maxSeq: 41, at: 6 });
  assert.equal(machines.cold.filesOf(NOTES, 'alice').length, 1, 'the flush was applied');
  assert.deepEqual(apply({ ...base, type: 'Update', updates: { body: 'big' }, filter: gt(3), seqBase: 50, at: 7 }), {
    type: 'RowsAffected',
    count: 2,
  });
  assert.deepEqual(apply({ ...base, type: 'Delete', filter: eq('id', 1), seqBase: 60, at: 8 }), {
    type: 'RowsAffected',
    count: 1,
  });
  assert.deepEqual(
    apply({ ...base, type: 'Update', updates: { body: 'x' }, filter: eq('id', 2), seqBase: 70, at: 9 }),
    { type: 'RowsAffected', count: 0 },
  );
  assert.deepEqual(bodies(), [
    [3, 'odd'],
    [4, 'big'],
    [5, 'big'],
  ]);
  assert.deepEqual(
    sm.userRows('app.notes', other).map((r) => r['body']),
    ['b1'],
    "the other user's row untouched",
  );
});

/**
 * A replica over a temp folder (flushes write real files) with app.notes created, and alice's user shard with a
 * function that applies one command to it as its next entry and returns its response.
 */
function aliceShard(t: { after: (fn: () => void) => void }): {
  machines: StateMachines;
  sm: UserDataStateMachine;
  apply: (c: UserDataCommand) => unknown;
} {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-row-count-'));
  const machines = new StateMachines(DataStore.open(join(dir, 'data.db')), SHARDING, { dataDir: dir });
  t.after(() => {
    machines.store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  machines.system.apply(NOTES_DDL.map((c, i) => ({ index: i + 1, term: 1, kind: 'command', data: encodeCommand(c) })));
  const sm = machines.userShards[machines.router.userShard('alice')]!;
  const apply = (c: UserDataCommand): unknown => {
    const index = sm.appliedIndex() + 1;
    return sm.apply([{ index, term: 1, kind: 'command', data: encodeCommand(c as AnyCommand) }])[0];
  };
  return { machines, sm, apply };
}
