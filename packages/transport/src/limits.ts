/**
 * Every bound of the transport in one place, unit last. `resolveLimits` merges the caller's options over the
 * defaults and asserts the relations between them once, at construction.
 */
import { assert } from './assert.js';

export interface TransportLimits {
  /** Largest WebSocket message accepted (ws `maxPayload`), and the largest frame this node will send. */
  readonly maxPayloadBytes: number;
  /** Envelopes queued on one peer's control lane (everything but MsgSnap). Overflow drops the oldest. */
  readonly queueEnvelopesMax: number;
  /** Envelopes queued on one peer's bulk lane (MsgSnap). Overflow refuses the newest. */
  readonly bulkQueueEnvelopesMax: number;
  /** Fault-delayed envelopes and requests waiting for their timer, per peer. Overflow drops the newest. */
  readonly delayedItemsMax: number;
  /** A handshake timestamp further than this from our clock is refused as stale; also the replay window. */
  readonly handshakeMaxSkewMs: number;
  /**
   * An inbound connection that has not completed the HTTP upgrade and a valid hello within this, counted from
   * the TCP accept, is closed: a silent socket, half-sent headers and a slow hello all end here. Short, because
   * a peer's handshake takes one round trip and a stranger's open socket costs us until it is closed.
   */
  readonly handshakeTimeoutMs: number;
  /** The dialer gives up on a connection whose upgrade response or welcome has not arrived within this. */
  readonly dialTimeoutMs: number;
  /** Handshake nonces remembered for replay detection (only authenticated ones are stored). */
  readonly handshakeNoncesMax: number;
  /**
   * Inbound connections not yet authenticated, in all and per remote address. A newcomer over either bound
   * closes the one of them that has waited longest (see server.ts: why evict rather than refuse).
   */
  readonly pendingHandshakesMax: number;
  readonly pendingHandshakesPerAddressMax: number;
  /** Authenticated inbound sockets per peer; a new one closes the oldest beyond this. */
  readonly inboundSocketsPerPeerMax: number;
  /** Reconnect backoff: the first retry waits about min, each failure doubles it, up to max. */
  readonly reconnectBackoffMinMs: number;
  readonly reconnectBackoffMaxMs: number;
  /** A WebSocket ping goes out this often; a socket that missed the previous pong is terminated. */
  readonly keepAliveIntervalMs: number;
  /** Requests this node waits on per peer; more are refused with PEER_UNAVAILABLE. */
  readonly pendingRequestsMax: number;
  /** Requests one inbound socket may have running in `onRequest` at once; more get an OVERLOADED error. */
  readonly servingRequestsMax: number;
  /** A refused or closing socket that has not finished the close handshake after this is terminated. */
  readonly closeGraceMs: number;
  /** `close()` waits at most this long for the listening socket to close. */
  readonly closeTimeoutMs: number;
  /** Log lines per event name per second; the rest are counted and reported with the next line. */
  readonly logLinesPerEventPerSecondMax: number;
}

export const defaultLimits: TransportLimits = {
  maxPayloadBytes: 16 * 1024 * 1024,
  queueEnvelopesMax: 8192,
  bulkQueueEnvelopesMax: 256,
  delayedItemsMax: 8192,
  handshakeMaxSkewMs: 30_000,
  handshakeTimeoutMs: 2_000,
  dialTimeoutMs: 5_000,
  handshakeNoncesMax: 65_536,
  pendingHandshakesMax: 256,
  pendingHandshakesPerAddressMax: 16,
  inboundSocketsPerPeerMax: 4,
  reconnectBackoffMinMs: 50,
  reconnectBackoffMaxMs: 1_000,
  keepAliveIntervalMs: 5_000,
  pendingRequestsMax: 4096,
  servingRequestsMax: 4096,
  closeGraceMs: 1_000,
  closeTimeoutMs: 5_000,
  logLinesPerEventPerSecondMax: 20,
};

/** The smallest maxPayloadBytes allowed: a handshake, a response header and a small batch must always fit. */
export const MAX_PAYLOAD_BYTES_MIN = 4096;

/** Bytes of a handshake nonce. */
export const NONCE_BYTES = 16;

export interface LimitOverrides {
  /** Any bound by its own name; the named options below win over it. Relations are asserted as for the defaults. */
  limits?: Partial<TransportLimits> | undefined;
  maxPayloadBytes?: number | undefined;
  queueMax?: number | undefined;
  handshakeMaxSkewMs?: number | undefined;
  reconnectBackoffMs?: { min: number; max: number } | undefined;
}

export function resolveLimits(overrides: LimitOverrides): TransportLimits {
  const base: TransportLimits = { ...defaultLimits, ...overrides.limits };
  const limits: TransportLimits = {
    ...base,
    maxPayloadBytes: overrides.maxPayloadBytes ?? base.maxPayloadBytes,
    queueEnvelopesMax: overrides.queueMax ?? base.queueEnvelopesMax,
    handshakeMaxSkewMs: overrides.handshakeMaxSkewMs ?? base.handshakeMaxSkewMs,
    reconnectBackoffMinMs: overrides.reconnectBackoffMs?.min ?? base.reconnectBackoffMinMs,
    reconnectBackoffMaxMs: overrides.reconnectBackoffMs?.max ?? base.reconnectBackoffMaxMs,
  };
  for (const [key, value] of Object.entries(limits)) {
    assert(Number.isInteger(value) && value > 0, `transport limit ${key} must be a positive integer, got ${value}`);
  }
  assert(
    limits.maxPayloadBytes >= MAX_PAYLOAD_BYTES_MIN,
    `maxPayloadBytes must be at least ${MAX_PAYLOAD_BYTES_MIN}, got ${limits.maxPayloadBytes}`,
  );
  assert(
    limits.reconnectBackoffMinMs <= limits.reconnectBackoffMaxMs,
    'reconnectBackoffMs.min must not exceed reconnectBackoffMs.max',
  );
  // A hello sent at the start of either handshake timeout must still be fresh when the server checks it.
  assert(limits.handshakeTimeoutMs <= limits.handshakeMaxSkewMs, 'handshakeTimeoutMs must not exceed the skew window');
  assert(limits.dialTimeoutMs <= limits.handshakeMaxSkewMs, 'dialTimeoutMs must not exceed the skew window');
  assert(
    limits.pendingHandshakesPerAddressMax <= limits.pendingHandshakesMax,
    'pendingHandshakesPerAddressMax must not exceed pendingHandshakesMax',
  );
  return limits;
}
