/**
 * Snapshots kept in files beside raft.db (issue [M8] §3): a follower's core writes an incoming snapshot chunk by
 * chunk into `<dataDir>/snapshots/` (SnapshotFiles.sink), and raft.db stores only its name, size and checksum
 * (the raft_snapshot row's `file` column) — never its bytes. A state machine restores from the file a piece at a
 * time (SnapshotFile.subarray), so no layer holds a whole snapshot in memory.
 *
 * A leader builds the snapshots it sends into the same folder (SnapshotFiles.output): `build-<group>-<n>.part`, then
 * `….snap`; raft.db never names those, and they need no fsync (a crash only loses a copy that is rebuilt on demand).
 *
 * Names: `<group>-<index>-<term>.part` while a transfer writes it, renamed to `….snap` once complete and fsynced.
 * A file is deleted when nothing uses it any more (SnapshotFiles.release: the driver knows when); at boot every
 * `.part` file and every `.snap` file that no raft.db row names is deleted (SnapshotFiles.removeUnreferenced).
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  renameSync,
  rm,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, join } from 'node:path';

import type { SnapshotData, SnapshotMeta, SnapshotSink, SnapshotSinkFactory } from '@kalam/raft';
import { assert } from '@kalam/raft';
import { crc32c } from '@node-rs/crc32';

import { snapshotChecksumStart } from './checksum.js';
import { LogCorruptionError } from './errors.js';

/** How much of a file the boot-time checksum reads at a time. */
const VERIFY_READ_BYTES = 1024 * 1024;

/** How much a snapshot being built gathers in memory before it is written to its file. */
const BUILD_BUFFER_BYTES = 1024 * 1024;

/**
 * An incoming snapshot is flushed to disk (fdatasync) each time this much more of it was written, so the fsync that
 * makes it durable at the end has at most this much left to write. Without it the page cache held all of it (24 GiB
 * of RAM starts no writeback for a gigabyte) and that last fsync, on the driver's turn, held the event loop for
 * 471 ms at 300 MB and 1.3–1.6 s at 1 GB — longer than an election timeout, on a node leading groups of its own.
 * 8 MiB takes about 10 ms to flush on this project's machine.
 */
const SNAPSHOT_SINK_SYNC_BYTES = 8 * 1024 * 1024;

/**
 * A complete snapshot in a file: what a finished sink returns and what raft.db names. Its fields are plain data, so
 * that it crosses to the log worker (a structured clone keeps fields, not the class): see snapshotFileOf.
 */
export class SnapshotFile implements SnapshotData {
  readonly kind = 'snapshot-file';
  constructor(
    /** Absolute path of the `.snap` file. */
    readonly path: string,
    readonly byteLength: number,
    /** snapshotChecksum(index, term, bytes) of the whole file, as raft.db stores it (0 for one built here). */
    readonly crc32c: number,
  ) {}

  /** Reads bytes [begin, end) from the file (a fresh buffer: the caller may keep it). */
  subarray(begin: number, end: number): Uint8Array {
    const to = Math.min(end, this.byteLength);
    const out = new Uint8Array(Math.max(0, to - begin));
    const fd = openSync(this.path, 'r');
    try {
      for (let at = 0; at < out.length;) {
        const n = readSync(fd, out, at, out.length - at, begin + at);
        assert(n > 0, () => `snapshot file ${this.path} ended at ${begin + at} of ${this.byteLength} bytes`);
        at += n;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
}

/** The file a snapshot's data names, if it is one (also after a structured clone to the log worker). */
export function snapshotFileOf(data: SnapshotData): SnapshotFile | undefined {
  const d = data as Partial<SnapshotFile>;
  if (d.kind !== 'snapshot-file' || typeof d.path !== 'string' || typeof d.crc32c !== 'number') return undefined;
  return data instanceof SnapshotFile ? data : new SnapshotFile(d.path, data.byteLength, d.crc32c);
}

export interface SnapshotFilesOptions {
  /** An incoming snapshot is flushed each time this many more bytes were written; SNAPSHOT_SINK_SYNC_BYTES. */
  readonly syncBytes?: number;
}

/** The snapshot files of one node, in one folder. */
export class SnapshotFiles {
  /** Snapshots built so far, for unique build file names (the folder is emptied of them at boot). */
  private builds = 0;
  /** Files released so far, for unique `.del` names; and those whose unlink is under way. */
  private deletions = 0;
  private deleting = 0;
  private readonly syncBytes: number;
  /** Flushes of incoming snapshots before their last one (see SNAPSHOT_SINK_SYNC_BYTES). */
  readonly stats = { sinkSyncs: 0 };

  constructor(
    readonly dir: string,
    options: SnapshotFilesOptions = {},
  ) {
    this.syncBytes = options.syncBytes ?? SNAPSHOT_SINK_SYNC_BYTES;
    if (!Number.isSafeInteger(this.syncBytes) || this.syncBytes < 1)
      throw new RangeError(`syncBytes must be a positive integer, got ${this.syncBytes}`);
    mkdirSync(dir, { recursive: true });
  }

  /** A sink factory for one group's core (RaftConfig.snapshotSink). */
  sink(groupId: number): SnapshotSinkFactory {
    return (meta, totalBytes) =>
      new FileSink(this.dir, groupId, meta, totalBytes, this.syncBytes, () => this.stats.sinkSyncs++);
  }

  /** Where a snapshot built for followers goes: a file, written in pieces of BUILD_BUFFER_BYTES. */
  output(groupId: number): SnapshotFileOutput {
    return new SnapshotFileOutput(join(this.dir, `build-${groupId}-${++this.builds}`));
  }

  /**
   * Deletes a snapshot's file, if it is one of ours (an in-memory snapshot has nothing to delete). Renamed out of the
   * way at once (`….del`: a snapshot of the same name may be written next), then unlinked on libuv's thread pool:
   * unlinking a gigabyte file took 540 ms of the leader's event loop at the end of a catch-up. A crash in between
   * leaves the `.del` file to removeUnreferenced at the next boot.
   */
  release(data: SnapshotData): void {
    const file = snapshotFileOf(data);
    if (file === undefined) return;
    const doomed = `${file.path}.${++this.deletions}.del`;
    try {
      renameSync(file.path, doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // gone already
      throw err;
    }
    this.deleting++;
    rm(doomed, { force: true }, () => {
      this.deleting--;
    });
  }

  /** Files released whose unlink has not finished yet (tests wait for 0). */
  pendingDeletions(): number {
    return this.deleting;
  }

  /** At boot: deletes every partial file, every released one a crash left, and every complete one raft.db does not name. */
  removeUnreferenced(referenced: ReadonlySet<string>): string[] {
    const removed: string[] = [];
    for (const name of readdirSync(this.dir)) {
      const path = join(this.dir, name);
      if (referenced.has(path)) continue;
      if (!name.endsWith('.part') && !name.endsWith('.snap') && !name.endsWith('.del')) continue;
      rmSync(path, { force: true });
      removed.push(name);
    }
    return removed;
  }
}

/**
 * Opens the file raft.db names for a group's snapshot and verifies it (size, then the checksum, read a piece at a
 * time). A missing, short or corrupt file is a LogCorruptionError: the group cannot start without the snapshot its
 * log begins with.
 */
export function openSnapshotFile(groupId: number, path: string, meta: SnapshotMeta & { crc32c: number }): SnapshotFile {
  const where = `its file ${basename(path)} (snapshot at index ${meta.index}, term ${meta.term})`;
  if (!existsSync(path)) {
    throw new LogCorruptionError(groupId, 'snapshot', `${where} is missing from ${join(path, '..')}`);
  }
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  let crc = snapshotChecksumStart(meta.index, meta.term);
  try {
    const piece = new Uint8Array(Math.min(VERIFY_READ_BYTES, Math.max(1, size)));
    for (let at = 0; at < size;) {
      const n = readSync(fd, piece, 0, Math.min(piece.length, size - at), at);
      if (n <= 0) break;
      crc = crc32c(piece.subarray(0, n), crc);
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  if (crc !== meta.crc32c) throw new LogCorruptionError(groupId, 'snapshot', `${where}: checksum mismatch`);
  return new SnapshotFile(path, size, crc);
}

/** Writes one incoming snapshot to `<group>-<index>-<term>.part`, checksumming as it goes. */
class FileSink implements SnapshotSink {
  private readonly partPath: string;
  private readonly snapPath: string;
  private fd: number | undefined;
  private crc: number;
  private written = 0;
  private unsynced = 0;

  constructor(
    private readonly dir: string,
    groupId: number,
    private readonly meta: SnapshotMeta,
    private readonly totalBytes: number,
    private readonly syncBytes: number,
    private readonly onSync: () => void,
  ) {
    const name = `${groupId}-${meta.index}-${meta.term}`;
    this.partPath = join(dir, `${name}.part`);
    this.snapPath = join(dir, `${name}.snap`);
    this.fd = openSync(this.partPath, 'w');
    this.crc = snapshotChecksumStart(meta.index, meta.term);
  }

  write(offset: number, bytes: Uint8Array): void {
    assert(this.fd !== undefined, 'write to a closed snapshot sink');
    assert(offset === this.written, () => `snapshot chunk at ${offset}, expected ${this.written}`);
    for (let at = 0; at < bytes.length;) at += writeSync(this.fd, bytes, at, bytes.length - at, offset + at);
    this.crc = crc32c(bytes, this.crc);
    this.written += bytes.length;
    this.unsynced += bytes.length;
    if (this.unsynced >= this.syncBytes && this.written < this.totalBytes) {
      fdatasyncSync(this.fd);
      this.unsynced = 0;
      this.onSync();
    }
  }

  /** fsyncs the file, renames it complete and fsyncs the folder: durable before raft.db names it. */
  finish(): SnapshotData {
    assert(this.fd !== undefined, 'finish of a closed snapshot sink');
    assert(this.written === this.totalBytes, () => `snapshot sink finished at ${this.written} of ${this.totalBytes}`);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
    renameSync(this.partPath, this.snapPath);
    fsyncDir(this.dir);
    return new SnapshotFile(this.snapPath, this.written, this.crc);
  }

  abort(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.partPath, { force: true });
  }

  toString(): string {
    return `snapshot sink ${this.partPath} (${this.meta.index}, ${this.meta.term})`;
  }
}

/** A snapshot being built, appended to `<base>.part` through a bounded buffer; `<base>.snap` once finished. */
export class SnapshotFileOutput {
  private fd: number | undefined;
  private buffer = new Uint8Array(BUILD_BUFFER_BYTES);
  private buffered = 0;
  private written = 0;
  private done = false;

  constructor(private readonly base: string) {}

  write(bytes: Uint8Array): void {
    assert(!this.done, 'write to a finished snapshot output');
    if (this.buffered + bytes.length > this.buffer.length) this.flush();
    if (bytes.length >= this.buffer.length) {
      this.writeOut(bytes); // a record larger than the buffer goes straight to the file
      return;
    }
    this.buffer.set(bytes, this.buffered);
    this.buffered += bytes.length;
  }

  finish(): SnapshotData {
    assert(!this.done, 'finish of a finished snapshot output');
    this.flush();
    this.fd ??= openSync(`${this.base}.part`, 'w');
    closeSync(this.fd);
    this.fd = undefined;
    this.done = true;
    this.buffer = new Uint8Array(0);
    renameSync(`${this.base}.part`, `${this.base}.snap`);
    return new SnapshotFile(`${this.base}.snap`, this.written, 0);
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    this.buffer = new Uint8Array(0);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(`${this.base}.part`, { force: true });
  }

  private flush(): void {
    if (this.buffered === 0) return;
    this.writeOut(this.buffer.subarray(0, this.buffered));
    this.buffered = 0;
  }

  private writeOut(bytes: Uint8Array): void {
    this.fd ??= openSync(`${this.base}.part`, 'w');
    for (let at = 0; at < bytes.length;) at += writeSync(this.fd, bytes, at, bytes.length - at, this.written + at);
    this.written += bytes.length;
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
