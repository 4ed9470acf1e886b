// What this proves (DESIGN.md §6, adversaries.md "Cross-group ordering and ownership"): a fresh node that is brought
// up from another node's group snapshots and log suffixes ends in the same state, whatever order they arrive in. Each
// group's own stream stays in order (its snapshot, then its entries), but the streams of different groups interleave
// freely, as they do on a node that rejoins with an empty disk; data entries still wait (canApply) as the driver
// makes them wait.
// How: a source node (StateMachines over its own data.db and data_dir) applies a script — DDL on meta:system, rows,
// flushes and live-query registrations on the data groups, with snapshots taken at chosen points. For every order of
// the streams (all of them for the small cases, seeded random orders for the large one), a fresh node replays them;
// afterwards every group's snapshot must equal the source's byte for byte and every table must read the same rows.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import type { AppliedEntry } from '@kalam/multiraft';
import { DataStore, StateMachines, encodeCommand } from '../src/index.js';
import type {
  AnyCommand,
  KalamStateMachine,
  SharedDataCommand,
  SystemCommand,
  TableSchema,
  UserDataCommand,
} from '../src/index.js';

const SHARDING = { numUserShards: 4, numSharedShards: 1 };

/** The groups a script uses: meta:system, two user shards (alice's and bob's) and the shared shard. */
type GroupKey = 'meta' | 'alice' | 'bob' | 'shared';
const GROUPS: readonly GroupKey[] = ['meta', 'alice', 'bob', 'shared'];

type Step = { readonly group: GroupKey; readonly cmd: AnyCommand } | { readonly snapshot: GroupKey };

interface Node {
  readonly machines: StateMachines;
  readonly close: () => void;
}

function openNode(): Node {
  const dir = mkdtempSync(join(tmpdir(), 'kalam-compose-'));
  const machines = new StateMachines(DataStore.open(join(dir, 'data.db')), SHARDING, { dataDir: dir });
  return {
    machines,
    close: () => {
      machines.store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function machineOf(m: StateMachines, g: GroupKey): KalamStateMachine<{ readonly type: string }, unknown> {
  switch (g) {
    case 'meta':
      return m.system;
    case 'alice':
    case 'bob':
      return m.userShards[m.router.userShard(g)]!;
    case 'shared':
      return m.sharedShards[0]!;
  }
}

/** What a fresh node receives for one group: a snapshot (if the source took one), then the entries after it. */
type Delivery =
  | { readonly kind: 'snapshot'; readonly index: number; readonly data: Uint8Array }
  | { readonly kind: 'entry'; readonly entry: AppliedEntry };

interface Source {
  readonly streams: ReadonlyMap<GroupKey, readonly Delivery[]>;
  readonly snapshots: ReadonlyMap<GroupKey, string>;
  readonly reads: string;
}

/** Every table's rows as this node reads them (after the source's catalog), as one comparable string. */
function readAll(m: StateMachines): string {
  const out: Record<string, unknown> = {};
  for (const t of m.system.tables()) {
    if (t.tableType === 'SHARED') out[t.tableId] = m.sharedShards[0]!.rowsOf(t.tableId);
    else
      for (const u of ['alice', 'bob'])
        out[`${t.tableId}/${u}`] = m.userShards[m.router.userShard(u)]!.userRows(t.tableId, u);
  }
  return JSON.stringify(out);
}

function snapshotsOf(m: StateMachines): Map<GroupKey, string> {
  return new Map(GROUPS.map((g) => [g, Buffer.from(machineOf(m, g).snapshot()).toString('hex')]));
}

/** Runs the script on a source node; returns each group's stream for a fresh node and the source's final state. */
function runSource(script: readonly Step[]): Source {
  const node = openNode();
  try {
    const entries = new Map<GroupKey, AppliedEntry[]>(GROUPS.map((g) => [g, []]));
    const snaps = new Map<GroupKey, { index: number; data: Uint8Array }>();
    for (const step of script) {
      if ('snapshot' in step) {
        const sm = machineOf(node.machines, step.snapshot);
        snaps.set(step.snapshot, { index: sm.appliedIndex(), data: sm.snapshot() });
        continue;
      }
      const sm = machineOf(node.machines, step.group);
      const list = entries.get(step.group)!;
      const entry: AppliedEntry = { index: list.length + 1, term: 1, kind: 'command', data: encodeCommand(step.cmd) };
      assert.ok(sm.canApply?.(entry) ?? true, `the script applies ${step.cmd.type} before its meta index`);
      const [response] = sm.apply([entry]);
      assert.notEqual((response as { type?: string } | undefined)?.type, 'Error', JSON.stringify(response));
      list.push(entry);
    }
    const streams = new Map<GroupKey, Delivery[]>();
    for (const g of GROUPS) {
      const snap = snaps.get(g);
      const after = entries.get(g)!.filter((e) => snap === undefined || e.index > snap.index);
      const head: Delivery[] = snap === undefined ? [] : [{ kind: 'snapshot', index: snap.index, data: snap.data }];
      const stream = [...head, ...after.map((entry): Delivery => ({ kind: 'entry', entry }))];
      if (stream.length > 0) streams.set(g, stream);
    }
    return { streams, snapshots: snapshotsOf(node.machines), reads: readAll(node.machines) };
  } finally {
    node.close();
  }
}

/**
 * Replays the streams on a fresh node in the order given (a sequence of group keys, one per delivery). A delivered
 * snapshot is installed at once; a delivered entry joins its group's queue, and after every delivery each queue is
 * applied as far as canApply lets it, as the driver does.
 */
function replay(source: Source, order: readonly GroupKey[]): { snapshots: Map<GroupKey, string>; reads: string } {
  const node = openNode();
  try {
    const next = new Map<GroupKey, number>();
    const queues = new Map<GroupKey, AppliedEntry[]>(GROUPS.map((g) => [g, []]));
    const drain = (): void => {
      for (let progress = true; progress;) {
        progress = false;
        for (const g of GROUPS) {
          const sm = machineOf(node.machines, g);
          const q = queues.get(g)!;
          while (q.length > 0 && (sm.canApply?.(q[0]!) ?? true)) {
            sm.apply([q.shift()!]);
            progress = true;
          }
        }
      }
    };
    for (const g of order) {
      const i = next.get(g) ?? 0;
      next.set(g, i + 1);
      const d = source.streams.get(g)![i]!;
      if (d.kind === 'snapshot') machineOf(node.machines, g).restore({ index: d.index, term: 1, data: d.data });
      else queues.get(g)!.push(d.entry);
      drain();
    }
    for (const g of GROUPS) assert.equal(queues.get(g)!.length, 0, `${g}: entries still waiting at the end`);
    return { snapshots: snapshotsOf(node.machines), reads: readAll(node.machines) };
  } finally {
    node.close();
  }
}

/** Every interleaving of the streams (multiset permutations of their group keys). */
function* interleavings(counts: ReadonlyMap<GroupKey, number>): Generator<GroupKey[]> {
  const left = new Map(counts);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const prefix: GroupKey[] = [];
  function* rec(): Generator<GroupKey[]> {
    if (prefix.length === total) {
      yield [...prefix];
      return;
    }
    for (const [g, n] of left) {
      if (n === 0) continue;
      left.set(g, n - 1);
      prefix.push(g);
      yield* rec();
      prefix.pop();
      left.set(g, n);
    }
  }
  yield* rec();
}

/** A seeded order: at each step a random group among those with deliveries left (mulberry32). */
function randomOrder(counts: ReadonlyMap<GroupKey, number>, seed: number): GroupKey[] {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const left = new Map(counts);
  const out: GroupKey[] = [];
  for (;;) {
    const open = [...left].filter(([, n]) => n > 0).map(([g]) => g);
    if (open.length === 0) return out;
    const g = open[Math.floor(rand() * open.length)]!;
    left.set(g, left.get(g)! - 1);
    out.push(g);
  }
}

function countsOf(source: Source): Map<GroupKey, number> {
  return new Map([...source.streams].map(([g, s]) => [g, s.length]));
}

/** Replays every order; fails with the first order whose result differs from the source, and how. */
function checkOrders(source: Source, orders: Iterable<GroupKey[]>): number {
  let n = 0;
  for (const order of orders) {
    n++;
    const got = replay(source, order);
    for (const g of GROUPS) {
      assert.equal(got.snapshots.get(g), source.snapshots.get(g), `order ${order.join(',')}: ${g}'s snapshot differs`);
    }
    assert.equal(got.reads, source.reads, `order ${order.join(',')}: the tables read differently`);
  }
  return n;
}

// ---------------------------------------------------------------- scripts

const col = (name: string, type: string, notNull = false): TableSchema['columns'][number] => ({
  name,
  type,
  notNull,
  default: null,
});
const schema = (...columns: TableSchema['columns']): TableSchema => ({ columns, primaryKey: 'id', options: {} });
const ITEMS = schema(col('id', 'BIGINT', true), col('v', 'TEXT'));
const BOARD_V1 = schema(col('id', 'BIGINT', true), col('title', 'TEXT'));
const BOARD_V2 = schema(col('id', 'TEXT', true), col('score', 'DOUBLE'));

const ns = (namespaceId: string, createdAt: number): SystemCommand => ({
  type: 'CreateNamespace',
  namespaceId,
  createdBy: 'root',
  createdAt,
});
const table = (tableId: string, tableType: 'USER' | 'SHARED', s: TableSchema, createdAt: number): SystemCommand => ({
  type: 'CreateTable',
  tableId,
  tableType,
  schema: s,
  createdAt,
});
const meta = (cmd: SystemCommand): Step => ({ group: 'meta', cmd });
const userInsert = (
  user: 'alice' | 'bob',
  tableId: string,
  ids: readonly number[],
  seqBase: number,
  metaIndex: number,
): Step => {
  const cmd: UserDataCommand = {
    type: 'Insert',
    tableId,
    userId: user,
    rows: ids.map((id) => ({ id, v: `${user}-${id}` })),
    seqBase,
    at: seqBase,
    metaIndex,
  };
  return { group: user, cmd };
};
const shared = (cmd: SharedDataCommand): Step => ({ group: 'shared', cmd });

test('the rejoin of issue M6 §2: a shard snapshot with rows of a table created after the meta:system snapshot', () => {
  // meta:system snapshots after its first two entries; app1.t is created after that snapshot, and alice's shard
  // snapshots after three inserts into it. Installing the shard's snapshot before meta:system's must not lose rows.
  const source = runSource([
    meta(ns('p', 1)),
    meta(table('p.a', 'USER', ITEMS, 2)),
    { snapshot: 'meta' },
    meta(ns('app1', 3)),
    meta(table('app1.t', 'USER', ITEMS, 4)),
    userInsert('alice', 'app1.t', [1, 2], 10, 4),
    userInsert('alice', 'app1.t', [3], 20, 4),
    userInsert('alice', 'app1.t', [4], 30, 4),
    { snapshot: 'alice' },
    userInsert('alice', 'app1.t', [5], 40, 4),
  ]);
  assert.match(source.reads, /alice-5/);
  assert.equal(checkOrders(source, interleavings(countsOf(source))), 10);
});

test('a dropped and re-created table: neither its old rows nor its old flushed files come back', () => {
  // The shared shard snapshots while the first app.board holds two rows (one flushed); meta:system then drops the
  // table and creates another of the same name with other columns, and snapshots.
  const source = runSource([
    meta(ns('app', 1)),
    meta(table('app.board', 'SHARED', BOARD_V1, 2)),
    shared({
      type: 'Insert',
      tableId: 'app.board',
      rows: [{ id: 1, title: 'old' }],
      seqBase: 10,
      at: 10,
      metaIndex: 2,
    }),
    shared({
      type: 'FlushRows',
      tableId: 'app.board',
      fileName: 'f-10-10.parquet',
      rowCount: 1,
      minSeq: 10,
      maxSeq: 10,
      at: 11,
      metaIndex: 2,
    }),
    shared({
      type: 'Insert',
      tableId: 'app.board',
      rows: [{ id: 2, title: 'old' }],
      seqBase: 20,
      at: 20,
      metaIndex: 2,
    }),
    { snapshot: 'shared' },
    meta({ type: 'DropTable', tableId: 'app.board' }),
    meta(table('app.board', 'SHARED', BOARD_V2, 5)),
    { snapshot: 'meta' },
    shared({
      type: 'Insert',
      tableId: 'app.board',
      rows: [{ id: 'new', score: 1.5 }],
      seqBase: 30,
      at: 30,
      metaIndex: 4,
    }),
  ]);
  assert.match(source.reads, /"app.board":\[\{"id":"new","score":1.5,"_seq":30\}\]/);
  assert.equal(checkOrders(source, interleavings(countsOf(source))), 3);
});

test('a write planned before ALTER TABLE … ADD COLUMN … DEFAULT applies the same on every replica', () => {
  // alice's second insert was planned before the column was added; on the source meta:system applied the ALTER
  // first, on a rejoining node it may come later. Either way the row must end the same.
  const withDefault: TableSchema = {
    ...ITEMS,
    columns: [...ITEMS.columns, { name: 'tag', type: 'TEXT', notNull: false, default: { literal: 'x' } }],
  };
  const source = runSource([
    meta(ns('app', 1)),
    meta(table('app.items', 'USER', ITEMS, 2)),
    userInsert('alice', 'app.items', [1], 10, 2),
    { snapshot: 'alice' },
    meta({ type: 'AlterTable', tableId: 'app.items', schema: withDefault }),
    userInsert('alice', 'app.items', [2], 20, 2),
    userInsert('alice', 'app.items', [3], 30, 3),
  ]);
  assert.equal(checkOrders(source, interleavings(countsOf(source))), 20);
});

test('a larger history: seeded random orders of four groups', () => {
  const script: Step[] = [
    meta(ns('app', 1)),
    meta(table('app.items', 'USER', ITEMS, 2)),
    meta(table('app.board', 'SHARED', BOARD_V1, 3)),
    userInsert('alice', 'app.items', [1, 2, 3], 10, 3),
    userInsert('bob', 'app.items', [1], 10, 3),
    shared({ type: 'Insert', tableId: 'app.board', rows: [{ id: 1, title: 'a' }], seqBase: 10, at: 10, metaIndex: 3 }),
    {
      group: 'alice',
      cmd: {
        type: 'FlushRows',
        tableId: 'app.items',
        userId: 'alice',
        fileName: 'f-10-12.parquet',
        rowCount: 3,
        minSeq: 10,
        maxSeq: 12,
        at: 13,
        metaIndex: 3,
      },
    },
    { snapshot: 'meta' },
    meta(ns('tmp', 4)),
    meta(table('tmp.gone', 'USER', ITEMS, 5)),
    userInsert('alice', 'tmp.gone', [7], 20, 5),
    userInsert('bob', 'tmp.gone', [8], 20, 5),
    {
      group: 'bob',
      cmd: {
        type: 'RegisterLiveQuery',
        subscriptionId: 'sub-bob-1',
        userId: 'bob',
        queryHash: 'h',
        tableId: 'tmp.gone',
        filter: null,
        nodeId: 1,
        createdAt: 21,
        metaIndex: 5,
      },
    },
    { snapshot: 'alice' },
    { snapshot: 'bob' },
    meta({ type: 'DropTable', tableId: 'tmp.gone' }),
    meta({ type: 'DeleteNamespace', namespaceId: 'tmp' }),
    meta(ns('tmp', 8)),
    meta(table('tmp.gone', 'USER', ITEMS, 9)),
    userInsert('alice', 'tmp.gone', [9], 30, 9),
    userInsert('alice', 'app.items', [4], 31, 9),
    { snapshot: 'shared' },
    shared({ type: 'Insert', tableId: 'app.board', rows: [{ id: 2, title: 'b' }], seqBase: 40, at: 40, metaIndex: 9 }),
    userInsert('bob', 'app.items', [2], 41, 9),
  ];
  const source = runSource(script);
  const counts = countsOf(source);
  const orders = Array.from({ length: 300 }, (_, i) => randomOrder(counts, 1_000 + i));
  assert.equal(checkOrders(source, orders), 300);
});
