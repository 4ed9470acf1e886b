// What this proves: flush and rewrite commands are deterministic across replicas — two nodes (each its own data.db
// and data_dir) applying the same commands write the same Parquet file names with byte-identical content, keep
// identical shard snapshots, and read the same merged rows; a flush whose row count disagrees with the hot rows in
// its `_seq` range is refused on every node alike (and leaves the hot rows alone); a rewrite refuses input files that
// are not exactly the scope's files; among flushed versions the later-applied one wins, whatever its `_seq`.
// How: StateMachines over temp folders, commands applied through apply().
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { DataStore, StateMachines, encodeCommand } from '../src/index.js';
import type { AnyCommand, DataResponse, UserDataCommand } from '../src/index.js';
import { NOTES, NOTES_DDL, SHARDING } from './support/notes.js';

function replica(t: { after: (fn: () => void) => void }): { dir: string; machines: StateMachines } {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-cold-'));
  const machines = new StateMachines(DataStore.open(join(dir, 'data.db')), SHARDING, { dataDir: dir });
  t.after(() => {
    machines.store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  machines.system.apply(NOTES_DDL.map((c, i) => ({ index: i + 1, term: 1, kind: 'command', data: encodeCommand(c) })));
  return { dir, machines };
}

function applyUser(m: StateMachines, cmds: readonly UserDataCommand[]): DataResponse[] {
  const sm = m.userShards[m.router.userShard('alice')]!;
  const start = sm.appliedIndex() + 1;
  return sm.apply(
    cmds.map((c: AnyCommand, i) => ({ index: start + i, term: 1, kind: 'command', data: encodeCommand(c) })),
  ) as DataResponse[];
}

const base = { tableId: 'app.notes', userId: 'alice', metaIndex: 2 } as const;
const script: UserDataCommand[] = [
  {
    ...base,
    type: 'Insert',
    rows: [
      { id: 1, body: 'a' },
      { id: 2, body: 'b' },
      { id: 3, body: null },
    ],
    seqBase: 100,
    at: 10,
  },
  { ...base, type: 'FlushRows', fileName: 'f-100-102.parquet', rowCount: 3, minSeq: 100, maxSeq: 102, at: 11 },
  { ...base, type: 'Update', updates: { body: 'B' }, filter: null, seqBase: 200, at: 12 },
  { ...base, type: 'FlushRows', fileName: 'f-200-202.parquet', rowCount: 3, minSeq: 200, maxSeq: 202, at: 13 },
  {
    ...base,
    type: 'RewriteFiles',
    reason: 'compaction',
    inputFiles: ['f-100-102.parquet', 'f-200-202.parquet'],
    outputFile: 'c-100-202.parquet',
    expiredBeforeMs: null,
    deletedBeforeMs: null,
    at: 14,
  },
];

function files(dir: string): Map<string, Buffer> {
  const folder = join(dir, 'storage', 'app', 'notes', '2', 'users', 'alice');
  return new Map(readdirSync(folder).map((f) => [f, readFileSync(join(folder, f))]));
}

test('two replicas applying the same flush and compaction write identical files and snapshots', (t) => {
  const a = replica(t);
  const b = replica(t);
  const ra = applyUser(a.machines, script);
  const rb = applyUser(b.machines, script);
  assert.deepEqual(ra, rb);
  assert.deepEqual(
    ra.map((r) => r.type),
    ['RowsAffected', 'RowsAffected', 'RowsAffected', 'RowsAffected', 'RowsAffected'],
  );
  const fa = files(a.dir);
  assert.deepEqual([...fa.keys()], ['c-100-202.parquet'], 'compaction left one file, the inputs are deleted');
  assert.deepEqual(fa, files(b.dir));
  const shard = a.machines.router.userShard('alice');
  assert.deepEqual(
    Buffer.from(a.machines.userShards[shard]!.snapshot()),
    Buffer.from(b.machines.userShards[shard]!.snapshot()),
  );
  const rows = a.machines.userShards[shard]!.userRows('app.notes', 'alice');
  assert.deepEqual(
    rows.map((r) => [r['id'], r['body']]),
    [
      [1, 'B'],
      [2, 'B'],
      [3, 'B'],
    ],
  );
  // Compaction kept one version per key: 3 rows, not 6.
  assert.equal(a.machines.cold.filesOf(NOTES, 'alice')[0]!.rowCount, 3);
});

test('a flush whose count disagrees, or a rewrite of the wrong files, is refused alike and changes nothing', (t) => {
  const a = replica(t);
  const [insert, , , , rewrite] = script as [
    UserDataCommand,
    UserDataCommand,
    UserDataCommand,
    UserDataCommand,
    UserDataCommand,
  ];
  applyUser(a.machines, [insert]);
  const [r] = applyUser(a.machines, [
    { ...base, type: 'FlushRows', fileName: 'f-100-101.parquet', rowCount: 3, minSeq: 100, maxSeq: 101, at: 11 },
  ]);
  assert.equal(r!.type, 'Error');
  assert.equal(a.machines.cold.filesOf(NOTES, 'alice').length, 0);
  assert.equal(a.machines.userShards[a.machines.router.userShard('alice')]!.hotStats('app.notes', 'alice')!.rows, 3);
  const [w] = applyUser(a.machines, [rewrite]);
  assert.equal(w!.type, 'Error');
});

test('a later write wins over a flushed one even when its _seq is lower (another node’s clock behind)', (t) => {
  const a = replica(t);
  const shard = a.machines.userShards[a.machines.router.userShard('alice')]!;
  const body = (): unknown[] => shard.userRows('app.notes', 'alice').map((r) => r['body']);
  const responses = applyUser(a.machines, [
    { ...base, type: 'Insert', rows: [{ id: 1, body: 'first' }], seqBase: 500, at: 10 },
    { ...base, type: 'FlushRows', fileName: 'f-500-500.parquet', rowCount: 1, minSeq: 500, maxSeq: 500, at: 11 },
    { ...base, type: 'Update', updates: { body: 'second' }, filter: null, seqBase: 100, at: 12 },
  ]);
  assert.deepEqual(
    responses.map((r) => r.type),
    ['RowsAffected', 'RowsAffected', 'RowsAffected'],
  );
  assert.deepEqual(body(), ['second'], 'hot over flushed');
  applyUser(a.machines, [
    { ...base, type: 'FlushRows', fileName: 'f-100-100.parquet', rowCount: 1, minSeq: 100, maxSeq: 100, at: 13 },
  ]);
  assert.deepEqual(body(), ['second'], 'the later file over the earlier one');
  applyUser(a.machines, [
    {
      ...base,
      type: 'RewriteFiles',
      reason: 'compaction',
      inputFiles: ['f-500-500.parquet', 'f-100-100.parquet'],
      outputFile: 'c-100-500.parquet',
      expiredBeforeMs: null,
      deletedBeforeMs: null,
      at: 14,
    },
  ]);
  assert.deepEqual(body(), ['second'], 'compaction keeps the later version');
});
