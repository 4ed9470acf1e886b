// What this proves: a group applies its committed entries in bounded slices (issue [M6] §3: one driver turn once
// applied ~9 MB and held the node's timer back for a second) — one state-machine batch holds at most the byte budget
// (but always one entry, whatever its size), entries keep their order and are each applied once, canApply is asked
// once per entry however many slices the queue takes, and a paused entry (cross-group order) stops the slice.
// How: GroupRuntime over a recording state machine; no RawNode is needed for applying.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Entry, RawNode } from '@kalam/raft';
import { EntryKind } from '@kalam/raft';
import { GroupRuntime } from '../src/group.js';
import type { AppliedEntry, StateMachine } from '../src/state-machine.js';

class Recorder implements StateMachine {
  readonly batches: number[][] = [];
  readonly asked: number[] = [];
  applied = 0;
  pausedFrom = Infinity;
  apply(entries: readonly AppliedEntry[]): unknown[] {
    this.batches.push(entries.map((e) => e.index));
    this.applied = entries[entries.length - 1]?.index ?? this.applied;
    return entries.map(() => undefined);
  }
  appliedIndex(): number {
    return this.applied;
  }
  sync(): number {
    return this.appliedIndex(); // in memory, it lives as long as the test
  }
  snapshot(): Uint8Array {
    return new Uint8Array();
  }
  restore(): void {}
  canApply(entry: AppliedEntry): boolean {
    this.asked.push(entry.index);
    return entry.index < this.pausedFrom;
  }
}

function entries(from: number, count: number, bytes: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    term: 1,
    index: from + i,
    kind: EntryKind.Command,
    data: new Uint8Array(bytes),
  }));
}

function group(sm: Recorder): GroupRuntime {
  return new GroupRuntime(100, 'data:user:00', {} as RawNode, sm, 0);
}

test('a slice holds at most the byte budget, and always one entry', () => {
  const sm = new Recorder();
  const g = group(sm);
  g.applyQueue.push(...entries(1, 3, 300_000), ...entries(4, 100, 1_000));
  assert.deepEqual(g.drainApplyQueue(512 * 1024), { entries: 1, bytes: 300_000 });
  assert.deepEqual(g.drainApplyQueue(100), { entries: 1, bytes: 300_000 }); // bigger than the budget: alone
  assert.deepEqual(g.drainApplyQueue(350_000), { entries: 51, bytes: 350_000 });
  assert.deepEqual(g.drainApplyQueue(512 * 1024), { entries: 50, bytes: 50_000 });
  assert.deepEqual(
    sm.batches.flat(),
    Array.from({ length: 103 }, (_, i) => i + 1),
    'in order, each once',
  );
  assert.equal(g.canApplyNext(), false);
});

test('canApply is asked once per entry across slices; a paused entry stops the slice', () => {
  const sm = new Recorder();
  const g = group(sm);
  g.applyQueue.push(...entries(1, 10, 100));
  sm.pausedFrom = 8;
  assert.equal(g.canApplyNext(), true);
  assert.equal(g.drainApplyQueue(350).entries, 3);
  assert.equal(g.drainApplyQueue(350).entries, 3);
  assert.equal(g.drainApplyQueue(350).entries, 1); // entry 8 waits for another group
  assert.equal(g.drainApplyQueue(350).entries, 0);
  assert.equal(g.canApplyNext(), false);
  sm.pausedFrom = Infinity;
  assert.equal(g.drainApplyQueue(350).entries, 3);
  assert.deepEqual(sm.batches, [[1, 2, 3], [4, 5, 6], [7], [8, 9, 10]]);
  // Entries 1–7 once each; entry 8 each time the group was drained while it waited, then once more.
  assert.deepEqual(
    sm.asked.filter((i) => i !== 8),
    [1, 2, 3, 4, 5, 6, 7, 9, 10],
  );
});
