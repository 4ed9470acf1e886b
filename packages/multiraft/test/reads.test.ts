// What this proves: reads that start together share one ReadIndex round (on the leader and on a follower), and
// sharing keeps them linearizable — a write acknowledged before the reads began is visible to every one of them,
// on every node. How: three RaftManagers in this process on loopback ports chosen at run time, one group each.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { NodeId } from '@kalam/raft';
import { RaftManager } from '../src/index.js';
import { freePort } from './support/cluster.js';
import { KvStateMachine, kvCommand } from './support/kv-state-machine.js';

const GROUP = 1;

test('concurrent reads share ReadIndex rounds and still see every acknowledged write', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-reads-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const members = ports.map((port, i) => ({ nodeId: (i + 1) as NodeId, host: '127.0.0.1', port }));
  const machines = members.map(() => new KvStateMachine());
  const managers: RaftManager[] = [];
  t.after(async () => {
    await Promise.all(managers.map((m) => m.stop().catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  });
  for (const [i, m] of members.entries()) {
    managers.push(
      await RaftManager.start({
        nodeId: m.nodeId,
        clusterId: 'reads-test',
        secret: 'reads-test-secret',
        members,
        groups: [{ id: GROUP, name: 'g1', stateMachine: machines[i]! }],
        dataDir: join(dir, `node${m.nodeId}`),
      }),
    );
  }
  const deadline = Date.now() + 15_000;
  let leader: RaftManager | undefined;
  while (leader === undefined) {
    assert.ok(Date.now() < deadline, 'a leader within 15 s');
    leader = managers.find((m) => m.status().find((s) => s.groupId === GROUP)?.role === 'leader');
    if (leader === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const follower: RaftManager = managers.find((m) => m !== leader)!;
  const nodes: RaftManager[] = [leader, follower];
  const followerSm = machines[managers.indexOf(follower)]!;
  for (let round = 0; round < 5; round++) {
    await leader.propose(GROUP, kvCommand('k', `v${round}`));
    for (const node of nodes) {
      const sm: KvStateMachine = machines[managers.indexOf(node)]!;
      const before = node.stats.readRounds;
      const seen: (string | null)[] = await Promise.all(
        Array.from({ length: 40 }, async (): Promise<string | null> => {
          await node.read(GROUP, { timeoutMs: 10_000 });
          return sm.get('k');
        }),
      );
      assert.deepEqual(new Set(seen), new Set([`v${round}`]), 'every read sees the acknowledged write');
      const rounds = node.stats.readRounds - before;
      assert.ok(rounds >= 1 && rounds <= 4, `40 concurrent reads took ${rounds} ReadIndex rounds`);
    }
  }
  assert.equal(followerSm.get('k'), 'v4');
});
