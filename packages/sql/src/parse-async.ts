/**
 * parseSqlOffThread: parseSql for the event loop that also drives Raft. A large text is parsed in a worker thread,
 * so the loop stays free for the driver's timer while node-sql-parser works (about 5 µs a token: a statement at
 * statementTokensMax is ~100 ms of CPU); a small one is parsed in place, where a thread hop would cost more than
 * the parse. Same results, same errors, as parseSql.
 *
 * One worker per process, started on first use and referenced only while it holds requests (an idle one never keeps
 * a process alive); if it fails, the
 * requests it held fail with the error and the next large text starts a new one. At most offThreadQueueMax texts
 * wait for it; beyond that the request is refused with RATE_LIMIT_EXCEEDED.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { Statement } from './ast.js';
import { SqlError, type SqlErrorCode, type SqlLimit, type SqlPosition } from './errors.js';
import { SQL_LIMITS } from './limits.js';
import { deepFreeze, parseSql } from './parse.js';
import type { ParseReply, ParseRequest } from './parse-worker.js';

interface Pending {
  readonly resolve: (statements: readonly Statement[]) => void;
  readonly reject: (err: Error) => void;
}

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, Pending>();

/** Parses like parseSql; texts of offThreadSqlCharsMin characters and more are parsed in a worker thread. */
export function parseSqlOffThread(sql: string): Promise<readonly Statement[]> {
  if (sql.length < SQL_LIMITS.offThreadSqlCharsMin || sql.length > SQL_LIMITS.sqlCharsMax) {
    try {
      return Promise.resolve(parseSql(sql));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }
  if (pending.size >= SQL_LIMITS.offThreadQueueMax) {
    const message = `${pending.size} large statements are being parsed on this node already; try again shortly`;
    return Promise.reject(new SqlError('RATE_LIMIT_EXCEEDED', message));
  }
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    const thread = parser();
    if (pending.size === 0) thread.ref();
    pending.set(id, { resolve, reject });
    const request: ParseRequest = { id, sql };
    thread.postMessage(request);
  });
}

/** The running parser thread's V8 limits as its engine applied them; undefined when none is running. */
export function parserThreadLimits(): ResourceLimits | undefined {
  return worker?.resourceLimits;
}

function parser(): Worker {
  if (worker !== undefined) return worker;
  // A smaller young generation than V8's default: its semi-spaces stay resident for the life of the process.
  const started = new Worker(new URL('./parse-worker.js', import.meta.url), {
    resourceLimits: { maxYoungGenerationSizeMb: SQL_LIMITS.parserYoungGenerationMb },
  });
  started.on('message', (reply: ParseReply) => settle(reply));
  const fail = (err: Error): void => {
    if (worker === started) worker = undefined;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  started.on('error', (err) => fail(err));
  started.on('exit', (code) => fail(new Error(`the SQL parser thread exited (${code})`)));
  // Unreferenced while idle (after the listeners: adding a 'message' listener refs the worker again).
  started.unref();
  worker = started;
  return started;
}

function settle(reply: ParseReply): void {
  const p = pending.get(reply.id);
  if (p === undefined) return;
  pending.delete(reply.id);
  if (pending.size === 0) worker?.unref();
  if ('statements' in reply) {
    p.resolve(deepFreeze(reply.statements as Statement[]));
    return;
  }
  const { code, message, position, limit } = reply.error;
  if (code === null) {
    p.reject(new Error(message));
    return;
  }
  const options = limit === null ? {} : { limit: limit as SqlLimit };
  p.reject(new SqlError(code as SqlErrorCode, message, position as SqlPosition | null, options));
}
