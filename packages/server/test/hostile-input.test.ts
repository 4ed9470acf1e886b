// User input that used to answer 500 (adversaries.md: a database is judged by its worst request), each now a 400
// with a code, through the HTTP API of a real `kalam serve` process: numbers Kalam cannot carry exactly (params
// [1e300], the literal -9223372036854775809, constants folded past 2^53, timestamps past it, DEFAULTs), parameters
// nested 50,000 deep, and a table wider than SQLite allows. After every refusal the process is still running, its
// healthcheck answers, nothing of a refused statement was written, and ordinary statements still work.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { COMMAND_LIMITS } from '@kalam/kalamdb';

import { basic, request, rowsOf, sql } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);

interface Case {
  readonly name: string;
  /** The SQL, or the raw request body (for bodies JSON.stringify cannot even build). */
  readonly sql?: string;
  readonly params?: readonly unknown[];
  readonly body?: string;
  readonly code: string;
}

const DEEP = 50_000;
const TABLE_COLUMNS_MAX = COMMAND_LIMITS.columnsPerTableMax;

const CASES: readonly Case[] = [
  {
    name: 'params [1e300] into a BIGINT',
    sql: 'INSERT INTO app.t (id) VALUES ($1)',
    params: [1e300],
    code: 'INVALID_SQL',
  },
  {
    name: 'params [1e300] into a DOUBLE',
    sql: 'INSERT INTO app.t (id, n) VALUES (1, $1)',
    params: [1e300],
    code: 'INVALID_SQL',
  },
  {
    name: 'params [1e300] in a DELETE filter',
    sql: 'DELETE FROM app.t WHERE id = $1',
    params: [1e300],
    code: 'INVALID_SQL',
  },
  {
    name: 'params [1e300] in UPDATE SET',
    sql: 'UPDATE app.t SET n = $1 WHERE id = 1',
    params: [1e300],
    code: 'INVALID_SQL',
  },
  {
    name: 'params [2^53 + 1] (rounded by JSON.parse)',
    body: '{"sql":"INSERT INTO app.t (id) VALUES ($1)","params":[9007199254740993]}',
    code: 'INVALID_SQL',
  },
  {
    name: 'the literal -9223372036854775809',
    sql: 'INSERT INTO app.t (id) VALUES (-9223372036854775809)',
    code: 'INVALID_SQL',
  },
  {
    name: 'the literal -2^63 - 1 in a filter',
    sql: 'DELETE FROM app.t WHERE id = -9223372036854775809',
    code: 'INVALID_SQL',
  },
  { name: 'the literal 1e300', sql: 'INSERT INTO app.t (id, n) VALUES (2, 1e300)', code: 'INVALID_SQL' },
  {
    name: 'a constant folded past 2^53',
    sql: 'INSERT INTO app.t (id) VALUES (9007199254740991 + 2)',
    code: 'INVALID_INPUT',
  },
  {
    name: 'a constant folded to Infinity',
    sql: `INSERT INTO app.t (id, n) VALUES (3, ${Array(20).fill('9007199254740991').join(' * ')})`,
    code: 'INVALID_INPUT',
  },
  {
    name: 'a TIMESTAMP string past 2^53',
    sql: "INSERT INTO app.t (id, ts) VALUES (4, '99999999999999999999')",
    code: 'INVALID_INPUT',
  },
  {
    name: 'a TIMESTAMP parameter past 2^53',
    sql: 'INSERT INTO app.t (id, ts) VALUES (4, $1)',
    params: ['99999999999999999999'],
    code: 'INVALID_INPUT',
  },
  {
    name: `params nested ${DEEP} deep (arrays)`,
    body: `{"sql":"INSERT INTO app.t (id, j) VALUES (5, $1)","params":[${'['.repeat(DEEP)}${']'.repeat(DEEP)}]}`,
    code: 'INVALID_SQL',
  },
  {
    name: `params nested ${DEEP} deep (objects)`,
    body: `{"sql":"SELECT * FROM app.t WHERE v = $1","params":[${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}]}`,
    code: 'INVALID_SQL',
  },
  {
    name: 'DEFAULT 1e300',
    sql: 'CREATE TABLE app.d1 (id BIGINT PRIMARY KEY, v DOUBLE DEFAULT 1e300)',
    code: 'INVALID_SQL',
  },
  {
    name: 'DEFAULT -9223372036854775809',
    sql: 'CREATE TABLE app.d2 (id BIGINT PRIMARY KEY, v BIGINT DEFAULT -9223372036854775809)',
    code: 'INVALID_SQL',
  },
  {
    name: 'ADD COLUMN … DEFAULT 1e300',
    sql: 'ALTER TABLE app.t ADD COLUMN z DOUBLE DEFAULT 1e300',
    code: 'INVALID_SQL',
  },
  ...['_seq', '_deleted', '_user_id', '_shard'].map((name) => ({
    name: `a column named ${name} (a system column)`,
    sql: `CREATE TABLE app.s${name} (id BIGINT PRIMARY KEY, ${name} BIGINT)`,
    code: 'INVALID_SQL',
  })),
  { name: 'ADD COLUMN _seq', sql: 'ALTER TABLE app.t ADD COLUMN _seq BIGINT', code: 'INVALID_SQL' },
  {
    name: 'a table of 3,000 columns',
    sql: `CREATE TABLE app.wide (id BIGINT PRIMARY KEY, ${Array.from({ length: 3000 }, (_, i) => `c${i} TEXT`).join(', ')})`,
    code: 'INVALID_SQL',
  },
];

function bodyOf(c: Case): string {
  return c.body ?? JSON.stringify({ sql: c.sql, ...(c.params === undefined ? {} : { params: c.params }) });
}

test('user input that used to answer 500 is a 400 with a code, and the node stays up', async (t) => {
  const nodes = await KalamNodes.start({ members: 0 });
  t.after(() => nodes.close());
  const url = nodes.url(1);
  const ddl = await sql(
    url,
    root,
    'CREATE NAMESPACE app; CREATE TABLE app.t (id BIGINT PRIMARY KEY, v TEXT, n DOUBLE, ts TIMESTAMP, j JSON)',
  );
  assert.equal(ddl.status, 200, JSON.stringify(ddl.body));
  assert.equal((await sql(url, root, "INSERT INTO app.t (id, v) VALUES (1, 'one')")).status, 200);

  for (const c of CASES) {
    await t.test(c.name, async () => {
      const r = await request(url, '/v1/api/sql', { auth: root, body: bodyOf(c) });
      const error = r.body['error'] as { code?: string; message?: string } | undefined;
      assert.deepEqual([r.status, error?.code], [400, c.code], JSON.stringify(r.body).slice(0, 300));
      assert.ok(typeof error?.message === 'string' && error.message.length > 0);
      assert.ok(nodes.isRunning(1), 'the process is still running');
    });
  }

  await t.test('afterwards: nothing refused was written, and the node serves as before', async () => {
    assert.equal((await request(url, '/v1/api/healthcheck')).status, 200);
    assert.deepEqual(rowsOf(await sql(url, root, 'SELECT id, v, n FROM app.t ORDER BY id')), [[1, 'one', null]]);
    const tables = rowsOf(await sql(url, root, 'SHOW TABLES IN app')).map((row) => row[1]);
    assert.deepEqual(tables, ['t'], 'no refused CREATE TABLE left a table');
    const ok = await sql(url, root, 'INSERT INTO app.t (id, n, j) VALUES ($1, $2, $3)', {
      params: [9007199254740991, 1.5e15, { deep: [[[1]]] }],
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });
});

test('on a 3-node cluster, tables SQLite cannot create are refused before they are proposed; no node exits', async (t) => {
  // Before, CREATE TABLE with 3,000 columns ("too many columns") or with a column named like a system column
  // ("duplicate column name") was committed and then failed at apply on every replica: all three processes
  // exited, and each restart would apply it again.
  const nodes = await KalamNodes.start({ members: 3 });
  t.after(() => nodes.close());
  const url = nodes.url(1);
  assert.equal((await sql(url, root, 'CREATE NAMESPACE app')).status, 200);
  for (const text of [
    'CREATE TABLE app.s1 (id BIGINT PRIMARY KEY, _seq BIGINT)',
    'CREATE SHARED TABLE app.s2 (id BIGINT PRIMARY KEY, _deleted BOOLEAN)',
  ]) {
    const r = await sql(nodes.url(2), root, text);
    assert.deepEqual([r.status, (r.body['error'] as { code?: string } | undefined)?.code], [400, 'INVALID_SQL'], text);
  }
  const columns = (n: number): string => Array.from({ length: n }, (_, i) => `c${i} TEXT`).join(', ');
  const wide = await sql(url, root, `CREATE TABLE app.wide (id BIGINT PRIMARY KEY, ${columns(3000)})`);
  assert.deepEqual([wide.status, (wide.body['error'] as { code?: string }).code], [400, 'INVALID_SQL']);
  // At the bound exactly, then one column more through ALTER TABLE.
  const broad = await sql(
    url,
    root,
    `CREATE TABLE app.broad (id BIGINT PRIMARY KEY, ${columns(TABLE_COLUMNS_MAX - 1)})`,
  );
  assert.equal(broad.status, 200, JSON.stringify(broad.body).slice(0, 300));
  const more = await sql(nodes.url(2), root, 'ALTER TABLE app.broad ADD COLUMN extra TEXT');
  assert.deepEqual([more.status, (more.body['error'] as { code?: string }).code], [400, 'INVALID_SQL']);
  for (const id of nodes.ids()) {
    const r = await sql(nodes.url(id), root, `INSERT INTO app.broad (id, c0) VALUES (${id}, 'from ${id}')`);
    assert.equal(r.status, 200, `node ${id} serves: ${JSON.stringify(r.body)}`);
  }
  assert.deepEqual(rowsOf(await sql(nodes.url(3), root, 'SELECT id FROM app.broad ORDER BY id')), [[1], [2], [3]]);
});

test('on a 3-node cluster a SET computed past 2^53 is refused on every replica; snapshots go on, no node exits', async (t) => {
  // Before, `SET b = b * b` stored 8.1e31 in a BIGINT on every replica; the group's next snapshot could not encode
  // it, and all three nodes exited — an ordinary user's UPDATE took the cluster down.
  const nodes = await KalamNodes.start({ members: 3, snapshotThreshold: 20 });
  t.after(() => nodes.close());
  const alice = basic('alice', 'alice-pass');
  const ddl = await sql(
    nodes.url(1),
    root,
    [
      'CREATE NAMESPACE app',
      'CREATE TABLE app.c (id BIGINT PRIMARY KEY, b BIGINT, n DOUBLE)',
      "CREATE USER 'alice' WITH PASSWORD 'alice-pass' ROLE user",
    ].join('; '),
  );
  assert.equal(ddl.status, 200, JSON.stringify(ddl.body));
  const max = Number.MAX_SAFE_INTEGER;
  assert.equal((await sql(nodes.url(1), alice, `INSERT INTO app.c (id, b, n) VALUES (1, ${max}, ${max})`)).status, 200);
  const refusals = [
    'UPDATE app.c SET b = b * b WHERE id = 1',
    'UPDATE app.c SET b = b + 2 WHERE id = 1',
    `UPDATE app.c SET n = ${Array(20).fill('n').join(' * ')} WHERE id = 1`,
  ];
  for (const text of refusals) {
    const r = await sql(nodes.url(2), alice, text);
    assert.deepEqual(
      [r.status, (r.body['error'] as { code?: string } | undefined)?.code],
      [400, 'SQL_EXECUTION_ERROR'],
      text,
    );
  }
  assert.equal((await sql(nodes.url(3), alice, 'UPDATE app.c SET b = b - 1 WHERE id = 1')).status, 200);
  // Past the snapshot threshold of alice's shard on every node.
  for (let id = 2; id <= 41; id++) {
    const r = await sql(nodes.url((id % 3) + 1), alice, `INSERT INTO app.c (id, b) VALUES (${id}, ${id})`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  for (const id of nodes.ids()) {
    const r = await sql(nodes.url(id), alice, 'SELECT b, n FROM app.c WHERE id = 1');
    assert.deepEqual(rowsOf(r), [[max - 1, max]], `node ${id}`);
  }
});
