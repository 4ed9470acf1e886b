/**
 * The backup file's reader (src/backup/format.ts) against every damage a file can take: a small well-formed backup
 * opens and reads back its groups; then EVERY truncation of it, and EVERY single-byte change at every position (under
 * several masks), is refused with a BackupCorruptError (exit 1, "nothing was written") — never accepted, never
 * another error (a crash would be exit 3, and a bug).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { BACKUP_HEADER, BackupCorruptError, backupTrailer, openBackup } from '../src/backup/format.js';
import type { BackupGroup, BackupManifest } from '../src/backup/format.js';

/** Three "snapshots" of different sizes (the reader does not look inside them: restore does). */
const GROUPS: readonly { id: number; name: string; body: string }[] = [
  { id: 100, name: 'data:user:00', body: 'rows of shard zero\n' },
  { id: 2, name: 'meta:jobs', body: '' },
  { id: 0, name: 'meta:system', body: '{"catalog":true}\n' },
];

function backupBytes(): Buffer {
  const parts: Buffer[] = [Buffer.from(BACKUP_HEADER)];
  let offset = parts[0]!.length;
  const groups: BackupGroup[] = GROUPS.map((g, i) => {
    const bytes = Buffer.from(g.body);
    parts.push(bytes);
    const entry = {
      group_id: g.id,
      name: g.name,
      index: 10 + i,
      term: 2,
      read_index: 9 + i,
      offset,
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
    offset += bytes.length;
    return entry;
  });
  const manifest: BackupManifest = {
    format: 'kalam-backup',
    version: 1,
    cluster_id: 'kalam-test',
    node_id: 1,
    started_at: '2026-01-01T00:00:00.000Z',
    finished_at: '2026-01-01T00:00:01.000Z',
    groups,
  };
  parts.push(Buffer.from(backupTrailer(manifest)));
  return Buffer.concat(parts);
}

async function refused(file: string, what: string): Promise<void> {
  await assert.rejects(openBackup(file), (err: unknown) => {
    assert.ok(err instanceof BackupCorruptError, `${what}: ${String(err)}`);
    assert.match(err.message, /is not a usable backup: .*; nothing was written$/);
    return true;
  });
}

test('a well-formed backup opens and reads back each group', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-backup-format-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ok.kalam-backup');
  writeFileSync(file, backupBytes());
  const b = await openBackup(file);
  assert.equal(b.manifest.cluster_id, 'kalam-test');
  assert.deepEqual(
    b.manifest.groups.map((g) => Buffer.from(b.read(g, 0, g.bytes)).toString()),
    GROUPS.map((g) => g.body),
  );
  const first = b.manifest.groups[0]!;
  assert.equal(Buffer.from(b.read(first, 5, 9)).toString(), 'of s', 'a range of a group');
});

test('every truncation and every single-byte change is refused as corrupt', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-backup-format-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const good = backupBytes();
  const file = join(dir, 'damaged.kalam-backup');
  for (let size = 0; size < good.length; size++) {
    writeFileSync(file, good.subarray(0, size));
    await refused(file, `cut to ${size} bytes`);
  }
  // A change inside an empty group's bytes cannot exist; every other byte belongs to something checked.
  for (let at = 0; at < good.length; at++) {
    for (const mask of [0x01, 0x02, 0x10, 0x20, 0x80, 0xff]) {
      const bad = Buffer.from(good);
      bad[at] = bad[at]! ^ mask;
      writeFileSync(file, bad);
      await refused(file, `byte ${at} ^ ${mask}`);
    }
  }
  writeFileSync(file, Buffer.concat([good, Buffer.from('\n')]));
  await refused(file, 'a byte appended');
});
