/**
 * LoginThrottle: how many password checks a client address and a user name may still cost the node. Each key has a
 * token bucket — `attemptsMax` at once, one more every `refillMs`. A password check takes a token from the address's
 * bucket AND the user's before scrypt runs (so a burst of concurrent guesses is cut at the bucket size, not after it
 * has been computed); a match gives both back, a wrong password keeps them spent. An empty bucket refuses at once
 * with RATE_LIMIT_EXCEEDED and the seconds until the next token — no scrypt, no lookup.
 *
 * Why both keys: per address stops one client guessing many names; per user stops many addresses guessing one name.
 * The user bucket is larger than the address bucket and refills no slower (asserted in limits.ts), so one address
 * alone can never lock a user out of other addresses; a distributed guess at one user does lock its password logins
 * until the bucket refills — its tokens still work. Unknown names have buckets like real ones, so a refusal says
 * nothing about which names exist. IPv6 addresses are keyed by their /64 (one host usually holds a whole /64).
 *
 * Memory: at most `keysMax` buckets per kind; a full bucket is forgotten (it equals no bucket), and when the map is
 * full the least recently touched one is dropped.
 */
import { isIPv6 } from 'node:net';

import { KalamError } from '@kalam/kalamdb';

export interface BucketLimits {
  /** Tokens when full: password checks allowed in a burst. */
  readonly attemptsMax: number;
  /** One token comes back every this many ms. */
  readonly refillMs: number;
}

export interface LoginThrottleOptions {
  readonly perAddress: BucketLimits;
  readonly perUser: BucketLimits;
  /** Buckets kept per kind. */
  readonly keysMax: number;
  /** Milliseconds, injected so tests control time; default Date.now. */
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

class Buckets {
  private readonly map = new Map<string, Bucket>();

  constructor(
    private readonly limits: BucketLimits,
    private readonly keysMax: number,
  ) {}

  /** The bucket of `key` refilled up to `nowMs` (not stored). */
  peek(key: string, nowMs: number): Bucket {
    const b = this.map.get(key);
    if (b === undefined) return { tokens: this.limits.attemptsMax, atMs: nowMs };
    const refilled = b.tokens + Math.max(0, nowMs - b.atMs) / this.limits.refillMs;
    return { tokens: Math.min(this.limits.attemptsMax, refilled), atMs: nowMs };
  }

  /** Ms until `bucket` holds a whole token again. */
  waitMs(bucket: Bucket): number {
    return Math.max(0, Math.ceil((1 - bucket.tokens) * this.limits.refillMs));
  }

  /** Stores `bucket` plus `delta` tokens as the most recently touched; a full bucket is simply forgotten. */
  put(key: string, bucket: Bucket, delta: number): void {
    const tokens = Math.min(this.limits.attemptsMax, bucket.tokens + delta);
    this.map.delete(key);
    if (tokens >= this.limits.attemptsMax) return;
    if (this.map.size >= this.keysMax) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    this.map.set(key, { tokens, atMs: bucket.atMs });
  }

  size(): number {
    return this.map.size;
  }
}

/** What a caller holds while its password is checked: settle it exactly once with the outcome. */
export interface LoginAttempt {
  /** `true`: the password matched, or the check failed for a reason that is not the password (give back). */
  settle(refund: boolean): void;
}

export class LoginThrottle {
  private readonly addresses: Buckets;
  private readonly users: Buckets;
  private readonly now: () => number;

  constructor(opts: LoginThrottleOptions) {
    this.addresses = new Buckets(opts.perAddress, opts.keysMax);
    this.users = new Buckets(opts.perUser, opts.keysMax);
    this.now = opts.now ?? (() => Date.now());
  }

  /**
   * Takes one token for `username` from `address`, or throws RATE_LIMIT_EXCEEDED (details.retryAfterSeconds) when
   * either bucket is empty — then nothing is taken.
   */
  begin(username: string, address: string | undefined): LoginAttempt {
    const nowMs = this.now();
    const addressKey = addressKeyOf(address);
    const a = this.addresses.peek(addressKey, nowMs);
    const u = this.users.peek(username, nowMs);
    if (a.tokens < 1 || u.tokens < 1) {
      const waitMs = Math.max(a.tokens < 1 ? this.addresses.waitMs(a) : 0, u.tokens < 1 ? this.users.waitMs(u) : 0);
      const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
      throw new KalamError(
        'RATE_LIMIT_EXCEEDED',
        `too many failed logins for this user or from this address; retry after ${retryAfterSeconds} s`,
        { retryAfterSeconds },
      );
    }
    this.addresses.put(addressKey, a, -1);
    this.users.put(username, u, -1);
    let settled = false;
    return {
      settle: (refund) => {
        if (settled) return;
        settled = true;
        if (!refund) return;
        const at = this.now();
        this.addresses.put(addressKey, this.addresses.peek(addressKey, at), 1);
        this.users.put(username, this.users.peek(username, at), 1);
      },
    };
  }

  /** Buckets held (tests: the maps stay bounded). */
  size(): { addresses: number; users: number } {
    return { addresses: this.addresses.size(), users: this.users.size() };
  }
}

/** An IPv4 address as is (IPv4-mapped IPv6 unwrapped), an IPv6 address as its /64 prefix. */
export function addressKeyOf(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (!isIPv6(address)) return address;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight hextets of an IPv6 address (zone id dropped), `::` expanded. */
function expandIPv6(address: string): string[] {
  const bare = address.split('%', 1)[0]!.toLowerCase();
  const [head, tail] = bare.includes('::') ? bare.split('::', 2) : [bare, undefined];
  const front = head === '' || head === undefined ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - front.length - back.length }, () => '0');
  return [...front, ...zeros, ...back].map((h) => h.replace(/^0+(?=.)/, ''));
}
