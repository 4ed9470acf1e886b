// The membership reconciler's control logic (issue [M9] §2) against a fake MembershipDriver whose groups apply
// conf changes as etcd's ConfChangeV2 'auto' does (a voter added or removed enters a joint configuration, which the
// fake leaves when told — the auto-leave). It proves: a joining node is added as a learner to every group, never more
// than the bound of groups catching up at once, promoted only within the lag bound, and marked learner then voter
// when every group says so; a group with a change in flight (joint) is left alone; every step is idempotent and a
// new reconciler (a new meta:system leader) carries on from the replicated state alone; a leaving node is removed
// from every group only while each keeps a quorum of live voters, then marked removed; an operator's removal is
// refused with a clear code for an unknown node, two of three at once, or a quorum of live voters lost; a change one
// group refuses waits for the next step without holding the others up; a leaving node leaves meta:system last, and a
// reconciler that stops leading meta:system ends its step there. This runs on no cluster: the real ConfStates come
// with the Raft core's conf changes (m9-core).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { ClusterNodeRecord, ClusterNodeState } from '@kalam/kalamdb';

import { MembershipError, Reconciler, checkKnownNode, checkRemoval } from '../src/index.js';
import type { ConfChangeV2, ConfState, MembershipDriver, StepReport } from '../src/index.js';

const GROUPS = [0, 1, 2, 3, 4, 5];

class FakeGroups implements MembershipDriver {
  readonly confs = new Map<number, ConfState>();
  readonly lag = new Map<string, number>();
  readonly dead = new Set<number>();
  /** Groups whose leader refuses the next change (a new leader that has not committed in its term yet). */
  readonly refusing = new Set<number>();
  proposals = 0;

  constructor(voters: number[]) {
    for (const g of GROUPS)
      this.confs.set(g, { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false });
  }

  confState(g: number): ConfState {
    return this.confs.get(g)!;
  }

  proposeConfChange(g: number, cc: ConfChangeV2): Promise<ConfState> {
    this.proposals++;
    if (this.refusing.has(g)) {
      return Promise.reject(new Error(`group ${g}: leader of term 4 has not committed an entry of its term yet`));
    }
    let c = this.confState(g);
    assert.equal(c.votersOutgoing.length, 0, `group ${g}: a change proposed while one is in flight`);
    for (const ch of cc.changes) {
      const without = (xs: readonly number[]): number[] => xs.filter((x) => x !== ch.node);
      switch (ch.type) {
        case 'addLearner':
          c = { ...c, learners: [...without(c.learners), ch.node] };
          break;
        case 'addVoter':
          c = {
            ...c,
            votersOutgoing: c.voters,
            voters: [...c.voters, ch.node],
            learners: without(c.learners),
            autoLeave: true,
          };
          break;
        case 'remove':
          c = c.voters.includes(ch.node)
            ? { ...c, votersOutgoing: c.voters, voters: without(c.voters), autoLeave: true }
            : { ...c, learners: without(c.learners) };
          break;
      }
    }
    this.confs.set(g, c);
    return Promise.resolve(c);
  }

  learnerLag(g: number, node: number): Promise<number | null> {
    return Promise.resolve(this.lag.get(`${g}/${node}`) ?? 0);
  }

  isLive(node: number): boolean {
    return !this.dead.has(node);
  }

  /** The auto-leave: every joint configuration is left. */
  settle(): void {
    for (const [g, c] of this.confs)
      if (c.votersOutgoing.length > 0) this.confs.set(g, { ...c, votersOutgoing: [], autoLeave: false });
  }
}

class FakeList {
  nodes: ClusterNodeRecord[];
  constructor(states: Record<number, ClusterNodeState>) {
    this.nodes = Object.entries(states).map(([id, state]) => ({
      nodeId: Number(id),
      rpcAddr: `h:${id}`,
      apiAddr: `http://h:${id}`,
      state,
      createdAt: 0,
    }));
  }
  state(id: number): ClusterNodeState | undefined {
    return this.nodes.find((n) => n.nodeId === id)?.state;
  }
  setState = (id: number, from: ClusterNodeState, to: ClusterNodeState): Promise<void> => {
    const n = this.nodes.find((x) => x.nodeId === id);
    if (n?.state !== from) return Promise.reject(new Error(`CONFLICT: node ${id} is ${n?.state}, not ${from}`));
    this.nodes = this.nodes.map((x) => (x.nodeId === id ? { ...x, state: to } : x));
    return Promise.resolve();
  };
}

function reconciler(
  groups: FakeGroups,
  list: FakeList,
  catchingUpMax = 2,
  stillLeader?: () => boolean,
  metaGroup?: number,
): Reconciler {
  return new Reconciler({
    driver: groups,
    groups: GROUPS,
    promoteLagEntriesMax: 100,
    learnersCatchingUpPerNodeMax: catchingUpMax,
    nodes: () => list.nodes,
    setState: list.setState,
    ...(stillLeader === undefined ? {} : { stillLeader }),
    ...(metaGroup === undefined ? {} : { metaGroup }),
  });
}

const learnersOf = (groups: FakeGroups, id: number): number =>
  GROUPS.filter((g) => groups.confState(g).learners.includes(id)).length;

test('a joining node becomes a learner of every group, a bounded few at a time, then a voter of every group', async () => {
  const groups = new FakeGroups([1, 2, 3]);
  const list = new FakeList({ 1: 'voter', 2: 'voter', 3: 'voter', 4: 'joining' });
  // Node 4 is far behind in every group at first: it is added as a learner, but never promoted.
  for (const g of GROUPS) groups.lag.set(`${g}/4`, 5_000);
  const r = reconciler(groups, list);
  let report = await r.step();
  assert.equal(learnersOf(groups, 4), 2, 'at most two groups catching up at once');
  assert.deepEqual(
    report.changes.map((c) => c.change.type),
    ['addLearner', 'addLearner'],
  );
  report = await r.step();
  assert.equal(report.changes.length, 0, 'nothing more while both are behind');
  assert.equal(list.state(4), 'joining');

  // Group 0 catches up (within 100 entries): promoted, which frees a slot for the next group.
  groups.lag.set('0/4', 100);
  report = await r.step();
  assert.deepEqual(
    report.changes.map((c) => [c.group, c.change.type]),
    [
      [0, 'addVoter'],
      [2, 'addLearner'],
    ],
  );
  assert.deepEqual(groups.confState(0).votersOutgoing, [1, 2, 3], 'a joint configuration, left automatically');
  report = await r.step();
  assert.ok(
    report.waiting.some((w) => w.group === 0),
    'group 0 is left alone while its change is in flight',
  );
  groups.settle();

  // Everyone catches up: the node is a learner of every group, then a voter of every group.
  groups.lag.clear();
  for (let i = 0; i < 12 && list.state(4) !== 'voter'; i++) {
    await r.step();
    groups.settle();
    assert.ok(GROUPS.filter((g) => groups.confState(g).learners.includes(4)).length <= 2);
  }
  assert.equal(list.state(4), 'voter');
  for (const g of GROUPS) assert.deepEqual(groups.confState(g).voters, [1, 2, 3, 4]);
  const before = groups.proposals;
  report = await r.step();
  assert.deepEqual(report, { changes: [], states: [], waiting: [] } satisfies StepReport, 'idempotent');
  assert.equal(groups.proposals, before);
});

test('a new leader carries on from the replicated state alone, and a stale state change is refused', async () => {
  const groups = new FakeGroups([1, 2, 3]);
  const list = new FakeList({ 1: 'voter', 2: 'voter', 3: 'voter', 4: 'joining' });
  await reconciler(groups, list, 3).step();
  groups.settle();
  // The old leader dies here. A new reconciler (nothing carried over) finishes the job.
  const next = reconciler(groups, list, 3);
  for (let i = 0; i < 10 && list.state(4) !== 'voter'; i++) {
    await next.step();
    groups.settle();
  }
  assert.equal(list.state(4), 'voter');
  // A deposed leader that still thinks node 4 is a learner cannot move it: compare-and-set.
  await assert.rejects(list.setState(4, 'learner', 'voter'), /CONFLICT/);
});

test('a leaving node leaves every group while each keeps a quorum of live voters, then is removed', async () => {
  const groups = new FakeGroups([1, 2, 3, 4, 5]);
  const list = new FakeList({ 1: 'voter', 2: 'voter', 3: 'voter', 4: 'voter', 5: 'leaving' });
  groups.dead.add(3);
  groups.dead.add(4);
  const r = reconciler(groups, list);
  // Removing 5 would leave 1, 2, 3, 4 with only two live: no quorum. Every group waits.
  let report = await r.step();
  assert.equal(report.changes.length, 0);
  assert.equal(report.waiting.length, GROUPS.length);
  assert.match(report.waiting[0]!.why, /only 2 are live; 3 are needed/);
  groups.dead.delete(4);
  report = await r.step();
  assert.equal(report.changes.length, GROUPS.length);
  assert.equal(list.state(5), 'leaving', 'still in the joint configurations');
  groups.settle();
  await r.step();
  assert.equal(list.state(5), 'removed');
  for (const g of GROUPS) assert.deepEqual(groups.confState(g).voters, [1, 2, 3, 4]);
});

test('an operator removal is refused for an unknown node, two of three, and a lost quorum', () => {
  const voters = (ids: number[]): ConfState[] =>
    GROUPS.map(() => ({ voters: ids, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false }));
  const three = new FakeList({ 1: 'voter', 2: 'voter', 3: 'voter' }).nodes;
  const live = (): boolean => true;
  const code = (fn: () => unknown): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (err) {
      assert.ok(err instanceof MembershipError);
      return err.code;
    }
  };
  assert.equal(
    code(() => checkRemoval([9], three, voters([1, 2, 3]), live)),
    'NODE_NOT_FOUND',
  );
  // Before the list is seeded a member is not "not found": the answer says to retry (membership-cluster met it).
  assert.equal(
    code(() => checkRemoval([2], [], voters([1, 2, 3]), live)),
    'MEMBERS_NOT_SEEDED',
  );
  assert.equal(
    code(() => checkRemoval([2, 3], three, voters([1, 2, 3]), live)),
    'TOO_MANY_AT_ONCE',
  );
  assert.equal(
    code(() => checkRemoval([3], three, voters([1, 2, 3]), (n) => n !== 2)),
    'QUORUM_AT_RISK',
  );
  assert.deepEqual(
    checkRemoval([3], three, voters([1, 2, 3]), live).map((n) => n.nodeId),
    [3],
  );
  // One already leaving and another asked for: still two of three at once.
  const oneLeaving = new FakeList({ 1: 'voter', 2: 'voter', 3: 'leaving' }).nodes;
  assert.equal(
    code(() => checkRemoval([2], oneLeaving, voters([1, 2, 3]), live)),
    'TOO_MANY_AT_ONCE',
  );
  assert.equal(
    code(() => checkRemoval([3], oneLeaving, voters([1, 2, 3]), live)),
    'NODE_ALREADY_LEAVING',
  );
  // Five voters: two may go at once, three may not.
  const five = new FakeList({ 1: 'voter', 2: 'voter', 3: 'voter', 4: 'voter', 5: 'voter' }).nodes;
  assert.equal(checkRemoval([4, 5], five, voters([1, 2, 3, 4, 5]), live).length, 2);
  assert.equal(
    code(() => checkRemoval([3, 4, 5], five, voters([1, 2, 3, 4, 5]), live)),
    'TOO_MANY_AT_ONCE',
  );
  assert.equal(
    code(() => checkKnownNode(7, five)),
    'NODE_NOT_FOUND',
  );
  assert.equal(checkKnownNode(5, five).nodeId, 5);
});

// A group's leader may refuse a change for a moment (a leader just elected — e.g. the one the removed node handed
// its leadership to — has not committed in its term yet; no leader; a timeout): that group waits for the next step,
// and the others are not held up by it.
test("a change one group refuses leaves that group for the next step, not the other groups' changes", async () => {
  const groups = new FakeGroups([1, 2, 3, 4]);
  const list = new FakeList({ 1: 'leaving', 2: 'voter', 3: 'voter', 4: 'voter' });
  groups.refusing.add(GROUPS[1]!);
  const r = reconciler(groups, list);
  const report = await r.step();
  assert.deepEqual(
    report.changes.map((c) => c.group),
    GROUPS.filter((g) => g !== GROUPS[1]),
    'every other group changed in the same step',
  );
  assert.equal(report.waiting.length, 1);
  assert.equal(report.waiting[0]!.group, GROUPS[1]);
  assert.match(report.waiting[0]!.why, /has not committed an entry of its term/);
  groups.settle();
  groups.refusing.clear();
  await r.step();
  groups.settle();
  await r.step();
  assert.equal(list.state(1), 'removed');
  for (const g of GROUPS) assert.deepEqual(groups.confState(g).voters, [2, 3, 4]);
});

// A data group applies an entry only once this node's meta:system has applied the index the entry was planned
// against (kalamdb state/data.ts canApply), so a node out of meta:system can apply no newer data entry: as the
// leader of a data group it would hold that group's every later entry — writes and its own removal alike — unapplied
// and unanswered. A leaving node therefore leaves meta:system (GROUPS[0] here) last, once no other group has it.
test('a leaving node leaves meta:system last, only once no other group has it', async () => {
  const groups = new FakeGroups([1, 2, 3, 4]);
  const list = new FakeList({ 1: 'voter', 2: 'voter', 3: 'leaving', 4: 'voter' });
  groups.refusing.add(GROUPS[2]!);
  const r = reconciler(groups, list, 2, undefined, GROUPS[0]);
  let report = await r.step();
  assert.deepEqual(
    report.changes.map((c) => c.group),
    GROUPS.filter((g) => g !== GROUPS[0] && g !== GROUPS[2]),
    'not meta:system while another group (refusing this step) still has it',
  );
  assert.ok(
    report.waiting.some((w) => w.group === GROUPS[0] && /other groups/.test(w.why)),
    JSON.stringify(report),
  );
  groups.settle();
  groups.refusing.clear();
  report = await r.step();
  assert.deepEqual(
    report.changes.map((c) => c.group),
    [GROUPS[2]],
    'the refusing group; meta:system waits for it to leave its joint configuration',
  );
  groups.settle();
  report = await r.step();
  assert.deepEqual(
    report.changes.map((c) => c.group),
    [GROUPS[0]],
  );
  groups.settle();
  await r.step();
  assert.equal(list.state(3), 'removed');
  for (const g of GROUPS) assert.deepEqual(groups.confState(g).voters, [1, 2, 4]);
});

// The meta:system leader removing itself: every other group first, then meta:system — and from then on it is no
// longer the reconciler: the step ends there, and the next leader's reconciler marks it removed. Two reconcilers at
// once would race each other's changes group by group.
test('the meta:system leader removing itself leaves meta:system last, and the next leader marks it removed', async () => {
  const groups = new FakeGroups([1, 2, 3, 4]);
  const list = new FakeList({ 1: 'leaving', 2: 'voter', 3: 'voter', 4: 'voter' });
  const leads = (): boolean => groups.confState(GROUPS[0]!).voters.includes(1);
  const r = reconciler(groups, list, 2, leads, GROUPS[0]);
  let report = await r.step();
  assert.deepEqual(
    report.changes.map((c) => c.group),
    GROUPS.slice(1),
    'every other group first',
  );
  groups.settle();
  report = await r.step();
  assert.deepEqual(
    report.changes.map((c) => c.group),
    [GROUPS[0]],
    'then meta:system',
  );
  assert.deepEqual(report.states, [], 'no longer the reconciler: the state is not its to set');
  groups.settle();
  const next = reconciler(groups, list, 2, () => true, GROUPS[0]);
  await next.step();
  assert.equal(list.state(1), 'removed');
  for (const g of GROUPS) assert.deepEqual(groups.confState(g).voters, [2, 3, 4]);
});
