export { CommandCodecError, canonicalJson, decodeCommand, encodeCommand } from './codec.js';
export type {
  AnyCommand,
  ClientStamp,
  ClusterNodeAddress,
  ClusterNodeRecord,
  ClusterNodeState,
  ColumnSchema,
  DataJobCommand,
  DataResponse,
  ErrorResponse,
  Filter,
  JobStatus,
  JobsCommand,
  JobsResponse,
  Role,
  Row,
  SharedDataCommand,
  StorageConfig,
  SystemCommand,
  SystemResponse,
  TableSchema,
  TableType,
  UserDataCommand,
  UserRecord,
  UsersCommand,
  UsersResponse,
  Value,
} from './commands.js';
export { CLUSTER_NODE_STATES, isRefusal } from './commands.js';
export {
  DEFAULT_SHARDING,
  GROUP_LIMITS,
  GroupKind,
  MetaJobs,
  MetaSystem,
  MetaUsers,
  allGroups,
  dataSharedShard,
  dataUserShard,
  groupFromName,
  groupFromNumber,
  groupName,
  groupNumber,
  validateSharding,
} from './group-id.js';
export type { GroupId, ShardingConfig } from './group-id.js';
export { ShardRouter, fnv1a32 } from './shard-router.js';
export { Catalog } from './catalog.js';
export type { TableInfo } from './catalog.js';
export { DataStore } from './store.js';
export type { DataStoreOptions } from './store.js';
export { ApplyError, ApplyFatalError, KalamStateMachine, refusalOf } from './state/base.js';
export { SNAPSHOT_VERSION, SnapshotFormatError, SnapshotWriter, snapshotRecords } from './state/snapshot-format.js';
export type { SnapshotSource } from './state/snapshot-format.js';
export type { FatalReason, StateMachineOptions } from './state/base.js';
export { SharedDataStateMachine, UserDataStateMachine } from './state/data.js';
export type { HotAge, HotStats } from './state/data.js';
export { JobsStateMachine } from './state/jobs.js';
export type { SessionClock, SessionRefusalCode } from './state/sessions.js';
export { SystemStateMachine } from './state/system.js';
export { UsersStateMachine } from './state/users.js';
export { TableNameError, physicalName, splitTableId } from './tables.js';
export type { TableRef } from './tables.js';
export {
  checkClientSessionFields,
  checkJobsCommand,
  checkSharedDataCommand,
  checkSystemCommand,
  checkUserDataCommand,
  checkUsersCommand,
} from './validate.js';
export { CLIENT_SESSION_LIMITS, COMMAND_LIMITS } from './limits.js';
export { AppContext, RaftExecutor, StandaloneExecutor, StateMachines } from './executor.js';
export type { CommandExecutor, RaftHost, StateMachinesOptions } from './executor.js';
export {
  COLD_LIMITS,
  ColdStore,
  ColdStoreError,
  ParquetCodecError,
  decodeParquet,
  encodeParquet,
  mergeLatest,
  pastCutoff,
  pkKey,
  seqFloor,
} from './cold/index.js';
export type {
  ColdColumn,
  ColdFile,
  ColdFileWithRows,
  ColdRow,
  ColdScope,
  ColdScopeDump,
  Cutoffs,
} from './cold/index.js';
export { JOB_ID_PREFIX } from './sql/jobs.js';
export {
  DEFAULT_RETENTION_SCHEDULE_ID,
  ScheduleError,
  checkCron,
  dueBetween,
  dueOfScheduledJob,
  nextDue,
  nextDues,
  scheduledJobId,
} from './schedule.js';
export {
  KalamError,
  RequestReads,
  SCRYPT_PASSWORDS,
  SQL_ENGINE_LIMITS,
  SeqGenerator,
  SqlEngine,
  canReadSystem,
  hashPassword,
  requireSystemRead,
  scryptStats,
  toKalamError,
  verifyPassword,
} from './sql/index.js';
export type {
  ClientSessionRequest,
  ClusterView,
  ColumnInfo,
  EvalLimits,
  Passwords,
  ExecuteOptions,
  KalamErrorCode,
  QueryResult,
  ScryptStats,
  Session,
  SqlEngineOptions,
  SystemTableName,
  VerifiedLogin,
} from './sql/index.js';
export { ChangeFeed } from './live/feed.js';
export type { FeedListener } from './live/feed.js';
export { LIVE_LIMITS } from './live/limits.js';
export { changesAfter, concerns, initialRows, newestSeq, viewOf } from './live/plan.js';
export type { LiveQueryPlan, LiveRow, LiveView } from './live/plan.js';
export { printExpr, printQuery } from './live/print.js';
export type { ChangeType, FeedEvent, RowChange } from './live/types.js';
export { JOBS_LIMITS, JOB_TYPES, JobManager, cutoffsOf } from './jobs/index.js';
export type { JobLog, JobManagerOptions, JobType, TestSwitches } from './jobs/index.js';
