// What this proves (issue M6 §1, adversaries.md "Poison entries"): the statements that used to stop every node of a
// 3-node cluster for good — a plain user's DELETE/UPDATE with an unknown function in WHERE, a dba's DDL with a name
// too long, upper case or with a space — are refused with a 4xx when planned, and every node stays up and agrees.
// And a cluster whose log already holds such entries (written with the test-only planted bug `unchecked-commands`,
// which reproduces the old behaviour: no checks, and apply stops the node) starts once the bug is gone and serves:
// every replica answers the entry with the same refusal and moves on.
// And storage PATHs that cannot hold files (under /dev/null, under /proc, a file in the way) are refused when
// CREATE STORAGE is planned; a flush into a storage whose folder stopped working fails its job, every node up.
// How: real `kalam serve` processes (KalamNodes), the HTTP API, and the admin digests of every group.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { basic, eventually, rowsOf, sql } from './support/net.js';
import type { JsonReply } from './support/net.js';
import { KalamNodes, ROOT_PASSWORD } from './support/nodes.js';

const root = basic('root', ROOT_PASSWORD);
const alice = basic('alice', 'alice-pass');
const long = 'x'.repeat(300);

const SETUP = [
  'CREATE NAMESPACE app',
  'CREATE USER TABLE app.notes (id BIGINT PRIMARY KEY, body TEXT)',
  'CREATE NAMESPACE p',
  'CREATE USER TABLE p.notes (id BIGINT PRIMARY KEY, body TEXT)',
  "CREATE USER alice WITH PASSWORD 'alice-pass' ROLE user",
];

/** The statements of the issue, each with who sends it. */
const POISON: readonly { readonly auth: string; readonly sql: string }[] = [
  { auth: alice, sql: 'DELETE FROM app.notes WHERE FOO(id) = 1' },
  { auth: alice, sql: "UPDATE app.notes SET body = 'b' WHERE BAR(body) = 'a'" },
  { auth: root, sql: `CREATE USER TABLE p.${long} (id BIGINT PRIMARY KEY)` },
  { auth: root, sql: `ALTER TABLE p.notes ADD COLUMN ${long} TEXT` },
  { auth: root, sql: 'ALTER TABLE p.notes ADD COLUMN "Weird Col" TEXT' },
  { auth: root, sql: `CREATE STORAGE ${long} TYPE 'filesystem' PATH '/tmp/kalam-poison'` },
  { auth: root, sql: 'CREATE USER TABLE "p"."Upper" (id BIGINT PRIMARY KEY)' },
];

async function setUp(nodes: KalamNodes): Promise<void> {
  for (const text of SETUP) {
    const r = await sql(nodes.url(1), root, text);
    assert.equal(r.status, 200, `${text}: ${JSON.stringify(r.body)}`);
  }
  const r = await sql(nodes.url(2), alice, "INSERT INTO app.notes (id, body) VALUES (1, 'a'), (2, 'b')");
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

function errorCode(r: JsonReply): unknown {
  return (r.body['error'] as { code?: unknown } | undefined)?.code;
}

test("the issue's statements get a 4xx with a code, and every node stays up and agrees", async (t) => {
  const nodes = await KalamNodes.start({ members: 3, adminEndpoints: true });
  t.after(() => nodes.close());
  await setUp(nodes);
  for (const [i, p] of POISON.entries()) {
    const r = await sql(nodes.url((i % 3) + 1), p.auth, p.sql);
    assert.ok(r.status >= 400 && r.status < 500, `${p.sql.slice(0, 60)}: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(typeof errorCode(r), 'string', JSON.stringify(r.body));
  }
  for (const id of nodes.ids()) assert.equal(await nodes.exitOf(id, 0), null, `node ${id} is still running`);
  for (const id of nodes.ids()) {
    assert.deepEqual(rowsOf(await sql(nodes.url(id), alice, 'SELECT id, body FROM app.notes ORDER BY id')), [
      [1, 'a'],
      [2, 'b'],
    ]);
  }
  await nodes.digestsAgree(20_000);
});

test('a log that holds those entries (the old behaviour, planted) starts and serves once upgraded', async (t) => {
  const planted = { KALAM_ALLOW_PLANTED_BUGS: '1', KALAM_PLANTED_BUG: 'unchecked-commands' };
  const nodes = await KalamNodes.start({ members: 3, adminEndpoints: true, env: planted });
  t.after(() => nodes.close());
  await setUp(nodes);
  // Unchecked, the DELETE reaches the log, and applying it stops every node — as it did before the fix.
  await sql(nodes.url(1), alice, 'DELETE FROM app.notes WHERE FOO(id) = 1').catch(() => undefined);
  for (const id of nodes.ids()) {
    const exit = await nodes.exitOf(id, 30_000);
    assert.ok(exit !== null, `node ${id} applied the poison entry and kept running`);
    assert.equal(exit.code, 1, `node ${id}: ${exit.stderr}`);
    assert.match(exit.stderr, /FOO cannot be used/, `node ${id} stopped on the entry`);
  }
  // Upgraded (the switch off), every node starts over the same log and answers the entry with a refusal.
  await Promise.all(nodes.ids().map((id) => nodes.startNode(id, {})));
  for (const id of nodes.ids()) {
    assert.deepEqual(rowsOf(await sql(nodes.url(id), alice, 'SELECT id, body FROM app.notes ORDER BY id')), [
      [1, 'a'],
      [2, 'b'],
    ]);
  }
  const write = await sql(nodes.url(3), alice, "INSERT INTO app.notes (id, body) VALUES (3, 'c')");
  assert.equal(write.status, 200, JSON.stringify(write.body));
  const again = await sql(nodes.url(2), alice, 'DELETE FROM app.notes WHERE FOO(id) = 1');
  assert.equal(again.status, 400, 'now refused when planned');
  await nodes.digestsAgree(20_000);
  for (const id of nodes.ids()) assert.equal(await nodes.exitOf(id, 0), null, `node ${id} is still running`);
});

test('storage PATHs that cannot hold files are refused; a flush into one that stopped working fails the job, not the nodes', async (t) => {
  // Found by the SQL fuzz test: a dba's storage under /dev/null stopped every node at the flush's apply (ENOTDIR),
  // one under /proc froze every node inside apply (Node 20's recursive mkdirSync loops there).
  const nodes = await KalamNodes.start({ members: 3, adminEndpoints: true });
  t.after(() => nodes.close());
  const scratch = mkdtempSync(join(tmpdir(), 'kalam-poison-storage-'));
  t.after(() => rmSync(scratch, { recursive: true, force: true }));
  await setUp(nodes);
  const aFile = join(scratch, 'a-file');
  writeFileSync(aFile, 'not a folder');
  for (const [i, path] of ['/dev/null/kalam-x', '/proc/kalam-x', '../escape', `${aFile}/sub`].entries()) {
    const r = await sql(nodes.url((i % 3) + 1), root, `CREATE STORAGE bad${i} TYPE 'filesystem' PATH '${path}'`);
    assert.equal(r.status, 400, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(errorCode(r), 'INVALID_INPUT', JSON.stringify(r.body));
  }
  // A storage that worked when it was made, and then a file took its folder's place on every node.
  const folder = join(scratch, 'cold');
  const setup = [
    `CREATE STORAGE cold TYPE 'filesystem' PATH '${folder}'`,
    "CREATE SHARED TABLE app.shared_t (id BIGINT PRIMARY KEY) WITH (STORAGE_ID = 'cold')",
    'INSERT INTO app.shared_t (id) VALUES (1), (2)',
  ];
  for (const text of setup) {
    const r = await sql(nodes.url(1), root, text);
    assert.equal(r.status, 200, `${text}: ${JSON.stringify(r.body)}`);
  }
  rmSync(folder, { recursive: true, force: true });
  writeFileSync(folder, 'not a folder either');
  const flush = await sql(nodes.url(2), root, 'FLUSH TABLE app.shared_t');
  assert.equal(flush.status, 200, JSON.stringify(flush.body));
  const jobId = String(rowsOf(flush)[0]![0]);
  const failed = await eventually(30_000, `job ${jobId} did not fail`, async () => {
    const [row] = rowsOf(
      await sql(nodes.url(1), root, `SELECT status, error_message FROM system.jobs WHERE job_id = '${jobId}'`),
    );
    return row?.[0] === 'failed' ? String(row[1]) : undefined;
  });
  assert.match(failed, /cannot write files/);
  for (const id of nodes.ids()) assert.equal(await nodes.exitOf(id, 0), null, `node ${id} is still running`);
  for (const id of nodes.ids()) {
    assert.deepEqual(rowsOf(await sql(nodes.url(id), root, 'SELECT id FROM app.shared_t ORDER BY id')), [[1], [2]]);
  }
  await nodes.digestsAgree(20_000);
});
