// What this proves: what the meta:jobs leader reads to plan its jobs does not grow with a table's rows — a retention
// pass (the default schedule runs one every minute over every table, on the leader's event loop) and a FLUSH_POLICY
// check read a few pages of data.db, not the table, even when retention has a tombstone to drop (the rewrite
// every replica applies reads that tombstone, not the scope); and the pass still drops exactly what is past its
// cutoff. At 1 GB of rows in one shard, that read was a whole-table GROUP BY per shard, seconds of a blocked event
// loop every minute and thousands of elections (README, "Data size"). And a data.db whose tables predate the job
// indexes gets them at the table's next write, and reads right before that.
// How: StateMachines over a temp data.db (file-backed, WAL, the node's 2 MiB page cache), 24,000 hot rows of 1 KB
// over several users and shards, and the JobManager over a StandaloneExecutor with an injected clock. The bytes this
// process reads through read(2)/pread(2) across one pass (/proc/self/io `rchar`: every page SQLite reads, from the
// OS cache or the disk alike) against the table's bytes (the `dbstat` table).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { DataStore, JobManager, StandaloneExecutor, StateMachines, encodeCommand } from '../src/index.js';
import type { AnyCommand, SystemCommand, TableSchema } from '../src/index.js';
import { SHARDING } from './support/notes.js';

const DAY_MS = 24 * 3600 * 1000;
/** The clock of the load: rows and the tombstone are written at T0, jobs run 8 days later (retention is 7 days). */
const T0 = 1_700_000_000_000;
const SEQ_PER_MS = 4096;
const BODY = 'x'.repeat(1000);
/** alice's rows, and each other user's: alice alone holds ~20 MB. */
const ALICE_ROWS = 20_000;
const OTHER_ROWS = 1_000;
const OTHERS = ['bob', 'carol', 'dave', 'erin'];

function schema(options: TableSchema['options']): TableSchema {
  return {
    columns: [
      { name: 'id', type: 'BIGINT', notNull: true, default: null },
      { name: 'body', type: 'TEXT', notNull: false, default: null },
    ],
    primaryKey: 'id',
    options,
  };
}

/** Bytes this process has read through read(2)-like calls so far (Linux). */
function bytesRead(): number {
  const m = /^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  assert.ok(m !== null, '/proc/self/io has rchar');
  return Number(m[1]);
}

/** A node's machines over a temp folder, with app.notes (USER) holding the load; `options` are the table's. */
function loaded(
  t: { after: (fn: () => void) => void },
  options: TableSchema['options'],
): { machines: StateMachines; manager: JobManager; tableBytes: number } {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-job-reads-'));
  const machines = new StateMachines(DataStore.open(join(dir, 'data.db')), SHARDING, { dataDir: dir });
  t.after(() => {
    machines.store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const ddl: SystemCommand[] = [
    { type: 'CreateNamespace', namespaceId: 'app', createdBy: 'root', createdAt: 1 },
    { type: 'CreateTable', tableId: 'app.notes', tableType: 'USER', schema: schema(options), createdAt: 2 },
  ];
  machines.system.apply(ddl.map((c, i) => ({ index: i + 1, term: 1, kind: 'command', data: encodeCommand(c) })));
  let seq = T0 * SEQ_PER_MS;
  const write = (userId: string, cmd: Record<string, unknown>): void => {
    const sm = machines.userShards[machines.router.userShard(userId)]!;
    const c = { ...cmd, userId, tableId: 'app.notes', metaIndex: 2 } as AnyCommand;
    const [r] = sm.apply([{ index: sm.appliedIndex() + 1, term: 1, kind: 'command', data: encodeCommand(c) }]);
    assert.equal((r as { type: string }).type, 'RowsAffected', JSON.stringify(r));
  };
  const load = (userId: string, rows: number): void => {
    for (let from = 0; from < rows; from += 500) {
      const batch = Array.from({ length: Math.min(500, rows - from) }, (_, i) => ({ id: from + i, body: BODY }));
      write(userId, { type: 'Insert', rows: batch, seqBase: seq, at: T0 });
      seq += batch.length;
    }
  };
  load('alice', ALICE_ROWS);
  for (const u of OTHERS) load(u, OTHER_ROWS);
  // One tombstone of alice's, written at T0: past the 7-day retention when the jobs run.
  const filter = { kind: 'binary', op: '=', left: { kind: 'column', table: null, name: 'id' }, right: lit(7) };
  write('alice', { type: 'Delete', filter, seqBase: seq, at: T0 });
  const shards = new Set(['alice', ...OTHERS].map((u) => machines.router.userShard(u)));
  assert.ok(shards.size >= 2, 'the users span several shards');
  const physical = machines.store.physical.names()[0]!;
  const { bytes } = machines.store.db
    .prepare<[string], { bytes: number }>('SELECT SUM(pgsize) AS bytes FROM dbstat WHERE name = ?')
    .get(physical)!;
  assert.ok(bytes > 20_000_000, `the table holds ${bytes} bytes`);
  const manager = new JobManager({
    executor: new StandaloneExecutor(machines),
    machines,
    now: () => T0 + 8 * DAY_MS,
    defaultSchedules: false,
  });
  return { machines, manager, tableBytes: bytes };
}

function lit(value: number): { kind: 'literal'; value: number } {
  return { kind: 'literal', value };
}

/** The hot rows of `userId` in app.notes, as a flush would plan them. */
function hotRows(machines: StateMachines, userId: string): number {
  return machines.userShards[machines.router.userShard(userId)]!.hotStats('app.notes', userId)?.rows ?? 0;
}

test('a retention pass over 24,000 rows of 1 KB reads a few pages, not the table, and drops only the old tombstone', async (t) => {
  const { machines, manager, tableBytes } = loaded(t, {});
  machines.jobs.apply([
    {
      index: machines.jobs.appliedIndex() + 1,
      term: 1,
      kind: 'command',
      data: encodeCommand({
        type: 'CreateJob',
        jobId: 'retention-1',
        jobType: 'retention',
        namespaceId: null,
        tableName: null,
        config: {},
        createdAt: T0 + 8 * DAY_MS,
      }),
    },
  ]);
  assert.equal(hotRows(machines, 'alice'), ALICE_ROWS, 'the tombstone is a hot row');
  const before = bytesRead();
  await manager.runPass();
  const read = bytesRead() - before;
  t.diagnostic(`retention pass: ${read} bytes read; the table: ${tableBytes} bytes`);
  const job = machines.jobs.job('retention-1')!;
  assert.equal(job['status'], 'completed', String(job['error_message']));
  assert.deepEqual(JSON.parse(String(job['result'])), { tables: 1, removed: 1, jobsForgotten: 0 });
  assert.equal(hotRows(machines, 'alice'), ALICE_ROWS - 1, 'the tombstone is gone');
  for (const u of OTHERS) assert.equal(hotRows(machines, u), OTHER_ROWS, `${u}'s rows stay`);
  // A scan of the table reads all of it through the 2 MiB cache; seeks read a few index pages per scope.
  assert.ok(read < tableBytes / 20, `the pass read ${read} bytes; the table is ${tableBytes}`);
});

test('a FLUSH_POLICY check counts up to its limit, not the table, and creates the flush when the rows reach it', async (t) => {
  const total = ALICE_ROWS + OTHERS.length * OTHER_ROWS;
  const { machines, manager, tableBytes } = loaded(t, { flushPolicy: { rows: total + 1 } });
  const before = bytesRead();
  await manager.runPass();
  const read = bytesRead() - before;
  t.diagnostic(`flush policy check: ${read} bytes read; the table: ${tableBytes} bytes`);
  assert.deepEqual(machines.jobs.jobs(), [], 'one row short of the limit: no flush job');
  assert.ok(read < tableBytes / 20, `the pass read ${read} bytes; the table is ${tableBytes}`);
  const sm = machines.userShards[machines.router.userShard('bob')]!;
  const insert = { type: 'Insert', tableId: 'app.notes', userId: 'bob', metaIndex: 2, rows: [{ id: -1, body: 'b' }] };
  const cmd = { ...insert, seqBase: (T0 + 1) * SEQ_PER_MS, at: T0 + 1 } as AnyCommand;
  sm.apply([{ index: sm.appliedIndex() + 1, term: 1, kind: 'command', data: encodeCommand(cmd) }]);
  await manager.runPass(); // the policy creates the flush job, and the pass runs it
  const jobs = machines.jobs.jobs().filter((j) => j['job_type'] === 'flush');
  assert.equal(jobs.length, 1, 'the limit reached: one flush job');
  assert.equal(jobs[0]!['status'], 'completed', String(jobs[0]!['error_message']));
  assert.equal(hotRows(machines, 'alice'), 0, 'the flush moved the rows out of the hot table');
});

test('a data.db written before the job indexes gets them at its table’s next write', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-job-reads-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'data.db');
  const indexes = (m: StateMachines): string[] =>
    m.store.db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'kx%'")
      .all()
      .map((r) => r.name)
      .sort();
  const insert = (m: StateMachines, id: number): void => {
    const sm = m.userShards[m.router.userShard('alice')]!;
    const rows = [{ id, body: 'b' }];
    const c = { type: 'Insert', tableId: 'app.notes', userId: 'alice', metaIndex: 2, rows, seqBase: id, at: 1 };
    sm.apply([{ index: sm.appliedIndex() + 1, term: 1, kind: 'command', data: encodeCommand(c as AnyCommand) }]);
  };
  const old = new StateMachines(DataStore.open(path), SHARDING, { dataDir: dir });
  const ddl: SystemCommand[] = [
    { type: 'CreateNamespace', namespaceId: 'app', createdBy: 'root', createdAt: 1 },
    { type: 'CreateTable', tableId: 'app.notes', tableType: 'USER', schema: schema({}), createdAt: 2 },
  ];
  old.system.apply(ddl.map((c, i) => ({ index: i + 1, term: 1, kind: 'command', data: encodeCommand(c) })));
  const made = indexes(old);
  assert.deepEqual(made, ['kx_app__notes__2__deleted', 'kx_app__notes__2__seq'], 'made with the table');
  insert(old, 1);
  for (const name of made) old.store.db.exec(`DROP INDEX "${name}"`); // as a data.db from before them
  old.store.close();

  const m = new StateMachines(DataStore.open(path), SHARDING, { dataDir: dir });
  t.after(() => m.store.close());
  assert.deepEqual(indexes(m), [], 'opening alone changes nothing');
  const sm = m.userShards[m.router.userShard('alice')]!;
  assert.deepEqual(sm.hotStats('app.notes', 'alice'), { rows: 1, minSeq: 1, maxSeq: 1 }, 'read right without them');
  insert(m, 2);
  assert.deepEqual(indexes(m), made, 'made at the first write');
  assert.deepEqual(sm.hotStats('app.notes', 'alice'), { rows: 2, minSeq: 1, maxSeq: 2 });
});
