/**
 * The client's errors: one class per kind of failure an application handles differently, each carrying the server's
 * stable `code`, the HTTP status (0 when no HTTP answer was involved), the server's `details`, the node that answered
 * and the `cause`. `errorFromServer` maps every code the server sends (packages/kalamdb/src/sql/errors.ts KalamError,
 * the /v1/ws protocol's codes in packages/server/src/ws, the route codes of http.ts and the client sessions' codes)
 * onto its class; an unknown code becomes the base KalamError, so a newer server never breaks an older client.
 */

export interface KalamErrorOptions {
  /** The HTTP status of the answer; 0 when there was none (a connection failure, a WebSocket message). */
  readonly httpStatus?: number;
  /** The server's structured context (a position, a leader hint, a limit), or null. */
  readonly details?: unknown;
  /** The node (API URL) that answered or was being talked to. */
  readonly node?: string;
  readonly cause?: unknown;
}

export class KalamError extends Error {
  override readonly name: string = 'KalamError';
  readonly httpStatus: number;
  readonly details: unknown;
  readonly node: string | undefined;

  constructor(
    readonly code: string,
    message: string,
    options: KalamErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.httpStatus = options.httpStatus ?? 0;
    this.details = options.details ?? null;
    this.node = options.node;
  }
}

/** UNAUTHORIZED (bad or expired credentials, a revoked user) and PERMISSION_DENIED (the role may not). */
export class AuthError extends KalamError {
  override readonly name: string = 'AuthError';
}

/** The statement is at fault: it does not parse, names what does not exist, breaks a rule or a limit. */
export class SqlError extends KalamError {
  override readonly name: string = 'SqlError';
}

/** No node could serve the call before its deadline (no leader, a quorum lost, every node unreachable). */
export class UnavailableError extends KalamError {
  override readonly name: string = 'UnavailableError';
}

/** NOT_LEADER: the node asked is not the leader of the group and could not forward (details.leaderHint). */
export class NotLeaderError extends UnavailableError {
  override readonly name: string = 'NotLeaderError';
}

/** RATE_LIMIT_EXCEEDED: slow down; `retryAfterSeconds` when the server said (Retry-After). */
export class RateLimitError extends KalamError {
  override readonly name: string = 'RateLimitError';
  retryAfterSeconds: number | null = null;
}

/** Refusals of a cluster membership change (ALTER CLUSTER, the node-removal API). */
export class ClusterChangeError extends KalamError {
  override readonly name: string = 'ClusterChangeError';
}

/** The client and server disagree about the protocol (a bad message, an unknown route): a bug, not a condition. */
export class ProtocolError extends KalamError {
  override readonly name: string = 'ProtocolError';
}

/** The server's answers about a client session (exactly-once writes) that the client raises as they are. */
export class SessionError extends KalamError {
  override readonly name: string = 'SessionError';
}

/** SESSION_EXPIRED: the server no longer remembers this client id (the client rotates to a new one). */
export class SessionExpiredError extends SessionError {
  override readonly name: string = 'SessionExpiredError';
}

/**
 * A write may or may not have been applied, and the client cannot find out: it was sent without a client session
 * (sessions off, or a statement sessions do not cover) and its answer was lost, or its session expired while it was
 * being retried. `cause` is the failure that lost the answer.
 */
export class OutcomeUnknownError extends KalamError {
  override readonly name: string = 'OutcomeUnknownError';
}

/**
 * RESUME_UNAVAILABLE (the node's change history no longer reaches back to the subscription's cursor) or RESUME_AHEAD
 * (the cursor is past the newest change): a live query cannot go on without a gap; subscribe again without fromSeq.
 */
export class ResumeUnavailableError extends KalamError {
  override readonly name: string = 'ResumeUnavailableError';
}

/** The subscription ended on the server's word (killed, overflowed, too many rows or subscriptions). */
export class SubscriptionError extends KalamError {
  override readonly name: string = 'SubscriptionError';
}

/** The client was closed (close()) while the call was in progress, or a call was made after it. */
export class ClientClosedError extends KalamError {
  override readonly name: string = 'ClientClosedError';
}

type ErrorClass = new (code: string, message: string, options?: KalamErrorOptions) => KalamError;

/** Every code the server sends, by the class it maps to. */
export const SERVER_CODES = {
  // The statement (KalamError, 4xx).
  INVALID_SQL: SqlError,
  LIMIT_EXCEEDED: SqlError,
  EMPTY_SQL: SqlError,
  BATCH_PARSE_ERROR: SqlError,
  PARAMS_WITH_BATCH: SqlError,
  SQL_EXECUTION_ERROR: SqlError,
  TABLE_NOT_FOUND: SqlError,
  NAMESPACE_NOT_FOUND: SqlError,
  ALREADY_EXISTS: SqlError,
  INVALID_INPUT: SqlError,
  // Who may.
  UNAUTHORIZED: AuthError,
  PERMISSION_DENIED: AuthError,
  // Availability (503): retried on another node until the deadline.
  NOT_LEADER: NotLeaderError,
  LEADER_NOT_AVAILABLE: UnavailableError,
  CLUSTER_UNAVAILABLE: UnavailableError,
  CONF_CHANGES_UNAVAILABLE: UnavailableError,
  MEMBERS_NOT_SEEDED: UnavailableError,
  RATE_LIMIT_EXCEEDED: RateLimitError,
  INTERNAL_ERROR: KalamError,
  // Membership changes.
  NODE_NOT_FOUND: ClusterChangeError,
  NODE_ALREADY_LEAVING: ClusterChangeError,
  TOO_MANY_AT_ONCE: ClusterChangeError,
  QUORUM_AT_RISK: ClusterChangeError,
  STATE_CHANGED: ClusterChangeError,
  // Routes of http.ts and the /v1/ws protocol's refusals of a malformed message.
  NOT_FOUND: ProtocolError,
  METHOD_NOT_ALLOWED: ProtocolError,
  INVALID_MESSAGE: ProtocolError,
  INVALID_SUBSCRIPTION_ID: ProtocolError,
  UNSUPPORTED_DATA: ProtocolError,
  MESSAGE_TOO_LARGE: ProtocolError,
  BATCH_FETCH_FAILED: ProtocolError,
  INVALID_REQUEST: ProtocolError, // a malformed client_session, or one made in the future
  // Live queries.
  RESUME_UNAVAILABLE: ResumeUnavailableError,
  RESUME_AHEAD: ResumeUnavailableError,
  SUBSCRIPTION_KILLED: SubscriptionError,
  SUBSCRIPTION_OVERFLOW: SubscriptionError,
  SUBSCRIPTION_LIMIT_EXCEEDED: SubscriptionError,
  TOO_MANY_ROWS: SubscriptionError,
  // Client sessions (exactly-once writes).
  SESSION_EXPIRED: SessionExpiredError,
  SESSION_STALE: SessionError,
  SESSION_UNSUPPORTED: SessionError,
  SESSION_WINDOW_FULL: SessionError,
} as const satisfies Readonly<Record<string, ErrorClass>>;

export type ServerCode = keyof typeof SERVER_CODES;

/** Codes the client itself raises. */
export const CLIENT_CODES = {
  /** A write's answer was lost and it could not be retried safely. */
  OUTCOME_UNKNOWN: 'OUTCOME_UNKNOWN',
  /** Every attempt failed to reach a node (or timed out) before the call's deadline. */
  CONNECTION_FAILED: 'CONNECTION_FAILED',
  CLIENT_CLOSED: 'CLIENT_CLOSED',
  /** A live query's buffer of undelivered events (the async iterator not read) passed its bound. */
  CLIENT_BUFFER_FULL: 'CLIENT_BUFFER_FULL',
  /** The server answered with something that is not the API's JSON. */
  BAD_RESPONSE: 'BAD_RESPONSE',
  /** Neither the platform nor the options gave a WebSocket, and `ws` could not be imported. */
  NO_WEBSOCKET: 'NO_WEBSOCKET',
} as const;

/** The error for a server answer `{code, message, details}`. */
export function errorFromServer(code: string, message: string, options: KalamErrorOptions = {}): KalamError {
  const Class: ErrorClass = Object.hasOwn(SERVER_CODES, code) ? SERVER_CODES[code as ServerCode] : KalamError;
  return new Class(code, message, options);
}

/** True when the server said the write may have been applied although it answered with an error (a Raft timeout). */
export function outcomeUnknownIn(details: unknown): boolean {
  return (
    typeof details === 'object' && details !== null && (details as { outcomeUnknown?: unknown }).outcomeUnknown === true
  );
}
