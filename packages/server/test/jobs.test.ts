// What this proves (in process, over a StandaloneExecutor on a data.db in a temp folder, with an injected clock):
// FLUSH TABLE returns a job id and the job manager runs it — claimed with the node id, completed with a result;
// flushed rows land in Parquet files under <data_dir>/storage/<ns>/<table>/users/<user>/ (or under a STORAGE_ID's
// path) and reads merge hot and flushed rows (update and delete of flushed rows, point reads and scans; inserting a
// flushed key is refused); a second flush triggers compaction down to one file; retention drops STREAM rows past
// their TTL and purges soft-deleted rows past retention, by an explicit cutoff; a node reopened from its data_dir
// reads its flushed rows back from the files; a shard snapshot carries the flushed rows to a fresh node; FLUSH ALL
// TABLES [IN ns], FLUSH_POLICY='rows:N' and KILL JOB; a running job found on becoming leader is re-queued (orphan
// policy) and a late finish by its old node is refused; losing leadership stops a running job between steps and
// stops claiming; a dropped table's files are forgotten; a cron schedule fires once per due time, and one made with
// CREATE SCHEDULE fires its flush (one job per table for FLUSH ALL TABLES) until DROP SCHEDULE; the Parquet
// writer/reader round-trips values, NULLs and tombstones byte-identically; the retention cutoff compares `_seq`.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  DataStore,
  SqlEngine,
  StandaloneExecutor,
  StateMachines,
  decodeParquet,
  encodeParquet,
  pastCutoff,
  seqFloor,
} from '@kalam/kalamdb';
import type { QueryResult, Session, TableInfo } from '@kalam/kalamdb';

import { JOBS_LIMITS, JobManager, dueBetween, nextDue } from '../src/index.js';

const root: Session = { userId: 'root', username: 'root', role: 'system' };
const alice: Session = { userId: 'alice', username: 'alice', role: 'user' };
const SHARDING = { numUserShards: 4, numSharedShards: 1 };

interface Node {
  dir: string;
  machines: StateMachines;
  engine: SqlEngine;
  jobs: JobManager;
  clock: { ms: number };
}

function open(dir: string, clock = { ms: 1_700_000_000_000 }): Node {
  const machines = new StateMachines(DataStore.open(join(dir, 'data.db')), SHARDING, { dataDir: dir });
  machines.loadCold();
  const executor = new StandaloneExecutor(machines);
  const now = (): number => clock.ms;
  const engine = new SqlEngine({ executor, machines, nodeId: 1, now });
  const jobs = new JobManager({ executor, machines, now, defaultSchedules: false });
  return { dir, machines, engine, jobs, clock };
}

/** The live incarnation of a table in this node's catalog. */
function table(node: Node, tableId: string): TableInfo {
  const t = node.machines.system.catalog.table(tableId);
  assert.ok(t !== undefined, `${tableId} exists`);
  return t;
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-jobs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function q(node: Node, session: Session, sql: string): Promise<QueryResult> {
  const [r] = await node.engine.execute(session, sql);
  return r!;
}

async function rows(node: Node, sql: string, session: Session = alice): Promise<unknown[][]> {
  return (await q(node, session, sql)).rows;
}

/** Runs passes until no job is new, queued or running (bounded). */
async function drain(node: Node): Promise<void> {
  for (let i = 0; i < 50; i++) {
    node.clock.ms += 10;
    await node.jobs.runPass();
    const open = node.machines.jobs.jobs().filter((j) => ['new', 'queued', 'running'].includes(String(j['status'])));
    if (open.length === 0) return;
  }
  assert.fail('jobs did not finish in 50 passes');
}

async function setup(node: Node): Promise<void> {
  await node.engine.execute(root, 'CREATE NAMESPACE app');
  await node.engine.execute(root, 'CREATE USER TABLE app.items (id BIGINT PRIMARY KEY, label TEXT, n INT)');
  await node.engine.execute(
    alice,
    "INSERT INTO app.items (id, label, n) VALUES (1, 'a', 10), (2, 'b', 20), (3, 'c', 30)",
  );
}

test('FLUSH TABLE runs once through the job manager and reads merge hot and flushed rows', async (t) => {
  const node = open(tempDir(t));
  await setup(node);
  const flush = await q(node, root, 'FLUSH TABLE app.items');
  const jobId = String(flush.rows[0]![0]);
  assert.match(jobId, /^FL-/);
  await drain(node);
  const job = node.machines.jobs.job(jobId)!;
  assert.equal(job['status'], 'completed');
  assert.equal(job['node_id'], 1);
  assert.deepEqual(JSON.parse(String(job['result'])), { table: 'app.items', files: 1, rows: 3 });

  const folder = node.machines.cold.dirOf(table(node, 'app.items'), 'alice');
  assert.equal(readdirSync(folder).filter((f) => f.endsWith('.parquet')).length, 1);
  // No hot rows are left: everything is read from the flushed file.
  assert.equal(
    node.machines.userShards.flatMap((s) => s.jobScopes('app.items').filter((u) => s.hotStats('app.items', u) !== null))
      .length,
    0,
  );
  assert.deepEqual(await rows(node, 'SELECT id, label, n FROM app.items ORDER BY id'), [
    [1, 'a', 10],
    [2, 'b', 20],
    [3, 'c', 30],
  ]);

  await node.engine.execute(alice, "UPDATE app.items SET label = 'B' WHERE id = 2");
  await node.engine.execute(alice, 'DELETE FROM app.items WHERE id = 3');
  await node.engine.execute(alice, "INSERT INTO app.items (id, label, n) VALUES (4, 'd', 40)");
  await assert.rejects(node.engine.execute(alice, "INSERT INTO app.items (id, label) VALUES (1, 'dup')"));
  const expected = [
    [1, 'a', 10],
    [2, 'B', 20],
    [4, 'd', 40],
  ];
  assert.deepEqual(await rows(node, 'SELECT id, label, n FROM app.items ORDER BY id'), expected);
  assert.deepEqual(await rows(node, 'SELECT label FROM app.items WHERE id = 2'), [['B']]);
  assert.deepEqual(await rows(node, 'SELECT label FROM app.items WHERE id = 3'), []);

  // A second flush (the tombstone of 3 included) makes two files: compaction merges them into one.
  await q(node, root, 'FLUSH TABLE app.items');
  await drain(node);
  const types = node.machines.jobs.jobs().map((j) => `${String(j['job_type'])}:${String(j['status'])}`);
  assert.deepEqual(types, ['flush:completed', 'flush:completed', 'compaction:completed']);
  assert.equal(readdirSync(folder).filter((f) => f.endsWith('.parquet')).length, 1);
  assert.deepEqual(await rows(node, 'SELECT id, label, n FROM app.items ORDER BY id'), expected);

  // Reopened from disk: the flushed rows come back from the Parquet files.
  node.machines.store.close();
  const again = open(node.dir, node.clock);
  assert.deepEqual(await rows(again, 'SELECT id, label, n FROM app.items ORDER BY id'), expected);

  // A snapshot of alice's shard carries the flushed rows to a node that never had them.
  const shard = again.machines.router.userShard('alice');
  const snap = again.machines.userShards[shard]!.snapshot();
  const fresh = open(tempDir(t));
  await fresh.engine.execute(root, 'CREATE NAMESPACE app');
  await fresh.engine.execute(root, 'CREATE USER TABLE app.items (id BIGINT PRIMARY KEY, label TEXT, n INT)');
  fresh.machines.userShards[shard]!.restore({ index: 1_000, term: 1, data: snap });
  assert.deepEqual(await rows(fresh, 'SELECT id, label, n FROM app.items ORDER BY id'), expected);
  assert.ok(existsSync(fresh.machines.cold.dirOf(table(fresh, 'app.items'), 'alice')));
  assert.ok(
    fresh.machines.cold
      .dirOf(table(fresh, 'app.items'), 'alice')
      .startsWith(join(fresh.dir, 'storage', 'app', 'items')),
  );
  again.machines.store.close();
  fresh.machines.store.close();
});

test('retention drops STREAM rows past TTL and purges soft-deleted rows past retention, hot and flushed', async (t) => {
  const node = open(tempDir(t));
  await node.engine.execute(root, 'CREATE NAMESPACE app');
  await node.engine.execute(root, 'CREATE STREAM TABLE app.ev (id BIGINT PRIMARY KEY, v TEXT) WITH (TTL_SECONDS = 60)');
  await node.engine.execute(root, 'CREATE USER TABLE app.items (id BIGINT PRIMARY KEY, label TEXT)');
  await node.engine.execute(alice, "INSERT INTO app.ev (id, v) VALUES (1, 'old')");
  await node.engine.execute(alice, "INSERT INTO app.items (id, label) VALUES (1, 'x'), (2, 'y')");
  await q(node, root, 'FLUSH TABLE app.ev');
  await q(node, root, 'FLUSH TABLE app.items');
  await drain(node);
  await node.engine.execute(alice, 'DELETE FROM app.items WHERE id = 1');
  node.clock.ms += 120_000; // past the TTL of event 1
  await node.engine.execute(alice, "INSERT INTO app.ev (id, v) VALUES (2, 'new')");
  await node.engine.execute(root, 'FLUSH TABLE app.items'); // the tombstone of 1 goes to a file
  await drain(node);
  // A retention job with a zero retention for deletes: the cutoff is the job's clock, not apply's.
  const executor = new StandaloneExecutor(node.machines);
  await executor.executeJobs({
    type: 'CreateJob',
    jobId: 'RE-test',
    jobType: 'retention',
    namespaceId: null,
    tableName: null,
    config: { deleted_retention_ms: 0 },
    createdAt: node.clock.ms,
  });
  await drain(node);
  assert.equal(node.machines.jobs.job('RE-test')!['status'], 'completed');
  assert.deepEqual(await rows(node, 'SELECT id, v FROM app.ev ORDER BY id'), [[2, 'new']]);
  assert.deepEqual(await rows(node, 'SELECT id, label FROM app.items ORDER BY id'), [[2, 'y']]);
  // The tombstone of 1 is gone from the files too (not just hidden): the only file holds row 2.
  const files = node.machines.cold.filesOf(table(node, 'app.items'), 'alice');
  assert.equal(files.length, 1);
  assert.deepEqual(
    node.machines.cold.rowsOf(table(node, 'app.items'), 'alice', files[0]!).map((r) => [r.values['id'], r.deleted]),
    [[2, false]],
  );
  // Retention also forgets jobs finished longer than JOBS_LIMITS.jobHistoryMs ago (none yet: all are recent).
  assert.equal(
    (JSON.parse(String(node.machines.jobs.job('RE-test')!['result'])) as { jobsForgotten: number }).jobsForgotten,
    0,
  );
  node.clock.ms += JOBS_LIMITS.jobHistoryMs + 1;
  await executor.executeJobs({
    type: 'CreateJob',
    jobId: 'RE-later',
    jobType: 'retention',
    namespaceId: null,
    tableName: null,
    config: null,
    createdAt: node.clock.ms,
  });
  const before = node.machines.jobs.jobs().length;
  await drain(node);
  assert.equal(
    (JSON.parse(String(node.machines.jobs.job('RE-later')!['result'])) as { jobsForgotten: number }).jobsForgotten,
    before - 1,
  );
  assert.deepEqual(
    node.machines.jobs.jobs().map((j) => j['job_id']),
    ['RE-later'],
  );
  node.machines.store.close();
});

test('KILL JOB cancels; an orphaned running job is re-queued when a node becomes leader', async (t) => {
  const node = open(tempDir(t));
  await setup(node);
  const a = String((await q(node, root, 'FLUSH TABLE app.items')).rows[0]![0]);
  await q(node, root, `KILL JOB '${a}'`);
  assert.equal(node.machines.jobs.job(a)!['status'], 'cancelled');
  const b = String((await q(node, root, 'FLUSH TABLE app.items')).rows[0]![0]);
  const executor = new StandaloneExecutor(node.machines);
  // Claimed by node 7, which then vanished: the new leader's onBecomeLeader re-queues it, then runs it.
  await executor.executeJobs({ type: 'ClaimJob', jobId: b, nodeId: 7, claimedAt: node.clock.ms });
  await node.jobs.onBecomeLeader();
  const released = node.machines.jobs.job(b)!;
  assert.equal(released['status'], 'queued');
  assert.match(String(released['error_message']), /re-queued: node 7/);
  await drain(node);
  assert.equal(node.machines.jobs.job(b)!['status'], 'completed');
  assert.equal(node.machines.jobs.job(b)!['node_id'], 1);
  // A late finish by the node that lost the job is refused once another node has re-claimed it.
  const c = String((await q(node, root, 'FLUSH TABLE app.items')).rows[0]![0]);
  await executor.executeJobs({ type: 'ClaimJob', jobId: c, nodeId: 7, claimedAt: node.clock.ms });
  await executor.executeJobs({ type: 'ReleaseJob', jobId: c, reason: 'node 7 lost it', releasedAt: node.clock.ms });
  await executor.executeJobs({ type: 'ClaimJob', jobId: c, nodeId: 1, claimedAt: node.clock.ms });
  const late = await executor.executeJobs({ type: 'CompleteJob', jobId: c, result: null, completedAt: 1, nodeId: 7 });
  assert.equal(late.type, 'Error');
  assert.equal(node.machines.jobs.job(c)!['status'], 'running');
  node.machines.store.close();
});

test('FLUSH ALL TABLES [IN ns] returns one job id per table; users may not flush', async (t) => {
  const node = open(tempDir(t));
  await setup(node);
  await node.engine.execute(root, 'CREATE SHARED TABLE app.board (id BIGINT PRIMARY KEY, v TEXT)');
  await node.engine.execute(root, 'CREATE NAMESPACE other');
  await node.engine.execute(root, 'CREATE SHARED TABLE other.x (id BIGINT PRIMARY KEY)');
  await node.engine.execute(root, "INSERT INTO app.board (id, v) VALUES (1, 'one')");
  const r = await q(node, root, 'FLUSH ALL TABLES IN app');
  assert.deepEqual(
    r.rows.map((row) => row[1]),
    ['app.board', 'app.items'],
  );
  assert.equal(new Set(r.rows.map((row) => row[0])).size, 2);
  assert.equal((await q(node, root, 'FLUSH ALL TABLES')).row_count, 3);
  await assert.rejects(node.engine.execute(alice, 'FLUSH TABLE app.items'), /PERMISSION|role/i);
  await drain(node);
  assert.deepEqual(await rows(node, 'SELECT id, v FROM app.board', root), [[1, 'one']]);
  assert.equal(node.machines.cold.filesOf(table(node, 'app.board'), '').length, 1);
  const statuses = (await q(node, root, 'SELECT status FROM system.jobs')).rows.map((row) => row[0]);
  assert.deepEqual(new Set(statuses), new Set(['completed']));
  node.machines.store.close();
});

test('a table with STORAGE_ID flushes under that storage: relative to data_dir, or <path>/node-<id> when absolute', async (t) => {
  const node = open(tempDir(t));
  const elsewhere = tempDir(t);
  await node.engine.execute(root, 'CREATE NAMESPACE app');
  await node.engine.execute(root, "CREATE STORAGE rel TYPE 'filesystem' PATH 'cold'");
  await node.engine.execute(root, `CREATE STORAGE abs TYPE 'filesystem' PATH '${elsewhere}'`);
  await node.engine.execute(root, "CREATE USER TABLE app.r (id BIGINT PRIMARY KEY) WITH (STORAGE_ID = 'rel')");
  await node.engine.execute(root, "CREATE SHARED TABLE app.a (id BIGINT PRIMARY KEY) WITH (STORAGE_ID = 'abs')");
  await node.engine.execute(alice, 'INSERT INTO app.r (id) VALUES (1)');
  await node.engine.execute(root, 'INSERT INTO app.a (id) VALUES (1)');
  await q(node, root, 'FLUSH ALL TABLES IN app');
  await drain(node);
  const r = node.machines.cold.dirOf(table(node, 'app.r'), 'alice');
  const a = node.machines.cold.dirOf(table(node, 'app.a'), '');
  assert.ok(r.startsWith(join(node.dir, 'cold', 'app', 'r')), r);
  assert.ok(a.startsWith(join(elsewhere, 'node-1', 'app', 'a')), a);
  assert.equal(readdirSync(r).length, 1);
  assert.equal(readdirSync(a).length, 1);
  assert.deepEqual(await rows(node, 'SELECT id FROM app.a', root), [[1]]);
  node.machines.store.close();
});

test('a dropped and re-created table does not inherit the old flushed rows', async (t) => {
  const node = open(tempDir(t));
  await setup(node);
  await q(node, root, 'FLUSH TABLE app.items');
  await drain(node);
  await node.engine.execute(root, 'DROP TABLE app.items');
  await node.engine.execute(root, 'CREATE USER TABLE app.items (id BIGINT PRIMARY KEY, label TEXT, n INT)');
  assert.deepEqual(await rows(node, 'SELECT id FROM app.items'), []);
  node.machines.store.close();
});

test("FLUSH_POLICY='rows:N' creates a flush job once a table's hot rows reach N", async (t) => {
  const node = open(tempDir(t));
  await node.engine.execute(root, 'CREATE NAMESPACE app');
  await node.engine.execute(root, "CREATE USER TABLE app.p (id BIGINT PRIMARY KEY) WITH (FLUSH_POLICY = 'rows:3')");
  await node.engine.execute(alice, 'INSERT INTO app.p (id) VALUES (1), (2)');
  await node.jobs.runPass();
  assert.equal(node.machines.jobs.jobs().length, 0, 'two hot rows: below the policy');
  await node.engine.execute(alice, 'INSERT INTO app.p (id) VALUES (3)');
  await drain(node);
  const jobs = node.machines.jobs.jobs();
  assert.deepEqual(
    jobs.map((j) => [j['job_type'], j['status']]),
    [['flush', 'completed']],
  );
  assert.deepEqual(await rows(node, 'SELECT id FROM app.p ORDER BY id'), [[1], [2], [3]]);
  assert.equal(node.machines.cold.filesOf(table(node, 'app.p'), 'alice').length, 1);
  node.machines.store.close();
});

test('losing meta:jobs stops the running job between steps and stops claiming; regaining it re-queues and finishes', async (t) => {
  const node = open(tempDir(t));
  await setup(node);
  const bob: Session = { userId: 'bob', username: 'bob', role: 'user' };
  await node.engine.execute(bob, "INSERT INTO app.items (id, label, n) VALUES (1, 'bob', 1)");
  const inner = new StandaloneExecutor(node.machines);
  let leader = true;
  const executor = Object.assign(Object.create(inner) as StandaloneExecutor, {
    isLeader: (): boolean => leader,
  });
  const listeners: ((e: { groupId: number; isLocal: boolean }) => void)[] = [];
  const jobs = new JobManager({
    executor,
    machines: node.machines,
    now: () => node.clock.ms,
    defaultSchedules: false,
    testSwitches: { stepDelayMs: 100, retentionCron: null, deletedRetentionMs: null },
    onLeaderChange: (fn) => {
      listeners.push(fn);
      return () => undefined;
    },
  });
  jobs.start();
  t.after(async () => {
    await jobs.stop();
    node.machines.store.close();
  });
  const jobId = String((await q(node, root, 'FLUSH TABLE app.items')).rows[0]![0]);
  const filesNow = (): number =>
    node.machines.cold.filesOf(table(node, 'app.items'), 'alice').length +
    node.machines.cold.filesOf(table(node, 'app.items'), 'bob').length;
  for (let i = 0; i < 100 && filesNow() === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(filesNow(), 1, 'one of the two users was flushed');
  leader = false;
  for (const fn of listeners) fn({ groupId: 2, isLocal: false });
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(node.machines.jobs.job(jobId)!['status'], 'running', 'aborted mid-job, not completed');
  assert.equal(filesNow(), 1, 'no step ran after the loss');
  const other = String((await q(node, root, 'FLUSH TABLE app.items')).rows[0]![0]);
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(node.machines.jobs.job(other)!['status'], 'new', 'a follower claims nothing');
  leader = true;
  for (let i = 0; i < 100 && node.machines.jobs.job(other)!['status'] !== 'completed'; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const first = node.machines.jobs.job(jobId)!;
  assert.equal(first['status'], 'completed');
  assert.match(String(first['error_message']), /re-queued/);
  assert.equal(node.machines.jobs.job(other)!['status'], 'completed');
  assert.equal(filesNow(), 2);
  assert.deepEqual(await rows(node, 'SELECT id, label FROM app.items', bob), [[1, 'bob']]);
  assert.equal((await rows(node, 'SELECT id FROM app.items')).length, 3);
});

test('a cron schedule fires one job per due time on the leader (injected clock)', async (t) => {
  const node = open(tempDir(t));
  await setup(node);
  const start = Date.UTC(2026, 0, 1, 0, 0, 0);
  node.clock.ms = start + 500;
  assert.equal(nextDue('*/10 * * * * *', start), start + 10_000);
  assert.equal(dueBetween('*/10 * * * * *', start, start + 25_000), start + 20_000);
  const executor = new StandaloneExecutor(node.machines);
  await executor.executeJobs({
    type: 'CreateSchedule',
    scheduleId: 'flush-items',
    jobType: 'flush',
    cronExpression: '*/10 * * * * *',
    config: { table: 'app.items' },
    createdAt: start,
  });
  await node.jobs.runPass();
  assert.equal(node.machines.jobs.jobs().length, 0, 'nothing is due before the first 10 s mark');
  node.clock.ms = start + 10_000;
  await node.jobs.runPass();
  await node.jobs.runPass(); // same instant: no second job
  const fired = node.machines.jobs.jobs().map((j) => String(j['job_id']));
  assert.deepEqual(fired, [`flush-items@${start + 10_000}`]);
  await drain(node);
  assert.equal(node.machines.jobs.job(fired[0]!)!['status'], 'completed');
  node.machines.store.close();
});

test('a schedule made in SQL fires its job at each due time on the leader; DROP SCHEDULE stops it', async (t) => {
  const node = open(tempDir(t));
  const start = Date.UTC(2026, 0, 1, 0, 0, 0);
  node.clock.ms = start;
  await setup(node);
  await node.engine.execute(
    root,
    "CREATE SHARED TABLE app.cfg (k TEXT PRIMARY KEY, v TEXT) WITH (ACCESS_LEVEL = 'PUBLIC')",
  );
  await node.engine.execute(root, "INSERT INTO app.cfg (k, v) VALUES ('a', '1')");
  await q(node, root, "CREATE SCHEDULE 'items_flush' CRON '*/10 * * * * *' FLUSH TABLE app.items");
  await q(node, root, "CREATE SCHEDULE app_flush CRON '0 * * * * *' FLUSH ALL TABLES IN app");
  const jobIds = (): string[] => node.machines.jobs.jobs().map((j) => String(j['job_id']));

  node.clock.ms = start + 5_000;
  await node.jobs.runPass();
  assert.deepEqual(jobIds(), [], 'nothing is due before the first 10 s mark');
  node.clock.ms = start + 10_000;
  await node.jobs.runPass();
  await node.jobs.runPass(); // same instant: no second job
  const first = `items_flush@${start + 10_000}`;
  assert.deepEqual(jobIds(), [first]);
  await drain(node);
  const job = node.machines.jobs.job(first)!;
  assert.equal(job['status'], 'completed');
  assert.deepEqual(JSON.parse(String(job['config_json'])), { table: 'app.items', schedule: 'items_flush' });
  assert.deepEqual(JSON.parse(String(job['result'])), { table: 'app.items', files: 1, rows: 3 });
  const folder = node.machines.cold.dirOf(table(node, 'app.items'), 'alice');
  assert.equal(readdirSync(folder).filter((f) => f.endsWith('.parquet')).length, 1);

  await node.engine.execute(alice, "INSERT INTO app.items (id, label, n) VALUES (4, 'd', 40)");
  node.clock.ms = start + 20_000;
  await drain(node);
  const second = `items_flush@${start + 20_000}`;
  assert.equal(node.machines.jobs.job(second)?.['status'], 'completed');
  const fired = await q(node, root, "SELECT last_fired_at FROM system.schedules WHERE schedule_id = 'items_flush'");
  assert.deepEqual(fired.rows, [[start + 20_000]]);

  // Dropped between two due times: no job of it any more, while the other schedule keeps firing.
  await q(node, root, "DROP SCHEDULE 'items_flush'");
  const before = jobIds().filter((id) => id.startsWith('items_flush@'));
  assert.deepEqual(before, [first, second]);
  for (let at = start + 25_000; at <= start + 60_000; at += 5_000) {
    node.clock.ms = at;
    await node.jobs.runPass();
  }
  await drain(node);
  assert.deepEqual(
    jobIds().filter((id) => id.startsWith('items_flush@')),
    before,
  );
  // FLUSH ALL TABLES IN app fans out into one job per table of app at its due time, each run and completed.
  const minute = start + 60_000;
  const fanned = node.machines.jobs.jobs().filter((j) => String(j['job_id']).startsWith('app_flush@'));
  assert.deepEqual(fanned.map((j) => [j['job_id'], j['job_type'], j['table_name'], j['status']]).sort(), [
    [`app_flush@${minute}:app.cfg`, 'flush', 'cfg', 'completed'],
    [`app_flush@${minute}:app.items`, 'flush', 'items', 'completed'],
  ]);
  assert.deepEqual(await rows(node, 'SELECT id FROM app.items ORDER BY id'), [[1], [2], [3], [4]]);
  assert.deepEqual(await rows(node, 'SELECT k, v FROM app.cfg'), [['a', '1']]);
  node.machines.store.close();
});

test('Parquet round trip: values, NULLs and tombstones, byte-identical for identical input', () => {
  const columns = [
    { name: 'id', type: 'BIGINT' },
    { name: 'label', type: 'TEXT' },
    { name: 'ok', type: 'BOOLEAN' },
    { name: 'x', type: 'DOUBLE' },
  ];
  const input = [
    { values: { id: 1, label: 'a', ok: true, x: 1.5 }, seq: 2 ** 40 + 1, deleted: false },
    { values: { id: 2, label: null, ok: null, x: null }, seq: 2 ** 40 + 2, deleted: true },
  ];
  const a = encodeParquet(columns, input);
  assert.deepEqual(Buffer.from(a), Buffer.from(encodeParquet(columns, input)));
  assert.deepEqual(decodeParquet(columns, a), input);
});

test('retention cutoff: a row is past it when its _seq was handed out before the cutoff millisecond', () => {
  const cutoff = 1_700_000_000_000;
  const row = (ms: number, deleted: boolean) => ({ values: {}, seq: seqFloor(ms) + 5, deleted });
  assert.equal(pastCutoff(row(cutoff - 1, false), { expiredBeforeMs: cutoff, deletedBeforeMs: null }), true);
  assert.equal(pastCutoff(row(cutoff, false), { expiredBeforeMs: cutoff, deletedBeforeMs: null }), false);
  assert.equal(pastCutoff(row(cutoff - 1, false), { expiredBeforeMs: null, deletedBeforeMs: cutoff }), false);
  assert.equal(pastCutoff(row(cutoff - 1, true), { expiredBeforeMs: null, deletedBeforeMs: cutoff }), true);
});
