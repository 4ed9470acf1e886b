/**
 * Every bound of the node process, unit last. The relations between them are asserted at load: the
 * graceful-shutdown steps must fit inside the hard bound, or a SIGTERM would end in the hard exit.
 */
import assert from 'node:assert/strict';

export const SERVER_LIMITS = {
  /** Cluster mode: how long startup waits for meta:users to elect a leader so that root can be created. */
  bootstrapTimeoutMs: 30_000,
  /** Pause between two bootstrap attempts while meta:users has no leader. */
  bootstrapRetryMs: 200,
  /** Requests in flight get this long to finish after SIGTERM before the node stops anyway. */
  drainTimeoutMs: 3_000,
  /** Leadership transfer of every group this node leads, during a graceful stop. */
  transferTimeoutMs: 3_000,
  /** After SIGTERM the process is gone within this long, gracefully or not (exit 1 when not). */
  shutdownHardMs: 10_000,
  /** A request whose headers take longer than this is dropped (slow-loris). */
  headersTimeoutMs: 10_000,
  /** A whole request (headers and body) must arrive within this long. */
  requestTimeoutMs: 30_000,
  /**
   * Idle keep-alive connections: clients are told (`Keep-Alive: timeout=5`) to drop them after this long; the server
   * closes them only keepAliveGraceMs later, so a client whose idle timer fires late (undici's run on coarse ticks)
   * never sends a request on a socket the server is closing — a POST lost that way fails with no answer.
   */
  keepAliveTimeoutMs: 5_000,
  keepAliveGraceMs: 5_000,
  /**
   * GET /v1/api/cluster/overview asks each peer for its status and readiness; a peer that has not answered within
   * this long is shown unreachable. Below the console's 1 s poll plus its own 15 s request bound, so one dead node
   * never stalls the page.
   */
  peerStatusTimeoutMs: 1_500,
  /** A proposal or read barrier of one request waits at most this long in the RaftExecutor. */
  executorTimeoutMs: 5_000,
  /** Cluster mode: a read barrier refused right after an election is asked again for up to this long. */
  readPatienceMs: 5_000,
  /** Pause between two tries of a refused read barrier. */
  readRetryMs: 25,
  /** The random JWT key a standalone node generates and keeps in <data_dir>/jwt.secret. */
  jwtSecretBytes: 32,
  /** A `Authorization` header longer than this is refused before it is parsed. */
  authorizationCharsMax: 8_192,
  /** Bearer tokens whose signature this node verified, kept until they expire (per JWT key, oldest dropped first). */
  verifiedTokensMax: 10_000,
  /**
   * Password checks (Basic auth, login, WebSocket authenticate) one client address may cost in a burst, and the ms
   * after which one more is allowed; a matching password gives its check back (throttle.ts).
   */
  loginAttemptsPerAddressMax: 10,
  loginAttemptRefillPerAddressMs: 30_000,
  /** The same for one user name, whatever the address (a distributed guess at one account). */
  loginAttemptsPerUserMax: 20,
  loginAttemptRefillPerUserMs: 30_000,
  /** Throttle buckets kept per kind (addresses, user names); the least recently touched is dropped beyond. */
  loginThrottleKeysMax: 50_000,
  /** One join request to a member (join.ts), its answer included (the member proposes a meta:system entry). */
  joinRequestTimeoutMs: 10_000,
  /** A joining node asks again (fresh nonce) for this long while the member is unreachable or has no leader. */
  joinTimeoutMs: 60_000,
  /** Pause between two join attempts. */
  joinRetryMs: 500,
  /** |member clock − joiner clock| a join request may show; also how long its nonce is remembered (replay). */
  joinMaxSkewMs: 30_000,
  /** Join nonces a member remembers at once; beyond, new joins are refused until old nonces expire. */
  joinNoncesMax: 1_024,
} as const;

assert.ok(SERVER_LIMITS.joinRetryMs < SERVER_LIMITS.joinRequestTimeoutMs);
assert.ok(SERVER_LIMITS.joinRequestTimeoutMs < SERVER_LIMITS.joinTimeoutMs);

assert.ok(
  SERVER_LIMITS.drainTimeoutMs + SERVER_LIMITS.transferTimeoutMs + 1_000 < SERVER_LIMITS.shutdownHardMs,
  'a graceful stop (drain, transfer, close) must fit inside the hard shutdown bound',
);
assert.ok(SERVER_LIMITS.bootstrapRetryMs < SERVER_LIMITS.bootstrapTimeoutMs);
assert.ok(
  SERVER_LIMITS.loginAttemptsPerUserMax > SERVER_LIMITS.loginAttemptsPerAddressMax &&
    SERVER_LIMITS.loginAttemptRefillPerUserMs <= SERVER_LIMITS.loginAttemptRefillPerAddressMs,
  'one address alone must never be able to lock a user out of every other address',
);
