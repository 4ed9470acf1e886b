/**
 * Password hashes: scrypt with a random salt, encoded `scrypt$N$r$p$salt$hash` (salt and hash in base64). The hash
 * is computed by the proposer and travels inside the CreateUser/UpdateUser command, so apply stays deterministic.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { SQL_ENGINE_LIMITS } from './limits.js';

function derive(password: string, salt: Buffer, params: { n: number; r: number; p: number; keyBytes: number }) {
  return new Promise<Buffer>((resolve, reject) => {
    // maxmem: scrypt needs 128 * N * r bytes; leave headroom over Node's 32 MiB default.
    const maxmem = 256 * params.n * params.r;
    scrypt(password, salt, params.keyBytes, { N: params.n, r: params.r, p: params.p, maxmem }, (err, key) => {
      if (err === null) resolve(key);
      else reject(err);
    });
  });
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
  dummyHash ??= hashPassword('kalam-dummy-password');
  return dummyHash;
}
