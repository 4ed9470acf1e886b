/**
 * The worker side of parseSqlOffThread (parse-async.ts): parses each text it is sent and posts back the statements,
 * or the SqlError's fields (an Error does not cross a thread whole).
 */
import { parentPort } from 'node:worker_threads';
import { SqlError } from './errors.js';
import { parseSql } from './parse.js';

export interface ParseRequest {
  readonly id: number;
  readonly sql: string;
}

export type ParseReply =
  | { readonly id: number; readonly statements: unknown }
  | {
      readonly id: number;
      readonly error: {
        readonly code: string | null;
        readonly message: string;
        readonly position: unknown;
        readonly limit: unknown;
      };
    };

parentPort?.on('message', (request: ParseRequest) => {
  let reply: ParseReply;
  try {
    reply = { id: request.id, statements: parseSql(request.sql) };
  } catch (err) {
    const e = err instanceof SqlError ? err : null;
    reply = {
      id: request.id,
      error: {
        code: e?.code ?? null,
        message: err instanceof Error ? err.message : String(err),
        position: e?.position ?? null,
        limit: e?.limit ?? null,
      },
    };
  }
  parentPort?.postMessage(reply);
});
