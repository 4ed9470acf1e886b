/**
 * GET /v1/api/cluster/overview: every member's own view, gathered by the node asked, so the console can show each
 * node's applied index, role and health from one origin. GET /v1/api/cluster/status tells what one node sees; this
 * asks each peer for its status (with the caller's own Authorization, which every node checks alike: the JWT key is
 * the cluster's) and its readiness, in parallel, each bounded by SERVER_LIMITS.peerStatusTimeoutMs. A peer that does
 * not answer in time is `reachable: false` with the reason, never an error of the whole call. `groups` folds the
 * answers by the rule `kalam cluster status` uses (cluster-aggregate.ts), counting a leader only if it answered.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

import { aggregateGroups } from './cluster-aggregate.js';
import type { ClusterGroupView } from './cluster-aggregate.js';
import type { GroupStatus, NodeStatus, RunningNode } from './runtime.js';
import { SERVER_LIMITS } from './limits.js';

export const OVERVIEW_PATH = '/v1/api/cluster/overview';

export interface NodeOverview {
  readonly node_id: number;
  readonly api_url: string | null;
  readonly self: boolean;
  readonly state: string | null;
  /** Its Raft link to the node asked is connected (or it is that node). */
  readonly up: boolean;
  /** It answered for its status. */
  readonly reachable: boolean;
  /** From its /v1/api/health/ready; null when it did not answer. */
  readonly ready: boolean | null;
  readonly not_serving: number | null;
  /** Why it is not reachable (or its refusal); null when it answered. */
  readonly error: string | null;
  readonly groups: readonly GroupStatus[] | null;
}

export interface ClusterOverview {
  readonly mode: 'standalone' | 'cluster';
  readonly cluster_id: string | null;
  /** The node that answered. */
  readonly node_id: number;
  readonly nodes: readonly NodeOverview[];
  /** Every group across the nodes that answered: leader, term, applied index and lag per node, voters, learners. */
  readonly groups: readonly ClusterGroupView[];
}

interface PeerAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** One GET of a peer's API, its JSON answer whatever the status; rejects on a network failure or the timeout. */
function getJson(url: string, headers: Record<string, string>, ca: string | undefined): Promise<PeerAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, {
      method: 'GET',
      headers,
      timeout: SERVER_LIMITS.peerStatusTimeoutMs,
      ...(ca !== undefined && { ca }),
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${SERVER_LIMITS.peerStatusTimeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
        } catch (err) {
          reject(new Error(`answered ${res.statusCode ?? '?'} without JSON`, { cause: err }));
        }
      });
    });
    req.end();
  });
}

function errorMessage(body: unknown, status: number): string {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof e?.code === 'string' ? `${e.code}: ${String(e.message)}` : `HTTP ${status}`;
}

async function askPeer(n: NodeStatus, authorization: string, ca: string | undefined): Promise<NodeOverview> {
  const about = { node_id: n.node_id, api_url: n.api_url, self: false, state: n.state, up: n.up };
  const unreachable = (error: string): NodeOverview => ({
    ...about,
    reachable: false,
    ready: null,
    not_serving: null,
    error,
    groups: null,
  });
  if (n.api_url === null) return unreachable('no API address known');
  const base = n.api_url.replace(/\/+$/, '');
  const [status, ready] = await Promise.allSettled([
    getJson(`${base}/v1/api/cluster/status`, { Authorization: authorization }, ca),
    getJson(`${base}/v1/api/health/ready`, {}, ca),
  ]);
  if (status.status === 'rejected') {
    return unreachable(status.reason instanceof Error ? status.reason.message : String(status.reason));
  }
  if (status.value.status !== 200) return unreachable(errorMessage(status.value.body, status.value.status));
  const readiness =
    ready.status === 'fulfilled' ? (ready.value.body as { status?: unknown; not_serving?: unknown }) : undefined;
  return {
    ...about,
    reachable: true,
    ready: readiness === undefined ? null : readiness.status === 'ready',
    not_serving: Array.isArray(readiness?.not_serving) ? readiness.not_serving.length : null,
    error: null,
    groups: (status.value.body as { groups?: GroupStatus[] }).groups ?? null,
  };
}

/** The overview as `node` and its peers see the cluster now; `authorization` is the caller's, already checked. */
export async function clusterOverview(node: RunningNode, authorization: string): Promise<ClusterOverview> {
  const mine = node.clusterStatus();
  const readiness = node.readiness();
  const nodes = await Promise.all(
    mine.nodes.map((n): Promise<NodeOverview> =>
      n.self
        ? Promise.resolve({
            node_id: n.node_id,
            api_url: n.api_url,
            self: true,
            state: n.state,
            up: true,
            reachable: true,
            ready: readiness.ready,
            not_serving: readiness.not_serving.length,
            error: null,
            groups: mine.groups,
          })
        : askPeer(n, authorization, node.config.tls?.ca),
    ),
  );
  const reports = nodes.flatMap((n) => (n.groups === null ? [] : [{ nodeId: n.node_id, groups: n.groups }]));
  const reachable = new Set(nodes.filter((n) => n.reachable).map((n) => n.node_id));
  const groups = aggregateGroups(
    nodes.map((n) => n.node_id),
    reports,
    (id) => reachable.has(id),
  );
  return { mode: mine.mode, cluster_id: mine.cluster_id, node_id: mine.node_id, nodes, groups };
}
