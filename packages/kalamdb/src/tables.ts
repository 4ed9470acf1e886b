/**
 * How Kalam tables live in data.db: one SQLite table per Kalam table, named `kt_<namespace>__<table>`, with
 * the user's columns plus the system columns `_seq` (monotonic sequence, the live-query resume cursor) and
 * `_deleted` (soft delete); USER and STREAM tables also hold `_user_id` and `_shard` (the user shard the row
 * belongs to, so a shard's rows can be snapshotted and restored on their own).
 */
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

export function physicalName(tableId: string): string {
  const [ns, t] = splitTableId(tableId);
  return `kt_${ns}__${t}`;
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

/** CREATE TABLE IF NOT EXISTS for a Kalam table (idempotent, so a shard snapshot may create it first). */
export function createTableSql(tableId: string, tableType: TableType, schema: TableSchema): string {
  const cols = schema.columns.map((c) => {
    checkIdentifier('column', c.name);
    return `"${c.name}" ${sqliteType(c.type)}`;
  });
  const sys = ['"_seq" INTEGER NOT NULL', '"_deleted" INTEGER NOT NULL DEFAULT 0'];
  const pk = `"${schema.primaryKey}"`;
  if (isPerUser(tableType)) {
    sys.push('"_user_id" TEXT NOT NULL', '"_shard" INTEGER NOT NULL');
    return `CREATE TABLE IF NOT EXISTS "${physicalName(tableId)}" (${[...cols, ...sys].join(', ')}, PRIMARY KEY ("_user_id", ${pk}))`;
  }
  return `CREATE TABLE IF NOT EXISTS "${physicalName(tableId)}" (${[...cols, ...sys].join(', ')}, PRIMARY KEY (${pk}))`;
}

/** Columns added by ALTER TABLE … ADD COLUMN that the physical table does not have yet. */
export function addColumnSql(tableId: string, existing: readonly string[], schema: TableSchema): string[] {
  return schema.columns
    .filter((c) => !existing.includes(c.name))
    .map((c) => `ALTER TABLE "${physicalName(tableId)}" ADD COLUMN "${c.name}" ${sqliteType(c.type)}`);
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

/** Checks a row against the schema: known columns, NOT NULL, primary key present, types. */
export function checkRow(schema: TableSchema, row: Readonly<Record<string, Value>>): string | null {
  for (const key of Object.keys(row)) {
    if (!schema.columns.some((c) => c.name === key)) return `unknown column ${key}`;
  }
  for (const c of schema.columns) {
    const v = row[c.name] ?? null;
    if (v === null) {
      if (c.notNull || c.name === schema.primaryKey) return `column ${c.name} must not be null`;
      continue;
    }
    const ok =
      c.type === 'BOOLEAN'
        ? typeof v === 'boolean'
        : ['BIGINT', 'INT', 'SMALLINT', 'TIMESTAMP'].includes(c.type)
          ? typeof v === 'number' && Number.isInteger(v)
          : ['DOUBLE', 'FLOAT'].includes(c.type)
            ? typeof v === 'number'
            : true;
    if (!ok) return `column ${c.name} (${c.type}) cannot hold ${JSON.stringify(v)}`;
  }
  return null;
}
