/**
 * printQuery: a subscription as SQL text (`SELECT * FROM ns.t [WHERE …]`), for system.live_queries and for the answer
 * to SUBSCRIBE TO over HTTP, which the client then sends on /v1/ws. The WHERE is printed from the expression tree,
 * fully parenthesised, so the text parses back to the same tree.
 */
import type { Expr } from '@kalam/sql';

function literal(v: string | number | boolean | null): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return `'${v.replaceAll("'", "''")}'`;
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  return String(v);
}

function ident(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

export function printExpr(e: Expr): string {
  switch (e.kind) {
    case 'literal':
      return literal(e.value);
    case 'column':
      return e.table === null ? ident(e.name) : `${ident(e.table)}.${ident(e.name)}`;
    case 'param':
      return `$${e.index}`;
    case 'binary':
      return `(${printExpr(e.left)} ${e.op} ${printExpr(e.right)})`;
    case 'not':
      return `(NOT ${printExpr(e.expr)})`;
    case 'negate':
      return `(-${printExpr(e.expr)})`;
    case 'isNull':
      return `(${printExpr(e.expr)} IS ${e.negated ? 'NOT ' : ''}NULL)`;
    case 'in':
      return `(${printExpr(e.expr)} ${e.negated ? 'NOT ' : ''}IN (${e.list.map(printExpr).join(', ')}))`;
    case 'like':
      return `(${printExpr(e.expr)} ${e.negated ? 'NOT ' : ''}LIKE ${printExpr(e.pattern)})`;
    case 'call':
      return `${e.name}(${e.star ? '*' : e.args.map(printExpr).join(', ')})`;
  }
}

export function printQuery(tableId: string, filter: Expr | null): string {
  const [ns, table] = tableId.split('.', 2) as [string, string];
  const from = `${ident(ns)}.${ident(table)}`;
  return filter === null ? `SELECT * FROM ${from}` : `SELECT * FROM ${from} WHERE ${printExpr(filter)}`;
}
