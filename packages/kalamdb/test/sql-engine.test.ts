// What this proves: the SQL engine speaks KalamDB's dialect end to end over a StandaloneExecutor on an in-memory
// data.db — DDL (namespaces, USER/SHARED/STREAM tables, ALTER, storages) and its errors, multi-row INSERT, UPDATE and
// DELETE counts, SELECT with WHERE/ORDER BY/LIMIT/COUNT(*), parameters and batches; that a USER table only shows the
// caller's rows and EXECUTE AS USER is the only way to write someone else's; role checks on DDL and user management;
// password hashing and authentication without user enumeration; that a statement applies whole or not at all; and
// that errors carry KalamDB's codes (INVALID_SQL with its position); schedules (CREATE / DROP / SHOW SCHEDULE,
// system.schedules) with their checks. How: one engine per test, a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataStore, KalamError, SqlEngine, StandaloneExecutor, StateMachines } from '../src/index.js';
import type { KalamErrorCode, QueryResult, Session } from '../src/index.js';

const root: Session = { userId: 'root', username: 'root', role: 'system' };
const alice: Session = { userId: 'alice', username: 'alice', role: 'user' };
const bob: Session = { userId: 'bob', username: 'bob', role: 'user' };
const svc: Session = { userId: 'svc', username: 'svc', role: 'service' };
const dba: Session = { userId: 'ann', username: 'ann', role: 'dba' };

function setup(): { engine: SqlEngine; machines: StateMachines; clock: { ms: number } } {
  const machines = new StateMachines(DataStore.open(':memory:'), { numUserShards: 4, numSharedShards: 1 });
  const clock = { ms: 1_700_000_000_000 };
  const engine = new SqlEngine({
    executor: new StandaloneExecutor(machines),
    machines,
    nodeId: 1,
    now: () => clock.ms,
  });
  return { engine, machines, clock };
}

async function one(engine: SqlEngine, session: Session, sql: string, params?: unknown[]): Promise<QueryResult> {
  const results = await engine.execute(session, sql, params === undefined ? {} : { params });
  assert.equal(results.length, 1);
  return results[0]!;
}

async function rejects(p: Promise<unknown>, code: KalamErrorCode, message?: RegExp): Promise<KalamError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KalamError, `expected a KalamError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

async function withApp(engine: SqlEngine): Promise<void> {
  await engine.execute(
    root,
    `CREATE NAMESPACE app;
     CREATE USER TABLE app.notes (id BIGINT PRIMARY KEY, title TEXT NOT NULL, n INT DEFAULT 7, at TIMESTAMP DEFAULT NOW());
     CREATE SHARED TABLE app.config (key TEXT PRIMARY KEY, value TEXT) WITH (ACCESS_LEVEL = 'PUBLIC');
     CREATE STREAM TABLE app.events (id BIGINT PRIMARY KEY, kind TEXT) WITH (TTL_SECONDS = 60)`,
  );
  for (const name of ['alice', 'bob', 'svc', 'ann']) {
    const role = name === 'svc' ? 'service' : name === 'ann' ? 'dba' : 'user';
    await one(engine, root, `CREATE USER '${name}' WITH PASSWORD 'pw-${name}' ROLE ${role}`);
  }
}

test('DDL: namespaces, the three table types, SHOW, DESCRIBE, ALTER, DROP', async () => {
  const { engine } = setup();
  const ddl = await engine.execute(root, 'CREATE NAMESPACE app; CREATE NAMESPACE IF NOT EXISTS app');
  assert.deepEqual(
    ddl.map((r) => [r.row_count, r.message]),
    [
      [0, 'Namespace app created'],
      [0, 'Namespace app already exists'],
    ],
  );
  await rejects(engine.execute(root, 'CREATE NAMESPACE app'), 'ALREADY_EXISTS');
  await withApp(engine).catch(() => undefined); // namespace exists already: the batch stops at its first statement
  await engine.execute(
    root,
    `CREATE USER TABLE app.notes (id BIGINT PRIMARY KEY, title TEXT NOT NULL, n INT DEFAULT 7);
     CREATE SHARED TABLE app.config (key TEXT PRIMARY KEY, value TEXT);
     CREATE STREAM TABLE app.events (id BIGINT PRIMARY KEY) WITH (TTL_SECONDS = 60)`,
  );
  const tables = await one(engine, alice, 'SHOW TABLES IN app');
  assert.deepEqual(
    tables.rows.map((r) => [r[1], r[2]]),
    [
      ['config', 'SHARED'],
      ['events', 'STREAM'],
      ['notes', 'USER'],
    ],
  );
  const ns = await one(engine, alice, 'SHOW NAMESPACES');
  assert.deepEqual(
    ns.rows.map((r) => [r[0], r[1]]),
    [['app', 3]],
  );
  const desc = await one(engine, alice, 'DESCRIBE TABLE app.notes');
  assert.deepEqual(desc.schema.map((c) => c.name).slice(0, 4), [
    'column_name',
    'data_type',
    'is_nullable',
    'is_primary_key',
  ]);
  assert.deepEqual(
    desc.rows.map((r) => r.slice(0, 5)),
    [
      ['id', 'BigInt', false, true, null],
      ['title', 'Text', false, false, null],
      ['n', 'Int', true, false, '7'],
    ],
  );
  await one(engine, root, 'ALTER TABLE app.notes ADD COLUMN tag TEXT');
  assert.equal((await one(engine, root, 'DESCRIBE TABLE app.notes')).row_count, 4);
  await rejects(engine.execute(root, 'ALTER TABLE app.notes ADD COLUMN tag TEXT'), 'ALREADY_EXISTS');
  await rejects(engine.execute(root, 'CREATE TABLE app.notes (id BIGINT PRIMARY KEY)'), 'ALREADY_EXISTS');
  assert.match(
    (await one(engine, root, 'CREATE TABLE IF NOT EXISTS app.notes (id BIGINT PRIMARY KEY)')).message ?? '',
    /exists/,
  );
  await rejects(engine.execute(root, 'CREATE TABLE nope.t (id BIGINT PRIMARY KEY)'), 'NAMESPACE_NOT_FOUND');
  await rejects(
    engine.execute(root, 'CREATE STREAM TABLE app.s (id BIGINT PRIMARY KEY)'),
    'INVALID_SQL',
    /TTL_SECONDS/,
  );
  await rejects(engine.execute(root, 'DROP TABLE app.missing'), 'TABLE_NOT_FOUND');
  await rejects(engine.execute(root, 'DESCRIBE TABLE app.missing'), 'TABLE_NOT_FOUND');
  await rejects(engine.execute(root, 'DROP NAMESPACE app'), 'SQL_EXECUTION_ERROR', /CASCADE/);
  await one(engine, root, 'DROP TABLE app.events');
  await one(engine, root, 'DROP NAMESPACE app CASCADE');
  assert.equal((await one(engine, root, 'SHOW NAMESPACES')).row_count, 0);
  await rejects(engine.execute(root, 'SELECT * FROM app.notes'), 'TABLE_NOT_FOUND');
  await one(engine, root, 'DROP NAMESPACE IF EXISTS app');
});

test('storages: CREATE, SHOW, DROP', async () => {
  const { engine } = setup();
  await one(engine, root, "CREATE STORAGE cold TYPE 'filesystem' PATH '/tmp/kalam-cold'");
  assert.deepEqual((await one(engine, root, 'SHOW STORAGES')).rows, [['cold', 'filesystem', '/tmp/kalam-cold']]);
  await rejects(engine.execute(root, "CREATE STORAGE cold TYPE 'filesystem' PATH '/x'"), 'ALREADY_EXISTS');
  await rejects(engine.execute(root, "CREATE STORAGE s3 TYPE 's3' PATH 'bucket'"), 'INVALID_SQL', /not supported yet/);
  await engine.execute(
    root,
    "CREATE NAMESPACE app; CREATE SHARED TABLE app.t (id INT PRIMARY KEY) WITH (STORAGE_ID = 'cold')",
  );
  await rejects(engine.execute(root, 'DROP STORAGE cold'), 'SQL_EXECUTION_ERROR', /used by app\.t/);
  await rejects(
    engine.execute(root, "CREATE SHARED TABLE app.u (id INT PRIMARY KEY) WITH (STORAGE_ID = 'nope')"),
    'SQL_EXECUTION_ERROR',
  );
  await engine.execute(root, 'DROP TABLE app.t; DROP STORAGE cold');
  assert.equal((await one(engine, root, 'SHOW STORAGES')).row_count, 0);
});

test('INSERT (multi-row, defaults), UPDATE and DELETE counts, SELECT with WHERE / ORDER BY / LIMIT / COUNT(*)', async () => {
  const { engine, clock } = setup();
  await withApp(engine);
  const ins = await one(
    engine,
    alice,
    "INSERT INTO app.notes (id, title) VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four')",
  );
  assert.equal(ins.row_count, 4);
  const all = await one(engine, alice, 'SELECT * FROM app.notes ORDER BY id');
  assert.deepEqual(
    all.schema.map((c) => [c.name, c.data_type, c.index]),
    [
      ['id', 'BigInt', 0],
      ['title', 'Text', 1],
      ['n', 'Int', 2],
      ['at', 'Timestamp', 3],
    ],
  );
  assert.deepEqual(all.rows[0], [1, 'one', 7, clock.ms]); // literal default from the state machine, NOW() from the planner
  const upd = await one(engine, alice, "UPDATE app.notes SET n = 1 WHERE id >= 3 OR title = 'one'");
  assert.equal(upd.row_count, 3);
  const del = await one(engine, alice, 'DELETE FROM app.notes WHERE id = 2');
  assert.equal(del.row_count, 1);
  assert.equal((await one(engine, alice, 'DELETE FROM app.notes WHERE id = 2')).row_count, 0);
  const sel = await one(engine, alice, 'SELECT title AS t, n FROM app.notes WHERE n = 1 ORDER BY t DESC LIMIT 2');
  assert.deepEqual(
    sel.schema.map((c) => c.name),
    ['t', 'n'],
  );
  assert.deepEqual(sel.rows, [
    ['three', 1],
    ['one', 1],
  ]);
  assert.deepEqual((await one(engine, alice, 'SELECT id FROM app.notes ORDER BY id LIMIT 1 OFFSET 1')).rows, [[3]]);
  const count = await one(engine, alice, 'SELECT COUNT(*) AS total FROM app.notes');
  assert.deepEqual(count.schema, [{ name: 'total', data_type: 'BigInt', index: 0 }]);
  assert.deepEqual(count.rows, [[3]]);
  const seq = await one(engine, alice, 'SELECT id, _seq FROM app.notes ORDER BY _seq');
  assert.equal(seq.schema[1]?.name, '_seq');
  assert.ok(seq.rows.every((r) => typeof r[1] === 'number'));
  assert.ok(!all.schema.some((c) => c.name === '_seq'), '_seq shows only when selected');
  await rejects(engine.execute(alice, 'SELECT nope FROM app.notes'), 'SQL_EXECUTION_ERROR', /column nope/);
  await rejects(engine.execute(alice, 'SELECT * FROM notes'), 'INVALID_SQL', /namespace/);
});

test('UPDATE … SET col = expression over the row: each row from its own old values, atomic, type-checked', async () => {
  const { engine } = setup();
  await withApp(engine);
  await one(engine, alice, "INSERT INTO app.notes (id, title, n) VALUES (1, 'a', 1), (2, 'b', 10), (3, 'c', NULL)");
  await one(engine, bob, "INSERT INTO app.notes (id, title, n) VALUES (1, 'bob', 100)");
  const inc = await one(engine, alice, 'UPDATE app.notes SET n = n + 1 WHERE id <= 2');
  assert.equal(inc.row_count, 2);
  // Every SET expression sees the row before the statement: `at` takes the old n.
  await one(engine, alice, 'UPDATE app.notes SET n = n * 2, "at" = n WHERE id = 2');
  // NULL arithmetic is NULL (the row still counts as updated); a parameter mixes with a column.
  assert.equal((await one(engine, alice, 'UPDATE app.notes SET n = n + $1 WHERE id = 3', [5])).row_count, 1);
  assert.deepEqual((await one(engine, alice, 'SELECT id, n FROM app.notes ORDER BY id')).rows, [
    [1, 2],
    [2, 22],
    [3, null],
  ]);
  assert.deepEqual((await one(engine, alice, 'SELECT "at" FROM app.notes WHERE id = 2')).rows, [[11]]);
  assert.deepEqual((await one(engine, bob, 'SELECT n FROM app.notes')).rows, [[100]], "bob's row is untouched");
  // A value the column cannot hold refuses the whole statement: no row changes.
  await rejects(engine.execute(alice, 'UPDATE app.notes SET n = title'), 'SQL_EXECUTION_ERROR', /SET n|INT/);
  assert.deepEqual((await one(engine, alice, 'SELECT n FROM app.notes ORDER BY id')).rows, [[2], [22], [null]]);
  await rejects(engine.execute(alice, 'UPDATE app.notes SET n = nope + 1'), 'SQL_EXECUTION_ERROR', /column nope/);
  await rejects(engine.execute(alice, 'UPDATE app.notes SET n = 1, n = n + 1'), 'SQL_EXECUTION_ERROR', /twice/);
  await rejects(engine.execute(alice, 'UPDATE app.notes SET id = id + 1'), 'SQL_EXECUTION_ERROR', /primary key/);
});

test('GROUP BY and HAVING: one row per group, NULLs grouped together, PostgreSQL rule for plain columns', async () => {
  const { engine } = setup();
  await withApp(engine);
  await one(
    engine,
    alice,
    "INSERT INTO app.notes (id, title, n) VALUES (1, 'a', 1), (2, 'b', 1), (3, 'c', 2), (4, 'd', NULL)",
  );
  await one(engine, bob, "INSERT INTO app.notes (id, title, n) VALUES (9, 'bob', 1)");
  const rows = async (sql: string) => (await one(engine, alice, sql)).rows;
  assert.deepEqual(await rows('SELECT n, COUNT(*) AS c FROM app.notes GROUP BY n ORDER BY n'), [
    [1, 2],
    [2, 1],
    [null, 1],
  ]);
  assert.deepEqual(await rows('SELECT n, COUNT(*) FROM app.notes GROUP BY n HAVING COUNT(*) > 1'), [[1, 2]]);
  assert.deepEqual(await rows('SELECT n, SUM(id) AS s FROM app.notes GROUP BY n ORDER BY s DESC, n LIMIT 2'), [
    [null, 4],
    [1, 3],
  ]);
  assert.deepEqual(await rows('SELECT n, MAX(title), MIN(id) FROM app.notes WHERE id > 1 GROUP BY n ORDER BY n'), [
    [1, 'b', 2],
    [2, 'c', 3],
    [null, 'd', 4],
  ]);
  assert.deepEqual(await rows('SELECT COUNT(*) + 1 AS next FROM app.notes'), [[5]]);
  assert.deepEqual(await rows('SELECT COUNT(*) FROM app.notes WHERE id > 100'), [[0]], 'one group of no rows');
  assert.deepEqual(await rows('SELECT n, COUNT(*) FROM app.notes WHERE id > 100 GROUP BY n'), [], 'no groups');
  const schema = (await one(engine, alice, 'SELECT n, COUNT(*) AS c FROM app.notes GROUP BY n')).schema;
  assert.deepEqual(
    schema.map((c) => [c.name, c.data_type]),
    [
      ['n', 'Int'],
      ['c', 'BigInt'],
    ],
  );
  await rejects(
    engine.execute(alice, 'SELECT title, COUNT(*) FROM app.notes GROUP BY n'),
    'SQL_EXECUTION_ERROR',
    /column title must appear in the GROUP BY clause/,
  );
  await rejects(
    engine.execute(alice, 'SELECT title, COUNT(*) FROM app.notes'),
    'SQL_EXECUTION_ERROR',
    /column title must appear in the GROUP BY clause/,
  );
  await rejects(engine.execute(alice, 'SELECT n FROM app.notes GROUP BY nope'), 'SQL_EXECUTION_ERROR', /column nope/);
});

test('default namespace: namespace option and USE within a batch', async () => {
  const { engine } = setup();
  await withApp(engine);
  await engine.execute(alice, "INSERT INTO notes (id, title) VALUES (1, 'x')", { namespace: 'app' });
  const [, sel] = await engine.execute(alice, 'USE app; SELECT COUNT(*) FROM notes');
  assert.deepEqual(sel?.rows, [[1]]);
  assert.equal(sel?.schema[0]?.name, 'COUNT(*)');
  await rejects(engine.execute(alice, 'USE nope'), 'NAMESPACE_NOT_FOUND');
});

test('params bind into one statement; params with a batch are PARAMS_WITH_BATCH; batches run in order', async () => {
  const { engine } = setup();
  await withApp(engine);
  await one(engine, alice, 'INSERT INTO app.notes (id, title) VALUES ($1, $2), ($3, $4)', [1, 'a', 2, 'b']);
  assert.deepEqual((await one(engine, alice, 'SELECT title FROM app.notes WHERE id = $1', [2])).rows, [['b']]);
  await rejects(engine.execute(alice, 'SELECT * FROM app.notes WHERE id = $1'), 'INVALID_SQL', /placeholder/);
  await rejects(
    engine.execute(alice, 'SELECT 1 FROM app.notes; SELECT 2 FROM app.notes', { params: [1] }),
    'PARAMS_WITH_BATCH',
  );
  const results = await engine.execute(
    alice,
    "INSERT INTO app.notes (id, title) VALUES (3, 'c'); UPDATE app.notes SET title = 'C' WHERE id = 3; SELECT title FROM app.notes WHERE id = 3",
  );
  assert.deepEqual(
    results.map((r) => r.row_count),
    [1, 1, 1],
  );
  assert.deepEqual(results[2]?.rows, [['C']]);
  const err = await rejects(
    engine.execute(
      alice,
      "INSERT INTO app.notes (id, title) VALUES (4, 'd'); SELECT * FROM app.missing; INSERT INTO app.notes (id, title) VALUES (5, 'e')",
    ),
    'TABLE_NOT_FOUND',
    /^statement 2 of 3/,
  );
  assert.equal(err.httpStatus, 404);
  // The first statement stays applied, the third never ran.
  assert.deepEqual((await one(engine, alice, 'SELECT id FROM app.notes WHERE id >= 4')).rows, [[4]]);
});

test('user isolation: USER tables show only the caller rows; EXECUTE AS USER for service, not user', async () => {
  const { engine } = setup();
  await withApp(engine);
  await one(engine, alice, "INSERT INTO app.notes (id, title) VALUES (1, 'alice secret')");
  await one(engine, bob, "INSERT INTO app.notes (id, title) VALUES (1, 'bob note'), (2, 'bob two')");
  assert.deepEqual((await one(engine, alice, 'SELECT title FROM app.notes')).rows, [['alice secret']]);
  assert.deepEqual((await one(engine, bob, 'SELECT COUNT(*) FROM app.notes')).rows, [[2]]);
  // Alice's filters and deletes never reach bob's rows.
  assert.equal((await one(engine, alice, "DELETE FROM app.notes WHERE title = 'bob note'")).row_count, 0);
  assert.equal((await one(engine, root, 'SELECT COUNT(*) FROM app.notes')).rows[0]?.[0], 0);
  await rejects(engine.execute(alice, "EXECUTE AS USER 'bob' (SELECT * FROM app.notes)"), 'PERMISSION_DENIED');
  const asBob = await one(
    engine,
    svc,
    "EXECUTE AS USER 'bob' (INSERT INTO app.notes (id, title) VALUES (3, 'from svc'))",
  );
  assert.equal(asBob.as_user, 'bob');
  assert.equal(asBob.row_count, 1);
  assert.deepEqual((await one(engine, bob, 'SELECT title FROM app.notes WHERE id = 3')).rows, [['from svc']]);
  assert.equal((await one(engine, svc, 'SELECT COUNT(*) FROM app.notes')).rows[0]?.[0], 0);
  await rejects(engine.execute(svc, "EXECUTE AS USER 'ann' (SELECT * FROM app.notes)"), 'PERMISSION_DENIED', /dba/);
  await rejects(engine.execute(svc, "EXECUTE AS USER 'nobody' (SELECT * FROM app.notes)"), 'SQL_EXECUTION_ERROR');
  await rejects(engine.execute(svc, "EXECUTE AS USER 'bob' (DROP TABLE app.notes)"), 'INVALID_SQL');
  // STREAM tables are per user as well.
  await one(engine, alice, "INSERT INTO app.events (id, kind) VALUES (1, 'typing')");
  assert.equal((await one(engine, bob, 'SELECT COUNT(*) FROM app.events')).rows[0]?.[0], 0);
});

test('shared tables: every role reads a PUBLIC one, only service and up write; PRIVATE is service and up', async () => {
  const { engine } = setup();
  await withApp(engine);
  await one(engine, svc, "INSERT INTO app.config (key, value) VALUES ('theme', 'dark')");
  assert.deepEqual((await one(engine, alice, 'SELECT value FROM app.config')).rows, [['dark']]);
  assert.deepEqual((await one(engine, bob, 'SELECT key FROM app.config')).rows, [['theme']]);
  await rejects(engine.execute(alice, "INSERT INTO app.config (key, value) VALUES ('x', 'y')"), 'PERMISSION_DENIED');
  await one(engine, root, 'CREATE SHARED TABLE app.secrets (k TEXT PRIMARY KEY, v TEXT)');
  await rejects(engine.execute(alice, 'SELECT * FROM app.secrets'), 'PERMISSION_DENIED', /PRIVATE/);
  assert.equal((await one(engine, svc, 'SELECT COUNT(*) FROM app.secrets')).rows[0]?.[0], 0);
  assert.equal((await one(engine, svc, "UPDATE app.config SET value = 'light' WHERE key = 'theme'")).row_count, 1);
});

test('permissions: DDL and user management need dba or system; a user may change its own password', async () => {
  const { engine } = setup();
  await engine.bootstrap('root-pw');
  await withApp(engine);
  for (const s of [alice, svc]) {
    for (const sql of [
      'CREATE NAMESPACE other',
      'DROP NAMESPACE app CASCADE',
      'CREATE TABLE app.x (id INT PRIMARY KEY)',
      'DROP TABLE app.notes',
      'ALTER TABLE app.notes ADD COLUMN z TEXT',
      "CREATE STORAGE s TYPE 'filesystem' PATH '/tmp/s'",
      "CREATE USER 'eve' WITH PASSWORD 'x' ROLE dba",
      "ALTER USER 'bob' SET ROLE dba",
      "DROP USER 'bob'",
    ]) {
      await rejects(engine.execute(s, sql), 'PERMISSION_DENIED', undefined);
    }
  }
  await one(engine, dba, 'CREATE NAMESPACE other');
  await one(engine, dba, "CREATE USER 'carol' WITH PASSWORD 'pw' ROLE service");
  await rejects(engine.execute(dba, "CREATE USER 'god' WITH PASSWORD 'pw' ROLE system"), 'PERMISSION_DENIED');
  await rejects(engine.execute(dba, "ALTER USER 'root' SET PASSWORD 'mine'"), 'PERMISSION_DENIED');
  await rejects(engine.execute(dba, "CREATE USER 'carol' WITH PASSWORD 'pw'"), 'ALREADY_EXISTS');
  await one(engine, alice, "ALTER USER 'alice' SET PASSWORD 'new-secret'");
  const session = await engine.authenticate('alice', 'new-secret');
  assert.deepEqual(session, alice);
  await rejects(engine.authenticate('alice', 'pw-alice'), 'UNAUTHORIZED');
  await rejects(engine.execute(alice, "ALTER USER 'alice' SET ROLE dba"), 'PERMISSION_DENIED');
  await one(engine, dba, "ALTER USER 'bob' SET ROLE service");
  assert.equal((await engine.authenticate('bob', 'pw-bob')).role, 'service');
  await one(engine, dba, "DROP USER 'carol'");
  await rejects(engine.authenticate('carol', 'pw'), 'UNAUTHORIZED');
  await one(engine, dba, "DROP USER IF EXISTS 'carol'");
  await rejects(engine.execute(dba, "DROP USER 'carol'"), 'SQL_EXECUTION_ERROR');
  // A dropped name can be created again.
  await one(engine, dba, "CREATE USER 'carol' WITH PASSWORD 'again' ROLE user");
  assert.equal((await engine.authenticate('carol', 'again')).role, 'user');
});

test('root keeps the system role: ALTER USER root SET ROLE is refused, even when root asks', async () => {
  // Root can never be dropped; demoting it locked every system-only statement out for good (ensureRoot leaves an
  // existing root as it is), so its role is as fixed as its existence.
  const { engine } = setup();
  await engine.bootstrap('root-pw');
  for (const role of ['user', 'service', 'dba']) {
    await rejects(engine.execute(root, `ALTER USER 'root' SET ROLE ${role}`), 'SQL_EXECUTION_ERROR', /root/);
  }
  assert.equal((await engine.authenticate('root', 'root-pw')).role, 'system');
  await one(engine, root, "ALTER USER 'root' SET ROLE system");
  await one(engine, root, "ALTER USER 'root' SET PASSWORD 'root-pw-2'");
  assert.equal((await engine.authenticate('root', 'root-pw-2')).role, 'system');
});

test('system tables: system.users hides hashes; namespaces/tables for everyone, the rest for dba and system', async () => {
  const { engine, machines } = setup();
  await engine.bootstrap('root-pw');
  await withApp(engine);
  const usersResult = await one(engine, dba, 'SELECT * FROM system.users ORDER BY username');
  assert.deepEqual(
    usersResult.schema.map((c) => c.name),
    ['user_id', 'username', 'role', 'created_at', 'updated_at', 'deleted_at', 'locked_until', 'last_login_at'],
  );
  assert.deepEqual(
    usersResult.rows.map((r) => r[1]),
    ['alice', 'ann', 'bob', 'root', 'svc'],
  );
  const text = JSON.stringify(usersResult);
  assert.ok(!text.includes('scrypt$'), 'no password hash in system.users');
  assert.ok(machines.users.byName('alice')?.passwordHash.startsWith('scrypt$16384$8$1$'));
  await rejects(engine.execute(dba, 'SELECT password_hash FROM system.users'), 'SQL_EXECUTION_ERROR');
  await rejects(engine.execute(alice, 'SELECT * FROM system.users'), 'PERMISSION_DENIED');
  assert.equal(
    (await one(engine, alice, "SELECT table_name FROM system.tables WHERE table_type = 'USER'")).rows[0]?.[0],
    'notes',
  );
  assert.deepEqual((await one(engine, alice, 'SELECT namespace_id FROM system.namespaces')).rows, [['app']]);
  assert.equal((await one(engine, root, 'SELECT COUNT(*) FROM system.jobs')).rows[0]?.[0], 0);
  assert.equal((await one(engine, root, 'SELECT * FROM system.live_queries')).row_count, 0);
  const nodes = await one(engine, root, 'SELECT node_id, is_up FROM system.cluster_nodes');
  assert.deepEqual(nodes.rows, [[1, true]]);
  assert.equal((await one(engine, root, 'SELECT * FROM system.cluster_groups')).row_count, 0);
  await rejects(engine.execute(root, 'SELECT * FROM system.nothing'), 'TABLE_NOT_FOUND');
});

test('cluster views come from the clusterView option', async () => {
  const machines = new StateMachines(DataStore.open(':memory:'), { numUserShards: 2, numSharedShards: 1 });
  const engine = new SqlEngine({
    executor: new StandaloneExecutor(machines),
    machines,
    nodeId: 2,
    clusterView: () => ({
      nodes: [
        { nodeId: 1, apiUrl: 'http://a', rpcAddr: 'a:1', up: true },
        { nodeId: 2, apiUrl: 'http://b', rpcAddr: 'b:1', up: false },
      ],
      groups: [
        { name: 'meta:system', nodeId: 2, role: 'follower', leader: 1, term: 3, commitIndex: 9, appliedIndex: 8 },
      ],
    }),
  });
  const nodes = await one(engine, root, 'SELECT node_id, is_self FROM system.cluster_nodes WHERE is_up = false');
  assert.deepEqual(nodes.rows, [[2, true]]);
  const groups = await one(
    engine,
    root,
    'SELECT group_name, leader_id, term, commit_index, applied_index FROM system.cluster_groups',
  );
  assert.deepEqual(groups.rows, [['meta:system', 1, 3, 9, 8]]);
});

test('authenticate: ok, wrong password and unknown user give the same error; bootstrap is idempotent', async () => {
  const { engine, machines, clock } = setup();
  await engine.bootstrap('s3cret');
  const hash = machines.users.byName('root')?.passwordHash;
  await engine.bootstrap('other-password');
  assert.equal(machines.users.byName('root')?.passwordHash, hash, 'a second bootstrap changes nothing');
  assert.deepEqual(await engine.authenticate('root', 's3cret'), root);
  const wrong = await rejects(engine.authenticate('root', 'nope'), 'UNAUTHORIZED');
  const unknown = await rejects(engine.authenticate('mallory', 's3cret'), 'UNAUTHORIZED');
  assert.equal(wrong.message, unknown.message);
  assert.equal(wrong.httpStatus, 401);
  await new StandaloneExecutor(machines).executeUsers({
    type: 'SetLocked',
    userId: 'root',
    lockedUntil: clock.ms + 60_000,
    updatedAt: clock.ms,
  });
  const locked = await rejects(engine.authenticate('root', 's3cret'), 'UNAUTHORIZED');
  assert.equal(locked.message, wrong.message);
  clock.ms += 120_000; // the lock expires
  assert.deepEqual(await engine.authenticate('root', 's3cret'), root);
});

test('atomicity: a failing multi-row INSERT writes nothing', async () => {
  const { engine } = setup();
  await withApp(engine);
  await one(engine, alice, "INSERT INTO app.notes (id, title) VALUES (1, 'one')");
  await rejects(
    engine.execute(alice, "INSERT INTO app.notes (id, title) VALUES (2, 'two'), (3, NULL)"),
    'SQL_EXECUTION_ERROR',
    /null/,
  );
  await rejects(
    engine.execute(alice, "INSERT INTO app.notes (id, title) VALUES (4, 'four'), (1, 'dup')"),
    'SQL_EXECUTION_ERROR',
    /duplicate/,
  );
  assert.deepEqual((await one(engine, alice, 'SELECT id FROM app.notes ORDER BY id')).rows, [[1]]);
  await rejects(engine.execute(alice, "INSERT INTO app.notes (id, title) VALUES ('x', 'y')"), 'SQL_EXECUTION_ERROR');
  await rejects(engine.execute(alice, 'INSERT INTO app.notes (id, nope) VALUES (9, 1)'), 'SQL_EXECUTION_ERROR', /nope/);
  await rejects(engine.execute(alice, 'INSERT INTO app.notes (id, title) VALUES (9)'), 'INVALID_SQL');
});

test('errors: INVALID_SQL with the position, EMPTY_SQL, BATCH_PARSE_ERROR, unsupported statements', async () => {
  const { engine } = setup();
  const err = await rejects(engine.execute(root, 'SELECT * FROM t WHERE'), 'INVALID_SQL');
  assert.deepEqual(err.details, { position: { line: 1, column: 22, offset: 21 } });
  assert.equal(err.httpStatus, 400);
  await rejects(engine.execute(root, '  ;  '), 'EMPTY_SQL');
  const batch = await rejects(engine.execute(root, 'SHOW NAMESPACES; SELEC 1'), 'BATCH_PARSE_ERROR');
  assert.deepEqual(batch.details, { position: { line: 1, column: 18, offset: 17 } });
  await rejects(
    engine.execute(root, 'CREATE NAMESPACE app; CREATE NAMESPACE app'),
    'ALREADY_EXISTS',
    /^statement 2 of 2/,
  );
});

test('planning: data commands carry metaIndex, increasing seqBase and the clock', async () => {
  const { machines, clock } = setup();
  const seen: { metaIndex: number; seqBase: number; at: number }[] = [];
  const inner = new StandaloneExecutor(machines);
  const executor = Object.assign(Object.create(inner) as StandaloneExecutor, {
    executeUserData: (userId: string, cmd: Parameters<StandaloneExecutor['executeUserData']>[1]) => {
      if ('seqBase' in cmd) seen.push({ metaIndex: cmd.metaIndex, seqBase: cmd.seqBase, at: cmd.at });
      return inner.executeUserData(userId, cmd);
    },
  });
  const engine = new SqlEngine({ executor, machines, nodeId: 3, now: () => clock.ms });
  await withApp(engine);
  await one(engine, alice, "INSERT INTO app.notes (id, title) VALUES (1, 'a'), (2, 'b')");
  clock.ms -= 10; // the clock steps back: _seq keeps increasing
  await one(engine, alice, "INSERT INTO app.notes (id, title) VALUES (3, 'c')");
  await one(engine, alice, "UPDATE app.notes SET title = 'z'");
  assert.equal(seen.length, 3);
  assert.ok(seen.every((s) => s.metaIndex === machines.system.appliedIndex()));
  assert.ok(seen[1]!.seqBase >= seen[0]!.seqBase + 2);
  assert.ok(seen[2]!.seqBase > seen[1]!.seqBase);
  assert.equal(seen[1]!.at, clock.ms);
  const seqs = (await one(engine, alice, 'SELECT _seq FROM app.notes ORDER BY id')).rows.map((r) => r[0] as number);
  assert.equal(new Set(seqs).size, 3);
});

test("a re-created user gets a fresh id and does not inherit the dropped user's rows", async () => {
  const { engine } = setup();
  await engine.bootstrap('root-pw');
  await one(engine, root, 'CREATE NAMESPACE app');
  await one(engine, root, 'CREATE USER TABLE app.notes (id BIGINT PRIMARY KEY, body TEXT)');
  await one(engine, root, "CREATE USER 'dave' WITH PASSWORD 'pw1' ROLE user");
  const first = await engine.authenticate('dave', 'pw1');
  assert.equal(first.userId, 'dave');
  await one(engine, first, "INSERT INTO app.notes (id, body) VALUES (1, 'secret')");
  await one(engine, root, "DROP USER 'dave'");
  await one(engine, root, "CREATE USER 'dave' WITH PASSWORD 'pw2' ROLE user");
  const second = await engine.authenticate('dave', 'pw2');
  assert.notEqual(second.userId, first.userId, 'a new id');
  const rows = await one(engine, second, 'SELECT * FROM app.notes');
  assert.equal(rows.row_count, 0, "the dropped user's rows stay with the dropped id");
});

test('point reads by primary key (the index path) answer exactly what a scan would', async () => {
  const { engine } = setup();
  await engine.bootstrap('root-pw');
  await one(engine, root, 'CREATE NAMESPACE app');
  await one(engine, root, 'CREATE USER TABLE app.p (id BIGINT PRIMARY KEY, v TEXT)');
  await one(engine, root, "CREATE SHARED TABLE app.s (id BIGINT PRIMARY KEY, v TEXT) WITH (ACCESS_LEVEL='PUBLIC')");
  for (const table of ['app.p', 'app.s']) {
    await one(engine, root, `INSERT INTO ${table} (id, v) VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
    await one(engine, root, `DELETE FROM ${table} WHERE id = 3`);
    assert.deepEqual((await one(engine, root, `SELECT v FROM ${table} WHERE id = 2`)).rows, [['b']]);
    assert.deepEqual((await one(engine, root, `SELECT v FROM ${table} WHERE 2 = id`)).rows, [['b']]);
    assert.deepEqual((await one(engine, root, `SELECT v FROM ${table} WHERE id = $1`, [1])).rows, [['a']]);
    assert.deepEqual(
      (await one(engine, root, `SELECT v FROM ${table} WHERE id = 3`)).rows,
      [],
      'a deleted row stays hidden',
    );
    assert.deepEqual((await one(engine, root, `SELECT v FROM ${table} WHERE id = 9`)).rows, []);
    assert.deepEqual((await one(engine, root, `SELECT v FROM ${table} WHERE id = 2 AND v = 'x'`)).rows, []);
  }
  // Another user's row with the same key is not the caller's.
  assert.deepEqual((await one(engine, alice, 'SELECT v FROM app.p WHERE id = 2')).rows, []);
});

test('schedules: CREATE / SHOW / DROP SCHEDULE, system.schedules, permissions, cron and target checks', async () => {
  const { engine, machines, clock } = setup();
  await engine.bootstrap('root-pw');
  await withApp(engine);
  const created = await one(engine, dba, "CREATE SCHEDULE 'nightly_flush' CRON '0 3 * * *' FLUSH TABLE app.notes");
  // The clock is 2023-11-14T22:13:20Z: the next 03:00 UTC is the next morning.
  const nextRun = Date.UTC(2023, 10, 15, 3, 0, 0);
  assert.equal(
    created.message,
    "Schedule nightly_flush created: FLUSH TABLE app.notes at '0 3 * * *' (UTC), next run 2023-11-15T03:00:00.000Z",
  );
  await one(engine, root, "CREATE SCHEDULE IF NOT EXISTS hourly CRON '0 0 * * * *' FLUSH ALL TABLES IN app");
  await engine.execute(root, "USE app; CREATE SCHEDULE compact_notes CRON '@daily' COMPACT TABLE notes");
  await one(engine, root, "CREATE SCHEDULE purge CRON '30 4 * * 0' RETENTION TABLE app.events");
  await one(engine, root, "CREATE SCHEDULE everything CRON '0 5 * * *' RETENTION");
  await one(engine, root, "CREATE SCHEDULE all_flush CRON '0 6 * * *' FLUSH ALL TABLES");
  assert.deepEqual(
    machines.jobs.schedules().map((s) => [s.scheduleId, s.jobType, s.cronExpression, s.config]),
    [
      ['all_flush', 'flush', '0 6 * * *', null],
      ['compact_notes', 'compaction', '@daily', '{"table":"app.notes"}'],
      ['everything', 'retention', '0 5 * * *', null],
      ['hourly', 'flush', '0 0 * * * *', '{"namespace":"app"}'],
      ['nightly_flush', 'flush', '0 3 * * *', '{"table":"app.notes"}'],
      ['purge', 'retention', '30 4 * * 0', '{"table":"app.events"}'],
    ],
  );

  // A job the leader fired for nightly_flush (its id carries the due time) shows as last_fired_at.
  const executor = new StandaloneExecutor(machines);
  await executor.executeJobs({
    type: 'CreateJob',
    jobId: `nightly_flush@${nextRun}`,
    jobType: 'flush',
    namespaceId: 'app',
    tableName: 'notes',
    config: { table: 'app.notes', schedule: 'nightly_flush' },
    createdAt: nextRun,
  });
  clock.ms = nextRun + 1_000;
  const show = await one(engine, dba, 'SHOW SCHEDULES');
  assert.deepEqual(
    show.schema.map((c) => `${c.name}:${c.data_type}`),
    [
      'schedule_id:Text',
      'job_type:Text',
      'cron:Text',
      'target:Text',
      'config:Json',
      'created_at:Timestamp',
      'next_run_at:Timestamp',
      'last_fired_at:Timestamp',
    ],
  );
  const nightly = show.rows.find((r) => r[0] === 'nightly_flush');
  assert.deepEqual(nightly, [
    'nightly_flush',
    'flush',
    '0 3 * * *',
    'app.notes',
    '{"table":"app.notes"}',
    1_700_000_000_000,
    nextRun + 24 * 3600 * 1000,
    nextRun,
  ]);
  const targets = await one(engine, root, 'SELECT schedule_id, target, last_fired_at FROM system.schedules');
  assert.deepEqual(targets.rows, [
    ['all_flush', '*', null],
    ['compact_notes', 'app.notes', null],
    ['everything', '*', null],
    ['hourly', 'app.*', null],
    ['nightly_flush', 'app.notes', nextRun],
    ['purge', 'app.events', null],
  ]);

  // IF [NOT] EXISTS, and the errors.
  assert.equal(
    (await one(engine, dba, "CREATE SCHEDULE IF NOT EXISTS 'nightly_flush' CRON '0 4 * * *' FLUSH ALL TABLES")).message,
    'Schedule nightly_flush already exists',
  );
  assert.equal(machines.jobs.schedules().find((s) => s.scheduleId === 'nightly_flush')?.cronExpression, '0 3 * * *');
  await rejects(
    engine.execute(dba, "CREATE SCHEDULE 'nightly_flush' CRON '0 4 * * *' FLUSH TABLE app.notes"),
    'ALREADY_EXISTS',
    /schedule nightly_flush already exists/,
  );
  await rejects(
    engine.execute(dba, "CREATE SCHEDULE bad CRON '0 25 * * *' FLUSH TABLE app.notes"),
    'INVALID_INPUT',
    /^bad cron expression "0 25 \* \* \*": .*hour/,
  );
  await rejects(
    engine.execute(dba, "CREATE SCHEDULE bad CRON 'every night' FLUSH TABLE app.notes"),
    'INVALID_INPUT',
    /bad cron expression "every night"/,
  );
  await rejects(
    engine.execute(dba, "CREATE SCHEDULE bad CRON '0 0 0 1 1 * 2020' FLUSH TABLE app.notes"),
    'INVALID_INPUT',
    /cron expression "0 0 0 1 1 \* 2020" never fires after now/,
  );
  await rejects(
    engine.execute(dba, "CREATE SCHEDULE bad CRON '* * * * * *' FLUSH TABLE app.notes"),
    'INVALID_INPUT',
    /fires more often than once every 10 s/,
  );
  await rejects(
    engine.execute(dba, "CREATE SCHEDULE bad CRON '0 3 * * *' FLUSH TABLE app.nothing"),
    'TABLE_NOT_FOUND',
    /table app.nothing does not exist/,
  );
  await rejects(engine.execute(dba, "CREATE SCHEDULE bad CRON '0 3 * * *' COMPACT TABLE nothing.t"), 'TABLE_NOT_FOUND');
  await rejects(engine.execute(dba, "CREATE SCHEDULE bad CRON '0 3 * * *' COMPACT TABLE notes"), 'INVALID_SQL');
  await rejects(
    engine.execute(dba, "CREATE SCHEDULE bad CRON '0 3 * * *' FLUSH ALL TABLES IN nothing"),
    'NAMESPACE_NOT_FOUND',
  );
  await rejects(engine.execute(dba, "CREATE SCHEDULE 'a b' CRON '0 3 * * *' RETENTION"), 'INVALID_INPUT', /A-Z/);
  await rejects(engine.execute(dba, "CREATE SCHEDULE 'x@1' CRON '0 3 * * *' RETENTION"), 'INVALID_INPUT', /A-Z/);
  await rejects(engine.execute(dba, `CREATE SCHEDULE '${'s'.repeat(65)}' CRON '0 3 * * *' RETENTION`), 'INVALID_INPUT');
  await rejects(
    engine.execute(dba, "CREATE SCHEDULE retention CRON '0 3 * * *' RETENTION"),
    'INVALID_INPUT',
    /built-in/,
  );
  await rejects(engine.execute(dba, 'DROP SCHEDULE retention'), 'INVALID_INPUT', /cannot be dropped/);
  assert.ok(!machines.jobs.schedules().some((s) => s.scheduleId === 'bad'), 'no failed CREATE left a schedule');

  // Only dba and system.
  for (const s of [alice, svc]) {
    for (const sql of [
      "CREATE SCHEDULE mine CRON '0 3 * * *' FLUSH TABLE app.notes",
      "DROP SCHEDULE 'nightly_flush'",
      'SHOW SCHEDULES',
      'SELECT * FROM system.schedules',
    ]) {
      await rejects(engine.execute(s, sql), 'PERMISSION_DENIED');
    }
  }

  assert.equal((await one(engine, dba, "DROP SCHEDULE 'nightly_flush'")).message, 'Schedule nightly_flush dropped');
  assert.equal(
    (await one(engine, dba, 'DROP SCHEDULE IF EXISTS nightly_flush')).message,
    'Schedule nightly_flush does not exist',
  );
  await rejects(engine.execute(dba, 'DROP SCHEDULE nightly_flush'), 'SQL_EXECUTION_ERROR', /does not exist/);
  assert.deepEqual(
    (await one(engine, dba, 'SHOW SCHEDULES')).rows.map((r) => r[0]),
    ['all_flush', 'compact_notes', 'everything', 'hourly', 'purge'],
  );
  // Created again under the same name: the job of its predecessor is not its last firing.
  await one(engine, dba, "CREATE SCHEDULE nightly_flush CRON '0 3 * * *' FLUSH TABLE app.notes");
  const again = await one(
    engine,
    dba,
    "SELECT last_fired_at FROM system.schedules WHERE schedule_id = 'nightly_flush'",
  );
  assert.deepEqual(again.rows, [[null]]);
});

test('every statement is checked when planned: names, functions, values the column cannot hold — nothing is proposed', async () => {
  const { engine, machines } = setup();
  await withApp(engine);
  const shard = machines.userShards[machines.router.userShard('alice')]!;
  const before = { meta: machines.system.appliedIndex(), shard: shard.appliedIndex() };
  const long = 'x'.repeat(100); // past the catalog's 63, within the lexer's identifierCharsMax (128)
  for (const [session, sql, code, message] of [
    [alice, 'DELETE FROM app.notes WHERE FOO(id) = 1', 'INVALID_SQL', /function FOO cannot be used/],
    [alice, "UPDATE app.notes SET title = 'b' WHERE BAR(title) = 'a'", 'INVALID_SQL', /function BAR/],
    [alice, "UPDATE app.notes SET title = UPPER(title, 'x')", 'INVALID_SQL', /UPPER takes 1 argument/],
    [alice, "INSERT INTO app.notes (id, title) VALUES ('not a number', 'x')", 'SQL_EXECUTION_ERROR', /cannot hold/],
    [alice, 'INSERT INTO app.notes (id, title) VALUES (NULL, NULL)', 'SQL_EXECUTION_ERROR', /must not be null/],
    [alice, "UPDATE app.notes SET id = 'x' WHERE id = 1", 'SQL_EXECUTION_ERROR', /primary key/],
    [root, `CREATE USER TABLE app.${long} (id BIGINT PRIMARY KEY)`, 'INVALID_SQL', /at most 63/],
    [root, `ALTER TABLE app.notes ADD COLUMN ${long} TEXT`, 'INVALID_SQL', /at most 63/],
    [root, 'ALTER TABLE app.notes ADD COLUMN "Weird Col" TEXT', 'INVALID_SQL', /Weird Col/],
    [root, 'ALTER TABLE app.notes ADD COLUMN _seq BIGINT', 'INVALID_SQL', /reserved/],
    [root, `CREATE STORAGE ${long} TYPE 'filesystem' PATH '/x'`, 'INVALID_SQL', /at most 63/],
    [root, 'CREATE USER TABLE "app"."Upper" (id BIGINT PRIMARY KEY)', 'INVALID_SQL', /Upper/],
    [root, 'CREATE NAMESPACE system', 'INVALID_SQL', /reserved/],
    [root, "CREATE USER TABLE app.d (id BIGINT PRIMARY KEY, n BIGINT DEFAULT 'abc')", 'INVALID_SQL', /DEFAULT/],
  ] as const) {
    await rejects(engine.execute(session, sql), code, message);
  }
  assert.deepEqual({ meta: machines.system.appliedIndex(), shard: shard.appliedIndex() }, before, 'nothing proposed');
});
