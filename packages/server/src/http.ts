/**
 * The client API over node:http (DESIGN.md §8, reference/kalamdb-facts.md "HTTP API"):
 *
 *   POST /v1/api/sql             {sql, params?, namespace_id?} → {status, results, took, error?}   (auth)
 *   POST /v1/api/auth/login      {username, password} → {access_token, token_type, expires_in, user}
 *   GET  /v1/api/healthcheck     KalamDB's shape: 200 {status: "healthy", mode, node_id, version} when ready,
 *                                503 {status: "unhealthy", …, not_serving} when not (never "healthy" then)
 *   GET  /v1/api/health/live     200 {status: "live", mode, node_id, version}: the process answers
 *   GET  /v1/api/health/ready    200 {status: "ready", …} or 503 {status: "not_ready", …}, with `groups` and
 *                                `not_serving: [{group, reason}]` (runtime.ts readinessOf defines ready)
 *   GET  /v1/api/cluster/status  nodes, every group's leader, term and indexes as this node sees them, and its
 *                                Raft driver's tick lateness and turn times, and its leader balance (settings,
 *                                leaders per node, the band, transfers started) (auth; the role that may read
 *                                system.cluster_nodes and system.cluster_groups: dba, system)
 *   GET  /v1/api/cluster/overview  every member's own status and readiness, asked by this node with the caller's
 *                                token (overview.ts): what the console's cluster map shows (auth; as cluster/status)
 *   GET  /console, /console/…    the web console (console.ts): built files, strict CSP, 503 naming the build
 *                                command when packages/console/dist is missing
 *   POST /v1/api/cluster/join    a new node asks to be admitted (join.ts): no user auth — HMAC with the cluster
 *                                secret; 401 JOIN_REFUSED without it; {cluster_id, node_id, members, hmac}
 *   POST /v1/api/cluster/nodes/remove  {node_ids} → {nodes: [{node_id, state}]} (dba, system): marks nodes leaving
 *                                (removed at once when in no group); 404 NODE_NOT_FOUND, 409 TOO_MANY_AT_ONCE /
 *                                QUORUM_AT_RISK / NODE_ALREADY_LEAVING (membership.ts requestRemoval)
 *   GET  /v1/api/backup/snapshot?group=N  one group's snapshot at a linearizable read point, streamed (backup.ts;
 *                                root only): `kalam backup` asks for every group, meta:system last
 *   /v1/api/admin/*              fault injection and state digests (admin.ts): root only, and only with
 *                                `[debug] admin_endpoints = true` — otherwise 404 like any unknown path
 *   GET  /metrics                Prometheus text (metrics.ts): root, or the bearer `[auth] metrics_token`
 *   GET  /v1/ws                  WebSocket live queries (ws/server.ts)
 *   OPTIONS (any)                a CORS preflight from an origin `[server] cors_origins` allows (cors.ts)
 *
 * Every error answers `{status: "error", error: {code, message, details}}` (the SQL endpoint adds `results: []`
 * and `took`) with the KalamError's HTTP status; an INTERNAL_ERROR's message only to dba and system (redact.ts), a
 * reference into the node's log to anyone else. Request bodies are bounded by server.max_body_bytes (413). While
 * the node drains for a graceful stop, requests still in flight finish and new ones get 503 CLUSTER_UNAVAILABLE.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

import { KalamError, MetaSystem, requireSystemRead, toKalamError } from '@kalam/kalamdb';
import type { QueryResult, Session } from '@kalam/kalamdb';

import { ADMIN_PATHS, requireRoot, runAdmin } from './admin.js';
import { BACKUP_PATH, groupOfUrl, sendGroupSnapshot } from './backup.js';
import { advertisedApiUrl } from './config.js';
import { applyCors } from './cors.js';
import { answerPlainHttp } from './tls.js';
import { authenticateRequest, issueToken, passwordLogin } from './auth.js';
import type { RequestOrigin } from './auth.js';
import { SERVER_LIMITS } from './limits.js';
import { CONSOLE_PATH, isConsolePath, serveConsole } from './console.js';
import { JOIN_PATH, joinErrorOf } from './join.js';
import { METRICS_PATH, authorizeScrape } from './metrics.js';
import { MembershipError } from './reconciler.js';
import type { MembershipErrorCode } from './reconciler.js';
import { OVERVIEW_PATH, clusterOverview } from './overview.js';
import { forClient } from './redact.js';
import type { NodeLog, RunningNode } from './runtime.js';
import { attachLiveQueries } from './ws/server.js';
import type { LiveEndpoint } from './ws/server.js';

/** The response header that names the leader of the session user's shard (setShardLeader). */
export const SHARD_LEADER_HEADER = 'X-Kalam-Shard-Leader';

export interface ApiServerOptions {
  readonly log?: NodeLog;
  /** Reported by the healthcheck. */
  readonly version: string;
  /** TEST ONLY (planted.ts): answer some drill UPDATEs without proposing them. Default: false. */
  readonly plantedAckWithoutCommit?: boolean;
}

export interface ApiServer {
  readonly server: Server;
  /** WebSocket `/v1/ws` and the node's live queries. */
  readonly live: LiveEndpoint;
  /**
   * Listens on server.api_bind (default api_addr); resolves with the bound address and the advertised URL (port 0
   * in the config picks a free one).
   */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /**
   * Stops accepting connections; new requests on open connections get 503. Resolves when no request is in flight
   * (true) or after `timeoutMs` (false).
   */
  drain(timeoutMs: number): Promise<boolean>;
  /** Closes every connection that is left. */
  close(): Promise<void>;
}

/** An API error that is not one of the engine's codes (an unknown route, a wrong method). */
class RouteError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type ErrorLike = { httpStatus: number; code: string; message: string; details?: unknown };

const JSON_TYPE = 'application/json; charset=utf-8';

export function createApiServer(node: RunningNode, opts: ApiServerOptions): ApiServer {
  const log: NodeLog = opts.log ?? (() => undefined);
  const planted = opts.plantedAckWithoutCommit === true ? ackWithoutCommit() : undefined;
  if (planted !== undefined)
    log('warn', 'planted_bug', { bug: 'ack-without-commit', note: 'TEST ONLY: this node lies' });
  let draining = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  /** Responses not yet sent: told to close their connection when a drain starts, so no client reuses it. */
  const pending = new Set<ServerResponse>();
  const serverOptions = {
    headersTimeout: SERVER_LIMITS.headersTimeoutMs,
    requestTimeout: SERVER_LIMITS.requestTimeoutMs,
    keepAliveTimeout: SERVER_LIMITS.keepAliveTimeoutMs + SERVER_LIMITS.keepAliveGraceMs,
  };
  // [tls]: HTTPS (and so wss for /v1/ws). API clients are not asked for a certificate: they authenticate with
  // Basic or a token; require_client_cert is for the nodes' Raft transport.
  const tls = node.config.tls;
  const server: Server =
    tls === undefined
      ? createServer(serverOptions)
      : createHttpsServer({ ...serverOptions, cert: tls.cert, key: tls.key, ca: tls.ca });
  if (tls !== undefined) server.on('tlsClientError', answerPlainHttp);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const arrivedAt = performance.now();
    const done = (): void =>
      node.metrics.httpDone(req.method, routeOf(pathOf(req)), res.statusCode, performance.now() - arrivedAt);
    if (res.shouldKeepAlive && !draining) {
      // Set here, Node writes neither header itself: the client hears the shorter timeout (SERVER_LIMITS).
      res.setHeader('Connection', 'keep-alive');
      res.setHeader('Keep-Alive', `timeout=${Math.floor(SERVER_LIMITS.keepAliveTimeoutMs / 1000)}`);
    }
    if (applyCors(node.config.server.corsOrigins, req, res, SHARD_LEADER_HEADER)) {
      done();
      return;
    }
    if (draining) {
      closeAfter(res);
      sendError(res, new KalamError('CLUSTER_UNAVAILABLE', 'the node is shutting down'));
      req.resume();
      done();
      return;
    }
    inFlight++;
    pending.add(res);
    handle({ node, log, live: () => live }, opts, req, res, planted)
      .catch((err: unknown) => {
        log('error', 'http.unhandled', { error: err instanceof Error ? err.message : String(err) });
        if (!res.headersSent) sendError(res, forClient(toKalamError(err), null, log));
        else res.destroy();
      })
      .finally(() => {
        done();
        pending.delete(res);
        inFlight--;
        if (inFlight === 0) idle?.();
      });
  });
  const live = attachLiveQueries(server, node, log);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return {
    server,
    live,
    listen: () =>
      new Promise((resolve, reject) => {
        const { host, port } = node.config.server.apiBind;
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          // The URL is the advertised one (api_addr), with the bound port when api_addr asked for port 0.
          const advertised = node.config.server.apiAddr.port === 0 ? addr.port : node.config.server.apiAddr.port;
          resolve({ host: addr.address, port: addr.port, url: advertisedApiUrl(node.config, advertised) });
        });
      }),
    drain: (timeoutMs) => {
      draining = true;
      live.close();
      for (const res of pending) if (!res.headersSent) closeAfter(res);
      server.close();
      server.closeIdleConnections();
      if (inFlight === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        idle = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
    },
    close: () =>
      new Promise((resolve) => {
        draining = true;
        live.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** What every handler works with: the node, and the log an error a client may not see goes to (redact.ts). */
interface Api {
  readonly node: RunningNode;
  readonly log: NodeLog;
  /** The live-query endpoint (attached after the request handler, hence a function). */
  readonly live: () => LiveEndpoint;
}

/** The request's path, without its query. */
function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?', 1)[0] ?? '/';
}

const REMOVE_PATH = '/v1/api/cluster/nodes/remove';

/** The API's paths (none has an id in it). */
const API_PATHS: readonly string[] = [
  '/v1/api/sql',
  '/v1/api/auth/login',
  '/v1/api/healthcheck',
  '/v1/api/health/live',
  '/v1/api/health/ready',
  '/v1/api/cluster/status',
  OVERVIEW_PATH,
  JOIN_PATH,
  REMOVE_PATH,
  METRICS_PATH,
  BACKUP_PATH,
];
const ROUTES: ReadonlySet<string> = new Set([...API_PATHS, ...ADMIN_PATHS]);

/**
 * A path as the request metrics label it: one of the API's, `/console` for every console file, or `other` (any path
 * a client makes up is one series).
 */
function routeOf(path: string): string {
  if (isConsolePath(path)) return CONSOLE_PATH;
  return ROUTES.has(path) ? path : 'other';
}

async function handle(
  api: Api,
  opts: ApiServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
  planted: PlantedBug,
) {
  const path = pathOf(req);
  const route = `${req.method ?? 'GET'} ${path}`;
  const node = api.node;
  switch (route) {
    case 'POST /v1/api/sql':
      return handleSql(api, req, res, planted);
    case 'POST /v1/api/auth/login':
      return handleLogin(api, req, res);
    case 'GET /v1/api/healthcheck':
    case 'GET /v1/api/health/live':
    case 'GET /v1/api/health/ready':
      req.resume();
      return sendHealth(node, opts, path, res);
    case 'GET /v1/api/cluster/status':
      return handleClusterStatus(api, req, res);
    case `GET ${OVERVIEW_PATH}`:
      return handleOverview(api, req, res);
    case `GET ${BACKUP_PATH}`:
      return handleBackup(api, req, res);
    case `POST ${JOIN_PATH}`:
      return handleJoin(api, req, res);
    case `POST ${REMOVE_PATH}`:
      return handleRemove(api, req, res);
    case `GET ${METRICS_PATH}`:
      return handleMetrics(api, opts, req, res);
    default: {
      if (isConsolePath(path)) return serveConsole(req, res, path);
      if (node.config.debug.adminEndpoints && ADMIN_PATHS.includes(path)) {
        return handleAdmin(api, route, req, res);
      }
      req.resume();
      const error = API_PATHS.includes(path)
        ? new RouteError(405, 'METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed on ${path}`)
        : new RouteError(404, 'NOT_FOUND', `no endpoint ${path}`);
      return sendError(res, error);
    }
  }
}

/**
 * Liveness says the process answers; readiness says it can serve every group now. The legacy healthcheck keeps
 * KalamDB's body when ready and answers 503 "unhealthy" when not, so a load balancer probing it stops sending
 * requests to a node that cannot reach a quorum.
 */
function sendHealth(node: RunningNode, opts: ApiServerOptions, path: string, res: ServerResponse): void {
  const about = { mode: node.config.mode, node_id: node.nodeId, version: opts.version };
  if (path === '/v1/api/health/live') return sendJson(res, 200, { status: 'live', ...about });
  const r = node.readiness();
  if (path === '/v1/api/health/ready') {
    const body = { status: r.ready ? 'ready' : 'not_ready', ...about, groups: r.groups, not_serving: r.not_serving };
    return sendJson(res, r.ready ? 200 : 503, body);
  }
  if (r.ready) return sendJson(res, 200, { status: 'healthy', ...about });
  sendJson(res, 503, { status: 'unhealthy', ...about, not_serving: r.not_serving });
}

async function handleSql(
  { node, log }: Api,
  req: IncomingMessage,
  res: ServerResponse,
  planted: PlantedBug,
): Promise<void> {
  const started = performance.now();
  const took = (): number => Math.round((performance.now() - started) * 100) / 100;
  let session: Session | null = null;
  try {
    const body = await readBody(req, node.config.server.maxBodyBytes);
    const reads = node.engine.requestReads();
    // A password check waits for a meta:users barrier: the catalog's, which nearly every statement takes, runs
    // meanwhile instead of after it (both start after the request began, so both are good for all of it).
    if (node.config.mode === 'cluster' && /^basic /i.test(req.headers.authorization ?? '')) reads.prefetch(MetaSystem);
    session = await authenticateRequest(node, req.headers.authorization, originOf(req));
    setShardLeader(node, session, res);
    const request = parseSqlRequest(body);
    if (planted?.(request.sql) === true) {
      const results = [{ schema: [], rows: [], row_count: 1, message: '1 row(s) updated' }];
      return sendJson(res, 200, { status: 'success', results, took: took() });
    }
    const results: QueryResult[] = await node.engine.execute(session, request.sql, {
      reads,
      ...(request.params !== undefined ? { params: request.params } : {}),
      ...(request.namespace !== undefined ? { namespace: request.namespace } : {}),
    });
    sendJson(res, 200, { status: 'success', results, took: took() });
  } catch (err) {
    const e = forClient(asApiError(err), session, log);
    sendJson(res, e.httpStatus, { status: 'error', results: [], took: took(), error: errorBody(e) }, e);
  }
}

/**
 * `X-Kalam-Shard-Leader`: the API URL of the node that leads the session user's shard (data:user:NN) as this node
 * knows it now — the group every statement on the user's own rows goes to. A client that sends its next requests
 * there saves the forward a follower makes (a write to the leader, a read's ReadIndex round trip); nothing depends on
 * it being followed, or right: any node answers any request. Absent in standalone mode and while no leader is known.
 */
function setShardLeader(node: RunningNode, session: Session, res: ServerResponse): void {
  if (node.config.mode !== 'cluster') return;
  const leader = node.executor.getLeader(node.machines.router.groupForUser(session.userId));
  if (leader === null) return;
  const member = node.config.cluster.members.find((m) => m.nodeId === leader);
  if (member !== undefined) res.setHeader(SHARD_LEADER_HEADER, member.apiUrl);
}

async function handleLogin({ node, log }: Api, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const body = parseObject(await readBody(req, node.config.server.maxBodyBytes));
    const username = body['username'];
    const password = body['password'];
    if (typeof username !== 'string' || typeof password !== 'string') {
      throw new KalamError('INVALID_INPUT', 'the body must be {"username": string, "password": string}');
    }
    const { session, credentialVersion } = await passwordLogin(node, username, password, originOf(req));
    await node.engine.recordLogin(session);
    const token = await issueToken(node.jwtKey, session, {
      ttlSeconds: node.config.auth.tokenTtlSeconds,
      nowMs: Date.now(),
      credentialVersion,
    });
    sendJson(res, 200, { ...token, user: { id: session.userId, username: session.username, role: session.role } });
  } catch (err) {
    sendError(res, forClient(asApiError(err), null, log));
  }
}

async function handleAdmin({ node, log }: Api, route: string, req: IncomingMessage, res: ServerResponse) {
  let session: Session | null = null;
  try {
    const text = await readBody(req, node.config.server.maxBodyBytes);
    session = await authenticateRequest(node, req.headers.authorization, originOf(req));
    requireRoot(session);
    const result = runAdmin(node, route, text.trim() === '' ? undefined : parseObject(text));
    if (result === undefined) {
      throw new RouteError(405, 'METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed on ${route.split(' ')[1]}`);
    }
    sendJson(res, 200, result);
  } catch (err) {
    sendError(res, forClient(asApiError(err), session, log));
  }
}

/** One group's snapshot for `kalam backup` (backup.ts), root only: every row of every user is in it. */
async function handleBackup({ node, log }: Api, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let session: Session | null = null;
  try {
    req.resume();
    session = await authenticateRequest(node, req.headers.authorization, originOf(req));
    requireRoot(session);
    await sendGroupSnapshot(node, groupOfUrl(req.url ?? ''), res);
  } catch (err) {
    if (res.headersSent)
      res.destroy(err instanceof Error ? err : undefined); // cut mid-body: the client sees it short
    else sendError(res, forClient(asApiError(err), session, log));
  }
}

async function handleClusterStatus({ node, log }: Api, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let session: Session | null = null;
  try {
    req.resume();
    session = await authenticateRequest(node, req.headers.authorization, originOf(req));
    // The same data as system.cluster_nodes and system.cluster_groups, so the same rule.
    requireSystemRead(session, 'cluster_nodes', 'GET /v1/api/cluster/status');
    requireSystemRead(session, 'cluster_groups', 'GET /v1/api/cluster/status');
    sendJson(res, 200, node.clusterStatus());
  } catch (err) {
    sendError(res, forClient(asApiError(err), session, log));
  }
}

/** Every member's status and readiness (overview.ts): the same rule as cluster/status, whose data it is. */
async function handleOverview({ node, log }: Api, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let session: Session | null = null;
  try {
    req.resume();
    session = await authenticateRequest(node, req.headers.authorization, originOf(req));
    requireSystemRead(session, 'cluster_nodes', `GET ${OVERVIEW_PATH}`);
    requireSystemRead(session, 'cluster_groups', `GET ${OVERVIEW_PATH}`);
    sendJson(res, 200, await clusterOverview(node, req.headers.authorization ?? ''));
  } catch (err) {
    sendError(res, forClient(asApiError(err), session, log));
  }
}

/** Prometheus text (metrics.ts); refusals in the API's error shape, like every endpoint's. */
async function handleMetrics(api: Api, opts: ApiServerOptions, req: IncomingMessage, res: ServerResponse) {
  const { node, log } = api;
  let session: Session | null = null;
  try {
    req.resume();
    session = await authorizeScrape(node, req.headers.authorization, originOf(req));
    const text = await node.metrics.render(node, { live: api.live(), version: opts.version });
    res.writeHead(200, { 'Content-Type': node.metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  } catch (err) {
    sendError(res, forClient(asApiError(err), session, log));
  }
}

/** HTTP statuses of the refusals of a membership change (reconciler.ts MembershipError). */
const MEMBERSHIP_STATUS: Readonly<Record<MembershipErrorCode, number>> = {
  NODE_NOT_FOUND: 404,
  NODE_ALREADY_LEAVING: 409,
  TOO_MANY_AT_ONCE: 409,
  QUORUM_AT_RISK: 409,
  CONF_CHANGES_UNAVAILABLE: 503,
  STATE_CHANGED: 409,
  MEMBERS_NOT_SEEDED: 503,
};

/** `{node_ids: [n, …]}` → `{nodes: [{node_id, state}]}`: dba and system only. */
async function handleRemove({ node, log }: Api, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let session: Session | null = null;
  try {
    const text = await readBody(req, node.config.server.maxBodyBytes);
    session = await authenticateRequest(node, req.headers.authorization, originOf(req));
    if (session.role !== 'dba' && session.role !== 'system') {
      throw new KalamError('PERMISSION_DENIED', 'removing a node needs the dba or system role');
    }
    const ids = parseObject(text)['node_ids'];
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => Number.isSafeInteger(id) && (id as number) > 0)) {
      throw new KalamError('INVALID_INPUT', '"node_ids" must be a non-empty list of node ids');
    }
    if (node.removeNodes === undefined)
      throw new KalamError('INVALID_INPUT', 'a standalone node has no members to remove');
    sendJson(res, 200, { nodes: await node.removeNodes(ids as number[]) });
  } catch (err) {
    const e =
      err instanceof MembershipError
        ? { httpStatus: MEMBERSHIP_STATUS[err.code], code: err.code, message: err.message, details: err.details }
        : asApiError(err);
    sendError(res, forClient(e, session, log));
  }
}

async function handleJoin({ node, log }: Api, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const text = await readBody(req, node.config.server.maxBodyBytes);
    sendJson(res, 200, await node.joins.admit(parseObject(text), req.socket.remoteAddress));
  } catch (err) {
    sendError(res, forClient(joinErrorOf(err), null, log));
  }
}

// ---------------------------------------------------------------------------------------------------------
// TEST-ONLY planted bug, so that a drill test can prove the drill's checks fail on a node that lies.

type PlantedBug = ((sql: string) => boolean) | undefined;

/** Of the drill's UPDATEs, every PLANTED_ACK_EVERY-th is acknowledged without being proposed. */
const PLANTED_ACK_EVERY = 4;

/**
 * The node answers some UPDATEs of the drill's tables (`UPDATE drill.…`) "1 row(s) updated" without proposing
 * them. Never on outside the drill tests (packages/cli/test/drill-real.test.ts, server/test/planted-bug.test.ts).
 */
function ackWithoutCommit(): PlantedBug {
  let updates = 0;
  return (sql) => /^\s*UPDATE\s+drill\./i.test(sql) && ++updates % PLANTED_ACK_EVERY === 0;
}

/** The client's address, as the throttle keys it (no proxy header is trusted: none is configured). */
function originOf(req: IncomingMessage): RequestOrigin {
  return { address: req.socket.remoteAddress };
}

// ---------------------------------------------------------------------------------------------------------
// Bodies.

class BodyTooLarge extends KalamError {
  constructor(maxBytes: number) {
    super('INVALID_INPUT', `the request body is larger than ${maxBytes} bytes`, { maxBytes });
  }
  override readonly httpStatus = 413;
}

/** The body as text, at most `maxBytes`; a larger one is refused without reading the rest (413). */
function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume(); // discarded until the connection closes after the answer
    return Promise.reject(new BodyTooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      bytes += chunk.length;
      if (bytes > maxBytes) {
        done = true;
        chunks.length = 0;
        reject(new BodyTooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
  });
}

function parseObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new KalamError('INVALID_INPUT', `malformed JSON in the request body: ${detail}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KalamError('INVALID_INPUT', 'the request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

interface SqlRequest {
  readonly sql: string;
  readonly params?: readonly unknown[];
  readonly namespace?: string;
}

function parseSqlRequest(text: string): SqlRequest {
  const body = parseObject(text);
  const { sql, params, namespace_id: namespace } = body;
  if (typeof sql !== 'string') throw new KalamError('INVALID_INPUT', '"sql" must be a string');
  if (params !== undefined && params !== null && !Array.isArray(params)) {
    throw new KalamError('INVALID_INPUT', '"params" must be an array');
  }
  if (namespace !== undefined && namespace !== null && typeof namespace !== 'string') {
    throw new KalamError('INVALID_INPUT', '"namespace_id" must be a string');
  }
  return {
    sql,
    ...(Array.isArray(params) ? { params: params as unknown[] } : {}),
    ...(typeof namespace === 'string' ? { namespace } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Responses.

function asApiError(err: unknown): ErrorLike {
  return err instanceof RouteError ? err : toKalamError(err);
}

function errorBody(e: ErrorLike): { code: string; message: string; details: unknown } {
  return { code: e.code, message: e.message, details: e.details ?? null };
}

function sendError(res: ServerResponse, e: ErrorLike): void {
  sendJson(res, e.httpStatus, { status: 'error', error: errorBody(e) }, e);
}

/** `details.retryAfterSeconds` of a 429 or 503, as a Retry-After header value. */
function retryAfterOf(e: ErrorLike): string | undefined {
  const details = e.details;
  if (typeof details !== 'object' || details === null || !('retryAfterSeconds' in details)) return undefined;
  const seconds = details.retryAfterSeconds;
  return typeof seconds === 'number' && Number.isFinite(seconds) ? String(Math.max(1, Math.ceil(seconds))) : undefined;
}

/** This response is the connection's last. */
function closeAfter(res: ServerResponse): void {
  res.setHeader('Connection', 'close');
  res.removeHeader('Keep-Alive');
}

function sendJson(res: ServerResponse, status: number, body: unknown, error?: ErrorLike): void {
  const text = JSON.stringify(body);
  // A 413 leaves the rest of the body unread on the socket: the connection cannot be reused.
  if (error?.httpStatus === 413) closeAfter(res);
  const retryAfter = error === undefined ? undefined : retryAfterOf(error);
  if (retryAfter !== undefined) res.setHeader('Retry-After', retryAfter);
  if (status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="kalam", Bearer');
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
