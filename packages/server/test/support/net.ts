/** Loopback helpers for the server tests: free ports chosen at run time, and a small JSON client. */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';

/**
 * Ports this process has handed out: the OS may give a port it just released to the next bind(0), so two calls in
 * a row could return the same one — then two nodes of one cluster were configured on one port, and the second to
 * listen exited with EADDRINUSE (seen under load: node 1's api_addr was node 2's rpc_addr).
 */
const handedOut = new Set<number>();

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it), never one this process handed out before. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await osFreePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no fresh free port in 100 attempts');
}

function osFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface JsonReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** The response's headers (absent on replies a test makes up itself). */
  readonly headers?: Headers;
}

export interface RequestOptions {
  readonly method?: 'GET' | 'POST';
  readonly auth?: string;
  /** Sent as is when a string, as JSON otherwise. */
  readonly body?: unknown;
  readonly timeoutMs?: number;
}

export async function request(baseUrl: string, path: string, opts: RequestOptions = {}): Promise<JsonReply> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (opts.auth !== undefined) headers['Authorization'] = opts.auth;
  const init: RequestInit = {
    method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
    headers,
    signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
  };
  if (opts.body !== undefined) init.body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const res = await fetch(`${baseUrl}${path}`, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

/** POST /v1/api/sql. */
export function sql(baseUrl: string, auth: string, text: string, extra: Record<string, unknown> = {}) {
  return request(baseUrl, '/v1/api/sql', { auth, body: { sql: text, ...extra } });
}

/** The rows of the last statement of a successful SQL reply; fails loudly on an error reply. */
export function rowsOf(reply: JsonReply): unknown[][] {
  if (reply.body['status'] !== 'success') throw new Error(`SQL failed: ${JSON.stringify(reply.body)}`);
  const results = reply.body['results'] as { rows: unknown[][] }[];
  return results[results.length - 1]?.rows ?? [];
}

/** Polls `probe` every `pollMs` until it returns a value other than undefined; fails with `what` after `ms`. */
export async function eventually<T>(
  ms: number,
  what: string,
  probe: () => Promise<T | undefined>,
  pollMs = 100,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms (last error: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * After a server in this process restarts on the same port, fetch's pool may still hold sockets the old server
 * closed: undici notices the close only when it next uses the socket, and a POST sent on one fails with "other side
 * closed". A few GETs (bounded) use up such sockets, so the test's next request gets a live one.
 */
export async function dropStaleConnections(baseUrl: string): Promise<void> {
  let live = 0;
  for (let attempt = 0; attempt < 8 && live < 2; attempt++) {
    live = await request(baseUrl, '/v1/api/health/live', { timeoutMs: 5_000 }).then(
      () => live + 1,
      () => 0,
    );
  }
  assert.equal(live, 2, `no live connection to ${baseUrl} after a restart`);
}

/**
 * Waits until `baseUrl` serves the replicated member list with `count` rows (created_at set). Before the meta:system
 * leader seeds it, system.cluster_nodes shows the node's own view as voters, and a removal answers MEMBERS_NOT_SEEDED.
 */
export function seededMembers(baseUrl: string, auth: string, count: number, ms: number): Promise<unknown[][]> {
  return eventually(ms, `${count} members seeded on ${baseUrl}`, async () => {
    const r = rowsOf(await sql(baseUrl, auth, 'SELECT node_id, created_at FROM system.cluster_nodes'));
    return r.length === count && r.every((row) => row[1] !== null) ? r : undefined;
  });
}
