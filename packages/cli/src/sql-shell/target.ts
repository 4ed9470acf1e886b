/**
 * Where `kalam sql` sends its statements and with which credentials, from its options:
 *
 *   --url URL            that node only; user `--user` (default root), password `--password`, else
 *                        $KALAM_ROOT_PASSWORD for root; history in ~/.kalam_history
 *   --dir DIR            the cluster folder DIR (cluster/types.ts: cluster.json, credentials.json)
 *   --cluster NAME       the cluster folder .kalam/clusters/NAME (under the working directory)
 *   (none of these)      the one cluster under .kalam/clusters/ whose supervisor runs, else `default`; several
 *                        running clusters are ambiguous (a usage error) — cluster/folder.ts clusterRefForCommand
 *
 * With a cluster folder, `--node N` keeps only node N's API URL; without it every node is a candidate, in id
 * order. Credentials come from credentials.json unless `--user` / `--password` override them; history lives in the
 * folder (sql_history). A folder without a readable cluster.json is CLUSTER_NOT_FOUND (exit 2).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { clusterRefForCommand, liveSupervisor } from '../cluster/folder.js';
import { trustClusterCa } from '../cluster/tls.js';
import type { ClusterCredentials, ClusterManifest, NodeId } from '../cluster/types.js';
import { CliError, usageError } from '../errors.js';

export const ROOT_USER = 'root';
export const ROOT_PASSWORD_ENV = 'KALAM_ROOT_PASSWORD';
const HISTORY_FILE = 'sql_history';
const HOME_HISTORY_FILE = '.kalam_history';

export interface TargetOptions {
  readonly cluster?: string;
  readonly dir?: string;
  readonly url?: string;
  readonly node?: NodeId;
  readonly user?: string;
  readonly password?: string;
}

export interface Endpoint {
  /** null for `--url` (the node's id is not known up front). */
  readonly nodeId: NodeId | null;
  /** `http://host:port`, no trailing slash. */
  readonly apiUrl: string;
}

export interface SqlTarget {
  /** For messages: `cluster NAME`, or the URL. */
  readonly label: string;
  /** Tried in this order; never empty. */
  readonly endpoints: readonly Endpoint[];
  readonly user: string;
  readonly password: string;
  readonly historyPath: string;
  /** True when the endpoints come from a cluster folder without a supervisor.json (the cluster is down). */
  readonly clusterDown: boolean;
}

export interface TargetEnv {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly home: string;
}

export function processTargetEnv(): TargetEnv {
  return { cwd: process.cwd(), env: process.env, home: homedir() };
}

export function resolveTarget(opts: TargetOptions, env: TargetEnv = processTargetEnv()): SqlTarget {
  if (opts.url !== undefined) return urlTarget(opts.url, opts, env);
  // The same choice as every `kalam cluster|node` command: --dir, else --cluster, else the one running cluster.
  const { dir } = clusterRefForCommand({
    ...(opts.cluster !== undefined ? { name: opts.cluster } : {}),
    ...(opts.dir !== undefined ? { dir: opts.dir } : {}),
    cwd: env.cwd,
  });
  return clusterTarget(dir, opts, env);
}

function urlTarget(url: string, opts: TargetOptions, env: TargetEnv): SqlTarget {
  if (opts.node !== undefined)
    throw usageError('--node picks a node of a cluster folder; with --url, name the node by its URL');
  const apiUrl = normalizeUrl(url);
  const user = opts.user ?? ROOT_USER;
  return {
    label: apiUrl,
    endpoints: [{ nodeId: null, apiUrl }],
    user,
    password: opts.password ?? rootPasswordFromEnv(user, env),
    historyPath: join(env.home, HOME_HISTORY_FILE),
    clusterDown: false,
  };
}

function clusterTarget(dir: string, opts: TargetOptions, env: TargetEnv): SqlTarget {
  const manifest = readManifest(dir);
  trustClusterCa(dir); // a --tls cluster: its nodes' certificates come from the folder's CA
  let endpoints: Endpoint[] = [...manifest.nodes]
    .sort((a, b) => a.id - b.id)
    .map((n) => ({ nodeId: n.id, apiUrl: normalizeUrl(n.apiUrl) }));
  if (opts.node !== undefined) {
    const picked = endpoints.filter((e) => e.nodeId === opts.node);
    if (picked.length === 0) {
      const ids = endpoints.map((e) => e.nodeId).join(', ');
      throw usageError(`cluster ${manifest.name} has no node ${opts.node} (its nodes: ${ids})`);
    }
    endpoints = picked;
  }
  if (endpoints.length === 0) throw new CliError('CLUSTER_NOT_FOUND', `${join(dir, 'cluster.json')} lists no nodes`);
  const creds = readCredentials(dir);
  const user = opts.user ?? creds?.user ?? ROOT_USER;
  const password = opts.password ?? (creds !== undefined && user === creds.user ? creds.password : undefined);
  return {
    label: `cluster ${manifest.name}`,
    endpoints,
    user,
    password: password ?? rootPasswordFromEnv(user, env),
    historyPath: join(dir, HISTORY_FILE),
    clusterDown: liveSupervisor(dir) === undefined,
  };
}

function readManifest(dir: string): ClusterManifest {
  const path = join(dir, 'cluster.json');
  const value = readJson(path);
  if (value === undefined) {
    throw new CliError('CLUSTER_NOT_FOUND', `no cluster at ${dir} (no cluster.json; start one with kalam cluster up)`);
  }
  const nodes = isRecord(value) && Array.isArray(value['nodes']) ? (value['nodes'] as unknown[]) : undefined;
  const valid = nodes?.every((n) => isRecord(n) && Number.isSafeInteger(n['id']) && typeof n['apiUrl'] === 'string');
  if (!isRecord(value) || nodes === undefined || valid !== true) {
    throw new CliError('CLUSTER_NOT_FOUND', `${path} is not a cluster manifest (expected nodes: [{id, apiUrl}])`);
  }
  return value as unknown as ClusterManifest;
}

function readCredentials(dir: string): ClusterCredentials | undefined {
  const path = join(dir, 'credentials.json');
  const value = readJson(path);
  if (value === undefined) return undefined;
  if (!isRecord(value) || typeof value['user'] !== 'string' || typeof value['password'] !== 'string') {
    throw new CliError('CLUSTER_NOT_FOUND', `${path} is not a credentials file (expected {user, password})`);
  }
  return value as unknown as ClusterCredentials;
}

/** The parsed file, or undefined when it does not exist. A file that is not JSON is CLUSTER_NOT_FOUND. */
function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (isNodeError(err) && err.code === 'ENOENT') return undefined;
    throw new CliError('CLUSTER_NOT_FOUND', `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CliError('CLUSTER_NOT_FOUND', `${path} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function rootPasswordFromEnv(user: string, env: TargetEnv): string {
  const password = user === ROOT_USER ? env.env[ROOT_PASSWORD_ENV] : undefined;
  if (password === undefined || password === '') {
    throw usageError(
      user === ROOT_USER
        ? `no password for root: pass --password or set ${ROOT_PASSWORD_ENV}`
        : `no password for ${user}: pass --password`,
    );
  }
  return password;
}

function normalizeUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`not a URL: ${raw} (expected http://host:port)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`not an http URL: ${raw} (expected http://host:port)`);
  }
  return url.origin;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNodeError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && 'code' in err;
}
