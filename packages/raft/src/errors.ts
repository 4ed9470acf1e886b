/**
 * Typed errors for operating conditions. Each has a stable `code` that upper layers map to their own
 * errors (NOT_LEADER, LEADER_NOT_AVAILABLE, …) without parsing messages.
 */
import type { NodeId } from './types.js';

export type RaftErrorCode =
  | 'NOT_LEADER'
  | 'LEADER_NOT_AVAILABLE'
  | 'LEADER_TRANSFER_IN_PROGRESS'
  | 'ENTRY_TOO_LARGE'
  | 'UNCOMMITTED_LIMIT'
  | 'INFLIGHT_LIMIT'
  | 'MESSAGE_TOO_LARGE'
  | 'READ_NOT_READY'
  | 'READ_CONTEXT_IN_USE'
  | 'TRANSFER_REFUSED'
  | 'CONF_CHANGE_PENDING'
  | 'CONF_CHANGE_INVALID';

export class RaftError extends Error {
  override readonly name: string = 'RaftError';
  constructor(
    readonly code: RaftErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** This node is not the leader; `leaderHint` is the leader it knows of (NONE when there is none). */
export class NotLeaderError extends RaftError {
  override readonly name = 'NotLeaderError';
  constructor(readonly leaderHint: NodeId) {
    super(
      leaderHint === 0 ? 'LEADER_NOT_AVAILABLE' : 'NOT_LEADER',
      leaderHint === 0 ? 'no leader is known' : `not the leader; the leader is node ${leaderHint}`,
    );
  }
}

export type LimitCode = 'ENTRY_TOO_LARGE' | 'UNCOMMITTED_LIMIT' | 'INFLIGHT_LIMIT' | 'MESSAGE_TOO_LARGE';

const LIMIT_WHAT: Record<LimitCode, string> = {
  ENTRY_TOO_LARGE: 'entry bytes',
  UNCOMMITTED_LIMIT: 'uncommitted log bytes',
  INFLIGHT_LIMIT: 'full inflight windows (followers)',
  MESSAGE_TOO_LARGE: 'message bytes',
};

/** A bound of limits.ts was reached; `limit` and `actual` are in the unit the code names. */
export class LimitExceededError extends RaftError {
  override readonly name = 'LimitExceededError';
  constructor(
    code: LimitCode,
    readonly limit: number,
    readonly actual: number,
  ) {
    super(code, `${LIMIT_WHAT[code]}: ${actual} exceeds the limit of ${limit}`);
  }
}

/** A membership change that breaks a rule of confchange.ts (the message names the rule). */
export class ConfChangeInvalidError extends RaftError {
  override readonly name = 'ConfChangeInvalidError';
  constructor(message: string) {
    super('CONF_CHANGE_INVALID', message);
  }
}
