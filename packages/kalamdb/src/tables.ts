/**
 * How Kalam tables live in data.db: one SQLite table per table incarnation (physicalName), with the user's columns
 * plus the system columns `_seq` (monotonic sequence, the live-query resume cursor) and `_deleted` (soft delete);
 * USER and STREAM tables also hold `_user_id` and `_shard` (the user shard the row belongs to, so a shard's rows can
 * be snapshotted and restored on their own). Which physical tables exist is this node's business (physical.ts): the
 * replicated state is the catalog (meta:system) and each data group's rows.
 */
import type { Expr } from '@kalam/sql';
import type { ColumnSchema, TableSchema, TableType, Value } from './commands.js';

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export class TableNameError extends Error {
  override readonly name = 'TableNameError';
  readonly code = 'INVALID_SQL';
}

export function checkIdentifier(what: string, name: string): void {
  if (!IDENT.test(name)) {
    throw new TableNameError(`${what} ${JSON.stringify(name)} must match [a-z_][a-z0-9_]* (at most 63 characters)`);
  }
}

/** `ns.t` → ['ns', 't'], validated. */
export function splitTableId(tableId: string): [string, string] {
  const parts = tableId.split('.');
  if (parts.length !== 2) throw new TableNameError(`table id ${JSON.stringify(tableId)} must be namespace.table`);
  const [ns, t] = parts as [string, string];
  checkIdentifier('namespace', ns);
  checkIdentifier('table', t);
  return [ns, t];
}

/** A table incarnation: a table id and the meta:system index of the CreateTable entry that made it. */
export interface TableRef {
  readonly tableId: string;
  readonly incarnation: number;
}

/** An incarnation with what its physical table is made from. */
export interface PhysicalSpec extends TableRef {
  readonly tableType: TableType;
  readonly schema: TableSchema;
}

/**
 * The SQLite table of one incarnation: `kt_<ns>__<table>__<incarnation>`. A table dropped and created again under the
 * same name is another incarnation with another physical table, so rows of the old one (which a lagging data group
 * may still hold) never mix with the new one's.
 */
export function physicalName(t: TableRef): string {
  const [ns, table] = splitTableId(t.tableId);
  return `kt_${ns}__${table}__${t.incarnation}`;
}

/** Whether the same incarnation. */
export function sameTable(a: TableRef, b: TableRef): boolean {
  return a.tableId === b.tableId && a.incarnation === b.incarnation;
}

export function isPerUser(tableType: TableType): boolean {
  return tableType === 'USER' || tableType === 'STREAM';
}

function sqliteType(type: string): string {
  switch (type) {
    case 'BIGINT':
    case 'INT':
    case 'SMALLINT':
    case 'BOOLEAN':
    case 'TIMESTAMP':
      return 'INTEGER';
    case 'DOUBLE':
    case 'FLOAT':
      return 'REAL';
    default:
      return 'TEXT';
  }
}

/** CREATE TABLE IF NOT EXISTS for an incarnation (idempotent: meta:system, a data group or a restore may come first). */
export function createTableSql(t: PhysicalSpec): string {
  const cols = t.schema.columns.map((c) => {
    checkIdentifier('column', c.name);
    return `"${c.name}" ${sqliteType(c.type)}`;
  });
  const sys = ['"_seq" INTEGER NOT NULL', '"_deleted" INTEGER NOT NULL DEFAULT 0'];
  const pk = `"${t.schema.primaryKey}"`;
  if (isPerUser(t.tableType)) {
    sys.push('"_user_id" TEXT NOT NULL', '"_shard" INTEGER NOT NULL');
    return `CREATE TABLE IF NOT EXISTS "${physicalName(t)}" (${[...cols, ...sys].join(', ')}, PRIMARY KEY ("_user_id", ${pk}))`;
  }
  return `CREATE TABLE IF NOT EXISTS "${physicalName(t)}" (${[...cols, ...sys].join(', ')}, PRIMARY KEY (${pk}))`;
}

/**
 * The indexes jobs plan with (jobs/scopes.ts), so that a flush or retention pass seeks instead of scanning the table:
 * `_seq` within a scope (each scope's least and greatest `_seq`, its row count from the index alone, the flush's
 * `_seq` range, the next user after another), and the same for tombstones only — a partial index, as small as the
 * tombstones are few. Neither leads with `_shard` nor `_deleted`: the planner would then prefer them to the primary
 * key for the snapshot's `_shard = ? ORDER BY _user_id, <pk>` and the reads' `_deleted = 0 ORDER BY <pk>`, and sort.
 * Named `kx_…` beside the table's `kt_…` (tables and indexes share SQLite's namespace).
 */
export function jobIndexSql(t: PhysicalSpec): string[] {
  const table = physicalName(t);
  const index = `kx${table.slice(2)}`;
  const cols = isPerUser(t.tableType) ? '"_user_id", "_seq"' : '"_seq"';
  return [
    `CREATE INDEX IF NOT EXISTS "${index}__seq" ON "${table}" (${cols})`,
    `CREATE INDEX IF NOT EXISTS "${index}__deleted" ON "${table}" (${cols}) WHERE "_deleted" = 1`,
  ];
}

/** Columns of `t.schema` that the physical table (with columns `existing`) does not have yet. */
export function addColumnSql(t: PhysicalSpec, existing: ReadonlySet<string>): string[] {
  return t.schema.columns
    .filter((c) => !existing.has(c.name))
    .map((c) => {
      checkIdentifier('column', c.name);
      return `ALTER TABLE "${physicalName(t)}" ADD COLUMN "${c.name}" ${sqliteType(c.type)}`;
    });
}

/** A SQL value as SQLite stores it (booleans as 0/1). */
export function toSqlite(v: Value): string | number | null {
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v;
}

/** A stored value back as the column's type says. */
export function fromSqlite(column: ColumnSchema | undefined, v: unknown): Value {
  if (v === null || v === undefined) return null;
  if (column?.type === 'BOOLEAN') return v === 1 || v === true;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return JSON.stringify(v);
}

const INTEGER_TYPES: ReadonlySet<string> = new Set(['BIGINT', 'INT', 'SMALLINT', 'TIMESTAMP']);

/** Whether a non-NULL value has the column type's shape (a DEFAULT is checked with it too, validate.ts). */
export function valueFits(type: string, v: Exclude<Value, null>): boolean {
  if (type === 'BOOLEAN') return typeof v === 'boolean';
  if (INTEGER_TYPES.has(type)) return typeof v === 'number' && Number.isSafeInteger(v);
  if (type === 'DOUBLE' || type === 'FLOAT') return typeof v === 'number';
  return true;
}

/** A row as an INSERT stores it: the literal DEFAULT of every column it leaves out. */
export function withDefaults(schema: TableSchema, row: Readonly<Record<string, Value>>): Record<string, Value> {
  const out: Record<string, Value> = { ...row };
  for (const c of schema.columns) {
    if (out[c.name] === undefined && c.default !== null && 'literal' in c.default) out[c.name] = c.default.literal;
  }
  return out;
}

/**
 * Checks a row against the schema: known columns, NOT NULL, primary key present, types. The planner checks each row
 * of an INSERT and each constant SET with it before proposing; the state machine checks what it stores again.
 */
export function checkRow(schema: TableSchema, row: Readonly<Record<string, Value>>): string | null {
  for (const key of Object.keys(row)) {
    if (!schema.columns.some((c) => c.name === key)) return `unknown column ${key}`;
  }
  for (const c of schema.columns) {
    const problem = checkColumnValue(c, schema.primaryKey, row[c.name] ?? null);
    if (problem !== null) return problem;
  }
  return null;
}

/** Whether column `c` (of a table keyed by `primaryKey`) can hold `v`: NOT NULL and the type's shape. */
export function checkColumnValue(c: ColumnSchema, primaryKey: string, v: Value): string | null {
  if (v === null) return c.notNull || c.name === primaryKey ? `column ${c.name} must not be null` : null;
  return valueFits(c.type, v) ? null : `column ${c.name} (${c.type}) cannot hold ${JSON.stringify(v)}`;
}

/**
 * The value of a filter that is exactly `pk = literal` (either side, the literal not NULL): a read or a write of that
 * one row finds it by a primary-key probe — both still apply the whole filter to what the probe finds.
 */
export function primaryKeyLiteral(filter: Expr | null, primaryKey: string): Value | undefined {
  if (filter === null || filter.kind !== 'binary' || filter.op !== '=') return undefined;
  const [col, lit] = filter.left.kind === 'column' ? [filter.left, filter.right] : [filter.right, filter.left];
  if (col.kind !== 'column' || col.name !== primaryKey || lit.kind !== 'literal' || lit.value === null)
    return undefined;
  return lit.value;
}
