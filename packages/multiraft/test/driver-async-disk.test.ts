// What this proves: RaftDriver over a disk whose writes complete later (the simulator's, a slow fsync) — a
// proposal or a leadership transfer that arrives while a write is in progress waits for it and then goes on,
// instead of waiting forever (found by `kalam sim --kalam --seed 93`: a statement at a node that had just
// become leader in the middle of a write never answered) — and that the wait ends: at the request's deadline when
// the write never completes (a disk that hangs), at once with SHUTTING_DOWN when the node stops during it.
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
  /** Moves the clock on by `ms` and fires the timers (deadlines) that came due. */
  advance: (ms: number) => void;
} {
  const store = LogStore.open({ path: ':memory:', groupIds: [1] });
  const writes: { writes: readonly GroupWrite[]; done: () => void }[] = [];
  const soon: (() => void)[] = [];
  let now = 0;
  let timers: { at: number; fn: () => void }[] = [];
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
      // A deadline fires only when a test moves the clock (advance): until then a proposal that hangs shows as
      // one never answered.
      after: (ms, fn) => {
        const timer = { at: now + ms, fn };
        timers.push(timer);
        return () => (timers = timers.filter((t) => t !== timer));
      },
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
    advance: (ms) => {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.fn();
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

test('a proposal waiting for a write that never completes fails with TIMEOUT at its deadline', async () => {
  const n = slowDiskNode();
  n.driver.tick();
  n.runSoon();
  assert.ok(n.driver.isWriting(), 'the election write is in progress, and stays so (the disk hangs)');
  let outcome: unknown = 'pending';
  void n.driver.propose(1, new TextEncoder().encode('x'), { timeoutMs: 1_000 }).then(
    () => (outcome = 'applied'),
    (err: unknown) => (outcome = (err as { code?: string }).code),
  );
  for (let i = 0; i < 5; i++) await Promise.resolve();
  n.advance(999);
  for (let i = 0; i < 5; i++) await Promise.resolve();
  assert.equal(outcome, 'pending', 'still within its deadline');
  n.advance(1);
  for (let i = 0; i < 5; i++) await Promise.resolve();
  assert.equal(outcome, 'TIMEOUT');
  assert.deepEqual(n.sm.seen, [], 'nothing was proposed');
});

test('a proposal waiting for a write fails with SHUTTING_DOWN when the node stops during the write', async () => {
  const n = slowDiskNode();
  n.driver.tick();
  n.runSoon();
  assert.ok(n.driver.isWriting());
  let outcome: unknown = 'pending';
  void n.driver.propose(1, new TextEncoder().encode('x')).then(
    () => (outcome = 'applied'),
    (err: unknown) => (outcome = (err as { code?: string }).code),
  );
  for (let i = 0; i < 5; i++) await Promise.resolve();
  n.driver.stop();
  for (let i = 0; i < 5; i++) await Promise.resolve();
  assert.equal(outcome, 'SHUTTING_DOWN');
});
