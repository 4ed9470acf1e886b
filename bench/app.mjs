// The benchmarks' application side: setup (namespaces, tables, users) and final checks and counts go through
// @kalam/client, as an application's would. The measured loops stay on raw fetch/LiveClient (see their comments):
// their figures compare the node's own path with etcd's raw HTTP gateway, and a client's retries and failover would
// change what one measured call means.
import { Buffer } from 'node:buffer';
import { createClient } from '@kalam/client';

/** A setup or check call's total time (and its one attempt's): the bound the raw helpers had per request. */
export const APP_CALL_MS = 30_000;

/**
 * The client's credentials for an Authorization header: `Basic` (root's password, as the harness gives it) signs in
 * with the user and password, `Bearer` sends the token.
 */
export function credentialsOf(auth) {
  const [scheme, value = ''] = auth.split(' ');
  if (scheme === 'Bearer') return { token: value };
  if (scheme !== 'Basic') throw new Error(`credentialsOf: not a Basic or Bearer header: ${scheme}`);
  const text = Buffer.from(value, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * A client over `urls` with `credentials` ({user, password} or {token}). Sessions are off: the setup is DDL and
 * CREATE USER, which client sessions do not cover, so a lost answer fails the setup (as the raw call did) rather than
 * being sent twice. One attempt may use the whole call's time, as the raw call's one request could.
 */
export function appClient(urls, credentials, callMs = APP_CALL_MS) {
  return createClient(
    { nodes: urls, ...credentials },
    { sessions: false, callDeadlineMs: callMs, attemptTimeoutMs: callMs },
  );
}

/** Runs `fn(client)` with a client of `appClient(urls, credentials)` and closes it, so the process can exit. */
export async function withAppClient(urls, credentials, fn, callMs = APP_CALL_MS) {
  const client = appClient(urls, credentials, callMs);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** The rows of a client's QueryResult as arrays in column order, the shape the API's JSON has (`[[count]]`). */
export function rowArrays({ rows, schema }) {
  return rows.map((row) => schema.map((c) => row[c.name]));
}
