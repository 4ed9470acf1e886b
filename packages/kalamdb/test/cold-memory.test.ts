// What this proves: flushed files are decoded synchronously and exactly (every column type Kalam writes, nulls,
// empty strings, `_seq` past 2^32, tombstones, several row groups — and the same values as hyparquet's own async
// reader); only the manifest of flushed files stays in memory: a node restarted after flushes has decoded nothing
// when it starts, and reads, point lookups and its snapshot still answer from the files; a tiny cache bound keeps at
// most that many decoded rows while reads across many files and scopes answer correctly; a file missing at startup is
// a clear error.
// How: encode/decode directly; StateMachines over temp folders, commands applied through apply(), reopened on the
// same data.db and data_dir to restart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';

import {
  COLD_LIMITS,
  ColdStoreError,
  DataStore,
  StateMachines,
  decodeParquet,
  encodeCommand,
  encodeParquet,
} from '../src/index.js';
import type { AnyCommand, ColdColumn, ColdRow, SystemCommand, UserDataCommand } from '../src/index.js';
import { NOTES, NOTES_DDL, SHARDING } from './support/notes.js';

const ALL_TYPES: ColdColumn[] = [
  'BIGINT',
  'INT',
  'SMALLINT',
  'TIMESTAMP',
  'DOUBLE',
  'FLOAT',
  'BOOLEAN',
  'TEXT',
  'DATE',
  'JSON',
  'BYTES',
  'UUID',
].map((type) => ({ name: `c_${type.toLowerCase()}`, type }));

function sampleRows(n: number): ColdRow[] {
  return Array.from({ length: n }, (_, k) => ({
    values: {
      c_bigint: k % 11 === 0 ? null : k * 1_000_003 - 2 ** 40,
      c_int: k % 7 === 0 ? null : -k,
      c_smallint: k % 300,
      c_timestamp: 1_700_000_000_000 + k,
      c_double: k % 5 === 0 ? null : k / 3,
      c_float: -0.5 * k,
      c_boolean: k % 3 === 0 ? null : k % 2 === 0,
      c_text: k % 4 === 0 ? '' : k % 4 === 1 ? null : `row ${k} é ✓ ${'x'.repeat(k % 40)}`,
      c_date: k % 2 === 0 ? '2024-02-29' : null,
      c_json: k % 2 === 1 ? `{"k":${k},"s":"a\\"b"}` : null,
      c_bytes: k % 6 === 0 ? '' : 'AAEC',
      c_uuid: k % 9 === 0 ? null : `00000000-0000-4000-8000-${String(k).padStart(12, '0')}`,
    },
    seq: 2 ** 45 + k * 4097,
    deleted: k % 13 === 0,
  }));
}

test('the synchronous decode returns exactly the rows encodeParquet wrote, and what hyparquet reads', async () => {
  for (const n of [0, 1, 2, 257, 5_000]) {
    const rows = sampleRows(n);
    const bytes = encodeParquet(ALL_TYPES, rows);
    const decoded = decodeParquet(ALL_TYPES, bytes);
    assert.deepEqual(decoded, rows, `${n} rows`);
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const objects = await parquetReadObjects({ file });
    assert.equal(objects.length, n);
    objects.forEach((o, i) => {
      assert.equal(o['_seq'], BigInt(decoded[i]!.seq));
      assert.equal(o['_deleted'], decoded[i]!.deleted);
    });
  }
});

test('the synchronous decode reads every row group of a file', () => {
  const columns: ColdColumn[] = [
    { name: 'id', type: 'BIGINT' },
    { name: 'body', type: 'TEXT' },
  ];
  const n = 10;
  const bytes = parquetWriteBuffer({
    columnData: [
      { name: 'id', type: 'INT64', data: Array.from({ length: n }, (_, i) => BigInt(i)) },
      { name: 'body', type: 'STRING', data: Array.from({ length: n }, (_, i) => (i % 3 === 0 ? null : `b${i}`)) },
      { name: '_seq', type: 'INT64', data: Array.from({ length: n }, (_, i) => BigInt(100 + i)) },
      { name: '_deleted', type: 'BOOLEAN', data: Array.from({ length: n }, (_, i) => i === 4) },
    ],
    rowGroupSize: 3,
  });
  assert.deepEqual(
    decodeParquet(columns, new Uint8Array(bytes)),
    Array.from({ length: n }, (_, i) => ({
      values: { id: i, body: i % 3 === 0 ? null : `b${i}` },
      seq: 100 + i,
      deleted: i === 4,
    })),
  );
});

interface Node {
  readonly dir: string;
  open(cachedRowsMax?: number): StateMachines;
  close(m: StateMachines): void;
}

/** A node's folder; `open` (re)starts its state machines on the same data.db and data_dir. */
function node(t: { after: (fn: () => void) => void }): Node {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-coldmem-'));
  const opened = new Set<StateMachines>();
  t.after(() => {
    for (const m of opened) m.store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    open(cachedRowsMax?: number): StateMachines {
      const m = new StateMachines(DataStore.open(join(dir, 'data.db')), SHARDING, {
        dataDir: dir,
        ...(cachedRowsMax === undefined ? {} : { coldCachedRowsMax: cachedRowsMax }),
      });
      opened.add(m);
      return m;
    },
    close(m: StateMachines): void {
      m.store.close();
      opened.delete(m);
    },
  };
}

function applySystem(m: StateMachines, cmds: readonly SystemCommand[]): void {
  const start = m.system.appliedIndex() + 1;
  m.system.apply(cmds.map((c, i) => ({ index: start + i, term: 1, kind: 'command', data: encodeCommand(c) })));
}

function applyUser(m: StateMachines, userId: string, cmds: readonly UserDataCommand[]): void {
  const sm = m.userShards[m.router.userShard(userId)]!;
  const start = sm.appliedIndex() + 1;
  const out = sm.apply(
    cmds.map((c: AnyCommand, i) => ({ index: start + i, term: 1, kind: 'command', data: encodeCommand(c) })),
  ) as { type: string }[];
  for (const r of out) assert.equal(r.type, 'RowsAffected', JSON.stringify(r));
}

/** `_seq` handed out so far in this file: every insert takes fresh ones (users may share a shard). */
let seqs = 1_000;

/** `files` flushes of `perFile` new keys each for `userId` (flush f holds keys f·perFile to (f+1)·perFile − 1). */
function fill(m: StateMachines, userId: string, files: number, perFile: number): void {
  const base = { tableId: 'app.notes', userId, metaIndex: 2 } as const;
  for (let f = 0; f < files; f++) {
    const seqBase = seqs;
    seqs += perFile;
    applyUser(m, userId, [
      {
        ...base,
        type: 'Insert',
        rows: Array.from({ length: perFile }, (_, i) => ({ id: f * perFile + i, body: `${userId}-${f}-${i}` })),
        seqBase,
        at: 10 + f,
      },
      {
        ...base,
        type: 'FlushRows',
        fileName: `f-${seqBase}-${seqBase + perFile - 1}.parquet`,
        rowCount: perFile,
        minSeq: seqBase,
        maxSeq: seqBase + perFile - 1,
        at: 10 + f,
      },
    ]);
  }
}

function expected(userId: string, files: number, perFile: number): [number, string][] {
  return Array.from({ length: files * perFile }, (_, k) => [k, `${userId}-${Math.floor(k / perFile)}-${k % perFile}`]);
}

function rowsOf(m: StateMachines, userId: string): [unknown, unknown][] {
  const sm = m.userShards[m.router.userShard(userId)]!;
  return sm.userRows('app.notes', userId).map((r) => [r['id'], r['body']]);
}

test('a node restarted after flushes decodes nothing at start and answers from its files', (t) => {
  const n = node(t);
  const before = n.open();
  applySystem(before, NOTES_DDL);
  fill(before, 'alice', 3, 4);
  applyUser(before, 'alice', [
    {
      tableId: 'app.notes',
      userId: 'alice',
      metaIndex: 2,
      type: 'Delete',
      filter: {
        kind: 'binary',
        op: '=',
        left: { kind: 'column', table: null, name: 'id' },
        right: { kind: 'literal', value: 5 },
      },
      seqBase: 9_000,
      at: 40,
    },
  ]);
  const want = expected('alice', 3, 4).filter(([id]) => id !== 5);
  assert.deepEqual(rowsOf(before, 'alice'), want);
  const shard = before.router.userShard('alice');
  const snapshot = Buffer.from(before.userShards[shard]!.snapshot());
  n.close(before);

  const after = n.open();
  after.loadCold();
  assert.equal(after.cold.filesOf(NOTES, 'alice').length, 3, 'the manifest is loaded');
  assert.deepEqual(after.cold.cacheStats(), { entries: 0, rows: 0, maxRows: COLD_LIMITS.cachedRowsMax });
  assert.deepEqual(Buffer.from(after.userShards[shard]!.snapshot()), snapshot, 'the dump decodes the files alike');
  assert.equal(after.cold.cacheStats().entries, 0, 'a dump does not fill the cache');
  assert.equal(after.userShards[shard]!.userRowByKey('app.notes', 'alice', 7)?.['body'], 'alice-1-3');
  assert.equal(after.userShards[shard]!.userRowByKey('app.notes', 'alice', 5), undefined, 'the tombstone hides it');
  assert.ok(after.cold.cacheStats().rows > 0, 'the point reads went through the cache');
  assert.deepEqual(rowsOf(after, 'alice'), want, 'a read after restart, from the files');
  // A flush after the restart adds a fourth file, its rows cached as written.
  fill(after, 'bob', 1, 2);
  assert.deepEqual(rowsOf(after, 'bob'), expected('bob', 1, 2));
});

test('a tiny cache bound holds at most that many decoded rows and reads stay right', (t) => {
  const n = node(t);
  const limit = 7;
  const m = n.open(limit);
  applySystem(m, NOTES_DDL);
  const users = ['alice', 'bob', 'carol', 'dave'];
  for (const u of users) {
    fill(m, u, 5, 3);
    assert.ok(m.cold.cacheStats().rows <= limit);
  }
  const check = (sm: StateMachines): void => {
    for (let round = 0; round < 2; round++) {
      for (const u of users) {
        assert.deepEqual(rowsOf(sm, u), expected(u, 5, 3), `${u}, round ${round}`);
        assert.ok(sm.cold.cacheStats().rows <= limit, JSON.stringify(sm.cold.cacheStats()));
        const shard = sm.userShards[sm.router.userShard(u)]!;
        for (const id of [0, 7, 14]) {
          assert.equal(shard.userRowByKey('app.notes', u, id)?.['body'], `${u}-${Math.floor(id / 3)}-${id % 3}`);
          assert.ok(sm.cold.cacheStats().rows <= limit);
        }
      }
    }
    assert.ok(sm.cold.cacheStats().entries > 0, 'files of 3 rows fit under the bound and are kept');
  };
  check(m);
  n.close(m);
  const again = n.open(limit);
  again.loadCold();
  assert.equal(again.cold.cacheStats().entries, 0);
  check(again);
});

test('a flushed file missing at startup is a clear error', (t) => {
  const n = node(t);
  const m = n.open();
  applySystem(m, NOTES_DDL);
  fill(m, 'alice', 2, 2);
  const second = m.cold.filesOf(NOTES, 'alice')[1]!.fileName;
  n.close(m);
  unlinkSync(join(n.dir, 'storage', 'app', 'notes', '2', 'users', 'alice', second));
  const again = n.open();
  assert.throws(
    () => again.loadCold(),
    (err: unknown) => {
      assert.ok(err instanceof ColdStoreError);
      assert.ok(err.message.includes(`${second} of app.notes is missing`), err.message);
      return true;
    },
  );
});
