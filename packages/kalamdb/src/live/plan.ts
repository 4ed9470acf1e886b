/**
 * Live-query planning, shared by the WebSocket API and the SQL statements:
 *
 * - `planLiveQuery`: a subscription's SQL (`SELECT * FROM ns.t [WHERE …]`, or `SUBSCRIBE TO ns.t [WHERE …]`) checked
 *   like a SELECT (the table exists, the session may read it, the WHERE names real columns) and resolved to the data
 *   group whose apply path produces its changes: the session user's shard for USER/STREAM tables (only that user's
 *   rows), the shared shard for SHARED tables.
 * - `initialRows`: the matching rows in this node's state now, ordered by `_seq`, and the group's `_seq` high-water
 *   mark — the snapshot point: the rows are exactly the state after every change up to it.
 * - `viewOf`: what one RowChange means to a subscription with a filter: an update that makes a row match is an
 *   insert for it, one that makes it stop matching a delete, one that touches a row it never saw nothing.
 *
 * Registration (which user shard records the live query, for system.live_queries and cleanup) is always the
 * subscriber's own shard, whatever table it watches: a live query belongs to its user, as in KalamDB.
 */
import { createHash } from 'node:crypto';

import { checkRowExpr, matches, parseSql } from '@kalam/sql';
import type { Expr, Statement } from '@kalam/sql';

import type { TableInfo } from '../catalog.js';
import type { Value } from '../commands.js';
import type { StateMachines } from '../executor.js';
import { dataSharedShard, groupNumber } from '../group-id.js';
import type { GroupId } from '../group-id.js';
import type { SharedDataStateMachine, UserDataStateMachine } from '../state/data.js';
import { isPerUser } from '../tables.js';
import { lookupTable, resolveTableId, type EngineContext, type StatementScope } from '../sql/context.js';
import { checkRead } from '../sql/data.js';
import { KalamError, toKalamError } from '../sql/errors.js';
import { dataTypeName } from '../sql/schema.js';
import type { ColumnInfo, Session } from '../sql/types.js';
import { columnsOf, foldPlannerCalls } from '../sql/values.js';
import { printQuery } from './print.js';
import type { ChangeType, RowChange } from './types.js';

export interface LiveQueryPlan {
  readonly tableId: string;
  /** The table's incarnation when the subscription was planned: changes of another one are not its concern. */
  readonly incarnation: number;
  /** The subscriber. */
  readonly userId: string;
  /** Whose rows: the subscriber for USER/STREAM tables, null for SHARED tables. */
  readonly rowOwner: string | null;
  /** The data group whose changes feed the subscription. */
  readonly dataGroup: GroupId;
  /** Its numeric id (as in ChangeFeed events). */
  readonly dataGroupId: number;
  readonly filter: Expr | null;
  /** The columns of a row (`_seq` last), as KalamDB's `schema`. */
  readonly schema: readonly ColumnInfo[];
  /** The subscription as canonical SQL, and its hash (RegisterLiveQuery.queryHash). */
  readonly query: string;
  readonly queryHash: string;
  readonly lastRows: number | null;
}

/** A row as a subscriber sees it: the table's columns and `_seq`. */
export type LiveRow = Record<string, Value>;

export interface LiveView {
  readonly changeType: ChangeType;
  readonly row: LiveRow;
  readonly old: LiveRow | null;
}

type Subscribable = Extract<Statement, { kind: 'Select' } | { kind: 'SubscribeTo' }>;

function parseSubscription(sql: string): Subscribable {
  let statements: readonly Statement[];
  try {
    statements = parseSql(sql);
  } catch (err) {
    throw toKalamError(err);
  }
  const [stmt] = statements;
  if (statements.length !== 1 || stmt === undefined) {
    throw new KalamError('INVALID_SQL', 'a subscription is one SELECT statement');
  }
  if (stmt.kind === 'SubscribeTo') return stmt;
  if (stmt.kind !== 'Select') throw new KalamError('INVALID_SQL', `a subscription is a SELECT, not ${stmt.kind}`);
  if (
    stmt.columns.some((c) => c !== '*') ||
    stmt.groupBy.length > 0 ||
    stmt.orderBy.length > 0 ||
    stmt.limit !== null ||
    stmt.offset !== null
  ) {
    throw new KalamError(
      'INVALID_SQL',
      'a subscription is SELECT * FROM ns.t [WHERE …] (no columns, ORDER BY or LIMIT)',
    );
  }
  return stmt;
}

export async function planLiveQuery(ctx: EngineContext, scope: StatementScope, sql: string): Promise<LiveQueryPlan> {
  const stmt = parseSubscription(sql);
  const ref = stmt.kind === 'Select' ? stmt.from : stmt.table;
  if (ref.namespace === 'system') throw new KalamError('INVALID_SQL', 'system tables cannot be subscribed to');
  const t = await lookupTable(ctx, resolveTableId(ref, scope));
  checkRead(scope.session, t);
  return planFor(ctx, scope, t, stmt.where, stmt.kind === 'SubscribeTo' ? (stmt.options.lastRows ?? null) : null);
}

/**
 * Throws PERMISSION_DENIED (or TABLE_NOT_FOUND) unless `session` may still hold a subscription planned as `plan` —
 * the check `planLiveQuery` made, against this node's catalog now. Synchronous (no read barrier), so a caller can run
 * it between two applies: the node re-checks its open subscriptions when their user's role changes.
 */
export function recheckLiveQuery(ctx: EngineContext, session: Session, plan: LiveQueryPlan): void {
  if (session.userId !== plan.userId) throw new Error(`live query of ${plan.userId} re-checked for ${session.userId}`);
  const t = ctx.catalog.table(plan.tableId);
  if (t === undefined) throw new KalamError('TABLE_NOT_FOUND', `table ${plan.tableId} does not exist`);
  checkRead(session, t);
}

function planFor(
  ctx: EngineContext,
  scope: StatementScope,
  t: TableInfo,
  where: Expr | null,
  lastRows: number | null,
): LiveQueryPlan {
  const folded = where === null ? null : foldPlannerCalls(where, { at: ctx.now(), nextId: () => ctx.seq.reserve(1) });
  // The filter travels in RegisterLiveQuery and is evaluated on every change: the rules of any replicated expression.
  const filter = folded === null ? null : checkRowExpr(folded, 'WHERE');
  const known = new Set([...t.schema.columns.map((c) => c.name), '_seq']);
  for (const name of filter === null ? [] : columnsOf(filter)) {
    if (!known.has(name)) throw new KalamError('SQL_EXECUTION_ERROR', `column ${name} does not exist in ${t.tableId}`);
  }
  const perUser = isPerUser(t.tableType);
  const userId = scope.session.userId;
  const dataGroup: GroupId = perUser ? ctx.machines.router.groupForUser(userId) : dataSharedShard(0);
  const query = printQuery(t.tableId, filter);
  const schema: ColumnInfo[] = [
    ...t.schema.columns.map((c, index) => ({ name: c.name, data_type: dataTypeName(c.type), index })),
    { name: '_seq', data_type: dataTypeName('BIGINT'), index: t.schema.columns.length },
  ];
  return {
    tableId: t.tableId,
    incarnation: t.incarnation,
    userId,
    rowOwner: perUser ? userId : null,
    dataGroup,
    dataGroupId: groupNumber(dataGroup),
    filter,
    schema,
    query,
    queryHash: createHash('sha256').update(query).digest('hex').slice(0, 16),
    lastRows,
  };
}

function machineOf(
  machines: StateMachines,
  plan: LiveQueryPlan,
): UserDataStateMachine | SharedDataStateMachine | undefined {
  return plan.dataGroup.kind === 'data:user'
    ? machines.userShards[plan.dataGroup.shard]
    : plan.dataGroup.kind === 'data:shared'
      ? machines.sharedShards[plan.dataGroup.shard]
      : undefined;
}

/**
 * The rows matching the plan in this node's state, by `_seq` (the last `lastRows` of them when set), and the
 * snapshot point. Synchronous: no apply can run between the read and the caller's next synchronous step.
 */
export function initialRows(
  machines: StateMachines,
  plan: LiveQueryPlan,
  lastRows: number | null,
): { rows: LiveRow[]; snapshotSeq: number } {
  const m = machineOf(machines, plan);
  if (m === undefined) return { rows: [], snapshotSeq: 0 };
  const all = 'userRows' in m ? m.userRows(plan.tableId, plan.userId) : m.rowsOf(plan.tableId);
  const rows = all.filter((r) => matches(plan.filter, r)).sort((a, b) => Number(a['_seq']) - Number(b['_seq']));
  return { rows: lastRows === null ? rows : rows.slice(Math.max(0, rows.length - lastRows)), snapshotSeq: m.lastSeq() };
}

/**
 * The newest `_seq` of the plan's data group in this node's state (0 before its first write). After a read
 * barrier on the group it is at least every `_seq` any node has delivered, so a resume cursor above it was never
 * handed out by this cluster.
 */
export function newestSeq(machines: StateMachines, plan: LiveQueryPlan): number {
  return machineOf(machines, plan)?.lastSeq() ?? 0;
}

/** The changes after `afterSeq` this node's change log still holds for the plan, or 'trimmed'. */
export function changesAfter(machines: StateMachines, plan: LiveQueryPlan, afterSeq: number): RowChange[] | 'trimmed' {
  const m = machineOf(machines, plan);
  return m === undefined ? [] : m.changesAfter(plan, plan.rowOwner, afterSeq);
}

/** True when the change is to the plan's table (and, for a USER table, the plan's user). */
export function concerns(plan: LiveQueryPlan, c: RowChange): boolean {
  return c.tableId === plan.tableId && c.incarnation === plan.incarnation && c.userId === plan.rowOwner;
}

/**
 * A row with the plan's columns in schema order (absent ones NULL: the change log leaves NULLs out), then any column
 * added since the subscription was planned, then `_seq`.
 */
function shape(plan: LiveQueryPlan, values: Readonly<Record<string, Value>>, seq: number): LiveRow {
  const out: LiveRow = {};
  for (const c of plan.schema) if (c.name !== '_seq') out[c.name] = values[c.name] ?? null;
  for (const [k, v] of Object.entries(values)) if (!(k in out) && k !== '_seq') out[k] = v;
  out['_seq'] = seq;
  return out;
}

/** What the change means to the subscription (see the module comment), or null when nothing. */
export function viewOf(plan: LiveQueryPlan, c: RowChange): LiveView | null {
  const row = shape(plan, c.row, c.seq);
  const old = c.old === null ? null : shape(plan, c.old, Number(c.old['_seq']));
  const isNew = matches(plan.filter, row);
  const wasOld = old !== null && matches(plan.filter, old);
  switch (c.changeType) {
    case 'insert':
      return isNew ? { changeType: 'insert', row, old: null } : null;
    case 'update':
      if (isNew && wasOld) return { changeType: 'update', row, old };
      if (isNew) return { changeType: 'insert', row, old: null };
      return wasOld ? { changeType: 'delete', row: { ...row, _deleted: true }, old } : null;
    case 'delete':
      return wasOld ? { changeType: 'delete', row: { ...row, _deleted: true }, old } : null;
  }
}
