// Proves that every statement form of Kalam's dialect (reference/kalamdb-facts.md, "SQL") parses into the expected
// typed AST: each test parses one representative statement and compares the whole result with deepEqual.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSql, type Statement } from '../src/index.js';

function one(sql: string): Statement {
  const statements = parseSql(sql);
  assert.equal(statements.length, 1);
  const [statement] = statements;
  assert.ok(statement !== undefined);
  return statement;
}

const col = (name: string) => ({ kind: 'column', table: null, name }) as const;
const lit = (value: string | number | boolean | null) => ({ kind: 'literal', value }) as const;

test('namespaces: CREATE / DROP / SHOW / USE', () => {
  assert.deepEqual(one('CREATE NAMESPACE app'), { kind: 'CreateNamespace', name: 'app', ifNotExists: false });
  assert.deepEqual(one('create namespace if not exists App'), {
    kind: 'CreateNamespace',
    name: 'app',
    ifNotExists: true,
  });
  assert.deepEqual(one('DROP NAMESPACE IF EXISTS app CASCADE'), {
    kind: 'DropNamespace',
    name: 'app',
    ifExists: true,
    cascade: true,
  });
  assert.deepEqual(one('DROP NAMESPACE "App"'), {
    kind: 'DropNamespace',
    name: 'App',
    ifExists: false,
    cascade: false,
  });
  assert.deepEqual(one('SHOW NAMESPACES'), { kind: 'ShowNamespaces' });
  assert.deepEqual(one('USE app'), { kind: 'Use', namespace: 'app' });
});

test('CREATE USER TABLE with types, defaults, primary key and WITH options', () => {
  const sql = `CREATE USER TABLE IF NOT EXISTS app.messages (
    id BIGINT PRIMARY KEY DEFAULT SNOWFLAKE_ID(),
    content VARCHAR(255) NOT NULL,
    score DOUBLE PRECISION DEFAULT -1.5,
    flag BOOL DEFAULT TRUE,
    meta JSONB,
    blob BYTEA,
    n INTEGER DEFAULT 0,
    created_at TIMESTAMP DEFAULT NOW()
  ) WITH (TTL_SECONDS = 3600, FLUSH_POLICY = 'rows:1000', STORAGE_ID = 'local')`;
  assert.deepEqual(one(sql), {
    kind: 'CreateTable',
    table: { namespace: 'app', name: 'messages' },
    tableType: 'USER',
    ifNotExists: true,
    columns: [
      {
        name: 'id',
        type: 'BIGINT',
        notNull: true,
        default: { kind: 'call', name: 'SNOWFLAKE_ID', args: [], star: false },
        primaryKey: true,
      },
      { name: 'content', type: 'TEXT', notNull: true, default: null, primaryKey: false },
      { name: 'score', type: 'DOUBLE', notNull: false, default: lit(-1.5), primaryKey: false },
      { name: 'flag', type: 'BOOLEAN', notNull: false, default: lit(true), primaryKey: false },
      { name: 'meta', type: 'JSON', notNull: false, default: null, primaryKey: false },
      { name: 'blob', type: 'BYTES', notNull: false, default: null, primaryKey: false },
      { name: 'n', type: 'INT', notNull: false, default: lit(0), primaryKey: false },
      {
        name: 'created_at',
        type: 'TIMESTAMP',
        notNull: false,
        default: { kind: 'call', name: 'NOW', args: [], star: false },
        primaryKey: false,
      },
    ],
    primaryKey: 'id',
    options: { ttlSeconds: 3600, flushPolicy: { rows: 1000 }, storageId: 'local' },
  });
});

test('CREATE TABLE defaults to USER; SHARED and STREAM; table-level PRIMARY KEY; ACCESS_LEVEL', () => {
  const plain = one('CREATE TABLE t (id INT PRIMARY KEY, name TEXT)');
  assert.equal(plain.kind === 'CreateTable' && plain.tableType, 'USER');
  assert.deepEqual(plain.kind === 'CreateTable' && plain.table, { namespace: null, name: 't' });
  const shared = one("CREATE SHARED TABLE app.config (k TEXT, v TEXT, PRIMARY KEY (k)) WITH (ACCESS_LEVEL='PUBLIC')");
  assert.ok(shared.kind === 'CreateTable');
  assert.equal(shared.tableType, 'SHARED');
  assert.equal(shared.primaryKey, 'k');
  assert.deepEqual(shared.columns[0], { name: 'k', type: 'TEXT', notNull: true, default: null, primaryKey: true });
  assert.deepEqual(shared.options, { accessLevel: 'PUBLIC' });
  const stream = one('create stream table app.events (id TEXT PRIMARY KEY, payload JSON) with (ttl_seconds=60)');
  assert.ok(stream.kind === 'CreateTable');
  assert.equal(stream.tableType, 'STREAM');
  assert.deepEqual(stream.options, { ttlSeconds: 60 });
});

test('DROP / SHOW / DESCRIBE / ALTER TABLE', () => {
  assert.deepEqual(one('DROP TABLE IF EXISTS app.t'), {
    kind: 'DropTable',
    table: { namespace: 'app', name: 't' },
    ifExists: true,
  });
  assert.deepEqual(one('DROP SHARED TABLE t'), {
    kind: 'DropTable',
    table: { namespace: null, name: 't' },
    ifExists: false,
  });
  assert.deepEqual(one('SHOW TABLES'), { kind: 'ShowTables', namespace: null });
  assert.deepEqual(one('SHOW TABLES IN app'), { kind: 'ShowTables', namespace: 'app' });
  assert.deepEqual(one('DESCRIBE TABLE app.t'), { kind: 'DescribeTable', table: { namespace: 'app', name: 't' } });
  assert.deepEqual(one('ALTER TABLE app.t ADD COLUMN age INT NOT NULL DEFAULT 0'), {
    kind: 'AlterTableAddColumn',
    table: { namespace: 'app', name: 't' },
    column: { name: 'age', type: 'INT', notNull: true, default: lit(0), primaryKey: false },
  });
});

test('INSERT: multi-row, column list, quoted identifiers kept, unquoted lower-cased, escaped quotes', () => {
  assert.deepEqual(one(`INSERT INTO App.Messages (id, "Body") VALUES (1, 'it''s'), (2, NULL)`), {
    kind: 'Insert',
    table: { namespace: 'app', name: 'messages' },
    columns: ['id', 'Body'],
    rows: [
      [lit(1), lit("it's")],
      [lit(2), lit(null)],
    ],
  });
  assert.deepEqual(one('INSERT INTO t VALUES (TRUE, -3)'), {
    kind: 'Insert',
    table: { namespace: null, name: 't' },
    columns: null,
    rows: [[lit(true), lit(-3)]],
  });
});

test('UPDATE and DELETE with WHERE', () => {
  assert.deepEqual(one("UPDATE app.t SET name = 'x', n = n + 1 WHERE id = 7"), {
    kind: 'Update',
    table: { namespace: 'app', name: 't' },
    assignments: [
      { column: 'name', value: lit('x') },
      { column: 'n', value: { kind: 'binary', op: '+', left: col('n'), right: lit(1) } },
    ],
    where: { kind: 'binary', op: '=', left: col('id'), right: lit(7) },
  });
  assert.deepEqual(one('DELETE FROM app.t WHERE id <> 3'), {
    kind: 'Delete',
    table: { namespace: 'app', name: 't' },
    where: { kind: 'binary', op: '<>', left: col('id'), right: lit(3) },
  });
  assert.deepEqual(one('DELETE FROM t'), { kind: 'Delete', table: { namespace: null, name: 't' }, where: null });
});

test('SELECT with GROUP BY and HAVING', () => {
  const s = one('SELECT k, COUNT(*) AS n FROM t GROUP BY k, v HAVING COUNT(*) > 1');
  assert.ok(s.kind === 'Select');
  assert.deepEqual(s.groupBy, [col('k'), col('v')]);
  assert.deepEqual(s.having, {
    kind: 'binary',
    op: '>',
    left: { kind: 'call', name: 'COUNT', args: [], star: true },
    right: lit(1),
  });
});

test('SELECT: *, COUNT(*), aliases, WHERE, ORDER BY, LIMIT, OFFSET, system tables', () => {
  assert.deepEqual(one('SELECT * FROM system.users'), {
    kind: 'Select',
    columns: ['*'],
    from: { namespace: 'system', name: 'users' },
    where: null,
    groupBy: [],
    having: null,
    orderBy: [],
    limit: null,
    offset: null,
  });
  assert.deepEqual(one('SELECT COUNT(*) AS n FROM app.t'), {
    kind: 'Select',
    columns: [{ expr: { kind: 'call', name: 'COUNT', args: [], star: true }, alias: 'n' }],
    from: { namespace: 'app', name: 't' },
    where: null,
    groupBy: [],
    having: null,
    orderBy: [],
    limit: null,
    offset: null,
  });
  const select = one(
    'SELECT id, lower(Name) AS "N" FROM t WHERE a IS NOT NULL AND b NOT IN (1, 2) AND NOT c LIKE \'x_%\' ORDER BY _seq DESC, id LIMIT 10 OFFSET 5',
  );
  assert.deepEqual(select, {
    kind: 'Select',
    columns: [
      { expr: col('id'), alias: null },
      { expr: { kind: 'call', name: 'LOWER', args: [col('name')], star: false }, alias: 'N' },
    ],
    from: { namespace: null, name: 't' },
    // The library nests `x AND NOT y` to the right; AND is associative, so the meaning is the same.
    where: {
      kind: 'binary',
      op: 'AND',
      left: { kind: 'isNull', expr: col('a'), negated: true },
      right: {
        kind: 'binary',
        op: 'AND',
        left: { kind: 'in', expr: col('b'), list: [lit(1), lit(2)], negated: true },
        right: { kind: 'not', expr: { kind: 'like', expr: col('c'), pattern: lit('x_%'), negated: false } },
      },
    },
    groupBy: [],
    having: null,
    orderBy: [
      { expr: col('_seq'), direction: 'DESC' },
      { expr: col('id'), direction: 'ASC' },
    ],
    limit: 10,
    offset: 5,
  });
  const limited = one('SELECT a FROM t LIMIT 3');
  assert.ok(limited.kind === 'Select');
  assert.equal(limited.limit, 3);
  assert.equal(limited.offset, null);
});

test('SELECT expressions: arithmetic precedence, comparison operators, negation, placeholders', () => {
  const select = one('SELECT * FROM t WHERE (a + b) * 2 >= -c OR d / 4 - 1 < $1 OR e != $2');
  assert.ok(select.kind === 'Select');
  assert.deepEqual(select.where, {
    kind: 'binary',
    op: 'OR',
    left: {
      kind: 'binary',
      op: 'OR',
      left: {
        kind: 'binary',
        op: '>=',
        left: {
          kind: 'binary',
          op: '*',
          left: { kind: 'binary', op: '+', left: col('a'), right: col('b') },
          right: lit(2),
        },
        right: { kind: 'negate', expr: col('c') },
      },
      right: {
        kind: 'binary',
        op: '<',
        left: {
          kind: 'binary',
          op: '-',
          left: { kind: 'binary', op: '/', left: col('d'), right: lit(4) },
          right: lit(1),
        },
        right: { kind: 'param', index: 1 },
      },
    },
    right: { kind: 'binary', op: '!=', left: col('e'), right: { kind: 'param', index: 2 } },
  });
  const questionMarks = one('SELECT * FROM t WHERE a = ? AND b = ?');
  assert.ok(questionMarks.kind === 'Select');
  assert.deepEqual(questionMarks.where, {
    kind: 'binary',
    op: 'AND',
    left: { kind: 'binary', op: '=', left: col('a'), right: { kind: 'param', index: 1 } },
    right: { kind: 'binary', op: '=', left: col('b'), right: { kind: 'param', index: 2 } },
  });
});

test('users: CREATE / ALTER / DROP USER', () => {
  assert.deepEqual(one("CREATE USER 'alice' WITH PASSWORD 'secret' ROLE dba"), {
    kind: 'CreateUser',
    name: 'alice',
    password: 'secret',
    role: 'dba',
    ifNotExists: false,
  });
  assert.deepEqual(one("CREATE USER IF NOT EXISTS Bob WITH PASSWORD 'pw'"), {
    kind: 'CreateUser',
    name: 'bob',
    password: 'pw',
    role: 'user',
    ifNotExists: true,
  });
  assert.deepEqual(one("ALTER USER 'alice' SET PASSWORD 'new'"), {
    kind: 'AlterUser',
    name: 'alice',
    set: { password: 'new' },
  });
  assert.deepEqual(one("ALTER USER 'alice' SET ROLE 'service'"), {
    kind: 'AlterUser',
    name: 'alice',
    set: { role: 'service' },
  });
  assert.deepEqual(one("DROP USER IF EXISTS 'alice'"), { kind: 'DropUser', name: 'alice', ifExists: true });
});

test('EXECUTE AS USER wraps one statement', () => {
  assert.deepEqual(one("EXECUTE AS USER 'alice' (INSERT INTO app.m (id) VALUES (1))"), {
    kind: 'ExecuteAsUser',
    userId: 'alice',
    statement: { kind: 'Insert', table: { namespace: 'app', name: 'm' }, columns: ['id'], rows: [[lit(1)]] },
  });
  assert.deepEqual(one("EXECUTE AS USER 'u1' (SELECT * FROM app.m)"), {
    kind: 'ExecuteAsUser',
    userId: 'u1',
    statement: {
      kind: 'Select',
      columns: ['*'],
      from: { namespace: 'app', name: 'm' },
      where: null,
      groupBy: [],
      having: null,
      orderBy: [],
      limit: null,
      offset: null,
    },
  });
});

test('storages, flush, jobs, live queries', () => {
  assert.deepEqual(one("CREATE STORAGE s3_local TYPE 'filesystem' PATH '/data/storage'"), {
    kind: 'CreateStorage',
    id: 's3_local',
    type: 'filesystem',
    path: '/data/storage',
  });
  assert.deepEqual(one('DROP STORAGE s3_local'), { kind: 'DropStorage', id: 's3_local' });
  assert.deepEqual(one('SHOW STORAGES'), { kind: 'ShowStorages' });
  assert.deepEqual(one('FLUSH TABLE app.t'), { kind: 'FlushTable', table: { namespace: 'app', name: 't' } });
  assert.deepEqual(one('FLUSH ALL TABLES'), { kind: 'FlushAllTables', namespace: null });
  assert.deepEqual(one('FLUSH ALL TABLES IN app'), { kind: 'FlushAllTables', namespace: 'app' });
  assert.deepEqual(one("KILL JOB 'FL-123'"), { kind: 'KillJob', jobId: 'FL-123' });
  assert.deepEqual(one("KILL LIVE QUERY 'live-9'"), { kind: 'KillLiveQuery', liveId: 'live-9' });
});

test('schedules: CREATE SCHEDULE with each job, DROP SCHEDULE, SHOW SCHEDULES', () => {
  const app = (name: string) => ({ namespace: 'app', name });
  assert.deepEqual(one("CREATE SCHEDULE 'nightly_flush' CRON '0 3 * * *' FLUSH TABLE app.notes"), {
    kind: 'CreateSchedule',
    name: 'nightly_flush',
    cron: '0 3 * * *',
    job: { kind: 'FlushTable', table: app('notes') },
    ifNotExists: false,
  });
  assert.deepEqual(one("create schedule if not exists Hourly cron '@hourly' flush all tables in App"), {
    kind: 'CreateSchedule',
    name: 'hourly',
    cron: '@hourly',
    job: { kind: 'FlushAllTables', namespace: 'app' },
    ifNotExists: true,
  });
  const jobOf = (sql: string) => {
    const s = one(sql);
    assert.ok(s.kind === 'CreateSchedule');
    return s.job;
  };
  assert.deepEqual(jobOf("CREATE SCHEDULE s CRON '0 * * * *' FLUSH ALL TABLES"), {
    kind: 'FlushAllTables',
    namespace: null,
  });
  assert.deepEqual(jobOf("CREATE SCHEDULE s CRON '0 * * * *' COMPACT TABLE notes"), {
    kind: 'CompactTable',
    table: { namespace: null, name: 'notes' },
  });
  assert.deepEqual(jobOf("CREATE SCHEDULE s CRON '0 * * * *' RETENTION"), { kind: 'Retention', table: null });
  assert.deepEqual(jobOf("CREATE SCHEDULE s CRON '0 * * * *' RETENTION TABLE app.events"), {
    kind: 'Retention',
    table: app('events'),
  });
  assert.deepEqual(one("DROP SCHEDULE 'nightly_flush'"), {
    kind: 'DropSchedule',
    name: 'nightly_flush',
    ifExists: false,
  });
  assert.deepEqual(one('DROP SCHEDULE IF EXISTS nightly'), { kind: 'DropSchedule', name: 'nightly', ifExists: true });
  assert.deepEqual(one('SHOW SCHEDULES'), { kind: 'ShowSchedules' });
});

test('SUBSCRIBE TO with WHERE and OPTIONS', () => {
  assert.deepEqual(one("SUBSCRIBE TO app.messages WHERE conversation_id = 'c1' OPTIONS (last_rows = 20)"), {
    kind: 'SubscribeTo',
    table: { namespace: 'app', name: 'messages' },
    where: { kind: 'binary', op: '=', left: col('conversation_id'), right: lit('c1') },
    options: { lastRows: 20 },
  });
  assert.deepEqual(one('SUBSCRIBE TO app.messages'), {
    kind: 'SubscribeTo',
    table: { namespace: 'app', name: 'messages' },
    where: null,
    options: {},
  });
});

test('batches: statements split on ; outside quotes and comments', () => {
  const statements = parseSql(`
    -- a comment; with a semicolon
    CREATE NAMESPACE app;
    /* another; */ INSERT INTO app.t (id, s) VALUES (1, 'a;b');
    ;
    SELECT * FROM app.t;
  `);
  assert.deepEqual(
    statements.map((s) => s.kind),
    ['CreateNamespace', 'Insert', 'Select'],
  );
  const insert = statements[1];
  assert.ok(insert?.kind === 'Insert');
  assert.deepEqual(insert.rows, [[lit(1), lit('a;b')]]);
});

test('KalamDB examples from the reference parse to the expected kinds', () => {
  const examples: Array<[string, Statement['kind']]> = [
    ['CREATE NAMESPACE IF NOT EXISTS chat', 'CreateNamespace'],
    [
      "CREATE USER TABLE chat.messages (id BIGINT PRIMARY KEY DEFAULT SNOWFLAKE_ID(), conversation_id TEXT NOT NULL, content TEXT, created_at TIMESTAMP DEFAULT NOW()) WITH (FLUSH_POLICY='rows:1000')",
      'CreateTable',
    ],
    [
      "CREATE SHARED TABLE chat.rooms (id TEXT PRIMARY KEY, title TEXT) WITH (ACCESS_LEVEL='PRIVATE', STORAGE_ID='local')",
      'CreateTable',
    ],
    ['CREATE STREAM TABLE chat.typing (id TEXT PRIMARY KEY, user_id TEXT) WITH (TTL_SECONDS=10)', 'CreateTable'],
    ["INSERT INTO chat.messages (conversation_id, content) VALUES ('c1', 'hi'), ('c1', 'there')", 'Insert'],
    ["SELECT * FROM chat.messages WHERE conversation_id = 'c1' ORDER BY created_at DESC LIMIT 50", 'Select'],
    ["UPDATE chat.messages SET content = 'edited' WHERE id = 1", 'Update'],
    ['DELETE FROM chat.messages WHERE id = 1', 'Delete'],
    ['SELECT COUNT(*) FROM chat.messages', 'Select'],
    ["SELECT user_id, role FROM system.users WHERE role = 'dba'", 'Select'],
    ['SELECT * FROM system.live_queries', 'Select'],
    ["CREATE USER 'svc' WITH PASSWORD 'x' ROLE service", 'CreateUser'],
    ["EXECUTE AS USER 'alice' (SELECT * FROM chat.messages)", 'ExecuteAsUser'],
    ["CREATE STORAGE local TYPE 'filesystem' PATH './data/storage'", 'CreateStorage'],
    ['FLUSH ALL TABLES IN chat', 'FlushAllTables'],
    ["SUBSCRIBE TO chat.messages WHERE conversation_id = 'c1' OPTIONS (last_rows=100)", 'SubscribeTo'],
    ["KILL LIVE QUERY 'alice-1-sub1'", 'KillLiveQuery'],
    ['ALTER TABLE chat.messages ADD COLUMN edited BOOLEAN DEFAULT FALSE', 'AlterTableAddColumn'],
    ['DESCRIBE TABLE chat.messages', 'DescribeTable'],
    ['DROP NAMESPACE chat CASCADE', 'DropNamespace'],
  ];
  for (const [sql, kind] of examples) assert.equal(one(sql).kind, kind, sql);
});
