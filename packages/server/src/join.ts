/**
 * Joining a running cluster (issue [M9] §2). A node started with `cluster.join = "<member API address>"` (or
 * `kalam serve --join ADDR`; a member's RPC address is answered with its API URL, which the joiner then asks), an empty data_dir and the cluster secret sends `POST /v1/api/cluster/join` to that
 * member: its own RPC and API addresses, its clock, a nonce and HMAC-SHA256(secret) over them (the transport's join
 * primitives, handshake.ts). The member checks freshness, the MAC (constant time) and the nonce (replay) — a join
 * without the secret is refused (401 JOIN_REFUSED) before anything is proposed — then proposes AddClusterNode to
 * meta:system (the executor forwards it to the meta:system leader, which gives out the id) and answers
 * `{cluster_id, node_id, members, hmac}`; the answer's MAC binds the request's nonce, so the joiner knows a holder of
 * the secret answered it. The joiner writes node.json (identity.ts) before it does anything else.
 *
 * The member answers only once its own meta:system has applied the new row (a forwarded write waits for that), so
 * the members it lists include the joiner.
 */
import type { ClusterNodeRecord, SystemResponse } from '@kalam/kalamdb';
import { isRefusal, toKalamError } from '@kalam/kalamdb';
import {
  API_URL_HEADER,
  NonceCache,
  createJoinRequest,
  joinAnswerMac,
  verifyJoinAnswer,
  verifyJoinRequest,
} from '@kalam/multiraft';
import type { JoinRequest } from '@kalam/multiraft';

import { advertisedApiUrl, formatHostPort } from './config.js';
import type { ClusterNodeConfig } from './config.js';
import { ServerError } from './errors.js';
import { IDENTITY_FORMAT, holdsState, isIdList } from './identity.js';
import type { NodeIdentity } from './identity.js';
import { SERVER_LIMITS } from './limits.js';
import type { NodeLog } from './runtime.js';
import { fetchTrusting } from './tls.js';

export const JOIN_PATH = '/v1/api/cluster/join';

const WILDCARD_HOSTS: ReadonlySet<string> = new Set(['0.0.0.0', '::', '[::]']);

/** The member's answer. */
export interface JoinAnswer {
  readonly cluster_id: string;
  readonly node_id: number;
  readonly members: readonly { node_id: number; rpc_addr: string; api_addr: string; state: string }[];
  /** The cluster's founding members: the joiner builds its groups on them (identity.ts NodeIdentity.founders). */
  readonly founders: readonly number[];
  readonly hmac: string;
}

/** A join refused or failed on the member's side, with the HTTP status it answers. */
export class JoinError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: 'JOIN_REFUSED' | 'JOIN_CONFLICT' | 'NOT_A_CLUSTER' | 'INVALID_INPUT' | 'CLUSTER_UNAVAILABLE',
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The member's side.

/** What admitting a join needs of the running node. */
export interface JoinHost {
  readonly config: ClusterNodeConfig['cluster'] | undefined;
  executeSystem(cmd: {
    type: 'AddClusterNode';
    rpcAddr: string;
    apiAddr: string;
    createdAt: number;
  }): Promise<SystemResponse>;
  clusterNodes(): ClusterNodeRecord[];
  /** The cluster's founding members, as this node knows them (its static members, or its node.json's). */
  readonly founders: readonly number[];
}

/** Admits joins on one member: one nonce cache for every request it checks. */
export class JoinDesk {
  private readonly nonces = new NonceCache(SERVER_LIMITS.joinNoncesMax);

  constructor(
    private readonly host: JoinHost,
    private readonly log: NodeLog,
  ) {}

  async admit(body: unknown, remote: string | undefined): Promise<JoinAnswer> {
    const cluster = this.host.config;
    if (cluster === undefined) throw new JoinError(400, 'NOT_A_CLUSTER', 'this node is standalone: nothing to join');
    const req = parseJoinRequest(body);
    const verdict = verifyJoinRequest(req, {
      secret: cluster.secret,
      nowMs: Date.now(),
      maxSkewMs: SERVER_LIMITS.joinMaxSkewMs,
      nonces: this.nonces,
    });
    if (!verdict.ok) {
      this.log('warn', 'join.refused', { reason: verdict.reason, remote, rpc_addr: req.rpcAddr });
      const hint = verdict.reason === 'bad_hmac' ? ' (the joining node does not hold this cluster secret)' : '';
      throw new JoinError(401, 'JOIN_REFUSED', `join refused: ${verdict.reason}${hint}`, { reason: verdict.reason });
    }
    const response = await this.host.executeSystem({
      type: 'AddClusterNode',
      rpcAddr: req.rpcAddr,
      apiAddr: req.apiAddr,
      createdAt: Date.now(),
    });
    if (isRefusal(response)) {
      const status = response.code === 'ALREADY_EXISTS' ? 409 : 503;
      const code = status === 409 ? 'JOIN_CONFLICT' : 'CLUSTER_UNAVAILABLE';
      throw new JoinError(status, code, `join refused: ${response.message}`, { refusal: response.code });
    }
    if (response.type !== 'ClusterNodeAdded') throw new Error(`AddClusterNode answered ${response.type}`);
    const members = this.host
      .clusterNodes()
      .filter((n) => n.state !== 'removed')
      .map((n) => ({ node_id: n.nodeId, rpc_addr: n.rpcAddr, api_addr: n.apiAddr, state: n.state }));
    this.log('info', 'join.admitted', { node_id: response.nodeId, created: response.created, rpc_addr: req.rpcAddr });
    const answer = { clusterId: cluster.clusterId, nodeId: response.nodeId, nonce: req.nonce };
    return {
      cluster_id: cluster.clusterId,
      node_id: response.nodeId,
      members,
      founders: [...this.host.founders],
      hmac: joinAnswerMac(cluster.secret, answer),
    };
  }
}

function parseJoinRequest(body: unknown): JoinRequest {
  const o = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const { rpc_addr: rpcAddr, api_addr: apiAddr, ts, nonce, hmac } = o;
  const printable = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;
  const hex = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{2,128}$/.test(v);
  if (!printable(rpcAddr) || !printable(apiAddr) || !Number.isSafeInteger(ts) || !hex(nonce) || !hex(hmac)) {
    throw new JoinError(400, 'INVALID_INPUT', 'a join request is {rpc_addr, api_addr, ts, nonce, hmac}');
  }
  return { rpcAddr, apiAddr, ts: ts as number, nonce, hmac };
}

// ---------------------------------------------------------------------------------------------------------
// The joiner's side.

/**
 * Asks `config.cluster.join` to admit this node, and returns the identity to write. Retries (a fresh request each
 * time) while the member is unreachable or has no leader, up to SERVER_LIMITS.joinTimeoutMs; a refusal (wrong
 * secret, an address in use) fails at once with the member's reason.
 */
export async function joinCluster(config: ClusterNodeConfig, log: NodeLog): Promise<NodeIdentity> {
  const c = config.cluster;
  const target = c.join;
  if (target === undefined) throw new Error('joinCluster needs cluster.join');
  if (holdsState(config.server.dataDir)) {
    throw new ServerError(
      'STARTUP_FAILED',
      `cluster.join needs an empty data_dir, and ${config.server.dataDir} holds a node's state without node.json`,
    );
  }
  // The addresses are announced as configured: the members dial them, so a wildcard or a port 0 cannot be one.
  for (const [key, addr] of [
    ['cluster.raft.rpc_addr', c.raft.rpcAddr],
    ['server.api_addr', config.server.apiAddr],
  ] as const) {
    if (WILDCARD_HOSTS.has(addr.host) || addr.port === 0) {
      throw new ServerError(
        'STARTUP_FAILED',
        `cluster.join announces ${key} to the cluster, so it must be an address the members can reach, ` +
          `not ${formatHostPort(addr)}`,
      );
    }
  }
  const addrs = { rpcAddr: formatHostPort(c.raft.rpcAddr), apiAddr: advertisedApiUrl(config) };
  // A join may name a member's RPC port, which with require_client_cert wants this node's certificate too.
  const trust =
    config.tls === undefined ? undefined : { ca: config.tls.ca, cert: config.tls.cert, key: config.tls.key };
  const deadline = Date.now() + SERVER_LIMITS.joinTimeoutMs;
  let via = target;
  for (let attempt = 1; ; attempt++) {
    const req = createJoinRequest(c.secret, addrs, Date.now());
    const outcome = await askToJoin(via, req, trust);
    if (outcome.kind === 'redirect') {
      if (via !== target) {
        throw new ServerError('STARTUP_FAILED', `cannot join the cluster: ${via} is not a member's API address`);
      }
      // `--join` named a member's RPC address: its transport answered with the member's API URL.
      log('info', 'node.join_via_api', { via: target, api: outcome.apiUrl });
      via = outcome.apiUrl;
      continue;
    }
    if (outcome.kind === 'answer') {
      const identity = checkAnswer(outcome.answer, req, c, addrs.rpcAddr, via);
      log('info', 'node.joined', { via, node_id: identity.node_id, cluster_id: identity.cluster_id, attempt });
      return identity;
    }
    if (outcome.kind === 'refused' || Date.now() >= deadline) {
      throw new ServerError('STARTUP_FAILED', `cannot join the cluster through ${via}: ${outcome.message}`);
    }
    log('warn', 'node.join_retry', { via, attempt, error: outcome.message });
    await new Promise((resolve) => setTimeout(resolve, SERVER_LIMITS.joinRetryMs));
  }
}

type JoinOutcome =
  | { kind: 'answer'; answer: unknown }
  | { kind: 'refused'; message: string }
  | { kind: 'retry'; message: string }
  | { kind: 'redirect'; apiUrl: string };

async function askToJoin(
  target: string,
  req: JoinRequest,
  trust: { ca: string; cert: string; key: string } | undefined,
): Promise<JoinOutcome> {
  let res: Response;
  try {
    // With [tls] the member's certificate is checked against our ca_file (fetch alone trusts only the system's CAs).
    res = await fetchTrusting(
      `${target}${JOIN_PATH}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          rpc_addr: req.rpcAddr,
          api_addr: req.apiAddr,
          ts: req.ts,
          nonce: req.nonce,
          hmac: req.hmac,
        }),
        signal: AbortSignal.timeout(SERVER_LIMITS.joinRequestTimeoutMs),
      },
      trust,
    );
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return { kind: 'retry', message: `${err instanceof Error ? err.message : String(err)}${cause}` };
  }
  const apiUrl = res.headers.get(API_URL_HEADER);
  if (res.status === 426 && apiUrl !== null && /^https?:\/\/[^/\s]+$/.test(apiUrl)) {
    await res.body?.cancel();
    return { kind: 'redirect', apiUrl };
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (res.ok) return { kind: 'answer', answer: body };
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  const message = `${res.status} ${text(error?.code)} ${text(error?.message)}`.trim();
  // 503 and 5xx: the member has no leader yet, or is going away — ask again. Anything else is the cluster's answer.
  return res.status >= 500 ? { kind: 'retry', message } : { kind: 'refused', message };
}

function checkAnswer(
  body: unknown,
  req: JoinRequest,
  c: ClusterNodeConfig['cluster'],
  rpcAddr: string,
  target: string,
): NodeIdentity {
  const answer = body as JoinAnswer;
  const member = (m: unknown): boolean => {
    const o = m as Record<string, unknown> | null;
    return (
      typeof o === 'object' &&
      o !== null &&
      Number.isSafeInteger(o['node_id']) &&
      typeof o['rpc_addr'] === 'string' &&
      typeof o['api_addr'] === 'string'
    );
  };
  const shaped =
    typeof body === 'object' &&
    body !== null &&
    typeof answer.cluster_id === 'string' &&
    Number.isSafeInteger(answer.node_id) &&
    answer.node_id > 0 &&
    typeof answer.hmac === 'string' &&
    Array.isArray(answer.members) &&
    (answer.members as unknown[]).every(member) &&
    isIdList(answer.founders);
  if (!shaped) throw new ServerError('STARTUP_FAILED', `${target} answered the join with something else`);
  const given: JoinAnswer['members'] = (body as JoinAnswer).members;
  const signed = { clusterId: answer.cluster_id, nodeId: answer.node_id, nonce: req.nonce, hmac: answer.hmac };
  if (!verifyJoinAnswer(c.secret, signed)) {
    throw new ServerError('STARTUP_FAILED', `${target} answered the join without proof of the cluster secret`);
  }
  if (c.clusterId !== '' && answer.cluster_id !== c.clusterId) {
    throw new ServerError(
      'STARTUP_FAILED',
      `${target} belongs to cluster "${answer.cluster_id}", but cluster.cluster_id is "${c.clusterId}"`,
    );
  }
  const self = given.find((m) => m.node_id === answer.node_id);
  if (self?.rpc_addr !== rpcAddr) {
    throw new ServerError(
      'STARTUP_FAILED',
      `${target} gave node id ${answer.node_id} but does not list it at ${rpcAddr}`,
    );
  }
  return {
    format: IDENTITY_FORMAT,
    cluster_id: answer.cluster_id,
    node_id: answer.node_id,
    origin: 'join',
    members: given.map((m) => ({ node_id: m.node_id, rpc_addr: m.rpc_addr, api_addr: m.api_addr })),
    founders: [...(body as JoinAnswer).founders],
  };
}

/** Maps a JoinDesk failure (or anything else) to what the HTTP layer sends. */
export function joinErrorOf(err: unknown): { httpStatus: number; code: string; message: string; details?: unknown } {
  return err instanceof JoinError ? err : toKalamError(err);
}
