/**
 * The planted-bug switches (RaftConfig.plantedBugs) really plant their bug. For each switch, one small
 * deterministic scenario is played twice — switch off, then on — and must be safe off and show the violation
 * on: an acknowledged (applied) entry missing from a later leader's log, two leaders in one term, or committed
 * entries that disagree between nodes. These are the failures the simulator and the checkers must catch, so
 * each is also shown at the level of a single node where it is visible in one step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeId, PlantedBugs } from '../src/index.js';
import { PLANTED_BUGS, StateRole, nodeId } from '../src/index.js';
import { ack, electLeader, newRaft, persistAll, take } from './support/fixtures.js';
import { Network } from './support/network.js';
import { figure8D, figure8UpToC } from './support/scenarios.js';

test('every planted bug has a test below', () => {
  assert.deepEqual(
    [...PLANTED_BUGS],
    ['commitOldTermByCount', 'grantSecondVote', 'skipUpToDateCheck', 'ackBeforePersist', 'jointCommitIncomingOnly'],
  );
});

/** Does some node's applied command sit at an index where `leader`'s log holds a different entry? */
function lostAcknowledgedWrite(net: Network, leader: number, value: string): boolean {
  const applied = net.ids.flatMap((id) => net.storage.get(id)!.applied.filter((a) => a.data === value));
  const log = net.node(leader).raft.log;
  return applied.some((a) => log.term(a.index) !== a.term);
}

// commitOldTermByCount ------------------------------------------------------------------------------------

for (const on of [false, true]) {
  test(`commitOldTermByCount ${on ? 'on: Figure 8 loses a committed entry' : 'off: Figure 8 is safe'}`, () => {
    const net = figure8UpToC(on ? { commitOldTermByCount: true } : undefined);
    // Phase (c): 'a' (term 1) is on a majority under a term-3 leader.
    assert.equal(net.node(1).status().commit, on ? 2 : 1);
    assert.deepEqual(net.applied(1), on ? ['a'] : []);
    figure8D(net); // node 5 takes over and overwrites index 2
    assert.equal(lostAcknowledgedWrite(net, 5, 'a'), on);
    assert.equal(net.safetyViolations().length > 0, on, net.safetyViolations().join('; '));
  });
}

test('commitOldTermByCount: a leader commits an old-term entry the moment a majority holds it', () => {
  for (const on of [false, true]) {
    const r = newRaft({ size: 3, log: [1, 2], term: 2, plantedBugs: { commitOldTermByCount: on } });
    electLeader(r); // term 3
    r.step(ack(2, r, 2)); // entry 2 (term 2) is now on a majority
    assert.equal(r.log.committed, on ? 2 : 0);
  }
});

// grantSecondVote -----------------------------------------------------------------------------------------

for (const on of [false, true]) {
  test(`grantSecondVote ${on ? 'on: two leaders in one term' : 'off: one leader per term'}`, () => {
    const bugs: PlantedBugs | undefined = on ? { grantSecondVote: true } : undefined;
    const net = new Network({ size: 3, ...(bugs !== undefined ? { plantedBugs: bugs } : {}) });
    net.cut(2, 3);
    net.ignore('MsgApp'); // keep node 1's log empty, so only the vote rule decides
    net.campaign(2); // node 1 votes for 2 in term 1
    assert.equal(net.node(2).raft.role, StateRole.Leader);
    net.campaign(3); // also term 1: asks node 1 again
    assert.equal(net.node(3).raft.role === StateRole.Leader, on);
    assert.deepEqual(net.electionSafetyViolations(), on ? [{ term: 1, leaders: [2, 3] }] : []);
  });
}

test('grantSecondVote: a voter grants a second vote in the same term', () => {
  for (const on of [false, true]) {
    const r = newRaft({ plantedBugs: { grantSecondVote: on } });
    for (const from of [2, 3]) {
      r.step({ type: 'MsgVote', from: from as NodeId, to: r.id, term: 1, index: 0, logTerm: 0, transfer: false });
    }
    const granted = take(r).filter((m) => m.type === 'MsgVoteResp' && !m.reject);
    assert.deepEqual(
      granted.map((m) => m.to),
      on ? [2, 3] : [2],
    );
  }
});

// skipUpToDateCheck ---------------------------------------------------------------------------------------

for (const on of [false, true]) {
  test(`skipUpToDateCheck ${on ? 'on: a stale node leads and loses a committed write' : 'off: the stale node cannot lead'}`, () => {
    const net = new Network({ size: 3, ...(on ? { plantedBugs: { skipUpToDateCheck: true } } : {}) });
    net.campaign(1);
    net.isolate(3);
    net.propose(1, 'committed'); // on 1 and 2, applied by both
    assert.deepEqual(net.applied(1), ['committed']);
    net.crash(1);
    net.recover();
    net.campaign(3); // node 3 missed the write
    assert.equal(net.node(3).raft.role === StateRole.Leader, on);
    if (on) {
      net.propose(3, 'next');
      assert.equal(lostAcknowledgedWrite(net, 3, 'committed'), true);
      assert.notDeepEqual(net.safetyViolations(), []);
    } else {
      net.tickUntil(() => net.leader() !== undefined, 60);
      net.propose(net.leader()!.id, 'next');
      assert.deepEqual(net.applied(3), ['committed', 'next']);
      assert.deepEqual(net.safetyViolations(), []);
    }
  });
}

test('skipUpToDateCheck: a voter grants a candidate whose log is behind', () => {
  for (const on of [false, true]) {
    const r = newRaft({ log: [1, 1, 1], term: 1, plantedBugs: { skipUpToDateCheck: on } });
    r.step({ type: 'MsgVote', from: nodeId(2), to: r.id, term: 2, index: 1, logTerm: 1, transfer: false });
    const resp = take(r)[0];
    assert.ok(resp?.type === 'MsgVoteResp');
    assert.equal(resp.reject, !on);
  }
});

// ackBeforePersist ----------------------------------------------------------------------------------------

for (const on of [false, true]) {
  test(`ackBeforePersist ${on ? 'on: an ack for a write lost in a crash commits it' : 'off: a crash before the write loses nothing acknowledged'}`, () => {
    const net = new Network({ size: 3, ...(on ? { plantedBugs: { ackBeforePersist: true } } : {}) });
    net.campaign(1);
    net.cut(1, 3);
    net.crashBeforePersist(2); // node 2 dies before its next write is durable
    net.propose(1, 'a');
    assert.ok(net.down.has(nodeId(2)));
    assert.equal(
      net.persistedLog(2).some((e) => e.data === 'a'),
      false,
      "node 2's copy of 'a' never reached its disk",
    );
    assert.deepEqual(net.applied(1), on ? ['a'] : [], on ? 'committed on a lost ack' : 'not committed');
    // The leader dies; node 2 restarts from its disk and, with node 3, elects a leader that never saw 'a'.
    net.crash(1);
    net.restart(2);
    net.recover();
    net.campaign(2);
    assert.equal(net.node(2).raft.role, StateRole.Leader);
    net.propose(2, 'b');
    assert.equal(lostAcknowledgedWrite(net, 2, 'a'), on);
    assert.equal(net.safetyViolations().length > 0, on);
  });
}

test('ackBeforePersist: acks and votes leave before the write, and a leader counts its own unsynced entry', () => {
  for (const on of [false, true]) {
    const follower = newRaft({ plantedBugs: { ackBeforePersist: on } });
    follower.step({
      type: 'MsgVote',
      from: nodeId(2),
      to: follower.id,
      term: 1,
      index: 0,
      logTerm: 0,
      transfer: false,
    });
    assert.equal(follower.msgs.length, on ? 1 : 0, 'vote sent early');
    assert.equal(follower.msgsAfterPersist.length, on ? 0 : 1);

    const leader = newRaft({ plantedBugs: { ackBeforePersist: on } });
    electLeader(leader);
    persistAll(leader);
    leader.propose(new Uint8Array([1])); // index 2, not yet durable on the leader
    leader.step(ack(2, leader, 2));
    assert.equal(leader.log.committed, on ? 2 : 1, 'only with the bug does an unsynced entry count');
  }
});

// jointCommitIncomingOnly ---------------------------------------------------------------------------------

for (const on of [false, true]) {
  test(`jointCommitIncomingOnly ${on ? 'on: a joint leader commits without the old majority' : 'off: joint commits need both majorities'}`, () => {
    const bugs: PlantedBugs | undefined = on ? { jointCommitIncomingOnly: true } : undefined;
    const net = new Network({
      size: 3,
      preVote: true,
      checkQuorum: true,
      ...(bugs !== undefined ? { plantedBugs: bugs } : {}),
    });
    net.addNode(4);
    net.addNode(5);
    net.campaign(1);
    for (const [type, node] of [
      ['addLearner', 4],
      ['addLearner', 5],
    ] as const) {
      net.node(1).proposeConfChange({ transition: 'auto', changes: [{ type, node: nodeId(node) }] });
      net.deliver();
    }
    // {1,2,3} → {1,4,5}, explicit: the joint state stays until left.
    net.node(1).proposeConfChange({
      transition: 'explicit',
      changes: [
        { type: 'addVoter', node: nodeId(4) },
        { type: 'addVoter', node: nodeId(5) },
        { type: 'remove', node: nodeId(2) },
        { type: 'remove', node: nodeId(3) },
      ],
    });
    net.deliver();
    // The old half's other members hear nothing more; the new half acknowledges 'x'.
    net.cut(1, 2);
    net.cut(1, 3);
    const x = net.propose(1, 'x');
    assert.equal(net.node(1).status().commit >= x.index, on, 'committed by the new majority alone');
    assert.deepEqual(net.applied(1).includes('x'), on);
    // With the bug, 'x' is applied though nodes 2 and 3 — a majority of the old half, which may still elect a
    // leader without it while they have not applied the joint entry — never saw it.
    assert.equal(
      net.persistedLog(2).some((e) => e.data === 'x'),
      false,
    );
  });
}
