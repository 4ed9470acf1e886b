/**
 * The `kalam` command as the end-to-end CLI tests run it: as a child process, with the helpers that watch the
 * processes it leaves (supervisor, nodes) and reap them by pid after a test, passed or failed.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ClusterStatus, SupervisorInfo } from '../../src/cluster/types.js';

const kalam = fileURLToPath(new URL('../../../../../bin/kalam', import.meta.url));

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `kalam ARGS` to its end (killed after timeoutMs), without colours. */
export function runKalam(args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [kalam, ...args],
      { env: { ...process.env, NO_COLOR: '1' }, timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` every pollMs until it holds (answers the ms it took) or boundMs pass (throws naming `what`). */
export async function waitUntil(
  what: string,
  boundMs: number,
  check: () => Promise<boolean> | boolean,
  pollMs = 100,
): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < boundMs) {
    if (await check()) return Date.now() - start;
    await sleep(pollMs);
  }
  throw new Error(`${what}: not within ${boundMs} ms`);
}

export function supervisorInfo(dir: string): SupervisorInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'supervisor.json'), 'utf8')) as SupervisorInfo;
  } catch {
    return undefined;
  }
}

/** The supervisor's and every running node's pid in a status. */
export function pidsOf(s: ClusterStatus): number[] {
  return [s.supervisorPid, ...s.nodes.flatMap((n) => (n.pid === null ? [] : [n.pid]))];
}

/** A temp cluster folder whose every process seen (tracked, and the supervisor) is SIGKILLed by pid after the test. */
export function tempCluster(t: TestContext, label: string): { dir: string; track: (pids: Iterable<number>) => void } {
  const dir = join(mkdtempSync(join(tmpdir(), `kalam-${label}-`)), 'c');
  const pids = new Set<number>();
  const track = (more: Iterable<number>): void => {
    for (const p of more) pids.add(p);
  };
  t.after(() => {
    const info = supervisorInfo(dir);
    if (info !== undefined) pids.add(info.pid);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });
  return { dir, track };
}
