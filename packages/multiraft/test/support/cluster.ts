/**
 * A harness that runs N real kv-node processes on loopback ports chosen at run time, and kills, restarts
 * and wipes them. Readiness is raced against early exit under a timeout; every process started here is
 * killed by `close()` (call it from t.after), on success and on failure.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RaftTiming } from '../../src/index.js';
import type { KvNodeConfig } from './kv-node.js';

const NODE_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'kv-node.js');
const READY_TIMEOUT_MS = 20_000;

/**
 * Ports this process has handed out: the OS may give a port it just released to the next bind(0), so two calls in
 * a row could return the same one, and two nodes configured on it clash (EADDRINUSE).
 */
const handedOut = new Set<number>();

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it), never one this process handed out before. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await osFreePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no fresh free port in 100 attempts');
}

function osFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface ClusterOptions {
  readonly nodes: number;
  readonly groups?: number;
  readonly timing?: Partial<RaftTiming>;
  readonly snapshotThreshold?: number;
  readonly snapshotKeepEntries?: number;
  /** Override one node's secret (to test a refused handshake). */
  readonly secretOf?: (nodeId: number) => string;
}

interface RunningNode {
  proc: ChildProcess;
  httpPort: number;
  pid: number;
  stderr: string[];
}

export interface ApiResult {
  ok: boolean;
  code?: string;
  message?: string;
  leaderHint?: number | null;
  [k: string]: unknown;
}

export interface GroupStatus {
  groupId: number;
  name: string;
  role: string;
  term: number;
  leader: number | null;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
}

export class TestCluster {
  readonly dir: string;
  readonly secret = randomBytes(16).toString('hex');
  readonly clusterId = `test-${randomBytes(4).toString('hex')}`;
  private readonly running = new Map<number, RunningNode>();
  private rpcPorts = new Map<number, number>();

  private constructor(readonly opts: ClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'kalam-multiraft-'));
  }

  static async start(opts: ClusterOptions): Promise<TestCluster> {
    const c = new TestCluster(opts);
    try {
      for (let id = 1; id <= opts.nodes; id++) c.rpcPorts.set(id, await freePort());
      await Promise.all(c.ids().map((id) => c.startNode(id)));
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  ids(): number[] {
    return Array.from({ length: this.opts.nodes }, (_, i) => i + 1);
  }

  dataDir(id: number): string {
    return join(this.dir, `node${id}`);
  }

  config(id: number): KvNodeConfig {
    return {
      nodeId: id,
      clusterId: this.clusterId,
      secret: this.opts.secretOf?.(id) ?? this.secret,
      members: this.ids().map((n) => ({ nodeId: n, host: '127.0.0.1', port: this.rpcPorts.get(n)! })),
      dataDir: this.dataDir(id),
      ...(this.opts.groups !== undefined ? { groups: this.opts.groups } : {}),
      ...(this.opts.timing !== undefined ? { timing: this.opts.timing } : {}),
      ...(this.opts.snapshotThreshold !== undefined ? { snapshotThreshold: this.opts.snapshotThreshold } : {}),
      ...(this.opts.snapshotKeepEntries !== undefined ? { snapshotKeepEntries: this.opts.snapshotKeepEntries } : {}),
    };
  }

  /** Starts node `id` and resolves when it printed its ready line; rejects if it exits first or times out. */
  async startNode(id: number): Promise<void> {
    if (this.running.has(id)) throw new Error(`node ${id} is already running`);
    // KALAM_TEST_NODE_ARGS passes extra node flags (e.g. --cpu-prof) to the node processes, for diagnosis.
    const nodeArgs = (process.env.KALAM_TEST_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    const proc = spawn(process.execPath, [...nodeArgs, NODE_SCRIPT, JSON.stringify(this.config(id))], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node: RunningNode = { proc, httpPort: 0, pid: proc.pid ?? 0, stderr: [] };
    this.running.set(id, node);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (s: string) => {
      node.stderr.push(s);
      if (node.stderr.length > 200) node.stderr.shift();
    });
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(
        () => fail(new Error(`node ${id} not ready in ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      proc.once('exit', (code, signal) =>
        fail(new Error(`node ${id} exited (${code ?? signal}) before ready: ${node.stderr.join('').slice(-2000)}`)),
      );
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (s: string) => {
        buf += s;
        const line = buf.split('\n').find((l) => l.includes('"event":"ready"'));
        if (line === undefined) return;
        const ready = JSON.parse(line) as { httpPort: number };
        node.httpPort = ready.httpPort;
        clearTimeout(timer);
        resolve();
      });
    });
  }

  isRunning(id: number): boolean {
    return this.running.has(id);
  }

  pid(id: number): number | undefined {
    return this.running.get(id)?.pid;
  }

  /** Sends a signal and, for KILL/TERM, waits until the process is gone. */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const node = this.running.get(id);
    if (node === undefined) return null;
    const exited = new Promise<number | null>((resolve) => {
      if (node.proc.exitCode !== null || node.proc.signalCode !== null) resolve(node.proc.exitCode);
      else node.proc.once('exit', (code) => resolve(code));
    });
    node.proc.kill(signal);
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000));
    const result = await Promise.race([exited, timeout]);
    if (result === 'timeout') {
      node.proc.kill('SIGKILL');
      await exited;
    }
    this.running.delete(id);
    return result === 'timeout' ? null : result;
  }

  async restart(id: number): Promise<void> {
    await this.kill(id);
    await this.startNode(id);
  }

  wipe(id: number): void {
    if (this.running.has(id)) throw new Error(`wipe node ${id} only while it is down`);
    rmSync(this.dataDir(id), { recursive: true, force: true });
  }

  async api(id: number, path: string, body: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<ApiResult> {
    const node = this.running.get(id);
    if (node === undefined) throw new Error(`node ${id} is not running`);
    const res = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return (await res.json()) as ApiResult;
  }

  async status(id: number): Promise<{ groups: GroupStatus[]; digests: Record<string, string>; [k: string]: unknown }> {
    return (await this.api(id, '/status')) as unknown as { groups: GroupStatus[]; digests: Record<string, string> };
  }

  /** Leader of each group as every running node agrees on it (null when they do not agree, or none). */
  async leaders(): Promise<Map<number, number | null>> {
    const ids = [...this.running.keys()];
    const views = await Promise.all(ids.map((id) => this.status(id)));
    const out = new Map<number, number | null>();
    for (const g of views[0]?.groups ?? []) {
      const seen = views.map((v) => v.groups.find((x) => x.groupId === g.groupId)?.leader ?? null);
      const first = seen[0] ?? null;
      const agreed = first !== null && seen.every((l) => l === first);
      const leaderView = views[ids.indexOf(first ?? -1)]?.groups.find((x) => x.groupId === g.groupId);
      out.set(g.groupId, agreed && leaderView?.role === 'leader' ? first : null);
    }
    return out;
  }

  /** Polls `check` every `intervalMs` until it returns a value, or throws after `timeoutMs`. */
  async waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await check();
        if (v !== undefined) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /** Waits until every group has a leader agreed by all running nodes; returns the map. */
  async waitAllLeaders(timeoutMs = 15_000): Promise<Map<number, number>> {
    return this.waitFor(
      'a leader in every group',
      async () => {
        const l = await this.leaders();
        if ([...l.values()].some((v) => v === null)) return undefined;
        return l as Map<number, number>;
      },
      timeoutMs,
    );
  }

  stderrOf(id: number): string {
    return this.running.get(id)?.stderr.join('') ?? '';
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.kill(id, 'SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
