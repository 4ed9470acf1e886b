#!/usr/bin/env node
// bench/data-size/write-cost.mjs: what the job indexes (packages/kalamdb/src/tables.ts `jobIndexSql`) cost a write.
// Applies --rows rows of 1 KB (default 200,000) in 500-row Inserts of one user through a user shard's apply, on a
// file-backed data.db (WAL, the node's page cache), once per mode in --modes (default `without,with,without,with`:
// `without` drops the two indexes right after the table is made). One JSON line per run: seconds, and the bytes of
// the indexes and of the table (SQLite's dbstat). No Raft, no HTTP: the apply alone, where an index costs.
//
// Usage: node bench/data-size/write-cost.mjs [--rows N] [--modes with,without,…]   (needs `make build`)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    modes: { type: 'string', default: 'without,with,without,with' },
  },
});
const ROWS = Number(values.rows);
const BATCH = 500;
const { DataStore, StateMachines, encodeCommand } = await import('../../packages/kalamdb/dist/src/index.js');

const schema = {
  columns: [
    { name: 'id', type: 'BIGINT', notNull: true, default: null },
    { name: 'body', type: 'TEXT', notNull: false, default: null },
  ],
  primaryKey: 'id',
  options: {},
};

function run(indexed) {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-write-cost-'));
  const m = new StateMachines(
    DataStore.open(join(dir, 'data.db')),
    { numUserShards: 32, numSharedShards: 1 },
    {
      dataDir: dir,
    },
  );
  try {
    const ddl = [
      { type: 'CreateNamespace', namespaceId: 'app', createdBy: 'root', createdAt: 1 },
      { type: 'CreateTable', tableId: 'app.bulk', tableType: 'USER', schema, createdAt: 2 },
    ];
    m.system.apply(ddl.map((c, i) => ({ index: i + 1, term: 1, kind: 'command', data: encodeCommand(c) })));
    const indexes = m.store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'kx%'").all();
    if (!indexed) for (const r of indexes) m.store.db.exec(`DROP INDEX "${r.name}"`);
    const sm = m.userShards[m.router.userShard('loader')];
    const body = 'x'.repeat(1000);
    let seq = 1_700_000_000_000 * 4096;
    const startedAt = performance.now();
    for (let from = 0; from < ROWS; from += BATCH) {
      const rows = Array.from({ length: Math.min(BATCH, ROWS - from) }, (_, i) => ({ id: from + i, body }));
      const c = { type: 'Insert', tableId: 'app.bulk', userId: 'loader', metaIndex: 2, rows, seqBase: seq, at: 1 };
      seq += rows.length;
      sm.apply([{ index: sm.appliedIndex() + 1, term: 1, kind: 'command', data: encodeCommand(c) }]);
    }
    const seconds = (performance.now() - startedAt) / 1000;
    const bytes = (like) =>
      m.store.db.prepare('SELECT COALESCE(SUM(pgsize), 0) AS b FROM dbstat WHERE name LIKE ?').get(like).b;
    return {
      indexed,
      rows: ROWS,
      seconds: Math.round(seconds * 100) / 100,
      indexMb: Math.round(bytes('kx%') / 1e5) / 10,
      tableMb: Math.round(bytes('%kt_app__bulk%') / 1e5) / 10,
    };
  } finally {
    m.store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const mode of values.modes.split(',')) process.stdout.write(`${JSON.stringify(run(mode === 'with'))}\n`);
