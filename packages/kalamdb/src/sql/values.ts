/**
 * Planner-side values: the functions that need a clock or randomness (NOW(), SNOWFLAKE_ID(), UUID()) are replaced
 * by literals before a command is proposed, so every replica applies the same values; constant expressions are
 * folded into replicated `Value`s and coerced to the column's type.
 */
import { randomUUID } from 'node:crypto';
import { evaluate, isCarriedNumber, mapExpr, numberProblem, type Expr, type SqlValue } from '@kalam/sql';
import type { ColumnSchema, Value } from '../commands.js';
import { KalamError } from './errors.js';

/** What the planner functions read: the statement's timestamp and the engine's sequence. */
export interface PlannerClock {
  readonly at: number;
  readonly nextId: () => number;
}

/** The value of a planner function, or undefined when `name` is not one. */
export function plannerCall(name: string, clock: PlannerClock): Value | undefined {
  switch (name) {
    case 'NOW':
    case 'CURRENT_TIMESTAMP':
      return clock.at;
    case 'SNOWFLAKE_ID':
      return clock.nextId();
    case 'UUID':
      return randomUUID();
    default:
      return undefined;
  }
}

/** `expr` with every planner function call replaced by its literal value. */
export function foldPlannerCalls(expr: Expr, clock: PlannerClock): Expr {
  return mapExpr(expr, (e) => {
    if (e.kind !== 'call' || e.args.length > 0 || e.star) return undefined;
    const value = plannerCall(e.name, clock);
    return value === undefined ? undefined : { kind: 'literal', value };
  });
}

/** True when the expression reads a column. */
export function refersToColumns(expr: Expr): boolean {
  switch (expr.kind) {
    case 'column':
      return true;
    case 'literal':
    case 'param':
      return false;
    case 'binary':
      return refersToColumns(expr.left) || refersToColumns(expr.right);
    case 'not':
    case 'negate':
    case 'isNull':
      return refersToColumns(expr.expr);
    case 'in':
      return refersToColumns(expr.expr) || expr.list.some(refersToColumns);
    case 'like':
      return refersToColumns(expr.expr) || refersToColumns(expr.pattern);
    case 'call':
      return expr.args.some(refersToColumns);
  }
}

/** Every column name the expression reads. */
export function columnsOf(expr: Expr, out: string[] = []): string[] {
  switch (expr.kind) {
    case 'column':
      out.push(expr.name);
      break;
    case 'literal':
    case 'param':
      break;
    case 'binary':
      columnsOf(expr.left, out);
      columnsOf(expr.right, out);
      break;
    case 'not':
    case 'negate':
    case 'isNull':
      columnsOf(expr.expr, out);
      break;
    case 'in':
      columnsOf(expr.expr, out);
      for (const e of expr.list) columnsOf(e, out);
      break;
    case 'like':
      columnsOf(expr.expr, out);
      columnsOf(expr.pattern, out);
      break;
    case 'call':
      for (const e of expr.args) columnsOf(e, out);
      break;
  }
  return out;
}

/** A SQL value as a replicated Value: bigints become numbers when safe, else an INVALID_INPUT error. */
export function toValue(v: SqlValue): Value {
  if (typeof v !== 'bigint') return v;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new KalamError('INVALID_INPUT', `integer ${v} is beyond ±2^53`);
  return n;
}

/** A constant expression (no column references) folded to a value. */
export function constantValue(expr: Expr, what: string): Value {
  if (refersToColumns(expr)) {
    throw new KalamError('SQL_EXECUTION_ERROR', `${what} may not refer to columns (not supported yet)`);
  }
  return toValue(evaluate(expr, {}));
}

const INTEGER_TYPES: ReadonlySet<string> = new Set(['BIGINT', 'INT', 'SMALLINT']);

/**
 * A value coerced to the column's type where the conversion is exact: an ISO date string into a TIMESTAMP (ms since
 * the epoch), an integral numeric string into an integer column, 'true'/'false' and 0/1 into a BOOLEAN, a number into
 * TEXT. Anything else passes unchanged and the state machine's type check refuses it.
 *
 * The one gate of every value bound for a row, planned (INSERT values, constant SETs, function DEFAULTs) and applied
 * (the state machine's computed `SET n = n * n`, where the KalamError becomes the same refusal on every replica): a
 * number Kalam cannot carry exactly (`isCarriedNumber`: folded past 2^53, or to Infinity) is INVALID_INPUT, never a
 * row that no command or snapshot could encode afterwards.
 */
export function coerce(column: ColumnSchema, v: Value): Value {
  const out = coerceToType(column, v);
  if (typeof out === 'number' && !isCarriedNumber(out)) {
    throw new KalamError('INVALID_INPUT', `column ${column.name}: ${numberProblem(out)}`);
  }
  return out;
}

function coerceToType(column: ColumnSchema, v: Value): Value {
  if (v === null) return v;
  if (column.type === 'TIMESTAMP' && typeof v === 'string') {
    if (/^-?\d+$/.test(v)) {
      const ms = Number(v);
      if (!Number.isSafeInteger(ms))
        throw new KalamError('INVALID_INPUT', `column ${column.name}: ${v} is beyond ±2^53`);
      return ms;
    }
    const ms = Date.parse(v);
    if (Number.isNaN(ms))
      throw new KalamError('INVALID_INPUT', `column ${column.name}: ${JSON.stringify(v)} is not a timestamp`);
    return ms;
  }
  if (INTEGER_TYPES.has(column.type) && typeof v === 'string' && /^-?\d+$/.test(v)) {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new KalamError('INVALID_INPUT', `column ${column.name}: ${v} is beyond ±2^53`);
    return n;
  }
  if (column.type === 'BOOLEAN' && (v === 0 || v === 1)) return v === 1;
  if (column.type === 'BOOLEAN' && (v === 'true' || v === 'false')) return v === 'true';
  if ((column.type === 'TEXT' || column.type === 'JSON' || column.type === 'UUID') && typeof v === 'number')
    return String(v);
  return v;
}
