// What this proves: RaftDriver over a disk whose writes complete later (the simulator's, a slow fsync) — a
// proposal or a leadership transfer that arrives while a write is in progress waits for it and then goes on,
// instead of waiting forever (found by `kalam sim --kalam --seed 93`: a statement at a node that had just
// become leader in the middle of a write never answered).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { LogStore } from '@kalam/log-store';
import type { GroupWrite } from '@kalam/log-store';
import { nodeId } from '@kalam/raft';
import type { AppliedEntry, StateMachine } from '../src/index.js';
import { RaftDriver, resolveTiming } from '../src/index.js';

class Counter implements StateMachine {
  applied = 0;
  readonly seen: string[] = [];
  apply(entries: readonly AppliedEntry[]): unknown[] {
    return entries.map((e) => {
      this.applied = e.index;
      if (e.kind !== 'command') return undefined;
      this.seen.push(new TextDecoder().decode(e.data));
      return this.seen.length;
    });
  }
  appliedIndex(): number {
    return this.applied;
  }
  sync(): number {
    return this.appliedIndex(); // in memory, it lives as long as the test
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(s: { index: number }): void {
    this.applied = s.index;
  }
}

/** A one-node driver whose disk completes each write only when `completeWrite` is called. */
function slowDiskNode(): {
  driver: RaftDriver;
  sm: Counter;
  pending: () => number;
  completeWrite: () => void;
  runSoon: () => void;
} {
  const store = LogStore.open({ path: ':memory:', groupIds: [1] });
  const writes: { writes: readonly GroupWrite[]; done: () => void }[] = [];
  const soon: (() => void)[] = [];
  let now = 0;
  const sm = new Counter();
  const driver = new RaftDriver({
    nodeId: nodeId(1),
    voters: [nodeId(1)],
    groups: [{ id: 1, name: 'g1', stateMachine: sm }],
    ticks: resolveTiming(undefined),
    seed: 1,
    storage: {
      load: (g) => store.load(g),
      write: (w, done) => writes.push({ writes: w, done }),
      compactLog: (g, off, offTerm) => store.compactLog(g, off, offTerm),
    },
    network: {
      send: () => undefined,
      flush: () => undefined,
      request: () => Promise.reject(new Error('no peers')),
      peerConnected: () => false,
    },
    clock: {
      now: () => now,
      // No deadline fires in this test: a proposal that hangs shows as one never answered.
      after: () => () => undefined,
      soon: (fn) => soon.push(fn),
    },
  });
  return {
    driver,
    sm,
    pending: () => writes.length,
    completeWrite: () => {
      const w = writes.shift();
      assert.ok(w !== undefined, 'a write is in progress');
      store.write(w.writes);
      now += 1;
      w.done();
    },
    runSoon: () => {
      for (let i = 0; i < 100 && soon.length > 0; i++) soon.shift()!();
    },
  };
}

/** Lets promise continuations run (they are microtasks; the driver's own work is in `runSoon`). */
async function settle(n: ReturnType<typeof slowDiskNode>): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await Promise.resolve();
    n.runSoon();
    while (n.pending() > 0) {
      n.completeWrite();
      await Promise.resolve();
      n.runSoon();
    }
  }
}

test('a proposal made while a write is in progress is proposed once the write completes', async () => {
  const n = slowDiskNode();
  n.driver.tick(); // a single member campaigns at once: its vote and no-op go to the disk
  n.runSoon();
  assert.equal(n.pending(), 1, 'the election write is in progress');
  assert.ok(n.driver.isWriting());
  let answer: unknown = 'none';
  void n.driver.propose(1, new TextEncoder().encode('x')).then((r) => (answer = r));
  await settle(n);
  assert.equal(answer, 1, 'the proposal was applied and answered');
  assert.deepEqual(n.sm.seen, ['x']);
});

test('several proposals queued behind one write are all answered, in order', async () => {
  const n = slowDiskNode();
  n.driver.tick();
  n.runSoon();
  assert.ok(n.driver.isWriting());
  const answers: unknown[] = [];
  for (const v of ['a', 'b', 'c']) void n.driver.propose(1, new TextEncoder().encode(v)).then((r) => answers.push(r));
  await settle(n);
  assert.deepEqual(answers, [1, 2, 3]);
  assert.deepEqual(n.sm.seen, ['a', 'b', 'c']);
});
