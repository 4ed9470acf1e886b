/**
 * A harness that runs real `kalam serve` processes (bin/kalam, the built CLI) on loopback ports chosen at run
 * time: a standalone node, or an N-member cluster with one TOML config per node under a temp folder. Readiness
 * (the `{"event":"ready"}` line) is raced against early exit under a timeout; `close()` (call it from t.after)
 * SIGKILLs every process still running and removes the folder, on success and on failure.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { withMallocEnv } from '../../src/malloc-env.js';
import { freePort } from './net.js';

/** packages/server/dist/test/support → the repository root. */
const KALAM_BIN = fileURLToPath(new URL('../../../../../bin/kalam', import.meta.url));
/** Bootstrap may wait up to 30 s for a quorum; a node that is not ready well after that is broken. */
const READY_TIMEOUT_MS = 40_000;
const EXIT_TIMEOUT_MS = 15_000;

const EXIT_UNKNOWN: Exit = { code: null, signal: null, elapsedMs: 0 };

export const ROOT_PASSWORD = 'root-password-test';

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** From the signal to the exit. */
  readonly elapsedMs: number;
}

interface Running {
  readonly proc: ChildProcess;
  exited: Promise<Exit>;
  /** When the last signal was sent (or the process spawned), for Exit.elapsedMs. */
  signalledAtMs: number;
  apiUrl: string;
  readonly stderr: string[];
}

export interface NodesOptions {
  /** 0: standalone; n ≥ 1: an n-member cluster. */
  readonly members: number;
  /** `cluster.raft.snapshot_threshold` (cluster only); the config's default when absent. */
  readonly snapshotThreshold?: number;
  /**
   * `cluster.raft.election_timeout_min_ms` / `_max_ms` (cluster only); the config's 300–500 ms when absent. A test
   * that asserts "no election" on a machine it shares with another test's cluster gives the nodes room here.
   */
  readonly electionTimeoutMs?: { readonly min: number; readonly max: number };
  /** Set in every node's environment (after the caller's own KALAM_* variables are removed). */
  readonly env?: Readonly<Record<string, string>>;
  /** `[debug] admin_endpoints = true`: fault rules and state digests (`digestsAgree`). */
  readonly adminEndpoints?: boolean;
  /** The advertised host of every node (api_addr, rpc_addr); default 127.0.0.1. `::1` runs the cluster on IPv6. */
  readonly host?: string;
  /** Listen on the wildcard (`[::]`: api_bind and rpc_bind) while advertising `host`. */
  readonly bindAll?: boolean;
  /** TOML appended to node `id`'s config (a [tls] section). */
  readonly extraToml?: (id: number) => string;
}

export class KalamNodes {
  readonly dir = mkdtempSync(join(tmpdir(), 'kalam-server-nodes-'));
  private readonly secret = randomBytes(16).toString('hex');
  private readonly clusterId = `test-${randomBytes(4).toString('hex')}`;
  private readonly apiPorts = new Map<number, number>();
  private readonly rpcPorts = new Map<number, number>();
  private readonly running = new Map<number, Running>();
  /** Slots of nodes that join (`cluster.join`) instead of being listed: the member they join through, their secret. */
  private readonly joiners = new Map<number, { via: string; secret: string }>();

  private constructor(readonly opts: NodesOptions) {}

  /** Picks ports, writes the configs and starts every node at once (so a cluster bootstraps concurrently). */
  static async start(opts: NodesOptions): Promise<KalamNodes> {
    const nodes = new KalamNodes(opts);
    try {
      for (const id of nodes.ids()) {
        nodes.apiPorts.set(id, await freePort());
        if (opts.members > 0) nodes.rpcPorts.set(id, await freePort());
      }
      for (const id of nodes.ids()) writeFileSync(nodes.configPath(id), nodes.configText(id));
      await Promise.all(nodes.ids().map((id) => nodes.startNode(id)));
    } catch (err) {
      await nodes.close();
      throw err;
    }
    return nodes;
  }

  ids(): number[] {
    return Array.from({ length: Math.max(1, this.opts.members) }, (_, i) => i + 1);
  }

  configPath(id: number): string {
    return join(this.dir, `node${id}.toml`);
  }

  dataDir(id: number): string {
    return join(this.dir, `data${id}`);
  }

  /**
   * Writes the config of a node that joins the running cluster through `via` (a member's API URL) in slot `slot` (its
   * ports and data folder; the id is the cluster's to give): no node_id, no members, the cluster secret unless
   * `secret` is given. Start it with startNode(slot).
   */
  async prepareJoiner(slot: number, via: string, secret = this.secret): Promise<void> {
    if (!this.apiPorts.has(slot)) this.apiPorts.set(slot, await freePort());
    if (!this.rpcPorts.has(slot)) this.rpcPorts.set(slot, await freePort());
    this.joiners.set(slot, { via, secret });
    writeFileSync(this.configPath(slot), this.configText(slot));
  }

  /** The cluster's secret and id (tests that sign join requests themselves). */
  clusterSecret(): string {
    return this.secret;
  }

  clusterName(): string {
    return this.clusterId;
  }

  /** `host:port` on the advertised host, IPv6 in brackets. */
  private at(port: number | undefined): string {
    const host = this.opts.host ?? '127.0.0.1';
    return `${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  private configText(id: number): string {
    const extra = this.opts.extraToml?.(id) ?? '';
    const bind = (key: string, port: number | undefined): string[] =>
      this.opts.bindAll === true ? [`${key} = "[::]:${port}"`] : [];
    const lines = [
      '[server]',
      `api_addr = "${this.at(this.apiPorts.get(id))}"`,
      ...bind('api_bind', this.apiPorts.get(id)),
      `data_dir = "data${id}"`,
      '[auth]',
      `root_password = "${ROOT_PASSWORD}"`,
    ];
    if (this.opts.adminEndpoints === true) lines.push('[debug]', 'admin_endpoints = true');
    if (this.opts.members === 0) return `${lines.join('\n')}\n${extra}`;
    const joiner = this.joiners.get(id);
    if (joiner !== undefined) {
      lines.push('[cluster]', `secret = "${joiner.secret}"`, `join = "${joiner.via}"`);
      lines.push('[cluster.raft]', `rpc_addr = "${this.at(this.rpcPorts.get(id))}"`);
      lines.push(...bind('rpc_bind', this.rpcPorts.get(id)));
      return `${lines.join('\n')}\n${extra}`;
    }
    lines.push('[cluster]', `cluster_id = "${this.clusterId}"`, `node_id = ${id}`, `secret = "${this.secret}"`);
    lines.push('[cluster.raft]', `rpc_addr = "${this.at(this.rpcPorts.get(id))}"`);
    lines.push(...bind('rpc_bind', this.rpcPorts.get(id)));
    if (this.opts.snapshotThreshold !== undefined) lines.push(`snapshot_threshold = ${this.opts.snapshotThreshold}`);
    const election = this.opts.electionTimeoutMs;
    if (election !== undefined)
      lines.push(`election_timeout_min_ms = ${election.min}`, `election_timeout_max_ms = ${election.max}`);
    for (const m of this.ids()) {
      lines.push(
        '[[cluster.members]]',
        `node_id = ${m}`,
        `rpc_addr = "${this.at(this.rpcPorts.get(m))}"`,
        // Bare host:port: http, or https when extraToml adds [tls].
        `api_addr = "${this.at(this.apiPorts.get(m))}"`,
      );
    }
    return `${lines.join('\n')}\n${extra}`;
  }

  /**
   * Starts node `id`; resolves with its ready line once printed, rejects if it exits first or times out. `env`
   * replaces the harness's `opts.env` for this start (a node restarted without a test switch).
   */
  async startNode(id: number, env = this.opts.env): Promise<Record<string, unknown>> {
    if (this.running.has(id)) throw new Error(`node ${id} is already running`);
    const procEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    for (const key of Object.keys(procEnv)) if (key.startsWith('KALAM_')) delete procEnv[key];
    // A whole test run with raft.db written on the event loop instead of the log worker
    // (`KALAM_TEST_LOG_WRITER_THREAD=false`), to compare the two; a test's own env wins.
    const writerThread = process.env['KALAM_TEST_LOG_WRITER_THREAD'];
    if (writerThread !== undefined) procEnv['KALAM_CLUSTER_RAFT_LOG_WRITER_THREAD'] = writerThread;
    // glibc's malloc set as `kalam cluster up` sets it for its nodes (malloc-env.ts), so benchmarks measure that.
    Object.assign(procEnv, withMallocEnv(procEnv), env);
    // Extra node flags for a profiling run (`KALAM_TEST_NODE_ARGS="--cpu-prof"`), as in multiraft's harness.
    const nodeArgs = (process.env['KALAM_TEST_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    const proc = spawn(process.execPath, [...nodeArgs, KALAM_BIN, 'serve', '--config', this.configPath(id)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: procEnv,
    });
    const node: Running = {
      proc,
      exited: Promise.resolve(EXIT_UNKNOWN),
      signalledAtMs: Date.now(),
      apiUrl: '',
      stderr: [],
    };
    node.exited = new Promise<Exit>((resolve) => {
      proc.once('exit', (code, signal) => resolve({ code, signal, elapsedMs: Date.now() - node.signalledAtMs }));
    });
    this.running.set(id, node);
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (s: string) => {
      node.stderr.push(s);
      if (node.stderr.length > 400) node.stderr.shift();
    });
    try {
      const ready = await this.awaitReady(id, node);
      node.apiUrl = String(ready['api_url']);
      return ready;
    } catch (err) {
      proc.kill('SIGKILL');
      await node.exited;
      this.running.delete(id);
      throw err;
    }
  }

  private awaitReady(id: number, node: Running): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(
        () => reject(new Error(`node ${id} not ready in ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      void node.exited.then((exit) => {
        clearTimeout(timer);
        reject(new Error(`node ${id} exited (${exit.code ?? exit.signal}) before ready: ${this.stderrOf(id, node)}`));
      });
      node.proc.stdout?.setEncoding('utf8');
      node.proc.stdout?.on('data', (s: string) => {
        buf += s;
        const line = buf.split('\n').find((l) => l.includes('"event":"ready"'));
        if (line === undefined) return;
        clearTimeout(timer);
        resolve(JSON.parse(line) as Record<string, unknown>);
      });
    });
  }

  /** Node `id`'s Raft RPC address, `host:port` (a join may name it instead of an API address). */
  rpcAddress(id: number): string {
    const port = this.rpcPorts.get(id);
    if (port === undefined) throw new Error(`node ${id} has no rpc port`);
    return this.at(port);
  }

  url(id: number): string {
    const node = this.running.get(id);
    if (node === undefined) throw new Error(`node ${id} is not running`);
    return node.apiUrl;
  }

  /** The OS process id of node `id` (a benchmark samples its memory from /proc/<pid>/status). */
  pid(id: number): number {
    const pid = this.running.get(id)?.proc.pid;
    if (pid === undefined) throw new Error(`node ${id} is not running`);
    return pid;
  }

  isRunning(id: number): boolean {
    return this.running.has(id);
  }

  /** Sends `signal` and waits for the exit (SIGKILL after EXIT_TIMEOUT_MS, then the Exit says so). */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    const node = this.running.get(id);
    if (node === undefined) throw new Error(`node ${id} is not running`);
    node.signalledAtMs = Date.now();
    node.proc.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>(
      (resolve) => (timer = setTimeout(() => resolve('timeout'), EXIT_TIMEOUT_MS)),
    );
    const result = await Promise.race([node.exited, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      node.proc.kill('SIGKILL');
      await node.exited;
    }
    this.running.delete(id);
    return result === 'timeout' ? { code: null, signal: 'SIGKILL', elapsedMs: EXIT_TIMEOUT_MS } : result;
  }

  /**
   * Waits (at most `timeoutMs`) for node `id` to exit on its own; resolves with its Exit and the last `chars` of its
   * stderr, or null when it is still running then.
   */
  async exitOf(id: number, timeoutMs: number, chars = 3000): Promise<(Exit & { stderr: string }) | null> {
    const node = this.running.get(id);
    if (node === undefined) throw new Error(`node ${id} is not running`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    const exit = await Promise.race([node.exited, timeout]);
    clearTimeout(timer);
    if (exit === null) return null;
    this.running.delete(id);
    return { ...exit, stderr: this.stderrOf(id, node, chars) };
  }

  /**
   * Waits until every running node reports the same applied index and digest for every group (admin endpoints on);
   * returns the agreed digests by group name, or throws after `ms`.
   */
  async digestsAgree(ms: number): Promise<Record<string, { applied: number; digest: string }>> {
    const auth = `Basic ${Buffer.from(`root:${ROOT_PASSWORD}`).toString('base64')}`;
    const deadline = Date.now() + ms;
    let last = '';
    for (;;) {
      const views = await Promise.all(
        [...this.running.keys()].map(async (id) => {
          const res = await fetch(`${this.url(id)}/v1/api/admin/digests`, {
            headers: { Authorization: auth },
            signal: AbortSignal.timeout(10_000),
          });
          return ((await res.json()) as { groups: Record<string, { applied: number; digest: string }> }).groups;
        }),
      );
      const texts = views.map((v) => JSON.stringify(v));
      if (texts.every((t) => t === texts[0])) return views[0]!;
      last = texts.join('\n');
      if (Date.now() > deadline)
        throw new Error(`the nodes' digests did not agree within ${ms} ms:\n${last.slice(0, 2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Deletes node `id`'s data folder (data.db, raft.db, …), as a lost disk would; refused while it runs. */
  wipe(id: number): void {
    if (this.running.has(id)) throw new Error(`node ${id} is running: kill it before wiping its data`);
    rmSync(this.dataDir(id), { recursive: true, force: true });
  }

  /** The last `chars` characters node `id` wrote to stderr (its JSON log, and a crash's stack). */
  stderrOf(id: number, node = this.running.get(id), chars = 3000): string {
    return (node?.stderr.join('') ?? '').slice(-chars);
  }

  async close(): Promise<void> {
    // A profiling run (KALAM_TEST_NODE_ARGS="--cpu-prof …") stops its nodes gracefully, so each writes its profile.
    const profiling = (process.env['KALAM_TEST_NODE_ARGS'] ?? '').includes('--cpu-prof');
    await Promise.all([...this.running.keys()].map((id) => this.kill(id, profiling ? 'SIGTERM' : 'SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
