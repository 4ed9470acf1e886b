/**
 * Three RaftManagers in the test's own process, on loopback ports chosen at run time, hosting one key-value group
 * each: the setup the driver-level tests (reads, transfers, first leader) share. Everything is stopped and removed
 * in the test's `after`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { NodeId } from '@kalam/raft';
import { RaftManager } from '../../src/index.js';
import type { RaftObserver, RaftTiming } from '../../src/index.js';
import { freePort } from './cluster.js';
import { KvStateMachine } from './kv-state-machine.js';

export const GROUP = 1;

export interface OneGroupCluster {
  readonly machines: readonly KvStateMachine[];
  /** The managers started so far, in start order. */
  readonly managers: RaftManager[];
  /** Starts member i (0-based) and adds it to `managers`. */
  readonly start: (i: number) => Promise<RaftManager>;
}

/** `observers[i]`, when given, is member i's RaftManagerOptions.observer. */
export async function oneGroupCluster(
  t: TestContext,
  name: string,
  timing?: RaftTiming,
  observers: readonly RaftObserver[] = [],
): Promise<OneGroupCluster> {
  const dir = mkdtempSync(join(tmpdir(), `kalam-${name}-`));
  const ports = [await freePort(), await freePort(), await freePort()];
  const members = ports.map((port, i) => ({ nodeId: (i + 1) as NodeId, host: '127.0.0.1', port }));
  const machines = members.map(() => new KvStateMachine());
  const managers: RaftManager[] = [];
  t.after(async () => {
    await Promise.all(managers.map((m) => m.stop().catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    machines,
    managers,
    start: async (i) => {
      const m = members[i]!;
      const manager = await RaftManager.start({
        nodeId: m.nodeId,
        clusterId: `${name}-test`,
        secret: `${name}-test-secret`,
        members,
        groups: [{ id: GROUP, name: 'g1', stateMachine: machines[i]! }],
        dataDir: join(dir, `node${m.nodeId}`),
        ...(timing === undefined ? {} : { timing }),
        ...(observers[i] === undefined ? {} : { observer: observers[i] }),
      });
      managers.push(manager);
      return manager;
    },
  };
}

/** The manager that leads GROUP, waited for (bounded). */
export async function leaderOf(managers: readonly RaftManager[], timeoutMs = 15_000): Promise<RaftManager> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leader = managers.find((m) => m.isLeader(GROUP));
    if (leader !== undefined) return leader;
    assert.ok(Date.now() < deadline, `a leader within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
