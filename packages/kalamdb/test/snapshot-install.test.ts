// What this proves: a follower installs a data group's snapshot in pieces across event-loop turns (issue [M8] §3), each
// piece its own data.db transaction, while the node's other work runs between them — the driver's timer ticks every
// group between two pieces — and nothing reads the group half installed: its reads refuse with SNAPSHOT_INSTALLING
// until the last piece committed. A node killed between two pieces restores the snapshot again at boot from the one
// raft.db names (data.db's mark says an install was under way) and ends with exactly the snapshot's state, none of
// the old one left; with the mark set and no snapshot in raft.db, the node refuses to start the group (LOG_CORRUPT).
// How: a source user shard with a few thousand rows builds a snapshot; a follower driver (node 1, over an in-memory
// log that survives "crashes" and a data.db file) receives it as one MsgSnap from the leader (node 2), and the test
// runs the driver's timers and "soon" callbacks one event at a time, as an event loop would.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import type { DriverStorage } from '@kalam/multiraft';
import { MultiRaftError, RaftDriver, resolveTiming } from '@kalam/multiraft';
import type { Entry, HardState, Message, Snapshot } from '@kalam/raft';
import { nodeId } from '@kalam/raft';
import { DataStore, ShardRouter, StateMachines, encodeCommand } from '../src/index.js';
import type { UserDataCommand, UserDataStateMachine } from '../src/index.js';
import { NOTES_DDL, SHARDING } from './support/notes.js';

const LEADER = nodeId(2);
const TERM = 3;
const ROWS = 3000;
const router = new ShardRouter(SHARDING);
const SHARD = router.userShard('alice');
const GROUP = 100 + SHARD;
/** Another user of alice's shard: the follower's old state holds their rows, which the snapshot does not. */
const OTHER = Array.from({ length: 200 }, (_, i) => `u${i}`).find(
  (u) => u !== 'alice' && router.userShard(u) === SHARD,
)!;

type GroupLogState = ReturnType<DriverStorage['load']>;

/** raft.db in memory: what `write` stored is durable (it outlives the driver, as the file outlives a crash). */
class MemoryLog implements DriverStorage {
  readonly groups = new Map<number, GroupLogState>();
  load(groupId: number): GroupLogState {
    const s = this.groups.get(groupId);
    const empty = { hardState: { term: 0, vote: 0, commit: 0 } as HardState, offsetIndex: 0, offsetTerm: 0 };
    return s === undefined
      ? { ...empty, entries: [], snapshot: undefined, conf: undefined }
      : { ...s, entries: [...s.entries] };
  }
  write(
    writes: readonly {
      groupId: number;
      hardState?: HardState;
      entries: readonly Entry[];
      snapshot?: Snapshot;
      confState?: GroupLogState['conf'];
    }[],
    done: () => void,
  ): void {
    for (const w of writes) {
      const s = this.load(w.groupId);
      if (w.snapshot !== undefined) {
        s.snapshot = w.snapshot;
        s.entries = [];
        s.offsetIndex = w.snapshot.index;
        s.offsetTerm = w.snapshot.term;
      }
      const first = w.entries[0]?.index;
      if (first !== undefined) s.entries = s.entries.filter((e) => e.index < first).concat(w.entries);
      if (w.hardState !== undefined) s.hardState = w.hardState;
      if (w.confState !== undefined) s.conf = w.confState;
      this.groups.set(w.groupId, s);
    }
    done();
  }
  compactLog(groupId: number, offsetIndex: number, offsetTerm: number): void {
    const s = this.load(groupId);
    s.entries = s.entries.filter((e) => e.index > offsetIndex);
    s.offsetIndex = offsetIndex;
    s.offsetTerm = offsetTerm;
    if (s.snapshot !== undefined && s.snapshot.index <= offsetIndex) s.snapshot = undefined;
    this.groups.set(groupId, s);
  }
}

function ddl(m: StateMachines): void {
  m.system.apply(NOTES_DDL.map((c, i) => ({ index: i + 1, term: 1, kind: 'command', data: encodeCommand(c) })));
}

/** Inserts `count` rows of `userId` (ids from `from`) in commands of 500 rows. */
function insert(sm: UserDataStateMachine, userId: string, from: number, count: number, body: string): void {
  for (let at = 0; at < count; at += 500) {
    const n = Math.min(500, count - at);
    const cmd: UserDataCommand = {
      type: 'Insert',
      tableId: 'app.notes',
      userId,
      metaIndex: 2,
      rows: Array.from({ length: n }, (_, i) => ({ id: from + at + i, body: `${body} ${from + at + i}` })),
      seqBase: 1000 + from + at,
      at: 10,
    };
    sm.apply([{ index: sm.appliedIndex() + 1, term: 1, kind: 'command', data: encodeCommand(cmd) }]);
  }
}

/** The source: alice's shard with ROWS rows, and its snapshot at its applied index. */
function source(): { snapshot: Uint8Array; index: number } {
  const m = new StateMachines(DataStore.open(':memory:'), SHARDING, {});
  ddl(m);
  const sm = m.userShards[SHARD]!;
  insert(sm, 'alice', 1, ROWS, 'alice note');
  const out = { snapshot: sm.snapshot(), index: sm.appliedIndex() };
  m.store.close();
  return out;
}

interface Follower {
  readonly driver: RaftDriver;
  readonly machines: StateMachines;
  /** One event-loop turn: the clock moves 1 ms, the timers due run, then the oldest "soon" callback; false if idle. */
  step(): boolean;
  /** Answers the next forwarded proposal (the leader's reply). */
  reply: { index: number; response: unknown } | undefined;
}

function follower(dataDb: string, log: MemoryLog): Follower {
  const machines = new StateMachines(DataStore.open(dataDb), SHARDING, {});
  machines.loadCold();
  const soon: (() => void)[] = [];
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  let now = 0;
  const f: { reply: { index: number; response: unknown } | undefined } = { reply: undefined };
  const driver = new RaftDriver({
    nodeId: nodeId(1),
    voters: [nodeId(1), LEADER, nodeId(3)],
    groups: machines.groupSpecs(),
    ticks: resolveTiming(undefined),
    seed: 7,
    recoverWhenEmpty: false,
    freshStartVoteAbstain: false,
    // A page of 256 rows is ~15 KB here: a piece or two per turn, so these few thousand rows take several turns.
    installBytesPerTurn: 16 * 1024,
    storage: log,
    network: {
      send: () => undefined,
      flush: () => undefined,
      request: () => (f.reply === undefined ? Promise.reject(new Error('no peers')) : Promise.resolve(f.reply)),
      peerConnected: () => true,
    },
    clock: {
      now: () => now,
      after: (ms, fn) => {
        const timer = { at: now + ms, fn, live: true };
        timers.push(timer);
        return () => void (timer.live = false);
      },
      soon: (fn) => soon.push(fn),
    },
  });
  return Object.assign(f, {
    driver,
    machines,
    step(): boolean {
      now += 1;
      const due = timers.filter((t) => t.at <= now);
      for (const t of due) timers.splice(timers.indexOf(t), 1);
      for (const t of due) if (t.live) t.fn();
      soon.shift()?.();
      return due.length > 0 || soon.length > 0 || timers.some((t) => t.live);
    },
  });
}

/** How many of the snapshot's rows of alice a node's data.db holds now (an install in progress holds some). */
function snapshotRowsIn(node: { machines: { store: { db: { prepare(sql: string): { get(): unknown } } } } }): number {
  const sql = `SELECT COUNT(*) AS n FROM "kt_app__notes__2" WHERE "_user_id" = 'alice' AND id <= ${ROWS}`;
  return (node.machines.store.db.prepare(sql).get() as { n: number }).n;
}

function snapMsg(data: Uint8Array, index: number): Message {
  return {
    type: 'MsgSnap',
    from: LEADER,
    to: nodeId(1),
    term: TERM,
    snapshot: { index, term: TERM },
    offset: 0,
    totalBytes: data.byteLength,
    data,
  };
}

function deliver(f: Follower, msg: Message): void {
  f.driver.deliver(LEADER, [{ groupId: GROUP, from: LEADER, to: nodeId(1), msg }]);
}

function setup(t: { after: (fn: () => void) => void }): { dataDb: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-snapinstall-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dataDb: join(dir, 'data.db'), dir };
}

/** A follower whose data.db holds an old state of the shard: OTHER's rows and a few of alice's. */
function oldFollower(dataDb: string, log: MemoryLog): Follower {
  const m = new StateMachines(DataStore.open(dataDb), SHARDING, {});
  ddl(m);
  insert(m.userShards[SHARD]!, OTHER, 1, 700, 'old');
  insert(m.userShards[SHARD]!, 'alice', 5000, 10, 'old alice');
  m.store.close();
  return follower(dataDb, log);
}

test('a snapshot of a few thousand rows installs in pieces across turns; timers tick between them; reads wait', async (t) => {
  const { dataDb } = setup(t);
  const src = source();
  const f = oldFollower(dataDb, new MemoryLog());
  const sm = f.machines.userShards[SHARD]!;
  const oldApplied = sm.appliedIndex();
  deliver(f, snapMsg(src.snapshot, src.index));
  // Event by event: after each one the install is either finished or still under way; while it is, the node's
  // timer fires (every group ticks), a read of the group refuses rather than see part of the snapshot, and a write
  // forwarded to the leader — answered at an index the old state had applied — waits for the install's end.
  let eventsMidInstall = 0;
  let refusedReads = 0;
  let answered: unknown;
  let answeredMidInstall = false;
  for (let n = 0; n < 10_000 && f.step(); n++) {
    await new Promise((resolve) => setImmediate(resolve)); // the promises settled by this event
    if (sm.appliedIndex() === src.index) break;
    if (answered !== undefined) answeredMidInstall = true;
    eventsMidInstall++;
    f.driver.tick();
    try {
      sm.userRows('app.notes', 'alice');
    } catch (err) {
      assert.equal((err as MultiRaftError).code, 'SNAPSHOT_INSTALLING');
      refusedReads++;
    }
    if (eventsMidInstall === 1) {
      f.reply = { index: oldApplied, response: 'applied' };
      void f.driver.propose(GROUP, new Uint8Array([1]), { timeoutMs: 60_000 }).then((r) => (answered = r));
    }
  }
  assert.equal(sm.appliedIndex(), src.index, 'the install finished');
  assert.ok(eventsMidInstall >= 3, `the install spans turns (${eventsMidInstall} events while it was under way)`);
  assert.ok(refusedReads >= 1, 'a read while it was under way is refused');
  assert.equal(answeredMidInstall, false, 'a write waiting for an applied index waits for the install');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(answered, 'applied', 'and is answered once it is in');
  assert.equal(sm.userRows('app.notes', 'alice').length, ROWS);
  assert.equal(sm.userRows('app.notes', OTHER).length, 0, "the old state's rows are gone");
  assert.deepEqual(sm.snapshot(), src.snapshot, 'the follower holds exactly the snapshot');
  f.driver.stop();
  f.machines.store.close();
});

test('killed between two pieces of an install, the node restores the snapshot again at boot', (t) => {
  const { dataDb } = setup(t);
  const src = source();
  const log = new MemoryLog();
  const f = oldFollower(dataDb, log);
  deliver(f, snapMsg(src.snapshot, src.index));
  // Run until the install has begun and committed a few pieces (rows of the snapshot are in data.db), then die.
  const sm = f.machines.userShards[SHARD]!;
  const partly = (): number => snapshotRowsIn(f);
  for (let n = 0; n < 10_000 && !(partly() > 0 && partly() < ROWS); n++) f.step();
  assert.ok(sm.appliedIndex() < src.index, 'killed mid-install');
  assert.ok(partly() > 0 && partly() < ROWS, `killed with part of the rows in (${partly()})`);
  f.driver.stop();
  f.machines.store.close();

  const again = follower(dataDb, log); // boot: the mark is set, raft.db names the snapshot
  const sm2 = again.machines.userShards[SHARD]!;
  assert.equal(sm2.appliedIndex(), src.index);
  assert.deepEqual(sm2.snapshot(), src.snapshot, "identical rows, nothing of the old state's left");
  assert.equal(sm2.userRows('app.notes', OTHER).length, 0);
  again.driver.stop();
  again.machines.store.close();

  // The same data.db killed mid-install again, booted over a raft.db that names no snapshot: refused, not served.
  const log2 = new MemoryLog();
  const g = oldFollower(join(dataDb, '..', 'other.db'), log2);
  deliver(g, snapMsg(src.snapshot, src.index));
  const gPartly = (): number => snapshotRowsIn(g);
  for (let n = 0; n < 10_000 && !(gPartly() > 0 && gPartly() < ROWS); n++) g.step();
  g.driver.stop();
  g.machines.store.close();
  log2.groups.delete(GROUP); // raft.db lost the snapshot it named
  assert.throws(
    () => follower(join(dataDb, '..', 'other.db'), log2),
    (err: unknown) =>
      err instanceof MultiRaftError &&
      err.code === 'LOG_CORRUPT' &&
      /install/.test(err.message) &&
      err.groupId === GROUP,
  );
});
