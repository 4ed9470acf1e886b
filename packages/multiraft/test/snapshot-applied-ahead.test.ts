// What this proves: a node whose state machine applied further than the commit index raft.db holds (data.db kept
// entries 8 and 9 applied, the crash lost the write that carried commit 9, or commit 9 was never written: a change
// of the commit index alone is not fsynced) restarts with the core's applied index at the durable commit (7) and
// takes no snapshot beyond it — the core refuses one (`snapshot at 9 beyond applied 7`, an AssertionError that
// stopped the node; found by `kalam sim --kalam --seed 51` on m8-logw2). Once the leader tells it commit 9 and the
// core has applied that far (the state machine skips 8 and 9 as replays), the snapshot is taken.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { LogStore } from '@kalam/log-store';
import type { Entry, Message } from '@kalam/raft';
import { nodeId } from '@kalam/raft';
import type { AppliedEntry, StateMachine } from '../src/index.js';
import { RaftDriver, resolveTiming } from '../src/index.js';

class Counter implements StateMachine {
  applied: number;
  readonly seen: number[] = [];
  constructor(applied: number) {
    this.applied = applied;
  }
  apply(entries: readonly AppliedEntry[]): unknown[] {
    return entries.map((e) => {
      if (e.index <= this.applied) return undefined; // a replay
      this.applied = e.index;
      this.seen.push(e.index);
      return undefined;
    });
  }
  appliedIndex(): number {
    return this.applied;
  }
  snapshot(): Uint8Array {
    return new Uint8Array([this.applied]);
  }
  restore(s: { index: number }): void {
    this.applied = s.index;
  }
}

test('a state machine ahead of the durable commit index: no snapshot until the core has applied that far', () => {
  const store = LogStore.open({ path: ':memory:', groupIds: [1] });
  const entries: Entry[] = [];
  for (let i = 1; i <= 9; i++) entries.push({ term: 5, index: i, kind: 'command', data: new Uint8Array([i]) });
  store.write([{ groupId: 1, entries, hardState: { term: 5, vote: nodeId(2), commit: 7 } }]);
  const sm = new Counter(9);
  let now = 0;
  const soon: (() => void)[] = [];
  const driver = new RaftDriver({
    nodeId: nodeId(1),
    voters: [nodeId(1), nodeId(2), nodeId(3)],
    groups: [{ id: 1, name: 'g1', stateMachine: sm }],
    ticks: resolveTiming(undefined),
    seed: 1,
    snapshotThreshold: 5,
    snapshotKeepEntries: 0,
    storage: {
      load: (g) => store.load(g),
      write: (w, done) => {
        store.write(w);
        done();
      },
      compact: (g, snap, off, offTerm) => store.compact(g, snap, off, offTerm),
    },
    network: {
      send: () => undefined,
      flush: () => undefined,
      request: () => Promise.reject(new Error('no peers')),
      peerConnected: () => true,
    },
    clock: { now: () => now, after: () => () => undefined, soon: (fn) => soon.push(fn) },
  });
  const runSoon = (): void => {
    for (let i = 0; i < 100 && soon.length > 0; i++) soon.shift()!();
  };

  driver.tick(); // a turn: the apply slice looks at the group's snapshot threshold
  runSoon();
  assert.equal(driver.stats.snapshotsTaken, 0, 'no snapshot beyond the core applied index (7)');
  assert.equal(driver.status()[0]!.appliedIndex, 9, 'the state machine keeps what it applied');

  // The leader (node 2, term 5) says commit 9: the core applies 8 and 9 (replays the state machine skips), and
  // the snapshot at 9 is taken in the same turn.
  const heartbeat: Message = {
    type: 'MsgApp',
    from: nodeId(2),
    to: nodeId(1),
    term: 5,
    index: 9,
    logTerm: 5,
    entries: [],
    commit: 9,
  };
  driver.deliver(nodeId(2), [{ groupId: 1, from: nodeId(2), to: nodeId(1), msg: heartbeat }]);
  now += 1;
  runSoon();
  assert.deepEqual(sm.seen, [], 'entries 8 and 9 were not applied twice');
  assert.equal(driver.stats.snapshotsTaken, 1, 'the snapshot is taken once the core has applied 9');
  assert.equal(store.load(1).snapshot?.index, 9);
  driver.stop();
  store.close();
});
