/** Column types between the SQL AST, the replicated TableSchema and KalamDB's result `data_type` names. */
import type { ColumnDef, CreateTable } from '@kalam/sql';
import type { ColumnSchema, TableSchema, Value } from '../commands.js';
import { KalamError } from './errors.js';

const DATA_TYPE_NAMES: Readonly<Record<string, string>> = {
  BIGINT: 'BigInt',
  INT: 'Int',
  SMALLINT: 'SmallInt',
  DOUBLE: 'Double',
  FLOAT: 'Float',
  BOOLEAN: 'Boolean',
  TEXT: 'Text',
  TIMESTAMP: 'Timestamp',
  DATE: 'Date',
  JSON: 'Json',
  BYTES: 'Bytes',
  UUID: 'Uuid',
};

/** KalamDB's name for a column type: BIGINT → "BigInt". */
export function dataTypeName(type: string): string {
  return DATA_TYPE_NAMES[type] ?? type;
}

/** The data type of a computed value, from the value itself. */
export function typeOfValue(value: Value): string {
  if (typeof value === 'number') return Number.isInteger(value) ? 'BIGINT' : 'DOUBLE';
  if (typeof value === 'boolean') return 'BOOLEAN';
  return 'TEXT';
}

/** Functions a DEFAULT may name; the planner evaluates them before proposing (apply never sees a clock). */
export const DEFAULT_FUNCTIONS: ReadonlySet<string> = new Set(['NOW', 'CURRENT_TIMESTAMP', 'SNOWFLAKE_ID', 'UUID']);

/**
 * The columns every physical table has besides the user's (tables.ts createTableSql): `_seq` and `_deleted`, and
 * `_user_id` and `_shard` in USER and STREAM tables. A user column of one of these names is refused by every table
 * type alike (a SHARED table may not have `_shard` either), since SQLite would refuse the table at apply, on every
 * replica, or — through ADD COLUMN — silently alias the system column.
 */
export const SYSTEM_COLUMNS: ReadonlySet<string> = new Set(['_seq', '_deleted', '_user_id', '_shard']);

/** A column of CREATE TABLE or ADD COLUMN as the replicated schema holds it; system column names are refused. */
export function columnFromDef(def: ColumnDef): ColumnSchema {
  if (SYSTEM_COLUMNS.has(def.name)) {
    throw new KalamError('INVALID_SQL', `column ${def.name} is a system column; choose another name`);
  }
  const d = def.default;
  if (d === null) return { name: def.name, type: def.type, notNull: def.notNull, default: null };
  if (d.kind === 'literal')
    return { name: def.name, type: def.type, notNull: def.notNull, default: { literal: d.value } };
  if (!DEFAULT_FUNCTIONS.has(d.name) || d.args.length > 0) {
    throw new KalamError(
      'INVALID_SQL',
      `DEFAULT ${d.name}() is not supported (use ${[...DEFAULT_FUNCTIONS].join(', ')})`,
    );
  }
  return { name: def.name, type: def.type, notNull: def.notNull, default: { fn: d.name } };
}

/** CREATE TABLE → the replicated schema, with KalamDB's option rules checked. */
export function schemaFromCreate(stmt: CreateTable): TableSchema {
  const o = stmt.options;
  if (stmt.tableType === 'STREAM' && o.ttlSeconds === undefined) {
    throw new KalamError('INVALID_SQL', 'a STREAM table needs WITH (TTL_SECONDS = …)');
  }
  if (stmt.tableType !== 'STREAM' && o.ttlSeconds !== undefined) {
    throw new KalamError('INVALID_SQL', 'TTL_SECONDS applies to STREAM tables only');
  }
  if (stmt.tableType !== 'SHARED' && o.accessLevel !== undefined) {
    throw new KalamError('INVALID_SQL', 'ACCESS_LEVEL applies to SHARED tables only');
  }
  const options: { -readonly [K in keyof TableSchema['options']]: TableSchema['options'][K] } = {};
  if (o.ttlSeconds !== undefined) options.ttlSeconds = o.ttlSeconds;
  if (o.flushPolicy !== undefined) options.flushPolicy = { rows: o.flushPolicy.rows };
  if (o.accessLevel !== undefined) options.accessLevel = o.accessLevel;
  if (o.storageId !== undefined) options.storageId = o.storageId;
  return { columns: stmt.columns.map(columnFromDef), primaryKey: stmt.primaryKey, options };
}
