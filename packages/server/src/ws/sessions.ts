/**
 * SessionGuard: an authenticated WebSocket keeps the rights of its user as they are now, not as they were when it
 * authenticated (adversaries.md §3, "rights that outlive their grant"). Each socket remembers the version of its
 * user's record it authenticated against (`updatedAt`, which every ALTER USER moves forward; auth.ts) and that
 * record's password hash and role. When the record is not at that version any more:
 *
 *   user dropped or locked      every subscription ends (UNAUTHORIZED), the socket is told and closed (4401)
 *   password changed            the same: the credentials it presented are no longer good
 *   its token expired           the same (a socket authenticated with a token lives no longer than the token)
 *   only the role changed       the socket takes the new role and each subscription is checked again as when it was
 *                               made; those the new role may not hold end with PERMISSION_DENIED, the rest go on
 *
 * When: the users state machine has no change feed (and state/* is not this layer's to change), so the guard watches
 * meta:users' applied index — one cached number — and re-checks every socket when it moved: (1) synchronously before
 * every delivery of data changes (LiveQueries.beforeDelivery), so a change this node applied before a row is in force
 * before that row goes out; and (2) every WS_LIMITS.sessionRecheckIntervalMs, for sockets that receive nothing. The
 * bound on revocation is thus this node's replication lag of meta:users plus at most that interval. Both also
 * re-check once the earliest token expiry of any socket has passed. Every input is
 * local state, read synchronously: no await between reading a record and acting on it.
 */
import type { Role, Session, UserRecord } from '@kalam/kalamdb';

import type { Principal } from '../auth.js';
import type { RunningNode } from '../runtime.js';
import { WS_LIMITS } from './limits.js';
import type { LiveQueries } from './live.js';

/** What a socket authenticated against. */
export interface Credential {
  /** The user record's `updatedAt` then. */
  version: number;
  readonly passwordHash: string;
  /** A token's expiry; null for a password. */
  readonly expiresAtMs: number | null;
}

/** The side of a socket the guard needs. */
export interface GuardedSocket {
  readonly connectionId: string;
  session: Session | null;
  credential: Credential | null;
  /** Tells the client why (`UNAUTHORIZED`, `message`) and closes the socket. */
  revoke(message: string): void;
}

type Verdict =
  | { readonly kind: 'same' }
  | { readonly kind: 'revoke'; readonly message: string }
  | { readonly kind: 'changed'; readonly role: Role; readonly version: number };

/** How a socket's credential compares with its user's record now. */
export function judge(credential: Credential, user: UserRecordNow | undefined, nowMs: number): Verdict {
  if (user === undefined) return { kind: 'revoke', message: 'the user was dropped' };
  if (user.lockedUntil !== null && user.lockedUntil > nowMs) return { kind: 'revoke', message: 'the user is locked' };
  if (credential.expiresAtMs !== null && nowMs >= credential.expiresAtMs) {
    return { kind: 'revoke', message: 'the token expired: authenticate again' };
  }
  if (user.updatedAt === credential.version) return { kind: 'same' };
  if (user.passwordHash !== credential.passwordHash) {
    return { kind: 'revoke', message: "the user's password changed: authenticate again" };
  }
  return { kind: 'changed', role: user.role, version: user.updatedAt };
}

type UserRecordNow = UserRecord & { readonly lockedUntil: number | null };

export class SessionGuard {
  private checkedAt = -1;
  /** The earliest token expiry among the sockets (Infinity: none). */
  private nextExpiryMs = Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly node: RunningNode,
    private readonly sockets: () => Iterable<GuardedSocket>,
    private readonly live: LiveQueries,
  ) {}

  start(): void {
    this.checkedAt = this.node.machines.users.appliedIndex();
    this.live.beforeDelivery(() => this.checkIfChanged());
    this.timer = setInterval(() => this.checkIfChanged(), WS_LIMITS.sessionRecheckIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * The credential a socket that authenticated as `principal` holds — read in the same synchronous step as the
   * caller's decision — or null when the user's record has moved since the credentials were checked (the caller
   * refuses the authentication: the client tries again against the record as it is now).
   */
  credentialOf(principal: Principal): Credential | null {
    const user = this.node.machines.users.byId(principal.userId);
    if (user?.updatedAt !== principal.credentialVersion) return null;
    const expiresAtMs = principal.expiresAtMs ?? null;
    if (expiresAtMs !== null) this.nextExpiryMs = Math.min(this.nextExpiryMs, expiresAtMs);
    return { version: user.updatedAt, passwordHash: user.passwordHash, expiresAtMs };
  }

  /** Re-checks every socket if meta:users applied anything since the last check, or a token expired. */
  checkIfChanged(): void {
    const applied = this.node.machines.users.appliedIndex();
    if (applied === this.checkedAt && Date.now() < this.nextExpiryMs) return;
    this.checkedAt = applied;
    this.check();
  }

  /** Re-checks every authenticated socket against its user's record now (the table of the module comment). */
  check(): void {
    const users = new Map<string, UserRecordNow | undefined>();
    const nowMs = Date.now();
    this.nextExpiryMs = Infinity;
    for (const socket of [...this.sockets()]) {
      const session = socket.session;
      const credential = socket.credential;
      if (session === null || credential === null) continue;
      if (credential.expiresAtMs !== null && credential.expiresAtMs > nowMs) {
        this.nextExpiryMs = Math.min(this.nextExpiryMs, credential.expiresAtMs);
      }
      if (!users.has(session.userId)) users.set(session.userId, this.node.machines.users.byId(session.userId));
      const verdict = judge(credential, users.get(session.userId), nowMs);
      switch (verdict.kind) {
        case 'same':
          break;
        case 'revoke':
          this.live.revokeConnection(socket.connectionId, 'UNAUTHORIZED', `subscription ended: ${verdict.message}`);
          socket.session = null;
          socket.credential = null;
          socket.revoke(verdict.message);
          break;
        case 'changed':
          credential.version = verdict.version;
          if (verdict.role !== session.role) {
            const changed = { ...session, role: verdict.role };
            socket.session = changed;
            this.live.recheckConnection(socket.connectionId, changed);
          }
          break;
      }
    }
  }
}
