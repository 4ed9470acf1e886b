/**
 * DDL: namespaces, tables, storages — each one meta:system command through `executeSystem` (dba/system only) — and
 * the SHOW / DESCRIBE reads of local meta:system state after a read barrier. A SHOW shows what a system table holds,
 * so it is allowed by that table's rule (`requireSystemRead`): namespaces and tables to everyone, storages — whose
 * paths are the node's file system — to dba and system.
 */
import type {
  AlterTableAddColumn,
  CreateNamespace,
  CreateStorage,
  CreateTable,
  DescribeTable,
  DropNamespace,
  DropStorage,
  DropTable,
  ShowTables,
} from '@kalam/sql';
import type { Value } from '../commands.js';
import { storagePathProblem } from '../cold/paths.js';
import { MetaSystem } from '../group-id.js';
import { checkIdentifier } from '../tables.js';
import { checkAlter, checkTableId } from '../validate.js';
import {
  accepted,
  lookupTable,
  messageResult,
  refusalCode,
  requireRole,
  resolveTableId,
  type EngineContext,
  type StatementScope,
} from './context.js';
import { KalamError } from './errors.js';
import { columnFromDef, dataTypeName, schemaFromCreate } from './schema.js';
import { requireSystemRead } from './system-tables.js';
import type { QueryResult } from './types.js';

/** A result with rows, every column typed Text unless named in `types`. */
export function tableResult(
  columns: readonly string[],
  rows: Value[][],
  types: Readonly<Record<string, string>> = {},
): QueryResult {
  return {
    schema: columns.map((name, index) => ({ name, data_type: dataTypeName(types[name] ?? 'TEXT'), index })),
    rows,
    row_count: rows.length,
  };
}

async function namespaceExists(ctx: EngineContext, ns: string): Promise<boolean> {
  await ctx.executor.readBarrier(MetaSystem);
  return ctx.machines.system.namespaces().some((n) => n.namespaceId === ns);
}

export async function createNamespace(
  ctx: EngineContext,
  scope: StatementScope,
  s: CreateNamespace,
): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'CREATE NAMESPACE');
  checkIdentifier('namespace', s.name);
  if (s.ifNotExists && (await namespaceExists(ctx, s.name))) return messageResult(`Namespace ${s.name} already exists`);
  const r = await ctx.executor.executeSystem({
    type: 'CreateNamespace',
    namespaceId: s.name,
    createdBy: scope.session.userId,
    createdAt: ctx.now(),
  });
  if (s.ifNotExists && refusalCode(r) === 'ALREADY_EXISTS') {
    return messageResult(`Namespace ${s.name} already exists`);
  }
  accepted(r);
  return messageResult(`Namespace ${s.name} created`);
}

/** DROP NAMESPACE [CASCADE]: with CASCADE its tables are dropped first, one command each, then the namespace. */
export async function dropNamespace(ctx: EngineContext, scope: StatementScope, s: DropNamespace): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'DROP NAMESPACE');
  if (!(await namespaceExists(ctx, s.name))) {
    if (s.ifExists) return messageResult(`Namespace ${s.name} does not exist`);
    throw new KalamError('NAMESPACE_NOT_FOUND', `namespace ${s.name} does not exist`);
  }
  const tables = ctx.machines.system.tables().filter((t) => t.namespaceId === s.name);
  if (tables.length > 0 && !s.cascade) {
    throw new KalamError(
      'SQL_EXECUTION_ERROR',
      `namespace ${s.name} still has ${tables.length} table(s); drop them first or use DROP NAMESPACE ${s.name} CASCADE`,
    );
  }
  for (const t of tables) {
    const r = await ctx.executor.executeSystem({ type: 'DropTable', tableId: t.tableId });
    // Dropped meanwhile by someone else: the goal is reached all the same.
    if (refusalCode(r) !== 'TABLE_NOT_FOUND') accepted(r);
  }
  accepted(await ctx.executor.executeSystem({ type: 'DeleteNamespace', namespaceId: s.name }));
  return messageResult(`Namespace ${s.name} dropped${tables.length > 0 ? ` with ${tables.length} table(s)` : ''}`);
}

/** USE ns: the namespace must exist; it stays the default for the rest of the batch. */
export async function useNamespace(ctx: EngineContext, ns: string): Promise<QueryResult> {
  if (!(await namespaceExists(ctx, ns))) throw new KalamError('NAMESPACE_NOT_FOUND', `namespace ${ns} does not exist`);
  return messageResult(`Using namespace ${ns}`);
}

export async function showNamespaces(ctx: EngineContext, scope: StatementScope): Promise<QueryResult> {
  requireSystemRead(scope.session, 'namespaces', 'SHOW NAMESPACES');
  await ctx.executor.readBarrier(MetaSystem);
  const tables = ctx.machines.system.tables();
  const rows = ctx.machines.system
    .namespaces()
    .map((n): Value[] => [
      n.namespaceId,
      tables.filter((t) => t.namespaceId === n.namespaceId).length,
      n.createdBy,
      n.createdAt,
    ]);
  return tableResult(['namespace_id', 'table_count', 'created_by', 'created_at'], rows, {
    table_count: 'INT',
    created_at: 'TIMESTAMP',
  });
}

export async function createTable(ctx: EngineContext, scope: StatementScope, s: CreateTable): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'CREATE TABLE');
  const tableId = checkTableId(resolveTableId(s.table, scope));
  const schema = schemaFromCreate(s);
  await ctx.executor.readBarrier(MetaSystem);
  if (s.ifNotExists && ctx.catalog.table(tableId) !== undefined)
    return messageResult(`Table ${tableId} already exists`);
  const r = await ctx.executor.executeSystem({
    type: 'CreateTable',
    tableId,
    tableType: s.tableType,
    schema,
    createdAt: ctx.now(),
  });
  if (s.ifNotExists && refusalCode(r) === 'ALREADY_EXISTS') {
    return messageResult(`Table ${tableId} already exists`);
  }
  accepted(r);
  return messageResult(`${s.tableType} table ${tableId} created`);
}

export async function dropTable(ctx: EngineContext, scope: StatementScope, s: DropTable): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'DROP TABLE');
  const tableId = resolveTableId(s.table, scope);
  await ctx.executor.readBarrier(MetaSystem);
  if (s.ifExists && ctx.catalog.table(tableId) === undefined) return messageResult(`Table ${tableId} does not exist`);
  const r = await ctx.executor.executeSystem({ type: 'DropTable', tableId });
  if (s.ifExists && refusalCode(r) === 'TABLE_NOT_FOUND') {
    return messageResult(`Table ${tableId} does not exist`);
  }
  accepted(r);
  return messageResult(`Table ${tableId} dropped`);
}

export async function alterTableAddColumn(
  ctx: EngineContext,
  scope: StatementScope,
  s: AlterTableAddColumn,
): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'ALTER TABLE');
  const tableId = resolveTableId(s.table, scope);
  const t = await lookupTable(ctx, tableId);
  const column = columnFromDef(s.column);
  if (t.schema.columns.some((c) => c.name === column.name)) {
    throw new KalamError('ALREADY_EXISTS', `column ${column.name} already exists in ${tableId}`);
  }
  if (s.column.primaryKey) {
    throw new KalamError('INVALID_SQL', `ADD COLUMN ${column.name}: an added column cannot be the primary key`);
  }
  // Existing rows get NULL in the new column (nothing is backfilled): the rule meta:system applies (validate.ts).
  const schema = { ...t.schema, columns: [...t.schema.columns, column] };
  checkAlter(t.schema, schema, tableId);
  accepted(await ctx.executor.executeSystem({ type: 'AlterTable', tableId, schema }));
  return messageResult(`Column ${column.name} added to ${tableId}`);
}

export async function showTables(ctx: EngineContext, scope: StatementScope, s: ShowTables): Promise<QueryResult> {
  requireSystemRead(scope.session, 'tables', 'SHOW TABLES');
  await ctx.executor.readBarrier(MetaSystem);
  if (s.namespace !== null && !ctx.machines.system.namespaces().some((n) => n.namespaceId === s.namespace)) {
    throw new KalamError('NAMESPACE_NOT_FOUND', `namespace ${s.namespace} does not exist`);
  }
  const rows = ctx.machines.system
    .tables()
    .filter((t) => s.namespace === null || t.namespaceId === s.namespace)
    .map((t): Value[] => [t.namespaceId, t.tableName, t.tableType, t.createdAt]);
  return tableResult(['namespace_id', 'table_name', 'table_type', 'created_at'], rows, { created_at: 'TIMESTAMP' });
}

export async function describeTable(ctx: EngineContext, scope: StatementScope, s: DescribeTable): Promise<QueryResult> {
  const tableId = resolveTableId(s.table, scope);
  const t = await lookupTable(ctx, tableId);
  const rows = t.schema.columns.map((c, i): Value[] => [
    c.name,
    dataTypeName(c.type),
    !c.notNull,
    c.name === t.schema.primaryKey,
    c.default === null ? null : 'literal' in c.default ? JSON.stringify(c.default.literal) : `${c.default.fn}()`,
    i + 1,
  ]);
  return tableResult(
    ['column_name', 'data_type', 'is_nullable', 'is_primary_key', 'column_default', 'ordinal_position'],
    rows,
    {
      is_nullable: 'BOOLEAN',
      is_primary_key: 'BOOLEAN',
      ordinal_position: 'INT',
    },
  );
}

export async function createStorage(ctx: EngineContext, scope: StatementScope, s: CreateStorage): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'CREATE STORAGE');
  const config = { type: s.type, path: s.path };
  // The PATH's text first (the validator's rule, so nothing is made under /proc), then whether this node can keep
  // files there: a PATH that is wrong everywhere fails here, not later when every node applies a flush into it.
  const problem = storagePathProblem(s.path);
  if (problem !== undefined) throw new KalamError('INVALID_INPUT', `CREATE STORAGE ${s.id}: ${problem}`);
  const unusable = ctx.machines.cold.probeStorage(s.path);
  if (unusable !== undefined) {
    throw new KalamError(
      'INVALID_INPUT',
      `CREATE STORAGE ${s.id}: node ${ctx.nodeId} cannot keep files at ${unusable}`,
    );
  }
  accepted(await ctx.executor.executeSystem({ type: 'RegisterStorage', storageId: s.id, config }));
  return messageResult(`Storage ${s.id} created`);
}

export async function dropStorage(ctx: EngineContext, scope: StatementScope, s: DropStorage): Promise<QueryResult> {
  requireRole(scope.session, 'dba', 'DROP STORAGE');
  // meta:system refuses a storage that a table still uses (state/system.ts).
  accepted(await ctx.executor.executeSystem({ type: 'UnregisterStorage', storageId: s.id }));
  return messageResult(`Storage ${s.id} dropped`);
}

export async function showStorages(ctx: EngineContext, scope: StatementScope): Promise<QueryResult> {
  requireSystemRead(scope.session, 'storages', 'SHOW STORAGES');
  await ctx.executor.readBarrier(MetaSystem);
  const rows = ctx.machines.system.storages().map((st): Value[] => [st.storageId, st.config.type, st.config.path]);
  return tableResult(['storage_id', 'storage_type', 'base_directory'], rows);
}
