/**
 * Every bound of the log store in one place, unit last. The relations between them are asserted when this
 * module loads, so a bad edit fails at startup rather than on the first large write.
 */
import { assert } from '@kalam/raft';

export const limits = {
  /**
   * Largest group id. Group ids become part of table names (`raft_log_<group>`), so they are checked to be
   * integers in [0, groupIdMax] before any SQL text is built from them.
   */
  groupIdMax: 0xffff,
  /** Most groups one store hosts (a node hosts 36 by default). */
  groupsMax: 4096,
  /** Largest payload of one entry. The Raft core refuses larger proposals long before (entryBytesMax, 1 MiB). */
  entryBytesMax: 64 * 1024 * 1024,
  /** Largest snapshot blob (a snapshot kept in a file, snapshot-file.ts, has no such bound). */
  snapshotBytesMax: 512 * 1024 * 1024,
  /** SQLite's own ceiling on one string or blob (SQLITE_MAX_LENGTH as compiled into better-sqlite3). */
  sqliteBlobBytesMax: 1_000_000_000,
  /** Longest injected fsync delay (the slow-disk fault); a longer one would look like a hung node. */
  fsyncDelayMsMax: 60_000,
  /**
   * How long open() waits for raft.db's lock before giving up with LogIoError: long enough for a previous
   * process of the same node to finish closing, short enough to fail fast when two nodes share a folder.
   */
  lockWaitMs: 200,
  /**
   * SQLite page size of a new raft.db (an existing file keeps its own). Every commit writes each touched page
   * to the WAL whole, and a driver turn touches one leaf page per group table: 1 KiB pages write a quarter
   * of the bytes that SQLite's default 4 KiB pages do for small entries (measured with raw SQLite on the dev VM: about 1.7× the commits/s
   * for 36 groups × 1 entry of 100 bytes; larger entries spill into overflow pages, as they would anyway).
   */
  pageBytes: 1024,
  /**
   * raft.db's page cache, KiB (`PRAGMA cache_size = -N`; better-sqlite3 builds SQLite with 16 MiB). The log is
   * appended and trimmed at its ends and read whole only at boot, so a large cache holds pages nothing reads again
   * (under a bulk load the log worker's thread arena, which holds this cache and the batches cloned to it, reached
   * 53 MB on every node).
   */
  pageCacheKib: 2048,
  /**
   * WAL pages after which SQLite checkpoints into the main file, inside the commit that crosses it. Larger
   * than SQLite's default (1000) so that a hot page, rewritten by many commits, is copied back once per
   * checkpoint rather than many times; 4 MiB of WAL at 1 KiB pages.
   */
  walAutocheckpointPages: 4000,
  /**
   * Smallest shared buffer that carries a batch's entry bytes to the log worker (log-writer.ts); it grows to the
   * largest batch and shrinks back to this after stagingShrinkBatches batches in a row that fit in it. Bulk-load
   * batches of 500-row INSERTs are 0.5–2 MB; small writes need far less.
   */
  stagingBytesMin: 1024 * 1024,
  stagingShrinkBatches: 64,
  /** How long the log worker may take to open raft.db before the node's start fails (log-writer.ts). */
  workerStartMs: 10_000,
  /**
   * How long closing the log worker waits for what was handed over to become durable, and then for the thread to
   * end, before it is terminated (a node's shutdown must be bounded; what was not durable was never acknowledged).
   */
  workerCloseMs: 5_000,
} as const;

assert(Number.isSafeInteger(limits.groupIdMax) && limits.groupIdMax >= 0, 'groupIdMax must be a safe integer');
assert(limits.groupsMax <= limits.groupIdMax + 1, 'groupsMax cannot exceed the number of distinct group ids');
assert(limits.entryBytesMax <= limits.snapshotBytesMax, 'an entry must not be allowed to exceed a snapshot');
assert(limits.snapshotBytesMax <= limits.sqliteBlobBytesMax, 'a snapshot must fit in one SQLite blob');
assert(
  [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536].includes(limits.pageBytes),
  'pageBytes must be a power of two from 512 to 65536',
);
assert(
  limits.fsyncDelayMsMax > 0 &&
    limits.walAutocheckpointPages > 0 &&
    limits.lockWaitMs >= 0 &&
    limits.stagingBytesMin > 0 &&
    limits.stagingShrinkBatches > 0,
  'limits must be positive',
);
