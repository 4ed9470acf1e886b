// What this proves: a snapshot received chunk by chunk is flushed to disk as it grows (every `syncBytes`), not only
// by the fsync that makes it durable at the end — that last fsync runs on the driver's turn, and with a gigabyte
// left in the page cache it held a node's event loop for 1.3–1.6 s. The bytes, the checksum and the `.snap` name
// are the same either way.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SnapshotFiles, snapshotFileOf } from '../src/index.js';

test('an incoming snapshot is flushed every syncBytes while it is written, and arrives whole', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-sink-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bytes = Uint8Array.from({ length: 10_123 }, (_, i) => (i * 13 + 1) & 0xff);
  const files = new SnapshotFiles(dir, { syncBytes: 4_000 });
  const sink = files.sink(3)({ index: 50, term: 5 }, bytes.length);
  for (let at = 0; at < bytes.length; at += 1_000)
    sink.write(at, bytes.subarray(at, Math.min(at + 1_000, bytes.length)));
  // Flushed at 4,000 and 8,000 bytes written; the rest is the last fsync's.
  assert.equal(files.stats.sinkSyncs, 2);
  const file = snapshotFileOf(sink.finish());
  assert.ok(file !== undefined);
  assert.equal(files.stats.sinkSyncs, 2);
  assert.equal(file.path, join(dir, '3-50-5.snap'));
  assert.deepEqual(new Uint8Array(readFileSync(file.path)), bytes);
});

test('a syncBytes that is not a positive integer is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-sink-'));
  try {
    assert.throws(() => new SnapshotFiles(dir, { syncBytes: 0 }), /syncBytes must be a positive integer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
