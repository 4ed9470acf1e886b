// What this proves: RaftManager.proposeConfChange drives a group's membership through the shipped driver — a
// voter removed, re-added as a learner that catches up from the log, promoted back — resolving with the
// configuration once applied on the leader; status() and confState() report voters and learners; progress() gives
// the leader's view of each member; conf entries reach the state machine as no-ops (its applied index moves on);
// typed refusals (NOT_LEADER on a follower, CONF_CHANGE_INVALID); a learner the transport does not know yet costs
// only dropped envelopes; and a restarted node boots with the configuration raft.db kept. How: three RaftManagers in this process on loopback ports chosen at run time, one key-value group.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ConfChangeV2, ConfState, NodeId } from '@kalam/raft';
import { LEAVE_JOINT } from '@kalam/raft';
import { MultiRaftError, RaftManager } from '../src/index.js';
import { freePort } from './support/cluster.js';
import { KvStateMachine, kvCommand } from './support/kv-state-machine.js';
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
async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    assert.ok(Date.now() < deadline, `${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Until every member has the leader's whole log: the core refuses a change whose new voters are not caught up
 * (no change without a caught-up quorum), and on a loaded machine a follower may be an entry behind.
 */
async function allCaughtUp(leader: RaftManager): Promise<void> {
  await until('every member caught up', () => {
    const progress = [...leader.progress(GROUP).values()];
    return progress.length > 0 && progress.every((p) => p.match === p.lastIndex);
  });
}

test('a voter is removed, re-added as a learner that catches up, and promoted back, through RaftManager', async (t) => {
  const { machines, managers, start } = await oneGroupCluster(t, 'membership');
  for (let i = 0; i < 3; i++) await start(i);
  const leader = await leaderOf(managers);
  await leader.propose(GROUP, kvCommand('k', 'v0'));
  const [follower, other] = managers.filter((m) => m !== leader) as [RaftManager, RaftManager];
  const f = follower.nodeId;
  const ids = managers.map((m) => m.nodeId).sort((a, b) => a - b);

  // The forwarding RPC's confChange is answered by the leader only, refused before anything is appended.
  await assert.rejects(
    follower.driver.handleRequest(other.nodeId, 'confChange', {
      groupId: GROUP,
      cc: single('remove', f),
      deadlineMs: DEADLINE_MS,
    }),
    (err) => refused('NOT_LEADER')(err) && (err as MultiRaftError).leaderHint === leader.nodeId,
  );
  await assert.rejects(
    follower.driver.handleRequest(other.nodeId, 'progress', { groupId: GROUP }),
    refused('NOT_LEADER'),
  );
  await assert.rejects(leader.proposeConfChange(GROUP, LEAVE_JOINT, DEADLINE_MS), refused('CONF_CHANGE_INVALID'));

  const appliedBefore = machines[ids.indexOf(leader.nodeId)]!.appliedIndex();
  await allCaughtUp(leader);
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
  await allCaughtUp(leader);

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
  await allCaughtUp(leader);
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
  await allCaughtUp(leader);
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

// What this proves (issue [M9] step 1, forwarding): a membership change proposed on a follower goes to the leader
// (the forwarding RPC's confChange), applies, and resolves once the follower has applied it too; the leader's
// progress is read from a follower (the progress request); a malformed change is refused as BAD_REQUEST, an invalid one as CONF_CHANGE_INVALID.
test('a membership change proposed on a follower is forwarded to the leader and applies', async (t) => {
  const { machines, managers, start } = await oneGroupCluster(t, 'membership-fwd');
  for (let i = 0; i < 3; i++) await start(i);
  const leader = await leaderOf(managers);
  await leader.propose(GROUP, kvCommand('k', 'v0'));
  const [follower, other] = managers.filter((m) => m !== leader) as [RaftManager, RaftManager];
  const ids = managers.map((m) => m.nodeId).sort((a, b) => a - b);
  const o = other.nodeId;

  await allCaughtUp(leader);
  const removed = await follower.proposeConfChange(GROUP, single('remove', o), DEADLINE_MS);
  assert.deepEqual(
    removed.voters,
    ids.filter((id) => id !== o),
  );
  assert.deepEqual(follower.confState(GROUP).voters, removed.voters, 'applied on the follower when it resolves');
  assert.deepEqual(leader.confState(GROUP).voters, removed.voters);

  await allCaughtUp(leader);
  const asLearner = await follower.proposeConfChange(GROUP, single('addLearner', o), DEADLINE_MS);
  assert.deepEqual(asLearner.learners, [o]);
  await leader.propose(GROUP, kvCommand('k', 'v1'), { timeoutMs: DEADLINE_MS });
  await until('the learner applies v1', () => machines[ids.indexOf(o)]!.get('k') === 'v1');
  await until('the leader sees the learner caught up', () => {
    const p = leader.progress(GROUP).get(o);
    return p !== undefined && p.match === p.lastIndex;
  });
  const seen = await follower.leaderProgress(GROUP, DEADLINE_MS);
  const p = seen.get(o);
  assert.ok(p !== undefined && p.match > 0 && p.match <= p.lastIndex, "the leader's progress, read from a follower");
  assert.equal(follower.progress(GROUP).size, 0, 'a follower has no progress of its own');

  await allCaughtUp(leader);
  const promoted = await follower.proposeConfChange(GROUP, single('addVoter', o), DEADLINE_MS);
  assert.deepEqual([promoted.voters, promoted.learners], [ids, []]);

  await assert.rejects(
    leader.driver.handleRequest(follower.nodeId, 'confChange', {
      groupId: GROUP,
      cc: { transition: 'auto', changes: [{ type: 'promote', node: o }] },
      deadlineMs: DEADLINE_MS,
    }),
    refused('BAD_REQUEST'),
  );
  await assert.rejects(
    follower.proposeConfChange(GROUP, LEAVE_JOINT, DEADLINE_MS),
    refused('CONF_CHANGE_INVALID'),
    "the leader's refusal comes back through the forwarding RPC with its code",
  );
});

// What this proves (issue [M9] step 2, founding voters): a node that joins later is built on the groups' founding
// configuration (RaftManagerOptions.voters), not on a member list that includes itself — so it starts in none of
// them: it does not campaign or disturb the leader's term, and it is not listed as a voter; added as a learner it
// replays the log from index 1 (conf entries included) and ends with the configuration the leader has. How: three
// founders and a fourth RaftManager in this process, loopback ports chosen at run time.
test("a node that joins later starts outside the founding configuration and ends with the leader's", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-membership-join-'));
  const members = await Promise.all(
    [1, 2, 3, 4].map(async (id) => ({ nodeId: id as NodeId, host: '127.0.0.1', port: await freePort() })),
  );
  const founders = members.slice(0, 3).map((m) => m.nodeId);
  const machines = members.map(() => new KvStateMachine());
  const managers: RaftManager[] = [];
  t.after(async () => {
    await Promise.all(managers.map((m) => m.stop().catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  });
  const start = async (i: number, known: typeof members): Promise<RaftManager> => {
    const m = await RaftManager.start({
      nodeId: members[i]!.nodeId,
      clusterId: 'membership-join-test',
      secret: 'membership-join-test-secret',
      members: known,
      voters: founders,
      groups: [{ id: GROUP, name: 'g1', stateMachine: machines[i]! }],
      dataDir: join(dir, `node${i + 1}`),
    });
    managers.push(m);
    return m;
  };
  for (let i = 0; i < 3; i++) await start(i, members.slice(0, 3));
  const leader = await leaderOf(managers);
  await leader.propose(GROUP, kvCommand('k', 'v0'));
  await allCaughtUp(leader);
  // A conf change before the node joins: its replay must start from the founders to end where the leader is.
  const shrunk = await leader.proposeConfChange(
    GROUP,
    single(
      'remove',
      founders.find((id) => id !== leader.nodeId)!,
    ),
    DEADLINE_MS,
  );
  assert.equal(shrunk.voters.length, 2);
  await leader.propose(GROUP, kvCommand('k', 'v1'), { timeoutMs: DEADLINE_MS });
  const termBefore = leader.status()[0]!.term;

  for (const m of managers) m.transport.addPeer(members[3]!);
  const joiner = await start(3, members);
  assert.deepEqual(joiner.confState(GROUP).voters, founders, 'built on the founders');
  assert.deepEqual(joiner.confState(GROUP).learners, []);
  // Two election-timeout ranges (defaults: at most 1 s each) outside every configuration: no campaign.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  assert.notEqual(joiner.status()[0]!.role, 'leader');
  assert.equal(joiner.stats.leaderChanges, 0);
  assert.equal(leader.status()[0]!.term, termBefore, 'the leader kept its term: the new node did not disturb it');
  assert.ok(leader.isLeader(GROUP));

  await leader.proposeConfChange(GROUP, single('addLearner', joiner.nodeId), DEADLINE_MS);
  await until('the learner applies v1', () => machines[3]!.get('k') === 'v1');
  await allCaughtUp(leader);
  const grown = await leader.proposeConfChange(GROUP, single('addVoter', joiner.nodeId), DEADLINE_MS);
  assert.ok(grown.voters.includes(joiner.nodeId));
  await until("the joiner holds the leader's configuration", () =>
    sameConf(joiner.confState(GROUP), leader.confState(GROUP)),
  );
  assert.deepEqual(joiner.confState(GROUP).voters, grown.voters);
});

function sameConf(a: ConfState, b: ConfState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// What this proves (commit 2d5db9b): a conf change forwarded by the very node it removes resolves as soon as the
// leader has applied it — the removed node may never apply it (once the leader applied the removal it sends that
// node nothing more, so its commit index can stay below the entry), and waiting for that cost the caller (the
// reconciler, when its own node leaves) the change's whole deadline per group. How: the leader's Raft envelopes to
// the follower are dropped (its transport's send, wrapped in this test) while requests and their answers still flow,
// so the follower cannot learn the removal is committed; its forwarded removal of itself must still resolve well
// inside a deadline it could otherwise sit out, with a configuration it has not applied.
test('a forwarded removal of the node that forwarded it resolves without that node applying it', async (t) => {
  const { managers, start } = await oneGroupCluster(t, 'membership-self');
  for (let i = 0; i < 3; i++) await start(i);
  const leader = await leaderOf(managers);
  await leader.propose(GROUP, kvCommand('k', 'v0'));
  const follower = managers.find((m) => m !== leader)!;
  const f = follower.nodeId;
  await allCaughtUp(leader);
  await until('the follower knows the leader', () => follower.status()[0]!.leader === leader.nodeId);

  const transport = leader.transport;
  const send = transport.send.bind(transport);
  let dropped = 0;
  transport.send = (env) => {
    if (env.to === f) {
      dropped++;
      return;
    }
    send(env);
  };
  t.after(() => {
    transport.send = send;
  });

  const longDeadlineMs = 60_000;
  const removal = follower.proposeConfChange(GROUP, single('remove', f), longDeadlineMs);
  // A liveness bound far below the deadline: without the rule the call sits out the whole 60 s.
  const boundMs = 15_000;
  const outcome = await Promise.race([
    removal.then((conf) => ({ conf })),
    new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), boundMs).unref()),
  ]);
  assert.notEqual(outcome, 'pending', `the forwarded removal still pending after ${boundMs} ms`);
  const { conf } = outcome as { conf: ConfState };
  assert.ok(!conf.voters.includes(f) && !conf.learners.includes(f), JSON.stringify(conf));
  assert.deepEqual(leader.confState(GROUP).voters, conf.voters, 'applied on the leader');
  assert.ok(follower.confState(GROUP).voters.includes(f), 'the removed node has not applied its removal');
  assert.ok(dropped > 0, 'the leader had something to send the follower');
});

// What this proves: the leader answers a forwarded change that removes the leader itself — it commits the joint
// configuration, leaves it, hands the group to a voter that stays, and the caller's call resolves (the meta:system
// leader's reconciler asks this of every group the node being removed leads).
test("a follower's forwarded removal of the leader resolves, and the group is led by a voter that stays", async (t) => {
  const { managers, start } = await oneGroupCluster(t, 'membership-rmleader');
  for (let i = 0; i < 3; i++) await start(i);
  const leader = await leaderOf(managers);
  await leader.propose(GROUP, kvCommand('k', 'v0'));
  const follower = managers.find((m) => m !== leader)!;
  await allCaughtUp(leader);
  await until('the follower knows the leader', () => follower.status()[0]!.leader === leader.nodeId);
  const conf = await follower.proposeConfChange(GROUP, single('remove', leader.nodeId), DEADLINE_MS);
  assert.ok(!conf.voters.includes(leader.nodeId), JSON.stringify(conf));
  const next = await leaderOf(managers.filter((m) => m !== leader));
  assert.notEqual(next.nodeId, leader.nodeId);
  await next.propose(GROUP, kvCommand('k', 'v1'), { timeoutMs: DEADLINE_MS });
});
