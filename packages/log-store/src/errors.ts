/**
 * Typed errors of the log store. Each has a stable `code`; the node treats all of them as fatal (a log it
 * cannot trust or cannot write must stop the node, never be carried on from). Programmer errors (a gap in an
 * append, a write to an unknown group, a call after close) are AssertionError from @kalam/raft instead.
 */

export type LogStoreErrorCode = 'LOG_CORRUPT' | 'LOG_IO' | 'LOG_SCHEMA_UNSUPPORTED' | 'LOG_WORKER';

export class LogStoreError extends Error {
  override readonly name: string = 'LogStoreError';
  constructor(
    readonly code: LogStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Where in a group the damage was found: an entry index, the snapshot, or the state row. */
export type CorruptionSite = number | 'snapshot' | 'state';

/**
 * What was read back is not what was written: a checksum mismatch, a gap or a term that goes back, a state
 * row that contradicts the log. The message names the group and the index.
 */
export class LogCorruptionError extends LogStoreError {
  override readonly name = 'LogCorruptionError';
  declare readonly code: 'LOG_CORRUPT';
  constructor(
    readonly groupId: number,
    readonly index: CorruptionSite,
    detail: string,
  ) {
    super('LOG_CORRUPT', `raft log of group ${groupId} is corrupt at ${siteName(index)}: ${detail}`);
  }
}

/** SQLite failed to open, read or write raft.db (disk full, I/O error, locked by another process). */
export class LogIoError extends LogStoreError {
  override readonly name = 'LogIoError';
  declare readonly code: 'LOG_IO';
  constructor(what: string, cause: unknown) {
    super('LOG_IO', `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** raft.db was written by a newer (or unknown) version of the store. */
export class LogSchemaError extends LogStoreError {
  override readonly name = 'LogSchemaError';
  declare readonly code: 'LOG_SCHEMA_UNSUPPORTED';
  constructor(
    readonly found: number,
    readonly supported: number,
  ) {
    super('LOG_SCHEMA_UNSUPPORTED', `raft.db has schema version ${found}; this build reads version ${supported}`);
  }
}

/**
 * The log worker thread (log-writer.ts) failed: its write threw (an fsync error is a LogIoError there, an invalid
 * write an AssertionError) or the thread died. `causeCode` and `causeName` are those of the error in the worker,
 * when there was one; what was in flight is not known to be durable, so the node must stop.
 */
export class LogWorkerError extends LogStoreError {
  override readonly name = 'LogWorkerError';
  declare readonly code: 'LOG_WORKER';
  constructor(
    message: string,
    readonly causeCode: string | null,
    readonly causeName: string | null,
    options?: { cause?: unknown },
  ) {
    super('LOG_WORKER', message, options);
  }
}

function siteName(site: CorruptionSite): string {
  return typeof site === 'number' ? `index ${site}` : site === 'snapshot' ? 'its snapshot' : 'its state row';
}
