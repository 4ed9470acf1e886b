/**
 * @kalam/client: Kalam's client library for Node 20 and browsers (fetch and WebSocket).
 *
 *   const db = createClient({ nodes: ['http://127.0.0.1:8081', 'http://127.0.0.1:8082'], user: 'alice', password: 'pw' });
 *   await db.execute('INSERT INTO app.notes (id, text) VALUES ($1, $2)', [1, 'hello']);   // applied once
 *   const { rows } = await db.query<{ id: number; text: string }>('SELECT id, text FROM app.notes');
 *   for await (const event of db.live('SELECT * FROM app.notes')) console.log(event);
 *   await db.close();
 */
export { Client, SHARD_LEADER_HEADER, connectionRefused, createClient, verdictOf } from './client.js';
export type {
  CallOptions,
  ClientOptions,
  ClientSettings,
  Column,
  Credentials,
  ExecuteResult,
  QueryResult,
} from './client.js';
export { backoffDelayMs } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export {
  AuthError,
  CLIENT_CODES,
  ClientClosedError,
  ClusterChangeError,
  KalamError,
  NotLeaderError,
  OutcomeUnknownError,
  ProtocolError,
  RateLimitError,
  ResumeUnavailableError,
  SERVER_CODES,
  SessionError,
  SessionExpiredError,
  SqlError,
  SubscriptionError,
  UnavailableError,
  errorFromServer,
} from './errors.js';
export type { KalamErrorOptions, ServerCode } from './errors.js';
export { CLIENT_LIMITS } from './limits.js';
export { Subscription } from './live.js';
export type { LiveChange, LiveEvent, LiveInitial, LiveIterable, SubscribeOptions } from './live.js';
export { NodePool, normalizeUrl } from './nodes.js';
export type { NodeState } from './nodes.js';
export { ClientSession, isValidClientId, newClientId } from './session.js';
export type { SessionStamp } from './session.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket.js';
