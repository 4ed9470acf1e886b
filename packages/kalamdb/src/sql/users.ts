/**
 * User management through meta:users. A user's id is its name (so a soft-deleted name can be taken again: the state
 * machine replaces the deleted row). Password hashes are computed here, with a random salt, and travel in the
 * command. Only dba and system manage users, a dba never touches a system user nor grants the system role, and
 * anyone may change their own password.
 */
import type { AlterUser, CreateUser, DropUser } from '@kalam/sql';
import type { Role, UserRecord } from '../commands.js';
import { MetaUsers } from '../group-id.js';
import { accepted, atLeast, messageResult, refusalCode, requireRole, type EngineContext } from './context.js';
import { ApplyError } from '../state/base.js';
import { checkUserName, rootProblem } from '../validate.js';
import { KalamError } from './errors.js';
import { SQL_ENGINE_LIMITS } from './limits.js';

import type { QueryResult, Session } from './types.js';

/** The rule meta:users applies (validate.ts), as the statement's INVALID_INPUT. */
function checkName(name: string): void {
  try {
    checkUserName(name);
  } catch (err) {
    if (err instanceof ApplyError) throw new KalamError('INVALID_INPUT', err.message, null, { cause: err });
    throw err;
  }
}

function checkPassword(password: string): void {
  if (password.length === 0 || password.length > SQL_ENGINE_LIMITS.passwordCharsMax) {
    throw new KalamError('INVALID_INPUT', `a password has 1 to ${SQL_ENGINE_LIMITS.passwordCharsMax} characters`);
  }
}

/** A dba may manage users up to dba; only system manages system users. */
function checkManage(session: Session, targetRole: Role, what: string): void {
  requireRole(session, 'dba', what);
  if (targetRole === 'system' && session.role !== 'system') {
    throw new KalamError('PERMISSION_DENIED', `${what}: only a system user manages system users`);
  }
}

async function liveUser(ctx: EngineContext, name: string): Promise<UserRecord | undefined> {
  await ctx.executor.readBarrier(MetaUsers);
  return ctx.machines.users.byName(name);
}

/**
 * A user's id is their name, unless a dropped user had that name: ids are never reused (USER-table rows are
 * keyed by id, and a new user must not inherit a dropped one's rows), so the name gets a suffix `#n`.
 */
function freshUserId(ctx: EngineContext, name: string): string {
  if (!ctx.machines.users.idEverUsed(name)) return name;
  for (let n = 2; n < 10_000; n++) {
    const id = `${name}#${n}`;
    if (!ctx.machines.users.idEverUsed(id)) return id;
  }
  throw new KalamError('SQL_EXECUTION_ERROR', `no free user id for ${name}`);
}

export async function createUser(ctx: EngineContext, session: Session, s: CreateUser): Promise<QueryResult> {
  checkManage(session, s.role, 'CREATE USER');
  checkName(s.name);
  checkPassword(s.password);
  if (s.ifNotExists && (await liveUser(ctx, s.name)) !== undefined)
    return messageResult(`User ${s.name} already exists`);
  await ctx.executor.readBarrier(MetaUsers);
  const at = ctx.now();
  const user = {
    userId: freshUserId(ctx, s.name),
    username: s.name,
    passwordHash: await ctx.passwords.hash(s.password),
    role: s.role,
    createdAt: at,
    updatedAt: at,
  };
  const r = await ctx.executor.executeUsers({ type: 'CreateUser', user });
  if (s.ifNotExists && refusalCode(r) === 'ALREADY_EXISTS') return messageResult(`User ${s.name} already exists`);
  accepted(r);
  return messageResult(`User ${s.name} created`);
}

export async function alterUser(ctx: EngineContext, session: Session, s: AlterUser): Promise<QueryResult> {
  const self = s.name === session.username;
  // Checked before the lookup, so that a plain user cannot probe which names exist.
  if (!(self && 'password' in s.set)) requireRole(session, 'dba', 'ALTER USER');
  const user = await liveUser(ctx, s.name);
  if (user === undefined) throw new KalamError('SQL_EXECUTION_ERROR', `user ${s.name} does not exist`);
  if (!self || 'role' in s.set) checkManage(session, user.role, 'ALTER USER');
  let passwordHash = user.passwordHash;
  let role = user.role;
  if ('password' in s.set) {
    checkPassword(s.set.password);
    passwordHash = await ctx.passwords.hash(s.set.password);
  } else {
    checkManage(session, s.set.role, 'ALTER USER … SET ROLE');
    // The rule meta:users applies too (validate.ts): a demoted root would lock system statements out for good.
    const problem = rootProblem(user.userId, s.set);
    if (problem !== null) throw new KalamError('SQL_EXECUTION_ERROR', problem);
    role = s.set.role;
  }
  const record: UserRecord = {
    userId: user.userId,
    username: user.username,
    passwordHash,
    role,
    createdAt: user.createdAt,
    // The record's version: tokens and open sockets are bound to it (they die when it moves), so it must move
    // forward on every change even when two come in one millisecond or from a node whose clock is behind.
    updatedAt: Math.max(ctx.now(), user.updatedAt + 1),
  };
  accepted(await ctx.executor.executeUsers({ type: 'UpdateUser', user: record }));
  return messageResult(`User ${s.name} altered`);
}

export async function dropUser(ctx: EngineContext, session: Session, s: DropUser): Promise<QueryResult> {
  requireRole(session, 'dba', 'DROP USER');
  const user = await liveUser(ctx, s.name);
  if (user === undefined) {
    if (s.ifExists) return messageResult(`User ${s.name} does not exist`);
    throw new KalamError('SQL_EXECUTION_ERROR', `user ${s.name} does not exist`);
  }
  checkManage(session, user.role, 'DROP USER');
  if (user.userId === session.userId) throw new KalamError('SQL_EXECUTION_ERROR', 'a user cannot drop itself');
  const problem = rootProblem(user.userId, 'drop');
  if (problem !== null) throw new KalamError('SQL_EXECUTION_ERROR', problem);
  accepted(await ctx.executor.executeUsers({ type: 'DeleteUser', userId: user.userId, deletedAt: ctx.now() }));
  return messageResult(`User ${s.name} dropped`);
}

/**
 * The session an EXECUTE AS USER runs under: service, dba and system may impersonate an existing user whose role is
 * not above their own; the statement then runs with exactly that user's identity and role.
 */
export async function impersonate(ctx: EngineContext, session: Session, userId: string): Promise<Session> {
  requireRole(session, 'service', 'EXECUTE AS USER');
  await ctx.executor.readBarrier(MetaUsers);
  const target = ctx.machines.users.byId(userId);
  if (target === undefined) throw new KalamError('SQL_EXECUTION_ERROR', `user ${userId} does not exist`);
  if (!atLeast(session.role, target.role)) {
    throw new KalamError('PERMISSION_DENIED', `a ${session.role} cannot act as a ${target.role} user`);
  }
  return { userId: target.userId, username: target.username, role: target.role };
}

const UNAUTHORIZED = 'invalid username or password';

/** A password check that passed: who, and the version (updatedAt) of the user record it was checked against. */
export interface VerifiedLogin {
  readonly session: Session;
  readonly credentialVersion: number;
}

/**
 * The session of a user whose password matches. Unknown, deleted, locked users and wrong passwords all get the same
 * UNAUTHORIZED error, after the same scrypt work, so the answer tells nothing about which names exist. A password
 * that matched this user's current hash lately is recognised without scrypt (credentials.ts); one longer than any
 * password can be is refused without it (it matches no one, so refusing it early tells nothing either).
 */
export async function verifyLogin(ctx: EngineContext, username: string, password: string): Promise<VerifiedLogin> {
  if (password.length > SQL_ENGINE_LIMITS.passwordCharsMax) throw new KalamError('UNAUTHORIZED', UNAUTHORIZED);
  await ctx.executor.readBarrier(MetaUsers);
  const user = ctx.machines.users.byName(username);
  let ok: boolean;
  if (user !== undefined && ctx.credentials.matches(user, password, ctx.now())) {
    ok = true;
  } else {
    ok = await ctx.passwords.verify(password, user?.passwordHash ?? (await ctx.passwords.dummy()));
    if (ok && user !== undefined) ctx.credentials.remember(user, password, ctx.now());
  }
  const locked = user !== undefined && user.lockedUntil !== null && user.lockedUntil > ctx.now();
  if (user === undefined || !ok || locked) throw new KalamError('UNAUTHORIZED', UNAUTHORIZED);
  return {
    session: { userId: user.userId, username: user.username, role: user.role },
    credentialVersion: user.updatedAt,
  };
}

/** Creates `root` (role system) unless it exists; a concurrent bootstrap on another node is not an error. */
export async function bootstrap(ctx: EngineContext, rootPassword: string): Promise<void> {
  checkPassword(rootPassword);
  await ctx.executor.readBarrier(MetaUsers);
  if (ctx.machines.users.byName('root') !== undefined) return;
  const at = ctx.now();
  const user = {
    userId: 'root',
    username: 'root',
    passwordHash: await ctx.passwords.hash(rootPassword),
    role: 'system' as const,
    createdAt: at,
    updatedAt: at,
  };
  const r = await ctx.executor.executeUsers({ type: 'CreateUser', user });
  if (refusalCode(r) !== 'ALREADY_EXISTS') accepted(r);
}
