// What this proves: a node's data.db checkpoints its WAL on a worker thread (checkpointer.ts), not inside the main
// connection's commits — the main connection's autocheckpoint is off and the worker copies the WAL's frames into the
// database file; what was committed and synced reads back after a reopen; a WAL held by a reader's snapshot is copied
// once the reader lets go; and when the worker dies, the main connection checkpoints again as SQLite does by default.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { DataStore } from '../src/index.js';

function tempStore(t: { after: (fn: () => void) => void }): { path: string; open: () => DataStore } {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-ckpt-'));
  // The checkpointer's worker and timer are unref'd (they must not keep a node alive): this keeps the test's awaits.
  const keepAlive = setInterval(() => undefined, 1_000);
  t.after(() => {
    clearInterval(keepAlive);
    rmSync(dir, { recursive: true, force: true });
  });
  const path = join(dir, 'data.db');
  return { path, open: () => DataStore.open(path, { checkpointer: { intervalMs: 10 } }) };
}

/** Commits `n` rows of 4 KiB into a scratch table, one transaction each. */
function write(store: DataStore, from: number, n: number): void {
  store.db.exec('CREATE TABLE IF NOT EXISTS scratch (id INTEGER PRIMARY KEY, body BLOB)');
  const insert = store.db.prepare('INSERT INTO scratch (id, body) VALUES (?, ?)');
  for (let i = from; i < from + n; i++) insert.run(i, Buffer.alloc(4096, i & 0xff));
}

async function untilCopied(store: DataStore, frames: number): Promise<void> {
  const c = store.checkpointer!;
  for (let i = 0; i < 500 && c.stats.framesCheckpointed < frames; i++) await c.checkpointed();
  assert.ok(c.stats.framesCheckpointed >= frames, `${c.stats.framesCheckpointed} frames copied by the worker`);
}

test('the WAL is checkpointed by the worker, not by the main connection; committed rows read back after a reopen', async (t) => {
  const { path, open } = tempStore(t);
  const store = open();
  assert.ok(store.checkpointer !== undefined);
  assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 0);
  write(store, 0, 600); // ~600 pages: the main connection alone would never copy them (autocheckpoint off)
  store.sync();
  await untilCopied(store, 600);
  assert.equal(store.checkpointer.stats.failed, null);
  store.close();
  const again = DataStore.open(path);
  try {
    assert.equal((again.db.prepare('SELECT count(*) AS n FROM scratch').get() as { n: number }).n, 600);
  } finally {
    again.close();
  }
});

test('a reader holding its snapshot keeps the WAL; once it lets go, the worker copies the rest', async (t) => {
  const { path, open } = tempStore(t);
  const store = open();
  write(store, 0, 10);
  await untilCopied(store, 1);
  const reader = store.openReader()!;
  reader.exec('BEGIN');
  assert.equal((reader.prepare('SELECT count(*) AS n FROM scratch').get() as { n: number }).n, 10);
  const before = store.checkpointer!.stats.framesCheckpointed;
  write(store, 10, 400);
  // The WAL grows behind the reader: it holds at least the 400 new pages.
  assert.ok(statSync(`${path}-wal`).size >= 400 * 4096);
  reader.exec('COMMIT');
  reader.close();
  await untilCopied(store, before + 400);
  store.close();
});

test('when the worker dies, the main connection checkpoints again (SQLite default)', async (t) => {
  const { open } = tempStore(t);
  const store = open();
  const c = store.checkpointer!;
  await c.checkpointed();
  await (c as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  for (let i = 0; i < 500 && c.stats.failed === null; i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(c.stats.failed ?? '', /the checkpoint worker exited/);
  assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 1000);
  store.close();
});
