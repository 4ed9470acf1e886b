/**
 * The typed error of the SQL layer. `code` is one of KalamDB's API error codes, so the HTTP layer can hand it to the
 * client as it is; `position` points at the offending character of the submitted text (1-based line and column,
 * 0-based UTF-16 offset) or is null when no single place is to blame (a count mismatch of bound parameters).
 * LIMIT_EXCEEDED (Kalam's own code) is a request that crosses one of SQL_LIMITS; `limit` names the bound and its
 * value, so a client can tell "too big" from "malformed" without reading the message. RATE_LIMIT_EXCEEDED (429):
 * the node's parser thread has too much queued (parse-async.ts).
 */
import { SQL_LIMITS } from './limits.js';

export type SqlErrorCode = 'INVALID_SQL' | 'EMPTY_SQL' | 'BATCH_PARSE_ERROR' | 'LIMIT_EXCEEDED' | 'RATE_LIMIT_EXCEEDED';

export type SqlLimitName = keyof typeof SQL_LIMITS;

/** The bound a LIMIT_EXCEEDED crossed: its name in SQL_LIMITS and its value. */
export interface SqlLimit {
  readonly name: SqlLimitName;
  readonly max: number;
}

export interface SqlPosition {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

export class SqlError extends Error {
  override readonly name = 'SqlError';
  constructor(
    readonly code: SqlErrorCode,
    message: string,
    readonly position: SqlPosition | null = null,
    options?: { cause?: unknown; limit?: SqlLimit },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.limit = options?.limit ?? null;
  }

  /** Set for LIMIT_EXCEEDED: the bound that was crossed. */
  readonly limit: SqlLimit | null;
}

/** The 1-based line and column of `offset` in `source` (offset clamped to [0, source.length]). */
export function positionAt(source: string, offset: number): SqlPosition {
  const clamped = Math.max(0, Math.min(offset, source.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < clamped; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: clamped - lineStart + 1, offset: clamped };
}

/** An INVALID_SQL error at `offset`, with the position appended to the message as "at line L, column C". */
export function invalidSqlAt(source: string, offset: number, message: string, cause?: unknown): SqlError {
  const position = positionAt(source, offset);
  const text = `${message} at line ${position.line}, column ${position.column}`;
  return new SqlError('INVALID_SQL', text, position, cause === undefined ? undefined : { cause });
}

/**
 * A LIMIT_EXCEEDED error for the bound `name` of SQL_LIMITS: the message says what crossed it, names the bound and
 * its value; the position (when `offset` is given) points at the first token beyond it.
 */
export function limitExceeded(source: string, offset: number | null, name: SqlLimitName, what: string): SqlError {
  const max = SQL_LIMITS[name];
  const position = offset === null ? null : positionAt(source, offset);
  const where = position === null ? '' : ` at line ${position.line}, column ${position.column}`;
  const message = `${what} (limit ${name} = ${max})${where}`;
  return new SqlError('LIMIT_EXCEEDED', message, position, { limit: { name, max } });
}
