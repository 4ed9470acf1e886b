// The fuzz test's generator (support/sql-arbitrary.ts) covers what it claims, without a cluster: over a sample of
// requests from a fixed seed, Kalam's own parser sees every statement kind (inside batches and EXECUTE AS USER too),
// every column type, every role as an actor and in a ROLE clause, every expression kind and operator, ROW functions
// with their arity and without, unknown and planner functions, params and namespace_id; a good share parses and a good
// share does not; and every request body stays under the server's 1 MiB limit. The same seed gives the same requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import { COLUMN_TYPES, parseSql, type Expr, type Statement, type StatementKind } from '@kalam/sql';

import { FUZZ_ACTORS, fuzzRequest, type FuzzRequest } from '@kalam/sim';

const SAMPLE = 5_000;
const SEED = 20_261_204;
const BODY_BYTES_MAX = 1024 * 1024;

/**
 * Every statement kind of the parser's AST (a kind added there and missing here fails to compile), but the one the
 * generator must not send: ALTER CLUSTER REMOVE NODE changes who is in the cluster, which the simulator drives itself
 * (its membership faults); it has its own tests (kalamdb sql-cluster, server alter-cluster-cluster).
 */
const STATEMENT_KINDS = {
  CreateNamespace: true,
  DropNamespace: true,
  ShowNamespaces: true,
  Use: true,
  CreateTable: true,
  DropTable: true,
  ShowTables: true,
  DescribeTable: true,
  AlterTableAddColumn: true,
  Insert: true,
  Update: true,
  Delete: true,
  Select: true,
  CreateUser: true,
  AlterUser: true,
  DropUser: true,
  ExecuteAsUser: true,
  CreateStorage: true,
  DropStorage: true,
  ShowStorages: true,
  FlushTable: true,
  FlushAllTables: true,
  KillJob: true,
  CreateSchedule: true,
  DropSchedule: true,
  ShowSchedules: true,
  SubscribeTo: true,
  KillLiveQuery: true,
} satisfies Record<Exclude<StatementKind, 'AlterClusterRemoveNode'>, true>;

const EXPR_KINDS = {
  literal: true,
  column: true,
  param: true,
  binary: true,
  not: true,
  negate: true,
  isNull: true,
  in: true,
  like: true,
  call: true,
} satisfies Record<Expr['kind'], true>;

interface Seen {
  statements: Set<string>;
  exprs: Set<string>;
  ops: Set<string>;
  calls: Set<string>;
  columnTypes: Set<string>;
  roles: Set<string>;
}

function walkExpr(e: Expr, seen: Seen): void {
  seen.exprs.add(e.kind);
  switch (e.kind) {
    case 'binary':
      seen.ops.add(e.op);
      walkExpr(e.left, seen);
      walkExpr(e.right, seen);
      return;
    case 'not':
    case 'negate':
    case 'isNull':
      walkExpr(e.expr, seen);
      return;
    case 'in':
      walkExpr(e.expr, seen);
      for (const x of e.list) walkExpr(x, seen);
      return;
    case 'like':
      walkExpr(e.expr, seen);
      walkExpr(e.pattern, seen);
      return;
    case 'call':
      seen.calls.add(`${e.name}/${e.star ? '*' : e.args.length}`);
      for (const x of e.args) walkExpr(x, seen);
      return;
    case 'literal':
    case 'column':
    case 'param':
      return;
  }
}

function walkStatement(s: Statement, seen: Seen): void {
  seen.statements.add(s.kind);
  const exprs: Expr[] = [];
  switch (s.kind) {
    case 'ExecuteAsUser':
      return walkStatement(s.statement, seen);
    case 'CreateTable':
      for (const c of s.columns) seen.columnTypes.add(c.type);
      break;
    case 'AlterTableAddColumn':
      seen.columnTypes.add(s.column.type);
      break;
    case 'CreateUser':
      seen.roles.add(s.role);
      break;
    case 'AlterUser':
      if ('role' in s.set) seen.roles.add(s.set.role);
      break;
    case 'Insert':
      exprs.push(...s.rows.flat());
      break;
    case 'Update':
      exprs.push(...s.assignments.map((a) => a.value), ...(s.where === null ? [] : [s.where]));
      break;
    case 'Delete':
    case 'SubscribeTo':
      if (s.where !== null) exprs.push(s.where);
      break;
    case 'Select':
      for (const c of s.columns) if (c !== '*') exprs.push(c.expr);
      exprs.push(...s.groupBy, ...s.orderBy.map((o) => o.expr));
      if (s.where !== null) exprs.push(s.where);
      if (s.having !== null) exprs.push(s.having);
      break;
    case 'CreateNamespace':
    case 'DropNamespace':
    case 'ShowNamespaces':
    case 'Use':
    case 'DropTable':
    case 'ShowTables':
    case 'DescribeTable':
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
      break;
  }
  for (const e of exprs) walkExpr(e, seen);
}

test('the fuzz generator covers every statement kind, type, role and expression of the grammar', () => {
  const requests: FuzzRequest[] = fc.sample(fuzzRequest, { seed: SEED, numRuns: SAMPLE });
  const again = fc.sample(fuzzRequest, { seed: SEED, numRuns: 50 });
  assert.deepEqual(again, requests.slice(0, 50), 'the same seed gives the same requests');

  const seen: Seen = {
    statements: new Set(),
    exprs: new Set(),
    ops: new Set(),
    calls: new Set(),
    columnTypes: new Set(),
    roles: new Set(),
  };
  let parsed = 0;
  const actors = new Set<string>();
  let withParams = 0;
  let withNamespace = 0;
  let batches = 0;
  for (const req of requests) {
    actors.add(FUZZ_ACTORS[req.actor]);
    if (req.params !== undefined) withParams++;
    if (req.namespace !== undefined) withNamespace++;
    const bytes = Buffer.byteLength(JSON.stringify({ sql: req.sql, params: req.params, namespace_id: req.namespace }));
    assert.ok(bytes < BODY_BYTES_MAX, `a request of ${bytes} bytes: ${req.sql.slice(0, 200)}`);
    let statements: readonly Statement[];
    try {
      statements = parseSql(req.sql);
    } catch {
      continue;
    }
    parsed++;
    if (statements.length > 1) batches++;
    for (const s of statements) walkStatement(s, seen);
  }

  const missing = (want: Iterable<string>, got: Set<string>): string[] => [...want].filter((w) => !got.has(w));
  assert.deepEqual(missing(Object.keys(STATEMENT_KINDS), seen.statements), [], 'statement kinds never parsed');
  assert.deepEqual(missing(Object.keys(EXPR_KINDS), seen.exprs), [], 'expression kinds never parsed');
  assert.deepEqual(missing(['=', '!=', '<>', '<', '<=', '>', '>=', 'AND', 'OR', '+', '-', '*', '/'], seen.ops), []);
  assert.deepEqual(missing(Object.values(COLUMN_TYPES), seen.columnTypes), [], 'column types never parsed');
  assert.deepEqual(missing(['user', 'service', 'dba', 'system'], seen.roles), [], 'roles never in a ROLE clause');
  assert.deepEqual(missing(['user', 'service', 'dba', 'system'], actors), [], 'roles never sending');
  const calls = [
    'LOWER/1', // a ROW function with its arity
    'LOWER/0', // and without
    'LOWER/2',
    'COALESCE/0',
    'FOO/1', // unknown
    'COUNT/*', // an aggregate (in a filter, an odd place)
    'NOW/0', // planner functions
    'UUID/0',
    'NOW/1',
  ];
  assert.deepEqual(missing(calls, seen.calls), [], 'calls never parsed');
  assert.ok(parsed > SAMPLE * 0.4 && parsed < SAMPLE * 0.9, `${parsed} of ${SAMPLE} requests parse`);
  assert.ok(batches > SAMPLE / 100, `${batches} batches parse`);
  assert.ok(withParams > SAMPLE / 20 && withNamespace > SAMPLE / 20, `${withParams} params, ${withNamespace} ns`);
});
