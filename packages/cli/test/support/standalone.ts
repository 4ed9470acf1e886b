/**
 * One real standalone Kalam node for the CLI's tests: a minimal TOML in a temp folder with a loopback port picked
 * at run time, `node bin/kalam serve --config …` with KALAM_ROOT_PASSWORD set, ready once its `{"event":"ready"}`
 * line is on stdout (raced against early exit under READY_TIMEOUT_MS). `close()` (call it from t.after) SIGKILLs
 * it by PID and removes the folder. A small copy of packages/server/test/support/nodes.ts, which lives in
 * another package's test build.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** packages/cli/dist/test/support → the repository root. */
export const KALAM_BIN = fileURLToPath(new URL('../../../../../bin/kalam', import.meta.url));
/** A standalone node bootstraps root at once; well past this it is broken (the machine is shared and slow). */
const READY_TIMEOUT_MS = 40_000;
const EXIT_TIMEOUT_MS = 15_000;

export const ROOT_PASSWORD = 'cli-sql-test-password';

export class StandaloneNode {
  private constructor(
    readonly dir: string,
    readonly apiUrl: string,
    private readonly proc: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  static async start(): Promise<StandaloneNode> {
    const dir = mkdtempSync(join(tmpdir(), 'kalam-cli-sql-'));
    try {
      const port = await freePort();
      const config = join(dir, 'node.toml');
      writeFileSync(config, `[server]\napi_addr = "127.0.0.1:${port}"\ndata_dir = "data"\n`);
      const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
      for (const key of Object.keys(env)) if (key.startsWith('KALAM_')) delete env[key];
      env['KALAM_ROOT_PASSWORD'] = ROOT_PASSWORD;
      const proc = spawn(process.execPath, [KALAM_BIN, 'serve', '--config', config], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env,
      });
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      try {
        const apiUrl = await awaitReady(proc, exited);
        return new StandaloneNode(dir, apiUrl, proc, exited);
      } catch (err) {
        proc.kill('SIGKILL');
        await exited;
        throw err;
      }
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((resolve) => (timer = setTimeout(resolve, EXIT_TIMEOUT_MS)))]);
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function awaitReady(proc: ChildProcess, exited: Promise<void>): Promise<string> {
  let stderr = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (s: string) => (stderr = (stderr + s).slice(-3000)));
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`node not ready in ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`node exited before ready: ${stderr}`));
    });
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (s: string) => {
      buf += s;
      const line = buf.split('\n').find((l) => l.includes('"event":"ready"'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve(String((JSON.parse(line) as Record<string, unknown>)['api_url']));
    });
  });
}

/** A loopback port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
