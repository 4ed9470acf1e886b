// What this proves: a shard's flushed (cold) rows travel in a snapshot as pages of their own (format 4), not inside
// its state record: a shard with a flushed file of more rows than one page round-trips to an identical state (the
// same rows read back, the same Parquet bytes written on the receiving node), the state record holds only the files'
// manifest — its size does not grow with the flushed rows — and a format 3 snapshot (flushed rows inside the state
// record, what a node of the previous version sends during a rolling upgrade) still installs to the same state.
// How: StateMachines over temp folders; commands applied through apply(); snapshots read with snapshotRecords.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  DataStore,
  SNAPSHOT_VERSION,
  StateMachines,
  canonicalJson,
  encodeCommand,
  snapshotRecords,
} from '../src/index.js';
import type { UserDataCommand, UserDataStateMachine } from '../src/index.js';
import { NOTES_DDL, SHARDING } from './support/notes.js';

function replica(t: { after: (fn: () => void) => void }): {
  dir: string;
  machines: StateMachines;
  sm: UserDataStateMachine;
} {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-snapcold-'));
  const machines = new StateMachines(DataStore.open(join(dir, 'data.db')), SHARDING, { dataDir: dir });
  t.after(() => {
    machines.store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  machines.system.apply(NOTES_DDL.map((c, i) => ({ index: i + 1, term: 1, kind: 'command', data: encodeCommand(c) })));
  return { dir, machines, sm: machines.userShards[machines.router.userShard('alice')]! };
}

function apply(sm: UserDataStateMachine, cmds: readonly UserDataCommand[]): void {
  const start = sm.appliedIndex() + 1;
  sm.apply(cmds.map((c, i) => ({ index: start + i, term: 1, kind: 'command', data: encodeCommand(c) })));
}

const base = { tableId: 'app.notes', userId: 'alice', metaIndex: 2 } as const;

/** 600 rows of alice, the first `n` of them flushed into one file, and 5 more hot rows beside them. */
function flushed(sm: UserDataStateMachine, n: number): void {
  const rows = Array.from({ length: 600 }, (_, i) => ({ id: i + 1, body: `note ${i + 1}` }));
  apply(sm, [
    { ...base, type: 'Insert', rows, seqBase: 1000, at: 10 },
    {
      ...base,
      type: 'FlushRows',
      fileName: `f-1000-${999 + n}.parquet`,
      rowCount: n,
      minSeq: 1000,
      maxSeq: 999 + n,
      at: 11,
    },
    {
      ...base,
      type: 'Insert',
      rows: Array.from({ length: 5 }, (_, i) => ({ id: 10_000 + i, body: 'hot' })),
      seqBase: 5000,
      at: 12,
    },
  ]);
}

function records(sm: UserDataStateMachine, data: Uint8Array): Record<string, unknown>[] {
  return [...snapshotRecords(data, sm.groupId)];
}

function folder(dir: string): Map<string, Buffer> {
  const at = join(dir, 'storage', 'app', 'notes', '2', 'users', 'alice');
  return new Map(readdirSync(at).map((f) => [f, readFileSync(join(at, f))]));
}

test('flushed rows travel in pages of their own and round-trip; the state record does not grow with them', (t) => {
  const big = replica(t);
  flushed(big.sm, 600);
  const small = replica(t);
  flushed(small.sm, 60);

  const data = big.sm.snapshot();
  const recs = records(big.sm, data);
  assert.equal(SNAPSHOT_VERSION, 6); // cold pages since version 4 (client sessions since 5, change log pages since 6)
  const state = recs[0]!['state'] as { cold: { files: Record<string, unknown>[] }[] };
  assert.equal(recs[0]!['kind'], 'state');
  assert.equal(state.cold.length, 1);
  assert.equal('rows' in state.cold[0]!.files[0]!, false, 'the state record holds the manifest, not the rows');
  const cold = recs.filter((r) => r['kind'] === 'cold');
  assert.equal(cold.length, 3, '600 flushed rows in pages of 256');
  assert.deepEqual(
    cold.map((r) => (r['rows'] as unknown[]).length),
    [256, 256, 88],
  );
  const stateBytes = (s: UserDataStateMachine): number => canonicalJson(records(s, s.snapshot())[0]!).length;
  // Same writes, 600 or 60 of them flushed: the state records differ only in the numbers naming the file and its seq
  // range — a few bytes, not 540 rows (the hot ones go in row pages).
  assert.ok(
    Math.abs(stateBytes(big.sm) - stateBytes(small.sm)) < 16,
    `${stateBytes(big.sm)} vs ${stateBytes(small.sm)}`,
  );

  const to = replica(t);
  to.sm.restore({ index: big.sm.appliedIndex(), term: 1, data });
  assert.deepEqual(to.sm.snapshot(), data, 'the same state');
  assert.equal(to.sm.userRows('app.notes', 'alice').length, 605);
  assert.deepEqual(folder(to.dir), folder(big.dir), 'the same Parquet file, byte for byte');
});

test('a format 3 snapshot (flushed rows inside the state record) installs to the same state', (t) => {
  const from = replica(t);
  flushed(from.sm, 600);
  const data = from.sm.snapshot();
  const recs = records(from.sm, data);
  // The same snapshot as a node of format 3 wrote it: each file's rows in the state record, no cold pages.
  const state = structuredClone(recs[0]!) as { state: { cold: { files: Record<string, unknown>[] }[] } };
  for (const r of recs.filter((x) => x['kind'] === 'cold')) {
    const f = state.state.cold[r['scope'] as number]!.files[r['file'] as number]!;
    f['rows'] = [...((f['rows'] as unknown[] | undefined) ?? []), ...(r['rows'] as unknown[])];
  }
  const lines = [
    { format: 'kalam-snapshot', groupId: from.sm.groupId, version: 3 },
    state,
    ...recs.slice(1).filter((r) => r['kind'] !== 'cold'),
  ].map((r) => `${canonicalJson(r)}\n`);
  const crc = createHash('sha256').update(lines.join('')).digest('hex');
  const v3 = new TextEncoder().encode(
    lines.join('') + `${canonicalJson({ crc, end: true, records: lines.length - 1 })}\n`,
  );

  const to = replica(t);
  to.sm.restore({ index: from.sm.appliedIndex(), term: 1, data: v3 });
  assert.deepEqual(to.sm.snapshot(), data, 'the same state as from the format 4 snapshot');
  assert.deepEqual(folder(to.dir), folder(from.dir));
});

test('a snapshot built beside the applies keeps the flushed files it lists until it is done', (t) => {
  const from = replica(t);
  flushed(from.sm, 600);
  const before = from.sm.snapshot();
  const build = from.sm.snapshotBuilder();
  assert.ok(build !== undefined, 'data.db is a file: the snapshot is built from a read view');
  // A compaction commits meanwhile: the file the build lists is replaced, and deleted once nothing reads it.
  apply(from.sm, [
    {
      ...base,
      type: 'RewriteFiles',
      reason: 'compaction',
      inputFiles: ['f-1000-1599.parquet'],
      outputFile: 'c-1000-1599.parquet',
      expiredBeforeMs: null,
      deletedBeforeMs: null,
      at: 13,
    },
  ]);
  assert.deepEqual([...folder(from.dir).keys()].sort(), ['c-1000-1599.parquet', 'f-1000-1599.parquet']);
  let data: ReturnType<typeof build.step>;
  for (let i = 0; i < 1000 && data === undefined; i++) data = build.step(1);
  build.close();
  assert.deepEqual([...folder(from.dir).keys()], ['c-1000-1599.parquet'], 'the replaced file goes once the build ends');
  assert.deepEqual(data, before, 'the snapshot is of the state when it was asked for');
});
