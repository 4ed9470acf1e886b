// What this proves: a node keeps a snapshot received from its leader in a file, never whole in memory (issue [M8]
// §3). The chunks go into `<dataDir>/snapshots/<group>-<index>-<term>.part` as they arrive; the complete file is
// renamed `.snap`, and raft.db's snapshot row names it (no bytes in its blob); the state machine restores from the
// file (a SnapshotData read a range at a time). A node that stops after raft.db named the file but before the state
// machine installed it restores from the file at boot; a corrupt or missing file refuses to start the group with a
// LogCorruptionError that names the file. Once the state machine's sync covers the snapshot and raft.db drops it, the
// file is deleted; at boot, partial files and files raft.db does not name are deleted. How: one follower driver over
// a raft.db file, the leader's MsgSnap chunks and MsgApps crafted by hand.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';

import Database from 'better-sqlite3';
import { LogCorruptionError, LogStore, SnapshotFile, SnapshotFiles, snapshotDirOf } from '@kalam/log-store';
import type { GroupWrite } from '@kalam/log-store';
import type { Entry, Message, SnapshotData } from '@kalam/raft';
import { nodeId } from '@kalam/raft';
import type { AppliedEntry, StateMachine } from '../src/index.js';
import { RaftDriver, resolveTiming } from '../src/index.js';

const GROUP = 1;
const LEADER = nodeId(2);
const TERM = 5;
const SNAP_INDEX = 50;
const CHUNK = 1000;
const SNAP_BYTES = 10 * CHUNK + 123;

/** The leader's snapshot: bytes that depend on their offset, so a misplaced chunk shows. */
const snapBytes = Uint8Array.from({ length: SNAP_BYTES }, (_, i) => (i * 7 + 3) & 0xff);

/** Counts entries; restores by reading the snapshot in small pieces and remembers what it read. */
class PieceReader implements StateMachine {
  applied = 0;
  restoredFrom: SnapshotData | undefined;
  restoredBytes: Uint8Array | undefined;
  largestRead = 0;
  apply(entries: readonly AppliedEntry[]): unknown[] {
    for (const e of entries) if (e.index > this.applied) this.applied = e.index;
    return entries.map(() => undefined);
  }
  appliedIndex(): number {
    return this.applied;
  }
  sync(): number {
    return this.applied;
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(s: { index: number; data: SnapshotData }): void {
    const out = new Uint8Array(s.data.byteLength);
    for (let at = 0; at < s.data.byteLength; at += 4096) {
      const piece = s.data.subarray(at, Math.min(at + 4096, s.data.byteLength));
      this.largestRead = Math.max(this.largestRead, piece.length);
      out.set(piece, at);
    }
    this.restoredFrom = s.data;
    this.restoredBytes = out;
    this.applied = s.index;
  }
}

interface Follower {
  readonly driver: RaftDriver;
  readonly sm: PieceReader;
  deliver(...msgs: Message[]): void;
}

/** A follower (node 1) over `store`; `write` may hold back `done` (a crash between the write and what follows). */
function follower(store: LogStore, dir: string, opts: { holdWrites?: () => boolean } = {}): Follower {
  const sm = new PieceReader();
  let now = 0;
  const soon: (() => void)[] = [];
  const driver = new RaftDriver({
    nodeId: nodeId(1),
    voters: [nodeId(1), LEADER, nodeId(3)],
    groups: [{ id: GROUP, name: 'g1', stateMachine: sm }],
    ticks: resolveTiming(undefined),
    seed: 1,
    snapshotThreshold: 5,
    snapshotKeepEntries: 0,
    recoverWhenEmpty: false,
    freshStartVoteAbstain: false,
    snapshotFiles: new SnapshotFiles(snapshotDirOf(join(dir, 'raft.db'))!),
    storage: {
      load: (g) => store.load(g),
      write: (w: readonly GroupWrite[], done) => {
        store.write(w);
        if (opts.holdWrites?.() !== true) done();
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
  return {
    driver,
    sm,
    deliver(...msgs) {
      driver.deliver(
        LEADER,
        msgs.map((msg) => ({ groupId: GROUP, from: LEADER, to: nodeId(1), msg })),
      );
      now += 1;
      for (let i = 0; i < 100 && soon.length > 0; i++) soon.shift()!();
    },
  };
}

function chunk(offset: number): Message {
  return {
    type: 'MsgSnap',
    from: LEADER,
    to: nodeId(1),
    term: TERM,
    snapshot: { index: SNAP_INDEX, term: TERM },
    offset,
    totalBytes: SNAP_BYTES,
    data: snapBytes.subarray(offset, Math.min(offset + CHUNK, SNAP_BYTES)),
  };
}

function append(from: number, to: number): Message {
  const entries: Entry[] = [];
  for (let i = from; i <= to; i++) entries.push({ term: TERM, index: i, kind: 'command', data: new Uint8Array([i]) });
  return {
    type: 'MsgApp',
    from: LEADER,
    to: nodeId(1),
    term: TERM,
    index: from - 1,
    logTerm: TERM,
    entries,
    commit: to,
  };
}

/** Sends every chunk but the last; returns the last. */
function sendAllButLast(f: Follower): Message {
  let offset = 0;
  for (; offset + CHUNK < SNAP_BYTES; offset += CHUNK) f.deliver(chunk(offset));
  return chunk(offset);
}

function snapshotRow(path: string): { bytes: number; file: string | null } | undefined {
  const db = new Database(path, { readonly: true });
  try {
    const row = db.prepare('SELECT length(data) AS bytes, file FROM raft_snapshot WHERE group_id = ?').get(GROUP);
    return row as { bytes: number; file: string | null } | undefined;
  } finally {
    db.close();
  }
}

function setup(t: { after: (fn: () => void) => void }): { dir: string; dbPath: string; snapDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-snapfiles-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, dbPath: join(dir, 'raft.db'), snapDir: join(dir, 'snapshots') };
}

const NAME = `${GROUP}-${SNAP_INDEX}-${TERM}`;

/**
 * The folder's names once the released files' unlinks are done: a released file is renamed `….del` at once and
 * unlinked on the thread pool (bounded wait).
 */
async function listingSettled(dir: string): Promise<string[]> {
  for (let i = 0; i < 500; i++) {
    const names = readdirSync(dir);
    if (!names.some((n) => n.endsWith('.del'))) return names;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`released files still in ${dir} after 5 s: ${readdirSync(dir).join(', ')}`);
}

test('a follower receives a multi-chunk snapshot into a file; raft.db names the file, holds no bytes', (t) => {
  const { dir, dbPath, snapDir } = setup(t);
  const store = LogStore.open({ path: dbPath, groupIds: [GROUP] });
  const f = follower(store, dir);
  const last = sendAllButLast(f);
  assert.deepEqual(readdirSync(snapDir), [`${NAME}.part`], 'chunks go to a partial file as they arrive');
  f.deliver(last);
  assert.deepEqual(readdirSync(snapDir), [`${NAME}.snap`]);
  assert.ok(f.sm.restoredFrom instanceof SnapshotFile, 'restored from the file, not from a buffer');
  assert.deepEqual(f.sm.restoredBytes, snapBytes);
  assert.ok(f.sm.largestRead <= 4096);
  assert.equal(f.sm.appliedIndex(), SNAP_INDEX);
  f.driver.stop();
  store.close();
  assert.deepEqual(snapshotRow(dbPath), { bytes: 0, file: `${NAME}.snap` }, 'raft.db holds no snapshot bytes');
});

test('stopped after raft.db named the file but before the install, the node restores from the file at boot', (t) => {
  const { dir, dbPath } = setup(t);
  const store = LogStore.open({ path: dbPath, groupIds: [GROUP] });
  let hold = false;
  const f = follower(store, dir, { holdWrites: () => hold });
  const last = sendAllButLast(f);
  hold = true; // the write that names the snapshot is durable; the node dies before it installs it
  f.deliver(last);
  assert.equal(f.sm.restoredFrom, undefined, 'not installed');
  f.driver.stop();
  store.close();

  const again = LogStore.open({ path: dbPath, groupIds: [GROUP] });
  const g = follower(again, dir);
  assert.ok(g.sm.restoredFrom instanceof SnapshotFile, 'restored at boot from the file');
  assert.deepEqual(g.sm.restoredBytes, snapBytes);
  assert.equal(g.sm.appliedIndex(), SNAP_INDEX);
  g.driver.stop();
  again.close();
});

test('a corrupt or missing snapshot file refuses to start the group, naming the file', (t) => {
  const { dir, dbPath, snapDir } = setup(t);
  const store = LogStore.open({ path: dbPath, groupIds: [GROUP] });
  const f = follower(store, dir, { holdWrites: () => false });
  f.deliver(sendAllButLast(f));
  f.driver.stop();
  store.close();
  const path = join(snapDir, `${NAME}.snap`);

  const corrupt = Uint8Array.from(snapBytes);
  corrupt[SNAP_BYTES - 5]! ^= 0x10;
  writeFileSync(path, corrupt);
  const a = LogStore.open({ path: dbPath, groupIds: [GROUP] });
  assert.throws(
    () => a.load(GROUP),
    (err: unknown) =>
      err instanceof LogCorruptionError && /checksum mismatch/.test(err.message) && err.message.includes(NAME),
  );
  a.close();

  rmSync(path);
  const b = LogStore.open({ path: dbPath, groupIds: [GROUP] });
  assert.throws(
    () => b.load(GROUP),
    (err: unknown) => err instanceof LogCorruptionError && /is missing/.test(err.message) && err.message.includes(NAME),
  );
  b.close();
});

test('the file is deleted once a sync covers the snapshot and raft.db dropped it', async (t) => {
  const { dir, dbPath, snapDir } = setup(t);
  const store = LogStore.open({ path: dbPath, groupIds: [GROUP] });
  const f = follower(store, dir);
  f.deliver(sendAllButLast(f));
  assert.ok(existsSync(join(snapDir, `${NAME}.snap`)));
  // Entries past the snapshot: applied and synced, the log compacts past it (threshold 5, keep 0); the next
  // durable write makes the drop durable, and the file goes.
  f.deliver(append(SNAP_INDEX + 1, SNAP_INDEX + 6));
  assert.ok(f.driver.status()[0]!.snapshotIndex > SNAP_INDEX, 'compacted past the snapshot');
  assert.ok(
    existsSync(join(snapDir, `${NAME}.snap`)),
    'kept until a write handed over after the compaction is durable (raft.db ops keep their order)',
  );
  f.deliver(append(SNAP_INDEX + 7, SNAP_INDEX + 8));
  f.deliver(append(SNAP_INDEX + 9, SNAP_INDEX + 9));
  assert.equal(f.sm.appliedIndex(), SNAP_INDEX + 9);
  assert.ok(!existsSync(join(snapDir, `${NAME}.snap`)), 'the snapshot file is gone at once');
  assert.deepEqual(await listingSettled(snapDir), [], 'and unlinked');
  f.driver.stop();
  store.close();
  assert.equal(snapshotRow(dbPath), undefined, 'raft.db names no snapshot');
});

test('a received snapshot the core never hands out (a newer one came in the same turn) has its file deleted', async (t) => {
  const { dir, dbPath, snapDir } = setup(t);
  const store = LogStore.open({ path: dbPath, groupIds: [GROUP] });
  const f = follower(store, dir);
  const whole = (index: number): Message => ({
    type: 'MsgSnap',
    from: LEADER,
    to: nodeId(1),
    term: TERM,
    snapshot: { index, term: TERM },
    offset: 0,
    totalBytes: 64,
    data: snapBytes.subarray(0, 64),
  });
  f.deliver(whole(SNAP_INDEX), whole(SNAP_INDEX + 10)); // both complete before the turn's Ready
  assert.equal(f.sm.appliedIndex(), SNAP_INDEX + 10, 'only the newer one is installed');
  assert.deepEqual(
    await listingSettled(snapDir),
    [`${GROUP}-${SNAP_INDEX + 10}-${TERM}.snap`],
    'the older file is gone',
  );
  f.driver.stop();
  store.close();
});

test('at boot, partial files, released ones a crash left, and files raft.db does not name are deleted', (t) => {
  const { dir } = setup(t);
  const files = new SnapshotFiles(join(dir, 'snapshots'));
  const keep = join(files.dir, '1-50-5.snap');
  for (const name of ['1-50-5.snap', '1-60-5.part', '2-40-4.snap', '1-30-5.snap.1.del', 'unrelated.txt']) {
    writeFileSync(join(files.dir, name), 'x');
  }
  const removed = files.removeUnreferenced(new Set([keep]));
  assert.deepEqual(removed.sort(), ['1-30-5.snap.1.del', '1-60-5.part', '2-40-4.snap']);
  assert.deepEqual(readdirSync(files.dir).sort(), ['1-50-5.snap', 'unrelated.txt']);
});
