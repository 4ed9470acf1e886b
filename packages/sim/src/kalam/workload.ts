/**
 * The Kalam workload, as SQL: the DDL and seeding statements of the setup phase, and the per-key register
 * operations clients run afterwards. A register is one row `(k, v)`: of the USER table `kreg.reg` (one user's own
 * rows, in that user's shard) or of the SHARED table `kreg.shared` (every client contends on them). Every key is
 * seeded once with v = 0, so a write is `UPDATE … SET v = $1 WHERE k = $2` and a compare-and-set adds
 * `AND v = $3` (it took effect iff one row was affected). And the careless or hostile client's statements.
 */
import type { TableSchema } from '@kalam/kalamdb';
import { KALAM_SIM_LIMITS } from './options.js';

/** The registers' namespace: one the generated statements never name (their pool is app, fz_a, fz_b). */
export const NAMESPACE = 'kreg';
export const USER_TABLE = 'kreg.reg';
export const SHARED_TABLE = 'kreg.shared';
/**
 * Counters of the clients that write under a client session (README "Client sessions"): `UPDATE … SET n = n + 1`
 * is not idempotent, so a retry that applied twice shows in the final value. One row `('c', 0)` per such user in the
 * USER table, and one row per such user (`k` = the user id) in the SHARED table.
 */
export const COUNTER_TABLE = 'kreg.ctr';
export const SHARED_COUNTER_TABLE = 'kreg.sctr';

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

/** The setup's DDL, as root: the namespace and the register tables (idempotent, so a retry is harmless). */
export const SETUP_SQL: [string, string] = [
  'root',
  `CREATE NAMESPACE IF NOT EXISTS ${NAMESPACE}; ` +
    `CREATE USER TABLE IF NOT EXISTS ${USER_TABLE} (k TEXT PRIMARY KEY, v BIGINT); ` +
    `CREATE SHARED TABLE IF NOT EXISTS ${SHARED_TABLE} (k TEXT PRIMARY KEY, v BIGINT) WITH (ACCESS_LEVEL = 'PUBLIC'); ` +
    `CREATE USER TABLE IF NOT EXISTS ${COUNTER_TABLE} (k TEXT PRIMARY KEY, n BIGINT); ` +
    `CREATE SHARED TABLE IF NOT EXISTS ${SHARED_COUNTER_TABLE} (k TEXT PRIMARY KEY, n BIGINT)`,
];

/** Seeds the counters of the session clients: each user's own row, and (as root) their rows of the shared table. */
export function counterSeedSql(sessionUsers: readonly string[]): [string, string][] {
  const own = sessionUsers.map((u): [string, string] => [u, `INSERT INTO ${COUNTER_TABLE} (k, n) VALUES ('c', 0)`]);
  if (sessionUsers.length === 0) return own;
  const shared = sessionUsers.map((u) => `('${u}', 0)`).join(', ');
  return [...own, ['root', `INSERT INTO ${SHARED_COUNTER_TABLE} (k, n) VALUES ${shared}`]];
}

/** The increment of a session client's counter: its own row, or its row of the shared table. */
export function incrementSql(userId: string, shared: boolean): string {
  return shared
    ? `UPDATE ${SHARED_COUNTER_TABLE} SET n = n + 1 WHERE k = '${userId}'`
    : `UPDATE ${COUNTER_TABLE} SET n = n + 1 WHERE k = 'c'`;
}

/** Seeds every key of a user (or, with no user, every shared key) with v = 0, as that user (or as root). */
export function seedSql(userId: string | undefined): [string, string] {
  const keys = userId === undefined ? sharedKeys() : userKeys(userId);
  const table = userId === undefined ? SHARED_TABLE : USER_TABLE;
  const values = keys.map((k) => `('${k.k}', 0)`).join(', ');
  return [userId ?? 'root', `INSERT INTO ${table} (k, v) VALUES ${values}`];
}

/**
 * Statements a careless or hostile client sends (adversaries.md §1): unknown functions in filters and SET
 * expressions, names too long, in upper case or with spaces, Kalam's own column names, numbers past 2^53, a
 * reserved namespace — each must end as a refusal on every replica (or a success), never a stopped node. `pick`
 * draws which one and its variable parts.
 */
export function hostileStatement(pick: (n: number) => number): string {
  const long = 'x'.repeat(64 + pick(300));
  const fn = ['FOO', 'BAR', 'SLEEP', 'LOAD_FILE', 'UPPER'][pick(5)]!;
  const table = [USER_TABLE, SHARED_TABLE, 'kreg.nope'][pick(3)]!;
  const all = [
    `DELETE FROM ${table} WHERE ${fn}(k) = 1`,
    `UPDATE ${table} SET v = ${fn}(v, v) WHERE k = 'k0'`,
    `UPDATE ${table} SET v = v * 99999999999 WHERE k = 'k1'`,
    `CREATE USER TABLE app.${long} (id BIGINT PRIMARY KEY)`,
    `ALTER TABLE ${USER_TABLE} ADD COLUMN ${long} TEXT`,
    `ALTER TABLE ${USER_TABLE} ADD COLUMN "Weird Col" TEXT`,
    `ALTER TABLE ${USER_TABLE} ADD COLUMN _seq BIGINT`,
    `CREATE STORAGE ${long} TYPE 'filesystem' PATH '/tmp/x'`,
    `CREATE USER TABLE "app"."Upper" (id BIGINT PRIMARY KEY)`,
    `CREATE NAMESPACE system`,
    `INSERT INTO ${table} (k, v) VALUES ('h${pick(1000)}', 9223372036854775807)`,
    `INSERT INTO ${table} (k, v) VALUES ('h${pick(1000)}', 'not a number')`,
    `SELECT * FROM ${table} WHERE ${fn}(k) = 'a'`,
    `CREATE USER TABLE app.t${pick(50)} (id BIGINT PRIMARY KEY, n BIGINT DEFAULT 'abc')`,
  ];
  return all[pick(all.length)]!;
}
