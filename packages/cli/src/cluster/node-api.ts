/**
 * Calls to the nodes' HTTP APIs as root, with a Bearer token minted here rather than obtained by logging in:
 * a login is a write to meta:users and needs that group's quorum, which is exactly what a partition or a killed
 * node may take away — and `node heal` must work then. The key is the one every node of the cluster derives
 * (jwtKeyOf of @kalam/server, from the node config this CLI wrote), root's user id is the fixed "root", and a
 * node checks such a token locally. Tokens are renewed after half their lifetime. Every call is bounded by
 * CLUSTER_LIMITS.nodeRequestTimeoutMs; a failure is a CliError CLUSTER_FAILED naming the node.
 */
import { issueToken, jwtKeyOf, loadConfig } from '@kalam/server';

import { CliError } from '../errors.js';
import { HttpCallError, apiErrorMessage, httpJson } from './http.js';
import type { JsonResponse } from './http.js';
import { CLUSTER_LIMITS } from './limits.js';
import type { ManifestNode } from './types.js';

/** bootstrap() in packages/kalamdb creates root with this id. */
const ROOT_SESSION = { userId: 'root', username: 'root', role: 'system' } as const;

export class NodeApi {
  private token: { value: string; renewAt: number } | undefined;
  private readonly key: Uint8Array;
  private readonly ttlSeconds: number;

  /** `nodes`: the cluster's nodes; the key comes from the first one's config (they share it). */
  constructor(
    nodes: readonly ManifestNode[],
    private readonly timeoutMs: number = CLUSTER_LIMITS.nodeRequestTimeoutMs,
  ) {
    const first = nodes[0];
    if (first === undefined) throw new CliError('CLUSTER_FAILED', 'the cluster manifest lists no node');
    let config;
    try {
      config = loadConfig(first.configPath, {});
    } catch (err) {
      const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new CliError('CLUSTER_FAILED', `cannot read ${first.configPath}: ${detail}`, { cause: err });
    }
    this.key = jwtKeyOf(config);
    this.ttlSeconds = config.auth.tokenTtlSeconds;
  }

  /** GET (no body) or POST (a body) `path` on `node` as root; resolves with the JSON answer of a 2xx. */
  async call(node: ManifestNode, path: string, body?: unknown): Promise<unknown> {
    const res = await this.send(node, path, body, await this.bearer());
    if (res.status < 200 || res.status > 299) {
      throw new CliError('CLUSTER_FAILED', `node ${node.id} refused ${path}: ${apiErrorMessage(res)}`);
    }
    return res.body;
  }

  /** Like call(), but any answer resolves (the caller reads the error code of a 4xx/5xx). */
  async request(node: ManifestNode, path: string, body?: unknown): Promise<JsonResponse> {
    return this.send(node, path, body, await this.bearer());
  }

  private async bearer(): Promise<string> {
    const now = Date.now();
    if (this.token !== undefined && now < this.token.renewAt) return this.token.value;
    const issued = await issueToken(this.key, ROOT_SESSION, { ttlSeconds: this.ttlSeconds, nowMs: now });
    this.token = { value: issued.access_token, renewAt: now + (this.ttlSeconds * 1000) / 2 };
    return issued.access_token;
  }

  private async send(node: ManifestNode, path: string, body: unknown, token: string): Promise<JsonResponse> {
    try {
      return await httpJson(`${node.apiUrl}${path}`, {
        ...(body !== undefined && { body }),
        headers: { Authorization: `Bearer ${token}` },
        timeoutMs: this.timeoutMs,
      });
    } catch (err) {
      if (err instanceof HttpCallError) {
        throw new CliError('CLUSTER_FAILED', `node ${node.id} did not answer: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }
}
