/**
 * WebSocket `/v1/ws`: live queries over the node's HTTP server (reference/kalamdb-facts.md). JSON text frames, each
 * with a `type`:
 *
 *   client → server                                            server → client
 *   authenticate {method: basic, username, password}           auth_success {user_id, role}
 *              | {method: jwt, token}                          auth_error {message}, then close (4401)
 *   subscribe {subscription: {id, sql, options?}}              subscription_ack {subscription_id, live_id, total_rows,
 *     sql: SELECT * FROM ns.t [WHERE …]                          batch_control, schema}
 *     options: batch_size, last_rows, from_seq_id              initial_data_batch {subscription_id, rows,
 *   next_batch {subscription_id, last_seq_id?}                   batch_control {batch_num, has_more, status:
 *   unsubscribe {subscription_id}                                loading|loading_batch|ready, last_seq_id,
 *   ping                                                         snapshot_end_seq}}
 *                                                              change {subscription_id, change_type:
 *                                                                insert|update|delete, rows, old_values?}
 *                                                              unsubscribed {subscription_id}
 *                                                              error {subscription_id, code, message}
 *                                                              pong
 *
 * Authenticate first (within WS_LIMITS.authTimeoutMs); anything else before it is refused. An authenticated socket
 * keeps its user's rights as they are now (ws/sessions.ts): when the user is dropped, locked or changes password, every
 * subscription gets `error {code: UNAUTHORIZED}`, the socket `error {subscription_id: null, code: UNAUTHORIZED}` and a
 * close (4401); when the role changes, each subscription the new role may not hold gets `error {code:
 * PERMISSION_DENIED}` and the rest go on. Every row carries `_seq`,
 * the resume cursor: a client keeps the highest `_seq` it has seen (and `batch_control.last_seq_id` of the last
 * initial batch) and, after losing its node, subscribes on any other with `from_seq_id` = that value: it gets every
 * change after it, once, in commit order, and nothing before (RESUME_UNAVAILABLE when the change log no longer
 * reaches back to it, RESUME_AHEAD when it is past the newest change: never a silent nothing). A `delete` carries the deleted row (with `_deleted`
 * and the delete's `_seq`) in `rows` and the row as it was in `old_values`; an `update` the new row in `rows` and
 * the old in `old_values`. Changes follow the last initial batch (status `ready`). Delivery and registration:
 * ws/live.ts. Limits: ws/limits.ts and LIVE_LIMITS (10 live queries per user across the cluster). A live query
 * on a SHARED table is registered, like any, through its subscriber's user shard (it belongs to the user); its
 * changes come from the shared shard's apply path.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

import { toKalamError } from '@kalam/kalamdb';
import type { Session } from '@kalam/kalamdb';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';

import { authenticateRequest } from '../auth.js';
import { publicMessage } from '../redact.js';
import type { NodeLog, RunningNode } from '../runtime.js';
import { WS_LIMITS } from './limits.js';
import { LiveQueries } from './live.js';
import type { LiveSink } from './live.js';
import { ProtocolError, parseClientMessage } from './protocol.js';
import type { ClientMessage, ServerMessage } from './protocol.js';
import { SessionGuard } from './sessions.js';
import type { Credential, GuardedSocket } from './sessions.js';

export const WS_PATH = '/v1/ws';

/** Close codes: policy (auth), too big, going away (node stopping), try again later (slow consumer, full). */
const CLOSE_AUTH = 4401;
const CLOSE_GOING_AWAY = 1001;
const CLOSE_TRY_LATER = 1013;

export interface LiveEndpoint {
  readonly live: LiveQueries;
  /** Open connections. */
  connections(): number;
  /** Closes every connection (1001) and stops the live-query timers. */
  close(): void;
}

class Connection implements LiveSink, GuardedSocket {
  readonly connectionId: string;
  session: Session | null = null;
  credential: Credential | null = null;
  private windowStartMs = 0;
  private windowCount = 0;

  constructor(
    readonly ws: WebSocket,
    nodeId: number,
    /** The client's IP address, for the login throttle. */
    readonly address: string | undefined,
  ) {
    this.connectionId = `n${nodeId}c${randomBytes(6).toString('hex')}`;
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  send(message: ServerMessage): void {
    if (!this.open) return;
    if (this.ws.bufferedAmount > WS_LIMITS.sendBufferBytesMax) {
      this.ws.close(CLOSE_TRY_LATER, 'slow consumer: resume with from_seq_id');
      return;
    }
    this.ws.send(JSON.stringify(message));
  }

  /** The user's rights were withdrawn (ws/sessions.ts): tell the client why and close. */
  revoke(message: string): void {
    this.send({ type: 'error', subscription_id: null, code: 'UNAUTHORIZED', message });
    this.ws.close(CLOSE_AUTH, 'credentials revoked');
  }

  /** True when this message is within the per-second budget. */
  admit(nowMs: number): boolean {
    if (nowMs - this.windowStartMs >= 1_000) {
      this.windowStartMs = nowMs;
      this.windowCount = 0;
    }
    return ++this.windowCount <= WS_LIMITS.messagesPerSecondMax;
  }
}

/** Serves `/v1/ws` on `server` (upgrades on other paths are refused) and starts the node's live queries. */
export function attachLiveQueries(server: Server, node: RunningNode, log: NodeLog): LiveEndpoint {
  const live = new LiveQueries(node, log);
  live.start();
  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_LIMITS.framePayloadBytesMax });
  const open = new Set<Connection>();
  const guard = new SessionGuard(node, () => open, live);
  guard.start();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== WS_PATH || open.size >= WS_LIMITS.connectionsMax) {
      const status = path !== WS_PATH ? '404 Not Found' : '503 Service Unavailable';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new Connection(ws, node.nodeId, req.socket.remoteAddress);
      open.add(conn);
      const authTimer = setTimeout(() => {
        if (conn.session === null) refuseAuth(conn, `authenticate within ${WS_LIMITS.authTimeoutMs} ms`);
      }, WS_LIMITS.authTimeoutMs);
      ws.on('message', (data: RawData, isBinary: boolean) => {
        void onMessage({ node, live, guard, log }, conn, data, isBinary).catch((err: unknown) => {
          log('error', 'ws.unhandled', { error: err instanceof Error ? err.message : String(err) });
        });
      });
      ws.on('close', () => {
        clearTimeout(authTimer);
        open.delete(conn);
        live.closeConnection(conn.connectionId);
      });
      ws.on('error', (err) => log('warn', 'ws.error', { error: err.message }));
    });
  });
  return {
    live,
    connections: () => open.size,
    close: () => {
      guard.stop();
      live.stop();
      for (const c of open) c.ws.close(CLOSE_GOING_AWAY, 'the node is shutting down');
      wss.close();
    },
  };
}

function refuseAuth(conn: Connection, message: string): void {
  conn.send({ type: 'auth_error', message });
  conn.ws.close(CLOSE_AUTH, 'authentication failed');
}

function size(data: RawData): number {
  return Array.isArray(data)
    ? data.reduce((n, b) => n + b.length, 0)
    : data instanceof ArrayBuffer
      ? data.byteLength
      : data.length;
}

interface Endpoint {
  readonly node: RunningNode;
  readonly live: LiveQueries;
  readonly guard: SessionGuard;
  readonly log: NodeLog;
}

async function onMessage(ep: Endpoint, conn: Connection, data: RawData, isBinary: boolean) {
  const { live, log } = ep;
  let msg: ClientMessage;
  try {
    if (isBinary) throw new ProtocolError('UNSUPPORTED_DATA', 'binary frames are not supported: send JSON text');
    const bytes = size(data);
    if (bytes > WS_LIMITS.messageBytesMax) {
      throw new ProtocolError(
        'MESSAGE_TOO_LARGE',
        `a message is at most ${WS_LIMITS.messageBytesMax} bytes; this one has ${bytes}`,
      );
    }
    msg = parseClientMessage(
      Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'),
    );
    // next_batch is paced by the initial rows themselves (a load of n rows takes n / batch_size of them).
    if (msg.type !== 'next_batch' && !conn.admit(Date.now())) {
      throw new ProtocolError('RATE_LIMIT_EXCEEDED', `at most ${WS_LIMITS.messagesPerSecondMax} messages per second`);
    }
  } catch (err) {
    sendError(conn, err, log);
    return;
  }
  if (msg.type === 'authenticate') return authenticate(ep, conn, msg);
  if (conn.session === null) {
    sendError(conn, new ProtocolError('UNAUTHORIZED', 'authenticate first'), log);
    return;
  }
  try {
    switch (msg.type) {
      case 'subscribe': {
        const s = msg.subscription;
        return await live.subscribe(conn, s.id, s.sql, s.options, live.heldBy(conn.connectionId));
      }
      case 'next_batch':
        return live.nextBatch(conn, msg.subscription_id);
      case 'unsubscribe':
        return live.unsubscribe(conn, msg.subscription_id);
      case 'ping':
        return conn.send({ type: 'pong' });
    }
  } catch (err) {
    sendError(conn, err, log);
  }
}

async function authenticate(
  { node, guard, log }: Endpoint,
  conn: Connection,
  msg: Extract<ClientMessage, { type: 'authenticate' }>,
) {
  if (!conn.open) return;
  if (conn.session !== null) {
    sendError(conn, new ProtocolError('INVALID_MESSAGE', 'this connection is already authenticated'), log);
    return;
  }
  const header =
    msg.method === 'basic'
      ? `Basic ${Buffer.from(`${msg.username}:${msg.password}`).toString('base64')}`
      : `Bearer ${msg.token}`;
  try {
    const principal = await authenticateRequest(node, header, { address: conn.address });
    if (!conn.open) return;
    // In the same synchronous step as taking the session: what the guard will compare with from now on.
    const credential = guard.credentialOf(principal);
    if (credential === null) {
      refuseAuth(conn, 'the user changed while authenticating; authenticate again');
      return;
    }
    conn.credential = credential;
    conn.session = { userId: principal.userId, username: principal.username, role: principal.role };
    conn.send({ type: 'auth_success', user_id: principal.userId, role: principal.role });
  } catch (err) {
    refuseAuth(conn, publicMessage(toKalamError(err), null, log));
  }
}

/** An error to the client; an INTERNAL_ERROR's message only to dba and system (redact.ts). */
function sendError(conn: Connection, err: unknown, log: NodeLog): void {
  const e = err instanceof ProtocolError ? err : toKalamError(err);
  const subscriptionId = err instanceof ProtocolError ? err.subscriptionId : null;
  const message = publicMessage(e, conn.session, log);
  conn.send({ type: 'error', subscription_id: subscriptionId, code: e.code, message });
}
