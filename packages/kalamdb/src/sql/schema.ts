/** Column types between the SQL AST, the replicated TableSchema and KalamDB's result `data_type` names. */
import type { ColumnDef, CreateTable } from '@kalam/sql';
import type { ColumnSchema, TableSchema, Value } from '../commands.js';
import { DEFAULT_FUNCTIONS, checkSchema } from '../validate.js';
import { KalamError } from './errors.js';
import { coerce } from './values.js';

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

export function columnFromDef(def: ColumnDef): ColumnSchema {
  const d = def.default;
  if (d === null) return { name: def.name, type: def.type, notNull: def.notNull, default: null };
  if (d.kind === 'literal') {
    const column = { name: def.name, type: def.type, notNull: def.notNull, default: null };
    return { ...column, default: { literal: coerce(column, d.value) } };
  }
  if (!DEFAULT_FUNCTIONS.has(d.name) || d.args.length > 0) {
    throw new KalamError(
      'INVALID_SQL',
      `DEFAULT ${d.name}() is not supported (use ${[...DEFAULT_FUNCTIONS].join(', ')})`,
    );
  }
  return { name: def.name, type: def.type, notNull: def.notNull, default: { fn: d.name } };
}

/** CREATE TABLE → the replicated schema, checked by the rules its state machine applies (validate.ts). */
export function schemaFromCreate(stmt: CreateTable): TableSchema {
  const o = stmt.options;
  const options: { -readonly [K in keyof TableSchema['options']]: TableSchema['options'][K] } = {};
  if (o.ttlSeconds !== undefined) options.ttlSeconds = o.ttlSeconds;
  if (o.flushPolicy !== undefined) options.flushPolicy = { rows: o.flushPolicy.rows };
  if (o.accessLevel !== undefined) options.accessLevel = o.accessLevel;
  if (o.storageId !== undefined) options.storageId = o.storageId;
  return checkSchema(
    { columns: stmt.columns.map(columnFromDef), primaryKey: stmt.primaryKey, options },
    stmt.tableType,
  );
}
