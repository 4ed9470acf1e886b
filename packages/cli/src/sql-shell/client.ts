/**
 * The HTTP side of `kalam sql`: POST /v1/api/sql (`{sql, namespace_id?}`, Basic auth) to one node of the target,
 * and which node that is.
 *
 * Picking a node: with one endpoint (`--url`, `--node`) it is used as is; with several, `connect()` asks each
 * node's healthcheck in id order (bounded by healthcheckTimeoutMs) and keeps the first that answers.
 *
 * Falling over to the next node (never back to one that failed within the same call):
 *   - the connection was refused (nothing was sent): always;
 *   - a read-only batch (SELECT / SHOW / DESCRIBE only) that got a 503, no answer in time, or a broken
 *     connection: reading again elsewhere is harmless.
 * A write that was sent and got no answer is never re-sent: it may have been applied, so the call fails with
 * SQL_UNREACHABLE saying the outcome is unknown. An answer (success or the server's error) is returned as is.
 */
import type { Output } from '../output.js';
import { CliError } from '../errors.js';
import { SQL_SHELL_LIMITS } from './limits.js';
import { isReadOnly } from './statements.js';
import type { Endpoint, SqlTarget } from './target.js';
import { cliFetch } from '../cluster/tls.js';

export interface SqlColumn {
  readonly name: string;
  readonly data_type: string;
  readonly index: number;
}

/** One statement's result, as the server sends it (kalamdb QueryResult). */
export interface SqlResult {
  readonly schema: readonly SqlColumn[];
  readonly rows: readonly (readonly unknown[])[];
  readonly row_count: number;
  readonly message?: string;
  readonly as_user?: string;
}

export interface SqlApiError {
  readonly code: string;
  readonly message: string;
  readonly details?: unknown;
}

export interface SqlResponse {
  readonly status: 'success' | 'error';
  /** Absent on some error answers. */
  readonly results?: readonly SqlResult[];
  readonly took?: number;
  readonly error?: SqlApiError;
}

export interface SqlAnswer {
  readonly response: SqlResponse;
  /** The body exactly as received, for `--json`. */
  readonly body: string;
  readonly httpStatus: number;
  readonly endpoint: Endpoint;
}

/** Codes of connection errors raised before any byte of the request left: safe to send elsewhere. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

type Attempt =
  | { readonly kind: 'answer'; readonly answer: SqlAnswer }
  | { readonly kind: 'not-sent'; readonly detail: string }
  | { readonly kind: 'no-answer'; readonly detail: string };

export function endpointName(e: Endpoint): string {
  return e.nodeId === null ? e.apiUrl : `node ${e.nodeId} (${e.apiUrl})`;
}

export interface SqlClientOptions {
  /** Default SQL_SHELL_LIMITS.requestTimeoutMs. */
  readonly requestTimeoutMs?: number;
  /** Default SQL_SHELL_LIMITS.healthcheckTimeoutMs. */
  readonly healthcheckTimeoutMs?: number;
}

export class SqlClient {
  private current = 0;
  private readonly authorization: string;
  private readonly requestTimeoutMs: number;
  private readonly healthcheckTimeoutMs: number;

  constructor(
    readonly target: SqlTarget,
    private readonly out: Output,
    opts: SqlClientOptions = {},
  ) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? SQL_SHELL_LIMITS.requestTimeoutMs;
    this.healthcheckTimeoutMs = opts.healthcheckTimeoutMs ?? SQL_SHELL_LIMITS.healthcheckTimeoutMs;
    this.authorization = `Basic ${Buffer.from(`${target.user}:${target.password}`).toString('base64')}`;
  }

  /** The node statements go to now. */
  get endpoint(): Endpoint {
    const e = this.target.endpoints[this.current];
    if (e === undefined) throw new Error(`SqlClient: no endpoint ${this.current}`);
    return e;
  }

  /** With several candidate nodes, settles on the first whose healthcheck answers; SQL_UNREACHABLE if none. */
  async connect(): Promise<Endpoint> {
    const endpoints = this.target.endpoints;
    if (endpoints.length === 1) return this.endpoint;
    const failures: string[] = [];
    for (const [i, e] of endpoints.entries()) {
      const detail = await healthcheck(e, this.healthcheckTimeoutMs);
      if (detail === null) {
        this.current = i;
        if (failures.length > 0) this.notice(`${failures.join('; ')}; using ${endpointName(e)}`);
        return e;
      }
      failures.push(`${endpointName(e)}: ${detail}`);
    }
    throw this.unreachable(failures);
  }

  /** Sends one request (a statement or a `;`-separated batch); see the module header for when it falls over. */
  async execute(sql: string, namespace: string | null): Promise<SqlAnswer> {
    const body = JSON.stringify(namespace === null ? { sql } : { sql, namespace_id: namespace });
    const readOnly = isReadOnly(sql);
    const endpoints = this.target.endpoints;
    const failures: string[] = [];
    for (let k = 0; k < endpoints.length; k++) {
      const i = (this.current + k) % endpoints.length;
      const e = endpoints[i];
      if (e === undefined) break;
      const attempt = await this.post(e, body);
      const last = k === endpoints.length - 1;
      if (attempt.kind === 'answer') {
        const unavailable = attempt.answer.httpStatus === 503 && readOnly && !last;
        if (!unavailable) {
          if (failures.length > 0) this.notice(`${failures.join('; ')}; using ${endpointName(e)}`);
          this.current = i;
          return attempt.answer;
        }
        failures.push(`${endpointName(e)}: ${attempt.answer.response.error?.code ?? 'HTTP 503'}`);
        continue;
      }
      if (attempt.kind === 'no-answer' && !readOnly) {
        throw new CliError(
          'SQL_UNREACHABLE',
          `${endpointName(e)}: ${attempt.detail}; the statement may or may not have been applied (not re-sent)`,
        );
      }
      failures.push(`${endpointName(e)}: ${attempt.detail}`);
    }
    throw this.unreachable(failures);
  }

  private async post(e: Endpoint, body: string): Promise<Attempt> {
    let res: Response;
    let text: string;
    try {
      res = await cliFetch(`${e.apiUrl}/v1/api/sql`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: this.authorization },
        body,
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      text = await res.text();
    } catch (err) {
      return failedAttempt(err, this.requestTimeoutMs);
    }
    return {
      kind: 'answer',
      answer: { response: parseResponse(text, res.status, e), body: text, httpStatus: res.status, endpoint: e },
    };
  }

  private unreachable(failures: readonly string[]): CliError {
    const tried = failures.join('; ');
    if (this.target.endpoints.length === 1 && !this.target.clusterDown) {
      return new CliError('SQL_UNREACHABLE', `cannot reach ${tried}`);
    }
    const down = this.target.clusterDown ? ' (it is not up: start it with kalam cluster up)' : '';
    return new CliError('SQL_UNREACHABLE', `no node of ${this.target.label} answered${down}: ${tried}`);
  }

  private notice(text: string): void {
    this.out.note(this.out.noteColor.yellow(text));
  }
}

/**
 * null when the node answers its liveness endpoint, else why not, in a few words. Liveness, not readiness: a
 * node that is up but waiting for a leader still answers with the reason (or waits for the election).
 */
async function healthcheck(e: Endpoint, timeoutMs: number): Promise<string | null> {
  try {
    const res = await cliFetch(`${e.apiUrl}/v1/api/health/live`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    return res.ok ? null : `healthcheck answered HTTP ${res.status}`;
  } catch (err) {
    return failedAttempt(err, timeoutMs).detail;
  }
}

function failedAttempt(err: unknown, timeoutMs: number): Exclude<Attempt, { kind: 'answer' }> {
  if (err instanceof Error && err.name === 'TimeoutError') {
    return { kind: 'no-answer', detail: `no answer within ${timeoutMs} ms` };
  }
  const cause = err instanceof Error ? err.cause : undefined;
  const code = cause instanceof Error && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
  if (code !== undefined && NOT_SENT_CODES.has(code)) {
    return { kind: 'not-sent', detail: code === 'ECONNREFUSED' ? 'connection refused' : code };
  }
  const message = cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err);
  return { kind: 'no-answer', detail: `connection failed (${code ?? message})` };
}

/** The server's JSON, checked for the fields the renderer reads; anything else is SQL_ERROR. */
function parseResponse(text: string, httpStatus: number, e: Endpoint): SqlResponse {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!isResponse(value)) {
    const snippet = text.slice(0, 120).replaceAll(/\s+/g, ' ');
    throw new CliError(
      'SQL_ERROR',
      `${endpointName(e)} answered HTTP ${httpStatus} with no Kalam response: ${snippet}`,
    );
  }
  return value;
}

function isResponse(v: unknown): v is SqlResponse {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  if (r['status'] === 'error') {
    const err = r['error'];
    return typeof err === 'object' && err !== null && typeof (err as Record<string, unknown>)['code'] === 'string';
  }
  return r['status'] === 'success' && Array.isArray(r['results']) && r['results'].every(isResult);
}

function isResult(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return Array.isArray(r['schema']) && Array.isArray(r['rows']) && r['rows'].every((row) => Array.isArray(row));
}
