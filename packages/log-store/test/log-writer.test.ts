// What this proves: LogWriter, raft.db written by a worker thread. Writes handed over while a batch is in flight
// wait and leave together as the next batch — one transaction — in order; a write is reported durable only once
// its transaction has committed (and a reopened store finds it); and any failure of the worker — a failed write
// (an injected fsync error), an invalid write, the thread dying — is reported once through onFatal, after which no
// write of the failed batch or a later one is ever reported durable. (crash.test.ts SIGKILLs a child writing
// through LogWriter at random moments.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Entry } from '@kalam/raft';

import type { LogWorkerError } from '../src/index.js';
import { LogStore, LogWriter, logStoreLimits } from '../src/index.js';
import { entries, hardState, tempDir } from './support/fixtures.js';

const GROUPS = [1, 2];

/** A writer on a fresh raft.db, its fatal errors collected, and a way to read the file back once it is closed. */
async function fresh(fsyncDelayMs = 0) {
  const { dbPath, cleanup } = tempDir('kalam-log-writer-');
  LogStore.open({ path: dbPath, groupIds: GROUPS }).close(); // created as RaftManager does, before the worker
  const fatal: LogWorkerError[] = [];
  const writer = await LogWriter.start({ path: dbPath, groupIds: GROUPS, fsyncDelayMs, onFatal: (e) => fatal.push(e) });
  const reopen = (): { last1: number; last2: number } => {
    const store = LogStore.open({ path: dbPath, groupIds: GROUPS });
    try {
      const last = (g: number): number => store.load(g).entries.at(-1)?.index ?? 0;
      return { last1: last(1), last2: last(2) };
    } finally {
      store.close();
    }
  };
  return { writer, fatal, reopen, cleanup, dbPath };
}

/** Resolves when `done` is called, or with 'pending' after `ms`. */
function completion(ms: number): { done: () => void; settled: Promise<'done' | 'pending'> } {
  let done: () => void = () => undefined;
  const settled = Promise.race([
    new Promise<'done'>((resolve) => (done = () => resolve('done'))),
    sleep(ms, 'pending' as const),
  ]);
  return { done, settled };
}

test('writes handed over while one is in flight go together as the next transaction, in order', async (t) => {
  const w = await fresh(100); // each transaction holds the worker 100 ms, so the rest surely queue
  t.after(w.cleanup);
  const order: number[] = [];
  const all: Promise<void>[] = [];
  for (let i = 1; i <= 6; i++) {
    all.push(
      new Promise<void>((resolve) =>
        w.writer.write([{ groupId: 1, hardState: hardState(1, 1, 0), entries: entries([1], i) }], () => {
          order.push(i);
          resolve();
        }),
      ),
    );
  }
  assert.equal(w.writer.pendingOps(), 6);
  await Promise.all(all);
  const stats = w.writer.stats();
  assert.deepEqual(order, [1, 2, 3, 4, 5, 6]);
  assert.equal(stats.ops, 6);
  assert.equal(stats.batches, 2, 'the first write alone, then the five that waited for it');
  assert.equal(stats.transactions, 2, 'one transaction (one fsync) per batch');
  assert.equal(stats.entriesWritten, 6);
  await w.writer.close();
  assert.deepEqual(w.reopen(), { last1: 6, last2: 0 });
  assert.deepEqual(w.fatal, []);
});

/** An entry of `bytes` bytes whose every byte depends on its index and its place (a misplaced copy shows). */
function patterned(index: number, bytes: number): Entry {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (index * 31 + i * 7 + (i >> 10)) & 0xff;
  return { index, term: 1, kind: 'command', data };
}

test('entry bytes reach raft.db intact through the shared staging buffer as it grows, is reused and shrinks', async (t) => {
  const w = await fresh(20); // slow enough that writes queue behind the one in flight, into one later batch
  t.after(w.cleanup);
  const min = logStoreLimits.stagingBytesMin;
  const written: Entry[] = [];
  let next = 1;
  const hand = (sizes: readonly number[]): Promise<void> => {
    const batch = sizes.map((size) => patterned(next++, size));
    written.push(...batch);
    return new Promise<void>((resolve) =>
      w.writer.write([{ groupId: 1, hardState: hardState(1, 1, 0), entries: batch }], resolve),
    );
  };
  // Larger than the buffer at first (it grows), then several in flight and queued at once (a batch is staged only
  // after the one before it is answered), then enough small batches in a row that it shrinks, then large again.
  await hand([min + 3, 17]);
  await Promise.all([hand([min * 2 + 5]), hand([1_000, 0]), hand([min - 1]), hand([min / 2, min / 2 + 9])]);
  for (let i = 0; i < logStoreLimits.stagingShrinkBatches + 2; i++) await hand([100 + i]);
  await hand([min * 3 + 1, 5]);
  await w.writer.close();
  const store = LogStore.open({ path: w.dbPath, groupIds: GROUPS });
  t.after(() => store.close());
  const read = store.load(1).entries;
  assert.equal(read.length, written.length);
  for (const [i, e] of written.entries()) {
    const got = read[i]!;
    assert.equal(got.index, e.index);
    assert.ok(Buffer.from(got.data).equals(Buffer.from(e.data)), `entry ${e.index}: bytes differ`);
  }
  assert.deepEqual(w.fatal, []);
});

test('a compaction queued between writes lands in order in the same batch', async (t) => {
  const w = await fresh(50);
  t.after(w.cleanup);
  const first = completion(5_000);
  w.writer.write([{ groupId: 2, hardState: hardState(1, 1, 3), entries: entries([1, 1, 1], 1) }], first.done);
  w.writer.compact(2, { index: 3, term: 1, data: new Uint8Array([7]) }, 2, 1);
  const last = completion(5_000);
  w.writer.write([{ groupId: 2, entries: entries([1], 4) }], last.done);
  assert.equal(await first.settled, 'done');
  assert.equal(await last.settled, 'done');
  assert.equal(w.writer.stats().batches, 2);
  await w.writer.close();
  const store = LogStore.open({ path: w.dbPath, groupIds: GROUPS });
  t.after(() => store.close());
  const state = store.load(2);
  assert.equal(state.offsetIndex, 2);
  assert.deepEqual(
    state.entries.map((e) => e.index),
    [3, 4],
  );
  assert.equal(state.snapshot?.index, 3);
});

test('a write is reported durable only after its transaction, and a reopened store finds it', async (t) => {
  const w = await fresh(200); // the slow-disk delay runs after the commit, inside the worker's write
  t.after(w.cleanup);
  const startedAt = performance.now();
  const c = completion(5_000);
  w.writer.write([{ groupId: 1, hardState: hardState(3, 2, 0), entries: entries([3, 3], 1) }], c.done);
  await sleep(50);
  assert.equal(w.writer.pendingOps(), 1, 'not reported while the worker is still inside the write');
  assert.equal(await c.settled, 'done');
  assert.ok(performance.now() - startedAt >= 190, 'reported after the whole write, not when handed over');
  await w.writer.close();
  assert.deepEqual(w.reopen(), { last1: 2, last2: 0 });
});

test('a failed write (an fsync error) is fatal: reported once, never durable, nothing after it either', async (t) => {
  const w = await fresh();
  t.after(w.cleanup);
  const ok = completion(5_000);
  w.writer.write([{ groupId: 1, hardState: hardState(1, 1, 0), entries: entries([1], 1) }], ok.done);
  assert.equal(await ok.settled, 'done');
  w.writer.injectFault('io-error');
  const failed = completion(500);
  w.writer.write([{ groupId: 1, entries: entries([1], 2) }], failed.done);
  const later = completion(500);
  w.writer.write([{ groupId: 1, entries: entries([1], 3) }], later.done);
  assert.equal(await failed.settled, 'pending');
  assert.equal(await later.settled, 'pending');
  assert.equal(w.fatal.length, 1);
  assert.equal(w.fatal[0]?.code, 'LOG_WORKER');
  assert.match(w.fatal[0]?.message ?? '', /fsync error/);
  assert.ok(w.writer.failed());
  await w.writer.close();
  assert.deepEqual(w.reopen(), { last1: 1, last2: 0 }, 'the failed batch wrote nothing');
});

test('an invalid write in the worker is fatal too (AssertionError there), and writes nothing', async (t) => {
  const w = await fresh();
  t.after(w.cleanup);
  const c = completion(500);
  // Index 5 on an empty log: a gap, which the store refuses.
  w.writer.write([{ groupId: 1, hardState: hardState(1, 1, 0), entries: entries([1], 5) }], c.done);
  assert.equal(await c.settled, 'pending');
  assert.equal(w.fatal.length, 1);
  assert.equal(w.fatal[0]?.causeCode, 'ASSERTION');
  await w.writer.close();
  assert.deepEqual(w.reopen(), { last1: 0, last2: 0 });
});

test('the worker thread dying is fatal: what was in flight is never reported durable', async (t) => {
  const w = await fresh(100);
  t.after(w.cleanup);
  const c = completion(1_000);
  w.writer.injectFault('exit'); // handled before the batch below: the thread ends with it unanswered
  w.writer.write([{ groupId: 2, hardState: hardState(1, 1, 0), entries: entries([1], 1) }], c.done);
  assert.equal(await c.settled, 'pending');
  assert.equal(w.fatal.length, 1);
  assert.match(w.fatal[0]?.message ?? '', /exited \(code 70\)/);
  await w.writer.close();
});

test('start fails with LOG_WORKER when the worker cannot open raft.db (another connection holds its lock)', async (t) => {
  const { dbPath, cleanup } = tempDir('kalam-log-writer-');
  t.after(cleanup);
  const holder = LogStore.open({ path: dbPath, groupIds: GROUPS });
  t.after(() => holder.close());
  await assert.rejects(
    LogWriter.start({ path: dbPath, groupIds: GROUPS, onFatal: () => undefined }),
    (err: Error & { code?: string }) => err.code === 'LOG_WORKER' && /could not open raft\.db/.test(err.message),
  );
});
