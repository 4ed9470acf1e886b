/**
 * The Kalam workload: the DDL and seeding commands of the setup phase, and the per-key register operations
 * clients run afterwards. A register is one row `(k, v)`: of the USER table `app.reg` (one user's own rows,
 * in that user's shard) or of the SHARED table `app.shared` (every client contends on them). Every key is
 * seeded once with v = 0, so a write is an Update filtered on `k = key` and a compare-and-set an Update
 * filtered on `k = key AND v = expected` (it took effect iff one row was affected).
 */
import type {
  Filter as Expr,
  SharedDataCommand,
  SystemCommand,
  TableSchema,
  UserDataCommand,
  Value,
} from '@kalam/kalamdb';
import { KALAM_SIM_LIMITS } from './options.js';

export const NAMESPACE = 'app';
export const USER_TABLE = 'app.reg';
export const SHARED_TABLE = 'app.shared';

export const REGISTER: TableSchema = {
  columns: [
    { name: 'k', type: 'TEXT', notNull: true, default: null },
    { name: 'v', type: 'BIGINT', notNull: false, default: null },
  ],
  primaryKey: 'k',
  options: {},
};

/** One register: the history's key names it; `userId` is set for a USER-table row. */
export interface RegisterKey {
  readonly history: string;
  readonly k: string;
  readonly userId: string | undefined;
}

export function userIds(users: number): string[] {
  return Array.from({ length: users }, (_, i) => `u${i}`);
}

export function userKeys(userId: string): RegisterKey[] {
  return Array.from({ length: KALAM_SIM_LIMITS.userKeysPerUser }, (_, i) => ({
    history: `${USER_TABLE}/${userId}/k${i}`,
    k: `k${i}`,
    userId,
  }));
}

export function sharedKeys(): RegisterKey[] {
  return Array.from({ length: KALAM_SIM_LIMITS.sharedKeys }, (_, i) => ({
    history: `${SHARED_TABLE}/s${i}`,
    k: `s${i}`,
    userId: undefined,
  }));
}

/** The DDL phase, in order: the namespace, then the USER and the SHARED table. */
export function ddlCommands(): SystemCommand[] {
  return [
    { type: 'CreateNamespace', namespaceId: NAMESPACE, createdBy: 'sim', createdAt: 1 },
    { type: 'CreateTable', tableId: USER_TABLE, tableType: 'USER', schema: REGISTER, createdAt: 2 },
    { type: 'CreateTable', tableId: SHARED_TABLE, tableType: 'SHARED', schema: REGISTER, createdAt: 3 },
  ];
}

/** Seeds every key of `keys` (all in one table, all of one user or all shared) with v = 0. */
export function seedCommand(
  keys: readonly RegisterKey[],
  at: { metaIndex: number; seqBase: number; nowMs: number },
): UserDataCommand | SharedDataCommand {
  const rows = keys.map((key) => ({ k: key.k, v: 0 }));
  const base = { metaIndex: at.metaIndex, seqBase: at.seqBase, at: at.nowMs, rows };
  const userId = keys[0]?.userId;
  return userId === undefined
    ? { type: 'Insert', tableId: SHARED_TABLE, ...base }
    : { type: 'Insert', tableId: USER_TABLE, userId, ...base };
}

const col = (name: string): Expr => ({ kind: 'column', table: null, name });
const lit = (value: Value): Expr => ({ kind: 'literal', value });
const eq = (left: Expr, right: Expr): Expr => ({ kind: 'binary', op: '=', left, right });

/** Sets the register to `value`, if it holds `expected` (a compare-and-set) or unconditionally. */
export function updateCommand(
  key: RegisterKey,
  value: number,
  expected: Value | undefined,
  at: { metaIndex: number; seqBase: number; nowMs: number },
): UserDataCommand | SharedDataCommand {
  const onKey = eq(col('k'), lit(key.k));
  const filter: Expr =
    expected === undefined ? onKey : { kind: 'binary', op: 'AND', left: onKey, right: eq(col('v'), lit(expected)) };
  const base = { metaIndex: at.metaIndex, seqBase: at.seqBase, at: at.nowMs, updates: { v: value }, filter };
  return key.userId === undefined
    ? { type: 'Update', tableId: SHARED_TABLE, ...base }
    : { type: 'Update', tableId: USER_TABLE, userId: key.userId, ...base };
}
