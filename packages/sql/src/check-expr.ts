/**
 * checkRowExpr: the one definition of what a row expression — a WHERE filter or a `SET column = expression` that a
 * replicated command carries — may hold. The planner calls it before proposing, the state machines again on every
 * decoded command, so a statement is refused when it is planned for exactly the expressions that apply could not
 * evaluate: known node kinds only, functions of ROW_FUNCTIONS with their arity, no unbound parameters, finite
 * numbers, nesting within SQL_LIMITS.exprDepthMax and at most SQL_LIMITS.exprNodesMax nodes. It takes what JSON
 * decoding gave (`unknown`) and returns it typed.
 */
import { BINARY_OPS, type Expr } from './ast.js';
import { SqlError } from './errors.js';
import { ROW_FUNCTIONS, rowFunctionArityMessage } from './evaluate.js';
import { SQL_LIMITS } from './limits.js';
import { isCarriedNumber } from './numbers.js';

const OPS: ReadonlySet<string> = new Set(BINARY_OPS);

function invalid(what: string, message: string): SqlError {
  return new SqlError('INVALID_SQL', `${what}: ${message}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Returns `value` as an Expr when it is a valid row expression; throws SqlError (INVALID_SQL) naming `what`. */
export function checkRowExpr(value: unknown, what: string): Expr {
  let nodes = 0;
  const walk = (v: unknown, depth: number): void => {
    if (depth > SQL_LIMITS.exprDepthMax) throw invalid(what, 'expression nested too deeply');
    if (++nodes > SQL_LIMITS.exprNodesMax) {
      throw invalid(what, `expression has more than ${SQL_LIMITS.exprNodesMax} terms`);
    }
    if (!isRecord(v) || typeof v['kind'] !== 'string') throw invalid(what, 'malformed expression');
    const boolField = (k: string): void => {
      if (typeof v[k] !== 'boolean') throw invalid(what, `malformed ${String(v['kind'])} expression`);
    };
    const child = (k: string): void => walk(v[k], depth + 1);
    switch (v['kind']) {
      case 'literal': {
        const x = v['value'];
        const ok =
          x === null ||
          typeof x === 'string' ||
          typeof x === 'boolean' ||
          (typeof x === 'number' && isCarriedNumber(x));
        if (!ok) throw invalid(what, 'a literal must be a string, a number within ±2^53, a boolean or NULL');
        return;
      }
      case 'column':
        if (typeof v['name'] !== 'string' || (v['table'] !== null && typeof v['table'] !== 'string')) {
          throw invalid(what, 'malformed column reference');
        }
        return;
      case 'param':
        throw invalid(what, 'a replicated expression cannot hold an unbound parameter');
      case 'binary':
        if (typeof v['op'] !== 'string' || !OPS.has(v['op']))
          throw invalid(what, `unknown operator ${String(v['op'])}`);
        child('left');
        child('right');
        return;
      case 'not':
      case 'negate':
        child('expr');
        return;
      case 'isNull':
        boolField('negated');
        child('expr');
        return;
      case 'in': {
        boolField('negated');
        child('expr');
        const list = v['list'];
        if (!Array.isArray(list) || list.length === 0) throw invalid(what, 'IN needs a list of values');
        for (const item of list) walk(item, depth + 1);
        return;
      }
      case 'like':
        boolField('negated');
        child('expr');
        child('pattern');
        return;
      case 'call': {
        const name = v['name'];
        const args = v['args'];
        if (typeof name !== 'string' || !Array.isArray(args) || v['star'] !== false) {
          throw invalid(what, 'malformed function call');
        }
        const fn = ROW_FUNCTIONS.get(name);
        if (fn === undefined) throw invalid(what, `function ${name} cannot be used in a filter or SET expression`);
        if (args.length < fn.argsMin || args.length > fn.argsMax) throw invalid(what, rowFunctionArityMessage(name)!);
        for (const a of args) walk(a, depth + 1);
        return;
      }
      default:
        throw invalid(what, `unknown expression kind ${JSON.stringify(v['kind'])}`);
    }
  };
  walk(value, 0);
  return value as Expr;
}
