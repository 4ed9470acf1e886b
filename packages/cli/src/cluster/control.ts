/**
 * The programmatic control of a local cluster, for the `cluster`/`node` commands, the drills and tests:
 * `upCluster` writes a cluster folder (or reuses a stopped one), starts the detached supervisor and waits until
 * every node is up and every group has a leader; `connectCluster` attaches to a running one. Both give a
 * ClusterController (types.ts): process control goes through the supervisor's API, faults and digests straight
 * to the nodes' admin endpoints as root. Every method is bounded in time and fails with a one-line CliError.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { CliError, usageError } from '../errors.js';
import { repoRoot } from '../paths.js';
import {
  checkPortsFree,
  clusterRefForCommand,
  clusterRefForUp,
  folderFiles,
  liveSupervisor,
  manifestNode,
  pidAlive,
  plannedPorts,
  portsOfManifest,
  readCredentials,
  readManifest,
  readSupervisorInfo,
  removeSupervisorInfo,
  writeClusterFolder,
} from './folder.js';
import type { ClusterRef } from './folder.js';
import { HttpCallError, httpJson } from './http.js';
import { clusterHasTls, trustClusterCa } from './tls.js';
import { CLUSTER_LIMITS } from './limits.js';
import {
  cutNetns,
  healNetns,
  netnsLeftovers,
  netnsNode,
  planNetns,
  readNetns,
  requireNetns,
  setUpNetns,
  tearDownNetns,
} from './netns.js';
import type { NetnsState } from './netns.js';
import { NodeApi } from './node-api.js';
import { NODE_ARGS_VARIABLE, NODE_ENV_VARIABLE } from './supervisor.js';
import type {
  AddNodeOptions,
  AddedNode,
  ClusterController,
  ClusterCredentials,
  ClusterManifest,
  ClusterStatus,
  GroupDigests,
  GroupStatus,
  KillSignal,
  MembershipWaitOptions,
  NetworkRule,
  NodeId,
  PartitionDirection,
  RemovedNode,
  SupervisorInfo,
} from './types.js';

export interface UpOptions {
  readonly nodes: number;
  readonly name?: string;
  readonly dir?: string;
  readonly basePort?: number;
  /** A new folder: make a CA and a certificate per node, nodes serve https and talk wss with mutual TLS (tls.ts). */
  readonly tls?: boolean;
  /** Progress lines while waiting (each replaces the previous one on a display). */
  readonly onProgress?: (line: string) => void;
  /** Extra environment for the node processes (drills use it for test-only switches). */
  readonly env?: Record<string, string>;
  /** Extra `kalam serve` arguments for every node. */
  readonly nodeArgs?: string[];
  /** Each node in its own network namespace (root only; cluster/netns.ts). */
  readonly netns?: boolean;
}

/** Writes (or reuses) the cluster folder, starts the supervisor and waits for leaders; see the module comment. */
export async function upCluster(opts: UpOptions): Promise<ClusterController> {
  const { nodes } = opts;
  if (!Number.isInteger(nodes) || nodes < CLUSTER_LIMITS.nodesMin || nodes > CLUSTER_LIMITS.nodesMax) {
    throw usageError(`--nodes must be an integer from ${CLUSTER_LIMITS.nodesMin} to ${CLUSTER_LIMITS.nodesMax}`);
  }
  const basePort = opts.basePort ?? CLUSTER_LIMITS.defaultBasePort;
  if (
    !Number.isInteger(basePort) ||
    basePort < CLUSTER_LIMITS.basePortMin ||
    basePort > CLUSTER_LIMITS.basePortMax - CLUSTER_LIMITS.rpcPortOffset - nodes
  ) {
    throw usageError(
      `--base-port must be an integer from ${CLUSTER_LIMITS.basePortMin} to ${CLUSTER_LIMITS.basePortMax - CLUSTER_LIMITS.rpcPortOffset - nodes}`,
    );
  }
  // Before anything is read or written: without root, --netns is one line and nothing else.
  if (opts.netns === true) requireNetns();
  const ref = clusterRefForUp(opts);
  const running = liveSupervisor(ref.dir);
  if (running !== undefined) {
    throw new CliError(
      'CLUSTER_ALREADY_RUNNING',
      `cluster ${ref.name} is already running (supervisor pid ${running.pid}, ${ref.dir}); see \`kalam cluster status\``,
    );
  }
  removeSupervisorInfo(ref.dir); // a stale file of a dead supervisor
  const existing = existsSync(folderFiles.manifest(ref.dir)) ? readManifest(ref.dir) : undefined;
  const existingBase = existing === undefined ? undefined : Number(new URL(existing.nodes[0]?.apiUrl ?? '').port);
  if (existing !== undefined && opts.basePort !== undefined && existingBase !== opts.basePort) {
    throw usageError(
      `${ref.dir} holds a stopped cluster on base port ${existingBase}; leave out --base-port, or remove it with \`kalam cluster down --wipe\``,
    );
  }
  // Nodes `node add` started and `node remove` retired change what runs, not what the folder was made with.
  const founders = existing?.nodes.filter((n) => n.joined !== true).length;
  if (existing !== undefined && founders !== nodes) {
    throw usageError(
      `${ref.dir} holds a stopped cluster made with ${founders} nodes; start it with --nodes ${founders}, or remove it with \`kalam cluster down --wipe\``,
    );
  }
  const recorded = readNetns(ref.dir);
  if (existing !== undefined && (recorded !== undefined) !== (opts.netns === true)) {
    const made = recorded !== undefined ? 'with --netns; start it with --netns' : 'without --netns; leave out --netns';
    throw usageError(
      `${ref.dir} holds a stopped cluster made ${made}, or remove it with \`kalam cluster down --wipe\``,
    );
  }
  if (existing !== undefined && opts.tls !== undefined && opts.tls !== clusterHasTls(ref.dir)) {
    const made = clusterHasTls(ref.dir) ? 'with --tls' : 'without --tls';
    throw usageError(
      `${ref.dir} holds a stopped cluster made ${made}; start it the same way, or remove it with \`kalam cluster down --wipe\``,
    );
  }
  // Every port is checked before anything is written or started; in namespaces the nodes' ports are their own.
  if (opts.netns !== true) {
    await checkPortsFree(existing === undefined ? plannedPorts(basePort, nodes) : portsOfManifest(existing));
  }
  let netns: NetnsState | undefined =
    opts.netns === true
      ? (recorded ??
        planNetns(
          ref.dir,
          ref.name,
          Array.from({ length: nodes }, (_, i) => i + 1),
        ))
      : undefined;
  const manifest =
    existing ??
    writeClusterFolder(ref, nodes, basePort, {
      ...(netns !== undefined && { host: hostIn(netns) }),
      tls: opts.tls === true,
    });
  trustClusterCa(ref.dir); // this process talks to the nodes too (drills, status): trust a --tls folder's CA
  const credentials = readCredentials(ref.dir);
  if (netns !== undefined) netns = setUpNetns(ref.dir, netns);
  let info: SupervisorInfo;
  try {
    startSupervisorProcess(ref, opts);
    info = await waitForSupervisorInfo(ref);
  } catch (err) {
    if (netns !== undefined) tearDownNetns(netns);
    throw err;
  }
  const controller = new Controller(ref, manifest, credentials, info);
  try {
    await controller.waitReady(CLUSTER_LIMITS.upTimeoutMs, opts.onProgress);
  } catch (err) {
    await controller.down().catch(() => undefined);
    throw err;
  }
  return controller;
}

function hostIn(netns: NetnsState): (id: NodeId) => string {
  return (id) => netnsNode(netns, id).addr;
}

/**
 * Removes the namespaces, bridge and veths a --netns cluster recorded in its folder, whatever is left of them (a
 * supervisor that crashed could not); answers how many names were still there. NETNS_FAILED when some could not
 * be removed.
 */
export function cleanUpNetns(dir: string): number {
  const netns = readNetns(dir);
  if (netns === undefined) return 0;
  const before = netnsLeftovers(netns).length;
  const problems = tearDownNetns(netns);
  if (problems.length > 0) throw new CliError('NETNS_FAILED', `could not remove ${problems.join('; ')}`);
  return before;
}

/** Attaches to a running cluster (by --dir, --name, or the one running); CLUSTER_NOT_RUNNING otherwise. */
export async function connectCluster(opts: { name?: string; dir?: string } = {}): Promise<ClusterController> {
  const ref = clusterRefForCommand(opts);
  return Promise.resolve(connectRef(ref));
}

/** The folder of the cluster a command means, whether it runs or not (for `down --wipe` and `node logs`). */
export function resolveCluster(opts: { name?: string; dir?: string } = {}): ClusterRef {
  return clusterRefForCommand(opts);
}

function connectRef(ref: ClusterRef): Controller {
  const info = readSupervisorInfo(ref.dir);
  if (info === undefined) {
    throw new CliError(
      'CLUSTER_NOT_RUNNING',
      `cluster ${ref.name} is not running (${ref.dir}); start it with \`kalam cluster up\``,
    );
  }
  if (!pidAlive(info.pid)) {
    throw new CliError(
      'CLUSTER_NOT_RUNNING',
      `the supervisor of cluster ${ref.name} (pid ${info.pid}) is gone, and its nodes with it; run \`kalam cluster up\` again`,
    );
  }
  return new Controller(ref, readManifest(ref.dir), readCredentials(ref.dir), info);
}

function startSupervisorProcess(ref: ClusterRef, opts: UpOptions): void {
  mkdirSync(join(ref.dir, 'logs'), { recursive: true, mode: 0o700 });
  const log = openSync(folderFiles.supervisorLog(ref.dir), 'a', 0o600);
  try {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'kalam'), 'supervisor', '--dir', ref.dir], {
      detached: true,
      stdio: ['ignore', log, log],
      cwd: ref.dir,
      env: {
        ...process.env,
        [NODE_ENV_VARIABLE]: JSON.stringify(opts.env ?? {}),
        [NODE_ARGS_VARIABLE]: JSON.stringify(opts.nodeArgs ?? []),
      },
    });
    child.unref();
  } finally {
    closeSync(log);
  }
}

async function waitForSupervisorInfo(ref: ClusterRef): Promise<SupervisorInfo> {
  const deadline = Date.now() + CLUSTER_LIMITS.supervisorStartMs;
  while (Date.now() < deadline) {
    const info = liveSupervisor(ref.dir);
    if (info !== undefined) return info;
    await sleep(CLUSTER_LIMITS.pollMs / 2);
  }
  throw new CliError(
    'CLUSTER_FAILED',
    `the supervisor did not start within ${CLUSTER_LIMITS.supervisorStartMs} ms; see ${folderFiles.supervisorLog(ref.dir)}`,
  );
}

class Controller implements ClusterController {
  private readonly api: NodeApi;
  private current: ClusterManifest;

  constructor(
    private readonly ref: ClusterRef,
    manifest: ClusterManifest,
    readonly credentials: ClusterCredentials,
    private readonly info: SupervisorInfo,
  ) {
    this.current = manifest;
    this.api = new NodeApi(manifest.nodes);
  }

  /** cluster.json as last read: the supervisor rewrites it when a node is added or removed. */
  get manifest(): ClusterManifest {
    return this.current;
  }

  /** The node's manifest entry, reading cluster.json again when this copy does not have it (added since). */
  private node(id: NodeId): ReturnType<typeof manifestNode> {
    if (!this.current.nodes.some((n) => n.id === id)) this.current = readManifest(this.ref.dir);
    return manifestNode(this.current, id);
  }

  /** Polls until every node is up and every group has a leader; a node that exits meanwhile fails at once. */
  async waitReady(timeoutMs: number, onProgress?: (line: string) => void): Promise<ClusterStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: ClusterStatus | undefined;
    while (Date.now() < deadline) {
      last = await this.status();
      const up = last.nodes.filter((n) => n.state === 'up').length;
      const led = last.groups.filter((g) => g.leader !== null).length;
      onProgress?.(`${up}/${last.nodes.length} nodes up, ${led}/${last.groups.length || '?'} groups with a leader`);
      const dead = last.nodes.find((n) => n.state === 'down');
      if (dead !== undefined) {
        throw new CliError(
          'CLUSTER_FAILED',
          `node ${dead.id} exited while starting (${dead.lastExit ?? 'unknown'}); see ${this.node(dead.id).logPath}`,
        );
      }
      if (up === last.nodes.length && last.groups.length > 0 && led === last.groups.length) return last;
      await sleep(CLUSTER_LIMITS.pollMs);
    }
    const missing = last?.groups.filter((g) => g.leader === null).map((g) => g.name) ?? [];
    throw new CliError(
      'CLUSTER_TIMEOUT',
      `the cluster was not ready within ${timeoutMs} ms (${missing.length} groups without a leader); see ${join(this.ref.dir, 'logs')}`,
    );
  }

  status(): Promise<ClusterStatus> {
    return this.supervisor('GET', '/status') as Promise<ClusterStatus>;
  }

  async kill(node: NodeId, signal: KillSignal = 'KILL'): Promise<void> {
    this.node(node);
    await this.supervisor('POST', `/nodes/${node}/kill`, { signal }, CLUSTER_LIMITS.supervisorLongRequestTimeoutMs);
  }

  async start(node: NodeId): Promise<void> {
    this.node(node);
    await this.supervisor('POST', `/nodes/${node}/start`, {}, CLUSTER_LIMITS.supervisorLongRequestTimeoutMs);
  }

  async restart(node: NodeId): Promise<void> {
    this.node(node);
    await this.supervisor('POST', `/nodes/${node}/restart`, {}, CLUSTER_LIMITS.supervisorLongRequestTimeoutMs);
  }

  async wipe(node: NodeId): Promise<void> {
    this.node(node);
    await this.supervisor('POST', `/nodes/${node}/wipe`, {});
  }

  /**
   * Rules on both ends, so the cut is exact whichever side's messages would slip through: `out` means `node`
   * cannot reach the others (node blocks outbound, they block inbound from it); `in` the reverse. A rule
   * replaces any earlier rule between the same two nodes.
   */
  async partition(
    node: NodeId,
    opts: { from?: readonly NodeId[]; direction?: PartitionDirection } = {},
  ): Promise<void> {
    const peers = this.peersOf(node, opts.from);
    await this.requireUp([node, ...peers]);
    const direction = opts.direction ?? 'both';
    const netns = readNetns(this.ref.dir);
    if (netns !== undefined) return this.partitionNetns(netns, node, peers, direction);
    const cutOut = direction === 'both' || direction === 'out';
    const cutIn = direction === 'both' || direction === 'in';
    await this.setRule(node, peers, { blockOutbound: cutOut, blockInbound: cutIn });
    for (const peer of peers) await this.setRule(peer, [node], { blockOutbound: cutIn, blockInbound: cutOut });
  }

  /** A --netns cluster's partition cuts real paths (cluster/netns.ts), replacing cuts between the same nodes. */
  private partitionNetns(
    netns: NetnsState,
    node: NodeId,
    peers: readonly NodeId[],
    direction: PartitionDirection,
  ): void {
    const rpcPort = (id: NodeId): number => {
      const addr = this.node(id).rpcAddr;
      return Number(addr.slice(addr.lastIndexOf(':') + 1));
    };
    healNetns(netns, node, peers);
    for (const peer of peers) {
      if (direction === 'in') cutNetns(netns, { from: peer, to: node, both: false, toRpcPort: rpcPort(node) });
      else cutNetns(netns, { from: node, to: peer, both: direction === 'both', toRpcPort: rpcPort(peer) });
    }
  }

  async network(node: NodeId, rule: NetworkRule, peers?: readonly NodeId[]): Promise<void> {
    const others = this.peersOf(node, peers);
    await this.requireUp([node, ...others]);
    await this.setRule(node, others, { ...rule });
    for (const peer of others) await this.setRule(peer, [node], { ...rule });
  }

  /** Clears rules on the nodes that are up (a down node starts with none). */
  async heal(node?: NodeId): Promise<void> {
    if (node !== undefined) this.node(node);
    const netns = readNetns(this.ref.dir);
    if (netns !== undefined) healNetns(netns, node);
    const status = await this.status();
    const targets = status.nodes.filter((n) => n.state === 'up').map((n) => n.id);
    for (const id of targets) {
      const peers = node === undefined || id === node ? {} : { peers: [node] };
      await this.api.call(this.node(id), '/v1/api/admin/faults/clear', peers);
    }
  }

  async disk(node: NodeId, fsyncDelayMs: number): Promise<void> {
    await this.requireUp([node]);
    await this.api.call(this.node(node), '/v1/api/admin/disk', { fsync_delay_ms: fsyncDelayMs });
  }

  async digests(node: NodeId): Promise<GroupDigests> {
    await this.requireUp([node]);
    const body = (await this.api.call(this.node(node), '/v1/api/admin/digests')) as {
      groups: GroupDigests;
    };
    return body.groups;
  }

  async addNode(opts: AddNodeOptions = {}): Promise<AddedNode> {
    const t0 = Date.now();
    const body = { ...(opts.via !== undefined && { via: opts.via }) };
    const added = (await this.supervisor(
      'POST',
      '/nodes/add',
      body,
      CLUSTER_LIMITS.supervisorLongRequestTimeoutMs,
    )) as { id: NodeId; rpcAddr: string; apiUrl: string; pid: number };
    this.current = readManifest(this.ref.dir);
    opts.onProgress?.(
      `node ${added.id} joined (pid ${added.pid}, ${added.apiUrl}); waiting until it votes in every group`,
    );
    await this.waitMembership(added.id, 'voter', opts);
    return { ...added, tookMs: Date.now() - t0 };
  }

  async removeNode(id: NodeId, opts: MembershipWaitOptions = {}): Promise<RemovedNode> {
    const t0 = Date.now();
    await this.requestRemoval(id);
    opts.onProgress?.(`node ${id} is leaving; waiting until no group lists it`);
    await this.waitMembership(id, 'removed', opts);
    let stopped = false;
    if (this.current.nodes.some((n) => n.id === id) || readManifest(this.ref.dir).nodes.some((n) => n.id === id)) {
      const r = (await this.supervisor(
        'POST',
        `/nodes/${id}/retire`,
        {},
        CLUSTER_LIMITS.supervisorLongRequestTimeoutMs,
      )) as {
        stopped?: boolean;
      };
      stopped = r.stopped === true;
      this.current = readManifest(this.ref.dir);
    }
    return { id, stopped, tookMs: Date.now() - t0 };
  }

  /**
   * POST /v1/api/cluster/nodes/remove on a node up other than `id` (lowest id first; the next one when a node does
   * not answer or answers 503). The cluster's refusals become NODE_NOT_FOUND or MEMBERSHIP_REFUSED with its code.
   */
  private async requestRemoval(id: NodeId): Promise<void> {
    const status = await this.status();
    const asked = status.nodes.filter((n) => n.state === 'up' && n.id !== id).sort((a, b) => a.id - b.id);
    if (asked.length === 0) throw new CliError('NODE_STATE', `no node other than ${id} is up to ask for the removal`);
    const problems: string[] = [];
    for (const n of asked) {
      let res;
      try {
        res = await this.api.request(this.node(n.id), '/v1/api/cluster/nodes/remove', { node_ids: [id] });
      } catch (err) {
        problems.push(err instanceof Error ? err.message : String(err));
        continue;
      }
      if (res.status === 200) return;
      const error = (res.body as { error?: { code?: string; message?: string } } | undefined)?.error;
      const code = error?.code ?? `HTTP ${res.status}`;
      const message = `${code}: ${error?.message ?? `node ${n.id} answered ${res.status}`}`;
      if (code === 'NODE_NOT_FOUND') throw new CliError('NODE_NOT_FOUND', message);
      if (res.status !== 503) throw new CliError('MEMBERSHIP_REFUSED', message);
      problems.push(`node ${n.id}: ${message}`);
    }
    throw new CliError('MEMBERSHIP_REFUSED', `no node took the removal of node ${id}: ${problems.join('; ')}`);
  }

  /**
   * Polls the status until `id` is a voter of every group and listed `voter` (goal voter), or no group lists it
   * and the list says `removed` (goal removed). Progress: a line when what it sees changes, else every
   * membershipProgressEveryMs. CLUSTER_TIMEOUT after the bound, naming what was still missing.
   */
  private async waitMembership(id: NodeId, goal: 'voter' | 'removed', opts: MembershipWaitOptions): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? CLUSTER_LIMITS.membershipTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    let lastLine = '';
    let lastAt = 0;
    let line = 'no status yet';
    for (;;) {
      let done = false;
      try {
        const status = await this.status();
        const m = membershipOf(status.groups, id);
        const member = status.nodes.find((n) => n.id === id)?.member ?? null;
        const joint = status.groups.filter((g) => g.votersOutgoing.length > 0).length;
        line =
          `node ${id}: voter in ${m.voterIn}/${status.groups.length} groups, learner in ${m.learnerIn}` +
          `${joint > 0 ? `, ${joint} group(s) joint` : ''}, member list: ${member ?? 'not listed'}`;
        done =
          status.groups.length > 0 &&
          (goal === 'voter'
            ? m.voterIn === status.groups.length && m.unknown === 0 && member === 'voter'
            : m.voterIn === 0 && m.learnerIn === 0 && m.unknown === 0 && (member === 'removed' || member === null));
      } catch (err) {
        line = `node ${id}: status unavailable (${err instanceof Error ? err.message : String(err)})`;
      }
      const now = Date.now();
      if (line !== lastLine || now - lastAt >= CLUSTER_LIMITS.membershipProgressEveryMs) {
        opts.onProgress?.(line);
        lastLine = line;
        lastAt = now;
      }
      if (done) return;
      if (now + CLUSTER_LIMITS.membershipPollMs > deadline) {
        const what = goal === 'voter' ? 'a voter of every group' : 'out of every group';
        throw new CliError('CLUSTER_TIMEOUT', `node ${id} was not ${what} within ${timeoutMs} ms (last: ${line})`);
      }
      await sleep(CLUSTER_LIMITS.membershipPollMs);
    }
  }

  async down(opts: { wipe?: boolean } = {}): Promise<void> {
    if (pidAlive(this.info.pid)) {
      try {
        await this.supervisor('POST', '/down', {}, CLUSTER_LIMITS.supervisorLongRequestTimeoutMs);
      } catch (err) {
        // A supervisor that cannot answer is stopped by signal: SIGTERM is a `down` too; SIGKILL takes its
        // nodes with it (their stdin pipes close).
        if (!(err instanceof CliError)) throw err;
        process.kill(this.info.pid, 'SIGTERM');
      }
      const deadline = Date.now() + CLUSTER_LIMITS.supervisorExitTimeoutMs;
      while (pidAlive(this.info.pid) && Date.now() < deadline) await sleep(CLUSTER_LIMITS.pollMs / 2);
      if (pidAlive(this.info.pid)) process.kill(this.info.pid, 'SIGKILL');
    }
    removeSupervisorInfo(this.ref.dir);
    // The supervisor removes its namespaces as it stops; this is for one that could not (killed, crashed).
    cleanUpNetns(this.ref.dir);
    if (opts.wipe === true) rmSync(this.ref.dir, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------------------------

  private peersOf(node: NodeId, given: readonly NodeId[] | undefined): NodeId[] {
    this.node(node);
    const peers = given === undefined ? this.manifest.nodes.map((n) => n.id).filter((id) => id !== node) : [...given];
    for (const peer of peers) {
      this.node(peer);
      if (peer === node) throw usageError(`node ${node} cannot be cut off from itself`);
    }
    return peers;
  }

  private async setRule(node: NodeId, peers: readonly NodeId[], rule: Record<string, unknown>): Promise<void> {
    if (peers.length === 0) return;
    await this.api.call(this.node(node), '/v1/api/admin/faults', { peers, rule });
  }

  /** NODE_STATE unless every one of `nodes` is up (a fault cannot be set on a process that is not serving). */
  private async requireUp(nodes: readonly NodeId[]): Promise<void> {
    const status = await this.status();
    for (const id of nodes) {
      const state = status.nodes.find((n) => n.id === id)?.state;
      if (state !== 'up') throw new CliError('NODE_STATE', `node ${id} is ${state ?? 'unknown'}: start it first`);
    }
  }

  private async supervisor(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    timeoutMs: number = CLUSTER_LIMITS.supervisorRequestTimeoutMs,
  ): Promise<unknown> {
    let res;
    try {
      res = await httpJson(`${this.info.url}${path}`, {
        method,
        ...(body !== undefined && { body }),
        headers: { Authorization: `Bearer ${this.info.token}` },
        timeoutMs,
      });
    } catch (err) {
      if (!(err instanceof HttpCallError)) throw err;
      if (!pidAlive(this.info.pid)) {
        throw new CliError(
          'CLUSTER_NOT_RUNNING',
          `the supervisor of cluster ${this.ref.name} (pid ${this.info.pid}) is gone; run \`kalam cluster up\` again`,
          { cause: err },
        );
      }
      throw new CliError('CLUSTER_FAILED', `the supervisor did not answer: ${err.message}`, { cause: err });
    }
    if (res.status >= 200 && res.status < 300) return res.body;
    const error = (res.body as { error?: { code?: string; message?: string } } | undefined)?.error;
    const message = error?.message ?? `HTTP ${res.status}`;
    const code = error?.code ?? 'UNKNOWN';
    switch (code) {
      case 'UNKNOWN_NODE':
        throw new CliError('UNKNOWN_NODE', message);
      case 'NODE_STATE':
      case 'STOPPING':
        throw new CliError('NODE_STATE', message);
      case 'USAGE':
        throw usageError(message);
      default:
        throw new CliError('CLUSTER_FAILED', message);
    }
  }
}

/** In how many groups `id` votes or learns, and how many groups reported no configuration at all. */
export function membershipOf(
  groups: readonly GroupStatus[],
  id: NodeId,
): { voterIn: number; learnerIn: number; unknown: number } {
  let voterIn = 0;
  let learnerIn = 0;
  let unknown = 0;
  for (const g of groups) {
    if (g.voters.length === 0) unknown++;
    else if (g.voters.includes(id)) voterIn++;
    else if (g.learners.includes(id)) learnerIn++;
  }
  return { voterIn, learnerIn, unknown };
}

/**
 * `kalam node replace`: a new node (a new id) added and a voter of every group, then `old` removed — whether `old`
 * is alive, SIGKILLed, or wiped. Adding first keeps every group at its size or above throughout.
 */
export async function replaceNode(
  ctl: ClusterController,
  old: NodeId,
  opts: MembershipWaitOptions = {},
): Promise<{ added: AddedNode; removed: RemovedNode }> {
  const added = await ctl.addNode(opts);
  const removed = await ctl.removeNode(old, opts);
  return { added, removed };
}
