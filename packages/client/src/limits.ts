/**
 * Every default bound of the client in one place, unit last. Each can be changed per client (ClientOptions); the
 * relations the code relies on are asserted here at load.
 */
export const CLIENT_LIMITS = {
  /** A call (query, execute, login) gives up after this long across every attempt and back-off. */
  callDeadlineMs: 30_000,
  /** One HTTP attempt is abandoned after this long (then the next node is tried). */
  attemptTimeoutMs: 10_000,
  /** The first retry waits about this long (jittered); each later one doubles it, up to backoffMaxMs. */
  backoffBaseMs: 50,
  backoffMaxMs: 2_000,
  /** A node that failed is tried last until this long has passed, then it is probed again by the next call. */
  nodeDownMs: 5_000,
  /** A token is renewed (password clients) this long before it expires. */
  tokenRenewBeforeMs: 30_000,
  /** Live queries: a protocol ping this often; the socket is given up when no message arrived for pingTimeoutMs. */
  livePingIntervalMs: 3_000,
  livePingTimeoutMs: 10_000,
  /** A live query whose node died keeps trying other nodes this long before it ends with UnavailableError. */
  liveResumeDeadlineMs: 60_000,
  /** Opening a WebSocket and authenticating on it. */
  liveConnectTimeoutMs: 10_000,
  /** Initial rows per batch asked of the server (the server caps it at 1000). */
  liveBatchSize: 500,
  /** Events the async iterator holds for a reader that does not keep up; past it, the iterator throws. */
  liveBufferedEventsMax: 100_000,
  /**
   * A client session older than this is replaced by a fresh one before the next write: the server refuses a client id
   * made more than its session TTL ago (1 h, SESSION_EXPIRED), and a fresh id before that costs no round trip.
   */
  sessionRotateAfterMs: 30 * 60_000,
  /** A client id is [A-Za-z0-9_-]{1,64} (the server's rule). */
  clientIdCharsMax: 64,
} as const;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`CLIENT_LIMITS: ${what}`);
}
check(CLIENT_LIMITS.backoffBaseMs > 0 && CLIENT_LIMITS.backoffBaseMs <= CLIENT_LIMITS.backoffMaxMs, 'backoff range');
check(CLIENT_LIMITS.attemptTimeoutMs <= CLIENT_LIMITS.callDeadlineMs, 'an attempt fits in a call');
check(CLIENT_LIMITS.livePingIntervalMs < CLIENT_LIMITS.livePingTimeoutMs, 'a ping is answered before the timeout');
