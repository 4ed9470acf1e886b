/**
 * Membership changes (Raft thesis ch. 4, etcd's ConfChangeV2 and confchange/ rules). Proves: the configuration
 * rules (one voter per single step, joint configurations entered and left, nothing that removes every voter);
 * joint consensus — commits, elections, CheckQuorum and ReadIndex need a majority of both halves; learners get the
 * log and never count nor campaign; one change in flight at a time; changes take effect on apply; a leader outside
 * the new configuration hands leadership over once it applied it; a removed member cannot disrupt the group; the configuration
 * survives a restart (persisted, or replayed from the log) and travels in snapshots. How: the rules on plain
 * ConfStates, then in-memory networks of RawNodes (support/network.ts) driven through the changes with faults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfChangeV2, ConfState, NodeId, RawNode } from '../src/index.js';
import {
  ConfChangeType,
  LEAVE_JOINT,
  RaftError,
  StateRole,
  applyChange,
  confState,
  decodeConfChange,
  decodeConfState,
  encodeConfChange,
  encodeConfState,
  nodeId,
} from '../src/index.js';
import { committedIndex, voteResult } from '../src/confchange.js';
import { Network } from './support/network.js';

const n = (...xs: number[]): NodeId[] => xs.map(nodeId);
const add = (id: number): ConfChangeV2 => ({
  transition: 'auto',
  changes: [{ type: ConfChangeType.AddVoter, node: nodeId(id) }],
});
const learner = (id: number): ConfChangeV2 => ({
  transition: 'auto',
  changes: [{ type: ConfChangeType.AddLearner, node: nodeId(id) }],
});
const remove = (id: number): ConfChangeV2 => ({
  transition: 'auto',
  changes: [{ type: ConfChangeType.Remove, node: nodeId(id) }],
});
/** Replace `out` by `into` in one joint change (explicit: left only by LEAVE_JOINT). */
const replace = (out: number, into: number, transition: 'auto' | 'explicit'): ConfChangeV2 => ({
  transition,
  changes: [
    { type: ConfChangeType.AddVoter, node: nodeId(into) },
    { type: ConfChangeType.Remove, node: nodeId(out) },
  ],
});

function refusedWith(code: string): (err: unknown) => boolean {
  return (err) => err instanceof RaftError && err.code === code;
}

function conf(node: RawNode): { voters: number[]; outgoing: number[]; learners: number[] } {
  const c = node.confState();
  return { voters: [...c.voters], outgoing: [...c.votersOutgoing], learners: [...c.learners] };
}

/** A 3-node group with node 1 leading, PreVote and CheckQuorum on, and one command committed. */
function group(size = 3): Network {
  const net = new Network({ size, preVote: true, checkQuorum: true });
  net.campaign(1);
  net.propose(1, 'a');
  return net;
}

function change(net: Network, leader: number, cc: ConfChangeV2): void {
  net.node(leader).proposeConfChange(cc);
  net.deliver();
}

// -------------------------------------------------------------------------------------------------------
// The rules, on ConfStates

test('confchange: a single step adds or removes at most one voter (thesis §4.1)', () => {
  const c3 = confState(n(1, 2, 3));
  assert.deepEqual(applyChange(c3, add(4)).voters, n(1, 2, 3, 4));
  assert.deepEqual(applyChange(c3, remove(2)).voters, n(1, 3));
  const withLearner = applyChange(c3, learner(4));
  assert.deepEqual(withLearner.learners, n(4));
  assert.deepEqual(applyChange(withLearner, add(4)), confState(n(1, 2, 3, 4)), 'promoting a learner');
  // Two voter changes in one 'auto' change are not a single step: they enter a joint configuration instead.
  const two = applyChange(c3, replace(3, 4, 'auto'));
  assert.deepEqual([two.voters, two.votersOutgoing, two.autoLeave], [n(1, 2, 4), n(1, 2, 3), true]);
});

test('confchange: a change that leaves no voter is refused (a group must keep a quorum, thesis §4.1)', () => {
  assert.throws(() => applyChange(confState(n(1)), remove(1)), refusedWith('CONF_CHANGE_INVALID'));
  assert.throws(
    () =>
      applyChange(confState(n(1, 2)), {
        transition: 'explicit',
        changes: [
          { type: ConfChangeType.Remove, node: nodeId(1) },
          { type: ConfChangeType.Remove, node: nodeId(2) },
        ],
      }),
    refusedWith('CONF_CHANGE_INVALID'),
  );
});

test('confchange: joint configurations are entered once and left once (thesis §4.3)', () => {
  const c3 = confState(n(1, 2, 3));
  assert.throws(() => applyChange(c3, LEAVE_JOINT), refusedWith('CONF_CHANGE_INVALID'), 'leave when not joint');
  const joint = applyChange(c3, replace(3, 4, 'explicit'));
  assert.equal(joint.autoLeave, false);
  assert.throws(() => applyChange(joint, replace(2, 5, 'explicit')), refusedWith('CONF_CHANGE_INVALID'), 'joint twice');
  assert.throws(() => applyChange(joint, add(5)), refusedWith('CONF_CHANGE_INVALID'), 'simple change while joint');
  assert.deepEqual(applyChange(joint, LEAVE_JOINT), confState(n(1, 2, 4)));
});

test('confchange: a voter demoted while joint becomes a learner only when the joint state is left', () => {
  const joint = applyChange(confState(n(1, 2, 3)), {
    transition: 'explicit',
    changes: [{ type: ConfChangeType.AddLearner, node: nodeId(3) }],
  });
  assert.deepEqual([joint.voters, joint.votersOutgoing, joint.learnersNext], [n(1, 2), n(1, 2, 3), n(3)]);
  const left = applyChange(joint, LEAVE_JOINT);
  assert.deepEqual([left.voters, left.learners, left.learnersNext], [n(1, 2), n(3), []]);
});

test('confchange: conf changes and conf states survive their codecs', () => {
  const cc = replace(3, 4, 'explicit');
  assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  assert.deepEqual(decodeConfChange(encodeConfChange(LEAVE_JOINT)), LEAVE_JOINT);
  const joint = applyChange(confState(n(1, 2, 3)), cc);
  assert.deepEqual(decodeConfState(encodeConfState(joint)), joint);
  assert.throws(() => decodeConfChange(new Uint8Array([123, 125])), refusedWith('CONF_CHANGE_INVALID'));
});

test('joint quorum: commit index and votes need a majority of each half (thesis §4.3)', () => {
  const joint: ConfState = applyChange(confState(n(1, 2, 3)), {
    transition: 'explicit',
    changes: [
      { type: ConfChangeType.AddVoter, node: nodeId(4) },
      { type: ConfChangeType.AddVoter, node: nodeId(5) },
      { type: ConfChangeType.Remove, node: nodeId(2) },
      { type: ConfChangeType.Remove, node: nodeId(3) },
    ],
  }); // incoming {1,4,5}, outgoing {1,2,3}
  const match = new Map([
    [1, 10],
    [2, 10],
    [3, 2],
    [4, 3],
    [5, 2],
  ]);
  // Outgoing majority holds 10 (1, 2), incoming majority only 3 (1, 4): the joint commit index is 3.
  assert.equal(
    committedIndex(joint, (id) => match.get(id) ?? 0),
    3,
  );
  const votes = new Map<NodeId, boolean>([
    [nodeId(1), true],
    [nodeId(2), true],
  ]);
  assert.equal(voteResult(joint, votes), 'pending', 'a majority of the old half only');
  votes.set(nodeId(4), true);
  assert.equal(voteResult(joint, votes), 'won');
  votes.set(nodeId(4), false);
  votes.set(nodeId(5), false);
  assert.equal(voteResult(joint, votes), 'lost', 'the new half said no');
});

// -------------------------------------------------------------------------------------------------------
// Networks

test('§4.2.1 a change that would leave the group without a caught-up quorum is refused', () => {
  const net = group();
  net.cut(1, 3); // node 3 falls behind
  net.propose(1, 'b');
  assert.throws(() => net.node(1).proposeConfChange(remove(2)), refusedWith('CONF_CHANGE_INVALID'), '{1,3}: 3 lags');
  // Removing the laggard leaves a caught-up quorum: allowed.
  change(net, 1, remove(3));
  assert.deepEqual(conf(net.node(1)).voters, [1, 2]);
  // Promoting a learner that is far behind into a configuration that needs it for a quorum is refused too.
  net.addNode(4);
  net.isolate(4);
  change(net, 1, learner(4));
  assert.throws(() => net.node(1).proposeConfChange(replace(2, 4, 'auto')), refusedWith('CONF_CHANGE_INVALID'));
  net.recover();
  net.ticks(3);
  change(net, 1, replace(2, 4, 'auto')); // caught up now
  net.ticks(2);
  assert.deepEqual(conf(net.node(1)).voters, [1, 4]);
});

test('learners: a learner receives the log and applies it, never counts for commit and never campaigns', () => {
  const net = group();
  net.addNode(4);
  change(net, 1, learner(4));
  assert.deepEqual(conf(net.node(4)), { voters: [1, 2, 3], outgoing: [], learners: [4] });
  assert.deepEqual(net.applied(4), ['a'], 'the learner caught up from the log');
  net.propose(1, 'b');
  assert.deepEqual(net.applied(4), ['a', 'b']);
  // The two voters other than the leader are cut off: the learner's acknowledgement is not a quorum.
  net.cut(1, 2);
  net.cut(1, 3);
  const { index } = net.propose(1, 'c');
  assert.equal(net.storage.get(nodeId(4))!.entries.at(-1)?.index, index, 'the learner holds the entry');
  assert.ok(net.node(1).status().commit < index, 'yet it is not committed');
  // Leader gone: the learner never campaigns, however long it waits.
  net.recover();
  net.isolate(1);
  net.ticks(100, [4]);
  assert.equal(net.node(4).role(), StateRole.Follower);
  assert.equal(net.since(0, (m) => m.from === 4 && (m.type === 'MsgPreVote' || m.type === 'MsgVote')).length, 0);
  assert.throws(() => net.node(1).transferLeader(nodeId(4)), refusedWith('TRANSFER_REFUSED'));
});

test('§4.1 one change at a time: a second change is refused until the first is applied', () => {
  const net = group();
  net.addNode(4);
  net.cut(1, 2);
  net.cut(1, 3); // the first change cannot commit
  net.node(1).proposeConfChange(learner(4));
  net.deliver();
  assert.throws(() => net.node(1).proposeConfChange(add(4)), refusedWith('CONF_CHANGE_PENDING'));
  net.recover();
  net.ticks(3);
  assert.deepEqual(conf(net.node(1)).learners, [4]);
  change(net, 1, add(4)); // applied: the next one goes through
  assert.deepEqual(conf(net.node(1)).voters, [1, 2, 3, 4]);
});

test('§4.1 a new leader counts the unapplied conf entries of earlier terms as pending', () => {
  const net = group();
  net.addNode(4);
  net.node(1).proposeConfChange(learner(4));
  net.deliver();
  assert.deepEqual(conf(net.node(2)).learners, [4]);
  // Node 2 leads next; until its own no-op commits (and the older conf entries with it are applied), it
  // refuses a change — here everything is applied already, so it accepts.
  net.isolate(1);
  net.tickUntil(() => net.leader()?.id !== undefined && net.leader()!.id !== 1, 200, [2, 3, 4]);
  const lead = net.leader()!;
  lead.proposeConfChange(add(4));
  net.deliver();
  assert.deepEqual(conf(lead).voters, [1, 2, 3, 4]);
});

test('§4.1 (etcd) a change takes effect when applied, not when appended', () => {
  const net = group();
  net.addNode(4);
  net.cut(1, 2);
  net.cut(1, 3);
  net.node(1).proposeConfChange(add(4));
  net.deliver();
  assert.equal(net.storage.get(nodeId(1))!.entries.at(-1)?.kind, 'conf', 'appended and durable on the leader');
  assert.deepEqual(conf(net.node(1)).voters, [1, 2, 3], 'but not in force before it commits');
  net.recover();
  net.ticks(2);
  for (const id of [1, 2, 3, 4]) assert.deepEqual(conf(net.node(id)).voters, [1, 2, 3, 4], `node ${id}`);
});

test('§4.1 (etcd) a node that knows its demotion is committed applies it before it campaigns: never with the older configuration', () => {
  // Configurations take effect on apply, so a node restarted with committed conf entries not applied yet still
  // holds the configuration before them. Were it to campaign with that one, the demoted voters of the older
  // configuration could elect it over entries the new voters committed alone (simulator seed 33, 3 nodes).
  const net = group();
  change(net, 1, {
    transition: 'auto',
    changes: [
      { type: ConfChangeType.AddLearner, node: nodeId(2) },
      { type: ConfChangeType.AddLearner, node: nodeId(3) },
    ],
  });
  net.ticks(2);
  for (const id of [1, 2, 3]) assert.deepEqual(conf(net.node(id)), { voters: [1], outgoing: [], learners: [2, 3] });
  // Node 2 goes down knowing (durably) that both conf entries are committed, having applied neither durably.
  const s2 = net.storage.get(nodeId(2))!;
  const firstConf = s2.entries.find((e) => e.kind === 'conf')!.index;
  assert.ok(s2.hardState.commit > firstConf, 'the demotion is durably committed on node 2');
  net.crash(2);
  s2.confState = undefined;
  s2.confIndex = 0;
  s2.appliedIndex = firstConf - 1;
  // Node 1, the only voter, commits an entry alone and is cut off; node 2 comes back and is told to campaign.
  net.isolate(1);
  net.propose(1, 'only-on-1');
  assert.deepEqual(net.applied(1).at(-1), 'only-on-1', 'committed by the sole voter');
  net.restart(2);
  assert.deepEqual(conf(net.node(2)).voters, [1, 2, 3], 'the older configuration is the one it holds');
  net.node(2).campaign();
  net.deliver();
  assert.notEqual(net.node(2).role(), StateRole.Leader);
  assert.equal(net.node(2).role(), StateRole.Follower, 'it does not campaign with an unapplied committed change');
  net.ticks(60);
  for (const id of [2, 3]) assert.notEqual(net.node(id).role(), StateRole.Leader, `learner ${id} never leads`);
  assert.deepEqual(conf(net.node(2)), { voters: [1], outgoing: [], learners: [2, 3] }, 'applied once restarted');
  assert.deepEqual(net.safetyViolations(), []);
});

test('§4.3 joint consensus: while joint, an entry commits only with a majority of both configurations', () => {
  const net = group(3);
  net.addNode(4);
  net.addNode(5);
  change(net, 1, learner(4));
  change(net, 1, learner(5));
  // {1,2,3} → {1,4,5}, explicit so that the joint state stays.
  change(net, 1, {
    transition: 'explicit',
    changes: [
      { type: ConfChangeType.AddVoter, node: nodeId(4) },
      { type: ConfChangeType.AddVoter, node: nodeId(5) },
      { type: ConfChangeType.Remove, node: nodeId(2) },
      { type: ConfChangeType.Remove, node: nodeId(3) },
    ],
  });
  assert.deepEqual(conf(net.node(1)), { voters: [1, 4, 5], outgoing: [1, 2, 3], learners: [] });
  // The old configuration's other members are cut off: the new majority (1, 4, 5) alone does not commit.
  net.cut(1, 2);
  net.cut(1, 3);
  const x = net.propose(1, 'new-half-only').index;
  assert.ok(net.node(1).status().commit < x);
  net.recover();
  // Now the new half is cut off: the old half's acknowledgement completes x, not the entry after it.
  net.cut(1, 4);
  net.cut(1, 5);
  const y = net.propose(1, 'old-half-only').index;
  net.ticks(3);
  assert.ok(net.node(1).status().commit >= x, 'x: both majorities hold it');
  assert.ok(net.node(1).status().commit < y, 'y: only the old majority holds it');
  net.recover();
  net.ticks(3);
  assert.ok(net.node(1).status().commit >= y);
  // Left explicitly: the new configuration alone decides.
  change(net, 1, LEAVE_JOINT);
  assert.deepEqual(conf(net.node(1)), { voters: [1, 4, 5], outgoing: [], learners: [] });
  net.isolate(2);
  net.isolate(3);
  net.propose(1, 'new-config');
  assert.deepEqual(net.applied(5).at(-1), 'new-config');
  assert.deepEqual(net.safetyViolations(), []);
});

test('§4.3 joint consensus: an election needs a majority of both configurations', () => {
  const net = group(3);
  net.addNode(4);
  change(net, 1, learner(4));
  change(net, 1, replace(3, 4, 'explicit')); // incoming {1,2,4}, outgoing {1,2,3}
  // Nodes 2 and 4 are all that is left: a majority of the new half, not of the old one.
  net.isolate(1);
  net.isolate(3);
  net.ticks(60, [2, 4]);
  assert.notEqual(net.node(2).role(), StateRole.Leader);
  assert.notEqual(net.node(4).role(), StateRole.Leader);
  net.recover();
  net.isolate(1);
  net.tickUntil(() => [2, 3, 4].some((id) => net.node(id).role() === StateRole.Leader), 300, [2, 3, 4]);
  assert.deepEqual(net.electionSafetyViolations(), []);
});

test('auto-leave: an automatic joint change is left by the leader once applied (promote a learner, remove a voter)', () => {
  const net = group();
  net.addNode(4);
  change(net, 1, learner(4));
  change(net, 1, replace(3, 4, 'auto'));
  net.ticks(2);
  for (const id of [1, 2, 4]) {
    assert.deepEqual(conf(net.node(id)), { voters: [1, 2, 4], outgoing: [], learners: [] }, `node ${id}`);
  }
  net.propose(1, 'after');
  assert.deepEqual(net.applied(4).at(-1), 'after');
});

test('§4.2.2 a leader not in the new configuration hands over and steps down once it applied it', () => {
  const net = group();
  const termBefore = net.node(1).term();
  change(net, 1, remove(1));
  // It takes no more proposals, and hands leadership to a caught-up member of the new configuration.
  if (net.node(1).role() === StateRole.Leader) {
    assert.throws(() => net.node(1).propose(new Uint8Array([1])), refusedWith('LEADER_TRANSFER_IN_PROGRESS'));
  }
  net.tickUntil(() => [2, 3].some((id) => net.node(id).role() === StateRole.Leader), 30);
  net.ticks(2); // its next heartbeat meets the new term
  assert.equal(net.node(1).role(), StateRole.Follower, 'the removed leader stepped down');
  const lead = net.leader()!;
  assert.ok(lead.id === 2 || lead.id === 3);
  assert.ok(lead.term() > termBefore);
  net.propose(lead.id, 'without-1');
  assert.deepEqual(net.applied(lead.id === 2 ? 3 : 2).at(-1), 'without-1');
  // Node 1 is in no configuration now: it never campaigns again.
  net.ticks(100, [1]);
  assert.notEqual(net.node(1).role(), StateRole.Leader);
  assert.notEqual(net.node(1).role(), StateRole.PreCandidate);
});

test('§4.2.2 a leader whose pending change takes it out of the voters appends nothing after it, so the new voters can elect', () => {
  // Voters {1, 2} (3 a learner), leader 1 demotes itself. Were it to append commands after that conf entry, its log
  // would outgrow node 2's; once 1 applied its demotion and its hand-over was lost, node 2 — not knowing the change
  // committed, so still counting on 1's vote — would be refused by the longer log forever, and 1, a learner, never
  // campaigns (simulator seed 771, 3 nodes; etcd issue 12359 describes the family).
  const net = group();
  change(net, 1, learner(3));
  net.ticks(2);
  assert.deepEqual(conf(net.node(2)), { voters: [1, 2], outgoing: [], learners: [3] });
  const x = net.node(1).proposeConfChange(learner(1)).index;
  // Node 2 never hears that x committed, nor the hand-over, nor any entry after x.
  net.dropIf(
    (m) =>
      m.from === nodeId(1) &&
      (m.type === 'MsgTimeoutNow' ||
        ((m.type === 'MsgApp' || m.type === 'MsgHeartbeat') && m.commit >= x) ||
        (m.type === 'MsgApp' && m.entries.some((e) => e.index > x))),
  );
  assert.throws(
    () => net.node(1).propose(new TextEncoder().encode('after-demotion')),
    refusedWith('LEADER_TRANSFER_IN_PROGRESS'),
  );
  net.deliver();
  assert.deepEqual(conf(net.node(1)), { voters: [2], outgoing: [], learners: [1, 3] }, 'node 1 applied its demotion');
  assert.equal(net.node(2).status().commit < x, true, 'node 2 does not know it committed');
  net.tickUntil(() => net.leader()?.id === nodeId(2), 300);
  assert.equal(net.leader()?.id, nodeId(2), "node 2 is elected with node 1's vote");
  net.ticks(5);
  assert.deepEqual(conf(net.node(2)), { voters: [2], outgoing: [], learners: [1, 3] });
  assert.deepEqual(net.safetyViolations(), []);
});

test('§4.2.2 a leader leaving through a joint configuration keeps leading while joint, hands over on the leave', () => {
  const net = group();
  net.addNode(4);
  change(net, 1, learner(4));
  change(net, 1, replace(1, 4, 'explicit'));
  assert.deepEqual(conf(net.node(1)).outgoing, [1, 2, 3]);
  assert.equal(net.node(1).role(), StateRole.Leader, 'an outgoing voter still leads the joint configuration');
  net.recover();
  change(net, 1, LEAVE_JOINT);
  net.tickUntil(() => [2, 3, 4].some((id) => net.node(id).role() === StateRole.Leader), 30);
  net.ticks(2);
  assert.notEqual(net.node(1).role(), StateRole.Leader);
  assert.deepEqual(net.electionSafetyViolations(), []);
});

for (const preVote of [true, false]) {
  test(`§4.2.3 a removed member campaigning with a higher term does not depose the leader (PreVote ${preVote})`, () => {
    const net = new Network({ size: 3, preVote, checkQuorum: true });
    net.campaign(1);
    net.propose(1, 'a');
    // Node 3 never hears of its removal: it still believes it is a voter of {1,2,3}.
    net.isolate(3);
    change(net, 1, remove(3));
    assert.deepEqual(conf(net.node(1)).voters, [1, 2]);
    net.ticks(40, [3]); // its election timeouts pass; without PreVote its term climbs
    if (!preVote) assert.ok(net.node(3).term() > net.node(1).term());
    const term = net.node(1).term();
    net.recover();
    net.ticks(5, [3]); // it campaigns to the others now
    net.ticks(30);
    assert.equal(net.node(1).role(), StateRole.Leader, 'the leader of the new configuration stays');
    assert.equal(net.node(1).term(), term, 'and its term was not bumped by the removed node');
    net.propose(1, 'b');
    assert.deepEqual(net.applied(2), ['a', 'b']);
    assert.deepEqual(net.electionSafetyViolations(), []);
  });
}

test('CheckQuorum and ReadIndex count both halves of a joint configuration', () => {
  const net = group();
  net.addNode(4);
  change(net, 1, learner(4));
  change(net, 1, replace(3, 4, 'explicit')); // incoming {1,2,4}, outgoing {1,2,3}
  net.cut(1, 2);
  net.cut(1, 3); // the leader hears only node 4: the new half, not the old one
  net.readIndex(1, 'r1');
  assert.equal(net.readStates.get(nodeId(1))!.length, 0, 'no read point without the old half');
  net.ticks(25, [1, 4]);
  assert.notEqual(net.node(1).role(), StateRole.Leader, 'CheckQuorum stepped it down');
});

test('restart: the configuration is persisted with a Ready, and replayed from the log when that write was lost', () => {
  const net = group();
  net.addNode(4);
  change(net, 1, learner(4));
  change(net, 1, add(4));
  const s2 = net.storage.get(nodeId(2))!;
  assert.deepEqual(s2.confState?.voters, n(1, 2, 3, 4));
  net.crash(2);
  net.restart(2);
  assert.deepEqual(conf(net.node(2)).voters, [1, 2, 3, 4], 'from the persisted ConfState');
  // Lose the persisted configuration (a crash between the apply and the next write): the log has the entries.
  net.crash(3);
  const s3 = net.storage.get(nodeId(3))!;
  s3.confState = undefined;
  s3.confIndex = 0;
  net.restart(3);
  assert.deepEqual(conf(net.node(3)).voters, [1, 2, 3, 4], 'replayed from the applied conf entries');
  net.propose(1, 'b');
  assert.deepEqual(net.applied(3).at(-1), 'b');
  assert.deepEqual(net.safetyViolations(), []);
});

test('snapshots carry the configuration: a node added after compaction learns it from the snapshot', () => {
  const net = group();
  net.addNode(4);
  change(net, 1, learner(4));
  change(net, 1, add(4));
  net.addNode(5);
  net.isolate(5);
  change(net, 1, learner(5));
  for (let i = 0; i < 5; i++) net.propose(1, `x${i}`);
  const snap = net.compact(1);
  assert.deepEqual(snap.confState?.learners, n(5));
  net.recover();
  net.ticks(5);
  assert.deepEqual(conf(net.node(5)), { voters: [1, 2, 3, 4], outgoing: [], learners: [5] });
  assert.equal(net.storage.get(nodeId(5))!.snapshot?.index, snap.index, 'caught up by snapshot');
  assert.deepEqual(net.applied(5).at(-1), 'x4');
  change(net, 1, add(5));
  assert.deepEqual(conf(net.node(5)).voters, [1, 2, 3, 4, 5]);
  assert.deepEqual(net.safetyViolations(), []);
});

test('a node outside every configuration does not campaign, and is not heard unless it speaks as a leader', () => {
  const net = group();
  const outsider = net.addNode(9);
  net.ticks(50, [9]);
  assert.equal(outsider.role(), StateRole.Follower);
  assert.equal(net.since(0, (m) => m.from === 9).length, 0, 'it said nothing');
  // Its vote request to a member (as if it believed it was one) goes unanswered.
  const mark = net.mark();
  net.send({ type: 'MsgVote', from: nodeId(9), to: nodeId(2), term: 99, index: 99, logTerm: 99, transfer: true });
  assert.equal(net.since(mark, (m) => m.from === 2 && m.type === 'MsgVoteResp').length, 0);
  assert.equal(net.node(2).term(), net.node(1).term());
});
