/**
 * Statements on Kalam tables. Writes are planned here — the table resolved after a meta:system read barrier, the
 * command stamped with that `metaIndex`, `_seq` values from the engine's generator, `at` from its clock, planner
 * functions folded to literals — and proposed as ONE command, so a statement applies whole or not at all. USER and
 * STREAM rows go to the session user's shard through `executeUserData`; SHARED rows through `executeSharedData`.
 * Reads take a read barrier on the group that holds the rows, then read local state: a USER table only ever
 * yields the session user's rows.
 */
import { mapExpr, matches, type Delete, type Expr, type Insert, type Select, type Update } from '@kalam/sql';
import type { TableInfo } from '../catalog.js';
import type { ColumnSchema, ComputedAssignment, DataResponse, Row, Value } from '../commands.js';
import { dataSharedShard } from '../group-id.js';
import { checkColumnValue, checkRow, isPerUser, primaryKeyLiteral, withDefaults } from '../tables.js';
import { accepted, atLeast, lookupTable, resolveTableId, type EngineContext, type StatementScope } from './context.js';
import { KalamError } from './errors.js';
import { dataTypeName } from './schema.js';
import { checkSelect, runSelect, type Relation } from './query.js';
import { RequestReads } from './request-reads.js';
import type { QueryResult, Session } from './types.js';
import { coerce, columnsOf, constantValue, foldPlannerCalls, plannerCall, type PlannerClock } from './values.js';

/** SHARED tables: PUBLIC ones are readable by every role, PRIVATE ones (the default) by service and up. */
export function checkRead(session: Session, t: TableInfo): void {
  if (isPerUser(t.tableType) || t.schema.options.accessLevel === 'PUBLIC' || atLeast(session.role, 'service')) return;
  throw new KalamError('PERMISSION_DENIED', `table ${t.tableId} is a PRIVATE shared table (role service or higher)`);
}

/** USER and STREAM tables: every role writes its own rows. SHARED tables: service and up. */
function checkWrite(session: Session, t: TableInfo): void {
  if (isPerUser(t.tableType) || atLeast(session.role, 'service')) return;
  throw new KalamError('PERMISSION_DENIED', `writing shared table ${t.tableId} needs role service or higher`);
}

function column(t: TableInfo, name: string): ColumnSchema {
  const c = t.schema.columns.find((col) => col.name === name);
  if (c === undefined) throw new KalamError('SQL_EXECUTION_ERROR', `column ${name} does not exist in ${t.tableId}`);
  return c;
}

/**
 * A row expression for the state machine (a filter, or a SET expression): planner calls folded, every column a real
 * column (`_seq` is not filterable there). The rules of every replicated expression (functions, size) are checked
 * with the whole command, by the executor before it proposes (validate.ts).
 */
function planRowExpr(t: TableInfo, e: Expr, clock: PlannerClock): Expr {
  const folded = foldPlannerCalls(e, clock);
  for (const name of columnsOf(folded)) column(t, name);
  return folded;
}

function clockOf(ctx: EngineContext): PlannerClock {
  return { at: ctx.now(), nextId: () => ctx.seq.reserve(1) };
}

/** Live rows in scope on this node: an upper bound for how many `_seq` values an UPDATE/DELETE may consume. */
function rowsInScope(ctx: EngineContext, t: TableInfo, session: Session): number {
  if (!isPerUser(t.tableType)) return ctx.machines.sharedShards[0]?.rowCount(t.tableId) ?? 0;
  const shard = ctx.machines.router.userShard(session.userId);
  return ctx.machines.userShards[shard]?.userRowCount(t.tableId, session.userId) ?? 0;
}

function nodesOf(expr: Expr): number {
  let nodes = 0;
  mapExpr(expr, () => {
    nodes++;
    return undefined;
  });
  return nodes;
}

/**
 * UPDATE and DELETE evaluate their filter (and UPDATE its computed SET values) on every row in scope inside apply,
 * on every replica, where no time budget can stop them: refuse a statement whose work is over writeFilterWorkMax.
 */
function checkWriteWork(ctx: EngineContext, rows: number, exprs: readonly Expr[]): void {
  const work = rows * (1 + exprs.reduce((sum, e) => sum + nodesOf(e), 0));
  const max = ctx.limits.writeFilterWorkMax;
  if (work <= max) return;
  throw new KalamError(
    'LIMIT_EXCEEDED',
    `the statement would evaluate ${work} expression nodes over ${rows} rows in apply (limit writeFilterWorkMax = ${max}); ` +
      'narrow the WHERE or split the statement',
    { limit: 'writeFilterWorkMax', max },
  );
}

type DataWrite =
  | { readonly type: 'Insert'; readonly rows: readonly Row[] }
  | {
      readonly type: 'Update';
      readonly updates: Row;
      readonly computed?: readonly ComputedAssignment[];
      readonly filter: Expr | null;
    }
  | { readonly type: 'Delete'; readonly filter: Expr | null };

/** What a row write's command answered: how many rows, and whether it was a client session's remembered answer. */
interface Written {
  readonly count: number;
  readonly replayed: boolean;
}

async function propose(
  ctx: EngineContext,
  scope: StatementScope,
  t: TableInfo,
  write: DataWrite,
  stamp: { metaIndex: number; seqBase: number; at: number },
): Promise<Written> {
  let response: DataResponse;
  const session = scope.session;
  const table = { tableId: t.tableId, incarnation: t.incarnation };
  const client = scope.client === undefined ? {} : { client: scope.client };
  if (isPerUser(t.tableType)) {
    const base = { ...table, userId: session.userId, ...stamp, ...client };
    response = await ctx.executor.executeUserData(session.userId, { ...base, ...write });
  } else {
    response = await ctx.executor.executeSharedData({ ...table, ...stamp, ...client, ...write });
  }
  const r = accepted(response);
  if (r.type !== 'RowsAffected')
    throw new KalamError('INTERNAL_ERROR', `unexpected response ${r.type} to ${write.type}`);
  return { count: r.count, replayed: r.replayed === true };
}

function rowsResult(written: Written, verb: string): QueryResult {
  const count = written.count;
  const replayed = written.replayed ? { replayed: true } : {};
  return { schema: [], rows: [], row_count: count, message: `${count} row(s) ${verb}`, ...replayed };
}

export async function insert(ctx: EngineContext, scope: StatementScope, s: Insert): Promise<QueryResult> {
  const t = await lookupTable(ctx, resolveTableId(s.table, scope));
  checkWrite(scope.session, t);
  const metaIndex = ctx.machines.system.appliedIndex();
  const clock = clockOf(ctx);
  const names = s.columns ?? t.schema.columns.map((c) => c.name);
  if (new Set(names).size !== names.length) throw new KalamError('INVALID_SQL', 'a column is named twice in INSERT');
  const targets = names.map((n) => column(t, n));
  const rows = s.rows.map((exprs, i): Row => {
    if (exprs.length !== targets.length) {
      throw new KalamError('INVALID_SQL', `row ${i + 1} has ${exprs.length} value(s) for ${targets.length} column(s)`);
    }
    const row: Record<string, Value> = {};
    targets.forEach((c, k) => (row[c.name] = coerce(c, constantValue(foldPlannerCalls(exprs[k]!, clock), 'VALUES'))));
    for (const c of t.schema.columns) {
      // Literal defaults are applied by the state machine; function defaults need the clock, so the planner does them.
      if (row[c.name] === undefined && c.default !== null && 'fn' in c.default) {
        row[c.name] = coerce(c, plannerCall(c.default.fn, clock) ?? null);
      }
    }
    const problem = checkRow(t.schema, withDefaults(t.schema, row));
    if (problem !== null) throw new KalamError('SQL_EXECUTION_ERROR', `row ${i + 1}: ${problem}`);
    return row;
  });
  if (rows.length === 0) return rowsResult({ count: 0, replayed: false }, 'inserted');
  const seqBase = ctx.seq.reserve(rows.length);
  const written = await propose(ctx, scope, t, { type: 'Insert', rows }, { metaIndex, seqBase, at: clock.at });
  return rowsResult(written, 'inserted');
}

export async function update(ctx: EngineContext, scope: StatementScope, s: Update): Promise<QueryResult> {
  const t = await lookupTable(ctx, resolveTableId(s.table, scope));
  checkWrite(scope.session, t);
  const metaIndex = ctx.machines.system.appliedIndex();
  const clock = clockOf(ctx);
  const updates: Record<string, Value> = {};
  const computed: ComputedAssignment[] = [];
  for (const a of s.assignments) {
    const c = column(t, a.column);
    if (c.name === t.schema.primaryKey)
      throw new KalamError('SQL_EXECUTION_ERROR', `the primary key ${c.name} cannot be updated`);
    if (updates[c.name] !== undefined || computed.some((x) => x.column === c.name))
      throw new KalamError('SQL_EXECUTION_ERROR', `column ${c.name} is assigned twice`);
    const folded = foldPlannerCalls(a.value, clock);
    if (columnsOf(folded).length === 0) {
      updates[c.name] = coerce(c, constantValue(folded, `SET ${c.name}`));
      const problem = checkColumnValue(c, t.schema.primaryKey, updates[c.name] ?? null);
      if (problem !== null) throw new KalamError('SQL_EXECUTION_ERROR', problem);
    } else {
      // Reads the row: the state machine evaluates it on each matched row (planner calls already folded).
      computed.push({ column: c.name, expr: planRowExpr(t, folded, clock) });
    }
  }
  const filter = s.where === null ? null : planRowExpr(t, s.where, clock);
  const rows = rowsInScope(ctx, t, scope.session);
  checkWriteWork(ctx, rows, [...(filter === null ? [] : [filter]), ...computed.map((c) => c.expr)]);
  const seqBase = ctx.seq.reserve(Math.max(1, rows));
  const write: DataWrite = { type: 'Update', updates, ...(computed.length > 0 ? { computed } : {}), filter };
  const written = await propose(ctx, scope, t, write, { metaIndex, seqBase, at: clock.at });
  return rowsResult(written, 'updated');
}

export async function remove(ctx: EngineContext, scope: StatementScope, s: Delete): Promise<QueryResult> {
  const t = await lookupTable(ctx, resolveTableId(s.table, scope));
  checkWrite(scope.session, t);
  const metaIndex = ctx.machines.system.appliedIndex();
  const clock = clockOf(ctx);
  const filter = s.where === null ? null : planRowExpr(t, s.where, clock);
  const rows = rowsInScope(ctx, t, scope.session);
  checkWriteWork(ctx, rows, filter === null ? [] : [filter]);
  const seqBase = ctx.seq.reserve(Math.max(1, rows));
  const written = await propose(ctx, scope, t, { type: 'Delete', filter }, { metaIndex, seqBase, at: clock.at });
  return rowsResult(written, 'deleted');
}

/** SELECT planner calls folded once, so NOW() is one instant for the whole statement. */
export function foldSelect(s: Select, clock: PlannerClock): Select {
  const fold = (e: Expr): Expr => foldPlannerCalls(e, clock);
  return {
    ...s,
    columns: s.columns.map((c) => (c === '*' ? c : { expr: fold(c.expr), alias: c.alias })),
    where: s.where === null ? null : fold(s.where),
    groupBy: s.groupBy.map(fold),
    having: s.having === null ? null : fold(s.having),
    orderBy: s.orderBy.map((o) => ({ expr: fold(o.expr), direction: o.direction })),
  };
}

export async function selectTable(
  ctx: EngineContext,
  scope: StatementScope,
  s: Select,
  tableId: string,
): Promise<QueryResult> {
  const userId = scope.session.userId;
  prefetchRows(ctx, tableId, userId);
  const t = await lookupTable(ctx, tableId);
  checkRead(scope.session, t);
  const folded = foldSelect(s, clockOf(ctx));
  // `WHERE pk = literal` reads one row through the primary-key index instead of scanning; the WHERE is still
  // applied below, so the result is the same either way.
  const key = primaryKeyLiteral(folded.where, t.schema.primaryKey);
  // `SELECT COUNT(*) FROM t` counts in SQLite instead of reading every row of the scope into memory.
  const counted = countStarOnly(folded);
  // Without WHERE, ORDER BY or aggregates, the answer is the first OFFSET + LIMIT rows in key order: only those are read.
  const prefix = key === undefined && counted === undefined ? prefixOnly(folded) : undefined;
  // A small WHERE is applied as the rows are read, so only the rows it keeps are held (at most OFFSET + LIMIT of them
  // when that is all the answer can use); the select's row-free checks come first, as in runSelect.
  const budget = ctx.budget();
  const columns = t.schema.columns.map((c) => ({ name: c.name, type: c.type }));
  const hidden = [{ name: '_seq', type: 'BIGINT' }];
  let keep: { test: (r: Record<string, Value>) => boolean; max: number } | undefined;
  const where = folded.where;
  if (key === undefined && counted === undefined && prefix === undefined && where !== null && smallExpr(where)) {
    const { grouped } = checkSelect(folded, { name: tableId, columns, hidden });
    const paged = !grouped && folded.orderBy.length === 0 && folded.limit !== null;
    // Each row spends the statement's budget as runSelect's filter would: past statementEvalMsMax the read stops
    // with LIMIT_EXCEEDED (it cannot yield mid-read, so a small WHERE adds its cost to the read's one slice).
    keep = {
      test: (r) => {
        budget.spend();
        return matches(where, r);
      },
      max: paged ? (folded.offset ?? 0) + (folded.limit ?? 0) : Infinity,
    };
  }
  const one = (r: Record<string, Value> | undefined): Record<string, Value>[] => (r === undefined ? [] : [r]);
  let rows: Record<string, Value>[];
  let count = 0;
  if (isPerUser(t.tableType)) {
    await ctx.executor.readBarrier(ctx.machines.router.groupForUser(userId));
    const shard = ctx.machines.userShards[ctx.machines.router.userShard(userId)];
    if (shard === undefined) rows = [];
    else if (counted !== undefined) [rows, count] = [[], shard.userRowCount(tableId, userId)];
    else if (prefix !== undefined) rows = shard.userRowsPrefix(tableId, userId, prefix);
    else if (keep !== undefined)
      rows = shard.userRowsWhere(tableId, userId, keep.test, keep.max) ?? shard.userRows(tableId, userId);
    else rows = key === undefined ? shard.userRows(tableId, userId) : one(shard.userRowByKey(tableId, userId, key));
  } else {
    await ctx.executor.readBarrier(dataSharedShard(0));
    const shared = ctx.machines.sharedShards[0];
    if (shared === undefined) rows = [];
    else if (counted !== undefined) [rows, count] = [[], shared.rowCount(tableId)];
    else if (prefix !== undefined) rows = shared.rowsPrefix(tableId, prefix);
    else if (keep !== undefined) rows = shared.rowsWhere(tableId, keep.test, keep.max) ?? shared.rowsOf(tableId);
    else rows = key === undefined ? shared.rowsOf(tableId) : one(shared.rowByKey(tableId, key));
  }
  if (counted !== undefined) {
    budget.checkResultRows(1);
    return {
      schema: [{ name: counted.label, data_type: dataTypeName('BIGINT'), index: 0 }],
      rows: [[count]],
      row_count: 1,
    };
  }
  const relation: Relation = { name: tableId, columns, hidden, rows };
  return runSelect(folded, relation, budget);
}

/**
 * Starts the barrier of the group that holds the table's rows together with the catalog's (lookupTable), instead of
 * after it: one round trip of waiting instead of two. The group comes from this node's catalog before its barrier;
 * should the barrier show the table otherwise (a DDL just now), selectTable takes the right group's barrier after.
 */
function prefetchRows(ctx: EngineContext, tableId: string, userId: string): void {
  if (!(ctx.executor instanceof RequestReads)) return;
  const tableType = ctx.catalog.tableType(tableId);
  if (tableType === undefined) return;
  ctx.executor.prefetch(isPerUser(tableType) ? ctx.machines.router.groupForUser(userId) : dataSharedShard(0));
}

/**
 * `SELECT COUNT(*) [AS label] FROM t` and nothing else (no WHERE, GROUP BY, HAVING, ORDER BY — which runSelect may
 * refuse — or OFFSET; no LIMIT below 1): its label, as runSelect would name the column. Anything more goes through
 * runSelect.
 */
function countStarOnly(s: Select): { label: string } | undefined {
  if (s.columns.length !== 1 || s.where !== null || s.groupBy.length > 0 || s.having !== null) return undefined;
  if (s.orderBy.length > 0 || (s.offset ?? 0) !== 0 || (s.limit !== null && s.limit < 1)) return undefined;
  const [c] = s.columns;
  if (c === undefined || c === '*' || c.expr.kind !== 'call' || c.expr.name !== 'COUNT' || !c.expr.star)
    return undefined;
  return { label: c.alias ?? 'COUNT(*)' };
}

/**
 * How many rows (OFFSET + LIMIT) a SELECT with a LIMIT and no WHERE, ORDER BY, GROUP BY, HAVING or aggregate can need:
 * runSelect's scan of such a SELECT stops after that many rows in key order (filterRows), so a relation of only the
 * first ones gives the same answer. Undefined for anything else.
 */
function prefixOnly(s: Select): number | undefined {
  if (s.limit === null || s.where !== null || s.orderBy.length > 0 || s.groupBy.length > 0 || s.having !== null)
    return undefined;
  if (s.columns.some((c) => c !== '*' && containsCall(c.expr))) return undefined;
  return (s.offset ?? 0) + s.limit;
}

/**
 * A WHERE cheap enough to evaluate on every row inside the synchronous read (at most WHERE_INLINE_NODES_MAX nodes):
 * a larger one is evaluated by runSelect in time-budgeted slices, over the rows read first.
 */
function smallExpr(e: Expr): boolean {
  return nodesOf(e) <= WHERE_INLINE_NODES_MAX;
}

/** See smallExpr: `a = 1 AND b > 2` is 7 nodes; an IN list counts each of its items. */
const WHERE_INLINE_NODES_MAX = 64;

/** Whether the expression holds a function call (an aggregate among them: those make a SELECT grouped). */
function containsCall(e: Expr): boolean {
  let found = false;
  mapExpr(e, (x) => {
    if (x.kind === 'call') found = true;
    return undefined;
  });
  return found;
}
