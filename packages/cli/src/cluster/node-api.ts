/**
 * Calls to the nodes' HTTP APIs as root: one login (POST /v1/api/auth/login, a scrypt check on the node) gives a
 * Bearer token every node of the cluster accepts (they share the JWT key), reused for later calls and renewed
 * once on a 401. A login is a write to meta:users, so a node cut off from that group's leader cannot grant
 * one: the login is tried on the target node first, then on each other node, and the token then works on
 * the cut-off node too (a Bearer check of a known user is local). Every call is bounded by CLUSTER_LIMITS.nodeRequestTimeoutMs; a failure is a CliError
 * CLUSTER_FAILED naming the node.
 */
import { CliError } from '../errors.js';
import { HttpCallError, apiErrorMessage, httpJson } from './http.js';
import type { JsonResponse } from './http.js';
import { CLUSTER_LIMITS } from './limits.js';
import type { ClusterCredentials, ManifestNode } from './types.js';

export class NodeApi {
  private token: string | undefined;

  constructor(
    private readonly credentials: ClusterCredentials,
    /** Every node of the cluster: where a login may be tried. */
    private readonly nodes: readonly ManifestNode[],
    private readonly timeoutMs: number = CLUSTER_LIMITS.nodeRequestTimeoutMs,
  ) {}

  /** GET (no body) or POST (a body) `path` on `node` as root; resolves with the JSON answer of a 2xx. */
  async call(node: ManifestNode, path: string, body?: unknown): Promise<unknown> {
    let res = await this.send(node, path, body, await this.bearer(node));
    if (res.status === 401) {
      this.token = undefined;
      res = await this.send(node, path, body, await this.bearer(node));
    }
    if (res.status < 200 || res.status > 299) {
      throw new CliError('CLUSTER_FAILED', `node ${node.id} refused ${path}: ${apiErrorMessage(res)}`);
    }
    return res.body;
  }

  private async bearer(node: ManifestNode): Promise<string> {
    if (this.token !== undefined) return this.token;
    const candidates = [node, ...this.nodes.filter((n) => n.id !== node.id)];
    const failures: string[] = [];
    for (const candidate of candidates) {
      try {
        const res = await this.send(candidate, '/v1/api/auth/login', {
          username: this.credentials.user,
          password: this.credentials.password,
        });
        const token = (res.body as { access_token?: unknown } | undefined)?.access_token;
        if (res.status === 200 && typeof token === 'string') {
          this.token = token;
          return token;
        }
        failures.push(`node ${candidate.id}: ${apiErrorMessage(res)}`);
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        failures.push(err.message);
      }
    }
    throw new CliError('CLUSTER_FAILED', `no node granted the root login (${failures.join('; ')})`);
  }

  private async send(node: ManifestNode, path: string, body: unknown, token?: string): Promise<JsonResponse> {
    try {
      return await httpJson(`${node.apiUrl}${path}`, {
        ...(body !== undefined && { body }),
        headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
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
