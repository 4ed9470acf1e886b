/**
 * What a client is told about an error. An INTERNAL_ERROR carries whatever broke below it — a file path under the
 * data folder, a SQLite message, a peer's address — so only a session that may read system.storages (dba and system:
 * the node's paths are already theirs to see; one rule, system-tables.ts) gets its message. Anyone else, and a request
 * with no session yet, gets a reference; the node's log carries the full message under that reference, so an operator
 * can still find what happened. Every other code is written for clients and passes unchanged.
 */
import { randomBytes } from 'node:crypto';

import { canReadSystem } from '@kalam/kalamdb';
import type { Session } from '@kalam/kalamdb';

import type { NodeLog } from './runtime.js';

export interface ClientError {
  readonly httpStatus: number;
  readonly code: string;
  readonly message: string;
  readonly details?: unknown;
}

/** The message of `e` as `session` may see it; logs the original of what it hides. */
export function publicMessage(
  e: { readonly code: string; readonly message: string },
  session: Session | null,
  log: NodeLog,
): string {
  if (e.code !== 'INTERNAL_ERROR' || (session !== null && canReadSystem(session, 'storages'))) return e.message;
  const ref = randomBytes(6).toString('hex');
  log('error', 'internal_error', { ref, userId: session?.userId ?? null, message: e.message });
  return `internal error (ref ${ref}); the node's log has the details`;
}

/** `e` as `session` may see it (details dropped with a hidden message). */
export function forClient<E extends ClientError>(e: E, session: Session | null, log: NodeLog): E | ClientError {
  const message = publicMessage(e, session, log);
  return message === e.message ? e : { httpStatus: e.httpStatus, code: e.code, message, details: null };
}
