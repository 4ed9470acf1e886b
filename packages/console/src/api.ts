/**
 * The console's calls to the node that served it (same origin, so no CORS and a CSP of 'self'): login, SQL and the
 * cluster overview. The token lives in sessionStorage: it is gone when the tab closes, and a reload keeps the user
 * signed in. A 401 anywhere signs out (an expired or revoked token).
 */

export interface SignedIn {
  readonly token: string;
  readonly username: string;
  readonly role: string;
}

const SESSION_KEY = 'kalam.console.session';
/** Every call is bounded: a node that hangs must not freeze the page's polling. */
const REQUEST_TIMEOUT_MS = 15_000;

export function loadSession(): SignedIn | null {
  const text = sessionStorage.getItem(SESSION_KEY);
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as Partial<SignedIn>;
    if (typeof v.token === 'string' && typeof v.username === 'string' && typeof v.role === 'string') {
      return { token: v.token, username: v.username, role: v.role };
    }
  } catch {
    // a damaged entry is the same as none
  }
  sessionStorage.removeItem(SESSION_KEY);
  return null;
}

export function saveSession(s: SignedIn | null): void {
  if (s === null) sessionStorage.removeItem(SESSION_KEY);
  else sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
}

/** An error the server answered with (`{status: "error", error: {code, message}}`), or a network failure. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number | null,
  ) {
    super(message);
  }
}

async function call(path: string, init: RequestInit, token: string | null): Promise<unknown> {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set('Authorization', `Bearer ${token}`);
  if (init.body !== undefined) headers.set('Content-Type', 'application/json');
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    throw new ApiError('NETWORK', `${path}: ${err instanceof Error ? err.message : String(err)}`, null);
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new ApiError('BAD_RESPONSE', `${path} answered ${res.status} without JSON`, res.status);
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (!res.ok || error !== undefined) {
    const code = typeof error?.code === 'string' ? error.code : `HTTP_${res.status}`;
    const message = typeof error?.message === 'string' ? error.message : res.statusText;
    throw new ApiError(code, message, res.status);
  }
  return body;
}

export async function login(username: string, password: string): Promise<SignedIn> {
  const body = (await call(
    '/v1/api/auth/login',
    { method: 'POST', body: JSON.stringify({ username, password }) },
    null,
  )) as { access_token: string; user: { username: string; role: string } };
  return { token: body.access_token, username: body.user.username, role: body.user.role };
}

export type Value = string | number | boolean | null;

export interface ColumnInfo {
  readonly name: string;
  readonly data_type: string;
}

export interface QueryResult {
  readonly schema: readonly ColumnInfo[];
  readonly rows: readonly (readonly Value[])[];
  readonly row_count: number;
  readonly message?: string;
}

export interface SqlAnswer {
  readonly results: readonly QueryResult[];
  readonly took: number;
}

export async function runSql(token: string, sql: string): Promise<SqlAnswer> {
  return (await call('/v1/api/sql', { method: 'POST', body: JSON.stringify({ sql }) }, token)) as SqlAnswer;
}

/** One group as one node reports it (the fields of the server's GroupStatus the map shows). */
export interface GroupReport {
  readonly name: string;
  readonly role: string;
}

/** One member as GET /v1/api/cluster/overview reports it: its own status, or why it could not be asked. */
export interface NodeOverview {
  readonly node_id: number;
  readonly api_url: string | null;
  readonly self: boolean;
  readonly state: string | null;
  /** Its Raft link to the serving node is connected (the serving node's view). */
  readonly up: boolean;
  /** It answered the serving node's request for its status. */
  readonly reachable: boolean;
  readonly ready: boolean | null;
  readonly not_serving: number | null;
  readonly error: string | null;
  readonly groups: readonly GroupReport[] | null;
}

/** One group across the cluster, folded by the server (cluster-aggregate.ts: the rule `kalam cluster status` uses). */
export interface ClusterGroup {
  readonly name: string;
  readonly id: number;
  /** Counted only when that node answered; null when no reachable node knows one. */
  readonly leader: number | null;
  readonly term: number;
  /** By node id: applied index, and the leader's applied index minus it (null: unknown). */
  readonly applied: Readonly<Record<string, number | null>>;
  readonly lag: Readonly<Record<string, number | null>>;
  readonly voters: readonly number[];
  readonly learners: readonly number[];
  readonly votersOutgoing: readonly number[];
}

export interface ClusterOverview {
  readonly mode: 'standalone' | 'cluster';
  readonly cluster_id: string | null;
  readonly node_id: number;
  readonly nodes: readonly NodeOverview[];
  readonly groups: readonly ClusterGroup[];
}

export async function clusterOverview(token: string): Promise<ClusterOverview> {
  return (await call('/v1/api/cluster/overview', { method: 'GET' }, token)) as ClusterOverview;
}
