/**
 * The one structural walk over an expression, top-down: `rewrite` is asked about each node first, and a node it
 * leaves alone (returns undefined) has its children walked in turn.
 */
import type { Expr } from './ast.js';

export function mapExpr(expr: Expr, rewrite: (e: Expr) => Expr | undefined): Expr {
  const replaced = rewrite(expr);
  if (replaced !== undefined) return replaced;
  const sub = (child: Expr): Expr => mapExpr(child, rewrite);
  switch (expr.kind) {
    case 'literal':
    case 'column':
    case 'param':
      return expr;
    case 'binary':
      return { ...expr, left: sub(expr.left), right: sub(expr.right) };
    case 'not':
    case 'negate':
    case 'isNull':
      return { ...expr, expr: sub(expr.expr) };
    case 'in':
      return { ...expr, expr: sub(expr.expr), list: expr.list.map(sub) };
    case 'like':
      return { ...expr, expr: sub(expr.expr), pattern: sub(expr.pattern) };
    case 'call':
      return { ...expr, args: expr.args.map(sub) };
  }
}
