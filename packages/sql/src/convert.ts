/**
 * Conversion of node-sql-parser's expression nodes into Kalam's Expr. The library's AST is read as `unknown` and
 * narrowed here, so nothing of its shape reaches Kalam's types. Anything outside the dialect (CASE, CAST,
 * sub-queries, …) is an INVALID_SQL error at the node's location when the library gave one.
 */
import { BINARY_OPS, type BinaryOp, type Expr } from './ast.js';
import type { SqlError, SqlLimitName } from './errors.js';
import { SQL_LIMITS } from './limits.js';
import { isCarriedNumber } from './numbers.js';

export type LibNode = Record<string, unknown>;

export interface Converter {
  /** An INVALID_SQL error at a library offset (null: the statement's start). */
  fail(libOffset: number | null, message: string): SqlError;
  /** A LIMIT_EXCEEDED error for the bound `name` at a library offset (null: the statement's start). */
  limit(libOffset: number | null, name: SqlLimitName, what: string): SqlError;
  /** The value of the string literal the library was given the stand-in `standIn` for (dml.ts, prepare). */
  stringLiteral(standIn: string): string;
}

export function isNode(value: unknown): value is LibNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function nodes(value: unknown): LibNode[] {
  return Array.isArray(value) ? (value as unknown[]).filter(isNode) : [];
}

export function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export function locOffset(node: LibNode): number | null {
  const loc = node['loc'];
  const start = isNode(loc) ? loc['start'] : undefined;
  return isNode(start) && typeof start['offset'] === 'number' ? start['offset'] : null;
}

/**
 * The value of a number literal node (number, or the string forms `-1.5`, `1e3`, `1.5e2` of type bigint). The
 * library hands some literals over already rounded (-9223372036854775809 arrives as the number -2^63); a rounded
 * integer is never a safe one, so `isCarriedNumber` refuses those too.
 */
export function literalNumber(conv: Converter, node: LibNode): number {
  const raw = node['value'];
  const value = typeof raw === 'number' ? raw : Number(text(raw));
  if (!isCarriedNumber(value)) {
    throw conv.fail(locOffset(node), `number ${String(raw)} is out of range (Kalam keeps numbers within ±2^53)`);
  }
  return value;
}

const LIB_BINARY: Readonly<Record<string, BinaryOp>> = Object.fromEntries(BINARY_OPS.map((op) => [op, op]));

/** Converts one library expression node; `near` is the closest library offset known for error messages. */
export function convertExpr(conv: Converter, value: unknown, near: number | null, depth = 0): Expr {
  if (!isNode(value)) throw conv.fail(near, 'unsupported expression');
  if (value['ast'] !== undefined) throw conv.fail(locOffset(value) ?? near, 'sub-queries are not supported');
  const at = locOffset(value) ?? near;
  if (depth > SQL_LIMITS.exprDepthMax) throw conv.limit(at, 'exprDepthMax', 'an expression nested too deeply');
  const sub = (child: unknown): Expr => convertExpr(conv, child, at, depth + 1);
  const type = text(value['type']);
  switch (type) {
    case 'number':
    case 'bigint':
      return { kind: 'literal', value: literalNumber(conv, value) };
    case 'single_quote_string':
      // A stand-in: the lexer has read (and unescaped) the literal itself.
      return { kind: 'literal', value: conv.stringLiteral(text(value['value'])) };
    case 'bool':
      return { kind: 'literal', value: value['value'] === true };
    case 'null':
      return { kind: 'literal', value: null };
    case 'column_ref':
      return convertColumn(conv, value, at);
    case 'var':
      return convertParam(conv, value, at);
    case 'unary_expr':
      return convertUnary(conv, value, at, sub);
    case 'binary_expr':
      return convertBinary(conv, value, at, sub);
    case 'function':
    case 'aggr_func':
      return convertCall(conv, value, at, sub);
    default:
      throw conv.fail(at, `unsupported expression (${type === '' ? 'unknown' : type.replaceAll('_', ' ')})`);
  }
}

function identifierOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (!isNode(value)) return null;
  const inner = isNode(value['expr']) ? value['expr'] : value;
  return typeof inner['value'] === 'string' ? inner['value'] : null;
}

function convertColumn(conv: Converter, node: LibNode, at: number | null): Expr {
  const name = identifierOf(node['column']);
  if (name === null || name === '*') throw conv.fail(at, '* is only allowed as a whole select list or in COUNT(*)');
  const table = node['table'] === null ? null : identifierOf(node['table']);
  return { kind: 'column', table, name };
}

function convertParam(conv: Converter, node: LibNode, at: number | null): Expr {
  const index = node['name'];
  const members = node['members'];
  const ok = node['prefix'] === '$' && typeof index === 'number' && Array.isArray(members) && members.length === 0;
  if (!ok || index < 1 || index > SQL_LIMITS.paramsMax) throw conv.fail(at, 'placeholders are $1 … $N or ?');
  return { kind: 'param', index };
}

function convertUnary(conv: Converter, node: LibNode, at: number | null, sub: (child: unknown) => Expr): Expr {
  const operator = text(node['operator']).toUpperCase();
  const expr = sub(node['expr']);
  if (operator === 'NOT') return { kind: 'not', expr };
  if (operator === '-') {
    if (expr.kind === 'literal' && typeof expr.value === 'number') return { kind: 'literal', value: -expr.value };
    return { kind: 'negate', expr };
  }
  if (operator === '+') return expr;
  throw conv.fail(at, `unsupported operator ${operator}`);
}

function convertBinary(conv: Converter, node: LibNode, at: number | null, sub: (child: unknown) => Expr): Expr {
  const operator = text(node['operator']).toUpperCase();
  const left = sub(node['left']);
  const right = node['right'];
  switch (operator) {
    case 'IS':
    case 'IS NOT': {
      if (!isNode(right) || right['type'] !== 'null') throw conv.fail(at, 'only IS [NOT] NULL is supported');
      return { kind: 'isNull', expr: left, negated: operator === 'IS NOT' };
    }
    case 'IN':
    case 'NOT IN': {
      if (!isNode(right) || right['type'] !== 'expr_list') throw conv.fail(at, 'IN takes a list of values');
      const list = (Array.isArray(right['value']) ? (right['value'] as unknown[]) : []).map(sub);
      return { kind: 'in', expr: left, list, negated: operator === 'NOT IN' };
    }
    case 'LIKE':
    case 'NOT LIKE':
      return { kind: 'like', expr: left, pattern: sub(right), negated: operator === 'NOT LIKE' };
    default: {
      const op = LIB_BINARY[operator];
      if (op === undefined) throw conv.fail(at, `unsupported operator ${operator}`);
      return { kind: 'binary', op, left, right: sub(right) };
    }
  }
}

function convertCall(conv: Converter, node: LibNode, at: number | null, sub: (child: unknown) => Expr): Expr {
  if (node['over'] !== null && node['over'] !== undefined) throw conv.fail(at, 'window functions are not supported');
  const nameNode = node['name'];
  const parts = isNode(nameNode) ? nodes(nameNode['name']) : [];
  const rawName = typeof nameNode === 'string' ? nameNode : parts.length === 1 ? identifierOf(parts[0]) : null;
  if (rawName === null) throw conv.fail(at, 'unsupported function name');
  const name = rawName.toUpperCase();
  const args = node['args'];
  if (node['type'] === 'aggr_func') {
    const inner = isNode(args) ? args['expr'] : undefined;
    if (isNode(args) && args['distinct'] !== null && args['distinct'] !== undefined) {
      throw conv.fail(at, `${name}(DISTINCT …) is not supported`);
    }
    if (isNode(inner) && inner['type'] === 'star') return { kind: 'call', name, args: [], star: true };
    return { kind: 'call', name, args: inner === undefined || inner === null ? [] : [sub(inner)], star: false };
  }
  const list = isNode(args) && Array.isArray(args['value']) ? (args['value'] as unknown[]) : [];
  return { kind: 'call', name, args: list.map(sub), star: false };
}
