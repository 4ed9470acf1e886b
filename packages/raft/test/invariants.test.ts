/**
 * Invariants are asserted, not hoped for. Proves that the core throws AssertionError (code ASSERTION_FAILED,
 * never caught inside) when: the driver changes a node between ready() and advance(), or misuses the Ready
 * protocol; a message would truncate committed entries or commit past the log; two leaders meet in one term;
 * applied would pass commit or go back; a restored state or a limits object is inconsistent. And that well-formed
 * but stale messages that merely look dangerous (an append below the commit index) are answered harmlessly.
 * How: a RawNode or RaftLog is put in the state, the offending call is made, and the error class is checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, RaftConfig } from '../src/index.js';
import { AssertionError, Prng, RaftLog, RawNode, nodeId, resolveLimits } from '../src/index.js';
import { app, electAndCommitNoop, entries, logTerms, newRaft, take } from './support/fixtures.js';
import { enc } from './support/network.js';

const assertionFailed = (pattern?: RegExp) => (e: unknown) =>
  e instanceof AssertionError && e.code === 'ASSERTION_FAILED' && (pattern === undefined || pattern.test(e.message));

function rawNode(overrides: Partial<RaftConfig> = {}): RawNode {
  return new RawNode({
    id: nodeId(1),
    voters: [1, 2, 3].map(nodeId),
    electionTick: 10,
    heartbeatTick: 1,
    preVote: false,
    checkQuorum: false,
    random: new Prng(1),
    ...overrides,
  });
}

test('invariant: nothing may change a node between ready() and advance()', () => {
  const actions: [string, (n: RawNode) => void][] = [
    [
      'step',
      (n) => n.step({ type: 'MsgHeartbeat', from: nodeId(2), to: nodeId(1), term: 1, commit: 0, context: null }),
    ],
    ['tick', (n) => n.tick()],
    ['campaign', (n) => n.campaign()],
    ['propose', (n) => n.propose(enc('x'))],
    ['readIndex', (n) => n.readIndex('r')],
    ['transferLeader', (n) => n.transferLeader(nodeId(2))],
  ];
  for (const [name, act] of actions) {
    const n = rawNode();
    n.campaign();
    const rd = n.ready();
    assert.throws(() => act(n), assertionFailed(/between ready\(\) and advance\(\)/), name);
    n.advance(rd); // the driver may carry on once it has advanced
    assert.doesNotThrow(() => n.tick(), name);
  }
});

test('invariant: the Ready protocol — no second ready(), no hasReady(), no advance() without a Ready', () => {
  const n = rawNode();
  n.campaign();
  const rd = n.ready();
  assert.throws(() => n.ready(), assertionFailed());
  assert.throws(() => n.hasReady(), assertionFailed());
  n.advance(rd);
  assert.throws(() => n.advance(rd), assertionFailed());
});

test('invariant: a crafted append that would overwrite committed entries throws', () => {
  // Log (1,1) (2,1) (3,1), all committed. The append claims to follow (3,1) — which matches — but carries an
  // entry for index 2 of term 9: honouring it would truncate two committed entries.
  const r = newRaft({ log: [1, 1, 1], term: 9, commit: 3 });
  r.becomeFollower(9, nodeId(2));
  const forged = app({ from: 2, to: 1, term: 9, index: 3, logTerm: 1, entries: entries([9], 2), commit: 3 });
  assert.throws(() => r.step(forged), assertionFailed(/truncate committed/));
});

test('invariant: the log itself refuses to truncate committed entries', () => {
  const log = new RaftLog({
    offsetIndex: 0,
    offsetTerm: 0,
    entries: entries([1, 1, 1]),
    committed: 2,
    applied: 0,
    snapshot: undefined,
  });
  assert.throws(() => log.append(entries([2], 2)), assertionFailed(/truncate committed/));
  assert.throws(() => log.maybeAppend(1, 1, 3, entries([2, 2], 2)), assertionFailed(/truncate committed/));
  assert.doesNotThrow(() => log.append(entries([2], 3)), 'index 3 is not committed: it may be replaced');
});

test('a stale append reaching below the commit index is answered harmlessly, not applied', () => {
  const r = newRaft({ log: [1, 1, 1], term: 2, commit: 3 });
  r.becomeFollower(2, nodeId(2));
  // A well-formed append from prevIndex 1 with conflicting entries: the follower does not even look at them.
  r.step(app({ from: 2, to: 1, term: 2, index: 1, logTerm: 1, entries: entries([2, 2, 2], 2), commit: 3 }));
  assert.deepEqual(logTerms(r), [1, 1, 1]);
  assert.deepEqual(
    take(r).map((m) => [m.type, m.type === 'MsgAppResp' && m.reject, m.type === 'MsgAppResp' && m.index]),
    [['MsgAppResp', false, 3]],
  );
});

test('a heartbeat that would commit past the end of the log commits nothing and reports where the log ends', () => {
  // Only a follower that lost its log (a wiped data folder) can see this: the leader's match for it is
  // stale. Committing would apply entries it does not have; instead it tells the leader its last index.
  const r = newRaft({ log: [1, 1], term: 1 });
  r.becomeFollower(1, nodeId(2));
  const m: Message = { type: 'MsgHeartbeat', from: nodeId(2), to: nodeId(1), term: 1, commit: 5, context: null };
  r.step(m);
  assert.equal(r.log.committed, 0);
  const sent = [...r.msgs, ...r.msgsAfterPersist];
  const rejection = sent.find((x) => x.type === 'MsgAppResp');
  assert.ok(rejection?.type === 'MsgAppResp' && rejection.reject, 'a rejection went to the leader');
  assert.equal(rejection.rejectHint, 2);
});

test('invariant: a leader that hears from another leader of its own term throws (Election Safety)', () => {
  const r = newRaft();
  electAndCommitNoop(r);
  for (const m of [
    app({ from: 2, to: 1, term: r.term, index: 0, logTerm: 0 }),
    { type: 'MsgHeartbeat', from: nodeId(3), to: nodeId(1), term: r.term, commit: 0, context: null } as Message,
  ]) {
    assert.throws(() => r.step(m), assertionFailed(/in its own term/));
  }
});

test('invariant: a message addressed to another node throws', () => {
  const n = rawNode();
  const m: Message = { type: 'MsgHeartbeat', from: nodeId(2), to: nodeId(3), term: 1, commit: 0, context: null };
  assert.throws(() => n.step(m), assertionFailed());
});

test('invariant: applied never passes commit and never goes back', () => {
  const log = new RaftLog({
    offsetIndex: 0,
    offsetTerm: 0,
    entries: entries([1, 1, 1]),
    committed: 2,
    applied: 1,
    snapshot: undefined,
  });
  assert.throws(() => log.appliedTo(3), assertionFailed(/beyond commit/));
  assert.throws(() => log.appliedTo(0), assertionFailed(/goes back/));
  log.appliedTo(2);
  assert.equal(log.applied, 2);
});

test('invariant: compaction stays behind the applied index', () => {
  const n = rawNode({
    restore: {
      hardState: { term: 1, vote: nodeId(1), commit: 3 },
      offsetIndex: 0,
      offsetTerm: 0,
      entries: entries([1, 1, 1]),
      applied: 2,
    },
  });
  assert.throws(() => n.compact(3, enc('s')), assertionFailed(/beyond applied/));
  assert.doesNotThrow(() => n.compact(2, enc('s')));
});

test('invariant: inconsistent restored state and limits are refused at construction', () => {
  assert.throws(
    () =>
      rawNode({
        restore: {
          hardState: { term: 1, vote: nodeId(1), commit: 5 },
          offsetIndex: 0,
          offsetTerm: 0,
          entries: entries([1, 1]),
          applied: 0,
        },
      }),
    assertionFailed(/beyond last/),
  );
  // A node outside the founding voters is allowed since [M9] (a learner-in-waiting, membership.test.ts); a group
  // without any voter is not.
  assert.throws(() => rawNode({ voters: [] }), assertionFailed(/at least one founding voter/));
  assert.throws(() => resolveLimits({ entryBytesMax: 10, msgBytesMax: 5 }), assertionFailed());
  assert.throws(() => resolveLimits({ inflightMsgsMax: 0 }), assertionFailed());
});
