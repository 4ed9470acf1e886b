export { AssertionError, assert, assertNever } from './assert.js';
export {
  LEAVE_JOINT,
  allMembers,
  allVoters,
  applyChange,
  confState,
  decodeConfChange,
  decodeConfState,
  encodeConfChange,
  encodeConfState,
  isJoint,
  isVoter,
  sameConfState,
} from './confchange.js';
export { ConfChangeInvalidError, LimitExceededError, NotLeaderError, RaftError } from './errors.js';
export type { LimitCode, RaftErrorCode } from './errors.js';
export { defaultLimits, resolveLimits } from './limits.js';
export type { RaftLimits } from './limits.js';
export { RaftLog } from './log.js';
export type { LogRestoreState } from './log.js';
export { Prng } from './prng.js';
export type { RandomSource } from './prng.js';
export { Inflights, Progress, ProgressState } from './progress.js';
export { PLANTED_BUGS, Raft } from './raft.js';
export type { PlantedBugName, PlantedBugs, RaftConfig, RaftRestoreState } from './raft.js';
export { RawNode } from './rawnode.js';
export type { GroupStatus, Ready } from './rawnode.js';
export {
  ConfChangeType,
  ENTRY_HEADER_BYTES,
  EntryKind,
  NONE,
  StateRole,
  entrySizeBytes,
  memorySnapshotSink,
  nodeId,
  snapshotBytes,
} from './types.js';
export type {
  ConfChangeSingle,
  ConfChangeV2,
  ConfState,
  Entry,
  HardState,
  Message,
  MessageType,
  MsgApp,
  MsgAppResp,
  MsgHeartbeat,
  MsgHeartbeatResp,
  MsgReadIndex,
  MsgReadIndexResp,
  MsgSnap,
  MsgSnapResp,
  MsgTimeoutNow,
  MsgTransferLeader,
  MsgVote,
  MsgVoteResp,
  NodeId,
  ReadRejectReason,
  ReadState,
  Snapshot,
  SnapshotData,
  SnapshotMeta,
  SnapshotSink,
  SnapshotSinkFactory,
  SoftState,
} from './types.js';
