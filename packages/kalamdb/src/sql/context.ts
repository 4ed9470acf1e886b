/**
 * What every statement handler of the engine shares: the executor (the only way to change or read replicated state),
 * the node's state machines (read after a read barrier), the clock and the `_seq` generator; and per statement, the
 * session and the default namespace.
 */
import type { Catalog, TableInfo } from '../catalog.js';
import { isRefusal } from '../commands.js';
import type { ClientStamp, Role } from '../commands.js';
import type { CommandExecutor, StateMachines } from '../executor.js';
import { MetaSystem } from '../group-id.js';
import type { StatementBudget } from './budget.js';
import type { EvalLimits } from './limits.js';
import { KalamError, fromRefusal } from './errors.js';
import type { SeqGenerator } from './sequence.js';
import type { VerifiedCredentials } from './credentials.js';
import type { Passwords } from './password.js';
import type { ClusterView, QueryResult, Session } from './types.js';
import type { TableRef } from '@kalam/sql';

export interface EngineContext {
  readonly executor: CommandExecutor;
  readonly machines: StateMachines;
  readonly catalog: Catalog;
  readonly nodeId: number;
  readonly now: () => number;
  readonly seq: SeqGenerator;
  readonly clusterView: (() => ClusterView) | undefined;
  /** The bounds a statement's evaluation obeys. */
  readonly limits: EvalLimits;
  /** A fresh evaluation budget for one statement (budget.ts), on the node's monotonic clock. */
  readonly budget: () => StatementBudget;
  /** Passwords that matched lately (credentials.ts): Basic auth on every request without scrypt on every request. */
  readonly credentials: VerifiedCredentials;
  /** How passwords are hashed and checked (password.ts: scrypt, or the simulator's stand-in). */
  readonly passwords: Passwords;
  /** ALTER CLUSTER REMOVE NODE (cluster.ts): the node process's removal request; undefined where there is none. */
  readonly removeNodes: RemoveNodes | undefined;
}

/**
 * An operator's removal of cluster members, as the node process runs it (the server's removal API): resolves with
 * each node's new state, or throws a KalamError with the API's code (NODE_NOT_FOUND, QUORUM_AT_RISK, …).
 */
export type RemoveNodes = (nodeIds: readonly number[]) => Promise<readonly { node_id: number; state: string }[]>;

/** Per statement: who runs it and the namespace an unqualified table name resolves in. */
export interface StatementScope {
  readonly session: Session;
  readonly namespace: string | null;
  /** The request's client session (a row write applies once per seq; state/sessions.ts); absent: none. */
  readonly client?: ClientStamp;
}

const RANK: Readonly<Record<Role, number>> = { user: 0, service: 1, dba: 2, system: 3 };

/** True when `role` is at least `min` in user < service < dba < system. */
export function atLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}

export function requireRole(session: Session, min: Role, what: string): void {
  if (!atLeast(session.role, min)) {
    throw new KalamError('PERMISSION_DENIED', `${what} needs role ${min} or higher (you are ${session.role})`);
  }
}

/** `ns.t`, with the namespace defaulting to the scope's. */
export function resolveTableId(ref: TableRef, scope: StatementScope): string {
  const ns = ref.namespace ?? scope.namespace;
  if (ns === null) {
    throw new KalamError('INVALID_SQL', `table ${ref.name} needs a namespace (write ns.${ref.name}, or USE ns first)`);
  }
  return `${ns}.${ref.name}`;
}

/** The table after a meta:system read barrier, or TABLE_NOT_FOUND. */
export async function lookupTable(ctx: EngineContext, tableId: string): Promise<TableInfo> {
  await ctx.executor.readBarrier(MetaSystem);
  const t = ctx.catalog.table(tableId);
  if (t === undefined) throw new KalamError('TABLE_NOT_FOUND', `table ${tableId} does not exist`);
  return t;
}

/** Throws the state machine's refusal, or returns the response. */
export function accepted<R extends { readonly type: string }>(response: R): R {
  if (isRefusal(response)) throw fromRefusal(response);
  return response;
}

/** The code of a state machine's refusal, or null when the response is not one. */
export function refusalCode(response: { readonly type: string }): string | null {
  return isRefusal(response) ? response.code : null;
}

/** A statement's result without rows (DDL, user management). */
export function messageResult(message: string): QueryResult {
  return { schema: [], rows: [], row_count: 0, message };
}
