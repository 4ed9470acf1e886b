// The Kalam side of the SQL benchmarks, shared by bench/sql (Kalam alone) and bench/etcd (Kalam beside etcd): the
// schema, the statements, and the users — one per client, so the rows of different clients land in different user
// shards.
/* global fetch, AbortSignal */
import { Buffer } from 'node:buffer';
import { credentialsOf, withAppClient } from '../app.mjs';

export const SCHEMA_SQL = 'CREATE NAMESPACE bench; CREATE USER TABLE bench.kv (id BIGINT PRIMARY KEY, v TEXT)';
export const INSERT_SQL = 'INSERT INTO bench.kv (id, v) VALUES ($1, $2)';
export const SELECT_SQL = 'SELECT v FROM bench.kv WHERE id = $1';
/** The text column of every row the benchmarks write: 80 bytes, the same as etcd's values in bench/etcd. */
export const ROW_VALUE = 'x'.repeat(80);
/** One request of postJson, setup or measured. */
const REQUEST_TIMEOUT_MS = 20_000;

/** One multi-row INSERT of ids [fromId, fromId + rows), values written out (1,000 rows: about 90 KB of SQL). */
export function bulkInsertSql(fromId, rows) {
  const tuples = [];
  for (let id = fromId; id < fromId + rows; id++) tuples.push(`(${id}, '${ROW_VALUE}')`);
  return `INSERT INTO bench.kv (id, v) VALUES ${tuples.join(', ')}`;
}

export function basicAuth(user, password) {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * POST `body` as JSON through fetch (one connection pool for the whole process) and return the JSON reply. Raw HTTP,
 * not @kalam/client: the measured closed-loop clients compare one request to the node with one to etcd's gateway.
 */
export async function postJson(url, path, body, auth) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return res.json();
}

/**
 * Creates the schema and `users` users (b0, b1, …) through @kalam/client as root, each user logged in on node i mod n;
 * returns a Bearer header per user, in order. Stops between two users once `signal` (optional) has aborted.
 */
export async function prepareKalam(urls, users, rootAuth, signal) {
  return withAppClient(
    [urls[0]],
    credentialsOf(rootAuth),
    async (root) => {
      await root.execute(SCHEMA_SQL);
      const tokens = [];
      for (let i = 0; i < users; i++) {
        signal?.throwIfAborted();
        await root.execute(`CREATE USER 'b${i}' WITH PASSWORD 'pw-${i}' ROLE user`);
        // A raw login: its token is the header the measured raw clients send.
        const login = await postJson(urls[i % urls.length], '/v1/api/auth/login', {
          username: `b${i}`,
          password: `pw-${i}`,
        });
        if (typeof login.access_token !== 'string') throw new Error(`login failed: ${JSON.stringify(login)}`);
        tokens.push(`Bearer ${login.access_token}`);
      }
      return tokens;
    },
    REQUEST_TIMEOUT_MS,
  );
}

/** A /v1/api/sql reply that is not a success: `code` is the server's error code (`HTTP <status>` when it gave none). */
export class KalamReplyError extends Error {
  constructor(code, message, httpStatus) {
    super(`kalam: ${code}: ${message}`);
    this.name = 'KalamReplyError';
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

/** The rows of the last statement of a /v1/api/sql reply; an error reply throws a KalamReplyError. */
export function sqlReplyRows(httpStatus, text) {
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KalamReplyError(`HTTP ${httpStatus}`, `no JSON: ${text.slice(0, 200)}`, httpStatus);
  }
  if (json?.status !== 'success') {
    const { code = `HTTP ${httpStatus}`, message = text.slice(0, 200) } = json?.error ?? {};
    throw new KalamReplyError(code, message, httpStatus);
  }
  return json.results?.at(-1)?.rows ?? [];
}
