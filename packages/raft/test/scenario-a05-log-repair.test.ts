/**
 * Scenario A5 — log repair (Raft §5.3, Figure 7). Proves that followers with missing, extra or conflicting
 * suffixes converge on the leader's log; that backtracking skips a whole conflicting term per round trip (the
 * follower names its last entry of term ≤ the probe's, the leader skips to its own last entry of that term), so
 * repair costs one or two rejections, not one per entry; that committed entries are never truncated; and that
 * reordered and duplicated MsgApp / MsgAppResp are harmless. How: logs crafted with `load`, the exchange between
 * leader and follower read off the trace (one is kept as a golden transcript), and `hold`/`release` to replay
 * appends and acks backwards and twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '../src/index.js';
import { nodeId } from '../src/index.js';
import { app, entries, logTerms, newRaft, take } from './support/fixtures.js';
import { Network, render } from './support/network.js';

const between = (a: number, b: number) => (m: Message) => (m.from === a && m.to === b) || (m.from === b && m.to === a);
const rejections = (msgs: readonly Message[], from: number): number =>
  msgs.filter((m) => m.type === 'MsgAppResp' && m.from === from && m.reject).length;

/** Node 1 (leader-to-be, log `leader`) and node 2 (log `follower`); node 3 holds only the common prefix. */
function repairNet(o: { leader: number[]; follower: number[]; commit: number; term: number }): Network {
  const net = new Network({ size: 3 });
  net.load(1, { terms: o.leader, term: o.term, commit: o.commit });
  net.load(2, { terms: o.follower, term: o.term - 1, commit: o.commit });
  net.load(3, { terms: o.leader.slice(0, o.commit), term: o.term - 1, commit: o.commit });
  return net;
}

test('A5 (golden): Figure 7 (f) is repaired with one rejection by skipping terms 3 and 2 at once', () => {
  const net = repairNet({
    leader: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
    follower: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    commit: 3,
    term: 8,
  });
  const mark = net.mark();
  net.campaign(1);
  const transcript = net.since(mark, between(1, 2)).map(render).join('\n');
  assert.equal(
    transcript,
    `1→2 MsgVote t9 last=(10,6)
2→1 MsgVoteResp t9 grant
1→2 MsgApp t9 prev=(10,6) entries=[11:9] commit=3
2→1 MsgAppResp t9 reject index=10 hint=(10,3)
1→2 MsgApp t9 prev=(3,1) entries=[4:4 5:4 6:5 7:5 8:6 9:6 10:6 11:9] commit=3
2→1 MsgAppResp t9 accept index=11
1→2 MsgApp t9 prev=(11,9) entries=[] commit=11
2→1 MsgAppResp t9 accept index=11`,
  );
});

test('A5: every Figure 7 follower converges with at most two rejections, keeping its committed prefix', () => {
  const leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, follower] of Object.entries(followers)) {
    const net = repairNet({ leader, follower, commit: 3, term: 8 });
    const committedBefore = net.persistedLog(2).slice(0, 3);
    const mark = net.mark();
    net.campaign(1);
    assert.deepEqual(net.persistedLog(2), net.persistedLog(1), `(${name}) converged`);
    assert.deepEqual(net.persistedLog(2).slice(0, 3), committedBefore, `(${name}) committed prefix kept`);
    const rejected = rejections(net.since(mark), 2);
    assert.ok(rejected <= 2, `(${name}) ${rejected} rejections`);
    assert.deepEqual(net.safetyViolations(), []);
  }
});

test('A5: a 50-entry conflicting suffix costs one rejection, not fifty', () => {
  const net = repairNet({
    leader: [1, 1, ...Array<number>(50).fill(3)],
    follower: [1, 1, ...Array<number>(50).fill(2)],
    commit: 2,
    term: 3,
  });
  const mark = net.mark();
  net.campaign(1);
  const exchange = net.since(mark, between(1, 2));
  assert.equal(rejections(exchange, 2), 1);
  assert.ok(exchange.filter((m) => m.type === 'MsgApp').length <= 3, 'probe, repair, commit');
  assert.deepEqual(net.persistedLog(2), net.persistedLog(1));
  assert.deepEqual(
    net.persistedLog(2).map((e) => e.term),
    [1, 1, ...Array<number>(50).fill(3), 4],
  );
});

test('A5: a follower missing a 50-entry suffix gets it in one repair append', () => {
  const net = repairNet({ leader: [1, 1, ...Array<number>(50).fill(3)], follower: [1, 1], commit: 2, term: 3 });
  const mark = net.mark();
  net.campaign(1);
  const exchange = net.since(mark, between(1, 2));
  assert.equal(rejections(exchange, 2), 1);
  assert.deepEqual(net.persistedLog(2), net.persistedLog(1));
});

test('A5: an extra uncommitted suffix from an old leader of the same term is cut off', () => {
  // Node 2 holds five more term-3 entries than anyone else: the old leader wrote them to it alone.
  const net = repairNet({
    leader: [1, 1, 3, 3, 3],
    follower: [1, 1, 3, 3, 3, 3, 3, 3, 3, 3],
    commit: 2,
    term: 3,
  });
  net.campaign(1); // node 2 refuses (its log is longer), node 3 elects node 1
  net.propose(1, 'x');
  assert.deepEqual(net.persistedLog(2), net.persistedLog(1));
  assert.deepEqual(
    net.persistedLog(2).map((e) => e.term),
    [1, 1, 3, 3, 3, 4, 4],
  );
  assert.deepEqual(net.safetyViolations(), []);
});

function replicatingNet(): Network {
  const net = new Network({ size: 3 });
  net.campaign(1);
  net.propose(1, 'w'); // followers reach Replicate: appends now stream
  return net;
}

test('A5: appends delivered backwards and twice are harmless', () => {
  const net = replicatingNet();
  net.hold((m) => m.type === 'MsgApp' && m.to === 2);
  for (const v of ['a', 'b', 'c']) net.propose(1, v);
  // Three appends carrying entries, and after each commit (by node 3's ack) one carrying the commit index.
  const held = net.held.length;
  assert.equal(net.held.filter((m) => m.type === 'MsgApp' && m.entries.length > 0).length, 3);
  assert.equal(net.release({ reverse: true, duplicate: true }), held);
  net.ticks(2);
  assert.deepEqual(net.persistedLog(2), net.persistedLog(1));
  for (const id of net.ids) assert.deepEqual(net.applied(id), ['w', 'a', 'b', 'c']);
  assert.deepEqual(net.safetyViolations(), []);
});

test('A5: acknowledgements delivered backwards and twice never move a match index back', () => {
  const net = replicatingNet();
  net.hold((m) => m.type === 'MsgAppResp' && m.from === 2);
  for (const v of ['a', 'b', 'c']) net.propose(1, v);
  const acks = net.held.length;
  assert.ok(acks >= 3);
  const last = net.node(1).status().lastIndex;
  const matches: number[] = [];
  const leader = net.node(1);
  const step = leader.step.bind(leader);
  leader.step = (m) => {
    step(m);
    if (m.type === 'MsgAppResp' && m.from === 2) matches.push(leader.status().progress.get(nodeId(2))?.match ?? -1);
  };
  net.release({ reverse: true, duplicate: true });
  assert.equal(matches.length, 2 * acks);
  assert.deepEqual(
    matches,
    matches.map(() => last),
    'the newest ack arrives first; older ones change nothing',
  );
  net.propose(1, 'd');
  for (const id of net.ids) assert.deepEqual(net.applied(id), ['w', 'a', 'b', 'c', 'd']);
});

test('A5: a stale, shorter append never truncates entries it matches', () => {
  const r = newRaft();
  r.becomeFollower(1, nodeId(2));
  r.step(app({ from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: entries([1, 1, 1]) }));
  take(r);
  r.step(app({ from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: entries([1]) })); // an old duplicate
  assert.deepEqual(logTerms(r), [1, 1, 1]);
  assert.deepEqual(
    take(r).map((m) => [m.type, m.type === 'MsgAppResp' && m.index]),
    [['MsgAppResp', 1]],
    'it acknowledges what that append carried',
  );
});

test('A5: a duplicated rejection does not make the leader back off twice', () => {
  const net = repairNet({ leader: [1, 1, 2, 2, 2, 2], follower: [1, 1], commit: 2, term: 2 });
  net.hold((m) => m.type === 'MsgAppResp' && m.from === 2 && m.reject);
  net.campaign(1);
  assert.equal(net.held.length, 1);
  const mark = net.mark();
  net.release({ duplicate: true });
  const repairs = net.since(mark, (m) => m.type === 'MsgApp' && m.to === 2 && m.entries.length > 0);
  assert.equal(repairs.length, 1, 'one repair append, not two');
  assert.deepEqual(net.persistedLog(2), net.persistedLog(1));
});
