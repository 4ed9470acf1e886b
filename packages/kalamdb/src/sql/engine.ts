/**
 * SqlEngine: KalamDB's SQL over the CommandExecutor. A request is a batch of `;`-separated statements run in order;
 * each statement is one replicated command (or, for DROP NAMESPACE CASCADE, one per table and then the namespace),
 * so it applies whole or not at all; a failing statement stops the batch and earlier ones stay applied, as in
 * KalamDB. Parameters go with a single statement only. Everything thrown is a KalamError.
 */
import { bindParams, parseSql, parseSqlOffThread, type Statement } from '@kalam/sql';
import { Catalog } from '../catalog.js';
import type { ClientStamp } from '../commands.js';
import { CLIENT_SESSION_LIMITS } from '../limits.js';
import { checkClientSessionFields } from '../validate.js';
import type { CommandExecutor, StateMachines } from '../executor.js';
import { accepted, type EngineContext, type RemoveNodes, type StatementScope } from './context.js';
import { alterClusterRemoveNode } from './cluster.js';
import * as ddl from './ddl.js';
import { insert, remove, selectTable, update, foldSelect } from './data.js';
import { EvalScheduler, StatementBudget } from './budget.js';
import { VerifiedCredentials } from './credentials.js';
import { SCRYPT_PASSWORDS, type Passwords } from './password.js';
import { KalamError, toKalamError } from './errors.js';
import { SQL_ENGINE_LIMITS, type EvalLimits } from './limits.js';
import * as jobs from './jobs.js';
import * as schedules from './schedules.js';
import { runSelect } from './query.js';
import { RequestReads } from './request-reads.js';
import { SeqGenerator } from './sequence.js';
import { systemRelation } from './system-tables.js';
import type { ClusterView, QueryResult, Session } from './types.js';
import * as users from './users.js';
import * as live from './live.js';
import { planLiveQuery, recheckLiveQuery, type LiveQueryPlan } from '../live/plan.js';

export interface SqlEngineOptions {
  readonly executor: CommandExecutor;
  readonly machines: StateMachines;
  readonly nodeId: number;
  /** Milliseconds since the epoch; injected so tests control time. */
  readonly now?: () => number;
  /** The cluster as the node process sees it, for system.cluster_nodes / system.cluster_groups. */
  readonly clusterView?: () => ClusterView;
  /** A monotonic clock in ms for statement time budgets; injected so tests control it (default: performance.now). */
  readonly monotonicNow?: () => number;
  /** Narrower evaluation bounds than SQL_ENGINE_LIMITS (tests). */
  readonly limits?: Partial<EvalLimits>;
  /**
   * How a statement's evaluation waits for its next slice (default setImmediate), and whether large texts are parsed
   * on this thread (default: in a worker): the simulator keeps both inside its deterministic event order.
   */
  readonly defer?: (fn: () => void) => void;
  readonly parseOnThread?: boolean;
  /** How passwords are hashed and checked (default scrypt; the simulator's answers at once, deterministically). */
  readonly passwords?: Passwords;
  /** ALTER CLUSTER REMOVE NODE: the node process's removal request (absent: the statement is refused). */
  readonly removeNodes?: RemoveNodes;
}

export interface ExecuteOptions {
  readonly params?: readonly unknown[];
  /** The default namespace for unqualified table names (the API's `namespace_id`). */
  readonly namespace?: string;
  /**
   * The request's barriers, when the caller began them before the SQL (`requestReads`): the HTTP API starts the
   * catalog's while a Basic-authenticated request waits for its password check. Default: fresh ones.
   */
  readonly reads?: RequestReads;
  /**
   * The request's client session (the API's `client_session`): the one statement, a row write, applies at most once
   * per seq (state/sessions.ts). Anything else but a SELECT (answered, nothing to dedupe) is SESSION_UNSUPPORTED.
   */
  readonly clientSession?: ClientSessionRequest;
}

/** A request's client session as the client sends it; the session's user is the authenticated one. */
export interface ClientSessionRequest {
  readonly clientId: string;
  readonly createdMs: number;
  readonly seq: number;
  readonly acked: number;
}

/** The statements a client session covers: one data command each (SELECT is answered and needs none). */
const SESSION_STATEMENTS: ReadonlySet<Statement['kind']> = new Set(['Insert', 'Update', 'Delete', 'Select']);

export class SqlEngine {
  private readonly ctx: EngineContext;
  private readonly parse: (sql: string) => Promise<readonly Statement[]>;

  constructor(opts: SqlEngineOptions) {
    const now = opts.now ?? (() => Date.now());
    const monotonicNow = opts.monotonicNow ?? (() => performance.now());
    const limits: EvalLimits = { ...SQL_ENGINE_LIMITS, ...opts.limits };
    const scheduler = new EvalScheduler(opts.defer);
    this.parse = opts.parseOnThread === true ? (sql) => Promise.resolve(parseSql(sql)) : parseSqlOffThread;
    this.ctx = {
      executor: opts.executor,
      machines: opts.machines,
      catalog: new Catalog(opts.machines.store),
      nodeId: opts.nodeId,
      now,
      seq: new SeqGenerator(opts.nodeId, now),
      clusterView: opts.clusterView,
      limits,
      budget: () => new StatementBudget(limits, monotonicNow, scheduler),
      credentials: new VerifiedCredentials(),
      passwords: opts.passwords ?? SCRYPT_PASSWORDS,
      removeNodes: opts.removeNodes,
    };
  }

  /** Runs a batch and returns one result per statement; throws KalamError. */
  async execute(session: Session, sql: string, opts: ExecuteOptions = {}): Promise<QueryResult[]> {
    let statements: readonly Statement[];
    try {
      // A large text is parsed in a worker thread: this event loop also drives Raft.
      statements = await this.parse(sql);
    } catch (err) {
      throw toKalamError(err);
    }
    if (opts.params !== undefined && opts.params.length > 0 && statements.length > 1) {
      throw new KalamError('PARAMS_WITH_BATCH', 'parameters can only be used with a single statement');
    }
    let scope: StatementScope = { session, namespace: opts.namespace ?? null };
    if (opts.clientSession !== undefined) {
      scope = { ...scope, client: this.clientStamp(session, statements, opts.clientSession) };
    }
    // One read barrier per group for the whole request (request-reads.ts says why that is linearizable).
    const ctx: EngineContext = { ...this.ctx, executor: opts.reads ?? this.requestReads() };
    const results: QueryResult[] = [];
    for (const [i, parsed] of statements.entries()) {
      try {
        const stmt = bindParams(parsed, opts.params ?? []);
        if (stmt.kind === 'Use') scope = { ...scope, namespace: stmt.namespace };
        results.push(await this.run(ctx, scope, stmt));
      } catch (err) {
        const e = toKalamError(err);
        if (statements.length === 1) throw e;
        const message = `statement ${i + 1} of ${statements.length}: ${e.message}`;
        throw new KalamError(e.code, message, e.details, { cause: e });
      }
    }
    return results;
  }

  /**
   * The client session of a request, checked before anything is proposed: a single INSERT, UPDATE, DELETE (or
   * SELECT), a client id made no more than the TTL ago (an older one may already be forgotten: SESSION_EXPIRED) and
   * not from the future (past createdAheadMsMax: INVALID_REQUEST — it would push the groups' horizons ahead).
   */
  private clientStamp(session: Session, statements: readonly Statement[], c: ClientSessionRequest): ClientStamp {
    const [only] = statements;
    if (statements.length !== 1 || only === undefined || !SESSION_STATEMENTS.has(only.kind)) {
      const what = statements.length === 1 && only !== undefined ? only.kind : `${statements.length} statements`;
      throw new KalamError(
        'SESSION_UNSUPPORTED',
        `a client session covers exactly one INSERT, UPDATE or DELETE on a user or shared table (or a SELECT), not ${what}; send it without client_session`,
      );
    }
    try {
      checkClientSessionFields(c.clientId, c.createdMs, c.seq, c.acked);
    } catch (err) {
      throw new KalamError('INVALID_REQUEST', `client_session: ${err instanceof Error ? err.message : String(err)}`);
    }
    const now = this.ctx.now();
    if (c.createdMs > now + CLIENT_SESSION_LIMITS.createdAheadMsMax) {
      throw new KalamError(
        'INVALID_REQUEST',
        `client_session.created_ms is ${c.createdMs - now} ms ahead of this node's clock (at most ${CLIENT_SESSION_LIMITS.createdAheadMsMax})`,
      );
    }
    if (c.createdMs < now - CLIENT_SESSION_LIMITS.ttlMs) {
      throw new KalamError(
        'SESSION_EXPIRED',
        `client ${c.clientId} was made more than ${CLIENT_SESSION_LIMITS.ttlMs} ms ago (the session TTL); start a new client id`,
      );
    }
    return { userId: session.userId, clientId: c.clientId, createdMs: c.createdMs, seq: c.seq, acked: c.acked };
  }

  /** The barriers of one request that is about to start (request-reads.ts); pass them to `execute`. */
  requestReads(): RequestReads {
    return new RequestReads(this.ctx.executor);
  }

  /** A live query's SQL planned for `session` (the WebSocket API's subscribe); throws KalamError. */
  planLiveQuery(session: Session, sql: string, namespace?: string): Promise<LiveQueryPlan> {
    return this.guard(() => planLiveQuery(this.ctx, { session, namespace: namespace ?? null }, sql));
  }

  /**
   * Throws KalamError (PERMISSION_DENIED, TABLE_NOT_FOUND) unless `session` — its role now — may still hold a live
   * query planned as `plan`. Synchronous, on this node's state.
   */
  checkLiveQuery(session: Session, plan: LiveQueryPlan): void {
    try {
      recheckLiveQuery(this.ctx, session, plan);
    } catch (err) {
      throw toKalamError(err);
    }
  }

  authenticate(username: string, password: string): Promise<Session> {
    return this.guard(async () => (await users.verifyLogin(this.ctx, username, password)).session);
  }

  /** `authenticate`, with the version of the user record the password was checked against (a token carries it). */
  verifyLogin(username: string, password: string): Promise<users.VerifiedLogin> {
    return this.guard(() => users.verifyLogin(this.ctx, username, password));
  }

  bootstrap(rootPassword: string): Promise<void> {
    return this.guard(() => users.bootstrap(this.ctx, rootPassword));
  }

  /**
   * Records a login (system.users.last_login_at). Separate from `authenticate` because it is a replicated write:
   * the API calls it on an explicit login, not on every Basic-authenticated request.
   */
  recordLogin(session: Session): Promise<void> {
    return this.guard(async () => {
      accepted(
        await this.ctx.executor.executeUsers({
          type: 'RecordLogin',
          userId: session.userId,
          loggedInAt: this.ctx.now(),
        }),
      );
    });
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toKalamError(err);
    }
  }

  private async run(ctx: EngineContext, scope: StatementScope, stmt: Statement): Promise<QueryResult> {
    switch (stmt.kind) {
      case 'CreateNamespace':
        return ddl.createNamespace(ctx, scope, stmt);
      case 'DropNamespace':
        return ddl.dropNamespace(ctx, scope, stmt);
      case 'ShowNamespaces':
        return ddl.showNamespaces(ctx, scope);
      case 'Use':
        return ddl.useNamespace(ctx, stmt.namespace);
      case 'CreateTable':
        return ddl.createTable(ctx, scope, stmt);
      case 'DropTable':
        return ddl.dropTable(ctx, scope, stmt);
      case 'ShowTables':
        return ddl.showTables(ctx, scope, stmt);
      case 'DescribeTable':
        return ddl.describeTable(ctx, scope, stmt);
      case 'AlterTableAddColumn':
        return ddl.alterTableAddColumn(ctx, scope, stmt);
      case 'CreateStorage':
        return ddl.createStorage(ctx, scope, stmt);
      case 'DropStorage':
        return ddl.dropStorage(ctx, scope, stmt);
      case 'ShowStorages':
        return ddl.showStorages(ctx, scope);
      case 'Insert':
        return insert(ctx, scope, stmt);
      case 'Update':
        return update(ctx, scope, stmt);
      case 'Delete':
        return remove(ctx, scope, stmt);
      case 'Select':
        return this.select(ctx, scope, stmt);
      case 'CreateUser':
        return users.createUser(ctx, scope.session, stmt);
      case 'AlterUser':
        return users.alterUser(ctx, scope.session, stmt);
      case 'DropUser':
        return users.dropUser(ctx, scope.session, stmt);
      case 'ExecuteAsUser':
        return this.executeAs(ctx, scope, stmt.userId, stmt.statement);
      case 'SubscribeTo':
        return live.subscribeTo(ctx, scope, stmt);
      case 'KillLiveQuery':
        return live.killLiveQuery(ctx, scope.session, stmt.liveId);
      case 'FlushTable':
        return jobs.flushTable(ctx, scope, stmt);
      case 'FlushAllTables':
        return jobs.flushAllTables(ctx, scope, stmt);
      case 'KillJob':
        return jobs.killJob(ctx, scope, stmt);
      case 'AlterClusterRemoveNode':
        return alterClusterRemoveNode(ctx, scope, stmt);
      case 'CreateSchedule':
        return schedules.createSchedule(ctx, scope, stmt);
      case 'DropSchedule':
        return schedules.dropSchedule(ctx, scope, stmt);
      case 'ShowSchedules':
        return schedules.showSchedules(ctx, scope);
    }
  }

  private async select(
    ctx: EngineContext,
    scope: StatementScope,
    stmt: Extract<Statement, { kind: 'Select' }>,
  ): Promise<QueryResult> {
    if (stmt.from.namespace === 'system') {
      const relation = await systemRelation(ctx, scope, stmt.from.name);
      const clock = { at: ctx.now(), nextId: () => ctx.seq.reserve(1) };
      return runSelect(foldSelect(stmt, clock), relation, ctx.budget());
    }
    const ns = stmt.from.namespace ?? scope.namespace;
    if (ns === null) {
      throw new KalamError(
        'INVALID_SQL',
        `table ${stmt.from.name} needs a namespace (write ns.${stmt.from.name}, or USE ns first)`,
      );
    }
    return selectTable(ctx, scope, stmt, `${ns}.${stmt.from.name}`);
  }

  /** EXECUTE AS USER: SELECT, INSERT, UPDATE and DELETE only, under the named user's identity and role. */
  private async executeAs(
    ctx: EngineContext,
    scope: StatementScope,
    userId: string,
    inner: Statement,
  ): Promise<QueryResult> {
    if (inner.kind !== 'Select' && inner.kind !== 'Insert' && inner.kind !== 'Update' && inner.kind !== 'Delete') {
      throw new KalamError('INVALID_SQL', `EXECUTE AS USER runs SELECT, INSERT, UPDATE or DELETE, not ${inner.kind}`);
    }
    const session = await users.impersonate(ctx, scope.session, userId);
    const result = await this.run(ctx, { ...scope, session }, inner);
    return { ...result, as_user: session.userId };
  }
}
