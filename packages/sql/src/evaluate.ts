/**
 * evaluate: a deterministic evaluator of expressions over one row, for WHERE filters inside state machines.
 *
 * SQL three-valued logic: NULL is "unknown"; comparisons with NULL are NULL; AND/OR/NOT follow Kleene's tables; a
 * filter keeps a row only when the result is exactly `true` (see `matches`). Values compare within their kind
 * (numbers and bigints numerically, strings by UTF-16 code units — never locale-dependent, booleans false < true);
 * a number against a numeric string compares numerically; any other mix is NULL. Arithmetic on NULL is NULL and
 * division by zero is NULL (as SQLite does). Only deterministic functions exist here: NOW() and the like are
 * resolved by the planner before a command is proposed.
 */
import { assertNever, type Expr } from './ast.js';
import { SqlError } from './errors.js';
import { SQL_LIMITS } from './limits.js';
import { paramToLiteral } from './params.js';

/** What evaluate returns: a SQL value, NULL as null. */
export type SqlValue = string | number | bigint | boolean | null;

export function evaluate(expr: Expr, row: Readonly<Record<string, unknown>>, params?: readonly unknown[]): SqlValue {
  return evalExpr(expr, row, params ?? [], 0);
}

/** True when the filter holds for the row (NULL and false both reject); a null filter keeps every row. */
export function matches(
  filter: Expr | null,
  row: Readonly<Record<string, unknown>>,
  params?: readonly unknown[],
): boolean {
  return filter === null || evaluate(filter, row, params) === true;
}

function evalExpr(
  expr: Expr,
  row: Readonly<Record<string, unknown>>,
  params: readonly unknown[],
  depth: number,
): SqlValue {
  if (depth > SQL_LIMITS.exprDepthMax) throw new SqlError('INVALID_SQL', 'expression nested too deeply');
  const sub = (child: Expr): SqlValue => evalExpr(child, row, params, depth + 1);
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'column':
      return Object.hasOwn(row, expr.name) ? toSqlValue(row[expr.name]) : null;
    case 'param': {
      if (expr.index > params.length) throw new SqlError('INVALID_SQL', `no value for parameter $${expr.index}`);
      return paramToLiteral(params[expr.index - 1], expr.index);
    }
    case 'binary':
      return evalBinary(expr.op, expr.left, expr.right, sub);
    case 'not':
      return not(truth(sub(expr.expr)));
    case 'negate':
      return arithmetic('-', 0, sub(expr.expr));
    case 'isNull':
      return (sub(expr.expr) === null) !== expr.negated;
    case 'in':
      return evalIn(sub(expr.expr), expr.list.map(sub), expr.negated);
    case 'like':
      return evalLike(sub(expr.expr), sub(expr.pattern), expr.negated);
    case 'call':
      return evalCall(expr.name, expr.args.map(sub));
    default:
      return assertNever(expr);
  }
}

/** Row values as SQL values: undefined is NULL, Uint8Array and objects compare by their JSON text. */
function toSqlValue(value: unknown): SqlValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') return value;
  if (typeof value === 'boolean') return value;
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value) ?? null;
}

/** The truth value of a SQL value: booleans as they are, numbers non-zero, NULL and anything else unknown. */
function truth(value: SqlValue): boolean | null {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'bigint') return value !== 0n;
  return null;
}

function not(value: boolean | null): boolean | null {
  return value === null ? null : !value;
}

function evalBinary(
  op: Extract<Expr, { kind: 'binary' }>['op'],
  left: Expr,
  right: Expr,
  sub: (child: Expr) => SqlValue,
): SqlValue {
  switch (op) {
    case 'AND': {
      const l = truth(sub(left));
      if (l === false) return false;
      const r = truth(sub(right));
      if (r === false) return false;
      return l === null || r === null ? null : true;
    }
    case 'OR': {
      const l = truth(sub(left));
      if (l === true) return true;
      const r = truth(sub(right));
      if (r === true) return true;
      return l === null || r === null ? null : false;
    }
    case '+':
    case '-':
    case '*':
    case '/':
      return arithmetic(op, sub(left), sub(right));
    case '=':
    case '!=':
    case '<>':
    case '<':
    case '<=':
    case '>':
    case '>=':
      return comparison(op, compare(sub(left), sub(right)));
    default:
      return assertNever(op);
  }
}

function comparison(op: '=' | '!=' | '<>' | '<' | '<=' | '>' | '>=', order: number | null): boolean | null {
  if (order === null) return null;
  switch (op) {
    case '=':
      return order === 0;
    case '!=':
    case '<>':
      return order !== 0;
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
    default:
      return assertNever(op);
  }
}

function asNumeric(value: SqlValue): number | bigint | null {
  if (typeof value === 'number' || typeof value === 'bigint') return value;
  if (typeof value !== 'string' || value.trim() === '') return null;
  const asNumber = Number(value);
  if (!Number.isFinite(asNumber)) return null;
  // An integer beyond 2^53 (a bigint parameter arrives as its decimal string) stays exact.
  return /^\s*-?\d+\s*$/.test(value) && !Number.isSafeInteger(asNumber) ? BigInt(value.trim()) : asNumber;
}

function compareNumeric(a: number | bigint, b: number | bigint): number {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'bigint' && Number.isInteger(b)) return compareNumeric(a, BigInt(b));
  if (typeof b === 'bigint' && Number.isInteger(a)) return compareNumeric(BigInt(a), b);
  const x = Number(a);
  const y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** -1, 0 or 1; null when either side is NULL or the kinds cannot be compared. */
export function compare(a: SqlValue, b: SqlValue): number | null {
  if (a === null || b === null) return null;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (typeof a === 'boolean' || typeof b === 'boolean') return null;
  const x = asNumeric(a);
  const y = asNumeric(b);
  return x === null || y === null ? null : compareNumeric(x, y);
}

function arithmetic(op: '+' | '-' | '*' | '/', a: SqlValue, b: SqlValue): SqlValue {
  const x = asNumeric(a);
  const y = asNumeric(b);
  if (x === null || y === null) return null;
  if (typeof x === 'bigint' || typeof y === 'bigint') {
    const bx = typeof x === 'bigint' ? x : Number.isInteger(x) ? BigInt(x) : null;
    const by = typeof y === 'bigint' ? y : Number.isInteger(y) ? BigInt(y) : null;
    if (bx !== null && by !== null) {
      if (op === '/') return by === 0n ? null : bx / by;
      return op === '+' ? bx + by : op === '-' ? bx - by : bx * by;
    }
  }
  const nx = Number(x);
  const ny = Number(y);
  switch (op) {
    case '+':
      return nx + ny;
    case '-':
      return nx - ny;
    case '*':
      return nx * ny;
    case '/':
      return ny === 0 ? null : nx / ny;
    default:
      return assertNever(op);
  }
}

function evalIn(value: SqlValue, list: readonly SqlValue[], negated: boolean): boolean | null {
  if (value === null) return null;
  let sawNull = false;
  for (const item of list) {
    const order = compare(value, item);
    if (order === 0) return !negated;
    if (order === null) sawNull = true;
  }
  return sawNull ? null : negated;
}

/** LIKE patterns split into code points, by pattern. */
const likeCache = new Map<string, readonly string[]>();

function likePattern(pattern: string): readonly string[] {
  const cached = likeCache.get(pattern);
  if (cached !== undefined) return cached;
  const points = Array.from(pattern);
  if (likeCache.size >= SQL_LIMITS.likeCacheEntriesMax) likeCache.clear();
  likeCache.set(pattern, points);
  return points;
}

/**
 * Whether `text` matches `pattern` (code points; % any run, _ exactly one). Greedy with one backtrack point — the
 * last % — so the work is at most O(text × pattern): a backtracking regex took 85 ms for '%a%a%a%a%a%a%a%a%b'
 * against 30 a's, and grows as the eighth power of the text (minutes at 60), past any time budget, in apply too.
 */
function likeMatch(text: readonly string[], pattern: readonly string[]): boolean {
  let t = 0;
  let p = 0;
  let star = -1;
  let resumeAt = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '_' || (pattern[p] !== '%' && pattern[p] === text[t]))) {
      t++;
      p++;
    } else if (p < pattern.length && pattern[p] === '%') {
      star = p++;
      resumeAt = t;
    } else if (star !== -1) {
      p = star + 1;
      t = ++resumeAt;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '%') p++;
  return p === pattern.length;
}

/** LIKE is case-sensitive (as in PostgreSQL); % matches any run of characters, _ exactly one. No ESCAPE. */
function evalLike(value: SqlValue, pattern: SqlValue, negated: boolean): boolean | null {
  if (value === null || pattern === null) return null;
  const matched = likeMatch(Array.from(String(value)), likePattern(String(pattern)));
  return matched !== negated;
}

function evalCall(name: string, args: readonly SqlValue[]): SqlValue {
  const fn = ROW_FUNCTIONS.get(name);
  if (fn === undefined) throw new SqlError('INVALID_SQL', `function ${name} cannot be used in a filter`);
  if (args.length < fn.argsMin || args.length > fn.argsMax) throw new SqlError('INVALID_SQL', arityMessage(name, fn));
  return fn.call(args);
}

/** A function a row expression may call: its arity and its (deterministic) definition. */
export interface RowFunction {
  readonly argsMin: number;
  readonly argsMax: number;
  readonly call: (args: readonly SqlValue[]) => SqlValue;
}

function arityMessage(name: string, fn: RowFunction): string {
  const n = fn.argsMin === fn.argsMax ? `${fn.argsMin}` : `${fn.argsMin} to ${fn.argsMax}`;
  return `${name} takes ${n} argument${fn.argsMax === 1 ? '' : 's'}`;
}

const unary = (f: (v: Exclude<SqlValue, null>) => SqlValue): RowFunction => ({
  argsMin: 1,
  argsMax: 1,
  call: ([v]) => (v === null || v === undefined ? null : f(v)),
});

/**
 * The functions of row expressions (filters, SET expressions) — the one list both the evaluator and `checkExpr`
 * read, so a statement is refused when it is planned for exactly the calls that apply could not evaluate.
 */
export const ROW_FUNCTIONS: ReadonlyMap<string, RowFunction> = new Map<string, RowFunction>([
  ['LOWER', unary((v) => String(v).toLowerCase())],
  ['UPPER', unary((v) => String(v).toUpperCase())],
  ['LENGTH', unary((v) => [...String(v)].length)],
  [
    'ABS',
    unary((v) => {
      const n = asNumeric(v);
      if (n === null) return null;
      return typeof n === 'bigint' ? (n < 0n ? -n : n) : Math.abs(n);
    }),
  ],
  [
    'COALESCE',
    { argsMin: 1, argsMax: SQL_LIMITS.functionArgsMax, call: (args) => args.find((arg) => arg !== null) ?? null },
  ],
]);

export function rowFunctionArityMessage(name: string): string | null {
  const fn = ROW_FUNCTIONS.get(name);
  return fn === undefined ? null : arityMessage(name, fn);
}
