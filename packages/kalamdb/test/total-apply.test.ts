// What this proves (issue M6 §1): apply is total. Whatever an entry holds — bytes that do not decode, a command of
// the wrong shape, the statements that used to stop every node (an unknown function in a filter, a name too long or
// in upper case, a column name with a space, a reserved column, a deep expression) — every replica answers the same
// refusal, its state stays as it was, its applied index moves on, and the next command applies. The executor refuses
// the very same commands before proposing them (one definition, validate.ts). Only this node's own storage failing,
// or an internal invariant breaking, stops apply — with an ApplyFatalError that says which.
// How: two replicas' StateMachines fed the same entries directly (bypassing the executor), snapshots compared.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { AppliedEntry } from '@kalam/multiraft';
import {
  ApplyError,
  ApplyFatalError,
  DataStore,
  StandaloneExecutor,
  StateMachines,
  encodeCommand,
} from '../src/index.js';
import type { AnyCommand, KalamStateMachine, SystemCommand, TableSchema, UserDataCommand } from '../src/index.js';

const SHARDING = { numUserShards: 4, numSharedShards: 1 };
const schema: TableSchema = {
  columns: [
    { name: 'id', type: 'BIGINT', notNull: true, default: null },
    { name: 'body', type: 'TEXT', notNull: false, default: null },
  ],
  primaryKey: 'id',
  options: {},
};
const DDL: SystemCommand[] = [
  { type: 'CreateNamespace', namespaceId: 'app', createdBy: 'root', createdAt: 1 },
  { type: 'CreateTable', tableId: 'app.notes', tableType: 'USER', schema, createdAt: 2 },
];

function replica(): StateMachines {
  const m = new StateMachines(DataStore.open(':memory:'), SHARDING);
  m.system.apply(DDL.map((c, i) => entry(i + 1, encodeCommand(c))));
  const shard = m.userShards[m.router.userShard('alice')]!;
  shard.apply([entry(1, encodeCommand(insert([1, 2])))]);
  return m;
}

function entry(index: number, data: Uint8Array): AppliedEntry {
  return { index, term: 1, kind: 'command', data };
}

const insert = (ids: readonly number[]): UserDataCommand => ({
  type: 'Insert',
  tableId: 'app.notes',
  userId: 'alice',
  rows: ids.map((id) => ({ id, body: `b${id}` })),
  seqBase: 10 * ids[0]!,
  at: 1,
  metaIndex: 2,
});

const call = (name: string, ...args: unknown[]): unknown => ({ kind: 'call', name, args, star: false });
const col = (name: string): unknown => ({ kind: 'column', table: null, name });
const lit = (value: unknown): unknown => ({ kind: 'literal', value });
const eq = (l: unknown, r: unknown): unknown => ({ kind: 'binary', op: '=', left: l, right: r });
const alicesDelete = (filter: unknown): Record<string, unknown> => ({
  type: 'Delete',
  tableId: 'app.notes',
  userId: 'alice',
  filter,
  seqBase: 100,
  at: 2,
  metaIndex: 2,
});
const long = 'x'.repeat(300);
const withColumn = (name: string): TableSchema => ({
  ...schema,
  columns: [...schema.columns, { name, type: 'TEXT', notNull: false, default: null }],
});

/** Entries no replica may stop on, by the group they are sent to. */
const USER_SHARD: readonly [string, unknown][] = [
  ['an unknown function in a filter', alicesDelete(eq(call('FOO', col('id')), lit(1)))],
  ['a known function with the wrong arity', alicesDelete(eq(call('LENGTH', col('body'), col('id')), lit(1)))],
  ['an unbound parameter', alicesDelete(eq(col('id'), { kind: 'param', index: 1 }))],
  ['an unknown expression kind', alicesDelete({ kind: 'subquery', sql: 'SELECT 1' })],
  ['a literal that is an object', alicesDelete(eq(col('id'), lit({ n: 1 })))],
  ['rows that are not objects', { ...insert([3]), rows: [7] }],
  ['a value that is an object', { ...insert([3]), rows: [{ id: 3, body: { nested: true } }] }],
  ['an integer beyond 2^53', { ...insert([3]), rows: [{ id: 2 ** 60, body: 'x' }] }],
  [
    'a SET expression with an unknown function',
    { ...alicesDelete(null), type: 'Update', updates: {}, computed: [{ column: 'body', expr: call('BAR') }] },
  ],
  ['no metaIndex', { ...insert([3]), metaIndex: undefined }],
  ['a stray field', { ...insert([3]), extra: 1 }],
  ['an unknown command', { type: 'DropEverything', metaIndex: 0, userId: 'alice' }],
  [
    'a flushed file name with a path',
    {
      ...insert([3]),
      type: 'FlushRows',
      rows: undefined,
      seqBase: undefined,
      fileName: '../../etc/x.parquet',
      rowCount: 1,
      minSeq: 1,
      maxSeq: 1,
    },
  ],
];
const META_SYSTEM: readonly [string, unknown][] = [
  ['a table name of 300 characters', { ...DDL[1]!, tableId: `app.${long}` }],
  ['a table name in upper case', { ...DDL[1]!, tableId: 'app.Upper' }],
  ['a column name of 300 characters', { type: 'AlterTable', tableId: 'app.notes', schema: withColumn(long) }],
  ['a column name with a space', { type: 'AlterTable', tableId: 'app.notes', schema: withColumn('Weird Col') }],
  ["a column named like Kalam's own", { type: 'AlterTable', tableId: 'app.notes', schema: withColumn('_seq') }],
  [
    'a storage id of 300 characters',
    { type: 'RegisterStorage', storageId: long, config: { type: 'filesystem', path: '/x' } },
  ],
  ['a storage of an unknown type', { type: 'RegisterStorage', storageId: 's', config: { type: 's3', path: 'b' } }],
  ['the system namespace', { type: 'CreateNamespace', namespaceId: 'system', createdBy: null, createdAt: 1 }],
  [
    'a column type that does not exist',
    {
      ...DDL[1]!,
      tableId: 'app.t2',
      schema: { ...schema, columns: [{ name: 'id', type: 'MONEY', notNull: true, default: null }] },
    },
  ],
  [
    'a default the column cannot hold',
    {
      ...DDL[1]!,
      tableId: 'app.t3',
      schema: { ...schema, columns: [{ name: 'id', type: 'BIGINT', notNull: true, default: { literal: 'abc' } }] },
    },
  ],
];

function encodeLoose(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

function check(
  what: string,
  pick: (m: StateMachines) => KalamStateMachine<{ readonly type: string }, unknown>,
  data: Uint8Array,
): void {
  const [a, b] = [replica(), replica()];
  for (const m of [a, b]) {
    const sm = pick(m);
    const before = sm.snapshot();
    const index = sm.appliedIndex() + 1;
    const [response] = sm.apply([entry(index, data)]);
    assert.equal((response as { type?: string }).type, 'Error', `${what}: ${JSON.stringify(response)}`);
    assert.equal(sm.appliedIndex(), index, `${what}: the applied index moves on`);
    const after = new TextDecoder().decode(sm.snapshot());
    const unchanged = new TextDecoder().decode(before);
    // Only the horizon of a data group may move (it is the same on every replica); the rest stays.
    assert.equal(
      after.replace(/"horizon":\d+/, ''),
      unchanged.replace(/"horizon":\d+/, ''),
      `${what}: state unchanged`,
    );
  }
  assert.deepEqual(pick(a).snapshot(), pick(b).snapshot(), `${what}: both replicas agree`);
}

test('every replica refuses what an entry holds the same way, and moves on', () => {
  const shard = (m: StateMachines): KalamStateMachine<{ readonly type: string }, unknown> =>
    m.userShards[m.router.userShard('alice')]!;
  for (const [what, cmd] of USER_SHARD) check(what, shard, encodeLoose(cmd));
  for (const [what, cmd] of META_SYSTEM) check(what, (m) => m.system, encodeLoose(cmd));
  check('bytes that are not UTF-8', shard, new Uint8Array([0xff, 0xfe, 0x00]));
  // A filter nested 100,000 deep (as bytes: JSON.stringify itself would overflow the stack building it).
  const deep = `${'{"kind":"not","expr":'.repeat(100_000)}{"kind":"column","table":null,"name":"id"}${'}'.repeat(100_000)}`;
  const text = JSON.stringify(alicesDelete('DEEP')).replace('"DEEP"', deep);
  check('an expression nested 100,000 deep', shard, new TextEncoder().encode(text));
  check('JSON that is not an object', shard, encodeLoose([1, 2]));
  check('a command of another group', (m) => m.users, encodeLoose(insert([3])));
  // … and the next good command applies as usual.
  const m = replica();
  const s = m.userShards[m.router.userShard('alice')]!;
  s.apply([entry(2, encodeLoose(USER_SHARD[0]![1]))]);
  assert.deepEqual(s.apply([entry(3, encodeCommand(insert([3])))]), [{ type: 'RowsAffected', count: 1 }]);
  assert.deepEqual(
    s.userRows('app.notes', 'alice').map((r) => r['id']),
    [1, 2, 3],
  );
});

test('the executor refuses the same commands before proposing them', async () => {
  const m = replica();
  const ex = new StandaloneExecutor(m);
  for (const [what, cmd] of USER_SHARD) {
    const proposed = ex.executeUserData('alice', cmd as UserDataCommand);
    await assert.rejects(proposed, (err) => err instanceof ApplyError && err.code === 'INVALID', what);
  }
  for (const [what, cmd] of META_SYSTEM) {
    await assert.rejects(ex.executeSystem(cmd as SystemCommand), ApplyError, what);
  }
  assert.equal(m.system.appliedIndex(), 2, 'nothing was applied');
});

test("only this node's storage failing or a broken invariant stops apply, and the error says which", () => {
  const m = replica();
  const shard = m.userShards[m.router.userShard('alice')]!;
  // A flush on a node without a data folder: the node cannot store the file (its own storage).
  const flush: AnyCommand = {
    type: 'FlushRows',
    tableId: 'app.notes',
    userId: 'alice',
    fileName: 'f-10-11.parquet',
    rowCount: 2,
    minSeq: 10,
    maxSeq: 11,
    at: 3,
    metaIndex: 2,
  };
  assert.throws(
    () => shard.apply([entry(2, encodeCommand(flush))]),
    (err) => err instanceof ApplyFatalError && err.reason === 'local-storage' && err.index === 2,
  );
  assert.equal(shard.appliedIndex(), 1, 'the entry is not skipped');
  // A bug: an error of no kind apply expects.
  const broken = replica();
  const sm = broken.userShards[broken.router.userShard('alice')]!;
  (sm as unknown as { write: () => never }).write = () => {
    throw new TypeError('boom');
  };
  assert.throws(
    () => sm.apply([entry(2, encodeCommand(insert([3])))]),
    (err) => err instanceof ApplyFatalError && err.reason === 'internal-invariant' && /Insert.*boom/.test(err.message),
  );
  assert.equal(sm.appliedIndex(), 1);
});
