/**
 * @kalam/log-store: the durable Raft log of every group of a node, in one SQLite file (DESIGN.md §4).
 */
export { LogCorruptionError, LogIoError, LogSchemaError, LogStoreError, LogWorkerError } from './errors.js';
export type { CorruptionSite, LogStoreErrorCode } from './errors.js';
export { limits as logStoreLimits } from './limits.js';
export { LogStore, snapshotDirOf } from './log-store.js';
export type { CompactLogOp, CompactOp, LogOp, WriteOp } from './log-store.js';
export { LogWriter } from './log-writer.js';
export type { LogWorkerFault, LogWriterOptions, LogWriterStats } from './log-writer.js';
export { SCHEMA_VERSION, logTableName } from './schema.js';
export { SnapshotFile, SnapshotFiles, snapshotFileOf } from './snapshot-file.js';
export type { SnapshotFilesOptions } from './snapshot-file.js';
export type { GroupLogState, GroupWrite, LogStoreOptions, LogStoreStats } from './types.js';
