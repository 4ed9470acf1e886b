/**
 * How the drill workload talks to a node's HTTP API, and what each answer means for the history.
 *
 * `DrillTransport` is one JSON POST with a time bound; `httpTransport` is the real one (fetch, trusting a --tls cluster's CA). It throws a
 * TransportFailure for every call that got no HTTP answer: `refused` (nothing listened, so nothing ran),
 * `timeout` and `reset` (the request may have been executed).
 *
 * `classifyReply` decides an outcome from what came back (DESIGN.md §7, packages/kalamdb/src/sql/errors.ts):
 * - ok: 200 with status "success".
 * - failed (definitely no effect): a 4xx (auth, validation, a state machine's deterministic refusal, which is
 *   applied as a no-op); 503 NOT_LEADER (the leader refused before appending; a follower retries those itself);
 *   503 LEADER_NOT_AVAILABLE "group … has no leader" (refused before forwarding); 503 CLUSTER_UNAVAILABLE without
 *   details (the node was draining and did not start the request); a refused connection.
 * - unknown (may have taken effect): every other 503 (a forward that failed midway, TIMEOUT, PROPOSAL_DROPPED,
 *   SHUTTING_DOWN of an in-flight proposal), a 5xx, a timeout, a reset connection, an unreadable answer.
 */
import { cliFetch } from '../cluster/tls.js';

export interface DrillReply {
  readonly status: number;
  readonly body: unknown;
}

export interface DrillTransport {
  /** POST `body` as JSON to `baseUrl + path`; rejects with a TransportFailure when no HTTP answer came. */
  post(baseUrl: string, path: string, auth: string | null, body: unknown, timeoutMs: number): Promise<DrillReply>;
}

export type FailureKind = 'refused' | 'timeout' | 'reset';

export class TransportFailure extends Error {
  override readonly name = 'TransportFailure';
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
  }
}

export const httpTransport: DrillTransport = {
  async post(baseUrl, path, auth, body, timeoutMs) {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (auth !== null) headers['Authorization'] = auth;
    let res: Response;
    try {
      res = await cliFetch(`${baseUrl}${path}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw toFailure(err);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw toFailure(err);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { unparsable: text.slice(0, 200) };
    }
    return { status: res.status, body: parsed };
  },
};

function toFailure(err: unknown): TransportFailure {
  if (err instanceof TransportFailure) return err;
  const e = err as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return new TransportFailure('timeout', 'timeout');
  const code = typeof e.cause?.code === 'string' ? e.cause.code : '';
  if (code === 'ECONNREFUSED') return new TransportFailure('refused', 'connection refused');
  const detail = code !== '' ? code : typeof e.message === 'string' ? e.message : String(err);
  return new TransportFailure('reset', `connection lost: ${detail}`);
}

export type Classified =
  | { readonly outcome: 'ok'; readonly body: Record<string, unknown> }
  | { readonly outcome: 'failed' | 'unknown'; readonly reason: string };

export function classifyReply(reply: DrillReply): Classified {
  const body = isRecord(reply.body) ? reply.body : {};
  if (reply.status === 200 && body['status'] === 'success') return { outcome: 'ok', body };
  const error = isRecord(body['error']) ? body['error'] : {};
  const code = typeof error['code'] === 'string' ? error['code'] : `HTTP_${reply.status}`;
  const message = typeof error['message'] === 'string' ? error['message'] : '';
  const details = error['details'];
  const reason = `${reply.status} ${code}`;
  if (reply.status >= 400 && reply.status < 500) return { outcome: 'failed', reason };
  if (reply.status === 503) {
    if (code === 'NOT_LEADER') return { outcome: 'failed', reason };
    if (code === 'LEADER_NOT_AVAILABLE' && /has no leader$/.test(message)) return { outcome: 'failed', reason };
    if (code === 'CLUSTER_UNAVAILABLE' && (details === null || details === undefined)) {
      return { outcome: 'failed', reason };
    }
  }
  return { outcome: 'unknown', reason };
}

export function classifyFailure(err: unknown): Classified {
  if (err instanceof TransportFailure) {
    return { outcome: err.kind === 'refused' ? 'failed' : 'unknown', reason: err.message };
  }
  return { outcome: 'unknown', reason: err instanceof Error ? err.message : String(err) };
}

/** The rows of the last statement of a successful SQL answer. */
export function rowsOf(body: Record<string, unknown>): unknown[][] {
  const results = body['results'];
  if (!Array.isArray(results) || results.length === 0) return [];
  const last: unknown = results[results.length - 1];
  const rows = isRecord(last) ? last['rows'] : undefined;
  return Array.isArray(rows) ? (rows.filter(Array.isArray) as unknown[][]) : [];
}

/** row_count of the last statement of a successful SQL answer (0 when absent). */
export function rowCountOf(body: Record<string, unknown>): number {
  const results = body['results'];
  if (!Array.isArray(results) || results.length === 0) return 0;
  const last: unknown = results[results.length - 1];
  const count = isRecord(last) ? last['row_count'] : undefined;
  return typeof count === 'number' ? count : 0;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
