/**
 * @kalam/server: the node process (DESIGN.md §8): its configuration, the running node (state, executor, SQL
 * engine), the HTTP API and `serve`, which `kalam serve` runs.
 */
export {
  configDefaults,
  configLimits,
  describeConfig,
  formatHostPort,
  loadConfig,
  parseConfig,
  parseHostPort,
} from './config.js';
export type {
  AuthSettings,
  ClusterNodeConfig,
  ClusterSettings,
  DebugSettings,
  HostPort,
  LeaderBalanceSettings,
  MemberSettings,
  MembershipSettings,
  NodeConfig,
  ParseConfigOptions,
  RaftSettings,
  ServerSettings,
  ShardingSettings,
  StandaloneNodeConfig,
} from './config.js';
export { ConfigError, ServerError } from './errors.js';
export type { ConfigProblem, ServerErrorCode } from './errors.js';
export { SERVER_LIMITS } from './limits.js';
export { NODE_MALLOC_ENV, withMallocEnv } from './malloc-env.js';
export { jwtKeyOf, startNode } from './runtime.js';
export { aggregateGroups } from './cluster-aggregate.js';
export type { ClusterGroupView, NodeGroupReport, NodeGroupsReport } from './cluster-aggregate.js';
/** The band of leader counts the leader balance keeps each live node in (the CLI's status shows it too). */
export { leaderShareBand } from '@kalam/multiraft';
export type { LeaderShareBand } from '@kalam/multiraft';
export type {
  ClusterStatus,
  DriverStatus,
  GroupStatus,
  LeaderBalanceStatus,
  LogLevel,
  NodeLog,
  NodeStatus,
  NotServingReason,
  Readiness,
  RunningNode,
  StartNodeOptions,
} from './runtime.js';
export { authenticateRequest, issueToken, passwordLogin } from './auth.js';
export type { IssueTokenOptions, IssuedToken, Principal, RequestOrigin } from './auth.js';
export { LoginThrottle, addressKeyOf } from './throttle.js';
export type { BucketLimits, LoginAttempt, LoginThrottleOptions } from './throttle.js';
export { SHARD_LEADER_HEADER, createApiServer } from './http.js';
export { corsOriginProblem } from './cors.js';
export type { ApiServer, ApiServerOptions } from './http.js';
export { serve, serverVersion } from './serve.js';
export {
  MembershipError,
  RECONCILER_CONF_CHANGE_TIMEOUT_MS,
  Reconciler,
  checkKnownNode,
  checkRemoval,
  removalProblem,
} from './reconciler.js';
export type {
  ConfChangeSingle,
  ConfChangeV2,
  ConfState,
  MembershipDriver,
  MembershipErrorCode,
  ReconcilerOptions,
  StepReport,
} from './reconciler.js';
export { JOIN_PATH } from './join.js';
export { METRICS_BUCKETS, METRICS_PATH, NodeMetrics, authorizeScrape } from './metrics.js';
export type { ScrapeSources } from './metrics.js';
export type { JoinAnswer } from './join.js';
export { IDENTITY_FILE } from './identity.js';
export type { NodeIdentity } from './identity.js';
export {
  JOBS_LIMITS,
  JOB_TYPES,
  JobManager,
  checkCron,
  cutoffsOf,
  dueBetween,
  nextDue,
  scheduledJobId,
} from '@kalam/kalamdb';
export { NO_TEST_SWITCHES, testSwitchesFromEnv } from './planted.js';
export type { NodeTestSwitches } from './planted.js';
export type { JobLog, JobManagerOptions, JobType, TestSwitches } from '@kalam/kalamdb';
export type { ReadyLine, ServeExit, ServeOptions } from './serve.js';
export { WS_LIMITS } from './ws/limits.js';
export { WS_PATH, attachLiveQueries } from './ws/server.js';
export type { LiveEndpoint } from './ws/server.js';
export { LiveQueries } from './ws/live.js';
export { ProtocolError, parseClientMessage } from './ws/protocol.js';
export type { BatchControl, BatchStatus, ClientMessage, ServerMessage, SubscribeOptions } from './ws/protocol.js';
export { LiveClient, LiveClientError, LiveStream, LiveSubscription } from './ws/client.js';
export type { ChangeEvent, LiveAuth } from './ws/client.js';
export { fetchTrusting, pemCertificates, readTlsFiles } from './tls.js';
export type { TlsMaterial, TlsSettings } from './tls.js';
