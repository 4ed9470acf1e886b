// What this proves: heartbeats of many groups to one peer travel as one coalesced envelope and expand
// back to the same messages; malformed envelopes are rejected instead of reaching the core; millisecond
// timing turns into sane ticks and bad timing names the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, NodeId } from '@kalam/raft';
import { COALESCED_GROUP, coalesce, expand, resolveTiming, validateMessage } from '../src/index.js';

const n = (x: number): NodeId => x as NodeId;

test('36 groups of heartbeats to a peer become one envelope and expand back', () => {
  const msgs: { groupId: number; msg: Message }[] = [];
  for (let g = 0; g < 36; g++) {
    msgs.push({ groupId: g, msg: { type: 'MsgHeartbeat', from: n(1), to: n(2), term: 3, commit: g, context: null } });
    msgs.push({ groupId: g, msg: { type: 'MsgHeartbeat', from: n(1), to: n(3), term: 3, commit: g, context: null } });
  }
  const out = coalesce(msgs);
  assert.equal(out.get(n(2))?.length, 1);
  assert.equal(out.get(n(3))?.length, 1);
  const env = out.get(n(2))![0]!;
  assert.equal(env.groupId, COALESCED_GROUP);
  const back = expand(n(1), n(2), env.msg);
  assert.deepEqual(
    back,
    msgs.filter((m) => m.msg.to === 2),
  );
});

test('heartbeats that carry a read context and other messages are not coalesced', () => {
  const msgs: { groupId: number; msg: Message }[] = [
    { groupId: 5, msg: { type: 'MsgHeartbeat', from: n(1), to: n(2), term: 3, commit: 1, context: 'r1' } },
    { groupId: 6, msg: { type: 'MsgVote', from: n(1), to: n(2), term: 3, index: 1, logTerm: 1, transfer: false } },
    { groupId: 7, msg: { type: 'MsgHeartbeatResp', from: n(1), to: n(2), term: 3, context: null } },
  ];
  const out = coalesce(msgs).get(n(2))!;
  assert.equal(out.length, 3);
  assert.deepEqual(out[0], { groupId: 5, msg: msgs[0]!.msg });
  assert.equal(out[2]!.groupId, COALESCED_GROUP);
});

test('malformed coalesced and raft messages are refused', () => {
  assert.equal(expand(n(1), n(2), { type: 'Heartbeats', items: [[1, 2]] }), undefined);
  assert.equal(expand(n(1), n(2), { type: 'Heartbeats', items: [[1, -2, 3]] }), undefined);
  assert.equal(expand(n(1), n(2), { type: 'Nope', items: [] }), undefined);
  assert.equal(expand(n(1), n(2), null), undefined);
  const good = { type: 'MsgApp', from: 1, to: 2, term: 1, index: 0, logTerm: 0, commit: 0, entries: [] };
  assert.ok(validateMessage(good, n(1), n(2)));
  assert.equal(validateMessage({ ...good, from: 3 }, n(1), n(2)), undefined, 'from must be the authenticated peer');
  assert.equal(validateMessage({ ...good, to: 3 }, n(1), n(2)), undefined);
  assert.equal(
    validateMessage({ ...good, entries: [{ term: 1, index: 1, kind: 'command', data: 'x' }] }, n(1), n(2)),
    undefined,
  );
  assert.equal(validateMessage({ ...good, type: 'MsgEvil' }, n(1), n(2)), undefined);
  assert.equal(validateMessage({ ...good, term: -1 }, n(1), n(2)), undefined);
  assert.equal(validateMessage('garbage', n(1), n(2)), undefined);
  // A snapshot chunk: the follower allocates the announced size, so it is bounded, and no chunk may pass it.
  const chunk = {
    type: 'MsgSnap',
    from: 1,
    to: 2,
    term: 1,
    snapshot: { index: 5, term: 1 },
    offset: 4,
    totalBytes: 8,
    data: new Uint8Array(4),
  };
  assert.ok(validateMessage(chunk, n(1), n(2)));
  assert.equal(validateMessage({ ...chunk, offset: 5 }, n(1), n(2)), undefined, 'a chunk beyond the announced size');
  // A shard of 1 GB makes a snapshot past raft.db's old blob bound (512 MiB): it travels through files now, so its
  // chunks must pass (they were refused, and a follower needing one never caught up).
  assert.ok(validateMessage({ ...chunk, totalBytes: 1_100_000_000 }, n(1), n(2)), 'a 1.1 GB snapshot');
  assert.equal(validateMessage({ ...chunk, totalBytes: 2 ** 40 + 1 }, n(1), n(2)), undefined, 'beyond the bound');
});

test('timing in milliseconds becomes ticks; bad values name the key', () => {
  assert.deepEqual(resolveTiming(undefined), { tickMs: 100, heartbeatTick: 1, electionTick: 3, electionTickMax: 5 });
  assert.deepEqual(
    resolveTiming({ tickMs: 50, heartbeatIntervalMs: 100, electionTimeoutMinMs: 300, electionTimeoutMaxMs: 450 }),
    {
      tickMs: 50,
      heartbeatTick: 2,
      electionTick: 6,
      electionTickMax: 9,
    },
  );
  assert.deepEqual(
    resolveTiming({ tickMs: 100, heartbeatIntervalMs: 100, electionTimeoutMinMs: 300, electionTimeoutMaxMs: 500 }),
    {
      tickMs: 100,
      heartbeatTick: 1,
      electionTick: 3,
      electionTickMax: 5,
    },
  );
  assert.throws(() => resolveTiming({ tickMs: 0 }), /tickMs/);
  assert.throws(() => resolveTiming({ electionTimeoutMinMs: 50 }), /electionTimeoutMinMs/);
  assert.throws(() => resolveTiming({ electionTimeoutMaxMs: 200 }), /electionTimeoutMaxMs/);
});
