/**
 * The supervisor: the detached process `kalam cluster up` leaves behind (`kalam supervisor --dir DIR`). It
 * spawns every node of the cluster folder with execa (`kalam serve --config nodes/nodeN.toml --exit-with-stdin`,
 * stdout and stderr appended to logs/nodeN.log), tracks their exits, and serves a control API on 127.0.0.1 (a
 * random port) to callers holding the token of supervisor.json (mode 0600):
 *
 *   GET  /status                    ClusterStatus (types.ts), assembled by asking each up node
 *   POST /nodes/N/kill {signal}     KILL and TERM answer once the process is gone; STOP/CONT pause and resume
 *   POST /nodes/N/start             answers once the node's API answers (its ready line was printed)
 *   POST /nodes/N/restart           TERM (KILL after a bound), then start
 *   POST /nodes/N/wipe              deletes a stopped node's data folder
 *   POST /nodes/add {via}           writes a joining node's config (free ports, data/joinK), spawns it with `join`
 *                                   = node `via`'s API (default: the lowest id up), answers {id, rpcAddr, apiUrl,
 *                                   pid} once it has joined (its API answers with its id), adds it to cluster.json
 *   POST /nodes/N/retire            stops the node if it runs and marks it removed in cluster.json (after the
 *                                   cluster removed it: `kalam node remove`); it is never started again
 *   POST /down                      stops every node, answers, removes supervisor.json and exits
 *
 * No orphans: every node holds a stdin pipe from the supervisor and stops when it closes, which the kernel does
 * however the supervisor ends (SIGKILL included). The supervisor never restarts a node on its own. SIGTERM or
 * SIGINT to the supervisor is a `down`. Errors answer {error: {code, message}} with a 4xx/5xx status.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { withMallocEnv } from '@kalam/server';
import { execa } from 'execa';

import { CliError } from '../errors.js';
import { repoRoot } from '../paths.js';
import { aggregateGroups, leaderBalanceOf, leadersPerNode, membersOf } from './aggregate.js';
import type { NodeBalanceReport, NodeReport } from './aggregate.js';
import {
  findFreePorts,
  folderFiles,
  joinerFiles,
  manifestNode,
  readCredentials,
  readManifest,
  removeSupervisorInfo,
  writeJoinerConfig,
  writeManifest,
  writeSupervisorInfo,
} from './folder.js';
import { httpJson } from './http.js';
import { CLUSTER_LIMITS } from './limits.js';
import { commandInNetns, netnsFaults, readNetns, tearDownNetns } from './netns.js';
import type { NetnsState } from './netns.js';
import { NodeApi } from './node-api.js';
import type {
  ClusterManifest,
  ClusterStatus,
  KillSignal,
  ManifestNode,
  NodeId,
  NodeState,
  NodeStatus,
} from './types.js';

/** Extra environment for the nodes (JSON object) and extra `kalam serve` arguments (JSON array). */
export const NODE_ENV_VARIABLE = 'KALAM_SUPERVISOR_NODE_ENV';
export const NODE_ARGS_VARIABLE = 'KALAM_SUPERVISOR_NODE_ARGS';

const KALAM_BIN = join(repoRoot, 'bin', 'kalam');

interface RunningProc {
  /** Sends a signal to the node's process. */
  readonly signal: (signal: NodeJS.Signals) => void;
  readonly pid: number;
  readonly startedAt: number;
  state: Exclude<NodeState, 'down'>;
  /** Resolves when the process has exited and its exit is recorded. */
  readonly exited: Promise<void>;
}

interface NodeSlot {
  /** Replaced once: a node `node add` spawned gets its id when it has joined. */
  node: ManifestNode;
  proc: RunningProc | undefined;
  lastExit: string | null;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface SupervisorOptions {
  readonly dir: string;
  readonly nodeEnv?: Readonly<Record<string, string>>;
  readonly nodeArgs?: readonly string[];
}

/** Runs the supervisor until `down` or a stop signal; resolves when every node is gone. */
export async function runSupervisor(opts: SupervisorOptions): Promise<void> {
  const sup = new Supervisor(readManifest(opts.dir), opts);
  await sup.run();
}

class Supervisor {
  private readonly slots = new Map<NodeId, NodeSlot>();
  private readonly api: NodeApi;
  private readonly token = randomBytes(CLUSTER_LIMITS.secretBytes).toString('base64url');
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | undefined;
  private readonly done: Promise<void>;
  private finish!: () => void;

  /** A --netns cluster's namespaces (netns.json): nodes run in them, and `down` removes them. */
  private readonly netns: NetnsState | undefined;

  /** Adds serialized: each picks ports and a joinK folder, which two at once could both take. */
  private adding: Promise<unknown> = Promise.resolve();

  constructor(
    private manifest: ClusterManifest,
    private readonly opts: SupervisorOptions,
  ) {
    for (const node of manifest.nodes) this.slots.set(node.id, { node, proc: undefined, lastExit: null });
    this.api = new NodeApi(manifest.nodes);
    this.netns = readNetns(opts.dir);
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  async run(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    writeSupervisorInfo(this.opts.dir, {
      pid: process.pid,
      url: `http://127.0.0.1:${port}`,
      token: this.token,
      startedAt: new Date(this.startedAt).toISOString(),
    });
    this.log(`supervisor ${process.pid} listening on 127.0.0.1:${port}`);
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.on(sig, () => {
        this.log(`${sig}: stopping every node`);
        void this.shutdown();
      });
    }
    for (const slot of this.slots.values()) if (slot.node.removed !== true) this.spawn(slot);
    await this.done;
    // The answer to POST /down is still being written: close gracefully, and cut what is left after a bound.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), CLUSTER_LIMITS.supervisorCloseMs);
    await closed;
    clearTimeout(timer);
  }

  private log(line: string): void {
    process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  }

  // -------------------------------------------------------------------------------------------------------
  // Processes.

  private spawn(slot: NodeSlot): RunningProc {
    const { node } = slot;
    mkdirSync(node.dataDir, { recursive: true, mode: 0o700 });
    const fd = openSync(node.logPath, 'a', 0o600);
    writeSync(fd, `--- kalam supervisor: starting node ${node.id} at ${new Date().toISOString()} ---\n`);
    const env: Record<string, string> = {};
    // The node's config file is the whole truth: the caller's KALAM_* variables would silently override it.
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KALAM_') && v !== undefined) env[k] = v;
    Object.assign(env, withMallocEnv(env), this.opts.nodeEnv);
    // The log's file descriptor is handed to the child as is (inherited, not piped through the supervisor), so
    // a node's last lines reach its log even after the supervisor is gone. execa's types list only fds 3-9; its
    // runtime passes any fd number through to child_process.spawn.
    const logFd = fd as 3;
    const serve = [KALAM_BIN, 'serve', '--config', node.configPath, '--exit-with-stdin', ...(this.opts.nodeArgs ?? [])];
    // In a namespace: `ip netns exec` execs node in place, so the pid tracked below is still the node's.
    const { file, args } =
      this.netns === undefined
        ? { file: process.execPath, args: serve }
        : commandInNetns(this.netns, node.id, process.execPath, serve);
    const sub = execa(file, args, {
      stdin: 'pipe',
      stdout: logFd,
      stderr: logFd,
      env,
      extendEnv: false,
      reject: false,
      cleanup: true,
    });
    closeSync(fd); // the child holds its own copy
    const pid = sub.pid;
    if (pid === undefined) {
      slot.lastExit = 'spawn failed';
      throw new HttpError(500, 'SPAWN_FAILED', `node ${node.id} could not be spawned`);
    }
    const exited = sub.then((result) => {
      const how = result.signal !== undefined ? `signal ${result.signal}` : `exit ${result.exitCode ?? '?'}`;
      slot.lastExit = how;
      if (slot.proc?.pid === pid) slot.proc = undefined;
      this.log(`node ${slot.node.id} (pid ${pid}) ended: ${how}`);
    });
    const proc: RunningProc = {
      signal: (sig) => void sub.kill(sig),
      pid,
      startedAt: Date.now(),
      state: 'starting',
      exited,
    };
    slot.proc = proc;
    slot.lastExit = null;
    this.log(`node ${node.id} spawned, pid ${pid}`);
    void this.watchReady(slot, proc);
    return proc;
  }

  /**
   * Marks the node up once its liveness endpoint answers (not readiness: a node restarted while a quorum is down
   * is up but cannot be ready); gives up (leaving it 'starting') after the bound.
   */
  private async watchReady(slot: NodeSlot, proc: RunningProc): Promise<boolean> {
    const deadline = Date.now() + CLUSTER_LIMITS.nodeReadyTimeoutMs;
    while (slot.proc === proc && Date.now() < deadline) {
      try {
        const res = await httpJson(`${slot.node.apiUrl}/v1/api/health/live`, {
          timeoutMs: CLUSTER_LIMITS.nodeRequestTimeoutMs,
        });
        if (res.status === 200) {
          if (proc.state === 'starting') proc.state = 'up';
          return true;
        }
      } catch {
        // not listening yet
      }
      await sleep(CLUSTER_LIMITS.pollMs);
    }
    return slot.proc === proc && proc.state !== 'starting';
  }

  private async start(slot: NodeSlot): Promise<void> {
    if (slot.proc !== undefined) {
      throw new HttpError(409, 'NODE_STATE', `node ${slot.node.id} is already running (pid ${slot.proc.pid})`);
    }
    const proc = this.spawn(slot);
    const ready = await this.watchReady(slot, proc);
    if (!ready) {
      const why = slot.proc === proc ? `not ready within ${CLUSTER_LIMITS.nodeReadyTimeoutMs} ms` : slot.lastExit;
      throw new HttpError(500, 'NODE_FAILED', `node ${slot.node.id} did not start (${why}); see ${slot.node.logPath}`);
    }
  }

  /** Sends `signal`; for KILL and TERM waits until the process is gone (TERM: SIGKILL after the bound). */
  private async kill(slot: NodeSlot, signal: KillSignal): Promise<void> {
    const proc = slot.proc;
    if (proc === undefined) {
      throw new HttpError(
        409,
        'NODE_STATE',
        `node ${slot.node.id} is not running (last: ${slot.lastExit ?? 'never started'})`,
      );
    }
    switch (signal) {
      case 'STOP':
        proc.signal('SIGSTOP');
        proc.state = 'paused';
        return;
      case 'CONT':
        proc.signal('SIGCONT');
        if (proc.state === 'paused') proc.state = 'up';
        return;
      case 'KILL':
        proc.signal('SIGKILL');
        await this.waitExit(proc, CLUSTER_LIMITS.nodeKillTimeoutMs);
        return;
      case 'TERM':
        await this.stopProc(proc);
        return;
    }
  }

  private async stopProc(proc: RunningProc): Promise<void> {
    if (proc.state === 'paused') proc.signal('SIGCONT'); // a stopped process cannot handle SIGTERM
    proc.signal('SIGTERM');
    if (await this.waitExit(proc, CLUSTER_LIMITS.nodeStopTimeoutMs)) return;
    proc.signal('SIGKILL');
    await this.waitExit(proc, CLUSTER_LIMITS.nodeKillTimeoutMs);
  }

  private async waitExit(proc: RunningProc, timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const gone = await Promise.race([proc.exited.then(() => true as const), timeout]);
    clearTimeout(timer);
    return gone;
  }

  private shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      const running = [...this.slots.values()].flatMap((s) => (s.proc === undefined ? [] : [s.proc]));
      await Promise.all(running.map((proc) => this.stopProc(proc)));
      if (this.netns !== undefined) {
        const problems = tearDownNetns(this.netns);
        this.log(problems.length === 0 ? 'network namespaces removed' : `could not remove: ${problems.join('; ')}`);
      }
      removeSupervisorInfo(this.opts.dir);
      this.log('every node stopped; supervisor exiting');
      this.finish();
    })();
    return this.stopping;
  }

  // -------------------------------------------------------------------------------------------------------
  // Status.

  private async status(): Promise<ClusterStatus> {
    // A removed node is gone from the cluster: it is not listed (cluster.json keeps it, marked removed).
    const live = [...this.slots.values()].filter((s) => s.node.removed !== true);
    const ids = live.map((s) => s.node.id);
    const now = Date.now();
    const polled = await Promise.all(
      live.map(async (slot) => {
        const proc = slot.proc;
        if (proc === undefined || proc.state !== 'up') return { slot, report: undefined, faults: [] as string[] };
        const [report, faults] = await Promise.all([this.groupsOf(slot.node), this.faultsOf(slot.node)]);
        return { slot, report, faults };
      }),
    );
    const reports = polled.flatMap(({ report }) => (report === undefined ? [] : [report]));
    const memberState = membersOf(reports);
    const nodes: NodeStatus[] = polled.map(({ slot, faults }) => ({
      id: slot.node.id,
      state: slot.proc?.state ?? 'down',
      pid: slot.proc?.pid ?? null,
      apiUrl: slot.node.apiUrl,
      rpcAddr: slot.node.rpcAddr,
      uptimeMs: slot.proc === undefined ? null : now - slot.proc.startedAt,
      lastExit: slot.proc === undefined ? slot.lastExit : null,
      faults,
      member: memberState.get(slot.node.id) ?? null,
    }));
    const up = (id: NodeId): boolean => this.slots.get(id)?.proc?.state === 'up';
    const groups = aggregateGroups(ids, reports, up);
    const perNode = leadersPerNode(ids, groups);
    return {
      name: this.manifest.name,
      dir: this.manifest.dir,
      supervisorPid: process.pid,
      at: now,
      nodes,
      groups,
      leadersPerNode: perNode,
      leaderBalance: leaderBalanceOf(reports, groups, perNode, ids.filter(up)),
    };
  }

  private async groupsOf(node: ManifestNode): Promise<NodeReport | undefined> {
    try {
      const body = (await this.api.call(node, '/v1/api/cluster/status')) as {
        groups?: NodeReport['groups'];
        nodes?: { node_id: number; state: string | null }[];
        leader_balance?: NodeBalanceReport | null;
      };
      if (!Array.isArray(body.groups)) return undefined;
      const balance = body.leader_balance ?? undefined;
      const members = Array.isArray(body.nodes)
        ? body.nodes.map((n) => ({ nodeId: n.node_id, state: n.state ?? null }))
        : undefined;
      return {
        nodeId: node.id,
        groups: body.groups,
        ...(balance !== undefined && { balance }),
        ...(members !== undefined && { members }),
      };
    } catch {
      return undefined; // a node that does not answer in time counts as unknown
    }
  }

  private async faultsOf(node: ManifestNode): Promise<string[]> {
    try {
      const body = (await this.api.call(node, '/v1/api/admin/faults')) as {
        faults: { peer: number; rule: Record<string, unknown> }[];
        fsync_delay_ms: number;
      };
      const lines = body.faults.map(({ peer, rule }) => `peer ${peer}: ${describeRule(rule)}`);
      if (this.netns !== undefined) lines.push(...netnsFaults(this.netns, node.id));
      if (body.fsync_delay_ms > 0) lines.push(`fsync delay ${body.fsync_delay_ms} ms`);
      return lines;
    } catch {
      return ['(faults unknown: the node did not answer)'];
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // The control API.

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readBody(req);
      if (!this.authorized(req.headers.authorization))
        throw new HttpError(401, 'UNAUTHORIZED', 'a valid token is required');
      const result = await this.route(req.method ?? 'GET', (req.url ?? '/').split('?', 1)[0] ?? '/', body);
      send(res, 200, result ?? { ok: true });
    } catch (err) {
      const e =
        err instanceof HttpError
          ? err
          : err instanceof CliError
            ? new HttpError(500, err.code, err.message)
            : new HttpError(500, 'INTERNAL', err instanceof Error ? err.message : String(err));
      send(res, e.status, { error: { code: e.code, message: e.message } });
    }
  }

  private authorized(header: string | undefined): boolean {
    const given = Buffer.from(header ?? '');
    const expected = Buffer.from(`Bearer ${this.token}`);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async route(method: string, path: string, body: Record<string, unknown>): Promise<unknown> {
    if (method === 'GET' && path === '/status') return this.status();
    if (method === 'POST' && path === '/down') {
      await this.shutdown();
      return { ok: true };
    }
    if (method === 'POST' && path === '/nodes/add') {
      if (this.stopping !== undefined) throw new HttpError(409, 'STOPPING', 'the cluster is going down');
      const via = body['via'];
      if (via !== undefined && !(Number.isSafeInteger(via) && (via as number) > 0)) {
        throw new HttpError(400, 'USAGE', `via must be a node id, got ${JSON.stringify(via)}`);
      }
      const run = this.adding.then(() => this.addNode(via as NodeId | undefined));
      this.adding = run.catch(() => undefined);
      return run;
    }
    const m = /^\/nodes\/(\d+)\/(kill|start|restart|wipe|retire)$/.exec(path);
    if (method !== 'POST' || m === null) throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${path}`);
    if (this.stopping !== undefined) throw new HttpError(409, 'STOPPING', 'the cluster is going down');
    const slot = this.slot(Number(m[1]));
    const action = m[2] ?? '';
    switch (action) {
      case 'kill': {
        const signal = body['signal'] ?? 'KILL';
        if (signal !== 'KILL' && signal !== 'TERM' && signal !== 'STOP' && signal !== 'CONT') {
          throw new HttpError(400, 'USAGE', `signal must be KILL, TERM, STOP or CONT, got ${JSON.stringify(signal)}`);
        }
        await this.kill(slot, signal);
        return { ok: true };
      }
      case 'start':
        await this.start(slot);
        return { ok: true };
      case 'restart':
        if (slot.proc !== undefined) await this.stopProc(slot.proc);
        await this.start(slot);
        return { ok: true };
      case 'wipe':
        if (slot.proc !== undefined) {
          throw new HttpError(
            409,
            'NODE_STATE',
            `node ${slot.node.id} is running (pid ${slot.proc.pid}): kill it first`,
          );
        }
        rmSync(slot.node.dataDir, { recursive: true, force: true });
        mkdirSync(slot.node.dataDir, { recursive: true, mode: 0o700 });
        this.log(`node ${slot.node.id}: data folder wiped`);
        return { ok: true };
      case 'retire': {
        const running = slot.proc;
        if (running !== undefined) await this.stopProc(running);
        slot.node = { ...slot.node, removed: true };
        this.saveManifest();
        this.log(`node ${slot.node.id}: removed from the cluster${running === undefined ? '' : ', process stopped'}`);
        return { stopped: running !== undefined };
      }
      default:
        throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${path}`);
    }
  }

  private slot(id: NodeId): NodeSlot {
    manifestNode(this.manifest, id); // UNKNOWN_NODE with the ids there are
    const slot = this.slots.get(id);
    if (slot === undefined) throw new HttpError(404, 'UNKNOWN_NODE', `no node ${id}`);
    if (slot.node.removed === true) {
      throw new HttpError(409, 'NODE_STATE', `node ${id} was removed from the cluster; it is never started again`);
    }
    return slot;
  }

  private saveManifest(): void {
    this.manifest = { ...this.manifest, nodes: [...this.slots.values()].map((s) => s.node) };
    writeManifest(this.manifest);
  }

  /**
   * Spawns a node that joins through a live member (see the module comment) and answers once it has an id: its
   * liveness answer names it, which it can only give after the cluster admitted it (the node writes node.json
   * before its API listens). A node that exits first, or does not answer within the bound, fails the add; its
   * files stay for its log.
   */
  private async addNode(
    via: NodeId | undefined,
  ): Promise<{ id: NodeId; rpcAddr: string; apiUrl: string; pid: number }> {
    if (this.netns !== undefined) {
      throw new HttpError(
        400,
        'USAGE',
        '`node add` is not supported on a --netns cluster: its namespaces are made by `up`',
      );
    }
    const up = [...this.slots.values()]
      .filter((s) => s.node.removed !== true && s.proc?.state === 'up')
      .sort((a, b) => a.node.id - b.node.id);
    const through = via === undefined ? up[0] : up.find((s) => s.node.id === via);
    if (through === undefined) {
      throw new HttpError(
        409,
        'NODE_STATE',
        via === undefined ? 'no node is up to join through' : `node ${via} is not up: it cannot be joined through`,
      );
    }
    const [apiPort, rpcPort] = await findFreePorts(2);
    const files = joinerFiles(this.manifest.dir, apiPort ?? 0, rpcPort ?? 0);
    writeJoinerConfig(this.manifest, readCredentials(this.manifest.dir), files, through.node.apiUrl);
    // Id 0 until the cluster gives one: the slot is not in `slots` (nor in cluster.json) before that.
    const slot: NodeSlot = { node: { id: 0, ...files, joined: true }, proc: undefined, lastExit: null };
    const proc = this.spawn(slot);
    const deadline = Date.now() + CLUSTER_LIMITS.nodeReadyTimeoutMs;
    while (Date.now() < deadline && slot.proc === proc) {
      const id = await liveNodeId(files.apiUrl);
      if (id !== undefined) {
        if (this.slots.has(id)) {
          proc.signal('SIGKILL');
          throw new HttpError(
            500,
            'NODE_FAILED',
            `the new node answered as node ${id}, which this cluster already has`,
          );
        }
        slot.node = { ...slot.node, id };
        this.slots.set(id, slot);
        this.saveManifest();
        this.log(`node ${id} joined through node ${through.node.id} (${files.configPath})`);
        return { id, rpcAddr: files.rpcAddr, apiUrl: files.apiUrl, pid: proc.pid };
      }
      await sleep(CLUSTER_LIMITS.pollMs);
    }
    const why = slot.proc === proc ? `no answer within ${CLUSTER_LIMITS.nodeReadyTimeoutMs} ms` : slot.lastExit;
    if (slot.proc === proc) await this.stopProc(proc);
    throw new HttpError(500, 'NODE_FAILED', `the new node did not join (${why}); see ${files.logPath}`);
  }
}

/** The node id a node's liveness endpoint answers with; undefined while it does not answer. */
async function liveNodeId(apiUrl: string): Promise<NodeId | undefined> {
  try {
    const res = await httpJson(`${apiUrl}/v1/api/health/live`, { timeoutMs: CLUSTER_LIMITS.nodeRequestTimeoutMs });
    const id = (res.body as { node_id?: unknown } | undefined)?.node_id;
    return res.status === 200 && Number.isSafeInteger(id) && (id as number) > 0 ? (id as NodeId) : undefined;
  } catch {
    return undefined;
  }
}

/** One short line for a fault rule, e.g. "block in+out", "drop 10% · delay 100±20 ms · dup 5%". */
export function describeRule(rule: Readonly<Record<string, unknown>>): string {
  const parts: string[] = [];
  const inb = rule['blockInbound'] === true;
  const outb = rule['blockOutbound'] === true;
  if (inb || outb) parts.push(`block ${inb && outb ? 'in+out' : inb ? 'in' : 'out'}`);
  const pct = (v: unknown): string => `${Math.round(Number(v) * 1000) / 10}%`;
  if (typeof rule['dropRate'] === 'number' && rule['dropRate'] > 0) parts.push(`drop ${pct(rule['dropRate'])}`);
  const delay = Number(rule['delayMs'] ?? 0);
  const jitter = Number(rule['jitterMs'] ?? 0);
  if (delay > 0 || jitter > 0) parts.push(`delay ${delay}${jitter > 0 ? `±${jitter}` : ''} ms`);
  if (typeof rule['duplicateRate'] === 'number' && rule['duplicateRate'] > 0) {
    parts.push(`dup ${pct(rule['duplicateRate'])}`);
  }
  return parts.length === 0 ? 'no effect' : parts.join(' · ');
}

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes > CLUSTER_LIMITS.supervisorBodyBytesMax) {
        reject(new HttpError(413, 'TOO_LARGE', 'the request body is too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve({});
      try {
        const value: unknown = JSON.parse(text);
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
          resolve(value as Record<string, unknown>);
        } else reject(new HttpError(400, 'USAGE', 'the body must be a JSON object'));
      } catch {
        reject(new HttpError(400, 'USAGE', 'the body is not JSON'));
      }
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** For `up`: where the supervisor writes its own output. */
export const supervisorLogPath = folderFiles.supervisorLog;
