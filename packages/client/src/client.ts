/**
 * Client: SQL over `POST /v1/api/sql` with failover and exactly-once writes, and live queries (live.ts).
 *
 * Every call has a total deadline (callDeadlineMs). Within it the client tries the nodes in NodePool order, one HTTP
 * attempt each (attemptTimeoutMs), with a jittered back-off before every retry (backoff.ts), and:
 * - a read (query) is retried on any connection failure, timeout, 5xx or leader error;
 * - a write (execute) carries a client session (session.ts): its seq is the same on every attempt, so it is retried
 *   on the same failures, and the server applies it once and answers a retry with the first answer (`replayed`);
 * - a write without a session (sessions off, or a statement the server's sessions do not cover) is retried only when
 *   it certainly was not applied (the connection was refused; the server answered an error that says nothing ran);
 *   when its answer is lost, the call fails with OutcomeUnknownError instead of guessing.
 * A password client signs in with POST /v1/api/auth/login, sends the token, and signs in again before it expires and
 * when a node answers 401.
 */
import { backoffDelayMs, sleep } from './backoff.js';
import {
  AuthError,
  ClientClosedError,
  KalamError,
  OutcomeUnknownError,
  RateLimitError,
  SessionExpiredError,
  UnavailableError,
  errorFromServer,
  outcomeUnknownIn,
} from './errors.js';
import { CLIENT_LIMITS } from './limits.js';
import { Subscription, liveIterable } from './live.js';
import type { LiveEvent, LiveIterable, SubscribeOptions } from './live.js';
import { NodePool } from './nodes.js';
import type { NodeState } from './nodes.js';
import { ClientSession } from './session.js';
import type { WebSocketConstructor } from './websocket.js';

export type Credentials =
  | { readonly nodes: readonly string[]; readonly user: string; readonly password: string }
  | { readonly nodes: readonly string[]; readonly token: string };

export interface ClientOptions {
  /** A call's total time across attempts and back-off (default CLIENT_LIMITS.callDeadlineMs). */
  readonly callDeadlineMs?: number;
  /** One HTTP attempt's time (default CLIENT_LIMITS.attemptTimeoutMs). */
  readonly attemptTimeoutMs?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** How long a failed node is tried last (default CLIENT_LIMITS.nodeDownMs). */
  readonly nodeDownMs?: number;
  /** Exactly-once writes through client sessions (default true). Off: a write whose answer is lost is not retried. */
  readonly sessions?: boolean;
  /** The namespace unqualified table names resolve in (`namespace_id`). */
  readonly namespace?: string;
  /** The fetch to use (default globalThis.fetch): a test wraps it to lose answers. */
  readonly fetch?: typeof fetch;
  /** The WebSocket constructor to use; default: the platform's, else (Node 20) the `ws` package. */
  readonly WebSocket?: WebSocketConstructor;
  /** Live queries' ping, resume and batch bounds (defaults in CLIENT_LIMITS). */
  readonly live?: {
    readonly pingIntervalMs?: number;
    readonly pingTimeoutMs?: number;
    readonly resumeDeadlineMs?: number;
    readonly connectTimeoutMs?: number;
    readonly batchSize?: number;
    readonly bufferedEventsMax?: number;
  };
  /** [0, 1) — the back-off's jitter (tests make it fixed). */
  readonly random?: () => number;
}

export interface CallOptions {
  /** This call's total deadline instead of the client's. */
  readonly deadlineMs?: number;
  readonly namespace?: string;
}

export interface Column {
  readonly name: string;
  readonly data_type: string;
}

/** One statement's result. `rows` are objects keyed by column name (a name that repeats keeps its last value). */
export interface QueryResult<T = Record<string, unknown>> {
  readonly rows: T[];
  readonly schema: Column[];
  readonly rowCount: number;
  readonly message?: string;
}

export interface ExecuteResult {
  /** The rows the (last) statement changed. */
  readonly rowCount: number;
  readonly message: string;
  /** The server answered a retry of this write with the answer it had kept (applied once, answered twice). */
  readonly replayed: boolean;
  /** Every statement's result, when the body held several. */
  readonly results: readonly QueryResult[];
}

/** The resolved settings (ClientOptions with defaults). */
export interface ClientSettings {
  readonly callDeadlineMs: number;
  readonly attemptTimeoutMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly sessions: boolean;
  readonly namespace: string | undefined;
  readonly livePingIntervalMs: number;
  readonly livePingTimeoutMs: number;
  readonly liveResumeDeadlineMs: number;
  readonly liveConnectTimeoutMs: number;
  readonly liveBatchSize: number;
  readonly liveBufferedEventsMax: number;
}

/** The response header naming the leader of the signed-in user's shard (server http.ts SHARD_LEADER_HEADER). */
export const SHARD_LEADER_HEADER = 'X-Kalam-Shard-Leader';

const SQL_PATH = '/v1/api/sql';
const LOGIN_PATH = '/v1/api/auth/login';

/** How a call treats an attempt whose answer was lost. */
type Policy = 'read' | 'session-write' | 'plain-write';

interface ApiError {
  readonly code: string;
  readonly message: string;
  readonly details?: unknown;
}

interface ApiBody {
  readonly status?: string;
  readonly results?: RawResult[];
  readonly error?: ApiError;
  readonly client_session?: { readonly seq: number; readonly replayed: boolean };
  readonly access_token?: string;
  readonly expires_in?: number;
}

interface RawResult {
  readonly schema?: Column[];
  readonly rows?: unknown[][];
  readonly row_count?: number;
  readonly message?: string;
}

/** One HTTP attempt: an answer (any status), or no answer. */
type Attempt =
  | { readonly kind: 'answer'; readonly node: string; readonly status: number; readonly body: ApiBody }
  | { readonly kind: 'lost'; readonly node: string; readonly error: KalamError; readonly notSent: boolean };

/** What a call decides after an attempt. */
type Verdict = 'done' | 'retry' | 'relogin' | 'raise' | 'unknown';

/**
 * The decision table of the module comment, for an attempt of a call with `policy`. Pure: unit-tested on its own.
 * `relogin` = the token was refused and the client can sign in again; `unknown` = the write's answer is lost.
 */
export function verdictOf(attempt: Attempt, policy: Policy, canRelogin: boolean): Verdict {
  if (attempt.kind === 'lost') {
    if (policy === 'plain-write' && !attempt.notSent) return 'unknown';
    return 'retry';
  }
  const { status, body } = attempt;
  if (status === 200 && body.status !== 'error') return 'done';
  const code = body.error?.code ?? '';
  if (status === 401 && canRelogin) return 'relogin';
  if (code === 'SESSION_WINDOW_FULL') return 'retry';
  if (status >= 500) {
    // A 5xx with outcomeUnknown (a Raft proposal that timed out) may have been applied; any other 5xx ran nothing
    // (no leader, draining, overloaded) — except INTERNAL_ERROR, which may have failed after applying.
    const mayHaveApplied = outcomeUnknownIn(body.error?.details) || code === 'INTERNAL_ERROR' || code === '';
    if (policy === 'plain-write' && mayHaveApplied) return 'unknown';
    return 'retry';
  }
  return 'raise';
}

export class Client {
  readonly settings: ClientSettings;
  private readonly pool: NodePool;
  private readonly fetchFn: typeof fetch;
  private readonly random: () => number;
  private readonly WebSocketOption: WebSocketConstructor | undefined;
  private session: ClientSession;
  private token: string | null;
  /** When the token is to be renewed (ms since the epoch): before it expires, so no call is refused for it. */
  private tokenRenewAtMs = Number.POSITIVE_INFINITY;
  private login: Promise<string> | null = null;
  private readonly closing = new AbortController();
  private readonly subscriptions = new Set<Subscription<never>>();
  private lastNodeUrl: string | null = null;

  constructor(
    private readonly credentials: Credentials,
    options: ClientOptions = {},
  ) {
    const live = options.live ?? {};
    this.settings = {
      callDeadlineMs: options.callDeadlineMs ?? CLIENT_LIMITS.callDeadlineMs,
      attemptTimeoutMs: options.attemptTimeoutMs ?? CLIENT_LIMITS.attemptTimeoutMs,
      backoffBaseMs: options.backoffBaseMs ?? CLIENT_LIMITS.backoffBaseMs,
      backoffMaxMs: options.backoffMaxMs ?? CLIENT_LIMITS.backoffMaxMs,
      sessions: options.sessions ?? true,
      namespace: options.namespace,
      livePingIntervalMs: live.pingIntervalMs ?? CLIENT_LIMITS.livePingIntervalMs,
      livePingTimeoutMs: live.pingTimeoutMs ?? CLIENT_LIMITS.livePingTimeoutMs,
      liveResumeDeadlineMs: live.resumeDeadlineMs ?? CLIENT_LIMITS.liveResumeDeadlineMs,
      liveConnectTimeoutMs: live.connectTimeoutMs ?? CLIENT_LIMITS.liveConnectTimeoutMs,
      liveBatchSize: live.batchSize ?? CLIENT_LIMITS.liveBatchSize,
      liveBufferedEventsMax: live.bufferedEventsMax ?? CLIENT_LIMITS.liveBufferedEventsMax,
    };
    this.pool = new NodePool(credentials.nodes, options.nodeDownMs ?? CLIENT_LIMITS.nodeDownMs);
    const platformFetch = (globalThis as { fetch?: typeof fetch }).fetch;
    const fetchFn = options.fetch ?? platformFetch;
    if (fetchFn === undefined) throw new TypeError('createClient: no fetch here: pass ClientOptions.fetch');
    // Called unbound, a browser's fetch throws "Illegal invocation".
    this.fetchFn = options.fetch ?? ((input, init) => fetchFn(input, init));
    this.random = options.random ?? Math.random;
    this.WebSocketOption = options.WebSocket;
    this.session = new ClientSession();
    this.token = 'token' in credentials ? credentials.token : null;
  }

  /** The rows of a read (the last statement's, when the body holds several: queryAll has them all). */
  async query<T = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    opts: CallOptions = {},
  ): Promise<QueryResult<T>> {
    const results = await this.queryAll(sql, params, opts);
    const last = results[results.length - 1];
    if (last === undefined) throw new KalamError('BAD_RESPONSE', 'the server answered a query with no result');
    return last as QueryResult<T>;
  }

  /** Every statement's result, in order. */
  async queryAll(sql: string, params?: readonly unknown[], opts: CallOptions = {}): Promise<QueryResult[]> {
    const body = this.sqlBody(sql, params, opts);
    const answer = await this.call(SQL_PATH, () => body, 'read', this.deadlineOf(opts));
    return resultsOf(answer.body);
  }

  /**
   * A write, applied once: with sessions on (the default) it is retried through other nodes until answered or its
   * deadline passes, under one seq. See the module comment for what happens without a session.
   */
  async execute(sql: string, params?: readonly unknown[], opts: CallOptions = {}): Promise<ExecuteResult> {
    const deadlineAtMs = this.deadlineOf(opts);
    if (!this.settings.sessions) return this.plainWrite(sql, params, opts, deadlineAtMs);
    // A session the server expired before this write's first attempt reached it: nothing was applied under it, so the
    // write starts again once under a fresh client id.
    if (Date.now() - this.session.createdMs > CLIENT_LIMITS.sessionRotateAfterMs) this.rotateSession(this.session);
    for (let rotations = 0; ; rotations++) {
      const session = this.session;
      const seq = session.begin();
      let mayHaveApplied = false;
      try {
        const answer = await this.call(
          SQL_PATH,
          () => ({ ...this.sqlBody(sql, params, opts), client_session: session.stamp(seq) }),
          'session-write',
          deadlineAtMs,
          () => (mayHaveApplied = true),
        );
        return executeResultOf(answer.body);
      } catch (err) {
        if (!(err instanceof KalamError)) throw err;
        if (err.code === 'SESSION_UNSUPPORTED') return this.plainWrite(sql, params, opts, deadlineAtMs);
        if (!(err instanceof SessionExpiredError)) throw err;
        this.rotateSession(session);
        if (mayHaveApplied) {
          throw new OutcomeUnknownError(
            'OUTCOME_UNKNOWN',
            'the write may have been applied: its answer was lost and its client session expired before a retry',
            { node: err.node ?? '', cause: err },
          );
        }
        if (rotations > 0) throw err;
      } finally {
        session.finish(seq);
      }
    }
  }

  /**
   * A live query: `onInitial` gets the rows as of the subscription (then `onChange` every change after them, in
   * commit order, once each, across node failures). Resolves once the initial rows are delivered.
   */
  async subscribe<T = Record<string, unknown>>(sql: string, opts: SubscribeOptions<T>): Promise<Subscription<T>> {
    this.assertOpen();
    const sub = new Subscription<T>(this.liveHost(), sql, opts);
    this.subscriptions.add(sub);
    void sub.ended.then(() => this.subscriptions.delete(sub as Subscription<never>));
    await sub.start();
    return sub;
  }

  /** The async-iterator form of subscribe: `for await (const event of client.live(sql))`; `break` unsubscribes. */
  live<T = Record<string, unknown>>(
    sql: string,
    opts: { readonly fromSeq?: number; readonly lastRows?: number } = {},
  ): LiveIterable<LiveEvent<T>> {
    return liveIterable<T>((o) => this.subscribe<T>(sql, { ...opts, ...o }), this.settings.liveBufferedEventsMax);
  }

  /** What the client knows of its nodes: up or down, and which it prefers. */
  nodes(): { readonly nodes: NodeState[]; readonly preferred: string | null; readonly lastUsed: string | null } {
    return { nodes: this.pool.states(), preferred: this.pool.preferredNode, lastUsed: this.lastNodeUrl };
  }

  /** The client id of the current session (exactly-once writes), and how many writes are in flight under it. */
  sessionInfo(): {
    readonly clientId: string;
    readonly createdMs: number;
    readonly inFlight: number;
    readonly acked: number;
  } {
    const s = this.session;
    return { clientId: s.clientId, createdMs: s.createdMs, inFlight: s.inFlight, acked: s.acked() };
  }

  /** Ends every subscription, aborts calls in flight and stops every timer: nothing of the client keeps Node alive. */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    await Promise.all([...this.subscriptions].map((s) => s.unsubscribe()));
  }

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  // ---------------------------------------------------------------------------------------------------------------

  private liveHost() {
    return {
      settings: this.settings,
      pool: this.pool,
      random: this.random,
      WebSocket: this.WebSocketOption,
      closeSignal: this.closing.signal,
      token: (refresh: boolean) => this.bearerToken(refresh, Date.now() + this.settings.callDeadlineMs),
      canRelogin: () => 'password' in this.credentials,
    };
  }

  private deadlineOf(opts: CallOptions): number {
    return Date.now() + (opts.deadlineMs ?? this.settings.callDeadlineMs);
  }

  private sqlBody(sql: string, params: readonly unknown[] | undefined, opts: CallOptions): Record<string, unknown> {
    const namespace = opts.namespace ?? this.settings.namespace;
    return {
      sql,
      ...(params !== undefined ? { params } : {}),
      ...(namespace !== undefined ? { namespace_id: namespace } : {}),
    };
  }

  private async plainWrite(
    sql: string,
    params: readonly unknown[] | undefined,
    opts: CallOptions,
    deadlineAtMs: number,
  ): Promise<ExecuteResult> {
    const body = this.sqlBody(sql, params, opts);
    const answer = await this.call(SQL_PATH, () => body, 'plain-write', deadlineAtMs);
    return executeResultOf(answer.body);
  }

  private rotateSession(expired: ClientSession): void {
    if (this.session === expired) this.session = new ClientSession();
  }

  private assertOpen(): void {
    if (this.closing.signal.aborted) throw new ClientClosedError('CLIENT_CLOSED', 'the client is closed');
  }

  /**
   * One call: attempts through the nodes until one is decided (verdictOf) or the deadline passes. `onLost` is told
   * when an attempt's answer was lost (a session write that may have been applied).
   */
  private async call(
    path: string,
    makeBody: () => Record<string, unknown>,
    policy: Policy,
    deadlineAtMs: number,
    onLost?: () => void,
  ): Promise<{ node: string; body: ApiBody }> {
    const tried = new Set<string>();
    let relogins = 0;
    let last: KalamError | null = null;
    let mayHaveApplied = false;
    for (let attemptNo = 0; ; attemptNo++) {
      this.assertOpen();
      if (attemptNo > 0) {
        const waitMs = backoffDelayMs(attemptNo - 1, this.settings, this.random);
        if (Date.now() + waitMs >= deadlineAtMs)
          throw this.deadlineError(last, attemptNo, mayHaveApplied && policy !== 'read');
        await sleep(waitMs, this.closing.signal);
        this.assertOpen();
      }
      const remainingMs = deadlineAtMs - Date.now();
      if (remainingMs <= 0) throw this.deadlineError(last, attemptNo, mayHaveApplied && policy !== 'read');
      const node = this.nextNode(tried);
      const authorization =
        path === LOGIN_PATH ? null : await this.authorization(deadlineAtMs, mayHaveApplied && policy !== 'read');
      const attempt = await this.attempt(
        node,
        path,
        makeBody(),
        authorization,
        Math.min(remainingMs, this.settings.attemptTimeoutMs),
      );
      const verdict = verdictOf(
        attempt,
        policy,
        relogins === 0 && 'password' in this.credentials && path !== LOGIN_PATH,
      );
      if (attempt.kind === 'lost') {
        this.pool.markDown(node);
        last = attempt.error;
        if (!attempt.notSent) {
          mayHaveApplied = true;
          onLost?.();
        }
      } else {
        this.pool.markUp(node);
        this.lastNodeUrl = node;
        last = attempt.status === 200 ? null : this.errorOf(attempt);
        if (outcomeUnknownIn(attempt.body.error?.details)) {
          mayHaveApplied = true;
          onLost?.();
        }
      }
      switch (verdict) {
        case 'done':
          if (attempt.kind === 'answer') return { node, body: attempt.body };
          throw new KalamError('BAD_RESPONSE', 'an attempt without an answer cannot be done'); // unreachable
        case 'retry':
          continue;
        case 'relogin':
          relogins++;
          this.token = null;
          continue;
        case 'unknown':
          throw new OutcomeUnknownError('OUTCOME_UNKNOWN', `the write may have been applied: ${last?.message ?? ''}`, {
            node,
            ...(last !== null ? { cause: last, httpStatus: last.httpStatus, details: last.details } : {}),
          });
        case 'raise':
          throw last ?? new KalamError('BAD_RESPONSE', 'an error answer without an error');
      }
    }
  }

  /** The next node to try: the best in pool order not yet tried in this round (every node once, then again). */
  private nextNode(tried: Set<string>): string {
    const order = this.pool.order();
    let node = order.find((url) => !tried.has(url));
    if (node === undefined) {
      tried.clear();
      node = order[0];
    }
    tried.add(node);
    return node;
  }

  /**
   * The call's deadline passed. A write that one attempt may have applied (its answer lost) fails with
   * OutcomeUnknownError; otherwise the last error stands (an UnavailableError when it was about reaching a node).
   */
  private deadlineError(last: KalamError | null, attempts: number, mayHaveApplied: boolean): KalamError {
    const what = `no node answered within the call's deadline (${attempts} attempt(s))`;
    const options = {
      node: last?.node ?? '',
      ...(last !== null ? { cause: last, httpStatus: last.httpStatus, details: last.details } : {}),
    };
    if (mayHaveApplied) {
      return new OutcomeUnknownError('OUTCOME_UNKNOWN', `the write may have been applied: ${what}`, options);
    }
    if (last !== null && !(last instanceof UnavailableError)) return last;
    return new UnavailableError(last?.code ?? 'CONNECTION_FAILED', `${what}: ${last?.message ?? 'none made'}`, options);
  }

  private errorOf(attempt: Extract<Attempt, { kind: 'answer' }>): KalamError {
    const e = attempt.body.error;
    if (e === undefined) {
      return new KalamError('BAD_RESPONSE', `HTTP ${attempt.status} without an error body`, {
        httpStatus: attempt.status,
        node: attempt.node,
      });
    }
    const err = errorFromServer(e.code, e.message, {
      httpStatus: attempt.status,
      details: e.details ?? null,
      node: attempt.node,
    });
    if (err instanceof RateLimitError) {
      const d = e.details as { retryAfterSeconds?: unknown } | null | undefined;
      if (typeof d?.retryAfterSeconds === 'number') err.retryAfterSeconds = d.retryAfterSeconds;
    }
    return err;
  }

  /** One HTTP attempt on `node`, bounded by `timeoutMs`; never throws. */
  private async attempt(
    node: string,
    path: string,
    body: Record<string, unknown>,
    authorization: string | null,
    timeoutMs: number,
  ): Promise<Attempt> {
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    this.closing.signal.addEventListener('abort', onClose);
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (authorization !== null) headers['Authorization'] = authorization;
    try {
      const res = await this.fetchFn(`${node}${path}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: abort.signal,
      });
      const text = await res.text();
      this.pool.setPreferred(res.headers.get(SHARD_LEADER_HEADER));
      let parsed: ApiBody;
      try {
        parsed = JSON.parse(text) as ApiBody;
      } catch {
        // Not the API's JSON (a proxy's error page): a 5xx is a node that cannot serve, anything else a surprise.
        if (res.status >= 500) {
          const error = new UnavailableError('CONNECTION_FAILED', `HTTP ${res.status} from ${node} without JSON`, {
            httpStatus: res.status,
            node,
          });
          return { kind: 'lost', node, error, notSent: false };
        }
        parsed = {
          status: 'error',
          error: { code: 'BAD_RESPONSE', message: `HTTP ${res.status}: ${text.slice(0, 200)}` },
        };
      }
      return { kind: 'answer', node, status: res.status, body: parsed };
    } catch (err) {
      const timedOut = abort.signal.aborted && !this.closing.signal.aborted;
      const message = timedOut
        ? `no answer from ${node} within ${timeoutMs} ms`
        : `cannot reach ${node}: ${messageOf(err)}`;
      const error = new UnavailableError('CONNECTION_FAILED', message, { node, cause: err });
      return { kind: 'lost', node, error, notSent: !timedOut && connectionRefused(err) };
    } finally {
      clearTimeout(timer);
      this.closing.signal.removeEventListener('abort', onClose);
    }
  }

  /**
   * The Authorization header for an attempt. When signing in fails (no node answers it) after an attempt of this write
   * may have been applied, the write's outcome is what the caller must hear about.
   */
  private async authorization(deadlineAtMs: number, writeMayHaveApplied: boolean): Promise<string> {
    try {
      return `Bearer ${await this.bearerToken(false, deadlineAtMs)}`;
    } catch (err) {
      if (!writeMayHaveApplied || !(err instanceof KalamError) || err instanceof ClientClosedError) throw err;
      throw new OutcomeUnknownError('OUTCOME_UNKNOWN', `the write may have been applied: ${err.message}`, {
        node: err.node ?? '',
        cause: err,
      });
    }
  }

  /** The token to send: the given one, or (password clients) a fresh sign-in's, renewed before it expires. */
  private async bearerToken(refresh: boolean, deadlineAtMs: number): Promise<string> {
    if (!('password' in this.credentials)) {
      if (this.token === null) throw new AuthError('UNAUTHORIZED', 'the token was refused');
      return this.token;
    }
    const fresh = Date.now() < this.tokenRenewAtMs;
    if (!refresh && this.token !== null && fresh) return this.token;
    // One sign-in at a time: every call that needs a token waits for the same one.
    this.login ??= this.signIn(this.credentials.user, this.credentials.password, deadlineAtMs).finally(() => {
      this.login = null;
    });
    return this.login;
  }

  private async signIn(user: string, password: string, deadlineAtMs: number): Promise<string> {
    const startedMs = Date.now();
    const answer = await this.call(LOGIN_PATH, () => ({ username: user, password }), 'read', deadlineAtMs);
    const token = answer.body.access_token;
    if (typeof token !== 'string') throw new KalamError('BAD_RESPONSE', 'the login answer has no access_token');
    const ttlSeconds = answer.body.expires_in;
    this.token = token;
    // Renewed tokenRenewBeforeMs before it expires, or half-way through a lifetime shorter than twice that.
    const ttlMs = typeof ttlSeconds === 'number' && ttlSeconds > 0 ? ttlSeconds * 1000 : Number.POSITIVE_INFINITY;
    this.tokenRenewAtMs = startedMs + ttlMs - Math.min(CLIENT_LIMITS.tokenRenewBeforeMs, ttlMs / 2);
    return token;
  }
}

export function createClient(credentials: Credentials, options?: ClientOptions): Client {
  return new Client(credentials, options);
}

function resultsOf(body: ApiBody): QueryResult[] {
  return (body.results ?? []).map((r) => {
    const schema = (r.schema ?? []).map((c) => ({ name: c.name, data_type: c.data_type }));
    const rows = (r.rows ?? []).map((values) => {
      const row: Record<string, unknown> = {};
      schema.forEach((c, i) => (row[c.name] = values[i]));
      return row;
    });
    return {
      rows,
      schema,
      rowCount: r.row_count ?? rows.length,
      ...(r.message !== undefined ? { message: r.message } : {}),
    };
  });
}

function executeResultOf(body: ApiBody): ExecuteResult {
  const results = resultsOf(body);
  const last = results[results.length - 1];
  return {
    rowCount: last?.rowCount ?? 0,
    message: last?.message ?? '',
    replayed: body.client_session?.replayed === true,
    results,
  };
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

/**
 * The connection was refused: the request never reached a server, so even a write without a session may be sent
 * elsewhere. Node's fetch (undici) says so in the cause's `code`; a browser never says, and then it counts as lost.
 */
export function connectionRefused(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ECONNREFUSED') return true;
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0 && errors.every((x) => connectionRefused(x))) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
