/**
 * VerifiedCredentials: the passwords that matched lately, so that a client sending `Basic` credentials with every
 * request pays scrypt once per SQL_ENGINE_LIMITS.verifiedCredentialTtlMs instead of once per request — and is not
 * queued behind guessers at the scrypt gate.
 *
 * What is kept is HMAC-SHA256(key, user id ‖ current password hash ‖ password) and an expiry, never the password: the
 * key is random per process and never leaves it. Because the user's current hash is part of the input, any change of
 * the password (ALTER USER … SET PASSWORD, a re-created user, which gets a new id) makes the old entry unreachable;
 * a dropped or locked user is refused before the cache is asked. Only an exact match of all three hits, so a hit
 * proves what scrypt would have: this password is this user's current one.
 */
import { createHmac, randomBytes } from 'node:crypto';

import type { UserRecord } from '../commands.js';
import { SQL_ENGINE_LIMITS } from './limits.js';

export class VerifiedCredentials {
  private readonly key = randomBytes(32);
  /** digest → expiry (ms); insertion order is age order (a refresh re-inserts). */
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly ttlMs: number = SQL_ENGINE_LIMITS.verifiedCredentialTtlMs,
    private readonly max: number = SQL_ENGINE_LIMITS.verifiedCredentialsMax,
  ) {}

  /** True when `password` matched `user`'s current hash less than the TTL ago. */
  matches(user: UserRecord, password: string, nowMs: number): boolean {
    const digest = this.digest(user, password);
    const expiresAtMs = this.entries.get(digest);
    if (expiresAtMs === undefined) return false;
    if (nowMs < expiresAtMs) return true;
    this.entries.delete(digest);
    return false;
  }

  /** Remembers that `password` matched `user`'s current hash (scrypt said so). */
  remember(user: UserRecord, password: string, nowMs: number): void {
    const digest = this.digest(user, password);
    this.entries.delete(digest);
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(digest, nowMs + this.ttlMs);
  }

  size(): number {
    return this.entries.size;
  }

  private digest(user: UserRecord, password: string): string {
    // Lengths first, so that no two (id, hash, password) triples encode alike.
    const h = createHmac('sha256', this.key);
    for (const part of [user.userId, user.passwordHash, password]) h.update(`${part.length}:`).update(part);
    return h.digest('base64');
  }
}
