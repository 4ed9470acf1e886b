/**
 * The cluster folder (layout in types.ts): which folder a command means, writing a new cluster's manifest,
 * credentials and node configs (mode 0600), reading them back, the supervisor's pid file, and the checks that
 * come before anything starts (ports free, no supervisor running). Every failure is a CliError with one line.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { basename, join, resolve } from 'node:path';

import { CliError, usageError } from '../errors.js';
import { CLUSTER_LIMITS } from './limits.js';
import { clusterHasTls, issueNodeCert, trustClusterCa, writeClusterCa } from './tls.js';
import type { ClusterCredentials, ClusterManifest, ManifestNode, NodeId, SupervisorInfo } from './types.js';

export const CLUSTERS_DIR = join('.kalam', 'clusters');
export const DEFAULT_CLUSTER_NAME = 'default';
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface ClusterRef {
  readonly name: string;
  /** Absolute. */
  readonly dir: string;
}

export const folderFiles = {
  manifest: (dir: string) => join(dir, 'cluster.json'),
  credentials: (dir: string) => join(dir, 'credentials.json'),
  supervisor: (dir: string) => join(dir, 'supervisor.json'),
  supervisorLog: (dir: string) => join(dir, 'logs', 'supervisor.log'),
};

export function checkClusterName(name: string): string {
  if (!NAME.test(name) || name.length > CLUSTER_LIMITS.clusterNameLengthMax) {
    throw usageError(
      `cluster name "${name}" must be letters, digits, ".", "_" and "-" (at most ${CLUSTER_LIMITS.clusterNameLengthMax})`,
    );
  }
  return name;
}

/** The folder `up` creates or reuses: --dir, else .kalam/clusters/NAME (NAME default "default"). */
export function clusterRefForUp(opts: { name?: string; dir?: string; cwd?: string }): ClusterRef {
  const cwd = opts.cwd ?? process.cwd();
  if (opts.dir !== undefined) {
    const dir = resolve(cwd, opts.dir);
    return { name: checkClusterName(opts.name ?? basename(dir)), dir };
  }
  const name = checkClusterName(opts.name ?? DEFAULT_CLUSTER_NAME);
  return { name, dir: resolve(cwd, CLUSTERS_DIR, name) };
}

/**
 * The folder a later command means: --dir, else --name, else the one cluster whose supervisor runs under
 * .kalam/clusters/ (several: a usage error listing them), else "default".
 */
export function clusterRefForCommand(opts: { name?: string; dir?: string; cwd?: string }): ClusterRef {
  if (opts.dir !== undefined || opts.name !== undefined) return clusterRefForUp(opts);
  const cwd = opts.cwd ?? process.cwd();
  const root = resolve(cwd, CLUSTERS_DIR);
  let entries: string[] = [];
  try {
    entries = readdirSync(root, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    entries = [];
  }
  const running = entries.filter((name) => liveSupervisor(join(root, name)) !== undefined);
  if (running.length > 1) {
    throw usageError(`several clusters are running (${running.join(', ')}): pick one with --name`);
  }
  const name = running[0] ?? DEFAULT_CLUSTER_NAME;
  return { name, dir: join(root, name) };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: a process with that pid exists but is not ours.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** supervisor.json when it names a live process, else undefined (a stale file is left for the caller). */
export function liveSupervisor(dir: string): SupervisorInfo | undefined {
  const info = readSupervisorInfo(dir);
  return info !== undefined && pidAlive(info.pid) ? info : undefined;
}

export function readSupervisorInfo(dir: string): SupervisorInfo | undefined {
  const file = folderFiles.supervisor(dir);
  if (!existsSync(file)) return undefined;
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<SupervisorInfo>;
    if (typeof value.pid !== 'number' || typeof value.url !== 'string' || typeof value.token !== 'string') {
      return undefined;
    }
    return value as SupervisorInfo;
  } catch {
    return undefined;
  }
}

export function writeSecretFile(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600); // an existing file keeps its mode on write; the umask only takes bits away
}

export function writeSupervisorInfo(dir: string, info: SupervisorInfo): void {
  writeSecretFile(folderFiles.supervisor(dir), `${JSON.stringify(info, null, 2)}\n`);
}

export function removeSupervisorInfo(dir: string): void {
  rmSync(folderFiles.supervisor(dir), { force: true });
}

export function readManifest(dir: string): ClusterManifest {
  const manifest = readJson<ClusterManifest>(folderFiles.manifest(dir), 'cluster manifest');
  trustClusterCa(dir); // a --tls cluster's nodes serve https with certificates from the folder's CA
  return manifest;
}

/** Rewrites cluster.json (the supervisor, after `node add` or `node remove`): a temporary file renamed over. */
export function writeManifest(manifest: ClusterManifest): void {
  const file = folderFiles.manifest(manifest.dir);
  writeSecretFile(`${file}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function readCredentials(dir: string): ClusterCredentials {
  return readJson<ClusterCredentials>(folderFiles.credentials(dir), 'cluster credentials');
}

function readJson<T>(file: string, what: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new CliError('CLUSTER_NOT_RUNNING', `no cluster at ${resolve(file, '..')} (no ${basename(file)})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new CliError('CLUSTER_FAILED', `the ${what} ${file} is not valid JSON`, { cause: err });
  }
}

/** The node's entry in the manifest, or UNKNOWN_NODE naming the ids there are. */
export function manifestNode(manifest: ClusterManifest, id: NodeId): ManifestNode {
  const node = manifest.nodes.find((n) => n.id === id);
  if (node === undefined) {
    const ids = manifest.nodes.map((n) => n.id).join(', ');
    throw new CliError('UNKNOWN_NODE', `cluster ${manifest.name} has no node ${id} (its nodes: ${ids})`);
  }
  return node;
}

export interface PlannedPort {
  readonly port: number;
  readonly what: string;
}

export function plannedPorts(basePort: number, nodes: number): PlannedPort[] {
  const ports: PlannedPort[] = [];
  for (let i = 1; i <= nodes; i++) {
    ports.push({ port: basePort + i - 1, what: `node ${i}'s API` });
    ports.push({ port: basePort + CLUSTER_LIMITS.rpcPortOffset + i - 1, what: `node ${i}'s Raft RPC` });
  }
  return ports;
}

export function portsOfManifest(manifest: ClusterManifest): PlannedPort[] {
  return manifest.nodes
    .filter((n) => n.removed !== true)
    .flatMap((n) => [
      { port: Number(new URL(n.apiUrl).port), what: `node ${n.id}'s API` },
      { port: Number(n.rpcAddr.slice(n.rpcAddr.lastIndexOf(':') + 1)), what: `node ${n.id}'s Raft RPC` },
    ]);
}

/** PORT_IN_USE naming the first port that cannot be bound on 127.0.0.1. */
export async function checkPortsFree(ports: readonly PlannedPort[]): Promise<void> {
  for (const { port, what } of ports) {
    const problem = await bindProblem(port);
    if (problem !== undefined) {
      throw new CliError('PORT_IN_USE', `port ${port} (${what}) is ${problem}; pick another --base-port`);
    }
  }
}

/**
 * A base port whose whole block (every node's API and Raft RPC port) is free on 127.0.0.1 right now, for
 * clusters that must not collide with anything (drills, tests). Random within CLUSTER_LIMITS.freeBasePortRange,
 * at most CLUSTER_LIMITS.freeBasePortAttempts tries.
 */
export async function findFreeBasePort(nodes: number): Promise<number> {
  const [low, high] = CLUSTER_LIMITS.freeBasePortRange;
  for (let attempt = 0; attempt < CLUSTER_LIMITS.freeBasePortAttempts; attempt++) {
    const base = low + Math.floor(Math.random() * (high - low));
    const problems = await Promise.all(plannedPorts(base, nodes).map(({ port }) => bindProblem(port)));
    if (problems.every((p) => p === undefined)) return base;
  }
  throw new CliError(
    'PORT_IN_USE',
    `no free block of ports for ${nodes} nodes in ${low}-${high} after ${CLUSTER_LIMITS.freeBasePortAttempts} tries`,
  );
}

/**
 * `count` distinct ports free on 127.0.0.1 right now, drawn like findFreeBasePort's (`node add`: a new node's API
 * and Raft ports, which need not sit next to the others').
 */
export async function findFreePorts(count: number): Promise<number[]> {
  const [low, high] = CLUSTER_LIMITS.freeBasePortRange;
  const ports: number[] = [];
  for (let attempt = 0; attempt < CLUSTER_LIMITS.freeBasePortAttempts * count && ports.length < count; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (!ports.includes(port) && (await bindProblem(port)) === undefined) ports.push(port);
  }
  if (ports.length < count) throw new CliError('PORT_IN_USE', `no ${count} free ports in ${low}-${high}`);
  return ports;
}

function bindProblem(port: number): Promise<string | undefined> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      resolvePromise(err.code === 'EADDRINUSE' ? 'in use' : `not usable (${err.code ?? err.message})`),
    );
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolvePromise(undefined)));
  });
}

/** The host of `host:port` (brackets dropped). */
function hostOf(addr: string): string {
  return addr.slice(0, addr.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
}

function secret(): string {
  return randomBytes(CLUSTER_LIMITS.secretBytes).toString('base64url');
}

/**
 * Writes a new cluster's folder: manifest, credentials, one config per node, empty data and log folders. `host`
 * gives node N's address (`--netns`: its namespace's; default 127.0.0.1); with `tls` also a CA and a certificate per
 * node (tls.ts), and https API URLs.
 */
export function writeClusterFolder(
  ref: ClusterRef,
  nodes: number,
  basePort: number,
  opts: { readonly host?: (id: NodeId) => string; readonly tls?: boolean } = {},
): ClusterManifest {
  const host = opts.host ?? (() => '127.0.0.1');
  const tls = opts.tls === true;
  const { dir, name } = ref;
  for (const sub of ['nodes', 'data', 'logs']) mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
  if (tls) writeClusterCa(dir, name);
  const scheme = tls ? 'https' : 'http';
  const credentials: ClusterCredentials = { user: 'root', password: secret(), clusterSecret: secret() };
  const members: ManifestNode[] = [];
  for (let id = 1; id <= nodes; id++) {
    members.push({
      id,
      apiUrl: `${scheme}://${host(id)}:${basePort + id - 1}`,
      rpcAddr: `${host(id)}:${basePort + CLUSTER_LIMITS.rpcPortOffset + id - 1}`,
      configPath: join(dir, 'nodes', `node${id}.toml`),
      dataDir: join(dir, 'data', `node${id}`),
      logPath: join(dir, 'logs', `node${id}.log`),
    });
  }
  const manifest: ClusterManifest = {
    name,
    dir,
    clusterId: `kalam-${name}`,
    createdAt: new Date().toISOString(),
    nodes: members,
  };
  writeSecretFile(folderFiles.credentials(dir), `${JSON.stringify(credentials, null, 2)}\n`);
  for (const node of members) {
    mkdirSync(node.dataDir, { recursive: true, mode: 0o700 });
    const tlsSection = tls ? issueNodeCert(dir, `node${node.id}`, hostOf(node.rpcAddr)) : '';
    writeSecretFile(node.configPath, nodeToml(manifest, credentials, node) + tlsSection);
  }
  writeSecretFile(folderFiles.manifest(dir), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function nodeToml(manifest: ClusterManifest, credentials: ClusterCredentials, node: ManifestNode): string {
  const q = (s: string): string => JSON.stringify(s);
  const lines = [
    `# Node ${node.id} of cluster ${manifest.name}, written by \`kalam cluster up\`. Holds secrets: keep it 0600.`,
    '[server]',
    `api_addr = ${q(node.apiUrl.replace(/^https?:\/\//, ''))}`,
    `data_dir = ${q(node.dataDir)}`,
    '',
    '[auth]',
    `root_password = ${q(credentials.password)}`,
    '',
    '# The fault-injection endpoints `kalam node partition|heal|disk` and the drills use (root only).',
    '[debug]',
    'admin_endpoints = true',
    '',
    '[cluster]',
    `cluster_id = ${q(manifest.clusterId)}`,
    `node_id = ${node.id}`,
    `secret = ${q(credentials.clusterSecret)}`,
    '',
    '[cluster.raft]',
    `rpc_addr = ${q(node.rpcAddr)}`,
    '',
  ];
  for (const member of manifest.nodes) {
    lines.push(
      '[[cluster.members]]',
      `node_id = ${member.id}`,
      `rpc_addr = ${q(member.rpcAddr)}`,
      `api_addr = ${q(member.apiUrl)}`,
      '',
    );
  }
  return lines.join('\n');
}

/**
 * The files of the K-th node `node add` starts (joinK, the lowest K not used yet): its id is only known once the
 * cluster admitted it, so they cannot be named after it.
 */
export function joinerFiles(
  dir: string,
  apiPort: number,
  rpcPort: number,
): Omit<ManifestNode, 'id' | 'joined' | 'removed'> {
  let k = 1;
  while (existsSync(join(dir, 'nodes', `join${k}.toml`)) || existsSync(join(dir, 'data', `join${k}`))) k++;
  return {
    apiUrl: `${clusterHasTls(dir) ? 'https' : 'http'}://127.0.0.1:${apiPort}`,
    rpcAddr: `127.0.0.1:${rpcPort}`,
    configPath: join(dir, 'nodes', `join${k}.toml`),
    dataDir: join(dir, 'data', `join${k}`),
    logPath: join(dir, 'logs', `join${k}.log`),
  };
}

/** A joining node's config: its own addresses, the secrets, and `join` instead of a node id and member list. */
export function writeJoinerConfig(
  manifest: ClusterManifest,
  credentials: ClusterCredentials,
  files: Omit<ManifestNode, 'id' | 'joined' | 'removed'>,
  via: string,
): void {
  const q = (s: string): string => JSON.stringify(s);
  const lines = [
    `# A node of cluster ${manifest.name} started by \`kalam node add\` (it joins through ${via}). Holds secrets: keep it 0600.`,
    '[server]',
    `api_addr = ${q(files.apiUrl.replace(/^https?:\/\//, ''))}`,
    `data_dir = ${q(files.dataDir)}`,
    '',
    '[auth]',
    `root_password = ${q(credentials.password)}`,
    '',
    '[debug]',
    'admin_endpoints = true',
    '',
    '[cluster]',
    `secret = ${q(credentials.clusterSecret)}`,
    `join = ${q(via)}`,
    '',
    '[cluster.raft]',
    `rpc_addr = ${q(files.rpcAddr)}`,
    '',
  ];
  mkdirSync(join(manifest.dir, 'nodes'), { recursive: true, mode: 0o700 });
  // A --tls cluster's new node gets its certificate from the same CA (named like its config: joinK).
  const tlsSection = clusterHasTls(manifest.dir)
    ? issueNodeCert(manifest.dir, basename(files.configPath, '.toml'), hostOf(files.rpcAddr))
    : '';
  writeSecretFile(files.configPath, lines.join('\n') + tlsSection);
}
