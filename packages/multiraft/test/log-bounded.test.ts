// What this proves (issue [M8] §3, "memory must not grow with the data"): a group loaded with large entries keeps
// the log it holds in memory under logBytesMax, however high the entry threshold; its log is compacted only up to
// what the state machine made durable (sync) and raft.db stores no snapshot bytes for it; and a node whose state
// machine lost what it had made durable refuses to start the group (STATE_BEHIND_LOG) rather than serve without
// the compacted entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { LogStore } from '@kalam/log-store';
import type { AppliedEntry, RaftDriver, StateMachine } from '../src/index.js';
import { MultiRaftError } from '../src/index.js';
import { singleNodeDriver } from './support/single-node.js';

/** Keeps only its applied index; `durable` is what sync made durable, and sync may be held back. */
class Tally implements StateMachine {
  applied = 0;
  durable = 0;
  syncs = 0;
  holdSyncAt = Infinity;
  apply(entries: readonly AppliedEntry[]): unknown[] {
    return entries.map((e) => (this.applied = e.index));
  }
  appliedIndex(): number {
    return this.applied;
  }
  sync(): number {
    this.syncs++;
    this.durable = Math.min(this.applied, this.holdSyncAt);
    return this.durable;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.applied));
  }
  restore(s: { index: number }): void {
    this.applied = s.index;
  }
}

const ENTRY = 100 * 1024;
const LOG_BYTES_MAX = 1024 * 1024;

function node(store: LogStore, sm: StateMachine): { driver: RaftDriver; turn: () => void } {
  // The entry threshold never triggers here: only the byte bound does.
  return singleNodeDriver(store, [sm], { snapshotThreshold: 1_000_000, logBytesMax: LOG_BYTES_MAX });
}

test('a group loaded with large entries keeps its in-memory log under logBytesMax, compacted without a snapshot', async () => {
  const store = LogStore.open({ path: ':memory:', groupIds: [1] });
  const sm = new Tally();
  const { driver, turn } = node(store, sm);
  let peak = 0;
  for (let i = 0; i < 60; i++) {
    const done = driver.propose(1, new Uint8Array(ENTRY).fill(i));
    turn();
    await done;
    peak = Math.max(peak, driver.coreOf(1).logBytes());
  }
  // 6 MB went through the group; it never held more than the bound plus the entry that crossed it.
  assert.ok(peak <= LOG_BYTES_MAX + ENTRY + 64, `peak in-memory log ${peak} bytes`);
  assert.ok(driver.stats.logCompactions > 0);
  assert.equal(driver.stats.snapshotsTaken, 0, 'no follower needed one: no snapshot was built');
  const state = store.load(1);
  assert.ok(state.offsetIndex > 0, 'raft.db was compacted');
  assert.equal(state.snapshot, undefined, 'and stores no snapshot bytes');
  assert.ok(state.offsetIndex <= sm.durable, 'never past what the state machine made durable');
  driver.stop();
  store.close();
});

test('compaction never passes the index the state machine made durable', async () => {
  const store = LogStore.open({ path: ':memory:', groupIds: [1] });
  const sm = new Tally();
  sm.holdSyncAt = 5;
  const { driver, turn } = node(store, sm);
  for (let i = 0; i < 30; i++) {
    const done = driver.propose(1, new Uint8Array(ENTRY));
    turn();
    await done;
  }
  assert.ok(sm.syncs > 0, 'the driver asked the state machine to sync before compacting');
  assert.equal(driver.coreOf(1).logOffset().index, 5);
  assert.equal(store.load(1).offsetIndex, 5);
  assert.ok(driver.coreOf(1).logBytes() > LOG_BYTES_MAX, 'the bound yields to durability');
  driver.stop();
  store.close();
});

test('a state machine behind the compacted log refuses to start: STATE_BEHIND_LOG', async () => {
  const store = LogStore.open({ path: ':memory:', groupIds: [1] });
  const { driver, turn } = node(store, new Tally());
  for (let i = 0; i < 30; i++) {
    const done = driver.propose(1, new Uint8Array(ENTRY));
    turn();
    await done;
  }
  driver.stop();
  const offset = store.load(1).offsetIndex;
  assert.ok(offset > 0);
  // The state store came back empty (lost), while raft.db was compacted: the entries in between are nowhere.
  assert.throws(
    () => node(store, new Tally()),
    (err: unknown) => err instanceof MultiRaftError && err.code === 'STATE_BEHIND_LOG' && /wipe/i.test(err.message),
  );
  // A state machine that kept its durable state starts.
  const kept = new Tally();
  kept.applied = offset;
  assert.doesNotThrow(() => node(store, kept).driver.stop());
  store.close();
});
