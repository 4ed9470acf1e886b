/**
 * The typed AST of Kalam's SQL dialect (reference/kalamdb-facts.md, "SQL"). Statements are a discriminated union on
 * `kind`; expressions on `kind` too. Identifiers are as written when quoted and lower-cased when not; keywords,
 * column types and function names are upper-case.
 */

/** A table reference `ns.t` or `t`; a null namespace means the caller's default namespace. */
export interface TableRef {
  readonly namespace: string | null;
  readonly name: string;
}

export const TABLE_TYPES = { USER: 'USER', SHARED: 'SHARED', STREAM: 'STREAM' } as const;
export type TableType = (typeof TABLE_TYPES)[keyof typeof TABLE_TYPES];

/** The normalised column types; the parser maps the usual aliases (VARCHAR → TEXT, INTEGER → INT, …) onto these. */
export const COLUMN_TYPES = {
  BIGINT: 'BIGINT',
  INT: 'INT',
  SMALLINT: 'SMALLINT',
  DOUBLE: 'DOUBLE',
  FLOAT: 'FLOAT',
  BOOLEAN: 'BOOLEAN',
  TEXT: 'TEXT',
  TIMESTAMP: 'TIMESTAMP',
  DATE: 'DATE',
  JSON: 'JSON',
  BYTES: 'BYTES',
  UUID: 'UUID',
} as const;
export type ColumnType = (typeof COLUMN_TYPES)[keyof typeof COLUMN_TYPES];

export const USER_ROLES = { user: 'user', service: 'service', dba: 'dba', system: 'system' } as const;
export type UserRole = (typeof USER_ROLES)[keyof typeof USER_ROLES];

export type AccessLevel = 'PUBLIC' | 'PRIVATE';

// ---------------------------------------------------------------- expressions

export type LiteralValue = string | number | boolean | null;

export interface LiteralExpr {
  readonly kind: 'literal';
  readonly value: LiteralValue;
}
export interface ColumnExpr {
  readonly kind: 'column';
  /** The qualifier of `t.col`, or null. */
  readonly table: string | null;
  readonly name: string;
}
/** `$n` or the n-th `?` of the statement; `index` is 1-based. */
export interface ParamExpr {
  readonly kind: 'param';
  readonly index: number;
}
export const BINARY_OPS = ['=', '!=', '<>', '<', '<=', '>', '>=', 'AND', 'OR', '+', '-', '*', '/'] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];
export interface BinaryExpr {
  readonly kind: 'binary';
  readonly op: BinaryOp;
  readonly left: Expr;
  readonly right: Expr;
}
export interface NotExpr {
  readonly kind: 'not';
  readonly expr: Expr;
}
/** Unary minus on a non-literal (a minus sign on a number literal folds into the literal). */
export interface NegateExpr {
  readonly kind: 'negate';
  readonly expr: Expr;
}
export interface IsNullExpr {
  readonly kind: 'isNull';
  readonly expr: Expr;
  readonly negated: boolean;
}
export interface InExpr {
  readonly kind: 'in';
  readonly expr: Expr;
  readonly list: readonly Expr[];
  readonly negated: boolean;
}
export interface LikeExpr {
  readonly kind: 'like';
  readonly expr: Expr;
  readonly pattern: Expr;
  readonly negated: boolean;
}
/** A function call; `star` is true for `COUNT(*)` (then `args` is empty). `name` is upper-case. */
export interface CallExpr {
  readonly kind: 'call';
  readonly name: string;
  readonly args: readonly Expr[];
  readonly star: boolean;
}

export type Expr =
  LiteralExpr | ColumnExpr | ParamExpr | BinaryExpr | NotExpr | NegateExpr | IsNullExpr | InExpr | LikeExpr | CallExpr;

// ---------------------------------------------------------------- statements

export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  /** True when written NOT NULL, and always for the primary key column. */
  readonly notNull: boolean;
  readonly default: LiteralExpr | CallExpr | null;
  /** True when this column was declared PRIMARY KEY (inline or in a table constraint). */
  readonly primaryKey: boolean;
}

export interface TableOptions {
  readonly ttlSeconds?: number;
  readonly flushPolicy?: { readonly rows: number };
  readonly accessLevel?: AccessLevel;
  readonly storageId?: string;
}

export interface CreateNamespace {
  readonly kind: 'CreateNamespace';
  readonly name: string;
  readonly ifNotExists: boolean;
}
export interface DropNamespace {
  readonly kind: 'DropNamespace';
  readonly name: string;
  readonly ifExists: boolean;
  readonly cascade: boolean;
}
export interface ShowNamespaces {
  readonly kind: 'ShowNamespaces';
}
export interface Use {
  readonly kind: 'Use';
  readonly namespace: string;
}
export interface CreateTable {
  readonly kind: 'CreateTable';
  readonly table: TableRef;
  readonly tableType: TableType;
  readonly ifNotExists: boolean;
  readonly columns: readonly ColumnDef[];
  /** The name of the primary key column (exactly one is required). */
  readonly primaryKey: string;
  readonly options: TableOptions;
}
export interface DropTable {
  readonly kind: 'DropTable';
  readonly table: TableRef;
  readonly ifExists: boolean;
}
export interface ShowTables {
  readonly kind: 'ShowTables';
  readonly namespace: string | null;
}
export interface DescribeTable {
  readonly kind: 'DescribeTable';
  readonly table: TableRef;
}
export interface AlterTableAddColumn {
  readonly kind: 'AlterTableAddColumn';
  readonly table: TableRef;
  readonly column: ColumnDef;
}
export interface Insert {
  readonly kind: 'Insert';
  readonly table: TableRef;
  readonly columns: readonly string[] | null;
  readonly rows: readonly (readonly Expr[])[];
}
export interface Assignment {
  readonly column: string;
  readonly value: Expr;
}
export interface Update {
  readonly kind: 'Update';
  readonly table: TableRef;
  readonly assignments: readonly Assignment[];
  readonly where: Expr | null;
}
export interface Delete {
  readonly kind: 'Delete';
  readonly table: TableRef;
  readonly where: Expr | null;
}
export interface SelectItem {
  readonly expr: Expr;
  readonly alias: string | null;
}
export interface OrderByItem {
  readonly expr: Expr;
  readonly direction: 'ASC' | 'DESC';
}
export interface Select {
  readonly kind: 'Select';
  readonly columns: readonly ('*' | SelectItem)[];
  readonly from: TableRef;
  readonly where: Expr | null;
  /** GROUP BY expressions; empty without GROUP BY. */
  readonly groupBy: readonly Expr[];
  readonly having: Expr | null;
  readonly orderBy: readonly OrderByItem[];
  readonly limit: number | null;
  readonly offset: number | null;
}
export interface CreateUser {
  readonly kind: 'CreateUser';
  readonly name: string;
  readonly password: string;
  readonly role: UserRole;
  readonly ifNotExists: boolean;
}
export interface AlterUser {
  readonly kind: 'AlterUser';
  readonly name: string;
  readonly set: { readonly password: string } | { readonly role: UserRole };
}
export interface DropUser {
  readonly kind: 'DropUser';
  readonly name: string;
  readonly ifExists: boolean;
}
export interface ExecuteAsUser {
  readonly kind: 'ExecuteAsUser';
  readonly userId: string;
  readonly statement: Statement;
}
export interface CreateStorage {
  readonly kind: 'CreateStorage';
  readonly id: string;
  /** Lower-case, e.g. 'filesystem'. */
  readonly type: string;
  readonly path: string;
}
export interface DropStorage {
  readonly kind: 'DropStorage';
  readonly id: string;
}
export interface ShowStorages {
  readonly kind: 'ShowStorages';
}
export interface FlushTable {
  readonly kind: 'FlushTable';
  readonly table: TableRef;
}
export interface FlushAllTables {
  readonly kind: 'FlushAllTables';
  readonly namespace: string | null;
}
export interface KillJob {
  readonly kind: 'KillJob';
  readonly jobId: string;
}
/** What a schedule runs at each due time (the job types of meta:jobs that a user may schedule). */
export type ScheduledJob =
  | { readonly kind: 'FlushTable'; readonly table: TableRef }
  | { readonly kind: 'FlushAllTables'; readonly namespace: string | null }
  | { readonly kind: 'CompactTable'; readonly table: TableRef }
  | { readonly kind: 'Retention'; readonly table: TableRef | null };
/** CREATE SCHEDULE [IF NOT EXISTS] name CRON 'expr' job; the expression is checked by the planner, not the parser. */
export interface CreateSchedule {
  readonly kind: 'CreateSchedule';
  readonly name: string;
  readonly cron: string;
  readonly job: ScheduledJob;
  readonly ifNotExists: boolean;
}
export interface DropSchedule {
  readonly kind: 'DropSchedule';
  readonly name: string;
  readonly ifExists: boolean;
}
export interface ShowSchedules {
  readonly kind: 'ShowSchedules';
}
export interface SubscribeTo {
  readonly kind: 'SubscribeTo';
  readonly table: TableRef;
  readonly where: Expr | null;
  readonly options: { readonly lastRows?: number };
}
export interface KillLiveQuery {
  readonly kind: 'KillLiveQuery';
  readonly liveId: string;
}
/**
 * ALTER CLUSTER REMOVE NODE n [, m …]: an operator's removal of cluster members (the removal API's request). There is
 * no ALTER CLUSTER ADD NODE: a node joins by starting with `--join` (the parser answers that).
 */
export interface AlterClusterRemoveNode {
  readonly kind: 'AlterClusterRemoveNode';
  readonly nodeIds: readonly number[];
}

export type Statement =
  | CreateNamespace
  | DropNamespace
  | ShowNamespaces
  | Use
  | CreateTable
  | DropTable
  | ShowTables
  | DescribeTable
  | AlterTableAddColumn
  | Insert
  | Update
  | Delete
  | Select
  | CreateUser
  | AlterUser
  | DropUser
  | ExecuteAsUser
  | CreateStorage
  | DropStorage
  | ShowStorages
  | FlushTable
  | FlushAllTables
  | KillJob
  | CreateSchedule
  | DropSchedule
  | ShowSchedules
  | SubscribeTo
  | KillLiveQuery
  | AlterClusterRemoveNode;

export type StatementKind = Statement['kind'];

export function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
