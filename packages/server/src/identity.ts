/**
 * Who this node is in which cluster, kept in `<data_dir>/node.json` (issue [M9] §2): the cluster id, the node id and
 * the members it knew when it first started. A static member writes it on its first start from its config; a node
 * started with `cluster.join` (`kalam serve --join ADDR`) gets its id from the cluster (join.ts) and writes it before
 * anything else, so a restart never joins again. A data_dir that belongs to another cluster, or to another node id,
 * is refused at startup with what to do — a node must never serve one cluster's data under another's name.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { formatHostPort, parseHostPort } from './config.js';
import type { ClusterNodeConfig, MemberSettings } from './config.js';
import { ServerError } from './errors.js';

export const IDENTITY_FILE = 'node.json';
const IDENTITY_FORMAT = 1;

/** node.json as written. */
export interface NodeIdentity {
  readonly format: typeof IDENTITY_FORMAT;
  readonly cluster_id: string;
  readonly node_id: number;
  /** 'config': a static member; 'join': admitted by the cluster through cluster.join. */
  readonly origin: 'config' | 'join';
  /** The members when this file was written, this node included: where a joined node dials at its next start. */
  readonly members: readonly { node_id: number; rpc_addr: string; api_addr: string }[];
  /**
   * The cluster's founding members (its static members): every group's configuration before any membership
   * change, the base a log replayed from index 1 rebuilds the configuration in force from. A static member's are
   * its config's members; a joined node's come with the join answer. Absent in files written before it existed.
   */
  readonly founders?: readonly number[];
}

/** Files a node that has served keeps in its data_dir: a join into such a folder is refused. */
const STATE_FILES = ['raft.db', 'data.db'];

export function readIdentity(dataDir: string): NodeIdentity | undefined {
  const file = join(dataDir, IDENTITY_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return undefined;
    throw new ServerError('STARTUP_FAILED', `cannot read ${file}: ${String(err)}`, { cause: err });
  }
  const value = parseIdentity(text);
  if (value === undefined) throw new ServerError('STARTUP_FAILED', `${file} is not a Kalam node identity`);
  return value;
}

function parseIdentity(text: string): NodeIdentity | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const members = o['members'];
  const ok =
    o['format'] === IDENTITY_FORMAT &&
    typeof o['cluster_id'] === 'string' &&
    Number.isSafeInteger(o['node_id']) &&
    (o['origin'] === 'config' || o['origin'] === 'join') &&
    Array.isArray(members) &&
    (o['founders'] === undefined || isIdList(o['founders'])) &&
    members.every(
      (m: unknown) =>
        typeof m === 'object' &&
        m !== null &&
        Number.isSafeInteger((m as Record<string, unknown>)['node_id']) &&
        typeof (m as Record<string, unknown>)['rpc_addr'] === 'string' &&
        typeof (m as Record<string, unknown>)['api_addr'] === 'string',
    );
  return ok ? (o as unknown as NodeIdentity) : undefined;
}

/** A non-empty list of distinct node ids. */
export function isIdList(v: unknown): v is number[] {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((id) => Number.isSafeInteger(id) && (id as number) > 0) &&
    new Set(v).size === v.length
  );
}

/** The founding members of a node's cluster: node.json's, or — a static member — its config's members. */
export function foundersOf(config: ClusterNodeConfig, identity: NodeIdentity | undefined): number[] {
  if (identity?.founders !== undefined) return [...identity.founders];
  if (identity === undefined || identity.origin === 'config') return config.cluster.members.map((m) => m.nodeId);
  throw new ServerError(
    'STARTUP_FAILED',
    `${IDENTITY_FILE} of joined node ${identity.node_id} does not name the cluster's founding members; ` +
      'wipe the data_dir and join again',
  );
}

/** Writes node.json durably: a temporary file, fsynced, renamed over (a crash leaves the old file or the new one). */
export function writeIdentity(dataDir: string, identity: NodeIdentity): void {
  const file = join(dataDir, IDENTITY_FILE);
  const tmp = `${file}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o644 });
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dir = openSync(dataDir, 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (err) {
    throw new ServerError('STARTUP_FAILED', `cannot write ${file}: ${String(err)}`, { cause: err });
  }
}

/** True when the folder holds a node's state (a join into it would mix two nodes' data). */
export function holdsState(dataDir: string): boolean {
  return STATE_FILES.some((f) => existsSync(join(dataDir, f)));
}

/**
 * A static member's identity check: node.json, when present, must name the config's cluster and node id; when
 * absent (a first start, or a data_dir from before node.json) it is written from the config.
 */
export function checkStaticIdentity(config: ClusterNodeConfig): void {
  const c = config.cluster;
  const dataDir = config.server.dataDir;
  const known = readIdentity(dataDir);
  if (known === undefined) {
    writeIdentity(dataDir, {
      format: IDENTITY_FORMAT,
      cluster_id: c.clusterId,
      node_id: c.nodeId,
      origin: 'config',
      members: c.members.map((m) => ({ node_id: m.nodeId, rpc_addr: formatHostPort(m.rpcAddr), api_addr: m.apiUrl })),
      founders: c.members.map((m) => m.nodeId),
    });
    return;
  }
  refuseOtherCluster(known, c.clusterId, dataDir);
  if (known.node_id !== c.nodeId) {
    throw new ServerError(
      'STARTUP_FAILED',
      `data_dir ${dataDir} belongs to node ${known.node_id}, but cluster.node_id is ${c.nodeId}: ` +
        'start it with its own data_dir, or an empty one',
    );
  }
}

export function refuseOtherCluster(known: NodeIdentity, clusterId: string, dataDir: string): void {
  if (clusterId !== '' && known.cluster_id !== clusterId) {
    throw new ServerError(
      'STARTUP_FAILED',
      `data_dir ${dataDir} belongs to cluster "${known.cluster_id}", but the config names cluster "${clusterId}": ` +
        'a node serves one cluster; use an empty data_dir to join another',
    );
  }
}

/** A joined node's config: the id, cluster and members from its identity in place of the static ones. */
export function joinedConfig(config: ClusterNodeConfig, identity: NodeIdentity): ClusterNodeConfig {
  const members: MemberSettings[] = [];
  for (const m of identity.members) {
    const rpcAddr = parseHostPort(m.rpc_addr);
    if (typeof rpcAddr === 'string') {
      throw new ServerError('STARTUP_FAILED', `node.json names member ${m.node_id} at a bad rpc_addr ${m.rpc_addr}`);
    }
    members.push({ nodeId: m.node_id, rpcAddr, apiUrl: m.api_addr });
  }
  return {
    ...config,
    cluster: { ...config.cluster, clusterId: identity.cluster_id, nodeId: identity.node_id, members },
  };
}

export { IDENTITY_FORMAT };
