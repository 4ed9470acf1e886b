// What this proves: reads that start together share one ReadIndex round (on the leader and on a follower), and
// sharing keeps them linearizable — a write acknowledged before the reads began is visible to every one of them,
// on every node. How: three RaftManagers in this process on loopback ports chosen at run time, one group each.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RaftManager } from '../src/index.js';
import { kvCommand } from './support/kv-state-machine.js';
import { GROUP, leaderOf, oneGroupCluster } from './support/managers.js';

test('concurrent reads share ReadIndex rounds and still see every acknowledged write', async (t) => {
  const { machines, managers, start } = await oneGroupCluster(t, 'reads');
  for (let i = 0; i < 3; i++) await start(i);
  const leader = await leaderOf(managers);
  const follower: RaftManager = managers.find((m) => m !== leader)!;
  const nodes: RaftManager[] = [leader, follower];
  const followerSm = machines[managers.indexOf(follower)]!;
  for (let round = 0; round < 5; round++) {
    await leader.propose(GROUP, kvCommand('k', `v${round}`));
    for (const node of nodes) {
      const sm = machines[managers.indexOf(node)]!;
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
