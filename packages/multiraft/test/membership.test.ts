// What this proves: RaftManager.proposeConfChange drives a group's membership through the shipped driver — a
// voter removed, re-added as a learner that catches up from the log, promoted back — resolving with the
// configuration once applied on the leader; status() and confState() report voters and learners; progress() gives
// the leader's view of each member; conf entries reach the state machine as no-ops (its applied index moves on);
// typed refusals (NOT_LEADER on a follower, CONF_CHANGE_INVALID); a learner the transport does not know yet costs
// only dropped envelopes; and a restarted node boots with the configuration raft.db kept. How: three RaftManagers in this process on loopback ports chosen at run time, one key-value group.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfChangeV2, NodeId } from '@kalam/raft';
import { LEAVE_JOINT } from '@kalam/raft';
import { MultiRaftError } from '../src/index.js';
import type { RaftManager } from '../src/index.js';
import { kvCommand } from './support/kv-state-machine.js';
import { GROUP, leaderOf, oneGroupCluster } from './support/managers.js';

const DEADLINE_MS = 5_000;

const single = (type: 'addVoter' | 'addLearner' | 'remove', node: NodeId): ConfChangeV2 => ({
  transition: 'auto',
  changes: [{ type, node }],
});

function refused(code: string): (err: unknown) => boolean {
  return (err) => err instanceof MultiRaftError && err.code === code;
}

/** Waits until the leader knows every voter of the group holds its whole log (the precondition of a change). */
async function caughtUp(leader: RaftManager): Promise<void> {
  await until('every member caught up', () =>
    [...leader.progress(GROUP).values()].every((p) => p.match === p.lastIndex),
  );
}

async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    assert.ok(Date.now() < deadline, `${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test('a voter is removed, re-added as a learner that catches up, and promoted back, through RaftManager', async (t) => {
  const { machines, managers, start } = await oneGroupCluster(t, 'membership');
  for (let i = 0; i < 3; i++) await start(i);
  const leader = await leaderOf(managers);
  await leader.propose(GROUP, kvCommand('k', 'v0'));
  const [follower, other] = managers.filter((m) => m !== leader) as [RaftManager, RaftManager];
  const f = follower.nodeId;
  const ids = managers.map((m) => m.nodeId).sort((a, b) => a - b);

  await assert.rejects(follower.proposeConfChange(GROUP, single('remove', f), DEADLINE_MS), refused('NOT_LEADER'));
  await assert.rejects(leader.proposeConfChange(GROUP, LEAVE_JOINT, DEADLINE_MS), refused('CONF_CHANGE_INVALID'));

  const appliedBefore = machines[ids.indexOf(leader.nodeId)]!.appliedIndex();
  await caughtUp(leader);
  const removed = await leader.proposeConfChange(GROUP, single('remove', f), DEADLINE_MS);
  assert.deepEqual(
    removed.voters,
    ids.filter((id) => id !== f),
  );
  assert.ok(machines[ids.indexOf(leader.nodeId)]!.appliedIndex() > appliedBefore, 'the state machine saw a no-op');
  const st = leader.status().find((s) => s.groupId === GROUP)!;
  assert.deepEqual([st.voters, st.learners], [removed.voters, []]);
  await leader.propose(GROUP, kvCommand('k', 'v1'), { timeoutMs: DEADLINE_MS });
  await other.read(GROUP, { timeoutMs: DEADLINE_MS });
  await caughtUp(leader);

  const asLearner = await leader.proposeConfChange(GROUP, single('addLearner', f), DEADLINE_MS);
  assert.deepEqual(asLearner.learners, [f]);
  await until('the learner applies v1', () => machines[ids.indexOf(f)]!.get('k') === 'v1');
  const progress = leader.progress(GROUP);
  assert.ok(progress.has(f), 'the leader tracks the learner');
  await until('the learner is caught up', () => {
    const p = leader.progress(GROUP).get(f);
    return p !== undefined && p.match === p.lastIndex;
  });

  const promoted = await leader.proposeConfChange(GROUP, single('addVoter', f), DEADLINE_MS);
  assert.deepEqual([promoted.voters, promoted.learners], [ids, []]);
  await until('the follower applied its promotion', () => follower.confState(GROUP).voters.length === 3);

  // A restart boots with the configuration raft.db kept (not the founding members: here the same set, so the
  // check is on the configuration index having been stored — a removal first makes it differ).
  await caughtUp(leader);
  const shrunk = await leader.proposeConfChange(GROUP, single('remove', f), DEADLINE_MS);
  await until('the other follower applied the removal', () => other.confState(GROUP).voters.length === 2);
  const i = managers.indexOf(other);
  await other.stop();
  managers.splice(i, 1);
  const restarted = await start(ids.indexOf(other.nodeId));
  assert.deepEqual(restarted.confState(GROUP).voters, shrunk.voters, 'the stored configuration, not the founders');
});

test('a learner the transport does not know yet: what goes to it is dropped, nothing fails', async (t) => {
  const { managers, start } = await oneGroupCluster(t, 'membership-unknown');
  for (let i = 0; i < 3; i++) await start(i);
  const leader = await leaderOf(managers);
  const stranger = 9 as NodeId;
  await caughtUp(leader);
  const withStranger = await leader.proposeConfChange(GROUP, single('addLearner', stranger), DEADLINE_MS);
  assert.deepEqual(withStranger.learners, [stranger]);
  await leader.propose(GROUP, kvCommand('k', 'v'), { timeoutMs: DEADLINE_MS });
  await until('an append to node 9 was dropped', () => leader.stats.envelopesUnroutable > 0);
  await until('the voters caught up', () =>
    [...leader.progress(GROUP)].every(([id, p]) => id === stranger || p.match === p.lastIndex),
  );
  const without = await leader.proposeConfChange(GROUP, single('remove', stranger), DEADLINE_MS);
  assert.deepEqual(without.learners, []);
});
