// What this proves: a proposal on a node that has never known a leader of its group — a fresh or restarted node
// whose first election is slow (on a loaded machine, or while its peers are still starting) — waits for that
// election (an election-timeout range from the request), instead of failing at once with LEADER_NOT_AVAILABLE
// because the node's process has been up for longer than that range.
// How: three RaftManagers in this process on loopback ports chosen at run time, one group. Node 1 starts alone and
// waits past the range (it cannot elect anyone alone); then it proposes and, a moment later, nodes 2 and 3 start.
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

test('proposals made before the first election wait for its leader and are applied', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-first-leader-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const members = ports.map((port, i) => ({ nodeId: (i + 1) as NodeId, host: '127.0.0.1', port }));
  const machines = members.map(() => new KvStateMachine());
  const managers: RaftManager[] = [];
  t.after(async () => {
    await Promise.all(managers.map((m) => m.stop().catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  });
  const start = (i: number): Promise<RaftManager> =>
    RaftManager.start({
      nodeId: members[i]!.nodeId,
      clusterId: 'first-leader-test',
      secret: 'first-leader-secret',
      members,
      groups: [{ id: GROUP, name: 'g1', stateMachine: machines[i]! }],
      dataDir: join(dir, `node${members[i]!.nodeId}`),
      // A wider range than the default (300–500 ms): the wait it allows (twice its top) must cover starting two
      // managers and their first election on a loaded machine.
      timing: { tickMs: 100, heartbeatIntervalMs: 100, electionTimeoutMinMs: 1_000, electionTimeoutMaxMs: 1_500 },
    });
  const first = await start(0);
  managers.push(first);
  // Past the wait an election-timeout range allows (2 × 1,500 ms) with no leader ever known.
  await new Promise((resolve) => setTimeout(resolve, 3_500));
  assert.equal(first.leaderOf(GROUP), null, 'node 1 alone elects no one');
  const proposal = first.propose(GROUP, kvCommand('k', 'v'), { timeoutMs: 10_000 });
  const outcome = proposal.then(
    () => 'applied',
    (err: unknown) => String(err),
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  managers.push(...(await Promise.all([start(1), start(2)])));
  assert.equal(await outcome, 'applied');
});
