/**
 * Password hashes: scrypt with a random salt, encoded `scrypt$N$r$p$salt$hash` (salt and hash in base64). The hash
 * is computed by the proposer and travels inside the CreateUser/UpdateUser command, so apply stays deterministic.
 *
 * Every scrypt computation of the process — hashing and verifying — passes one gate: at most
 * SQL_ENGINE_LIMITS.scryptConcurrencyMax run at once and at most scryptQueueMax wait; one more is refused at once
 * with RATE_LIMIT_EXCEEDED instead of queueing without bound. A flood of password guesses so costs the node a fixed
 * share of libuv's thread pool, not all of it. `scryptStats()` counts what the gate let through (tests, metrics).
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { KalamError } from './errors.js';
import { SQL_ENGINE_LIMITS } from './limits.js';

/** What the scrypt gate has done since the process started. */
export interface ScryptStats {
  /** Computations started. */
  readonly computed: number;
  /** Computations running now. */
  readonly inFlight: number;
  /** The most that ever ran at once (≤ SQL_ENGINE_LIMITS.scryptConcurrencyMax). */
  readonly inFlightMax: number;
  /** Waiting for a slot now. */
  readonly queued: number;
  /** Refused because the queue was full. */
  readonly refused: number;
}

const stats = { computed: 0, inFlight: 0, inFlightMax: 0, refused: 0 };
/** Who waits for a slot, first come first served; each is handed a slot by the computation that ends. */
const waiting: (() => void)[] = [];

export function scryptStats(): ScryptStats {
  return { ...stats, queued: waiting.length };
}

/** Takes a slot, waiting in the bounded queue if none is free; throws RATE_LIMIT_EXCEEDED when the queue is full. */
async function acquireSlot(): Promise<void> {
  if (stats.inFlight < SQL_ENGINE_LIMITS.scryptConcurrencyMax) {
    stats.inFlight++;
    return;
  }
  if (waiting.length >= SQL_ENGINE_LIMITS.scryptQueueMax) {
    stats.refused++;
    throw new KalamError(
      'RATE_LIMIT_EXCEEDED',
      'too many password checks are waiting on this node; retry in a moment (or use a token)',
      { retryAfterSeconds: 1 },
    );
  }
  // The slot is handed over by releaseSlot without going free, so inFlight already counts this waiter.
  await new Promise<void>((resolve) => waiting.push(resolve));
}

function releaseSlot(): void {
  const next = waiting.shift();
  if (next !== undefined) next();
  else stats.inFlight--;
}

async function derive(password: string, salt: Buffer, params: { n: number; r: number; p: number; keyBytes: number }) {
  await acquireSlot();
  stats.computed++;
  stats.inFlightMax = Math.max(stats.inFlightMax, stats.inFlight);
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      // maxmem: scrypt needs 128 * N * r bytes; leave headroom over Node's 32 MiB default.
      const maxmem = 256 * params.n * params.r;
      scrypt(password, salt, params.keyBytes, { N: params.n, r: params.r, p: params.p, maxmem }, (err, key) => {
        if (err === null) resolve(key);
        else reject(err);
      });
    });
  } finally {
    releaseSlot();
  }
}

const DEFAULT_PARAMS = {
  n: SQL_ENGINE_LIMITS.scryptN,
  r: SQL_ENGINE_LIMITS.scryptR,
  p: SQL_ENGINE_LIMITS.scryptP,
  keyBytes: SQL_ENGINE_LIMITS.scryptKeyBytes,
};

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SQL_ENGINE_LIMITS.scryptSaltBytes);
  const key = await derive(password, salt, DEFAULT_PARAMS);
  const { n, r, p } = DEFAULT_PARAMS;
  return `scrypt$${n}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** True when `password` matches `encoded`; false for a wrong password or a hash this code cannot read. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![n, r, p].every((x) => Number.isSafeInteger(x) && x > 0)) return false;
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const expected = Buffer.from(parts[5] ?? '', 'base64');
  if (expected.length === 0) return false;
  const key = await derive(password, salt, { n, r, p, keyBytes: expected.length });
  return timingSafeEqual(key, expected);
}

/** A hash to verify against when the user does not exist, so that an unknown name costs as much as a wrong password. */
let dummyHash: Promise<string> | null = null;
export function dummyPasswordHash(): Promise<string> {
  if (dummyHash === null) {
    const pending = hashPassword('kalam-dummy-password');
    // A refusal (a full gate) must not be remembered as the dummy hash for good.
    pending.catch(() => {
      if (dummyHash === pending) dummyHash = null;
    });
    dummyHash = pending;
  }
  return dummyHash;
}

/**
 * How the engine hashes and checks passwords: scrypt (above) in a node. The simulator passes a stand-in that
 * answers at once, since scrypt's answer arrives from libuv's thread pool at a wall-clock moment a seeded run
 * cannot order, and its random salt would make two replays of a seed write different commands.
 */
export interface Passwords {
  hash(password: string): Promise<string>;
  verify(password: string, encoded: string): Promise<boolean>;
  /** A hash to check against when the user does not exist (the same work as a wrong password). */
  dummy(): Promise<string>;
}

export const SCRYPT_PASSWORDS: Passwords = {
  hash: hashPassword,
  verify: verifyPassword,
  dummy: dummyPasswordHash,
};
