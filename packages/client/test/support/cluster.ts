/**
 * A real N-node Kalam cluster for the client's tests: one TOML per node in a temp folder, loopback ports picked at run
 * time, `node bin/kalam serve --config …` per node, each ready once its `{"event":"ready"}` line is on stdout (raced
 * against early exit under READY_TIMEOUT_MS). `kill(id)` SIGKILLs one node by PID and waits for its exit; `close()`
 * (call it from t.after) SIGKILLs every node still running and removes the folder, on success and on failure. A small
 * copy of packages/server/test/support/nodes.ts, which lives in another package's test build.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** packages/client/dist/test/support → the repository root. */
export const KALAM_BIN = fileURLToPath(new URL('../../../../../bin/kalam', import.meta.url));
/** Bootstrap may wait up to 30 s for a quorum; a node not ready well after that is broken. */
const READY_TIMEOUT_MS = 40_000;
const EXIT_TIMEOUT_MS = 15_000;

export const ROOT_PASSWORD = 'client-test-root-password';

interface Running {
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;
  readonly stderr: string[];
}

/** Ports handed out by this process: the OS may hand a just-released port to the next bind(0). */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr !== null ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no fresh free port in 100 attempts');
}

export class TestCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'kalam-client-test-'));
  private readonly apiPorts: number[] = [];
  private readonly rpcPorts: number[] = [];
  private readonly running = new Map<number, Running>();

  private constructor(readonly size: number) {}

  static async start(size: number): Promise<TestCluster> {
    const cluster = new TestCluster(size);
    try {
      for (let i = 0; i < size; i++) {
        cluster.apiPorts.push(await freePort());
        cluster.rpcPorts.push(await freePort());
      }
      await Promise.all(cluster.ids().map((id) => cluster.startNode(id)));
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  ids(): number[] {
    return Array.from({ length: this.size }, (_, i) => i + 1);
  }

  /** Node `id`'s API URL (also while it is down: a client keeps it in its list). */
  url(id: number): string {
    return `http://127.0.0.1:${this.apiPorts[id - 1]}`;
  }

  urls(): string[] {
    return this.ids().map((id) => this.url(id));
  }

  /** The id of the node at `url`. */
  idOf(url: string): number {
    const id = this.urls().indexOf(url) + 1;
    if (id === 0) throw new Error(`${url} is not a node of this cluster`);
    return id;
  }

  private config(id: number, secret: string, clusterId: string): string {
    const lines = [
      '[server]',
      `api_addr = "127.0.0.1:${this.apiPorts[id - 1]}"`,
      `data_dir = "data${id}"`,
      '[auth]',
      `root_password = "${ROOT_PASSWORD}"`,
      '[cluster]',
      `cluster_id = "${clusterId}"`,
      `node_id = ${id}`,
      `secret = "${secret}"`,
      '[cluster.raft]',
      `rpc_addr = "127.0.0.1:${this.rpcPorts[id - 1]}"`,
    ];
    for (const m of this.ids()) {
      lines.push(
        '[[cluster.members]]',
        `node_id = ${m}`,
        `rpc_addr = "127.0.0.1:${this.rpcPorts[m - 1]}"`,
        `api_addr = "127.0.0.1:${this.apiPorts[m - 1]}"`,
      );
    }
    return `${lines.join('\n')}\n`;
  }

  private readonly secret = randomBytes(16).toString('hex');
  private readonly clusterId = `client-test-${randomBytes(4).toString('hex')}`;

  private async startNode(id: number): Promise<void> {
    const path = join(this.dir, `node${id}.toml`);
    writeFileSync(path, this.config(id, this.secret, this.clusterId));
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    for (const key of Object.keys(env)) if (key.startsWith('KALAM_')) delete env[key];
    const proc = spawn(process.execPath, [KALAM_BIN, 'serve', '--config', path], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const node: Running = { proc, exited, stderr: [] };
    this.running.set(id, node);
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (s: string) => {
      node.stderr.push(s);
      if (node.stderr.length > 200) node.stderr.shift();
    });
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(
        () => reject(new Error(`node ${id} not ready in ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`node ${id} exited before ready: ${node.stderr.join('').slice(-2000)}`));
      });
      proc.stdout?.setEncoding('utf8');
      proc.stdout?.on('data', (s: string) => {
        buf += s;
        if (!buf.includes('"event":"ready"')) return;
        clearTimeout(timer);
        resolve();
      });
    });
  }

  isRunning(id: number): boolean {
    return this.running.has(id);
  }

  /** Sends `signal` to node `id` by PID and waits for its exit (SIGKILL after EXIT_TIMEOUT_MS). */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const node = this.running.get(id);
    if (node === undefined) return;
    node.proc.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), EXIT_TIMEOUT_MS)));
    if ((await Promise.race([node.exited, late])) === 'late') {
      node.proc.kill('SIGKILL');
      await node.exited;
    }
    clearTimeout(timer);
    this.running.delete(id);
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.kill(id, 'SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
