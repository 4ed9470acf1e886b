// What this proves: a node that is handing its groups over to stop (transferAllLeadership) takes no leadership
// offered to it — so a peer's leader balance cannot hand a group back to a node about to exit — and a transfer whose
// target never takes over costs the group's proposals only the moment until the leader abandons it (about an
// election timeout), not their whole deadline: proposals on the leader and proposals forwarded by a follower, made
// while that transfer is under way, are applied, and the leader stays the leader.
// How: three RaftManagers in this process on loopback ports chosen at run time, one group, the balance off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MultiRaftError } from '../src/index.js';
import type { RaftManager } from '../src/index.js';
import { kvCommand } from './support/kv-state-machine.js';
import { GROUP, leaderOf, oneGroupCluster } from './support/managers.js';

/** Well under the proposals' 5 s default: a proposal that waited for a leader change that never comes would miss it. */
const PROPOSAL_TIMEOUT_MS = 3_000;

test('a draining node refuses leadership; proposals during the abandoned transfer are applied', async (t) => {
  const { machines, managers, start } = await oneGroupCluster(t, 'transfer-refused');
  for (let i = 0; i < 3; i++) await start(i);
  const leader = await leaderOf(managers);
  await leader.propose(GROUP, kvCommand('k', 'v0'));
  const [target, other] = managers.filter((m) => m !== leader) as [RaftManager, RaftManager];
  // Every follower is caught up before the transfer starts: only draining can make the target refuse.
  await target.read(GROUP, { timeoutMs: 5_000 });
  await other.read(GROUP, { timeoutMs: 5_000 });

  // The target starts draining: it leads nothing, so this hands nothing over, and from now on it refuses leadership.
  assert.deepEqual(await target.transferAllLeadership(1_000), { moved: 0, failed: 0 });

  // Its outcome is taken at once (it may fail before the proposals are done on a slow machine).
  const transfer = leader.transferLeadership(GROUP, target.nodeId, { timeoutMs: 2_000 }).then(
    () => undefined,
    (err: unknown) => err,
  );
  const started = Date.now();
  const onLeader = leader.propose(GROUP, kvCommand('k', 'v1'), { timeoutMs: PROPOSAL_TIMEOUT_MS });
  const forwarded = other.propose(GROUP, kvCommand('j', 'w1'), { timeoutMs: PROPOSAL_TIMEOUT_MS });
  await Promise.all([onLeader, forwarded]);
  t.diagnostic(`both proposals applied ${Date.now() - started} ms after the transfer began`);

  const refused = await transfer;
  assert.ok(refused instanceof MultiRaftError && refused.code === 'TRANSFER_FAILED', String(refused));
  assert.ok(leader.isLeader(GROUP), 'the leader kept its group');
  assert.equal(target.leaderOf(GROUP), leader.nodeId);
  for (const sm of [machines[managers.indexOf(leader)]!, machines[managers.indexOf(other)]!]) {
    assert.equal(sm.get('k'), 'v1');
    assert.equal(sm.get('j'), 'w1');
  }
});
