// What this proves: a node whose state machine applied further than the commit index raft.db holds (data.db kept
// entries 8 and 9 applied, the crash lost the write that carried commit 9, or commit 9 was never written: a change
// of the commit index alone is not fsynced) restarts with the core committed and applied as far as the state machine
// (9): applying only committed entries that were durable here, the state machine's applied index is a durable record
// of the commit. Before, the core restarted at the durable commit (7): a snapshot at 9 stopped the node (`snapshot at
// 9 beyond applied 7`, found by `kalam sim --kalam --seed 51` on m8-logw2), and once a snapshot had to wait for the
// core to catch up, a restarted leader whose followers needed a snapshot could neither build one nor commit without
// them (`kalam sim --kalam --seed 10`: 'leader n3 commit 11 < last 13' after healing). Entries 8 and 9 are not
// applied twice, and compaction may go up to 9.
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
  sync(): number {
    return this.applied; // in memory, it lives as long as the test
  }
  snapshot(): Uint8Array {
    return new Uint8Array([this.applied]);
  }
  restore(s: { index: number }): void {
    this.applied = s.index;
  }
}

test('a state machine ahead of the durable commit index: the core restarts committed as far as it applied', () => {
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
      compactLog: (g, off, offTerm) => store.compactLog(g, off, offTerm),
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

  driver.tick(); // a turn: the apply slice looks at the group's compaction threshold
  runSoon();
  assert.deepEqual(sm.seen, [], 'entries 8 and 9 were not applied twice');
  assert.equal(driver.status()[0]!.commitIndex, 9, 'the core starts committed as far as the state machine applied');
  assert.ok(store.load(1).offsetIndex <= 9);
  assert.equal(driver.status()[0]!.appliedIndex, 9, 'the state machine keeps what it applied');

  // The leader (node 2, term 5) says commit 9, which the core already had: nothing is applied again.
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
  assert.equal(driver.status()[0]!.appliedIndex, 9);
  assert.ok(store.load(1).offsetIndex <= 9);
  assert.equal(store.load(1).snapshot, undefined, 'compaction stores no snapshot');
  driver.stop();
  store.close();
});
