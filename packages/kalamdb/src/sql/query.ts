/**
 * SELECT over rows already read from local state: WHERE (the sql package's `matches`), ORDER BY (`compare`, NULLs
 * last ascending and first descending, as PostgreSQL), OFFSET/LIMIT, then projection with aliases. With GROUP BY, or
 * aggregates (COUNT, SUM, MIN, MAX, AVG) in the select list, rows are grouped (one group of all rows without GROUP
 * BY), HAVING filters the groups, and each group gives one row; a column outside an aggregate must be a GROUP BY
 * column (PostgreSQL's rule). Rows arrive in primary-key order and sorts are stable, so groups and equal keys keep
 * that order.
 */
import {
  compare,
  evaluate,
  mapExpr,
  matches,
  type Expr,
  type Select,
  type SelectItem,
  type SqlValue,
} from '@kalam/sql';
import type { Value } from '../commands.js';
import type { StatementBudget } from './budget.js';
import { KalamError } from './errors.js';
import { dataTypeName, typeOfValue } from './schema.js';
import type { ColumnInfo, QueryResult } from './types.js';
import { columnsOf, toValue } from './values.js';

export interface RelationColumn {
  readonly name: string;
  /** The SQL type (BIGINT, TEXT, …). */
  readonly type: string;
}

/** What a SELECT reads: the columns `*` expands to, columns selectable only by name (`_seq`), and the rows. */
export interface Relation {
  readonly name: string;
  readonly columns: readonly RelationColumn[];
  readonly hidden: readonly RelationColumn[];
  readonly rows: readonly Readonly<Record<string, Value>>[];
}

const AGGREGATES: ReadonlySet<string> = new Set(['COUNT', 'SUM', 'MIN', 'MAX', 'AVG']);

function isAggregate(expr: Expr): boolean {
  return expr.kind === 'call' && AGGREGATES.has(expr.name);
}

function containsAggregate(expr: Expr): boolean {
  if (isAggregate(expr)) return true;
  if (expr.kind === 'call') return expr.args.some(containsAggregate);
  if (expr.kind === 'binary') return containsAggregate(expr.left) || containsAggregate(expr.right);
  return false;
}

function checkColumns(
  rel: Pick<Relation, 'name' | 'columns' | 'hidden'>,
  exprs: readonly Expr[],
  extra: readonly string[] = [],
): void {
  const known = new Set([...rel.columns, ...rel.hidden].map((c) => c.name).concat(extra));
  for (const name of exprs.flatMap((e) => columnsOf(e))) {
    if (!known.has(name)) throw new KalamError('SQL_EXECUTION_ERROR', `column ${name} does not exist in ${rel.name}`);
  }
}

function label(item: SelectItem, index: number): string {
  if (item.alias !== null) return item.alias;
  const e = item.expr;
  if (e.kind === 'column') return e.name;
  if (e.kind === 'call') {
    const args = e.star ? '*' : e.args.map((a) => (a.kind === 'column' ? a.name : '…')).join(', ');
    return `${e.name}(${args})`;
  }
  return `expr${index + 1}`;
}

function typeOf(rel: Pick<Relation, 'columns' | 'hidden'>, expr: Expr, sample: Value): string {
  const column = (name: string) => [...rel.columns, ...rel.hidden].find((c) => c.name === name)?.type;
  if (expr.kind === 'column') return column(expr.name) ?? typeOfValue(sample);
  if (expr.kind === 'call' && expr.name === 'COUNT') return 'BIGINT';
  if (expr.kind === 'call' && expr.name === 'AVG') return 'DOUBLE';
  if (expr.kind === 'call' && ['MIN', 'MAX', 'SUM'].includes(expr.name) && expr.args[0]?.kind === 'column') {
    return column(expr.args[0].name) ?? typeOfValue(sample);
  }
  return typeOfValue(sample);
}

type Row = Readonly<Record<string, Value>>;

async function aggregate(budget: StatementBudget, expr: Expr & { kind: 'call' }, rows: readonly Row[]): Promise<Value> {
  if (expr.name === 'COUNT' && expr.star) return rows.length;
  const [arg] = expr.args;
  if (arg === undefined || expr.args.length !== 1)
    throw new KalamError('INVALID_SQL', `${expr.name} takes one argument`);
  const evaluated = await mapRows(budget, rows, (r) => evaluate(arg, r));
  const values = evaluated.filter((v): v is Exclude<SqlValue, null> => v !== null);
  switch (expr.name) {
    case 'COUNT':
      return values.length;
    case 'MIN':
    case 'MAX': {
      const sign = expr.name === 'MIN' ? -1 : 1;
      const best = values.reduce<SqlValue>(
        (acc, v) => (acc === null || (compare(v, acc) ?? 0) * sign > 0 ? v : acc),
        null,
      );
      return toValue(best);
    }
    default: {
      const nums = values.map(Number).filter((n) => Number.isFinite(n));
      if (nums.length === 0) return null;
      const sum = nums.reduce((a, b) => a + b, 0);
      return expr.name === 'SUM' ? sum : sum / nums.length;
    }
  }
}

function orderKeys(stmt: Select, aliases: ReadonlyMap<string, Expr>): Expr[] {
  return stmt.orderBy.map((o) => (o.expr.kind === 'column' ? (aliases.get(o.expr.name) ?? o.expr) : o.expr));
}

/** Sorts `items` in place by ORDER BY, given each item's key values; stable. */
function sortByKeys<T>(stmt: Select, items: T[], keysOf: (item: T) => SqlValue[]): void {
  if (stmt.orderBy.length === 0) return;
  const keyed = items.map((item, i) => ({ item, i, keys: keysOf(item) }));
  keyed.sort((a, b) => {
    for (const [k, o] of stmt.orderBy.entries()) {
      const x = a.keys[k] ?? null;
      const y = b.keys[k] ?? null;
      const desc = o.direction === 'DESC';
      // NULLs sort as the greatest value: last ascending, first descending (PostgreSQL's default).
      const order = x === null ? (y === null ? 0 : 1) : y === null ? -1 : (compare(x, y) ?? 0);
      if (order !== 0) return desc ? -order : order;
    }
    return a.i - b.i;
  });
  keyed.forEach((k, i) => (items[i] = k.item));
}

/**
 * PostgreSQL's rule: outside aggregates, an expression may use only GROUP BY columns — or be a GROUP BY expression
 * itself.
 */
function checkGrouping(stmt: Select, exprs: readonly Expr[]): void {
  const groupColumns = new Set(stmt.groupBy.flatMap((g) => (g.kind === 'column' ? [g.name] : [])));
  const groupExprs = new Set(stmt.groupBy.map((g) => JSON.stringify(g)));
  for (const e of exprs) {
    if (groupExprs.has(JSON.stringify(e))) continue;
    const outside = mapExpr(e, (x) =>
      x.kind === 'call' && isAggregate(x) ? { kind: 'literal', value: null } : undefined,
    );
    for (const name of columnsOf(outside)) {
      if (!groupColumns.has(name)) {
        throw new KalamError(
          'SQL_EXECUTION_ERROR',
          `column ${name} must appear in the GROUP BY clause or be used in an aggregate function`,
        );
      }
    }
  }
}

/** `fn` over every item, spending the budget once per item and yielding when it says so. */
async function mapRows<T, U>(budget: StatementBudget, items: readonly T[], fn: (item: T) => U): Promise<U[]> {
  const out: U[] = [];
  for (const item of items) {
    if (budget.spend()) await budget.yield();
    out.push(fn(item));
  }
  return out;
}

/** Every aggregate call in `expr`, outermost first. */
function aggregateCalls(expr: Expr): (Expr & { kind: 'call' })[] {
  const calls: (Expr & { kind: 'call' })[] = [];
  mapExpr(expr, (e) => {
    if (e.kind !== 'call' || !isAggregate(e)) return undefined;
    calls.push(e);
    return e; // an aggregate's arguments hold no aggregate (checked by the caller's grouping rules)
  });
  return calls;
}

/** `expr` over one group: each aggregate computed over the group's rows (under the budget), the rest from its first row. */
async function evaluateInGroup(budget: StatementBudget, expr: Expr, rows: readonly Row[]): Promise<SqlValue> {
  const values = new Map<Expr, Value>();
  for (const call of aggregateCalls(expr)) values.set(call, await aggregate(budget, call, rows));
  const folded = mapExpr(expr, (e) => {
    const value = values.get(e);
    return value === undefined ? undefined : { kind: 'literal', value };
  });
  return evaluate(folded, rows[0] ?? {});
}

/** GROUP BY (or a lone aggregate row): one output row per group that passes HAVING, sorted, paged. */
async function groupedRows(
  budget: StatementBudget,
  stmt: Select,
  items: readonly SelectItem[],
  rows: readonly Row[],
  aliases: ReadonlyMap<string, Expr>,
): Promise<Value[][]> {
  const keys = orderKeys(stmt, aliases);
  checkGrouping(stmt, [...items.map((it) => it.expr), ...(stmt.having === null ? [] : [stmt.having]), ...keys]);
  const groups = new Map<string, Row[]>();
  if (stmt.groupBy.length === 0) groups.set('', [...rows]);
  const groupKeys = await mapRows(budget, stmt.groupBy.length === 0 ? [] : rows, (r) =>
    JSON.stringify(stmt.groupBy.map((g) => keyPart(evaluate(g, r)))),
  );
  groupKeys.forEach((key, i) => {
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [rows[i]!]);
    else group.push(rows[i]!);
  });
  let list = [...groups.values()];
  const having = stmt.having;
  if (having !== null) {
    const kept: Row[][] = [];
    for (const g of list) if ((await evaluateInGroup(budget, having, g)) === true) kept.push(g);
    list = kept;
  }
  const sortKeys = new Map<Row[], SqlValue[]>();
  for (const g of list) {
    const values: SqlValue[] = [];
    for (const e of keys) values.push(await evaluateInGroup(budget, e, g));
    sortKeys.set(g, values);
  }
  sortByKeys(stmt, list, (g) => sortKeys.get(g) ?? []);
  const paged = page(stmt, list);
  budget.checkResultRows(paged.length);
  const out: Value[][] = [];
  for (const g of paged) {
    const row: Value[] = [];
    for (const it of items) row.push(toValue(await evaluateInGroup(budget, it.expr, g)));
    out.push(row);
  }
  return out;
}

/** A group key part: bigints spelled out (JSON has none), every other value as it is. */
function keyPart(v: SqlValue): string | number | boolean | null {
  return typeof v === 'bigint' ? `${v}n` : v;
}

function page<T>(stmt: Select, rows: readonly T[]): T[] {
  const from = stmt.offset ?? 0;
  return rows.slice(from, stmt.limit === null ? undefined : from + stmt.limit);
}

/**
 * The rows that pass WHERE. Without ORDER BY the result is a prefix of them: the scan stops once it holds
 * OFFSET + LIMIT rows, and fails as soon as it holds more than a result may.
 */
async function filterRows(
  budget: StatementBudget,
  stmt: Select,
  rows: readonly Row[],
  grouped: boolean,
): Promise<Row[]> {
  const offset = stmt.offset ?? 0;
  const prefix = !grouped && stmt.orderBy.length === 0;
  const enough = prefix && stmt.limit !== null ? offset + stmt.limit : Infinity;
  const kept: Row[] = [];
  await budget.start();
  for (const r of rows) {
    if (kept.length >= enough) break;
    if (budget.spend()) await budget.yield();
    if (!matches(stmt.where, r)) continue;
    kept.push(r);
    if (prefix) budget.checkResultRows(kept.length - offset);
  }
  return kept;
}

/**
 * The checks of a SELECT that need no row — every column it names exists in `rel`, no aggregate in WHERE or GROUP
 * BY — with its select list expanded, its output aliases and whether it is grouped. runSelect makes them first; a
 * caller that reads rows its own way makes them before it reads, so that its errors come in runSelect's order.
 */
export function checkSelect(
  stmt: Select,
  rel: Pick<Relation, 'name' | 'columns' | 'hidden'>,
): { items: SelectItem[]; aliases: Map<string, Expr>; grouped: boolean } {
  const items: SelectItem[] = stmt.columns.flatMap((c) =>
    c === '*'
      ? rel.columns.map((col) => ({ expr: { kind: 'column', table: null, name: col.name } as const, alias: null }))
      : [c],
  );
  const aliases = new Map(items.flatMap((it) => (it.alias === null ? [] : [[it.alias, it.expr] as const])));
  checkColumns(rel, [...items.map((i) => i.expr), ...(stmt.where === null ? [] : [stmt.where])]);
  checkColumns(
    rel,
    stmt.orderBy.map((o) => o.expr),
    [...aliases.keys()],
  );
  // GROUP BY and HAVING name table columns, as PostgreSQL's HAVING does (no output aliases there).
  checkColumns(rel, [...stmt.groupBy, ...(stmt.having === null ? [] : [stmt.having])]);
  if (stmt.where !== null && containsAggregate(stmt.where)) {
    throw new KalamError('INVALID_SQL', 'aggregates are not allowed in WHERE');
  }
  if (stmt.groupBy.some(containsAggregate))
    throw new KalamError('INVALID_SQL', 'aggregates are not allowed in GROUP BY');
  const grouped = stmt.groupBy.length > 0 || stmt.having !== null || items.some((it) => containsAggregate(it.expr));
  return { items, aliases, grouped };
}

/**
 * Runs a (bound, planner-folded) SELECT over `rel`, under `budget`: the evaluation yields to the event loop between
 * slices, and fails with LIMIT_EXCEEDED past its time budget or when the result would hold too many rows.
 */
export async function runSelect(stmt: Select, rel: Relation, budget: StatementBudget): Promise<QueryResult> {
  const { items, aliases, grouped } = checkSelect(stmt, rel);
  const filtered = await filterRows(budget, stmt, rel.rows, grouped);
  let out: Value[][];
  if (grouped) {
    out = await groupedRows(budget, stmt, items, filtered, aliases);
  } else {
    const keys = orderKeys(stmt, aliases);
    const sortKeys = await mapRows(budget, keys.length === 0 ? [] : filtered, (r) => keys.map((e) => evaluate(e, r)));
    const keyed = filtered.map((r, i) => ({ r, keys: sortKeys[i] ?? [] }));
    sortByKeys(stmt, keyed, (k) => k.keys);
    const paged = page(stmt, keyed);
    budget.checkResultRows(paged.length);
    out = await mapRows(budget, paged, ({ r }) => items.map((it) => toValue(evaluate(it.expr, r))));
  }
  const schema: ColumnInfo[] = items.map((it, index) => ({
    name: label(it, index),
    data_type: dataTypeName(typeOf(rel, it.expr, out.find((r) => r[index] !== null)?.[index] ?? null)),
    index,
  }));
  return { schema, rows: out, row_count: out.length };
}
