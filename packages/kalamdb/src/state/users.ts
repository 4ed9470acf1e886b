/** meta:users: users, their credentials (KDF hashes only), logins and locks. Deletes are soft. */
import type { UserRecord, UsersCommand, UsersResponse } from '../commands.js';
import type { DataStore } from '../store.js';
import { ApplyError, KalamStateMachine } from './base.js';
import type { StateMachineOptions } from './base.js';
import { checkUsersCommand } from '../validate.js';

interface UserRow {
  user_id: string;
  username: string;
  password_hash: string;
  role: string;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  locked_until: number | null;
  last_login_at: number | null;
}

const COLUMNS =
  'user_id, username, password_hash, role, created_at, updated_at, deleted_at, locked_until, last_login_at';

export class UsersStateMachine extends KalamStateMachine<UsersCommand, UsersResponse> {
  constructor(store: DataStore, options: StateMachineOptions = {}) {
    super(store, 1, options);
  }

  protected check(value: unknown): UsersCommand {
    return checkUsersCommand(value);
  }

  protected applyCommand(cmd: UsersCommand): UsersResponse {
    switch (cmd.type) {
      case 'CreateUser': {
        const u = cmd.user;
        const clash = this.store
          .prepare<[string], UserRow>('SELECT * FROM sys_users WHERE username = ? AND deleted_at IS NULL')
          .get(u.username);
        if (clash !== undefined) throw new ApplyError('ALREADY_EXISTS', `user ${u.username} already exists`);
        // A user id is never reused: USER-table rows are keyed by it, and a new user must not inherit the rows
        // of a dropped one.
        const previous = this.store
          .prepare<[string], UserRow>('SELECT * FROM sys_users WHERE user_id = ?')
          .get(u.userId);
        if (previous !== undefined) {
          throw new ApplyError('ALREADY_EXISTS', `user id ${u.userId} belonged to a dropped user and is not reused`);
        }
        this.store
          .prepare(`INSERT INTO sys_users (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL)`)
          .run(u.userId, u.username, u.passwordHash, u.role, u.createdAt, u.updatedAt);
        return { type: 'UserCreated', userId: u.userId };
      }
      case 'UpdateUser': {
        const u = cmd.user;
        const clash = this.store
          .prepare<[string, string], UserRow>(
            'SELECT * FROM sys_users WHERE username = ? AND user_id != ? AND deleted_at IS NULL',
          )
          .get(u.username, u.userId);
        if (clash !== undefined) throw new ApplyError('ALREADY_EXISTS', `user ${u.username} already exists`);
        const r = this.store
          .prepare(
            'UPDATE sys_users SET username = ?, password_hash = ?, role = ?, updated_at = ? WHERE user_id = ? AND deleted_at IS NULL',
          )
          .run(u.username, u.passwordHash, u.role, u.updatedAt, u.userId);
        if (r.changes === 0) throw new ApplyError('NOT_FOUND', `user ${u.userId} does not exist`);
        return { type: 'Ok' };
      }
      case 'DeleteUser': {
        const r = this.store
          .prepare('UPDATE sys_users SET deleted_at = ?, updated_at = ? WHERE user_id = ? AND deleted_at IS NULL')
          .run(cmd.deletedAt, cmd.deletedAt, cmd.userId);
        if (r.changes === 0) throw new ApplyError('NOT_FOUND', `user ${cmd.userId} does not exist`);
        return { type: 'Ok' };
      }
      case 'RecordLogin': {
        this.store.prepare('UPDATE sys_users SET last_login_at = ? WHERE user_id = ?').run(cmd.loggedInAt, cmd.userId);
        return { type: 'Ok' };
      }
      case 'SetLocked': {
        const r = this.store
          .prepare('UPDATE sys_users SET locked_until = ?, updated_at = ? WHERE user_id = ? AND deleted_at IS NULL')
          .run(cmd.lockedUntil, cmd.updatedAt, cmd.userId);
        if (r.changes === 0) throw new ApplyError('NOT_FOUND', `user ${cmd.userId} does not exist`);
        return { type: 'Ok' };
      }
    }
  }

  /** A live (not deleted) user by name. */
  byName(username: string): (UserRecord & { lockedUntil: number | null }) | undefined {
    const r = this.store
      .prepare<[string], UserRow>('SELECT * FROM sys_users WHERE username = ? AND deleted_at IS NULL')
      .get(username);
    return r === undefined ? undefined : toRecord(r);
  }

  /** Whether any user, live or dropped, ever had this id (ids are never reused). */
  idEverUsed(userId: string): boolean {
    return this.store.prepare('SELECT 1 FROM sys_users WHERE user_id = ?').get(userId) !== undefined;
  }

  /** A live (not deleted) user by id. */
  byId(userId: string): (UserRecord & { lockedUntil: number | null }) | undefined {
    const r = this.store
      .prepare<[string], UserRow>('SELECT * FROM sys_users WHERE user_id = ? AND deleted_at IS NULL')
      .get(userId);
    return r === undefined ? undefined : toRecord(r);
  }

  /** Every user, deleted ones included, WITHOUT the password hash (for system.users). */
  list(): Omit<UserRow, 'password_hash'>[] {
    return this.store
      .prepare<[], Omit<UserRow, 'password_hash'>>(
        'SELECT user_id, username, role, created_at, updated_at, deleted_at, locked_until, last_login_at FROM sys_users ORDER BY user_id',
      )
      .all();
  }

  protected exportState(): unknown {
    return this.store.prepare(`SELECT ${COLUMNS} FROM sys_users ORDER BY user_id`).all();
  }

  protected importState(state: unknown): void {
    const db = this.store.db;
    db.exec('DELETE FROM sys_users');
    const ins = this.store.prepare(`INSERT INTO sys_users (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    for (const r of state as UserRow[]) {
      ins.run(
        r.user_id,
        r.username,
        r.password_hash,
        r.role,
        r.created_at,
        r.updated_at,
        r.deleted_at,
        r.locked_until,
        r.last_login_at,
      );
    }
  }
}

function toRecord(r: UserRow): UserRecord & { lockedUntil: number | null } {
  return {
    userId: r.user_id,
    username: r.username,
    passwordHash: r.password_hash,
    role: r.role as UserRecord['role'],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lockedUntil: r.locked_until,
  };
}
