/**
 * The backup file `kalam backup` writes and `kalam restore` reads (README "Backup and restore"):
 *
 *   {"format":"kalam-backup","version":1}\n             header line
 *   <snapshot of group g1><snapshot of g2>…              each group's snapshot bytes, as the node streamed them, in
 *                                                        the order they were taken (meta:system last)
 *   <manifest: canonical JSON>\n                         BackupManifest (offsets, sizes and sha256 per group)
 *   {"manifest_bytes":M,"manifest_sha256":"…"}\n         footer: the last line
 *
 * A reader finds the footer at the end, checks the manifest's sha256, that the groups tile the bytes between header
 * and manifest exactly, and each group's sha256 — all before the caller writes anything (openBackup). A flipped byte
 * fails a checksum; a cut file has no footer, or a footer whose sizes do not add up.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';

import { canonicalJson } from '@kalam/kalamdb';

import { CliError } from '../errors.js';

export const BACKUP_FORMAT = 'kalam-backup';
export const BACKUP_VERSION = 1;
export const BACKUP_HEADER = `${canonicalJson({ format: BACKUP_FORMAT, version: BACKUP_VERSION })}\n`;
/** The footer is one short line; a reader looks for it in this many bytes at the end. */
const FOOTER_BYTES_MAX = 512;
/** A manifest of 36 groups is a few KiB; this bounds what a reader parses of a foreign file. */
const MANIFEST_BYTES_MAX = 4 * 1024 * 1024;

export interface BackupGroup {
  readonly group_id: number;
  readonly name: string;
  /** The applied entry the snapshot is of. */
  readonly index: number;
  readonly term: number;
  /** The linearizable read point taken for the group before its snapshot (index ≥ read_index). */
  readonly read_index: number;
  /** Where the snapshot's bytes start in the backup file, and how many. */
  readonly offset: number;
  readonly bytes: number;
  readonly sha256: string;
}

export interface BackupManifest {
  readonly format: typeof BACKUP_FORMAT;
  readonly version: typeof BACKUP_VERSION;
  readonly cluster_id: string | null;
  /** The node every snapshot was taken on (the cut is one node's: README). */
  readonly node_id: number;
  readonly started_at: string;
  readonly finished_at: string;
  /** In the order they were taken: data groups, meta:jobs, meta:users, meta:system last. */
  readonly groups: readonly BackupGroup[];
}

export class BackupCorruptError extends CliError {
  constructor(file: string, what: string) {
    super('BACKUP_CORRUPT', `${file} is not a usable backup: ${what}; nothing was written`);
  }
}

/** The manifest and footer that end a backup file whose groups were written up to `manifest`'s last offset. */
export function backupTrailer(manifest: BackupManifest): string {
  const text = `${canonicalJson(manifest)}\n`;
  const bytes = Buffer.byteLength(text);
  const sha = createHash('sha256').update(text).digest('hex');
  return `${text}${canonicalJson({ manifest_bytes: bytes, manifest_sha256: sha })}\n`;
}

/** A verified backup: its manifest, and each group's bytes read a range at a time. */
export interface OpenBackup {
  readonly file: string;
  readonly manifest: BackupManifest;
  /** Reads [begin, end) of a group's snapshot. */
  read(group: BackupGroup, begin: number, end: number): Uint8Array;
}

/**
 * Opens and verifies `file` whole: footer, manifest checksum and shape, the groups' layout, and every group's sha256
 * (read in pieces: memory does not grow with the backup). Throws BackupCorruptError naming the first fault.
 */
export async function openBackup(
  file: string,
  onProgress?: (done: number, total: number) => void,
): Promise<OpenBackup> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new CliError('USAGE', `cannot open ${file}: ${(err as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    const readAt = (begin: number, end: number): Buffer => {
      const out = Buffer.alloc(Math.max(0, end - begin));
      for (let at = 0; at < out.length;) {
        const n = readSync(fd, out, at, out.length - at, begin + at);
        if (n <= 0) throw new BackupCorruptError(file, `it ends at byte ${begin + at}`);
        at += n;
      }
      return out;
    };
    const manifest = readManifest(file, size, readAt);
    for (let i = 0; i < manifest.groups.length; i++) {
      const g = manifest.groups[i]!;
      const sha = await sha256Of(file, g.offset, g.bytes);
      if (sha !== g.sha256) throw new BackupCorruptError(file, `the snapshot of ${g.name} fails its sha256`);
      onProgress?.(i + 1, manifest.groups.length);
    }
    const keep = fd;
    fd = -1;
    return {
      file,
      manifest,
      read: (g, begin, end) => {
        const to = Math.min(end, g.bytes);
        const out = Buffer.alloc(Math.max(0, to - begin));
        for (let at = 0; at < out.length;) {
          const n = readSync(keep, out, at, out.length - at, g.offset + begin + at);
          if (n <= 0) throw new BackupCorruptError(file, `it ends inside ${g.name}`);
          at += n;
        }
        return out;
      },
    };
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function readManifest(file: string, size: number, readAt: (begin: number, end: number) => Buffer): BackupManifest {
  const fail = (what: string): never => {
    throw new BackupCorruptError(file, what);
  };
  const headerBytes = Buffer.byteLength(BACKUP_HEADER);
  if (size < headerBytes || readAt(0, headerBytes).toString('utf8') !== BACKUP_HEADER) {
    fail('it does not start with a kalam-backup version 1 header');
  }
  const tail = readAt(Math.max(0, size - FOOTER_BYTES_MAX), size);
  if (tail.at(-1) !== 0x0a) fail('truncated (no footer line at the end)');
  const footerStart = tail.lastIndexOf(0x0a, tail.length - 2) + 1;
  const footer = parseJson(tail.subarray(footerStart, tail.length - 1), () =>
    fail('truncated (no footer line at the end)'),
  );
  const manifestBytes = footer['manifest_bytes'];
  if (!Number.isSafeInteger(manifestBytes) || typeof footer['manifest_sha256'] !== 'string')
    fail('the footer is malformed');
  const footerBytes = tail.length - footerStart;
  const manifestEnd = size - footerBytes;
  const manifestStart = manifestEnd - (manifestBytes as number);
  if ((manifestBytes as number) > MANIFEST_BYTES_MAX || manifestStart < headerBytes || manifestStart > manifestEnd)
    fail('truncated (the manifest does not fit)');
  const text = readAt(manifestStart, manifestEnd);
  if (createHash('sha256').update(text).digest('hex') !== footer['manifest_sha256'])
    fail('the manifest fails its sha256');
  const m = parseJson(text.subarray(0, text.length - 1), () => fail('the manifest is not JSON'));
  if (m['format'] !== BACKUP_FORMAT || m['version'] !== BACKUP_VERSION) fail('unknown manifest format or version');
  const groups = m['groups'];
  if (!Array.isArray(groups) || groups.length === 0) fail('the manifest lists no groups');
  let at = headerBytes;
  for (const g of groups as Record<string, unknown>[]) {
    const ints = ['group_id', 'index', 'term', 'read_index', 'offset', 'bytes'].every((k) =>
      Number.isSafeInteger(g[k]),
    );
    if (!ints || (g['bytes'] as number) < 0 || typeof g['name'] !== 'string' || typeof g['sha256'] !== 'string')
      fail('a group entry is malformed');
    if (g['offset'] !== at) fail(`the snapshot of ${String(g['name'])} is not where the manifest says`);
    at += g['bytes'] as number;
  }
  if (at !== manifestStart) fail('the snapshots do not fill the file up to the manifest');
  return m as unknown as BackupManifest;
}

function parseJson(bytes: Uint8Array, fail: () => never): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // not JSON: the fault below
  }
  return fail();
}

function sha256Of(file: string, offset: number, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  if (bytes === 0) return Promise.resolve(hash.digest('hex'));
  return new Promise((resolve, reject) => {
    createReadStream(file, { start: offset, end: offset + bytes - 1 })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
