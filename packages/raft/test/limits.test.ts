// What this proves: every bound of limits.ts that a caller or a peer can hit surfaces as a typed
// LimitExceededError with a stable code — ENTRY_TOO_LARGE, UNCOMMITTED_LIMIT, INFLIGHT_LIMIT,
// MESSAGE_TOO_LARGE — and that a refused message or proposal changes nothing. Limit relations are asserted
// when a config is built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError, EntryKind, LimitExceededError, resolveLimits } from '../src/index.js';
import type { NodeId } from '../src/index.js';
import { Network, enc } from './support/network.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof LimitExceededError) return err.code;
    throw err;
  }
  return undefined;
}

test('a proposal larger than entryBytesMax is refused with ENTRY_TOO_LARGE', () => {
  const net = new Network({ size: 3, limits: { entryBytesMax: 100 } });
  net.campaign(1);
  assert.equal(
    codeOf(() => net.node(1).propose(new Uint8Array(101))),
    'ENTRY_TOO_LARGE',
  );
  assert.equal(
    codeOf(() => net.node(1).propose(new Uint8Array(100))),
    undefined,
  );
});

test('INFLIGHT_LIMIT: with every follower window full, no quorum can take entries, so proposals are refused', () => {
  const net = new Network({ size: 3, limits: { inflightMsgsMax: 2 } });
  net.campaign(1);
  net.propose(1, 'warm-up'); // followers move to Replicate
  net.ignore('MsgAppResp'); // acks are lost: windows fill up
  net.propose(1, 'a');
  net.propose(1, 'b');
  const before = net.node(1).raft.log.lastIndex();
  assert.equal(
    codeOf(() => net.node(1).propose(enc('c'))),
    'INFLIGHT_LIMIT',
  );
  assert.equal(net.node(1).raft.log.lastIndex(), before, 'a refused proposal appends nothing');
  net.recover();
  net.ticks(2); // heartbeats free the windows and the acks flow again
  assert.equal(
    codeOf(() => net.propose(1, 'c')),
    undefined,
  );
  net.ticks(2);
  assert.deepEqual(net.applied(3), ['warm-up', 'a', 'b', 'c']);
});

test('INFLIGHT_LIMIT needs a full window at more followers than the cluster can lose', () => {
  const net = new Network({ size: 5, limits: { inflightMsgsMax: 1 } });
  net.campaign(1);
  net.propose(1, 'warm-up');
  // Two of four followers stop acknowledging: a quorum (1, 4, 5) can still take entries.
  net.drop(2, 1, 1);
  net.drop(3, 1, 1);
  net.propose(1, 'a');
  assert.equal(
    codeOf(() => net.propose(1, 'b')),
    undefined,
  );
  // A third follower falls silent: now no quorum has room.
  net.drop(4, 1, 1);
  net.propose(1, 'c');
  assert.equal(
    codeOf(() => net.node(1).propose(enc('d'))),
    'INFLIGHT_LIMIT',
  );
});

test('a message larger than msgBytesMax is refused with MESSAGE_TOO_LARGE before it changes anything', () => {
  const net = new Network({ size: 3, limits: { entryBytesMax: 64, msgBytesMax: 256, snapshotChunkBytes: 64 } });
  net.campaign(1);
  const follower = net.node(2);
  const before = { term: follower.raft.term, last: follower.raft.log.lastIndex() };
  const term = net.node(1).raft.term;
  const entries = Array.from({ length: 4 }, (_, i) => ({
    term,
    index: before.last + 1 + i,
    kind: EntryKind.Command,
    data: new Uint8Array(64),
  }));
  const code = codeOf(() =>
    follower.step({
      type: 'MsgApp',
      from: 1 as NodeId,
      to: 2 as NodeId,
      term: term + 5,
      index: before.last,
      logTerm: follower.raft.log.lastTerm(),
      entries,
      commit: 0,
    }),
  );
  assert.equal(code, 'MESSAGE_TOO_LARGE');
  assert.equal(follower.raft.term, before.term, 'the oversized message did not move the term');
  assert.equal(follower.raft.log.lastIndex(), before.last);
});

test('limit relations are asserted when a config is built', () => {
  assert.throws(() => resolveLimits({ entryBytesMax: 1000, msgBytesMax: 1000 }), AssertionError);
  assert.throws(
    () => resolveLimits({ snapshotChunkBytes: 10_000, msgBytesMax: 5_000, entryBytesMax: 100 }),
    AssertionError,
  );
  assert.throws(() => resolveLimits({ inflightMsgsMax: 0 }), AssertionError);
  assert.doesNotThrow(() => resolveLimits({}));
});
