export { leaderShareBand, planLeaderMoves } from './balance.js';
export type { BalanceInput, LeaderMove, LeaderShareBand, MovableGroup } from './balance.js';
export { DEFAULT_TIMING, resolveTiming } from './config.js';
export type {
  GroupSpec,
  LeaderBalanceOptions,
  MemberAddress,
  RaftManagerOptions,
  RaftTiming,
  ResolvedTicks,
} from './config.js';
export type { DriverTiming } from './driver-timing.js';
export type { LogWriteStats } from './log-write-stats.js';
export { MultiRaftError } from './errors.js';
export type { MultiRaftErrorCode } from './errors.js';
export { MULTIRAFT_LIMITS } from './limits.js';
export { RaftDriver } from './driver.js';
export type {
  DriverBugs,
  DriverClock,
  DriverNetwork,
  DriverOptions,
  DriverStorage,
  GroupStatusReport,
  LeaderChange,
  ManagerStats,
  PeerProgress,
  ProposeOptions,
} from './driver.js';
export { RaftManager } from './manager.js';
export { outcomeOf } from './observer.js';
export type { ProposalOutcome, RaftObserver } from './observer.js';
export type { DriverSnapshotFiles } from './snapshot-lifetimes.js';
export type { AppliedEntry, SnapshotBuilder, SnapshotInstall, SnapshotOutput, StateMachine } from './state-machine.js';
export { COALESCED_GROUP, coalesce, expand, validateMessage } from './wire.js';
// The transport's join primitives (HMAC with the cluster secret), for the node process that admits and joins.
export {
  API_URL_HEADER,
  NonceCache,
  createJoinRequest,
  joinAnswerMac,
  verifyJoinAnswer,
  verifyJoinRequest,
} from '@kalam/transport';
export type { JoinRequest, JoinVerdict } from '@kalam/transport';
