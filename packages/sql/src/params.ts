/**
 * bindParams: replaces the placeholders of a statement ($1 … $N, or the n-th ?) with literals. The placeholders used
 * must be exactly 1 … params.length, so a missing or an extra parameter is an INVALID_SQL error rather than a silent
 * NULL.
 */
import { mapExpr } from './map-expr.js';
import type { Expr, LiteralValue, SelectItem, Statement } from './ast.js';
import { assertNever } from './ast.js';
import { SqlError } from './errors.js';
import { SQL_LIMITS } from './limits.js';
import { isCarriedNumber, numberProblem } from './numbers.js';

/**
 * A parameter as a literal: strings, booleans and null as they are; numbers Kalam carries exactly (numbers.ts) as
 * they are; bigint as a number when it fits (else as its decimal string); Date as its ISO string; arrays and plain
 * objects, nested at most SQL_LIMITS.paramDepthMax deep, as JSON text. A JSON number past 2^53 is refused rather
 * than taken: JSON.parse has already rounded it, so the value the client meant is gone (send it as a string).
 */
export function paramToLiteral(value: unknown, index: number): LiteralValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!isCarriedNumber(value)) throw new SqlError('INVALID_SQL', `parameter $${index}: ${numberProblem(value)}`);
    return value;
  }
  if (typeof value === 'bigint') {
    const asNumber = Number(value);
    return Number.isSafeInteger(asNumber) ? asNumber : value.toString();
  }
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') {
    if (nestedDeeperThan(value, SQL_LIMITS.paramDepthMax)) {
      throw new SqlError('INVALID_SQL', `parameter $${index} is nested deeper than ${SQL_LIMITS.paramDepthMax} levels`);
    }
    return JSON.stringify(value);
  }
  throw new SqlError('INVALID_SQL', `parameter $${index} has an unsupported type (${typeof value})`);
}

/**
 * True when arrays and objects inside `value` nest more than `maxDepth` levels (`value` itself is level 1).
 * Iterative, with an explicit stack, so a hostile nesting cannot overflow the call stack while being measured;
 * it stops at the first container past the bound, so its cost is bounded by what it has to look at.
 */
function nestedDeeperThan(value: object, maxDepth: number): boolean {
  const stack: { readonly node: object; readonly depth: number }[] = [{ node: value, depth: 1 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (item.depth > maxDepth) return true;
    for (const child of Object.values(item.node)) {
      if (typeof child === 'object' && child !== null) stack.push({ node: child as object, depth: item.depth + 1 });
    }
  }
  return false;
}

export function bindParams(stmt: Statement, params: readonly unknown[]): Statement {
  const used = new Set<number>();
  const bind = (expr: Expr): Expr => bindExpr(expr, params, used);
  const bound = bindStatement(stmt, bind);
  const expected = params.length;
  const outOfRange = [...used].filter((index) => index > expected);
  const missing = Array.from({ length: expected }, (_, i) => i + 1).filter((index) => !used.has(index));
  if (outOfRange.length > 0 || missing.length > 0) {
    throw new SqlError(
      'INVALID_SQL',
      `the statement uses ${used.size} placeholder(s) but ${expected} parameter(s) were given`,
    );
  }
  return bound;
}

function bindExpr(expr: Expr, params: readonly unknown[], used: Set<number>): Expr {
  return mapExpr(expr, (e) => {
    if (e.kind !== 'param') return undefined;
    used.add(e.index);
    if (e.index > params.length) return e;
    return { kind: 'literal', value: paramToLiteral(params[e.index - 1], e.index) };
  });
}

function bindStatement(stmt: Statement, bind: (expr: Expr) => Expr): Statement {
  const where = (expr: Expr | null): Expr | null => (expr === null ? null : bind(expr));
  switch (stmt.kind) {
    case 'Insert':
      return { ...stmt, rows: stmt.rows.map((row) => row.map(bind)) };
    case 'Update':
      return {
        ...stmt,
        assignments: stmt.assignments.map((a) => ({ column: a.column, value: bind(a.value) })),
        where: where(stmt.where),
      };
    case 'Delete':
      return { ...stmt, where: where(stmt.where) };
    case 'Select':
      return {
        ...stmt,
        columns: stmt.columns.map((c): '*' | SelectItem => (c === '*' ? c : { expr: bind(c.expr), alias: c.alias })),
        where: where(stmt.where),
        groupBy: stmt.groupBy.map(bind),
        having: where(stmt.having),
        orderBy: stmt.orderBy.map((o) => ({ expr: bind(o.expr), direction: o.direction })),
      };
    case 'SubscribeTo':
      return { ...stmt, where: where(stmt.where) };
    case 'ExecuteAsUser':
      return { ...stmt, statement: bindStatement(stmt.statement, bind) };
    case 'CreateNamespace':
    case 'DropNamespace':
    case 'ShowNamespaces':
    case 'Use':
    case 'CreateTable':
    case 'DropTable':
    case 'ShowTables':
    case 'DescribeTable':
    case 'AlterTableAddColumn':
    case 'CreateUser':
    case 'AlterUser':
    case 'DropUser':
    case 'CreateStorage':
    case 'DropStorage':
    case 'ShowStorages':
    case 'FlushTable':
    case 'FlushAllTables':
    case 'KillJob':
    case 'CreateSchedule':
    case 'DropSchedule':
    case 'ShowSchedules':
    case 'KillLiveQuery':
    case 'AlterClusterRemoveNode':
      return stmt;
    default:
      return assertNever(stmt);
  }
}
