// What this proves: a proposal on a node that has never known a leader of its group — a fresh or restarted node
// whose first election is slow (on a loaded machine, or while its peers are still starting) — waits for that
// election (an election-timeout range from the request), instead of failing at once with LEADER_NOT_AVAILABLE
// because the node's process has been up for longer than that range.
// How: three RaftManagers in this process on loopback ports chosen at run time, one group. Node 1 starts alone and
// waits past the range (it cannot elect anyone alone); then it proposes and, a moment later, nodes 2 and 3 start.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kvCommand } from './support/kv-state-machine.js';
import { GROUP, oneGroupCluster } from './support/managers.js';

// A bound of its own, far above its usual 6 s: a hang fails here, with its message, instead of at the runner's.
test('proposals made before the first election wait for its leader and are applied', { timeout: 90_000 }, async (t) => {
  // A wider range than the default (300–500 ms): the wait it allows (twice its top) must cover starting two
  // managers and their first election on a loaded machine.
  const timing = { tickMs: 100, heartbeatIntervalMs: 100, electionTimeoutMinMs: 1_000, electionTimeoutMaxMs: 1_500 };
  const { start } = await oneGroupCluster(t, 'first-leader', timing);
  const first = await start(0);
  // Past the wait an election-timeout range allows (2 × 1,500 ms) with no leader ever known.
  await new Promise((resolve) => setTimeout(resolve, 3_500));
  assert.equal(first.leaderOf(GROUP), null, 'node 1 alone elects no one');
  const proposal = first.propose(GROUP, kvCommand('k', 'v'), { timeoutMs: 10_000 });
  const outcome = proposal.then(
    () => 'applied',
    (err: unknown) => String(err),
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  await Promise.all([start(1), start(2)]);
  assert.equal(await outcome, 'applied');
});
