/**
 * The mechanics of the SQL fuzz test (fuzz-sql.test.ts) over a KalamNodes cluster: the actors' sessions, sending a
 * generated request and judging its answer, reading every node's state digests, and waiting — bounded — until the
 * nodes agree or one of them has exited.
 *
 * The verdict on one answer (`judge`):
 * - `ok`: 200 with `{status: "success", results: [...]}`;
 * - `refused`: a 4xx with KalamDB's error shape `{status: "error", error: {code, message}}`, code a non-empty string;
 * - `unavailable`: 503 with NOT_LEADER, LEADER_NOT_AVAILABLE or CLUSTER_UNAVAILABLE (an election or a timeout under
 *   load: a clear answer, but the test bounds how many it accepts and asks each again once the cluster is quiet);
 * - `failure`: anything else — a 500 or another 5xx, a reset or refused connection, no answer within
 *   REQUEST_TIMEOUT_MS, a body that is not JSON or not the documented shape.
 */
import { KalamNodes, ROOT_PASSWORD } from './nodes.js';
import { basic, bearer } from './net.js';
import { FUZZ_ACTORS, FUZZ_PASSWORD, setupRows, setupStatements, type FuzzActor, type FuzzRequest } from '@kalam/sim';

/**
 * Entries between two snapshots of a group (the default is 10,000): low, so that groups snapshot and compact their
 * logs many times during a run, over whatever state the statements left.
 */
export const SNAPSHOT_THRESHOLD = 500;

/** A request with no answer after this long is a hang, not load: the executor's own waits are 5 s each. */
export const REQUEST_TIMEOUT_MS = 30_000;

export type Verdict = 'ok' | 'refused' | 'unavailable' | 'failure';

export interface Outcome {
  readonly verdict: Verdict;
  /** HTTP status, or 0 without one. */
  readonly status: number;
  /** The error code of a refusal or an unavailable answer. */
  readonly code?: string;
  /** What went wrong (failures), or the error message. */
  readonly detail: string;
}

const UNAVAILABLE_CODES: ReadonlySet<string> = new Set(['NOT_LEADER', 'LEADER_NOT_AVAILABLE', 'CLUSTER_UNAVAILABLE']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The verdict on one HTTP answer (see the file comment). */
export function judge(status: number, text: string): Outcome {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { verdict: 'failure', status, detail: `the body is not JSON: ${text.slice(0, 300)}` };
  }
  if (!isRecord(body))
    return { verdict: 'failure', status, detail: `the body is not an object: ${text.slice(0, 300)}` };
  if (status === 200) {
    if (body['status'] === 'success' && Array.isArray(body['results'])) return { verdict: 'ok', status, detail: '' };
    return { verdict: 'failure', status, detail: `a 200 without {status: "success", results}: ${text.slice(0, 300)}` };
  }
  const error = body['error'];
  const code = isRecord(error) && typeof error['code'] === 'string' ? error['code'] : '';
  const message = isRecord(error) && typeof error['message'] === 'string' ? error['message'] : null;
  const shaped = body['status'] === 'error' && code !== '' && message !== null;
  if (status >= 400 && status < 500 && shaped) return { verdict: 'refused', status, code, detail: message };
  if (status === 503 && shaped && UNAVAILABLE_CODES.has(code)) {
    return { verdict: 'unavailable', status, code, detail: message };
  }
  return { verdict: 'failure', status, code, detail: `HTTP ${status}: ${text.slice(0, 600)}` };
}

/** What a failed fetch says: the socket error's code when there is one. */
function networkFailure(err: unknown): Outcome {
  const cause = err instanceof Error && isRecord(err.cause) ? err.cause : undefined;
  const code = typeof cause?.['code'] === 'string' ? cause['code'] : '';
  const name = err instanceof Error ? err.name : '';
  const what =
    name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS} ms` : `${String(err)}${code ? ` (${code})` : ''}`;
  return { verdict: 'failure', status: 0, detail: `connection: ${what}` };
}

async function post(url: string, path: string, auth: string | undefined, body: unknown): Promise<Outcome> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (auth !== undefined) headers['Authorization'] = auth;
  try {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return judge(res.status, await res.text());
  } catch (err) {
    return networkFailure(err);
  }
}

/** A group's line of GET /v1/api/cluster/status. */
interface GroupLine {
  readonly name: string;
  readonly role: string;
  readonly leader: number | null;
  readonly term: number;
  readonly commit_index: number;
  readonly applied_index: number;
  readonly last_index: number;
}

/** The digests view of one node (admin.ts): per group name, its applied index and state digest. */
export type Digests = Readonly<Record<string, { readonly applied: number; readonly digest: string }>>;

/** Where the cluster stands after a wait: agreed, one node exited, or neither within the bound. */
export type Settled =
  | { readonly kind: 'converged' }
  | { readonly kind: 'exited'; readonly node: number; readonly detail: string }
  | { readonly kind: 'diverged'; readonly detail: string };

/**
 * A fuzz cluster: KalamNodes with the admin endpoints on, the actors created and logged in. `send` goes to one node
 * with the actor's Bearer token (one login per actor; a token is good on every node of the cluster).
 */
export class FuzzCluster {
  private readonly tokens = new Map<FuzzActor, string>();
  private readonly exits = new Map<number, string>();
  /** Logins again after a 401 (an actor's token should stay good for the whole run). */
  relogins = 0;

  private constructor(readonly nodes: KalamNodes) {}

  static async start(members: number): Promise<FuzzCluster> {
    const nodes = await KalamNodes.start({
      members,
      snapshotThreshold: SNAPSHOT_THRESHOLD,
      env: { KALAM_DEBUG_ADMIN_ENDPOINTS: 'true' },
    });
    const cluster = new FuzzCluster(nodes);
    try {
      await cluster.setup();
    } catch (err) {
      await nodes.close();
      throw err;
    }
    return cluster;
  }

  ids(): number[] {
    return this.nodes.ids();
  }

  close(): Promise<void> {
    return this.nodes.close();
  }

  /** The actors and their sessions, then the pool (setupStatements, setupRows). */
  private async setup(): Promise<void> {
    const url = this.nodes.url(1);
    const root = basic('root', ROOT_PASSWORD);
    for (const sql of setupStatements()) {
      const o = await post(url, '/v1/api/sql', root, { sql });
      if (o.verdict !== 'ok' && o.code !== 'ALREADY_EXISTS') throw new Error(`setup: ${sql}: ${o.detail}`);
    }
    for (const actor of Object.keys(FUZZ_ACTORS) as FuzzActor[]) await this.login(actor);
    await this.restorePool();
  }

  /**
   * The pool's namespace, tables and first rows as the setup made them, again (after statements that dropped or
   * changed them): idempotent, a refusal is fine, anything worse is thrown.
   */
  async restorePool(): Promise<void> {
    const url = this.nodes.url(1);
    for (const sql of setupStatements().filter((s) => !s.startsWith('CREATE USER'))) {
      const o = await post(url, '/v1/api/sql', this.auth('root'), { sql });
      if (o.verdict === 'failure' || o.verdict === 'unavailable') throw new Error(`setup: ${sql}: ${o.detail}`);
    }
    for (const { actor, sql } of setupRows()) {
      const o = await post(url, '/v1/api/sql', this.auth(actor), { sql });
      if (o.verdict === 'failure' || o.verdict === 'unavailable') throw new Error(`setup: ${sql}: ${o.detail}`);
    }
  }

  private async login(actor: FuzzActor): Promise<void> {
    const password = actor === 'root' ? ROOT_PASSWORD : FUZZ_PASSWORD;
    const res = await fetch(`${this.nodes.url(1)}/v1/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: actor, password }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200 || typeof body['access_token'] !== 'string') {
      throw new Error(`login of ${actor}: HTTP ${res.status} ${JSON.stringify(body)}`);
    }
    this.tokens.set(actor, bearer(body['access_token']));
  }

  auth(actor: FuzzActor): string {
    const token = this.tokens.get(actor);
    if (token === undefined) throw new Error(`no session for ${actor}`);
    return token;
  }

  /** Sends one generated request to node `id` as its actor. */
  async send(req: FuzzRequest, id: number): Promise<Outcome> {
    const body = {
      sql: req.sql,
      ...(req.params !== undefined ? { params: req.params } : {}),
      ...(req.namespace !== undefined ? { namespace_id: req.namespace } : {}),
    };
    const token = this.auth(req.actor);
    const outcome = await post(this.nodes.url(id), '/v1/api/sql', token, body);
    // The answer stands (a clear 4xx); the actor's next request goes with a fresh token.
    if (outcome.status === 401) await this.refresh(req.actor, token).catch(() => undefined);
    return outcome;
  }

  private readonly refreshing = new Map<FuzzActor, Promise<void>>();

  /**
   * A new token for `actor`, unless `stale` was replaced already: an ALTER USER of the actor's own record (to what it
   * already was) ends every token issued before it. One login per actor at a time (the node throttles logins).
   */
  private async refresh(actor: FuzzActor, stale: string): Promise<void> {
    if (this.tokens.get(actor) !== stale) return;
    const pending = this.refreshing.get(actor);
    if (pending !== undefined) return pending;
    this.relogins++;
    const login = this.login(actor).finally(() => this.refreshing.delete(actor));
    this.refreshing.set(actor, login);
    return login;
  }

  /** The rows of the last statement of `sql`, run as `actor` on node `id`; throws unless it succeeds. */
  async rows(actor: FuzzActor, sql: string, id = 1, retried = false): Promise<unknown[][]> {
    const token = this.auth(actor);
    const res = await fetch(`${this.nodes.url(id)}/v1/api/sql`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: token },
      body: JSON.stringify({ sql }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (res.status === 401 && !retried) {
      await this.refresh(actor, token);
      return this.rows(actor, sql, id, true);
    }
    const body = (await res.json()) as { status?: string; results?: { rows: unknown[][] }[] };
    if (res.status !== 200 || body.status !== 'success') {
      throw new Error(`${sql} on node ${id}: HTTP ${res.status} ${JSON.stringify(body).slice(0, 500)}`);
    }
    return body.results?.at(-1)?.rows ?? [];
  }

  /**
   * Nodes that exited on their own, with how and what their log said (a node seen exited stays in the list: the
   * harness forgets it once it reports the exit).
   */
  async exited(): Promise<{ node: number; detail: string }[]> {
    for (const id of this.ids()) {
      if (this.exits.has(id)) continue;
      const exit = await this.nodes.exitOf(id, 0);
      if (exit === null) continue;
      this.exits.set(id, `node ${id} exited (code ${exit.code}, signal ${exit.signal}); log:\n${telling(exit.stderr)}`);
    }
    return [...this.exits].map(([node, detail]) => ({ node, detail }));
  }

  /**
   * What each node says of the groups that are not well (GET /v1/api/cluster/status): no leader, or entries committed
   * and not applied; one line per such group and node, at most `linesMax` of them.
   */
  async diagnose(linesMax = 20): Promise<string> {
    const lines: string[] = [];
    for (const id of this.ids()) {
      if (this.exits.has(id)) continue;
      try {
        const res = await fetch(`${this.nodes.url(id)}/v1/api/cluster/status`, {
          headers: { Authorization: this.auth('root') },
          signal: AbortSignal.timeout(10_000),
        });
        const status = (await res.json()) as { groups?: GroupLine[] };
        for (const g of status.groups ?? []) {
          if (g.leader !== null && g.applied_index >= g.commit_index) continue;
          lines.push(
            `node ${id} ${g.name}: ${g.role}, leader ${g.leader}, term ${g.term}, commit ${g.commit_index}, ` +
              `applied ${g.applied_index}, last ${g.last_index}`,
          );
        }
      } catch (err) {
        lines.push(`node ${id}: no cluster status (${String(err)})`);
      }
    }
    if (lines.length === 0) lines.push('every group has a leader and has applied what it committed, on every node');
    for (const id of this.ids()) {
      if (this.exits.has(id)) continue;
      const warnings = this.nodes
        .stderrOf(id, undefined, 20_000)
        .split('\n')
        .filter((l) => /"level":"(warn|error|fatal)"/.test(l))
        .slice(-4);
      for (const w of warnings) lines.push(`node ${id} log: ${w.slice(0, 400)}`);
    }
    return lines.slice(0, linesMax).join('\n');
  }

  async digests(id: number): Promise<Digests> {
    const res = await fetch(`${this.nodes.url(id)}/v1/api/admin/digests`, {
      headers: { Authorization: this.auth('root') },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    const body = (res.headers.get('content-type')?.includes('json') === true ? JSON.parse(text) : {}) as {
      groups?: Digests;
    };
    if (res.status === 200 && body.groups !== undefined) return body.groups;
    // A digest is the hash of the group's snapshot: a state this node cannot snapshot is a bug, not a delay.
    if (res.status === 500) throw new UnsnapshottableState(`node ${id} cannot take its state digests: ${text}`);
    throw new Error(`digests of node ${id}: HTTP ${res.status} ${text.slice(0, 300)}`);
  }

  /**
   * Waits until every group has one applied index on every node, then compares the digests (converged or diverged);
   * stops early when a node exits. After `timeoutMs` without one applied index per group: diverged, with the lag.
   */
  async settle(timeoutMs: number, pollMs = 250): Promise<Settled> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no digests read';
    for (;;) {
      const gone = (await this.exited())[0];
      if (gone !== undefined) return { kind: 'exited', ...gone };
      try {
        const all = await Promise.all(this.ids().map(async (id) => [id, await this.digests(id)] as const));
        const verdict = compareDigests(all);
        if (verdict.agreed) return verdict.problems.length === 0 ? { kind: 'converged' } : diverged(verdict.problems);
        last = verdict.problems.join('; ');
      } catch (err) {
        if (err instanceof UnsnapshottableState) return diverged([err.message]);
        last = String(err);
      }
      if (Date.now() > deadline) return diverged([`no common applied index within ${timeoutMs} ms: ${last}`]);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }
}

class UnsnapshottableState extends Error {
  override readonly name = 'UnsnapshottableState';
}

/** The lines of a node's log (stderr) that say what went wrong (not its info lines), else its last lines. */
function telling(stderr: string): string {
  const lines = stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.includes('"level":"info"') && !l.includes('"level":"debug"'));
  // A fatal log line or an uncaught error's first line; not warnings that merely mention an error.
  const bad = lines.filter((l) => /"level":"(error|fatal)"|^\s*[A-Za-z]*Error\b/.test(l));
  return (bad.length > 0 ? bad.slice(0, 6) : lines.slice(-8)).map((l) => `    ${l.slice(0, 600)}`).join('\n');
}

function diverged(problems: readonly string[]): Settled {
  return { kind: 'diverged', detail: problems.slice(0, 10).join('; ') };
}

/**
 * `agreed`: every group reports one applied index on every node (then `problems` lists digests that differ);
 * otherwise `problems` says which groups lag.
 */
export function compareDigests(all: readonly (readonly [number, Digests])[]): { agreed: boolean; problems: string[] } {
  const groups = new Set(all.flatMap(([, d]) => Object.keys(d)));
  const lagging: string[] = [];
  const differing: string[] = [];
  for (const g of [...groups].sort()) {
    const seen = all.map(([id, d]) => [id, d[g]] as const);
    const show = (f: (x: { applied: number; digest: string }) => string): string =>
      seen.map(([id, x]) => `${id}:${x === undefined ? '-' : f(x)}`).join(' ');
    if (seen.some(([, x]) => x === undefined) || new Set(seen.map(([, x]) => x?.applied)).size > 1) {
      lagging.push(`${g} applied ${show((x) => String(x.applied))}`);
    } else if (new Set(seen.map(([, x]) => x?.digest)).size > 1) {
      differing.push(`${g} digests differ at applied ${seen[0]?.[1]?.applied}: ${show((x) => x.digest.slice(0, 12))}`);
    }
  }
  return lagging.length > 0 ? { agreed: false, problems: lagging } : { agreed: true, problems: differing };
}
