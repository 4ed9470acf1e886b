/**
 * The link handshake. The dialer's first frame is a hello: cluster id, node id, its clock (ms), a random nonce
 * and HMAC-SHA256(secret) over them. The server checks, in this order: cluster id, membership of the node id,
 * freshness (|now - ts| ≤ skew), the HMAC (constant time), and that the nonce was not seen within the skew
 * window (replay). It answers with a welcome whose HMAC covers the dialer's nonce and its own node id, so the
 * dialer authenticates the server too. Each MAC is over a labelled, unambiguous encoding, so a welcome can
 * never pass as a hello.
 */
import type { NodeId } from '@kalam/raft';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { HelloFrame, WelcomeFrame } from './codec.js';
import { NONCE_BYTES } from './limits.js';

export type RefusalReason =
  | 'not_a_handshake'
  | 'wrong_cluster'
  | 'unknown_node'
  | 'removed_node'
  | 'stale'
  | 'bad_hmac'
  | 'replay'
  | 'nonce_cache_full'
  | 'handshake_timeout'
  | 'too_many_handshakes'
  | 'too_many_from_address'
  | 'bad_welcome';

export interface HandshakeIdentity {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  readonly secret: string;
}

export function createHello(
  id: HandshakeIdentity,
  nowMs: number,
  nonce: Uint8Array = randomBytes(NONCE_BYTES),
): HelloFrame {
  return {
    type: 'hello',
    clusterId: id.clusterId,
    nodeId: id.nodeId,
    ts: nowMs,
    nonce,
    hmac: helloMac(id.secret, id.clusterId, id.nodeId, nowMs, nonce),
  };
}

export interface HelloCheck {
  readonly clusterId: string;
  readonly secret: string;
  readonly isPeer: (nodeId: number) => boolean;
  /** Ids removed from the cluster: refused as `removed_node` (not `unknown_node`), so the node learns it was removed. */
  readonly isRemoved?: (nodeId: number) => boolean;
  readonly nowMs: number;
  readonly maxSkewMs: number;
  readonly nonces: NonceCache;
}

export type HelloVerdict =
  { readonly ok: true; readonly peer: NodeId } | { readonly ok: false; readonly reason: RefusalReason };

export function verifyHello(hello: HelloFrame, check: HelloCheck): HelloVerdict {
  if (hello.clusterId !== check.clusterId) return { ok: false, reason: 'wrong_cluster' };
  if (check.isRemoved?.(hello.nodeId) === true) return { ok: false, reason: 'removed_node' };
  if (!check.isPeer(hello.nodeId)) return { ok: false, reason: 'unknown_node' };
  if (Math.abs(check.nowMs - hello.ts) > check.maxSkewMs) return { ok: false, reason: 'stale' };
  const expected = helloMac(check.secret, hello.clusterId, hello.nodeId, hello.ts, hello.nonce);
  if (!timingSafeEqual(expected, hello.hmac)) return { ok: false, reason: 'bad_hmac' };
  // Only authenticated nonces are remembered, so strangers cannot fill the cache.
  const seen = check.nonces.remember(hello.nonce, hello.ts + check.maxSkewMs, check.nowMs);
  if (seen !== 'fresh') return { ok: false, reason: seen === 'replay' ? 'replay' : 'nonce_cache_full' };
  return { ok: true, peer: hello.nodeId as NodeId };
}

export function createWelcome(server: HandshakeIdentity, hello: HelloFrame): WelcomeFrame {
  return {
    type: 'welcome',
    nodeId: server.nodeId,
    hmac: welcomeMac(server.secret, server.clusterId, server.nodeId, hello.nodeId, hello.nonce),
  };
}

/** The dialer's check of the server's answer: it is the node we dialed and it holds the secret. */
export function verifyWelcome(
  welcome: WelcomeFrame,
  dialer: HandshakeIdentity,
  expectedPeer: NodeId,
  nonce: Uint8Array,
): boolean {
  if (welcome.nodeId !== expectedPeer) return false;
  const expected = welcomeMac(dialer.secret, dialer.clusterId, expectedPeer, dialer.nodeId, nonce);
  return timingSafeEqual(expected, welcome.hmac);
}

function helloMac(secret: string, clusterId: string, nodeId: number, ts: number, nonce: Uint8Array): Buffer {
  return mac(secret, ['kalam/hello/v1', clusterId, nodeId, ts, Buffer.from(nonce).toString('hex')]);
}

function welcomeMac(secret: string, clusterId: string, serverId: number, dialerId: number, nonce: Uint8Array): Buffer {
  return mac(secret, ['kalam/welcome/v1', clusterId, serverId, dialerId, Buffer.from(nonce).toString('hex')]);
}

// ---------------------------------------------------------------------------------------------------------
// Join (issue [M9] §2): a node with no id yet asks a member to admit it. The request carries the same proof as a
// hello — HMAC-SHA256(secret) over its fields, a clock for freshness and a nonce against replay — under its own
// label, so a join can never pass as a hello or the reverse. The answer's MAC covers the joiner's nonce and what
// it was given, so the joiner knows a holder of the secret answered this request.

export interface JoinRequestFields {
  readonly rpcAddr: string;
  readonly apiAddr: string;
  readonly ts: number;
  /** Hex, NONCE_BYTES random bytes. */
  readonly nonce: string;
}

export interface JoinRequest extends JoinRequestFields {
  /** Hex HMAC-SHA256. */
  readonly hmac: string;
}

export function createJoinRequest(
  secret: string,
  addrs: { rpcAddr: string; apiAddr: string },
  nowMs: number,
  nonce: Uint8Array = randomBytes(NONCE_BYTES),
): JoinRequest {
  const fields: JoinRequestFields = { ...addrs, ts: nowMs, nonce: Buffer.from(nonce).toString('hex') };
  return { ...fields, hmac: joinMac(secret, fields).toString('hex') };
}

export type JoinVerdict =
  { readonly ok: true } | { readonly ok: false; readonly reason: 'stale' | 'bad_hmac' | 'replay' | 'nonce_cache_full' };

/** The member's check of a join request: fresh, signed with the secret, not seen before (in that order). */
export function verifyJoinRequest(
  req: JoinRequest,
  check: { secret: string; nowMs: number; maxSkewMs: number; nonces: NonceCache },
): JoinVerdict {
  if (Math.abs(check.nowMs - req.ts) > check.maxSkewMs) return { ok: false, reason: 'stale' };
  const given = Buffer.from(req.hmac, 'hex');
  const expected = joinMac(check.secret, req);
  if (given.length !== expected.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad_hmac' };
  const seen = check.nonces.remember(Buffer.from(req.nonce, 'hex'), req.ts + check.maxSkewMs, check.nowMs);
  if (seen !== 'fresh') return { ok: false, reason: seen === 'replay' ? 'replay' : 'nonce_cache_full' };
  return { ok: true };
}

/** The MAC of a join answer: the cluster, the id given, and the request's nonce (hex). */
export function joinAnswerMac(secret: string, answer: { clusterId: string; nodeId: number; nonce: string }): string {
  return mac(secret, ['kalam/join-answer/v1', answer.clusterId, answer.nodeId, answer.nonce]).toString('hex');
}

/** The joiner's check of an answer's MAC (constant time). */
export function verifyJoinAnswer(
  secret: string,
  answer: { clusterId: string; nodeId: number; nonce: string; hmac: string },
): boolean {
  const given = Buffer.from(answer.hmac, 'hex');
  const expected = Buffer.from(joinAnswerMac(secret, answer), 'hex');
  return given.length === expected.length && timingSafeEqual(expected, given);
}

function joinMac(secret: string, f: JoinRequestFields): Buffer {
  return mac(secret, ['kalam/join/v1', f.rpcAddr, f.apiAddr, f.ts, f.nonce]);
}

/** JSON of an array: each field is quoted or numeric, so no two field lists share an encoding. */
function mac(secret: string, fields: readonly (string | number)[]): Buffer {
  return createHmac('sha256', secret).update(JSON.stringify(fields)).digest();
}

/**
 * Nonces of accepted hellos, each kept until its hello would be refused as stale anyway. Bounded: when full of
 * unexpired nonces, new handshakes are refused rather than forgetting one early (which would open a replay).
 */
export class NonceCache {
  /** Hex nonce → the time after which a replay of it is refused as stale. Insertion order ≈ expiry order. */
  private readonly expiries = new Map<string, number>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.expiries.size;
  }

  remember(nonce: Uint8Array, expiresAtMs: number, nowMs: number): 'fresh' | 'replay' | 'full' {
    const key = Buffer.from(nonce).toString('hex');
    const known = this.expiries.get(key);
    if (known !== undefined && known >= nowMs) return 'replay';
    this.pruneOldest(nowMs);
    if (this.expiries.size >= this.max) this.pruneAll(nowMs);
    if (this.expiries.size >= this.max) return 'full';
    this.expiries.set(key, expiresAtMs);
    return 'fresh';
  }

  /** Drops expired nonces from the oldest end; stops at the first live one (a late expiry only keeps more). */
  private pruneOldest(nowMs: number): void {
    for (const [key, expiresAtMs] of this.expiries) {
      if (expiresAtMs >= nowMs) return;
      this.expiries.delete(key);
    }
  }

  private pruneAll(nowMs: number): void {
    for (const [key, expiresAtMs] of this.expiries) {
      if (expiresAtMs < nowMs) this.expiries.delete(key);
    }
  }
}
