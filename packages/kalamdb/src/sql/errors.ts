/**
 * KalamError: the one error type the SQL engine throws, with KalamDB's API error codes (reference/kalamdb-facts.md,
 * "HTTP API") and the HTTP status the API answers with. `toKalamError` maps what the layers below throw — the
 * parser's SqlError, RaftManager's MultiRaftError, a state machine's deterministic Error response — onto it, keeping
 * the original as `cause`.
 *
 * One code is Kalam's own: LIMIT_EXCEEDED (400), a request that crosses a bound of SQL_LIMITS or SQL_ENGINE_LIMITS
 * (too many terms, rows in the result, time spent evaluating, …). Its details name the bound: `{limit, max}`, plus
 * `position` when one place of the text is to blame.
 */
import { MultiRaftError } from '@kalam/multiraft';
import { SqlError } from '@kalam/sql';
import type { ErrorResponse } from '../commands.js';
import { ApplyError } from '../state/base.js';
import { TableNameError } from '../tables.js';

export type KalamErrorCode =
  | 'INVALID_SQL'
  | 'LIMIT_EXCEEDED'
  | 'EMPTY_SQL'
  | 'BATCH_PARSE_ERROR'
  | 'PARAMS_WITH_BATCH'
  | 'SQL_EXECUTION_ERROR'
  | 'TABLE_NOT_FOUND'
  | 'NAMESPACE_NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'NOT_LEADER'
  | 'LEADER_NOT_AVAILABLE'
  | 'CLUSTER_UNAVAILABLE'
  | 'INVALID_INPUT'
  | 'UNAUTHORIZED'
  | 'RATE_LIMIT_EXCEEDED'
  | 'INTERNAL_ERROR'
  // ALTER CLUSTER REMOVE NODE: the refusals of the removal API (server reconciler.ts MembershipError), same statuses.
  | 'NODE_NOT_FOUND'
  | 'NODE_ALREADY_LEAVING'
  | 'TOO_MANY_AT_ONCE'
  | 'QUORUM_AT_RISK'
  | 'STATE_CHANGED'
  | 'CONF_CHANGES_UNAVAILABLE'
  | 'MEMBERS_NOT_SEEDED'
  // Client sessions (state/sessions.ts): a request's client_session refused at plan time or by the data group.
  | 'INVALID_REQUEST'
  | 'SESSION_UNSUPPORTED'
  | 'SESSION_EXPIRED'
  | 'SESSION_STALE'
  | 'SESSION_WINDOW_FULL';

const HTTP_STATUS: Readonly<Record<KalamErrorCode, number>> = {
  INVALID_SQL: 400,
  LIMIT_EXCEEDED: 400,
  EMPTY_SQL: 400,
  BATCH_PARSE_ERROR: 400,
  PARAMS_WITH_BATCH: 400,
  SQL_EXECUTION_ERROR: 400,
  TABLE_NOT_FOUND: 404,
  NAMESPACE_NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  PERMISSION_DENIED: 403,
  NOT_LEADER: 503,
  LEADER_NOT_AVAILABLE: 503,
  CLUSTER_UNAVAILABLE: 503,
  INVALID_INPUT: 400,
  UNAUTHORIZED: 401,
  RATE_LIMIT_EXCEEDED: 429,
  INTERNAL_ERROR: 500,
  NODE_NOT_FOUND: 404,
  NODE_ALREADY_LEAVING: 409,
  TOO_MANY_AT_ONCE: 409,
  QUORUM_AT_RISK: 409,
  STATE_CHANGED: 409,
  CONF_CHANGES_UNAVAILABLE: 503,
  MEMBERS_NOT_SEEDED: 503,
  INVALID_REQUEST: 400,
  SESSION_UNSUPPORTED: 400,
  SESSION_EXPIRED: 409,
  SESSION_STALE: 409,
  SESSION_WINDOW_FULL: 429,
};

export class KalamError extends Error {
  override readonly name = 'KalamError';
  readonly httpStatus: number;

  constructor(
    readonly code: KalamErrorCode,
    message: string,
    /** Structured context: the position for INVALID_SQL, the group and leader hint for cluster errors, or null. */
    readonly details: unknown = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.httpStatus = HTTP_STATUS[code];
  }
}

/** A state machine's deterministic refusal as a KalamError, by its code. */
export function fromRefusal(response: ErrorResponse): KalamError {
  const code = response.code;
  switch (code) {
    case 'TABLE_NOT_FOUND':
      return new KalamError('TABLE_NOT_FOUND', response.message);
    case 'ALREADY_EXISTS':
      return new KalamError('ALREADY_EXISTS', response.message);
    case 'NAMESPACE_NOT_FOUND':
      return new KalamError('NAMESPACE_NOT_FOUND', response.message);
    case 'SESSION_EXPIRED':
    case 'SESSION_STALE':
      return new KalamError(code, response.message);
    case 'SESSION_WINDOW_FULL':
      // Acknowledged answers are forgotten by the client's next write; until then, wait a moment.
      return new KalamError(code, response.message, { retryAfterSeconds: 1 });
    default:
      // INVALID (a row breaks the schema), CONFLICT (duplicate key, non-empty namespace), or an undecodable command.
      return new KalamError('SQL_EXECUTION_ERROR', response.message, { stateMachineCode: code });
  }
}

/** Raft codes whose write may or may not have been committed: the client cannot tell, so the details say so. */
const AMBIGUOUS_RAFT_CODES: ReadonlySet<string> = new Set(['TIMEOUT', 'PROPOSAL_DROPPED', 'SHUTTING_DOWN']);

function fromRaft(err: MultiRaftError): KalamError {
  const details = {
    raftCode: err.code,
    groupId: err.groupId,
    leaderHint: err.leaderHint,
    outcomeUnknown: AMBIGUOUS_RAFT_CODES.has(err.code),
  };
  switch (err.code) {
    case 'NOT_LEADER':
    case 'LEADER_NOT_AVAILABLE':
      return new KalamError(err.code, err.message, details, { cause: err });
    case 'TIMEOUT':
    case 'PROPOSAL_DROPPED':
    case 'SHUTTING_DOWN':
    case 'OVERLOADED':
    case 'READ_REJECTED':
    case 'TRANSFER_FAILED':
    case 'SNAPSHOT_INSTALLING':
    case 'CONF_CHANGE_PENDING':
      return new KalamError('CLUSTER_UNAVAILABLE', err.message, details, { cause: err });
    case 'TOO_LARGE':
      // Refused before anything was appended: the statement is too big for one entry.
      return new KalamError('LIMIT_EXCEEDED', `the statement is too large to replicate: ${err.message}`, details, {
        cause: err,
      });
    case 'UNKNOWN_GROUP':
    case 'BAD_REQUEST':
    case 'LOG_CORRUPT':
    case 'STATE_BEHIND_LOG':
    case 'CONF_CHANGE_INVALID':
      return new KalamError('INTERNAL_ERROR', err.message, details, { cause: err });
  }
}

/** Any error thrown while executing a statement, as a KalamError. */
export function toKalamError(err: unknown): KalamError {
  if (err instanceof KalamError) return err;
  if (err instanceof SqlError) {
    const position = err.position === null ? {} : { position: err.position };
    const limit = err.limit === null ? {} : { limit: err.limit.name, max: err.limit.max };
    const details = err.position === null && err.limit === null ? null : { ...limit, ...position };
    return new KalamError(err.code, err.message, details, { cause: err });
  }
  if (err instanceof MultiRaftError) return fromRaft(err);
  // A command the executor refused before proposing it (validate.ts): the statement is at fault.
  if (err instanceof ApplyError && err.code === 'INVALID')
    return new KalamError('INVALID_SQL', err.message, null, { cause: err });
  // A refusal raised by a state machine read helper (a table dropped between planning and reading).
  if (err instanceof ApplyError) return fromRefusal({ type: 'Error', code: err.code, message: err.message });
  if (err instanceof TableNameError) return new KalamError('INVALID_SQL', err.message, null, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new KalamError('INTERNAL_ERROR', `internal error: ${message}`, null, { cause: err });
}
