/**
 * Paper tests: each checks a few sentences of the Raft paper (https://raft.github.io/raft.pdf), of Diego
 * Ongaro's thesis for the extensions (leadership transfer §3.10, ReadIndex §6.4, PreVote §9.6, CheckQuorum
 * §6.2), after etcd-io/raft's raft_paper_test.go. Each test is init / act / check: a bare `Raft` is built
 * from a crafted durable state, driven by stepping hand-made messages, and its outgoing messages and state are
 * compared with what the paper says. The section is in every test name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, MsgSnap, NodeId } from '../src/index.js';
import { EntryKind, NONE, Prng, Raft, StateRole, nodeId } from '../src/index.js';
import {
  ack,
  acceptAndReply,
  app,
  electAndCommitNoop,
  electLeader,
  entries,
  ids,
  isType,
  logTerms,
  newRaft,
  persistAll,
  replicate,
  take,
} from './support/fixtures.js';
import { Network, enc } from './support/network.js';

const ET = 10; // election tick used throughout

// ---------------------------------------------------------------------------------------------------------
// §5.1 Terms

for (const role of ['follower', 'pre-candidate', 'candidate', 'leader'] as const) {
  test(`§5.1: a ${role} that sees a higher term becomes a follower of that term`, () => {
    const r = newRaft({ preVote: role === 'pre-candidate' });
    if (role === 'follower') r.becomeFollower(1, nodeId(2));
    if (role === 'pre-candidate' || role === 'candidate') r.hup(false);
    if (role === 'leader') electLeader(r);
    assert.equal(r.role, role);

    r.step(app({ from: 2, to: 1, term: 5, index: 0, logTerm: 0 }));

    assert.equal(r.term, 5);
    assert.equal(r.role, StateRole.Follower);
    assert.equal(r.lead, 2, 'a MsgApp names the leader');
  });
}

test('§5.1: a request with a stale term is ignored', () => {
  const r = newRaft({ log: [1, 2], term: 2, commit: 1 });
  r.step(app({ from: 2, to: 1, term: 1, index: 2, logTerm: 2, entries: entries([2], 3), commit: 3 }));
  assert.equal(r.term, 2);
  assert.deepEqual(logTerms(r), [1, 2], 'log unchanged');
  assert.equal(r.log.committed, 1, 'commit unchanged');
  assert.equal(r.lead, NONE);
  assert.deepEqual(take(r), [], 'no reply without CheckQuorum/PreVote');
});

// ---------------------------------------------------------------------------------------------------------
// §5.2 Leader election

test('§5.2: servers start up as followers', () => {
  const fresh = newRaft();
  assert.equal(fresh.role, StateRole.Follower);
  assert.equal(fresh.term, 0);
  const restarted = newRaft({ term: 7, vote: 3, log: [1, 7] });
  assert.equal(restarted.role, StateRole.Follower);
  assert.equal(restarted.term, 7);
  assert.equal(restarted.vote, 3);
});

test('§5.2: a leader sends heartbeats (no entries) to every follower each heartbeat interval', () => {
  const r = newRaft();
  electAndCommitNoop(r);
  r.propose(enc('uncommitted'));
  take(r);
  r.tick();
  assert.deepEqual(take(r), [
    { type: 'MsgHeartbeat', from: 1, to: 2, term: 1, commit: 1, context: null },
    { type: 'MsgHeartbeat', from: 1, to: 3, term: 1, commit: 1, context: null },
  ]);
});

for (const role of ['follower', 'candidate'] as const) {
  test(`§5.2: a ${role} that hears nothing for an election timeout starts an election`, () => {
    const r = newRaft();
    if (role === 'follower') r.becomeFollower(1, nodeId(2));
    else r.hup(false);
    take(r);
    for (let i = 1; i < 2 * ET; i++) r.tick();
    assert.equal(r.term, 2);
    assert.equal(r.role, StateRole.Candidate);
    assert.equal(r.vote, 1, 'votes for itself');
    assert.deepEqual(take(r), [
      { type: 'MsgVote', from: 1, to: 2, term: 2, index: 0, logTerm: 0, transfer: false },
      { type: 'MsgVote', from: 1, to: 3, term: 2, index: 0, logTerm: 0, transfer: false },
    ]);
  });
}

test('§5.2: one round of RequestVote wins, loses or stays undecided', () => {
  const cases: { size: number; votes: [number, boolean][]; role: string }[] = [
    { size: 1, votes: [], role: StateRole.Leader },
    {
      size: 3,
      votes: [
        [2, true],
        [3, true],
      ],
      role: StateRole.Leader,
    },
    { size: 3, votes: [[2, true]], role: StateRole.Leader },
    {
      size: 5,
      votes: [
        [2, true],
        [3, true],
        [4, true],
        [5, true],
      ],
      role: StateRole.Leader,
    },
    {
      size: 5,
      votes: [
        [2, true],
        [3, true],
      ],
      role: StateRole.Leader,
    },
    {
      size: 3,
      votes: [
        [2, false],
        [3, false],
      ],
      role: StateRole.Follower,
    },
    {
      size: 5,
      votes: [
        [2, false],
        [3, false],
        [4, false],
        [5, false],
      ],
      role: StateRole.Follower,
    },
    {
      size: 5,
      votes: [
        [2, true],
        [3, false],
        [4, false],
        [5, false],
      ],
      role: StateRole.Follower,
    },
    { size: 3, votes: [], role: StateRole.Candidate },
    { size: 5, votes: [[2, true]], role: StateRole.Candidate },
    {
      size: 5,
      votes: [
        [2, false],
        [3, false],
      ],
      role: StateRole.Candidate,
    },
  ];
  for (const [i, c] of cases.entries()) {
    const r = newRaft({ size: c.size });
    r.hup(false);
    for (const [from, granted] of c.votes) {
      r.step({ type: 'MsgVoteResp', from: from as NodeId, to: r.id, term: r.term, reject: !granted });
    }
    assert.equal(r.role, c.role, `case ${i}`);
    assert.equal(r.term, 1, `case ${i}`);
  }
});

test('§5.2: a follower votes for at most one candidate per term, first come first served', () => {
  const cases = [
    { vote: 0, candidate: 2, reject: false },
    { vote: 0, candidate: 3, reject: false },
    { vote: 2, candidate: 2, reject: false },
    { vote: 3, candidate: 3, reject: false },
    { vote: 2, candidate: 3, reject: true },
    { vote: 3, candidate: 2, reject: true },
  ];
  for (const c of cases) {
    const r = newRaft({ term: 1, vote: c.vote });
    r.step({ type: 'MsgVote', from: c.candidate as NodeId, to: r.id, term: 1, index: 0, logTerm: 0, transfer: false });
    const resp = { type: 'MsgVoteResp', from: 1, to: c.candidate, term: 1, reject: c.reject };
    // A granted vote is a promise: it may leave only once the vote is durable.
    assert.deepEqual(c.reject ? r.msgs : r.msgsAfterPersist, [resp], JSON.stringify(c));
    assert.deepEqual(c.reject ? r.msgsAfterPersist : r.msgs, [], JSON.stringify(c));
    assert.equal(r.vote, c.reject ? c.vote : c.candidate);
  }
});

test('§5.2: a candidate that hears from a leader of at least its term falls back to follower', () => {
  for (const term of [1, 2]) {
    const r = newRaft();
    r.hup(false);
    assert.equal(r.role, StateRole.Candidate);
    r.step(app({ from: 2, to: 1, term, index: 0, logTerm: 0 }));
    assert.equal(r.role, StateRole.Follower);
    assert.equal(r.term, term);
    assert.equal(r.lead, 2);
  }
});

for (const role of ['follower', 'candidate'] as const) {
  test(`§5.2: a ${role}'s election timeout is randomized over [et, 2et)`, () => {
    const r = newRaft();
    const seen = new Set<number>();
    for (let round = 0; round < 50 * ET; round++) {
      if (role === 'follower') r.becomeFollower(r.term + 1, nodeId(2));
      else r.hup(false);
      take(r);
      let elapsed = 0;
      do {
        r.tick();
        elapsed++;
      } while (take(r).length === 0 && elapsed < 4 * ET);
      seen.add(elapsed);
    }
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      Array.from({ length: ET }, (_, i) => ET + i),
    );
  });
}

test('§5.2: randomized timeouts make most elections start on one server only', () => {
  const rafts = ids(5).map((id) => newRaft({ id, size: 5, seed: id }));
  let conflicts = 0;
  for (let round = 0; round < 1000; round++) {
    for (const r of rafts) {
      r.becomeFollower(r.term + 1, NONE);
      take(r);
    }
    let timedOut = 0;
    for (let t = 0; t < 4 * ET && timedOut === 0; t++) {
      for (const r of rafts) {
        r.tick();
        if (take(r).length > 0) timedOut++;
      }
    }
    assert.ok(timedOut > 0);
    if (timedOut > 1) conflicts++;
  }
  assert.ok(conflicts / 1000 <= 0.3, `${conflicts} of 1000 rounds had several servers time out together`);
});

// ---------------------------------------------------------------------------------------------------------
// §5.3 Log replication

test('§5.3: a leader appends a proposal and sends it with the preceding index and term', () => {
  const r = newRaft();
  electAndCommitNoop(r);
  const li = r.log.lastIndex();
  r.propose(enc('some data'));
  assert.equal(r.log.lastIndex(), li + 1);
  assert.equal(r.log.committed, li);
  const entry = { term: 1, index: li + 1, kind: EntryKind.Command, data: enc('some data') };
  assert.deepEqual(take(r), [
    { type: 'MsgApp', from: 1, to: 2, term: 1, index: li, logTerm: 1, entries: [entry], commit: li },
    { type: 'MsgApp', from: 1, to: 3, term: 1, index: li, logTerm: 1, entries: [entry], commit: li },
  ]);
  assert.deepEqual(r.log.unstableEntries(), [entry], 'written to stable storage by the next Ready');
});

test('§5.3: a leader commits a replicated entry and tells followers the new commit index', () => {
  const r = newRaft();
  electAndCommitNoop(r);
  const li = r.log.lastIndex();
  r.propose(enc('some data'));
  for (const m of take(r).filter(isType('MsgApp'))) r.step(acceptAndReply(m));
  assert.equal(r.log.committed, li + 1);
  assert.deepEqual(
    r.log.nextCommittedEntries().map((e) => [e.index, e.term]),
    [[li + 1, 1]],
  );
  const msgs = take(r);
  assert.deepEqual(
    msgs.map((m) => [m.type, m.to, m.type === 'MsgApp' ? m.commit : -1]),
    [
      ['MsgApp', 2, li + 1],
      ['MsgApp', 3, li + 1],
    ],
  );
});

test('§5.3: an entry is committed once the leader has replicated it on a majority', () => {
  const cases: { size: number; acceptors: number[]; committed: boolean }[] = [
    { size: 1, acceptors: [], committed: true },
    { size: 3, acceptors: [], committed: false },
    { size: 3, acceptors: [2], committed: true },
    { size: 3, acceptors: [2, 3], committed: true },
    { size: 5, acceptors: [], committed: false },
    { size: 5, acceptors: [2], committed: false },
    { size: 5, acceptors: [2, 3], committed: true },
    { size: 5, acceptors: [2, 3, 4], committed: true },
    { size: 5, acceptors: [2, 3, 4, 5], committed: true },
  ];
  for (const c of cases) {
    const r = newRaft({ size: c.size });
    electAndCommitNoop(r);
    const li = r.log.lastIndex();
    r.propose(enc('some data'));
    persistAll(r);
    for (const m of take(r).filter(isType('MsgApp'))) {
      if (c.acceptors.includes(m.to)) r.step(acceptAndReply(m));
    }
    assert.equal(r.log.committed > li, c.committed, JSON.stringify(c));
  }
});

test("§5.3: committing an entry commits every preceding one, including earlier leaders' entries", () => {
  for (const log of [[], [2], [1, 2], [1]]) {
    const r = newRaft({ log, term: 2 });
    const noop = electLeader(r);
    r.propose(enc('some data'));
    persistAll(r);
    replicate(r, noop);
    const committed = r.log.nextCommittedEntries();
    assert.deepEqual(
      committed.map((e) => e.term),
      [...log, 3, 3],
      `log ${JSON.stringify(log)}`,
    );
    assert.equal(committed[committed.length - 1]?.kind, EntryKind.Command);
  }
});

test('§5.3: a follower applies entries once it learns they are committed, in log order', () => {
  const cases = [
    { terms: [1], commit: 1 },
    { terms: [1, 1], commit: 2 },
    { terms: [1, 1], commit: 1 },
  ];
  for (const c of cases) {
    const r = newRaft();
    r.becomeFollower(1, nodeId(2));
    const ents = entries(c.terms);
    r.step(app({ from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: ents, commit: c.commit }));
    assert.equal(r.log.committed, c.commit);
    assert.deepEqual(r.log.nextCommittedEntries(), ents.slice(0, c.commit));
  }
});

test('§5.3: a follower refuses an append whose previous entry it lacks, with a conflict hint', () => {
  // log: (1,1) (2,2), commit 1
  const cases = [
    { logTerm: 0, index: 0, resp: { index: 1, reject: false, rejectHint: 0, logTerm: 0 } }, // below commit
    { logTerm: 1, index: 1, resp: { index: 1, reject: false, rejectHint: 0, logTerm: 0 } }, // committed match
    { logTerm: 2, index: 2, resp: { index: 2, reject: false, rejectHint: 0, logTerm: 0 } }, // uncommitted match
    { logTerm: 1, index: 2, resp: { index: 2, reject: true, rejectHint: 1, logTerm: 1 } }, // term mismatch
    { logTerm: 3, index: 3, resp: { index: 3, reject: true, rejectHint: 2, logTerm: 2 } }, // missing entry
  ];
  for (const c of cases) {
    const r = newRaft({ log: [1, 2], commit: 1 });
    r.becomeFollower(2, nodeId(2));
    r.step(app({ from: 2, to: 1, term: 2, index: c.index, logTerm: c.logTerm }));
    assert.deepEqual(take(r), [{ type: 'MsgAppResp', from: 1, to: 2, term: 2, ...c.resp }], JSON.stringify(c));
  }
});

test('§5.3: a follower deletes a conflicting suffix and appends the new entries', () => {
  const cases = [
    { index: 2, logTerm: 2, ents: entries([3], 3), log: [1, 2, 3], unstable: [3] },
    { index: 1, logTerm: 1, ents: entries([3, 4], 2), log: [1, 3, 4], unstable: [3, 4] },
    { index: 0, logTerm: 0, ents: entries([1], 1), log: [1, 2], unstable: [] },
    { index: 0, logTerm: 0, ents: entries([3], 1), log: [3], unstable: [3] },
  ];
  for (const c of cases) {
    const r = newRaft({ log: [1, 2] });
    r.becomeFollower(2, nodeId(2));
    r.step(app({ from: 2, to: 1, term: 2, index: c.index, logTerm: c.logTerm, entries: c.ents }));
    assert.deepEqual(logTerms(r), c.log, JSON.stringify(c));
    assert.deepEqual(
      r.log.unstableEntries().map((e) => e.term),
      c.unstable,
      'only the new entries are written',
    );
  }
});

test('§5.3, Figure 7: a leader brings every follower log (a)–(f) into line with its own', () => {
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, log] of Object.entries(followers)) {
    const net = new Network({ size: 3 });
    net.load(1, { terms: leaderLog, term: 8, commit: 3 });
    net.load(2, { terms: log, term: 7, commit: 3 });
    net.load(3, { terms: [], term: 7 }); // gives node 1 the vote that (c) and (d) refuse
    net.campaign(1);
    assert.equal(net.node(1).raft.role, StateRole.Leader, name);
    net.propose(1, 'new');
    const leader = net.persistedLog(1);
    assert.deepEqual(net.persistedLog(2), leader, `follower (${name})`);
    assert.deepEqual(net.persistedLog(3), leader);
    assert.deepEqual(
      leader.map((e) => e.term),
      [...leaderLog, 9, 9],
    );
  }
});

// ---------------------------------------------------------------------------------------------------------
// §5.4 Safety

test('§5.4.1: a vote request carries the index and term of the candidate’s last entry', () => {
  for (const c of [
    { terms: [1], term: 2 },
    { terms: [1, 2], term: 3 },
  ]) {
    const r = newRaft();
    r.step(app({ from: 2, to: 1, term: c.term - 1, index: 0, logTerm: 0, entries: entries(c.terms) }));
    take(r);
    for (let i = 1; i < 2 * ET; i++) r.tick();
    const votes = take(r);
    assert.equal(votes.length, 2);
    for (const [i, m] of votes.entries()) {
      assert.equal(m.type, 'MsgVote');
      assert.equal(m.to, i + 2);
      assert.equal(m.term, c.term);
      assert.ok(m.type === 'MsgVote');
      assert.equal(m.index, c.terms.length);
      assert.equal(m.logTerm, c.terms[c.terms.length - 1]);
    }
  }
});

test('§5.4.1: a voter denies its vote to a candidate whose log is less up to date than its own', () => {
  const cases = [
    // same last term: the longer log wins
    { log: [1], logTerm: 1, index: 1, reject: false },
    { log: [1], logTerm: 1, index: 2, reject: false },
    { log: [1, 1], logTerm: 1, index: 1, reject: true },
    // candidate's last term is higher: it wins whatever the lengths
    { log: [1], logTerm: 2, index: 1, reject: false },
    { log: [1], logTerm: 2, index: 2, reject: false },
    { log: [1, 1], logTerm: 2, index: 1, reject: false },
    // voter's last term is higher: it refuses whatever the lengths
    { log: [2], logTerm: 1, index: 1, reject: true },
    { log: [2], logTerm: 1, index: 2, reject: true },
    { log: [2, 2], logTerm: 1, index: 1, reject: true },
    { log: [1, 1], logTerm: 1, index: 1, reject: true },
  ];
  for (const c of cases) {
    const r = newRaft({ size: 2, log: c.log });
    r.step({
      type: 'MsgVote',
      from: nodeId(2),
      to: r.id,
      term: 3,
      index: c.index,
      logTerm: c.logTerm,
      transfer: false,
    });
    const msgs = take(r);
    assert.equal(msgs.length, 1);
    assert.ok(msgs[0]?.type === 'MsgVoteResp');
    assert.equal(msgs[0].reject, c.reject, JSON.stringify(c));
  }
});

test('§5.4.2: a leader commits by counting replicas only entries of its current term', () => {
  for (const c of [
    { acked: 1, committed: 0 },
    { acked: 2, committed: 0 },
    { acked: 3, committed: 3 },
  ]) {
    const r = newRaft({ size: 2, log: [1, 2], term: 2 });
    electLeader(r); // term 3; its no-op is entry 3
    r.propose(enc('x'));
    persistAll(r);
    r.step(ack(2, r, c.acked));
    assert.equal(r.log.committed, c.committed, JSON.stringify(c));
  }
});

// ---------------------------------------------------------------------------------------------------------
// §7 Log compaction (InstallSnapshot)

function snap(o: { index: number; term: number; data?: Uint8Array; leaderTerm: number }): MsgSnap {
  const data = o.data ?? enc('state');
  return {
    type: 'MsgSnap',
    from: nodeId(2),
    to: nodeId(1),
    term: o.leaderTerm,
    snapshot: { index: o.index, term: o.term },
    offset: 0,
    totalBytes: data.length,
    data,
  };
}

test('§7: a snapshot whose last entry is in the follower log keeps the entries after it', () => {
  const r = newRaft({ log: [1, 1, 1, 2, 2], term: 2, commit: 2 });
  r.becomeFollower(2, nodeId(2));
  r.step(snap({ index: 3, term: 1, leaderTerm: 2 }));
  assert.deepEqual(logTerms(r), [1, 1, 1, 2, 2], 'log retained');
  assert.equal(r.log.committed, 3);
  assert.equal(r.log.pendingSnapshot, undefined, 'nothing to install');
  assert.deepEqual(take(r), [
    { type: 'MsgAppResp', from: 1, to: 2, term: 2, index: 3, reject: false, rejectHint: 0, logTerm: 0 },
  ]);
});

test('§7: a snapshot that conflicts with the follower log replaces the whole log', () => {
  const r = newRaft({ log: [1, 1, 1, 2, 2], term: 3, commit: 2 });
  r.becomeFollower(3, nodeId(2));
  r.step(snap({ index: 4, term: 3, leaderTerm: 3 }));
  assert.equal(r.log.firstIndex(), 5);
  assert.equal(r.log.lastIndex(), 4);
  assert.equal(r.log.committed, 4);
  assert.equal(r.log.pendingSnapshot?.index, 4, 'the application installs it next');
  assert.deepEqual(take(r), [
    { type: 'MsgAppResp', from: 1, to: 2, term: 3, index: 4, reject: false, rejectHint: 0, logTerm: 0 },
  ]);
});

// ---------------------------------------------------------------------------------------------------------
// Thesis §3.10 Leadership transfer

test('thesis §3.10: a leader sends TimeoutNow at once to an up-to-date transferee', () => {
  const r = newRaft();
  electAndCommitNoop(r);
  r.transferLeader(nodeId(2));
  assert.deepEqual(take(r), [{ type: 'MsgTimeoutNow', from: 1, to: 2, term: 1 }]);
  assert.equal(r.leadTransferee, 2);
});

test('thesis §3.10: a leader first catches a lagging transferee up, then sends TimeoutNow', () => {
  const r = newRaft();
  electAndCommitNoop(r);
  r.propose(enc('x'));
  persistAll(r);
  const apps = take(r).filter(isType('MsgApp'));
  const to2 = apps.find((m) => m.to === 2);
  assert.ok(to2);
  r.step(acceptAndReply(to2)); // node 3 never answered: it lags
  take(r);
  r.transferLeader(nodeId(3));
  const catchUp = take(r);
  assert.ok(!catchUp.some((m) => m.type === 'MsgTimeoutNow'), 'no TimeoutNow while the transferee lags');
  r.step(ack(3, r, r.log.lastIndex()));
  assert.ok(take(r).some((m) => m.type === 'MsgTimeoutNow' && m.to === 3));
});

test('thesis §3.10: TimeoutNow makes a follower campaign at once, skipping PreVote, past the lease', () => {
  const r = newRaft({ preVote: true, checkQuorum: true, term: 1 });
  r.becomeFollower(1, nodeId(2));
  r.step({ type: 'MsgTimeoutNow', from: nodeId(2), to: r.id, term: 1 });
  assert.equal(r.role, StateRole.Candidate);
  assert.equal(r.term, 2);
  const votes = take(r);
  assert.deepEqual(
    votes.map((m) => [m.type, m.type === 'MsgVote' && m.transfer]),
    [
      ['MsgVote', true],
      ['MsgVote', true],
    ],
  );
  // A voter that hears from the old leader still grants a vote marked as a transfer.
  const voter = newRaft({ id: 3, checkQuorum: true, term: 1 });
  voter.becomeFollower(1, nodeId(2));
  const vote = votes.find((m) => m.to === 3);
  assert.ok(vote);
  voter.step(vote);
  assert.equal(voter.term, 2);
  assert.deepEqual(take(voter), [{ type: 'MsgVoteResp', from: 3, to: 1, term: 2, reject: false }]);
});

// ---------------------------------------------------------------------------------------------------------
// Thesis §6.4 ReadIndex

test('thesis §6.4: a leader refuses reads until it has committed an entry of its term', () => {
  const r = newRaft();
  electLeader(r);
  r.readIndex('early');
  assert.deepEqual(r.readStates, [{ context: 'early', status: 'rejected', reason: 'NOT_COMMITTED_IN_TERM' }]);
});

test('thesis §6.4: a read index is the commit index, confirmed by a heartbeat quorum', () => {
  const r = newRaft();
  electAndCommitNoop(r);
  r.readStates = [];
  r.readIndex('r1');
  assert.deepEqual(
    take(r).map((m) => [m.type, m.to, m.type === 'MsgHeartbeat' ? m.context : null]),
    [
      ['MsgHeartbeat', 2, 'r1'],
      ['MsgHeartbeat', 3, 'r1'],
    ],
  );
  assert.deepEqual(r.readStates, [], 'not before a quorum confirms leadership');
  r.step({ type: 'MsgHeartbeatResp', from: nodeId(2), to: r.id, term: r.term, context: 'r1' });
  assert.deepEqual(r.readStates, [{ context: 'r1', status: 'ok', index: r.log.committed }]);
});

// ---------------------------------------------------------------------------------------------------------
// Thesis §9.6 PreVote

test('thesis §9.6: a pre-candidate asks for the next term without taking it', () => {
  const r = newRaft({ preVote: true, term: 1 });
  r.becomeFollower(1, nodeId(2));
  for (let i = 1; i < 2 * ET; i++) r.tick();
  assert.equal(r.role, StateRole.PreCandidate);
  assert.equal(r.term, 1, 'term unchanged');
  assert.equal(r.vote, NONE, 'vote unchanged');
  assert.deepEqual(
    take(r).map((m) => [m.type, m.to, m.term]),
    [
      ['MsgPreVote', 2, 2],
      ['MsgPreVote', 3, 2],
    ],
  );
  r.step({ type: 'MsgPreVoteResp', from: nodeId(2), to: r.id, term: 2, reject: false });
  assert.equal(r.role, StateRole.Candidate, 'a quorum of pre-votes starts the real election');
  assert.equal(r.term, 2);
  assert.deepEqual(
    take(r).map((m) => [m.type, m.term]),
    [
      ['MsgVote', 2],
      ['MsgVote', 2],
    ],
  );
});

test('thesis §9.6: granting a pre-vote changes neither the voter’s term nor its vote', () => {
  const r = newRaft({ preVote: true, term: 1, log: [1] });
  r.step({ type: 'MsgPreVote', from: nodeId(3), to: r.id, term: 2, index: 1, logTerm: 1, transfer: false });
  assert.equal(r.term, 1);
  assert.equal(r.vote, NONE);
  assert.deepEqual(take(r), [{ type: 'MsgPreVoteResp', from: 1, to: 3, term: 2, reject: false }]);
});

test('thesis §9.6: a pre-candidate refused by a majority returns to follower in the same term', () => {
  const r = newRaft({ preVote: true, term: 4, log: [1] });
  r.hup(false);
  assert.equal(r.role, StateRole.PreCandidate);
  r.step({ type: 'MsgPreVoteResp', from: nodeId(2), to: r.id, term: 4, reject: true });
  r.step({ type: 'MsgPreVoteResp', from: nodeId(3), to: r.id, term: 4, reject: true });
  assert.equal(r.role, StateRole.Follower);
  assert.equal(r.term, 4);
});

// ---------------------------------------------------------------------------------------------------------
// Thesis §6.2 CheckQuorum

test('thesis §6.2 (CheckQuorum): a leader that hears from no quorum for an election timeout steps down', () => {
  const r = newRaft({ checkQuorum: true });
  electAndCommitNoop(r); // the acks mark 2 and 3 active for the first round
  for (let i = 0; i < 2 * ET - 1; i++) r.tick();
  assert.equal(r.role, StateRole.Leader, 'first round: the no-op acks count');
  r.tick();
  assert.equal(r.role, StateRole.Follower);
  assert.equal(r.term, 1, 'stepping down does not change the term');
  assert.equal(r.lead, NONE);
});

test('thesis §6.2 (CheckQuorum): a leader that hears from a quorum keeps leading', () => {
  const r = newRaft({ checkQuorum: true });
  electAndCommitNoop(r);
  for (let i = 0; i < 10 * ET; i++) {
    r.tick();
    take(r);
    r.step({ type: 'MsgHeartbeatResp', from: nodeId(2), to: r.id, term: r.term, context: null });
  }
  assert.equal(r.role, StateRole.Leader);
});

test('thesis §6.2 (CheckQuorum): a follower that hears from a leader ignores vote requests', () => {
  const r = newRaft({ checkQuorum: true, term: 1, log: [1] });
  r.becomeFollower(1, nodeId(2));
  const vote: Message = { type: 'MsgVote', from: nodeId(3), to: r.id, term: 2, index: 5, logTerm: 1, transfer: false };
  r.step(vote);
  assert.equal(r.term, 1);
  assert.deepEqual(take(r), [], 'not even a refusal: the candidate must not learn anything');
  const fresh = newRaft({ checkQuorum: true, term: 1, log: [1] });
  fresh.becomeFollower(1, nodeId(2));
  fresh.electionElapsed = ET; // no word from the leader for an election timeout
  fresh.step(vote);
  assert.equal(fresh.term, 2);
  assert.deepEqual(take(fresh), [{ type: 'MsgVoteResp', from: 1, to: 3, term: 2, reject: false }]);
});

test('the seeded PRNG gives the same timeouts for the same seed and different ones otherwise', () => {
  const timeouts = (seed: number): number[] => {
    const r = new Raft({
      id: nodeId(1),
      voters: ids(3),
      electionTick: ET,
      heartbeatTick: 1,
      preVote: false,
      checkQuorum: false,
      random: new Prng(seed),
    });
    return Array.from({ length: 20 }, () => {
      r.becomeFollower(r.term + 1, NONE);
      return r.randomizedElectionTimeout;
    });
  };
  assert.deepEqual(timeouts(42), timeouts(42));
  assert.notDeepEqual(timeouts(42), timeouts(43));
  for (const t of timeouts(7)) assert.ok(t >= ET && t < 2 * ET);
});
