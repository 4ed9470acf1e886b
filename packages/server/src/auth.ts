/**
 * Who a request is: `Authorization: Basic base64(user:pass)` (checked against the scrypt hash by the engine) or
 * `Bearer <JWT>` (HS256, signed by POST /v1/api/auth/login with the node's key, checked with `jose`). A token
 * names the user by id (`sub`); the user must still exist and not be locked. A token from a login also carries `ver`,
 * the version of the user record its password was checked against (the record's replicated `updatedAt`, which every
 * ALTER USER moves forward): it is good only while the record is at exactly that version, so a password or role
 * change revokes every token issued before it, on every node as soon as that node applies the change. A token
 * without `ver` (one an operator minted with the key, e.g. the CLI's supervisor) must be issued in or after the
 * second of the record's last change. Every failure is the same UNAUTHORIZED (401), so the answer tells nothing about
 * which part was wrong.
 *
 * Every password check — Basic auth, POST /v1/api/auth/login, a WebSocket's `authenticate` — goes through
 * `passwordLogin`: the node's LoginThrottle (throttle.ts) takes a token of the client address and of the user name
 * first and refuses with 429 RATE_LIMIT_EXCEEDED, without scrypt, once either has spent its budget on wrong
 * passwords. Token checks are not throttled: they cost an HMAC, not scrypt, and a valid token must stay fast while
 * someone guesses passwords.
 */
import { createHash } from 'node:crypto';

import { MetaUsers, KalamError, SQL_ENGINE_LIMITS } from '@kalam/kalamdb';
import type { Role, Session, UserRecord, VerifiedLogin } from '@kalam/kalamdb';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';

import { SERVER_LIMITS } from './limits.js';
import type { RunningNode } from './runtime.js';

const ISSUER = 'kalam';
const ALGORITHM = 'HS256';
/** The claim that binds a token to one version of its user's record. */
const VERSION_CLAIM = 'ver';

export interface IssuedToken {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
}

/** A session, and the version of the user record its credentials were checked against. */
export interface Principal extends Session {
  /** The user record's `updatedAt` when the credentials were checked. */
  readonly credentialVersion: number;
  /** When the credentials stop being good (a token's `exp`); absent for a password. */
  readonly expiresAtMs?: number;
}

export interface IssueTokenOptions {
  readonly ttlSeconds: number;
  readonly nowMs: number;
  /** The user record's version the password was checked against (VerifiedLogin); the token dies with it. */
  readonly credentialVersion?: number;
}

/** Signs an access token for `session`, valid for `ttlSeconds` from `nowMs`. */
export async function issueToken(key: Uint8Array, session: Session, opts: IssueTokenOptions): Promise<IssuedToken> {
  const iat = Math.floor(opts.nowMs / 1000);
  const claims: Record<string, string | number> = { role: session.role, username: session.username };
  if (opts.credentialVersion !== undefined) claims[VERSION_CLAIM] = opts.credentialVersion;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(session.userId)
    .setIssuer(ISSUER)
    .setIssuedAt(iat)
    .setExpirationTime(iat + opts.ttlSeconds)
    .sign(key);
  return { access_token: token, token_type: 'Bearer', expires_in: opts.ttlSeconds };
}

function unauthorized(message = 'missing or invalid credentials'): KalamError {
  return new KalamError('UNAUTHORIZED', message);
}

/** Where a request comes from. */
export interface RequestOrigin {
  /** The client's IP address (the socket's remote address); undefined when the socket is already gone. */
  readonly address: string | undefined;
}

/**
 * The session of a request, from its Authorization header; throws KalamError UNAUTHORIZED, or RATE_LIMIT_EXCEEDED
 * for a password check the throttle refuses.
 */
export async function authenticateRequest(
  node: RunningNode,
  header: string | undefined,
  origin: RequestOrigin,
): Promise<Principal> {
  if (header === undefined || header.length === 0) throw unauthorized('an Authorization header is required');
  if (header.length > SERVER_LIMITS.authorizationCharsMax) throw unauthorized();
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const credentials = space < 0 ? '' : header.slice(space + 1).trim();
  switch (scheme) {
    case 'basic':
      return basic(node, credentials, origin);
    case 'bearer':
      return bearer(node, credentials);
    default:
      throw unauthorized('the Authorization scheme must be Basic or Bearer');
  }
}

async function basic(node: RunningNode, credentials: string, origin: RequestOrigin): Promise<Principal> {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(credentials)) throw unauthorized();
  const decoded = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw unauthorized();
  const login = await passwordLogin(node, decoded.slice(0, colon), decoded.slice(colon + 1), origin);
  return { ...login.session, credentialVersion: login.credentialVersion };
}

/**
 * A password check under the node's LoginThrottle: refused at once (RATE_LIMIT_EXCEEDED) when the address or the
 * name has no attempt left; a wrong password spends the attempt, anything else (a match, a node that cannot answer)
 * gives it back. Requests from one address carrying the same credentials while their check runs share it — an
 * application's pool opening many connections at once is one check, not a burst of guesses. (A remembered match
 * still takes its token: letting it past an empty bucket would let a guesser test passwords at HMAC speed.)
 */
export async function passwordLogin(
  node: RunningNode,
  username: string,
  password: string,
  origin: RequestOrigin,
): Promise<VerifiedLogin> {
  let checks = inFlightChecks.get(node);
  if (checks === undefined) inFlightChecks.set(node, (checks = new Map<string, Promise<VerifiedLogin>>()));
  // Per address too: a request from another address must meet its own budget, not share a refusal of this one.
  const key = createHash('sha256').update(`${origin.address}\0${username}\0`).update(password).digest('base64');
  const running = checks.get(key);
  if (running !== undefined) return running;
  const check = throttledLogin(node, username, password, origin);
  checks.set(key, check);
  const forget = (): void => void checks.delete(key);
  check.then(forget, forget);
  return check;
}

/** Password checks in flight per node, by a hash of address and credentials (never the password itself). */
const inFlightChecks = new WeakMap<RunningNode, Map<string, Promise<VerifiedLogin>>>();

async function throttledLogin(
  node: RunningNode,
  username: string,
  password: string,
  origin: RequestOrigin,
): Promise<VerifiedLogin> {
  // No user has a longer name; cutting it keeps every throttle key small whatever a client sends.
  const attempt = node.logins.begin(username.slice(0, SQL_ENGINE_LIMITS.userNameCharsMax), origin.address);
  try {
    const login = await node.engine.verifyLogin(username, password);
    attempt.settle(true);
    return login;
  } catch (err) {
    attempt.settle(!(err instanceof KalamError && err.code === 'UNAUTHORIZED'));
    throw err;
  }
}

/**
 * Tokens whose signature and claims passed, per JWT key: a client sends the same token with every request, and
 * checking an HMAC through WebCrypto costs more than the rest of a point read. Only the verdict is kept — the
 * user is looked up on every request (a dropped, locked or changed user loses access as before) — and an entry
 * counts only until the token's own expiry.
 */
interface VerifiedToken {
  readonly sub: string;
  readonly iat: number;
  /** The `ver` claim, or undefined for a token without one. */
  readonly ver: number | undefined;
  readonly expMs: number;
}
const verified = new WeakMap<Uint8Array, Map<string, VerifiedToken>>();

async function bearer(node: RunningNode, token: string): Promise<Principal> {
  let known = verified.get(node.jwtKey);
  if (known === undefined) verified.set(node.jwtKey, (known = new Map<string, VerifiedToken>()));
  const hit = known.get(token);
  if (hit !== undefined) {
    if (Date.now() < hit.expMs) return principalOf(node, hit);
    known.delete(token);
  }
  let claims: VerifiedToken | undefined;
  try {
    const { payload } = await jwtVerify(token, node.jwtKey, {
      algorithms: [ALGORITHM],
      issuer: ISSUER,
      requiredClaims: ['sub', 'exp', 'iat'],
    });
    const ver = payload[VERSION_CLAIM];
    if (payload.sub !== undefined && payload.iat !== undefined && payload.exp !== undefined) {
      if (ver !== undefined && !Number.isSafeInteger(ver)) throw unauthorized('invalid or expired token');
      claims = { sub: payload.sub, iat: payload.iat, ver: ver as number | undefined, expMs: payload.exp * 1000 };
    }
  } catch (err) {
    if (err instanceof joseErrors.JOSEError) throw unauthorized('invalid or expired token');
    throw err;
  }
  if (claims === undefined) throw unauthorized('invalid or expired token');
  if (known.size >= SERVER_LIMITS.verifiedTokensMax) {
    const oldest = known.keys().next().value;
    if (oldest !== undefined) known.delete(oldest);
  }
  known.set(token, claims);
  return principalOf(node, claims);
}

/**
 * The token's user, read locally: a token is checked on every request and a ReadIndex round trip for each would
 * double the cost of a read. A user not (yet) known here — created a moment ago through another node — or known
 * only at an older version than the token names — changed a moment ago — is looked up again after a read barrier
 * on meta:users, so a fresh login works on any node at once. A drop or a change reaches this node within one
 * replication round trip; until then the old tokens still pass here (and only here).
 */
async function principalOf(node: RunningNode, token: VerifiedToken): Promise<Principal> {
  const stale = (u: UserRecord | undefined): boolean => u === undefined || (token.ver ?? 0) > u.updatedAt;
  let user = node.machines.users.byId(token.sub);
  if (stale(user)) {
    await node.executor.readBarrier(MetaUsers);
    user = node.machines.users.byId(token.sub);
  }
  const nowMs = Date.now();
  if (user === undefined) throw unauthorized('invalid or expired token');
  if (user.lockedUntil !== null && user.lockedUntil > nowMs) throw unauthorized('invalid or expired token');
  // Without `ver` only second resolution is there: a token issued in the second of the last change still counts.
  const current =
    token.ver !== undefined ? token.ver === user.updatedAt : token.iat >= Math.floor(user.updatedAt / 1000);
  if (!current) throw unauthorized('invalid or expired token');
  const role: Role = user.role;
  return {
    userId: user.userId,
    username: user.username,
    role,
    credentialVersion: user.updatedAt,
    expiresAtMs: token.expMs,
  };
}
